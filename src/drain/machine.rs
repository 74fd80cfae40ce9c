//! The drain sequence as an explicit state machine. Everything here is pure: the executor
//! observes the world, turns what it saw into an [`Event`], and asks [`transition`] where to go.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::node::{LocalObs, MasterObs};

/// The stages in order. `Stage::iter()` (strum) lists them and `name()` spells them from this
/// one definition, so the metrics' one-series-per-stage gauge cannot miss a new stage.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
pub enum Stage {
    Resolve,
    /// A slot in the fleet's budget of nodes out (design.md "Fleet coordination").
    Slot,
    /// The workloads' disruption budgets allow this node to go (design.md "Disruption budgets").
    Budget,
    PreHooks,
    RequestDrain,
    AwaitDrained,
    VerifyLocal,
    StopAgent,
    StopDocker,
    PostHooks,
    Done,
    DeadlineExceeded,
    Failed,
}

impl Stage {
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Done | Stage::DeadlineExceeded | Stage::Failed)
    }

    /// Stages after which the master has (or may have) received DRAIN_AGENT.
    pub fn drain_requested(self) -> bool {
        self >= Stage::AwaitDrained
    }

    /// The variant's name (also its serde spelling in the marker).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every stage, in order.
    pub fn all() -> impl Iterator<Item = Stage> {
        <Stage as strum::IntoEnumIterator>::iter()
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to drain, as asked; fixed for the whole drain. (Options, not a policy: the daemon's
/// decisions are `daemon::policy`.) Stored in the marker under its old key, `policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainOptions {
    /// mark_gone: the agent leaves the cluster for good and never reaches DRAINED.
    pub decommission: bool,
    /// Stop the agent units after a verified drain (`--no-stop` clears it).
    pub stop_units: bool,
    /// Also stop docker after the agent (config `units.stop_docker`).
    pub stop_docker: bool,
    /// Escalate at the deadline instead of giving up (`--force`).
    pub force: bool,
}

/// What the executor observed in the current stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Agent id, master and units are known.
    Resolved,
    /// Resolved, and a marker of an interrupted drain says where to pick up.
    Resume(Stage),
    /// A fleet slot is held (taken now, held already, or over budget for a drain never refused).
    SlotTaken,
    /// No fleet slot within the wait, or the fleet lock cannot be asked: nothing is sent.
    SlotRefused(String),
    /// The disruption budgets allow it (or were overridden, ignored, or none applies).
    BudgetPassed,
    /// Not allowed (impossible, not within the wait, a source that cannot be asked, a
    /// malformed budget): nothing is sent.
    BudgetRefused(String),
    HooksPassed,
    HookFailed(String),
    /// The master already has a drain for this agent: DRAIN_AGENT is not sent again.
    AlreadyRequested,
    /// DRAIN_AGENT answered 200.
    DrainRequested,
    /// The master's verdict (DRAINED, or gone when decommissioning) and an empty local agent.
    Drained,
    /// Not there yet; poll again.
    Waiting,
    DeadlinePassed,
    LocalEmpty,
    LocalBusy,
    UnitsStopped,
    DockerStopped,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no transition from {stage} on {event}")]
pub struct InvalidTransition {
    pub stage: Stage,
    pub event: String,
}

/// The transition table of the drain sequence.
pub fn transition(
    stage: Stage,
    event: &Event,
    policy: &DrainOptions,
) -> Result<Stage, InvalidTransition> {
    use Event as E;
    use Stage as S;
    let after_verified = if policy.stop_units {
        S::StopAgent
    } else {
        S::PostHooks
    };
    let at_deadline = if policy.force && policy.stop_units {
        S::StopAgent
    } else {
        S::DeadlineExceeded
    };
    let next = match (stage, event) {
        (s, _) if s.is_terminal() => None,
        (_, E::Error(_)) => Some(S::Failed),
        (S::Resolve, E::Resolved) => Some(S::Slot),
        // Past Slot, the interrupted drain holds its slot already (never a second one).
        (S::Resolve, E::Resume(at)) if !at.is_terminal() && *at > S::Slot => Some(*at),
        (S::Resolve, E::Resume(_)) => Some(S::Slot),
        (S::Slot, E::SlotTaken) => Some(S::Budget),
        (S::Budget, E::BudgetPassed) => Some(S::PreHooks),
        (S::Budget, E::BudgetRefused(_)) => Some(S::Failed),
        (S::Slot, E::SlotRefused(_)) => Some(S::Failed),
        (S::PreHooks, E::HooksPassed) => Some(S::RequestDrain),
        (S::PreHooks, E::HookFailed(_)) => Some(S::Failed),
        (S::RequestDrain, E::AlreadyRequested | E::DrainRequested) => Some(S::AwaitDrained),
        (S::AwaitDrained, E::Drained) => Some(S::VerifyLocal),
        (S::AwaitDrained, E::Waiting) => Some(S::AwaitDrained),
        (S::AwaitDrained | S::VerifyLocal, E::DeadlinePassed) => Some(at_deadline),
        (S::VerifyLocal, E::LocalEmpty) => Some(after_verified),
        (S::VerifyLocal, E::LocalBusy) => Some(S::AwaitDrained),
        (S::StopAgent, E::UnitsStopped) => Some(if policy.stop_docker {
            S::StopDocker
        } else {
            S::PostHooks
        }),
        (S::StopDocker, E::DockerStopped) => Some(S::PostHooks),
        // The node is already out of the cluster: a failing post hook is reported, not undone.
        (S::PostHooks, E::HooksPassed | E::HookFailed(_)) => Some(S::Done),
        _ => None,
    };
    next.ok_or_else(|| InvalidTransition {
        stage,
        event: format!("{event:?}"),
    })
}

/// Has the drain reached its goal? DRAINED on the master (gone when decommissioning), and an empty
/// local agent.
pub fn await_event(policy: &DrainOptions, master: &MasterObs, local: &LocalObs) -> Event {
    let local_empty = matches!(local, LocalObs::Seen(w) if w.is_empty());
    if policy.decommission {
        // A gone agent is sent a shutdown and may stop answering: the master's word is enough then.
        let local_done = local_empty || matches!(local, LocalObs::Unreachable(_));
        if *master == MasterObs::Absent && local_done {
            return Event::Drained;
        }
    } else if master.is_drained() && local_empty {
        return Event::Drained;
    }
    Event::Waiting
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
