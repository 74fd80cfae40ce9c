//! `drain --dry-run`: the steps a drain would take against the live state, computed from the same
//! observations and rules as a real drain, with nothing sent or stopped.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::decide::{self, Request};
use super::machine::DrainOptions;
use super::marker::Marker;
use super::units::UnitPlan;
use crate::mesos::types::Call;
use crate::node::{drain_state_name, LocalObs, MasterObs};

pub struct PlanInput<'a> {
    pub agent_id: &'a str,
    pub master: &'a str,
    pub master_obs: &'a MasterObs,
    pub local: &'a LocalObs,
    pub policy: DrainOptions,
    pub max_grace_period: Option<Duration>,
    pub deadline: Option<Duration>,
    /// `None` when units are not stopped; `Err` when they would be but cannot be found (a
    /// config blocker) or systemd cannot be asked (undetermined).
    pub units: Option<Result<UnitPlan, Blocker>>,
    /// systemd reports the agent's service stopped.
    pub agent_unit_stopped: bool,
    pub marker: Option<&'a Marker>,
    /// This boot's id and the marker's clock (seconds since the epoch): the drain's decisions
    /// about the marker (`decide::start`) take them as arguments.
    pub boot_id: &'a str,
    pub now_unix: u64,
    pub pre_hooks: Vec<PathBuf>,
    pub post_hooks: Vec<PathBuf>,
    /// The pid of another drain holding this node's drain lock (the drain's very first stop).
    pub lock_holder: Option<String>,
    /// Policy refusals the master would answer DRAIN_AGENT with (the machine is in a
    /// maintenance schedule).
    pub refusals: Vec<String>,
    /// This node's fleet slot as the lock shows it, or why it could not be asked (`None`: no
    /// fleet backend).
    pub fleet: Option<Result<crate::fleet::FleetReport, String>>,
    /// The disruption budgets of the moment (`None`: none applies); `Err`: a malformed budget
    /// (exit 2) or the local agent's tasks could not be read.
    pub budgets: Option<Result<crate::budget::round::Look, Blocker>>,
    /// `--ignore-budgets`.
    pub ignore_budgets: bool,
}

/// What kind of stop a blocker is: it decides the exit code the drain would end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockerKind {
    /// The system bus, the master or the agent cannot be asked (3).
    Undetermined,
    /// No agent unit, or another configuration problem (2).
    Config,
    /// A policy would refuse the drain (5).
    Policy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub kind: BlockerKind,
    pub text: String,
}

