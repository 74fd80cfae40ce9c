//! The thin I/O driver of the drain state machine: performs the current stage, turns what it saw
//! into an [`Event`], asks [`transition`] for the next stage and records it in the marker first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use super::decide::{self, Request, SlotRule, Start};
use super::hooks::{HookEnv, HookStage, Hooks};
use super::identity;
use super::lock::{DrainLock, LockError};
use super::machine::{await_event, transition, Event, Stage};
use super::marker::{current_boot_id, unix_now, BudgetMark, FleetMark, Marker, MarkerStore};
use super::pace::{Pacer, MASTER_MAX_GAP};
use super::progress::{ProgressSink, Snapshot};
use super::request::DrainRequest;
use super::units::{self, UnitPlan, UnitStages};
use super::DrainError;
use crate::config::UnitSettings;
use crate::fleet::{self, Admission, Backend, FleetLock, FleetSettings, Holder};
use crate::local_work;
use crate::mesos::{leader, AgentClient, MasterClient, MesosError, Transport};
use crate::node::{drain_state_name, LocalObs, LocalWork, MasterObs};
use crate::systemd::Systemd;

/// The clients a drain works with; injected, so tests point them at a simulator.
pub struct DrainDeps {
    pub master_transport: Arc<Transport>,
    pub configured_master: Option<Url>,
    pub agent: AgentClient,
    pub store: MarkerStore,
    pub hooks: Hooks,
    /// Required when the policy stops units.
    pub systemd: Option<Systemd>,
    pub units: UnitSettings,
    /// `[fleet]`: the budget of nodes out the Slot stage takes a slot in.
    pub fleet: FleetSettings,
    /// `[budget]`: the workloads' disruption budgets the Budget stage checks.
    pub budget: crate::budget::BudgetSettings,
    /// Marathon and SDK scheduler requests: the master's credentials, a 10 s bound, no retry.
    pub budget_transport: Arc<Transport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub agent_id: String,
    pub master: Url,
    /// The deadline passed and `--force` escalated (SIGUSR1, then stop).
    pub forced: bool,
    /// DRAIN_AGENT was not sent by this run (the master already had the drain).
    pub already_requested: bool,
    pub elapsed: Duration,
    pub master_requests: u64,
    pub resumed_from: Option<Stage>,
}

/// Runs a whole drain (or resumes an interrupted one) under the node's drain lock.
pub async fn run(
    req: DrainRequest,
    deps: DrainDeps,
    sink: &mut dyn ProgressSink,
) -> Result<Outcome, DrainError> {
    let _lock = DrainLock::acquire(deps.store.dir()).map_err(|e| match e {
        LockError::Busy(_) => DrainError::Busy(e.to_string()),
        LockError::Io(..) => DrainError::State(e.to_string()),
    })?;
    let mut ex = Executor::new(req, deps);
    let result = ex.drive(sink).await;
    sink.finish();
    result
}

struct Executor {
    req: DrainRequest,
    deps: DrainDeps,
    started: Instant,
    deadline_at: Option<Instant>,
    agent_id: String,
    master: Option<MasterClient>,
    marker: Option<Marker>,
    resumed_from: Option<Stage>,
    unit_plan: Option<UnitPlan>,
    frameworks: Vec<crate::mesos::FrameworkName>,
    pacer: Pacer,
    pacer_current: Duration,
    last_work: Option<LocalWork>,
    last_master: Option<MasterObs>,
    last_master_poll: Option<Instant>,
    already_requested: bool,
    /// What the marker found at the start means (`decide::start`).
    start: Option<Start>,
    deadline_hit: bool,
    error: Option<DrainError>,
    /// The fleet lock, opened at the Slot stage (or at the end, to give the slot back).
    fleet_lock: Option<Box<dyn FleetLock>>,
    /// DRAIN_AGENT was sent or may have been (by this run or the interrupted one).
    drain_maybe_sent: bool,
}

impl Executor {
    fn new(req: DrainRequest, deps: DrainDeps) -> Executor {
        let started = Instant::now();
        Executor {
            deadline_at: req.deadline.map(|d| started + d),
            req,
            deps,
            started,
            agent_id: String::new(),
            master: None,
            marker: None,
            resumed_from: None,
            unit_plan: None,
            frameworks: Vec::new(),
            pacer: Pacer::default(),
            pacer_current: super::pace::NEAR_MIN,
            last_work: None,
            last_master: None,
            last_master_poll: None,
            already_requested: false,
            start: None,
            deadline_hit: false,
            error: None,
            fleet_lock: None,
            drain_maybe_sent: false,
        }
    }

