//! Stateful Mesos master + agent simulator (test fixture).
//!
//! One [`Sim`] serves, on 127.0.0.1 ports:
//! * a **leading master** (`/api/v1`, `/master/api/v1`, `/master/slaves`, `/master/state`,
//!   `/master/redirect`, `/master/maintenance/*`, `/master/machine/*`) plus the control API
//!   under `/__sim/`,
//! * a **non-leading master** that answers 307 with a scheme-relative `Location` (or 503
//!   `No leader elected`),
//! * the **local agent** (`/api/v1`, `/slave(1)/api/v1`, `/state`), and optionally more
//!   local agents ([`SimConfig::extra_agents`]), each on its own port with its own id,
//!   hostname and tasks, all registered with that one master.
//!
//! The master and the first agent share one state; each other agent has its own, and the
//! master routes a call to the agent it names. Wire format and error behaviour follow
//! `shared/docs/mesos-operator-api.md` (the traps included: exact Content-Type, stout's
//! JSON-to-protobuf mapping, empty 200 bodies, DRAINED only after acknowledgements and a
//! registry write, mark_gone never reaching DRAINED, the REACTIVATE_AGENT codes, ...).

mod agents;
mod fake_http;
mod http;
pub mod marathon;
mod proto;
mod render;
pub mod sdk;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use agents::{AgentView, SimAgent, TaskView};
pub use render::{synthetic_agent_json, synthetic_slave_json};

use state::{Link, Shared};

/// Default id of the simulated local agent.
pub const DEFAULT_AGENT_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001-S7";

/// Which Mesos generation the JSON answers look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiStyle {
    /// Mesos 1.9 (DC/OS 2.0): the generic writer everywhere, empty repeated fields are left
    /// out (`"get_tasks":{}`, no `"recovered_agents"` when empty).
    V1_9,
    /// Mesos 1.11 (DC/OS 2.2): GET_AGENTS / agent GET_TASKS always write their top-level
    /// arrays; GET_OPERATIONS still leaves out an empty `operations`.
    #[default]
    V1_11,
}

impl ApiStyle {
    /// The `version` string the simulated daemons report.
    pub fn version(self) -> &'static str {
        match self {
            ApiStyle::V1_9 => "1.9.0",
            ApiStyle::V1_11 => "1.11.0",
        }
    }
}

/// HTTP authentication of the master and the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SimAuth {
    /// Authentication off (the Mesos default).
    #[default]
    None,
    /// libprocess basic authenticator. Note that a secret containing `:` can never
    /// authenticate (the decoded credential is split on every `:`).
    Basic { principal: String, secret: String },
    /// DC/OS: `Authorization: token=<t>`, compared exactly.
    Token(String),
}

/// When a framework acknowledges terminal status updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// Each terminal update is acknowledged this long after it happened.
    After(Duration),
    /// The framework never acknowledges (dead or partitioned scheduler): pins DRAINING.
    Never,
}

impl Default for AckMode {
    fn default() -> Self {
        AckMode::After(Duration::from_millis(50))
    }
}

/// The initial state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSpecState {
    /// Handed to its executor, running (`launched_tasks`, TASK_RUNNING).
    #[default]
    Launched,
    /// Accepted, executor not launched yet (`pending_tasks`, TASK_STAGING).
    Pending,
    /// Waiting for an executor to register (`queued_tasks`, TASK_STAGING).
    Queued,
    /// Terminal (TASK_FINISHED) but the update is not acknowledged yet (`terminated_tasks`).
    /// A framework with [`AckMode::After`] acknowledges it once a drain reaches the agent.
    TerminalUnacked,
}

/// One task of a simulated framework.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub id: String,
    pub name: String,
    /// The task's own kill grace period (its kill policy).
    pub kill_grace: Duration,
    pub state: TaskSpecState,
    /// `TaskInfo.labels` besides the simulator's own `owner=sim` (Marathon copies an app's
    /// labels here).
    pub labels: Vec<(String, String)>,
}