impl Blocker {
    pub fn new(kind: BlockerKind, text: impl Into<String>) -> Blocker {
        Blocker {
            kind,
            text: text.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    pub agent_id: String,
    pub master: String,
    pub drain_state: String,
    pub steps: Vec<String>,
    /// Problems a real run would stop at, in the order it would meet them.
    pub blockers: Vec<String>,
    /// The kind of the first blocker: the one the drain would end on. `None`: nothing blocks.
    pub stops_at: Option<BlockerKind>,
}

/// The Slot stage previewed: a free slot is a step, a full budget a policy blocker (exit 5; the
/// drain would wait up to fleet.wait first), a lock that cannot be asked an undetermined one.
fn slot_step(
    fleet: &Result<crate::fleet::FleetReport, String>,
    steps: &mut Vec<String>,
    blockers: &mut Vec<Blocker>,
) {
    use crate::fleet::SlotView;
    let r = match fleet {
        Ok(r) => r,
        Err(e) => {
            blockers.push(Blocker::new(
                BlockerKind::Undetermined,
                format!("cannot ask the fleet lock: {e}"),
            ));
            return;
        }
    };
    let at = format!(
        "in group {} ({} backend, holder {})",
        r.group, r.backend, r.id
    );
    match &r.slot {
        Some(SlotView::Held { .. }) => steps.push(format!("fleet slot {at}: held already")),
        Some(SlotView::Free { in_use, max }) => steps.push(format!(
            "take a fleet slot {at}: free ({in_use} of {max} in use)"
        )),
        Some(SlotView::Full { holders }) => blockers.push(Blocker::new(
            BlockerKind::Policy,
            format!(
                "no fleet slot free {at}: held by {}",
                crate::fleet::describe_holders(holders)
            ),
        )),
        Some(SlotView::Unknown) | None => {
            steps.push(format!("ask for a fleet slot {at} (the server decides)"))
        }
    }
}

/// The Budget stage previewed: each local workload with its budget, required, healthy
/// elsewhere, in flight and verdict; a budget that would refuse is a policy blocker (exit 5;
/// the drain would wait up to budget.wait first, or refuse at once when it is impossible), a
/// source that cannot be asked an undetermined one.
fn budget_step(input: &PlanInput<'_>, steps: &mut Vec<String>, blockers: &mut Vec<Blocker>) {
    let Some(look) = &input.budgets else {
        return;
    };
    if input.ignore_budgets {
        steps.push(
            "disruption budgets: ignored (--ignore-budgets; logged, counted, in the marker)".into(),
        );
        return;
    }
    let look = match look {
        Ok(l) => l,
        Err(b) => {
            blockers.push(b.clone());
            return;
        }
    };
    for v in &look.round.verdicts {
        steps.push(format!("disruption budget {}", v.line()));
    }
    if let Some((policy, reasons)) = look.refusal() {
        let kind = if policy {
            BlockerKind::Policy
        } else {
            BlockerKind::Undetermined
        };
        for r in reasons {
            blockers.push(Blocker::new(kind, format!("disruption budget {r}")));
        }
    }
}

pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut steps = Vec::new();
    let mut blockers: Vec<Blocker> = Vec::new();
    let p = input.policy;
    if let Some(pid) = &input.lock_holder {
        blockers.push(Blocker::new(
            BlockerKind::Policy,
            format!("another mesos-maint drain is running on this node (pid {pid})"),
        ));
    }
    // The decisions the drain takes at its start and in RequestDrain, from the same inputs.
    let start = decide::start(
        input.marker,
        input.agent_id,
        &p,
        input.deadline,
        input.boot_id,
        input.now_unix,
    );
    if let (Some(m), Some(stage)) = (input.marker, start.resume_from) {
        steps.push(format!(
            "resume the interrupted {:?} drain recorded in the marker at stage {stage}",
            m.trigger
        ));
    }
    match &input.units {
        Some(Err(b)) => blockers.push(b.clone()),
        Some(Ok(u)) => steps.push(format!(
            "agent unit: {}{}",
            u.agent.service,
            u.agent
                .socket
                .as_ref()
                .map(|s| format!(" (+ {s})"))
                .unwrap_or_default()
        )),
        None => {}
    }
    if let MasterObs::Unreachable(e) = input.master_obs {
        blockers.push(Blocker::new(
            BlockerKind::Undetermined,
            format!("cannot ask the master: {e}"),
        ));
    }
    if let Some(f) = &input.fleet {
        slot_step(f, &mut steps, &mut blockers);
    }
    budget_step(input, &mut steps, &mut blockers);
    for h in &input.pre_hooks {
        steps.push(format!("run pre-drain hook {}", h.display()));
    }
    let request = decide::request(&p, input.master_obs, &start);
    if request == Request::Skip {
        steps.push(format!(
            "skip DRAIN_AGENT: the master already has a drain for this agent ({})",
            drain_state_name(input.master_obs, p.decommission).as_str()
        ));
    } else {
        let call = Call::drain_agent(input.agent_id, input.max_grace_period, p.decommission);
        steps.push(format!("POST {}api/v1 {}", with_slash(input.master), call));
        if request == Request::ResendWithMarkGone {
            steps.push(
                "  now: the agent is drained without mark_gone; sent again with it for the decommission"
                    .into(),
            );
        }
        // Only a DRAIN_AGENT that is sent can be refused.
        for r in &input.refusals {
            blockers.push(Blocker::new(BlockerKind::Policy, r.clone()));
        }
    }
    let goal = if p.decommission {
        "the master no longer lists the agent (gone) and the local agent is empty"
    } else {
        "the master reports DRAINED and the local agent is empty"
    };
    let limit = start
        .deadline_left
        .or(input.deadline)
        .map_or("no deadline".to_string(), |d| {
            format!("deadline {}", humantime::format_duration(d))
        });
    steps.push(format!("wait until {goal} ({limit})"));
    match input.local {
        LocalObs::Seen(w) if !w.is_empty() => {
            for r in w.reasons() {
                steps.push(format!("  now: {r}"));
            }
        }
        LocalObs::Seen(_) => {
            steps.push("  now: the local agent has no live task and no pending operation".into())
        }
        // The drain's own rule at VerifyLocal: silence after mark_gone, or from a stopped unit,
        // is no blocker.
        LocalObs::Unreachable(_) if decide::silent_agent_is_empty(&p, input.agent_unit_stopped, true) => steps.push(
            "  now: the local agent does not answer (its unit is stopped or it is being decommissioned)"
                .into(),
        ),
        LocalObs::Unreachable(e) => blockers.push(Blocker::new(
            BlockerKind::Undetermined,
            format!("cannot ask the local agent: {e}"),
        )),
    }
    if let Some(Ok(u)) = &input.units {
        if p.force {
            steps.push(format!(
                "at the deadline (--force): SIGUSR1 to {}, then stop it",
                u.agent.service
            ));
        }
        if let Some(s) = &u.agent.socket {
            steps.push(format!("stop {s}"));
        }
        steps.push(format!("stop {}", u.agent.service));
        if let Some(d) = &u.docker {
            if let Some(sig) = u.docker_signal {
                steps.push(format!("send {} to {d}", sig.as_str()));
            }
            steps.push(format!("stop {d}"));
        }
    } else if !p.stop_units {
        steps.push("leave the agent and docker units running (--no-stop)".into());
    }
    for h in &input.post_hooks {
        steps.push(format!("run post-drain hook {}", h.display()));
    }
    Plan {
        agent_id: input.agent_id.to_string(),
        master: input.master.to_string(),
        drain_state: drain_state_name(input.master_obs, p.decommission)
            .as_str()
            .to_string(),
        steps,
        stops_at: blockers.first().map(|b| b.kind),
        blockers: blockers.into_iter().map(|b| b.text).collect(),
    }
}

/// The text plan: steps numbered as printed (sub-lines, indented, take no number), then each
/// blocker.
pub fn render_text(p: &Plan) -> String {
    let mut out = String::from("dry run: nothing is sent or stopped\n");
    out.push_str(&format!(
        "agent {} on {} ({})\n",
        p.agent_id, p.master, p.drain_state
    ));
    let mut n = 0;
    for s in &p.steps {
        if s.starts_with("  ") {
            out.push_str(&format!("   {s}\n"));
        } else {
            n += 1;
            out.push_str(&format!("{n:>2}. {s}\n"));
        }
    }
    for b in &p.blockers {
        out.push_str(&format!("BLOCKER: {b}\n"));
    }
    out
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{LocalWork, Phase};

    fn input<'a>(
        master: &'a MasterObs,
        local: &'a LocalObs,
        policy: DrainOptions,
    ) -> PlanInput<'a> {
        PlanInput {
            agent_id: "S1",
            master: "http://m:5050/",
            master_obs: master,
            local,
            policy,
            max_grace_period: Some(Duration::from_secs(600)),
            deadline: Some(Duration::from_secs(3600)),
            units: None,
            agent_unit_stopped: false,
            marker: None,
            boot_id: "boot-1",
            now_unix: 1_000_000,
            pre_hooks: vec![],
            post_hooks: vec![],
            lock_holder: None,
            refusals: vec![],
            fleet: None,
            budgets: None,
            ignore_budgets: false,
        }
    }

    const P: DrainOptions = DrainOptions {
        decommission: false,
        stop_units: false,
        stop_docker: true,
        force: false,
    };

    #[test]
    fn the_fleet_slot_is_a_step_when_free_and_a_blocker_when_full_or_unknown() {
        use crate::fleet::{FleetReport, Holder, SlotView};
        let m = undrained();
        let l = LocalObs::Seen(LocalWork::default());
        let report = |slot| FleetReport {
            backend: "zookeeper",
            group: "kafka-a".into(),
            id: "me".into(),
            slot: Some(slot),
        };
        let mut i = input(&m, &l, P);
        i.fleet = Some(Ok(report(SlotView::Free { in_use: 0, max: 1 })));
        let p = plan(&i);
        assert_eq!(p.stops_at, None);
        assert!(p
            .steps
            .iter()
            .any(|s| s.starts_with("take a fleet slot in group kafka-a")));
        i.fleet = Some(Ok(report(SlotView::Full {
            holders: vec![Holder::new("other", "S2", "h2", "reboot")],
        })));
        let p = plan(&i);
        assert_eq!(p.stops_at, Some(BlockerKind::Policy));
        assert!(p.blockers[0].contains("held by other"), "{:?}", p.blockers);
        i.fleet = Some(Err("connection refused".into()));
        assert_eq!(plan(&i).stops_at, Some(BlockerKind::Undetermined));
    }

    /// Registered, active, no drain.
    fn undrained() -> MasterObs {
        MasterObs::Registered {
            drain: Phase::None,
            deactivated: false,
            active: true,
            mark_gone: false,
        }
    }

    #[test]
    fn shows_the_exact_request_for_an_undrained_agent() {
        let m = undrained();
        let l = LocalObs::Seen(LocalWork::default());
        let plan = plan(&input(&m, &l, P));
        let post = plan.steps.iter().find(|s| s.starts_with("POST")).unwrap();
        assert!(post.contains("http://m:5050/api/v1"), "{post}");
        assert!(
            post.contains("\"max_grace_period\":{\"nanos\":0,\"seconds\":600}")
                || post.contains("\"seconds\":600"),
            "{post}"
        );
        assert!(plan.blockers.is_empty());
        assert_eq!(plan.stops_at, None);
        assert_eq!(plan.drain_state, "NONE");
    }

    #[test]
    fn the_first_blocker_the_drain_would_meet_decides_the_code() {
        let m = MasterObs::Unreachable("refused".into());
        let l = LocalObs::Seen(LocalWork::default());
        let mut i = input(&m, &l, P);
        i.units = Some(Err(Blocker::new(
            BlockerKind::Config,
            "no agent unit found",
        )));
        i.refusals = vec!["machine in a maintenance schedule".into()];
        let p = plan(&i);
        assert_eq!(p.stops_at, Some(BlockerKind::Config));
        assert_eq!(p.blockers.len(), 3, "{:?}", p.blockers);
        i.units = None;
        assert_eq!(plan(&i).stops_at, Some(BlockerKind::Undetermined));
        let m = MasterObs::Registered {
            drain: Phase::None,
            deactivated: false,
            active: true,
            mark_gone: false,
        };
        let mut i = input(&m, &l, P);
        i.refusals = vec!["machine in a maintenance schedule".into()];
        assert_eq!(plan(&i).stops_at, Some(BlockerKind::Policy));
        // Already drained: DRAIN_AGENT is not sent, so the master cannot refuse it.
        let m = drained();
        let mut i = input(&m, &l, P);
        i.refusals = vec!["machine in a maintenance schedule".into()];
        assert_eq!(plan(&i).stops_at, None);
        let m = MasterObs::Unreachable("refused".into());
        let mut i = input(&m, &l, P);
        i.lock_holder = Some("42".into());
        let p = plan(&i);
        assert_eq!(p.stops_at, Some(BlockerKind::Policy));
        assert!(p.blockers[0].contains("pid 42"), "{:?}", p.blockers);
    }

    #[test]
    fn printed_steps_are_numbered_without_gaps() {
        let m = drained();
        let l = LocalObs::Seen(LocalWork::default());
        let mut i = input(&m, &l, P);
        i.pre_hooks = vec![PathBuf::from("/h/pre")];
        let text = render_text(&plan(&i));
        let numbers: Vec<u32> = text
            .lines()
            .filter_map(|l| l.trim_start().split_once(". "))
            .filter_map(|(n, _)| n.parse().ok())
            .collect();
        let want: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(numbers, want, "{text}");
        assert!(
            text.contains("\n     now: the local agent has no live task"),
            "{text}"
        );
    }

    fn drained() -> MasterObs {
        MasterObs::Registered {
            drain: Phase::Drained,
            deactivated: true,
            active: false,
            mark_gone: false,
        }
    }

    #[test]
    fn skips_the_request_when_drained() {
        let m = drained();
        let l = LocalObs::Unreachable("refused".into());
        let plan = plan(&input(&m, &l, P));
        assert_eq!(plan.stops_at, Some(BlockerKind::Undetermined));
        assert!(plan.steps.iter().any(|s| s.starts_with("skip DRAIN_AGENT")));
        assert!(!plan.steps.iter().any(|s| s.starts_with("POST")));
        assert_eq!(plan.blockers.len(), 1);
        assert!(
            plan.blockers[0].contains("local agent"),
            "{:?}",
            plan.blockers
        );
    }

    #[test]
    fn a_silent_agent_behind_a_stopped_unit_is_no_blocker() {
        let m = drained();
        let l = LocalObs::Unreachable("refused".into());
        let mut i = input(&m, &l, P);
        i.agent_unit_stopped = true;
        assert_eq!(plan(&i).blockers, Vec::<String>::new());
    }
}