    async fn drive(&mut self, sink: &mut dyn ProgressSink) -> Result<Outcome, DrainError> {
        let policy = self.req.policy;
        let mut stage = Stage::Resolve;
        sink.stage(stage);
        loop {
            let event = self.perform(stage, sink).await;
            let next = transition(stage, &event, &policy)
                .map_err(|e| DrainError::State(format!("internal: {e}")))?;
            if next == Stage::StopAgent && event == Event::DeadlinePassed {
                self.deadline_hit = true;
            }
            if next != stage {
                self.record(next, &event)?;
                sink.stage(next);
            }
            stage = next;
            if stage.is_terminal() {
                break;
            }
            if event == Event::Waiting {
                // The pause the pacer chose during the last poll, never past the deadline.
                let wait = self
                    .remaining()
                    .map_or(self.pacer_current, |r| r.min(self.pacer_current));
                tokio::time::sleep(wait).await;
            }
        }
        if decide::release_slot_at_end(stage, &policy, self.drain_maybe_sent) {
            self.release_slot(sink).await;
            self.release_intents(sink).await;
        }
        match stage {
            Stage::Done => Ok(Outcome {
                agent_id: self.agent_id.clone(),
                master: self.master_url(),
                forced: self.deadline_hit,
                already_requested: self.already_requested,
                elapsed: self.started.elapsed(),
                master_requests: self.deps.master_transport.requests_sent(),
                resumed_from: self.resumed_from,
            }),
            Stage::DeadlineExceeded => Err(DrainError::DeadlineExceeded {
                deadline: self.req.deadline.unwrap_or_default(),
                holders: self.holders(),
            }),
            _ => Err(self.error.take().unwrap_or_else(|| {
                DrainError::State("drain failed without a recorded cause".into())
            })),
        }
    }