impl Default for TaskSpec {
    fn default() -> Self {
        TaskSpec {
            id: "task".into(),
            name: "task".into(),
            kill_grace: Duration::from_millis(300),
            state: TaskSpecState::Launched,
            labels: Vec::new(),
        }
    }
}

impl TaskSpec {
    /// A launched task named like its id.
    pub fn new(id: impl Into<String>, kill_grace: Duration) -> Self {
        let id = id.into();
        TaskSpec {
            name: id.clone(),
            id,
            kill_grace,
            state: TaskSpecState::Launched,
            labels: Vec::new(),
        }
    }

    /// Adds a task label (builder style).
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }

    pub fn with_state(mut self, state: TaskSpecState) -> Self {
        self.state = state;
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// A framework (scheduler) with tasks on the simulated agent.
#[derive(Debug, Clone)]
pub struct FrameworkSpec {
    pub id: String,
    pub name: String,
    pub acks: AckMode,
    pub tasks: Vec<TaskSpec>,
}

impl FrameworkSpec {
    pub fn new(id: impl Into<String>, name: impl Into<String>, acks: AckMode) -> Self {
        FrameworkSpec {
            id: id.into(),
            name: name.into(),
            acks,
            tasks: Vec::new(),
        }
    }

    /// Adds a task (builder style).
    pub fn task(mut self, task: TaskSpec) -> Self {
        self.tasks.push(task);
        self
    }
}

/// Configuration of a [`Sim`]. All fields are public; start from `SimConfig::default()`
/// (or [`SimConfig::scenario`]) and change what the test needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub style: ApiStyle,
    pub auth: SimAuth,
    /// Also authenticate the read-only endpoints (`/master/slaves`, `/state`, agent
    /// `/state`) when `auth` is set (realms `mesos-*-readonly`). Default true.
    pub auth_readonly: bool,
    pub agent_id: String,
    /// `AgentInfo.hostname` of the local agent (its IP, as seen in the pid, is 127.0.0.1).
    pub hostname: String,
    /// Synthetic other agents listed by GET_AGENTS, `/master/slaves` and `/master/state`.
    pub filler_agents: usize,
    /// `/master/slaves?slave_id=` returns every agent (a master that ignores the filter).
    pub ignore_slave_id_filter: bool,
    pub frameworks: Vec<FrameworkSpec>,
    /// One RESERVE operation stuck in OPERATION_PENDING on the agent: pins DRAINING.
    pub stuck_operation: bool,
    /// Simulated registry (replicated log) write time. Default 5 ms.
    pub registry_delay: Duration,
    /// The agent's machine is in a maintenance window: DRAIN_AGENT answers 400.
    pub in_maintenance_window: bool,
    /// The principal lacks the DRAIN_AGENT ACL: DRAIN_AGENT answers 403.
    pub forbid_drain: bool,
    /// Once marked gone, the agent's HTTP server stops answering (connection refused).
    pub stop_agent_when_gone: bool,
    /// A stopped (disconnected) agent becomes unreachable for the master after this long.
    /// `None`: it stays "disconnected" (still listed, `active:false`) until started again.
    pub unreachable_after: Option<Duration>,
    /// One completed task with a TaskState name unknown to clients (`TASK_SUSPENDED`).
    /// Default true; only present when there is at least one framework.
    pub unknown_enum_task: bool,
    /// Agent `/state` `flags.master`; default `127.0.0.1:<leader port>`.
    pub agent_master_flag: Option<String>,
    /// Agent `/state` `flags.work_dir`; default `/var/lib/mesos/slave`.
    pub agent_work_dir: String,
    /// Fixed ports (0 = ephemeral).
    pub master_port: u16,
    pub follower_port: u16,
    pub agent_port: u16,
    /// More local agents registered with the same master, each on its own port with its own
    /// id, hostname and tasks (the first agent is the one configured above). Empty by default.
    pub extra_agents: Vec<AgentSpec>,
}

