//! The shared master + agent state and the drain state machine.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::http::ServerHandle;

pub(crate) mod calls;
use crate::{
    AckMode, ApiStyle, LoggedRequest, SimAuth, SimConfig, TaskCounts, TaskSpec, TaskSpecState,
};

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub(crate) fn now_secs() -> f64 {
    now_ns() as f64 / 1e9
}

/// How the master sees the agent's connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Link {
    Connected,
    /// Registered but not connected (agent stopped): listed with `active:false`.
    Disconnected,
    /// Marked unreachable: left out of GET_AGENTS; drain state and deactivation kept.
    Unreachable,
    /// After a master failover, not re-registered yet: only in `recovered_agents`.
    Recovered,
}

impl Link {
    /// Registered with the current master (connected or not).
    pub(crate) fn registered(self) -> bool {
        matches!(self, Link::Connected | Link::Disconnected)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DrainState {
    Draining,
    Drained,
}

impl DrainState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DrainState::Draining => "DRAINING",
            DrainState::Drained => "DRAINED",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct DrainInfo {
    pub state: DrainState,
    pub max_grace_ns: Option<i64>,
    pub mark_gone: bool,
}

/// The agent's own drain config (GET_AGENT `drain_config`), not the drain state.
#[derive(Clone, Debug)]
pub(crate) struct AgentDrain {
    pub max_grace_ns: Option<i64>,
    pub mark_gone: bool,
    pub est_ns: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Bucket {
    Pending,
    Queued,
    Launched,
    Terminated,
    Completed,
}

impl Bucket {
    pub(crate) fn live(self) -> bool {
        !matches!(self, Bucket::Completed)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub state: String,
    pub timestamp: f64,
    pub uuid: [u8; 16],
    pub reason: Option<&'static str>,
    pub source: &'static str,
    pub message: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub uid: u64,
    pub id: String,
    pub name: String,
    pub framework_id: String,
    pub kill_grace: Duration,
    pub labels: Vec<(String, String)>,
    pub bucket: Bucket,
    pub state: String,
    pub statuses: Vec<Status>,
    pub kill_at: Option<Instant>,
    /// An acknowledgement is due (scheduled, or to be rescheduled after a reconnect).
    pub ack_wanted: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Framework {
    pub id: String,
    pub name: String,
    pub acks: AckMode,
    pub torn_down: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Operation {
    pub id: String,
    pub framework_id: Option<String>,
    pub uuid: [u8; 16],
    pub status_uuid: [u8; 16],
    pub timestamp: f64,
}

pub(crate) struct Core {
    pub agent_id: String,
    pub hostname: String,
    pub id_seq: u64,
    // master's view
    pub registered: bool,
    pub gone: bool,
    /// Ids the master has marked gone (MARK_AGENT_GONE stays idempotent for them).
    pub gone_ids: Vec<String>,
    pub marking_gone: bool,
    pub link: Link,
    pub deactivated: bool,
    pub drain: Option<DrainInfo>,
    pub drain_epoch: u64,
    pub est_drain_start_ns: Option<i64>,
    pub registered_time_ns: i64,
    pub reregistered_time_ns: Option<i64>,
    // agent's view
    pub agent_up: bool,
    pub agent_drain: Option<AgentDrain>,
    pub frameworks: Vec<Framework>,
    pub tasks: Vec<Task>,
    pub operation: Option<Operation>,
    pub link_epoch: u64,
    next_uid: u64,
    rng: u64,
    // maintenance
    pub in_window_knob: bool,
    pub schedule: Value,
    pub down: Vec<Value>,
    // knobs
    pub no_leader: usize,
    pub recovering: usize,
    pub agent_recovering: usize,
    /// The agent's `GET /health` hangs until cleared or the agent (re)starts.
    pub health_hang: bool,
    pub ignore_slave_id_filter: bool,
    pub forbid_drain: bool,
    pub log: Vec<LoggedRequest>,
    pub on_drained: Option<tokio::sync::mpsc::UnboundedSender<Instant>>,
}

impl Core {
    pub(crate) fn uuid(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for chunk in out.chunks_mut(8) {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out[6] = (out[6] & 0x0f) | 0x40;
        out[8] = (out[8] & 0x3f) | 0x80;
        out
    }

    /// Listed in GET_AGENTS / `/master/slaves`.
    pub(crate) fn listed(&self) -> bool {
        self.registered && !self.gone && self.link.registered()
    }

    /// Known to the master (registered or unreachable, not gone).
    pub(crate) fn known(&self) -> bool {
        self.registered && !self.gone
    }

    pub(crate) fn active(&self) -> bool {
        self.link == Link::Connected && !self.deactivated
    }

    pub(crate) fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks.iter().find(|f| f.id == id)
    }

    /// The agent has no live task and no pending operation.
    pub(crate) fn agent_empty(&self) -> bool {
        !self.tasks.iter().any(|t| t.bucket.live()) && self.operation.is_none()
    }

    pub(crate) fn task_counts(&self) -> TaskCounts {
        let mut c = TaskCounts::default();
        for t in &self.tasks {
            match t.bucket {
                Bucket::Pending => c.pending += 1,
                Bucket::Queued => c.queued += 1,
                Bucket::Launched => c.launched += 1,
                Bucket::Terminated => c.terminated += 1,
                Bucket::Completed => c.completed += 1,
            }
        }
        c
    }

    /// MachineID of the agent as the master sees it.
    pub(crate) fn machine(&self) -> Value {
        json!({"hostname": self.hostname, "ip": "127.0.0.1"})
    }

    pub(crate) fn in_schedule(&self, m: &Value) -> bool {
        in_schedule(&self.schedule, m)
    }

    pub(crate) fn is_down(&self, m: &Value) -> bool {
        self.down.iter().any(|x| machine_eq(x, m))
    }

    fn new_task(&mut self, framework_id: &str, spec: &TaskSpec) -> Task {
        self.next_uid += 1;
        let now = now_secs();
        let (bucket, state, statuses) = match spec.state {
            TaskSpecState::Pending => (Bucket::Pending, "TASK_STAGING", vec![]),
            TaskSpecState::Queued => (Bucket::Queued, "TASK_STAGING", vec![]),
            TaskSpecState::Launched => {
                let s = vec![
                    self.status("TASK_STARTING", now - 30.0, None, "SOURCE_EXECUTOR", None),
                    self.status("TASK_RUNNING", now - 29.5, None, "SOURCE_EXECUTOR", None),
                ];
                (Bucket::Launched, "TASK_RUNNING", s)
            }
            TaskSpecState::TerminalUnacked => {
                let s = vec![
                    self.status("TASK_RUNNING", now - 60.0, None, "SOURCE_EXECUTOR", None),
                    self.status(
                        "TASK_FINISHED",
                        now - 2.0,
                        None,
                        "SOURCE_EXECUTOR",
                        Some("Command exited with status 0"),
                    ),
                ];
                (Bucket::Terminated, "TASK_FINISHED", s)
            }
        };
        Task {
            uid: self.next_uid,
            id: spec.id.clone(),
            name: spec.name.clone(),
            framework_id: framework_id.to_owned(),
            kill_grace: spec.kill_grace,
            labels: spec.labels.clone(),
            bucket,
            state: state.to_owned(),
            statuses,
            kill_at: None,
            ack_wanted: false,
        }
    }

    fn status(
        &mut self,
        state: &str,
        timestamp: f64,
        reason: Option<&'static str>,
        source: &'static str,
        message: Option<&'static str>,
    ) -> Status {
        Status {
            state: state.to_owned(),
            timestamp,
            uuid: self.uuid(),
            reason,
            source,
            message,
        }
    }

    fn new_operation(&mut self) -> Operation {
        Operation {
            id: "reserve-disk-0001".into(),
            framework_id: self.frameworks.first().map(|f| f.id.clone()),
            uuid: self.uuid(),
            status_uuid: self.uuid(),
            timestamp: now_secs() - 5.0,
        }
    }
}

pub(crate) fn machine_eq(a: &Value, b: &Value) -> bool {
    let h = |v: &Value| {
        v.get("hostname")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    let i = |v: &Value| v.get("ip").and_then(Value::as_str).map(str::to_owned);
    h(a) == h(b) && i(a) == i(b)
}

pub(crate) fn in_schedule(schedule: &Value, m: &Value) -> bool {
    schedule_machines(schedule).iter().any(|x| machine_eq(x, m))
}

pub(crate) fn schedule_machines(schedule: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(ws) = schedule.get("windows").and_then(Value::as_array) {
        for w in ws {
            if let Some(ms) = w.get("machine_ids").and_then(Value::as_array) {
                out.extend(ms.iter().cloned());
            }
        }
    }
    out
}

/// Everything shared by the three servers and the timers.
pub(crate) struct Shared {
    core: Mutex<Core>,
    pub rt: tokio::runtime::Handle,
    pub started: Instant,
    pub shutdown: CancellationToken,
    pub style: ApiStyle,
    pub auth: SimAuth,
    pub auth_readonly: bool,
    pub registry_delay: Duration,
    pub leader_port: u16,
    pub follower_port: u16,
    pub agent_port: u16,
    pub filler_agents: usize,
    pub stop_agent_when_gone: bool,
    pub unreachable_after: Option<Duration>,
    pub agent_master_flag: String,
    pub agent_work_dir: String,
    pub master_id: String,
    pub servers: Mutex<Vec<ServerHandle>>,
    pub agent_server: Mutex<Option<ServerHandle>>,
    /// Cached filler bodies: (before the local agent, after it), comma-joined.
    pub fillers_v1: OnceLock<(Bytes, Bytes)>,
    pub fillers_v0: OnceLock<(Bytes, Bytes)>,
    /// On the first agent's state (which also holds the master's): the other local agents.
    pub extras: OnceLock<Vec<Arc<Shared>>>,
    /// On another agent's state: the first one (the master, its request log and knobs).
    /// Lock order: the master's core before an agent's, never the other way round.
    pub master: OnceLock<Weak<Shared>>,
}

impl Shared {
    pub(crate) fn new(
        cfg: &SimConfig,
        rt: tokio::runtime::Handle,
        ports: (u16, u16, u16),
    ) -> Shared {
        let seed = (now_ns() as u64) ^ ((std::process::id() as u64) << 32) | 1;
        let mut core = Core {
            agent_id: cfg.agent_id.clone(),
            hostname: cfg.hostname.clone(),
            id_seq: 0,
            registered: true,
            gone: false,
            gone_ids: Vec::new(),
            marking_gone: false,
            link: Link::Connected,
            deactivated: false,
            drain: None,
            drain_epoch: 0,
            est_drain_start_ns: None,
            registered_time_ns: now_ns() - 3_600_000_000_000,
            reregistered_time_ns: None,
            agent_up: true,
            agent_drain: None,
            frameworks: Vec::new(),
            tasks: Vec::new(),
            operation: None,
            link_epoch: 0,
            next_uid: 0,
            rng: seed,
            in_window_knob: cfg.in_maintenance_window,
            schedule: json!({}),
            down: Vec::new(),
            no_leader: 0,
            recovering: 0,
            agent_recovering: 0,
            health_hang: false,
            ignore_slave_id_filter: cfg.ignore_slave_id_filter,
            forbid_drain: cfg.forbid_drain,
            log: Vec::new(),
            on_drained: None,
        };
        for f in &cfg.frameworks {
            core.frameworks.push(Framework {
                id: f.id.clone(),
                name: f.name.clone(),
                acks: f.acks,
                torn_down: false,
            });
        }
        if cfg.unknown_enum_task {
            if let Some(f) = cfg.frameworks.first() {
                let spec = TaskSpec::new(format!("{}-previous-run", f.name), Duration::ZERO);
                let mut t = core.new_task(&f.id, &spec);
                let now = now_secs();
                t.bucket = Bucket::Completed;
                t.state = "TASK_SUSPENDED".into();
                t.statuses = vec![
                    core.status("TASK_RUNNING", now - 7200.0, None, "SOURCE_EXECUTOR", None),
                    core.status(
                        "TASK_SUSPENDED",
                        now - 3600.0,
                        Some("REASON_TASK_SUSPENDED_BY_FUTURE_MESOS"),
                        "SOURCE_AGENT",
                        None,
                    ),
                ];
                core.tasks.push(t);
            }
        }
        for f in &cfg.frameworks {
            for spec in &f.tasks {
                let t = core.new_task(&f.id, spec);
                core.tasks.push(t);
            }
        }
        if cfg.stuck_operation {
            core.operation = Some(core.new_operation());
        }
        let (leader_port, follower_port, agent_port) = ports;
        Shared {
            core: Mutex::new(core),
            rt,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            style: cfg.style,
            auth: cfg.auth.clone(),
            auth_readonly: cfg.auth_readonly,
            registry_delay: cfg.registry_delay,
            leader_port,
            follower_port,
            agent_port,
            filler_agents: cfg.filler_agents,
            stop_agent_when_gone: cfg.stop_agent_when_gone,
            unreachable_after: cfg.unreachable_after,
            agent_master_flag: cfg
                .agent_master_flag
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{leader_port}")),
            agent_work_dir: cfg.agent_work_dir.clone(),
            master_id: "a1b2c3d4-0000-4000-8000-000000000001".into(),
            servers: Mutex::new(Vec::new()),
            agent_server: Mutex::new(None),
            fillers_v1: OnceLock::new(),
            fillers_v0: OnceLock::new(),
            extras: OnceLock::new(),
            master: OnceLock::new(),
        }
    }

    /// The state holding the master (itself unless this is another agent's).
    pub(crate) fn master_state(self: &Arc<Self>) -> Arc<Shared> {
        self.master
            .get()
            .and_then(Weak::upgrade)
            .unwrap_or_else(|| self.clone())
    }

    /// The other local agents (called on the master's state; empty elsewhere).
    pub(crate) fn extra_agents(&self) -> &[Arc<Shared>] {
        self.extras.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every local agent, the first one first (called on the master's state).
    pub(crate) fn local_agents(self: &Arc<Self>) -> Vec<Arc<Shared>> {
        let mut all = vec![self.clone()];
        all.extend(self.extra_agents().iter().cloned());
        all
    }

    /// The local agent a master call names: the one whose current id (or an id it had when
    /// it was marked gone) is `id`; otherwise the first agent, whose checks then refuse the
    /// call exactly as a one-agent master does.
    pub(crate) fn agent_by_id(self: &Arc<Self>, id: &str) -> Arc<Shared> {
        for a in self.extra_agents() {
            let c = a.lock();
            if c.agent_id == id || c.gone_ids.iter().any(|g| g == id) {
                return a.clone();
            }
        }
        self.clone()
    }

    /// The local agent with this current id or hostname.
    pub(crate) fn find_agent(self: &Arc<Self>, key: &str) -> Option<Arc<Shared>> {
        self.local_agents().into_iter().find(|a| {
            let c = a.lock();
            c.agent_id == key || c.hostname == key
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the state locked at `at`, unless the simulator shut down first.
    pub(crate) fn at(
        self: &Arc<Self>,
        at: Instant,
        f: impl FnOnce(&Arc<Shared>, &mut Core) + Send + 'static,
    ) {
        let s = self.clone();
        let tok = self.shutdown.clone();
        self.rt.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {
                    let s2 = s.clone();
                    let mut c = s2.lock();
                    f(&s, &mut c);
                }
                _ = tok.cancelled() => {}
            }
        });
    }

    // ---------------------------------------------------------------- agent side

    /// The drain message reaches the agent (DRAIN_AGENT, or re-registration of a draining
    /// agent): kill every live task with min(grace, cap).
    pub(crate) fn deliver_drain(self: &Arc<Self>, c: &mut Core) {
        if c.link != Link::Connected || !c.known() || !c.agent_up {
            return;
        }
        let Some(d) = c.drain.clone() else { return };
        if c.agent_empty() {
            // "draining is already complete": the agent does not store the config.
            c.agent_drain = None;
            return;
        }
        c.agent_drain = Some(AgentDrain {
            max_grace_ns: d.max_grace_ns,
            mark_gone: d.mark_gone,
            est_ns: c.est_drain_start_ns,
        });
        self.kill_live_tasks(c);
        // Terminal updates that are still unacknowledged get acknowledged now by
        // frameworks that acknowledge.
        for i in 0..c.tasks.len() {
            if c.tasks[i].bucket == Bucket::Terminated && !c.tasks[i].ack_wanted {
                self.schedule_ack(c, i);
            }
        }
    }

    fn kill_live_tasks(self: &Arc<Self>, c: &mut Core) {
        let Some(ad) = c.agent_drain.clone() else {
            return;
        };
        for i in 0..c.tasks.len() {
            let t = &c.tasks[i];
            let grace = match t.bucket {
                Bucket::Pending | Bucket::Queued => Duration::ZERO,
                Bucket::Launched => match ad.max_grace_ns {
                    Some(ns) => t.kill_grace.min(Duration::from_nanos(ns.max(0) as u64)),
                    None => t.kill_grace,
                },
                _ => continue,
            };
            self.kill_task(c, i, grace);
        }
    }

    fn kill_task(self: &Arc<Self>, c: &mut Core, i: usize, grace: Duration) {
        let at = Instant::now() + grace;
        if let Some(k) = c.tasks[i].kill_at {
            if k <= at {
                return;
            }
        }
        if c.tasks[i].bucket == Bucket::Launched && c.tasks[i].state != "TASK_KILLING" {
            let st = c.status(
                "TASK_KILLING",
                now_secs(),
                Some("REASON_AGENT_DRAINING"),
                "SOURCE_EXECUTOR",
                Some("Killing the task because the agent is draining"),
            );
            let t = &mut c.tasks[i];
            t.state = "TASK_KILLING".into();
            t.statuses.push(st);
        }
        c.tasks[i].kill_at = Some(at);
        let uid = c.tasks[i].uid;
        let epoch = c.link_epoch;
        self.at(at, move |s, c| s.kill_due(c, uid, at, epoch));
    }

    fn kill_due(self: &Arc<Self>, c: &mut Core, uid: u64, at: Instant, epoch: u64) {
        if c.link_epoch != epoch {
            return;
        }
        let Some(i) = c.tasks.iter().position(|t| t.uid == uid) else {
            return;
        };
        if c.tasks[i].kill_at != Some(at) {
            return;
        }
        let bucket = c.tasks[i].bucket;
        if !matches!(bucket, Bucket::Pending | Bucket::Queued | Bucket::Launched) {
            return;
        }
        let gone = c.agent_drain.as_ref().map(|d| d.mark_gone).unwrap_or(false);
        let state = if gone {
            "TASK_GONE_BY_OPERATOR"
        } else {
            "TASK_KILLED"
        };
        let source = if bucket == Bucket::Launched {
            "SOURCE_EXECUTOR"
        } else {
            "SOURCE_AGENT"
        };
        let st = c.status(
            state,
            now_secs(),
            Some("REASON_AGENT_DRAINING"),
            source,
            Some("Task killed because the agent is draining"),
        );
        let t = &mut c.tasks[i];
        t.state = state.into();
        t.statuses.push(st);
        t.bucket = Bucket::Terminated;
        t.kill_at = None;
        self.schedule_ack(c, i);
    }

    fn schedule_ack(self: &Arc<Self>, c: &mut Core, i: usize) {
        let acks = c
            .framework(&c.tasks[i].framework_id)
            .map(|f| f.acks)
            .unwrap_or(AckMode::Never);
        let AckMode::After(d) = acks else { return };
        c.tasks[i].ack_wanted = true;
        if c.link != Link::Connected || !c.agent_up {
            return; // rescheduled on re-registration
        }
        let uid = c.tasks[i].uid;
        let epoch = c.link_epoch;
        self.at(Instant::now() + d, move |s, c| s.ack_due(c, uid, epoch));
    }

    fn ack_due(self: &Arc<Self>, c: &mut Core, uid: u64, epoch: u64) {
        if c.link_epoch != epoch {
            return;
        }
        let Some(t) = c.tasks.iter_mut().find(|t| t.uid == uid) else {
            return;
        };
        if t.bucket != Bucket::Terminated {
            return;
        }
        t.bucket = Bucket::Completed;
        t.ack_wanted = false;
        self.after_agent_change(c);
        // A task status acknowledgement runs the master's drain check.
        self.check_and_transition(c);
    }

    /// The agent clears its own drain config once it is empty.
    fn after_agent_change(&self, c: &mut Core) {
        if c.agent_empty() {
            c.agent_drain = None;
        }
    }

    pub(crate) fn add_task(self: &Arc<Self>, framework_id: &str, spec: TaskSpec) {
        let mut c = self.lock();
        if c.framework(framework_id).is_none() {
            c.frameworks.push(Framework {
                id: framework_id.to_owned(),
                name: framework_id.to_owned(),
                acks: AckMode::default(),
                torn_down: false,
            });
        }
        let t = c.new_task(framework_id, &spec);
        c.tasks.push(t);
        let i = c.tasks.len() - 1;
        if c.agent_drain.is_some() && c.link == Link::Connected {
            self.kill_live_tasks(&mut c);
        } else if c.tasks[i].bucket == Bucket::Terminated && c.drain.is_some() {
            self.schedule_ack(&mut c, i);
        }
    }

    pub(crate) fn set_ack_mode(self: &Arc<Self>, framework_id: &str, acks: AckMode) {
        let mut c = self.lock();
        let Some(f) = c.frameworks.iter_mut().find(|f| f.id == framework_id) else {
            return;
        };
        f.acks = acks;
        for i in 0..c.tasks.len() {
            let t = &c.tasks[i];
            if t.framework_id == framework_id
                && t.bucket == Bucket::Terminated
                && (t.ack_wanted || c.drain.is_some())
            {
                c.tasks[i].ack_wanted = false;
                self.schedule_ack(&mut c, i);
            }
        }
    }

    pub(crate) fn acknowledge_all(&self) {
        let mut c = self.lock();
        for t in c.tasks.iter_mut() {
            if t.bucket == Bucket::Terminated {
                t.bucket = Bucket::Completed;
                t.ack_wanted = false;
            }
        }
        self.after_agent_change(&mut c);
    }

    pub(crate) fn teardown_framework(&self, framework_id: &str) -> bool {
        let mut c = self.lock();
        let Some(f) = c
            .frameworks
            .iter_mut()
            .find(|f| f.id == framework_id && !f.torn_down)
        else {
            return false;
        };
        f.torn_down = true;
        let now = now_secs();
        for i in 0..c.tasks.len() {
            if c.tasks[i].framework_id != framework_id || !c.tasks[i].bucket.live() {
                continue;
            }
            if c.tasks[i].bucket != Bucket::Terminated {
                let st = c.status(
                    "TASK_KILLED",
                    now,
                    Some("REASON_FRAMEWORK_REMOVED"),
                    "SOURCE_AGENT",
                    None,
                );
                c.tasks[i].state = "TASK_KILLED".into();
                c.tasks[i].statuses.push(st);
            }
            let t = &mut c.tasks[i];
            t.bucket = Bucket::Completed;
            t.kill_at = None;
            t.ack_wanted = false;
        }
        // removeFramework does not run the drain check.
        self.after_agent_change(&mut c);
        true
    }

    pub(crate) fn set_stuck_operation(self: &Arc<Self>, stuck: bool) {
        let mut c = self.lock();
        if stuck {
            if c.operation.is_none() {
                let op = c.new_operation();
                c.operation = Some(op);
            }
        } else if c.operation.take().is_some() {
            // Terminal operation update acknowledged: the drain check runs.
            self.after_agent_change(&mut c);
            self.check_and_transition(&mut c);
        }
    }

    // ---------------------------------------------------------------- master side

    /// `Master::checkAndTransitionDrainingAgent`.
    pub(crate) fn check_and_transition(self: &Arc<Self>, c: &mut Core) {
        if !c.known() || c.marking_gone || c.link != Link::Connected {
            return;
        }
        let Some(d) = c.drain.clone() else { return };
        if d.state == DrainState::Drained {
            return;
        }
        if c.tasks.iter().any(|t| t.bucket.live()) || c.operation.is_some() {
            return;
        }
        let epoch = c.drain_epoch;
        let at = Instant::now() + self.registry_delay;
        if d.mark_gone {
            c.marking_gone = true;
            self.at(at, move |s, c| {
                c.marking_gone = false;
                if c.drain_epoch == epoch && c.known() {
                    s.mark_gone_now(c);
                }
            });
        } else {
            self.at(at, move |_, c| {
                if c.drain_epoch != epoch {
                    return;
                }
                if let Some(d) = c.drain.as_mut() {
                    if d.state == DrainState::Draining {
                        d.state = DrainState::Drained;
                        if let Some(tx) = &c.on_drained {
                            let _ = tx.send(Instant::now());
                        }
                    }
                }
            });
        }
    }

    /// Registry write done: the agent is gone.
    pub(crate) fn mark_gone_now(self: &Arc<Self>, c: &mut Core) {
        c.gone = true;
        let id = c.agent_id.clone();
        c.gone_ids.push(id);
        c.drain = None;
        c.drain_epoch += 1;
        c.deactivated = false;
        c.est_drain_start_ns = None;
        // ShutdownMessage: the agent kills what is left and keeps nothing.
        c.tasks.clear();
        c.operation = None;
        c.agent_drain = None;
        c.link_epoch += 1;
        if self.stop_agent_when_gone {
            c.agent_up = false;
            self.stop_agent_server();
        }
    }

    /// The master removes the agent (unregistration, START_MAINTENANCE).
    pub(crate) fn remove_agent(&self, c: &mut Core, task_state: &str, reason: &'static str) {
        c.registered = false;
        c.drain = None;
        c.drain_epoch += 1;
        c.deactivated = false;
        c.est_drain_start_ns = None;
        c.link_epoch += 1;
        let now = now_secs();
        for i in 0..c.tasks.len() {
            if !c.tasks[i].bucket.live() {
                continue;
            }
            if c.tasks[i].bucket != Bucket::Terminated {
                let st = c.status(task_state, now, Some(reason), "SOURCE_AGENT", None);
                c.tasks[i].state = task_state.into();
                c.tasks[i].statuses.push(st);
            }
            let t = &mut c.tasks[i];
            t.bucket = Bucket::Completed;
            t.kill_at = None;
            t.ack_wanted = false;
        }
        c.operation = None;
        c.agent_drain = None;
    }

    pub(crate) fn unregister_agent(&self) {
        let mut c = self.lock();
        if !c.registered {
            return;
        }
        self.remove_agent(&mut c, "TASK_KILLED", "REASON_EXECUTOR_TERMINATED");
    }

    pub(crate) fn stop_agent(self: &Arc<Self>, link: Link) {
        {
            let mut c = self.lock();
            c.agent_up = false;
            c.link_epoch += 1;
            for t in c.tasks.iter_mut() {
                t.kill_at = None;
            }
            if c.registered && !c.gone {
                c.link = link;
                if link == Link::Disconnected {
                    if let Some(after) = self.unreachable_after {
                        let epoch = c.link_epoch;
                        self.at(Instant::now() + after, move |_, c| {
                            if c.link_epoch == epoch && c.link == Link::Disconnected {
                                c.link = Link::Unreachable;
                            }
                        });
                    }
                }
            }
        }
        self.stop_agent_server();
    }

    pub(crate) fn start_agent(self: &Arc<Self>) {
        let was_up = self.lock().agent_up;
        if !was_up {
            if let Err(e) = self.start_agent_server() {
                eprintln!("mesos-sim: cannot restart the agent server: {e}");
                return;
            }
        }
        let mut c = self.lock();
        c.agent_up = true;
        c.health_hang = false;
        c.link_epoch += 1;
        if c.known() {
            self.reregister(&mut c);
        } else {
            // Removed or gone: the agent starts over with a wiped work dir and a new id.
            c.id_seq += 1;
            let id = next_agent_id(&c.agent_id);
            c.agent_id = id;
            c.registered = true;
            c.gone = false;
            c.marking_gone = false;
            c.link = Link::Connected;
            c.deactivated = false;
            c.drain = None;
            c.drain_epoch += 1;
            c.registered_time_ns = now_ns();
            c.reregistered_time_ns = None;
            c.tasks.clear();
            c.operation = None;
            c.agent_drain = None;
        }
    }

    /// Master failover: drain state and deactivation survive (registry), the estimated
    /// drain start time does not; the agent is only "recovered" until it re-registers.
    pub(crate) fn failover(self: &Arc<Self>, reregister_after: Option<Duration>) {
        let mut c = self.lock();
        if !c.known() {
            return;
        }
        c.est_drain_start_ns = None;
        c.link = Link::Recovered;
        c.link_epoch += 1;
        for t in c.tasks.iter_mut() {
            t.kill_at = None;
        }
        if let Some(after) = reregister_after {
            let epoch = c.link_epoch;
            self.at(Instant::now() + after, move |s, c| {
                if c.link_epoch == epoch && c.link == Link::Recovered && c.agent_up {
                    s.reregister(c);
                }
            });
        }
    }

    /// The agent re-registers with the same id.
    fn reregister(self: &Arc<Self>, c: &mut Core) {
        c.link_epoch += 1;
        c.link = Link::Connected;
        c.reregistered_time_ns = Some(now_ns());
        c.est_drain_start_ns = None;
        for t in c.tasks.iter_mut() {
            t.kill_at = None;
        }
        self.deliver_drain(c);
        for i in 0..c.tasks.len() {
            if c.tasks[i].bucket == Bucket::Terminated && c.tasks[i].ack_wanted {
                self.schedule_ack(c, i);
            }
        }
        self.check_and_transition(c);
    }

    pub(crate) fn state_json(&self) -> Value {
        let agents: Vec<Value> = self
            .extra_agents()
            .iter()
            .map(|a| {
                let c = a.lock();
                json!({"agent_id": c.agent_id, "hostname": c.hostname,
                       "agent": format!("http://127.0.0.1:{}", a.agent_port),
                       "drain_state": c.drain.as_ref().map(|d| d.state.name()),
                       "deactivated": c.deactivated})
            })
            .collect();
        let c = self.lock();
        let link = match c.link {
            Link::Connected => "CONNECTED",
            Link::Disconnected => "DISCONNECTED",
            Link::Unreachable => "UNREACHABLE",
            Link::Recovered => "RECOVERED",
        };
        let tasks: Vec<Value> = c
            .tasks
            .iter()
            .map(|t| {
                json!({"id": t.id, "framework_id": t.framework_id, "state": t.state,
                       "bucket": format!("{:?}", t.bucket).to_uppercase()})
            })
            .collect();
        json!({
            "agent_id": c.agent_id,
            "hostname": c.hostname,
            "registered": c.registered,
            "gone": c.gone,
            "link": link,
            "agent_up": c.agent_up,
            "health_hang": c.health_hang,
            "active": c.known() && c.active(),
            "deactivated": c.deactivated,
            "drain_state": c.drain.as_ref().map(|d| d.state.name()),
            "drain_config": c.drain.as_ref().map(|d| json!({"max_grace_period_ns": d.max_grace_ns, "mark_gone": d.mark_gone})),
            "agent_drain_config": c.agent_drain.is_some(),
            "in_maintenance_window": c.in_window_knob || c.in_schedule(&c.machine()),
            "maintenance_schedule": c.schedule,
            "down_machines": c.down,
            "operation_pending": c.operation.is_some(),
            "task_counts": c.task_counts(),
            "tasks": tasks,
            "no_leader": c.no_leader,
            "recovering": c.recovering,
            "requests_logged": c.log.len(),
            "master": format!("http://127.0.0.1:{}", self.leader_port),
            "follower": format!("http://127.0.0.1:{}", self.follower_port),
            "agent": format!("http://127.0.0.1:{}", self.agent_port),
            "extra_agents": agents,
        })
    }
}

/// `...-S7` → `...-S8`; anything else gets `-1` appended.
fn next_agent_id(id: &str) -> String {
    if let Some(pos) = id.rfind("-S") {
        if let Ok(n) = id[pos + 2..].parse::<u64>() {
            return format!("{}-S{}", &id[..pos], n + 1);
        }
    }
    format!("{id}-1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_ids() {
        assert_eq!(next_agent_id("abc-S7"), "abc-S8");
        assert_eq!(next_agent_id("abc"), "abc-1");
    }

    #[test]
    fn machines_match_on_both_fields() {
        let a = json!({"hostname": "Agent-7", "ip": "127.0.0.1"});
        assert!(machine_eq(
            &a,
            &json!({"hostname": "agent-7", "ip": "127.0.0.1"})
        ));
        assert!(!machine_eq(&a, &json!({"hostname": "agent-7"})));
        assert!(!machine_eq(&a, &json!({"ip": "127.0.0.1"})));
    }
}