    fn master_url(&self) -> Url {
        self.master
            .as_ref()
            .map(|m| m.leader_url())
            .unwrap_or_else(|| Url::parse(leader::DEFAULT_LEADER).expect("valid default"))
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline_at
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn deadline_passed(&self) -> bool {
        self.deadline_at.is_some_and(|d| Instant::now() >= d)
    }

    /// Writes the next stage to the marker before the stage runs.
    fn record(&mut self, next: Stage, event: &Event) -> Result<(), DrainError> {
        let Some(marker) = self.marker.as_mut() else {
            return Ok(());
        };
        marker.stage = next;
        if self.deadline_hit {
            marker.forced = true;
        }
        if let Event::Error(e) | Event::HookFailed(e) = event {
            marker.error = Some(e.clone());
        }
        self.deps
            .store
            .save(marker)
            .map_err(|e| DrainError::State(format!("cannot write marker: {e}")))
    }

    fn fail(&mut self, err: DrainError) -> Event {
        let text = err.to_string();
        self.error = Some(err);
        Event::Error(text)
    }

    async fn perform(&mut self, stage: Stage, sink: &mut dyn ProgressSink) -> Event {
        match stage {
            Stage::Resolve => self.resolve().await,
            Stage::Slot => self.take_slot(sink).await,
            Stage::Budget => self.budget_stage(sink).await,
            Stage::PreHooks => self.hooks(HookStage::PreDrain, sink).await,
            Stage::RequestDrain => self.request_drain(sink).await,
            Stage::AwaitDrained => self.await_drained(sink).await,
            Stage::VerifyLocal => self.verify_local().await,
            Stage::StopAgent => self.stop_agent(sink).await,
            Stage::StopDocker => self.stop_docker(sink).await,
            Stage::PostHooks => self.hooks(HookStage::PostDrain, sink).await,
            Stage::Done | Stage::DeadlineExceeded | Stage::Failed => {
                unreachable!("terminal stages are not performed")
            }
        }
    }

    async fn resolve(&mut self) -> Event {
        let previous = match self.deps.store.load() {
            Ok(m) => m,
            Err(e) => {
                return self.fail(DrainError::State(format!(
                "cannot read the drain marker: {e}; remove it if no drain is running on this node"
            )))
            }
        };
        let fallback = identity::drain_fallback(previous.as_ref());
        self.agent_id = match identity::agent_id(&self.deps.agent, fallback).await {
            Ok(id) => id,
            Err(e) => return self.fail(DrainError::Undetermined(e.to_string())),
        };
        let (url, source) =
            leader::resolve_master(self.deps.configured_master.as_ref(), &self.deps.agent).await;
        tracing::info!(master = %url, ?source, agent_id = %self.agent_id, "resolved");
        self.master = Some(MasterClient::new(
            self.deps.master_transport.clone(),
            url.clone(),
        ));

        if self.req.policy.stop_units {
            match self.plan_units().await {
                Ok(plan) => self.unit_plan = Some(plan),
                Err(e) => return self.fail(e),
            }
        }

        let start = decide::start(
            previous.as_ref(),
            &self.agent_id,
            &self.req.policy,
            self.req.deadline,
            &current_boot_id(),
            unix_now(),
        );
        let mut marker = match previous.filter(|_| start.resume_from.is_some()) {
            Some(mut m) => {
                tracing::info!(target: crate::logging::PROGRESS, stage = %m.stage, "resuming the interrupted drain started at {}", m.started_at);
                m.policy = self.req.policy;
                m
            }
            None => Marker::new(
                &self.agent_id,
                self.req.trigger,
                self.req.policy,
                url.as_str(),
                self.req.reason.clone(),
                self.req.max_grace_period.map(|d| d.as_secs_f64()),
                self.req.deadline.map(|d| unix_now() + d.as_secs()),
            ),
        };
        marker.master = url.to_string();
        self.marker = Some(marker);
        self.resumed_from = start.resume_from;
        self.drain_maybe_sent =
            start.resume_from.is_some_and(Stage::drain_requested) || start.finished_before;
        if let Some(left) = start.deadline_left {
            self.deadline_at = Some(Instant::now() + left);
        }
        if start.forced {
            self.deadline_hit = true;
        }
        let event = match start.resume_at {
            Some(at) => {
                if Some(at) != start.resume_from {
                    tracing::info!(
                        "--no-stop: the interrupted drain's remaining unit actions are skipped"
                    );
                }
                Event::Resume(at)
            }
            None => Event::Resolved,
        };
        self.start = Some(start);
        event
    }

    /// The Slot stage: a slot in the fleet's budget, waited for or never refused as the
    /// request says; recorded in the marker. Take is idempotent by holder id, so a drain run
    /// again (or a retried lifecycle hook) does not take a second one.
    async fn take_slot(&mut self, sink: &mut dyn ProgressSink) -> Event {
        if self.deps.fleet.backend == Backend::None {
            return Event::SlotTaken;
        }
        let holder = Holder::new(
            &self.deps.fleet.holder_id(),
            &self.agent_id,
            &fleet::hostname(),
            &format!("{:?}", self.req.trigger).to_lowercase(),
        );
        if let Err(e) = self.open_fleet() {
            let text = e.to_string();
            self.error = Some(DrainError::Fleet(e));
            return Event::SlotRefused(text);
        }
        let lock = self.fleet_lock.as_deref().expect("opened above");
        let (over_budget, waited) = match self.req.slot {
            SlotRule::Wait(wait) => {
                // A holder whose agent is gone (a finished decommission) is released here.
                let gone =
                    fleet::MasterGone::new(self.deps.master_transport.clone(), self.master_url());
                let taken = fleet::take_slot_reaping(lock, &holder, wait, &gone, |p| {
                    sink.waiting_for_slot(p)
                })
                .await;
                match taken {
                    Ok(slot) => {
                        let how = if slot.already {
                            "held already"
                        } else {
                            "taken"
                        };
                        sink.action(&format!(
                            "fleet slot in group {} {how} ({} backend, holder {})",
                            lock.group(),
                            lock.backend(),
                            holder.id
                        ));
                        (false, slot.waited)
                    }
                    Err(e) => {
                        let text = e.to_string();
                        self.error = Some(DrainError::Fleet(e));
                        return Event::SlotRefused(text);
                    }
                }
            }
            SlotRule::NeverRefused => {
                match fleet::admit_never_refused(lock, &holder, decide::NEVER_REFUSED_BUDGET).await
                {
                    Admission::Granted(slot) => (false, slot.waited),
                    Admission::OverBudget(e) => {
                        tracing::warn!(
                            "{e}; the node goes down anyway: draining over the fleet budget"
                        );
                        (true, Duration::ZERO)
                    }
                }
            }
        };
        sink.slot(over_budget, waited);
        let mark = FleetMark {
            backend: lock.backend().to_string(),
            group: lock.group().to_string(),
            id: holder.id.clone(),
            over_budget,
            released: false,
            taken_at: unix_now(),
        };
        if let Some(m) = self.marker.as_mut() {
            m.fleet = Some(mark);
        }
        Event::SlotTaken
    }

    /// The Budget stage: the local workloads' disruption budgets, waited for, overridden or
    /// ignored as the request says, with this node's intents recorded (ZooKeeper backend) in
    /// the compare-and-set that decides. Recorded in the marker.
    async fn budget_stage(&mut self, sink: &mut dyn ProgressSink) -> Event {
        use crate::budget::{self, round, wait, BudgetRule};
        let trigger = format!("{:?}", self.req.trigger).to_lowercase();
        let holder = self.deps.fleet.holder_id();
        if self.req.budget == BudgetRule::Ignore {
            tracing::warn!(target: crate::logging::PROGRESS, "--ignore-budgets: the disruption budgets are not checked");
            sink.budget(&trigger, true, Duration::ZERO);
            if let Some(m) = self.marker.as_mut() {
                m.budget = Some(BudgetMark {
                    ignored: true,
                    holder,
                    ..BudgetMark::default()
                });
            }
            return Event::BudgetPassed;
        }
        if !self.deps.budget.any() {
            return Event::BudgetPassed;
        }
        let (tasks, frameworks) = match tokio::join!(
            self.deps.agent.get_tasks(),
            self.deps.agent.get_frameworks()
        ) {
            (Ok(t), Ok(f)) => (t, f),
            (Err(e), _) | (_, Err(e)) => {
                return self.budget_refused(budget::BudgetError::Unknown {
                    waited: Duration::ZERO,
                    holding: vec![format!("the local agent's tasks: {e}")],
                })
            }
        };
        let services: Vec<&str> = self
            .deps
            .budget
            .services
            .keys()
            .map(String::as_str)
            .collect();
        let local = budget::workloads::from_tasks(&tasks, &frameworks, &services);
        let planned = match budget::plan(&self.deps.budget, local) {
            Ok(p) => p,
            Err(e) => return self.budget_refused(budget::BudgetError::Config(e)),
        };
        if planned.is_empty() {
            return Event::BudgetPassed;
        }
        let zk = if self.deps.fleet.backend == Backend::ZooKeeper {
            if let Err(e) = self.open_fleet() {
                let text = e.to_string();
                self.error = Some(DrainError::Fleet(e));
                return Event::BudgetRefused(text);
            }
            self.fleet_lock.as_deref().and_then(|l| l.zookeeper())
        } else {
            None
        };
        let store = zk.map(|zk| round::IntentStore {
            zk,
            holder_id: &holder,
            record: true,
        });
        let sources = budget::Sources {
            transport: self.deps.budget_transport.clone(),
            settings: self.deps.budget.clone(),
            agents: Box::new(crate::fleet::master::MasterCensus::new(
                self.deps.master_transport.clone(),
                self.master_url(),
            )),
        };
        let result = wait::pass(
            &sources,
            &self.agent_id,
            &planned,
            store.as_ref(),
            self.req.budget,
            |holding| sink.waiting_for_budget(holding),
        )
        .await;
        match result {
            Ok(p) => {
                for line in &p.lines {
                    sink.action(&format!("disruption budget {line}"));
                }
                if let Some(why) = &p.overridden {
                    tracing::warn!(target: crate::logging::PROGRESS, "disruption budgets overridden ({trigger} drain): {why}");
                }
                sink.budget(&trigger, p.overridden.is_some(), p.waited);
                if let Some(m) = self.marker.as_mut() {
                    m.budget = Some(BudgetMark {
                        ignored: false,
                        overridden: p.overridden,
                        intents: p.intents,
                        holder,
                        waited_secs: p.waited.as_secs(),
                    });
                }
                Event::BudgetPassed
            }
            Err(e) => self.budget_refused(e),
        }
    }

    fn budget_refused(&mut self, e: crate::budget::BudgetError) -> Event {
        let text = e.to_string();
        self.error = Some(DrainError::Budget(e));
        Event::BudgetRefused(text)
    }

    /// Removes this node's budget intents (with its slot: never on a timer). A failure is
    /// logged; the intents stay until the next release.
    async fn release_intents(&mut self, sink: &mut dyn ProgressSink) {
        let Some(mark) = self.marker.as_ref().and_then(|m| m.budget.clone()) else {
            return;
        };
        if mark.intents.is_empty() || self.open_fleet().is_err() {
            return;
        }
        let Some(zk) = self.fleet_lock.as_deref().and_then(|l| l.zookeeper()) else {
            return;
        };
        let mut left = Vec::new();
        for z in &mark.intents {
            match crate::budget::intents::remove(zk, &mark.holder, z).await {
                Ok(()) => sink.action(&format!("budget intent on budgets/{z} removed")),
                Err(e) => {
                    tracing::warn!("cannot remove the budget intent on budgets/{z}: {e}");
                    left.push(z.clone());
                }
            }
        }
        if let Some(m) = self.marker.as_mut() {
            if let Some(b) = m.budget.as_mut() {
                b.intents = left;
            }
            if let Err(e) = self.deps.store.save(m) {
                tracing::warn!("cannot write marker: {e}");
            }
        }
    }

    /// The fleet lock for this drain, opened once (the master backend asks the resolved leader).
    fn open_fleet(&mut self) -> Result<(), fleet::FleetError> {
        if self.fleet_lock.is_none() {
            let master = Some((self.deps.master_transport.clone(), self.master_url()));
            self.fleet_lock = Some(fleet::open(&self.deps.fleet, master)?);
        }
        Ok(())
    }

    /// Gives the slot back at the end of the drain (`decide::release_slot_at_end`). A failure is
    /// logged: the drain's own result stands, and `fleet release` is the way out.
    async fn release_slot(&mut self, sink: &mut dyn ProgressSink) {
        let Some(id) = self
            .marker
            .as_ref()
            .and_then(|m| m.fleet.as_ref())
            .filter(|f| !f.released && !f.over_budget)
            .map(|f| f.id.clone())
        else {
            return;
        };
        if let Err(e) = self.open_fleet() {
            tracing::warn!("cannot give the fleet slot back: {e}");
            return;
        }
        let lock = self.fleet_lock.as_deref().expect("opened above");
        match lock.release(&id).await {
            Ok(_) => {
                sink.action(&format!(
                    "fleet slot in group {} given back (holder {id})",
                    lock.group()
                ));
                sink.slot_released();
                if let Some(m) = self.marker.as_mut() {
                    if let Some(f) = m.fleet.as_mut() {
                        f.released = true;
                    }
                    if let Err(e) = self.deps.store.save(m) {
                        tracing::warn!("cannot write marker: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!(
                "cannot give the fleet slot back ({e}); `mesos-maint fleet release --id {id}` does it by hand"
            ),
        }
    }

    async fn plan_units(&self) -> Result<UnitPlan, DrainError> {
        let sd = self.deps.systemd.as_ref();
        units::plan(sd, &self.deps.units, self.req.policy.stop_docker).await
    }

    async fn hooks(&mut self, stage: HookStage, sink: &mut dyn ProgressSink) -> Event {
        let env = HookEnv {
            agent_id: self.agent_id.clone(),
            trigger: format!("{:?}", self.req.trigger).to_lowercase(),
            master: self.master_url().to_string(),
            decommission: self.req.policy.decommission,
        };
        match self.deps.hooks.run(stage, &env).await {
            Ok(0) => Event::HooksPassed,
            Ok(n) => {
                sink.action(&format!("{n} {} hook(s) passed", stage.dir_name()));
                Event::HooksPassed
            }
            Err(e) if stage == HookStage::PreDrain => {
                self.error = Some(DrainError::HookRefused(e.clone()));
                Event::HookFailed(e)
            }
            Err(e) => {
                tracing::warn!("post-drain hook failed (the node stays drained): {e}");
                Event::HookFailed(e)
            }
        }
    }

    fn master(&self) -> &MasterClient {
        self.master.as_ref().expect("master resolved before use")
    }

    async fn observe_master(&mut self) -> Result<MasterObs, MesosError> {
        let lookup = self.master().agent(&self.agent_id).await?;
        let obs = MasterObs::from_lookup(&lookup);
        self.last_master = Some(obs.clone());
        self.last_master_poll = Some(Instant::now());
        Ok(obs)
    }

    async fn request_drain(&mut self, sink: &mut dyn ProgressSink) -> Event {
        let obs = match self.observe_master().await {
            Ok(o) => o,
            Err(e) => {
                return self.fail(DrainError::Undetermined(format!(
                    "cannot ask the master: {e}"
                )))
            }
        };
        let policy = self.req.policy;
        let start = self.start.as_ref().expect("resolved before RequestDrain");
        let decision = decide::request(&policy, &obs, start);
        if decision == Request::Skip {
            self.already_requested = true;
            self.drain_maybe_sent = true;
            sink.action(&format!(
                "the master already has a drain for agent {} ({}); DRAIN_AGENT is not sent again",
                self.agent_id,
                drain_state_name(&obs, policy.decommission).as_str()
            ));
            return Event::AlreadyRequested;
        }
        if decision == Request::ResendWithMarkGone {
            sink.action("the agent is drained without mark_gone; re-sending DRAIN_AGENT with mark_gone for the decommission");
        }
        self.drain_maybe_sent = true;
        let master = self.master();
        let sent = master
            .drain_agent(
                &self.agent_id,
                self.req.max_grace_period,
                policy.decommission,
            )
            .await;
        let leader = master.leader_url();
        match sent {
            Ok(()) => {
                // The view from before the request is stale now: poll the master first thing.
                self.last_master = None;
                self.last_master_poll = None;
                sink.action(&format!(
                    "DRAIN_AGENT sent to {} for agent {} (max_grace_period: {}, mark_gone: {})",
                    leader,
                    self.agent_id,
                    self.req
                        .max_grace_period
                        .map_or("each task's own".to_string(), |d| {
                            humantime::format_duration(d).to_string()
                        }),
                    policy.decommission
                ));
                Event::DrainRequested
            }
            Err(e) => {
                // Refused outright: the master has no drain from this request.
                self.drain_maybe_sent = !e.is_in_maintenance_schedule();
                let err = if e.is_in_maintenance_schedule() {
                    DrainError::Refused(format!("the machine is in a maintenance window: {e}"))
                } else {
                    DrainError::Undetermined(format!("DRAIN_AGENT failed: {e}"))
                };
                self.fail(err)
            }
        }
    }

    /// The local agent's work; a silent agent counts as empty where `decide` says so
    /// (`master_said_gone`: the drain is verifying after the master's verdict).
    async fn observe_local(&mut self, master_said_gone: bool) -> LocalObs {
        let names = local_work::Names::Cached(&mut self.frameworks);
        match local_work::observe(&self.deps.agent, names).await {
            LocalObs::Unreachable(e) => {
                let unit_stopped = self.agent_unit_stopped().await;
                if decide::silent_agent_is_empty(&self.req.policy, unit_stopped, master_said_gone) {
                    tracing::debug!(
                        "the local agent does not answer ({e}); counted as empty (unit stopped: \
                         {unit_stopped})"
                    );
                    LocalObs::Seen(LocalWork::default())
                } else {
                    LocalObs::Unreachable(e)
                }
            }
            seen => seen,
        }
    }

    async fn await_drained(&mut self, sink: &mut dyn ProgressSink) -> Event {
        if self.deadline_passed() {
            return Event::DeadlinePassed;
        }
        let local = match self.remaining() {
            Some(r) => tokio::time::timeout(r, self.observe_local(false))
                .await
                .unwrap_or_else(|_| LocalObs::Unreachable("deadline reached".into())),
            None => self.observe_local(false).await,
        };
        let near_done = match &local {
            LocalObs::Seen(w) => w.running() == 0,
            LocalObs::Unreachable(_) => true,
        };
        let master_due = self
            .last_master_poll
            .is_none_or(|t| t.elapsed() >= MASTER_MAX_GAP);
        let master = if near_done || master_due {
            match self.observe_master().await {
                Ok(m) => Some(m),
                Err(e @ MesosError::AuthRefused { .. }) => {
                    return self.fail(DrainError::Undetermined(e.to_string()))
                }
                Err(e) => {
                    tracing::warn!("cannot ask the master (will retry): {e}");
                    None
                }
            }
        } else {
            None
        };
        if master.as_ref().is_some_and(decide::drain_lost) {
            return self.fail(DrainError::Undetermined(format!(
                "the master no longer reports agent {} as draining (reactivated or re-registered?); stopping here",
                self.agent_id
            )));
        }
        let shown_master = master.as_ref().or(self.last_master.as_ref());
        let master_state = shown_master
            .map(|m| drain_state_name(m, self.req.policy.decommission).as_str())
            .unwrap_or("UNKNOWN")
            .to_string();
        let work = match &local {
            LocalObs::Seen(w) => Some(w.clone()),
            LocalObs::Unreachable(e) => {
                tracing::warn!("cannot ask the local agent (will retry): {e}");
                None
            }
        };
        let changed = work != self.last_work;
        if let Some(w) = &work {
            sink.progress(&Snapshot {
                elapsed: self.started.elapsed(),
                remaining: self.remaining(),
                master_state,
                frameworks: w.frameworks.clone(),
                pending_operations: w.pending_operations.len(),
            });
            self.last_work = work.clone();
        }
        self.pacer_current = self.pacer.next(changed, near_done);
        match master {
            Some(m) => await_event(&self.req.policy, &m, &local),
            None => Event::Waiting,
        }
    }

    async fn verify_local(&mut self) -> Event {
        if self.deadline_passed() {
            return Event::DeadlinePassed;
        }
        match self.observe_local(true).await {
            LocalObs::Seen(w) if w.is_empty() => Event::LocalEmpty,
            LocalObs::Seen(w) => {
                tracing::info!(
                    "the master says drained but the local agent still has work: {}",
                    w.reasons().join("; ")
                );
                self.last_work = Some(w);
                Event::LocalBusy
            }
            LocalObs::Unreachable(e) => {
                tracing::warn!("cannot verify the local agent (will retry): {e}");
                Event::LocalBusy
            }
        }
    }

    async fn agent_unit_stopped(&self) -> bool {
        let (Some(sd), Some(plan)) = (self.deps.systemd.as_ref(), self.unit_plan.as_ref()) else {
            return false;
        };
        match sd.unit_state(&plan.agent.service).await {
            Ok(st) => st.is_stopped(),
            Err(e) => {
                tracing::debug!("cannot read the agent unit's state: {e}");
                false
            }
        }
    }

    fn unit_stages(&self) -> Option<(UnitStages<'_>, Marker)> {
        let sd = self.deps.systemd.as_ref()?;
        let plan = self.unit_plan.as_ref()?;
        let marker = self.marker.clone()?;
        Some((
            UnitStages {
                systemd: sd,
                plan,
                store: &self.deps.store,
            },
            marker,
        ))
    }

    async fn stop_agent(&mut self, sink: &mut dyn ProgressSink) -> Event {
        let forced = self.deadline_hit;
        if forced {
            sink.action(&format!(
                "deadline reached with --force: escalating (SIGUSR1 to the agent, then stop); still holding: {}",
                self.holders().join("; ")
            ));
        }
        let Some((stages, mut marker)) = self.unit_stages() else {
            return self.fail(DrainError::State("unit plan missing".into()));
        };
        let res = stages.stop_agent(&mut marker, sink, forced).await;
        self.marker = Some(marker);
        match res {
            Ok(()) => Event::UnitsStopped,
            Err(e) => self.fail(DrainError::Undetermined(e.to_string())),
        }
    }

    async fn stop_docker(&mut self, sink: &mut dyn ProgressSink) -> Event {
        let Some((stages, mut marker)) = self.unit_stages() else {
            return self.fail(DrainError::State("unit plan missing".into()));
        };
        let res = stages.stop_docker(&mut marker, sink).await;
        self.marker = Some(marker);
        match res {
            Ok(()) => Event::DockerStopped,
            Err(e) => self.fail(DrainError::Undetermined(e.to_string())),
        }
    }

    /// What still holds the drain, for the deadline message.
    fn holders(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.last_master {
            Some(m @ MasterObs::Registered { drain, .. })
                if *drain != crate::node::Phase::Drained =>
            {
                out.push(format!(
                    "the master reports agent {} {}",
                    self.agent_id,
                    drain_state_name(m, false).as_str()
                ));
            }
            Some(MasterObs::Absent) if !self.req.policy.decommission => out.push(format!(
                "the master does not list agent {} (unreachable?)",
                self.agent_id
            )),
            _ => {}
        }
        if let Some(w) = &self.last_work {
            out.extend(w.reasons());
        }
        if out.is_empty() {
            out.push("the master has not reported the agent drained".into());
        }
        out
    }
}