/// One more local agent of a [`Sim`] (see [`SimConfig::extra_agents`]). Master-wide knobs
/// (auth, style, registry delay, filler agents, ...) come from the [`SimConfig`].
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub agent_id: String,
    pub hostname: String,
    pub frameworks: Vec<FrameworkSpec>,
    /// Fixed port (0 = ephemeral).
    pub port: u16,
}

impl AgentSpec {
    /// Agent number `n` (n >= 1) with the given frameworks: id
    /// `<FRAMEWORK_ID_PREFIX>-S<100 + n>`, hostname `agent-<n>.sim.local`, and every task id
    /// suffixed with `.a<n>` (task ids are unique in a cluster, frameworks are shared).
    pub fn numbered(n: usize, frameworks: &[FrameworkSpec]) -> AgentSpec {
        let frameworks = frameworks
            .iter()
            .map(|f| {
                let mut f = f.clone();
                for t in &mut f.tasks {
                    t.id = format!("{}.a{n}", t.id);
                }
                f
            })
            .collect();
        AgentSpec {
            agent_id: format!("{FRAMEWORK_ID_PREFIX}-S{}", 100 + n),
            hostname: format!("agent-{n}.sim.local"),
            frameworks,
            port: 0,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            style: ApiStyle::V1_11,
            auth: SimAuth::None,
            auth_readonly: true,
            agent_id: DEFAULT_AGENT_ID.into(),
            hostname: "agent-7.sim.local".into(),
            filler_agents: 0,
            ignore_slave_id_filter: false,
            frameworks: Vec::new(),
            stuck_operation: false,
            registry_delay: Duration::from_millis(5),
            in_maintenance_window: false,
            forbid_drain: false,
            stop_agent_when_gone: false,
            unreachable_after: None,
            unknown_enum_task: true,
            agent_master_flag: None,
            agent_work_dir: "/var/lib/mesos/slave".into(),
            master_port: 0,
            follower_port: 0,
            agent_port: 0,
            extra_agents: Vec::new(),
        }
    }
}

/// Framework id prefix shared by the built-in scenarios.
pub const FRAMEWORK_ID_PREFIX: &str = "a1b2c3d4-0000-4000-8000-000000000001";

impl SimConfig {
    /// Built-in scenarios (also used by the `mesos-sim serve --scenario` binary):
    /// * `empty`: no frameworks, no tasks.
    /// * `demo`: "marathon" (3 tasks, 1–2 s grace) and "cassandra" (2 tasks, 1.5 s grace),
    ///   both acknowledging after 300 ms: a drain progresses for about 2 s and ends DRAINED.
    /// * `stuck` (alias `never-ack`): demo plus "spark" (1 task) that never acknowledges.
    /// * `stuck-operation`: demo plus an operation pinned in OPERATION_PENDING.
    /// * `quick`: one framework, 2 tasks of 100 ms grace, acks after 20 ms.
    pub fn scenario(name: &str) -> Option<SimConfig> {
        let ack = AckMode::After(Duration::from_millis(300));
        let fw = |n: u32, name: &str, acks| {
            FrameworkSpec::new(format!("{FRAMEWORK_ID_PREFIX}-{n:04}"), name, acks)
        };
        let marathon = fw(1, "marathon", ack)
            .task(
                TaskSpec::new(
                    "web.7f3e0a51-1c2d-11ee-9b5f-0242ac110002",
                    Duration::from_millis(1000),
                )
                .with_name("web"),
            )
            .task(
                TaskSpec::new(
                    "api.7f3e0a52-1c2d-11ee-9b5f-0242ac110002",
                    Duration::from_millis(1500),
                )
                .with_name("api"),
            )
            .task(
                TaskSpec::new(
                    "worker.7f3e0a53-1c2d-11ee-9b5f-0242ac110002",
                    Duration::from_millis(2000),
                )
                .with_name("worker"),
            );
        let cassandra = fw(2, "cassandra", ack)
            .task(
                TaskSpec::new(
                    "node-0__a8c1b6f0-5b0e-4cd1-8f21-9a3b3c0d1e01",
                    Duration::from_millis(1500),
                )
                .with_name("node-0-server"),
            )
            .task(
                TaskSpec::new(
                    "node-1__a8c1b6f0-5b0e-4cd1-8f21-9a3b3c0d1e02",
                    Duration::from_millis(1500),
                )
                .with_name("node-1-server"),
            );
        let demo = SimConfig {
            frameworks: vec![marathon, cassandra],
            ..SimConfig::default()
        };
        match name {
            "empty" => Some(SimConfig::default()),
            "demo" => Some(demo),
            "stuck" | "never-ack" => {
                let mut c = demo;
                c.frameworks.push(
                    fw(3, "spark", AckMode::Never).task(
                        TaskSpec::new("driver-20240101-0001", Duration::from_millis(500))
                            .with_name("spark-driver"),
                    ),
                );
                Some(c)
            }
            "stuck-operation" => Some(SimConfig {
                stuck_operation: true,
                ..demo
            }),
            "quick" => Some(SimConfig {
                frameworks: vec![fw(1, "marathon", AckMode::After(Duration::from_millis(20)))
                    .task(TaskSpec::new("quick-1", Duration::from_millis(100)))
                    .task(TaskSpec::new("quick-2", Duration::from_millis(100)))],
                ..SimConfig::default()
            }),
            _ => None,
        }
    }

    /// Adds `count` more agents ([`AgentSpec::numbered`] 1..=count), each running its own copy
    /// of this config's frameworks' tasks (builder style).
    pub fn with_extra_agents(mut self, count: usize) -> SimConfig {
        let start = self.extra_agents.len() + 1;
        for n in start..start + count {
            let spec = AgentSpec::numbered(n, &self.frameworks);
            self.extra_agents.push(spec);
        }
        self
    }
}

/// Which of the simulated servers received a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    Leader,
    Follower,
    Agent,
}

/// One request received by one of the servers (the `/__sim/` control API is not logged).
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub server: Server,
    pub method: String,
    /// Path and query, as received.
    pub path: String,
    /// All headers, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// The port the request arrived on (tells the agents of a multi-agent simulator apart).
    pub port: u16,
}

impl LoggedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON `"type"` of the body, if it is a JSON object with a string `type`.
    pub fn call_type(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("type")?.as_str().map(str::to_owned)
    }

    /// True for the operator API paths (`/api/v1`, `/master/api/v1`, `/slave(1)/api/v1`).
    pub fn is_api_call(&self) -> bool {
        let p = self.path.split('?').next().unwrap_or("");
        p.ends_with("/api/v1")
    }
}

/// Task counts per agent bucket (see agent GET_TASKS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskCounts {
    pub pending: usize,
    pub queued: usize,
    pub launched: usize,
    pub terminated: usize,
    pub completed: usize,
}

/// A running simulator. Dropping it stops the servers.
pub struct Sim {
    shared: Arc<Shared>,
}

impl Sim {
    /// Binds the three servers on 127.0.0.1 (ephemeral ports unless configured) and
    /// spawns them on the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Sim> {
        let shared = http::start(cfg).await?;
        Ok(Sim { shared })
    }

    /// The leading master, e.g. `http://127.0.0.1:41234`.
    pub fn master_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.leader_port)
    }

    /// A non-leading master: 307 to the leader (or 503 in no-leader mode).
    pub fn follower_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.follower_port)
    }

    pub fn agent_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.agent_port)
    }

    pub fn master_port(&self) -> u16 {
        self.shared.leader_port
    }

    pub fn follower_port(&self) -> u16 {
        self.shared.follower_port
    }

    pub fn agent_port(&self) -> u16 {
        self.shared.agent_port
    }

    /// The local agent's current id (a new one after it re-registers following a removal).
    pub fn agent_id(&self) -> String {
        self.shared.lock().agent_id.clone()
    }

    /// When the simulator started: the origin of every [`LoggedRequest::at_ms`] (so the logs of
    /// several simulators can be laid on one timeline).
    pub fn started(&self) -> Instant {
        self.shared.started
    }

    /// Every logged request, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// Clears the request log.
    pub fn reset_log(&self) {
        self.shared.lock().log.clear();
    }

    /// Operator API calls of this type received by the leader and the follower
    /// (a call redirected by the follower and replayed to the leader counts twice).
    pub fn count_calls(&self, call_type: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.server != Server::Agent && r.is_api_call())
            .filter(|r| r.call_type().as_deref() == Some(call_type))
            .count()
    }

    /// Like [`Sim::count_calls`] for one server (agent calls included).
    pub fn count_calls_on(&self, server: Server, call_type: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.server == server && r.is_api_call())
            .filter(|r| r.call_type().as_deref() == Some(call_type))
            .count()
    }

    /// The master's drain state: `Some("DRAINING")`, `Some("DRAINED")`, or `None`
    /// (not draining, removed or gone).
    pub fn drain_state(&self) -> Option<String> {
        let c = self.shared.lock();
        c.drain.as_ref().map(|d| d.state.name().to_owned())
    }

    /// Polls [`Sim::drain_state`] until it equals `want` (None = no drain state) or the
    /// timeout passes; returns whether it got there.
    pub async fn wait_drain_state(&self, want: Option<&str>, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.drain_state().as_deref() == want {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The agent was marked gone (MARK_AGENT_GONE or a mark_gone drain).
    pub fn is_gone(&self) -> bool {
        self.shared.lock().gone
    }

    pub fn is_deactivated(&self) -> bool {
        self.shared.lock().deactivated
    }

    /// Whether the master currently lists the agent in GET_AGENTS (registered, not
    /// unreachable, not gone).
    pub fn is_listed(&self) -> bool {
        self.shared.lock().listed()
    }

    /// The agent's tasks per bucket.
    pub fn task_counts(&self) -> TaskCounts {
        self.shared.lock().task_counts()
    }

    /// What `GET /__sim/state` returns.
    pub fn state_json(&self) -> serde_json::Value {
        self.shared.state_json()
    }

    /// The follower answers 503 `No leader elected` for its next `requests` requests
    /// (`usize::MAX`: until cleared; 0 clears).
    pub fn set_no_leader(&self, requests: usize) {
        self.shared.lock().no_leader = requests;
    }

    /// The leader answers 503 `Master has not finished recovery` for its next `requests`
    /// operator API, `/master/slaves` and `/master/state` requests (0 clears).
    pub fn set_recovering(&self, requests: usize) {
        self.shared.lock().recovering = requests;
    }

    /// The agent answers 503 `Agent has not finished recovery` for its next `requests`
    /// operator API requests (0 clears).
    pub fn set_agent_recovering(&self, requests: usize) {
        self.shared.lock().agent_recovering = requests;
    }

    /// `false`: the agent's HTTP server refuses connections and the master sees the agent
    /// **unreachable** (left out of GET_AGENTS; REACTIVATE_AGENT answers 409). `true`: the
    /// agent starts and re-registers.
    pub fn set_agent_reachable(&self, up: bool) {
        if up {
            self.shared.start_agent();
        } else {
            self.shared.stop_agent(Link::Unreachable);
        }
    }

    /// `systemctl stop` of the agent: connection refused; the master sees it
    /// **disconnected** (still listed, `active:false`) until [`Sim::start_agent`]
    /// (or unreachable after `SimConfig::unreachable_after`).
    pub fn stop_agent(&self) {
        self.shared.stop_agent(Link::Disconnected);
    }

    /// (Re)starts the agent: it re-registers (the drain message is sent again and the
    /// drain check runs). After a removal (unregister, START_MAINTENANCE) or mark-gone it
    /// registers as a new, empty agent with a new id.
    pub fn start_agent(&self) {
        self.shared.start_agent();
    }

    /// Master failover: the drain state and deactivation survive (they are in the
    /// registry), `estimated_drain_start_time` is lost, and the agent appears only under
    /// `recovered_agents` / `recovered_slaves` (REACTIVATE_AGENT answers 409) until it
    /// re-registers after `reregister_after` (None: at the next [`Sim::start_agent`]).
    /// Combine with [`Sim::set_recovering`] for the 503 phase.
    pub fn failover(&self, reregister_after: Option<Duration>) {
        self.shared.failover(reregister_after);
    }

    /// The agent's machine is (or is not) in a maintenance window: DRAIN_AGENT answers 400.
    pub fn set_in_maintenance_window(&self, yes: bool) {
        self.shared.lock().in_window_knob = yes;
    }

    /// DRAIN_AGENT answers 403 (principal lacks the ACL).
    pub fn set_forbid_drain(&self, yes: bool) {
        self.shared.lock().forbid_drain = yes;
    }

    pub fn set_ignore_slave_id_filter(&self, yes: bool) {
        self.shared.lock().ignore_slave_id_filter = yes;
    }

    /// Adds a task to a framework (created, named like its id, if unknown). While the
    /// agent itself is draining, the new task is killed like the others.
    pub fn add_task(&self, framework_id: &str, task: TaskSpec) {
        self.shared.add_task(framework_id, task);
    }

    /// Changes when a framework acknowledges. Pending terminal updates of a framework
    /// switched to `After` are acknowledged after that delay (and run the drain check).
    pub fn set_ack_mode(&self, framework_id: &str, acks: AckMode) {
        self.shared.set_ack_mode(framework_id, acks);
    }

    /// What SIGUSR1 to the agent does: it unregisters; the master removes it and erases
    /// its drain state and deactivation; all its tasks die. The agent's HTTP server keeps
    /// answering (with no live tasks).
    pub fn unregister_agent(&self) {
        self.shared.unregister_agent();
    }

    /// Every framework acknowledges all pending terminal updates at once. This does **not**
    /// run the master's drain check (the agent can stay DRAINING until another trigger).
    pub fn acknowledge_all(&self) {
        self.shared.acknowledge_all();
    }

    /// TEARDOWN of a framework: its tasks are killed and removed without running the drain
    /// check (like real Mesos). Returns false for an unknown framework.
    pub fn teardown_framework(&self, framework_id: &str) -> bool {
        self.shared.teardown_framework(framework_id)
    }

    /// Adds (true) a stuck OPERATION_PENDING operation, or finishes and acknowledges it
    /// (false), which runs the drain check.
    pub fn set_stuck_operation(&self, stuck: bool) {
        self.shared.set_stuck_operation(stuck);
    }

    /// `true`: the agent's `GET /health` hangs (the connection is accepted, no answer comes)
    /// while its other endpoints keep answering; a (re)start of the agent clears it.
    pub fn set_agent_health_hang(&self, hang: bool) {
        self.shared.lock().health_hang = hang;
    }

    /// Notified with the instant DRAINED was declared.
    pub fn set_on_drained(&self, tx: tokio::sync::mpsc::UnboundedSender<Instant>) {
        self.shared.lock().on_drained = Some(tx);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shared.shutdown_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Sim>();
        assert_send_sync::<LoggedRequest>();
    }

    #[test]
    fn scenarios_exist() {
        for s in [
            "empty",
            "demo",
            "stuck",
            "never-ack",
            "stuck-operation",
            "quick",
        ] {
            assert!(SimConfig::scenario(s).is_some(), "{s}");
        }
        assert!(SimConfig::scenario("nope").is_none());
        assert_eq!(SimConfig::scenario("demo").unwrap().frameworks.len(), 2);
    }
}
