//! The drain's decisions, pure, for the executor and the dry run alike: what a marker found at
//! the start means (resume where, with which deadline, escalating or not; a decommission already
//! done), whether DRAIN_AGENT is sent, when a silent agent counts as empty, and when the master's
//! answer ends the drain. The boot id and the clock are arguments, so every rule is tested
//! without a machine; `tests/` holds the agreement test between the two callers
//! (`agreement_tests.rs`).

use std::time::Duration;

use super::machine::{DrainOptions, Stage};
use super::marker::Marker;
use crate::node::{MasterObs, Phase};

/// What the marker found when a drain starts means for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The stage an interrupted drain of this agent, this boot, had reached (`None`: a fresh
    /// drain).
    pub resume_from: Option<Stage>,
    /// Where that drain picks up: its stage, except that the unit stages are skipped under
    /// `--no-stop` now.
    pub resume_at: Option<Stage>,
    /// Time left of the interrupted drain's deadline, when both it and this run have one (the
    /// original deadline still holds).
    pub deadline_left: Option<Duration>,
    /// The interrupted drain escalated at its deadline: it keeps escalating (SIGUSR1 first).
    pub forced: bool,
    /// A decommission of this agent finished earlier this boot (its agent may be gone now).
    pub finished_before: bool,
}

/// Reads the marker found at the start of a drain of `agent_id` under `policy`. `now_unix`:
/// seconds since the epoch, the marker's clock.
pub fn start(
    marker: Option<&Marker>,
    agent_id: &str,
    policy: &DrainOptions,
    deadline: Option<Duration>,
    boot_id: &str,
    now_unix: u64,
) -> Start {
    let ours = marker.filter(|m| m.is_this_boot(boot_id) && m.agent_id == agent_id);
    let resumable = ours.filter(|m| m.unfinished());
    let finished_before = policy.decommission && ours.is_some_and(Marker::decommission_done);
    let resume_from = resumable.map(|m| m.stage);
    let resume_at = resume_from.map(|stage| match stage {
        // --no-stop now: the unit actions the interrupted drain had left are skipped.
        Stage::StopAgent | Stage::StopDocker if !policy.stop_units => Stage::PostHooks,
        stage => stage,
    });
    let deadline_left = match (resumable.and_then(|m| m.deadline_at), deadline) {
        (Some(at), Some(_)) => Some(Duration::from_secs(at.saturating_sub(now_unix))),
        _ => None,
    };
    Start {
        resume_from,
        resume_at,
        deadline_left,
        forced: resumable.is_some_and(|m| m.forced),
        finished_before,
    }
}

/// Whether RequestDrain sends DRAIN_AGENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Send it.
    Send,
    /// The master already has our drain: sending again would reset DRAINED to DRAINING (and keep
    /// an unreachable agent DRAINING for good).
    Skip,
    /// A decommission of an agent the master drains without mark_gone: send it again, with
    /// mark_gone, or the agent would never leave.
    ResendWithMarkGone,
}

/// The decision of RequestDrain for the master's view `master` of the agent.
pub fn request(policy: &DrainOptions, master: &MasterObs, start: &Start) -> Request {
    let marker_says =
        start.resume_from.is_some_and(Stage::drain_requested) || start.finished_before;
    let already = match master {
        MasterObs::Registered { drain, .. } => *drain != Phase::None,
        MasterObs::Absent => policy.decommission && marker_says,
        _ => marker_says,
    };
    let mark_gone_missing = policy.decommission
        && matches!(master, MasterObs::Registered { mark_gone: false, drain, .. } if *drain != Phase::None);
    match (already, mark_gone_missing) {
        (_, true) => Request::ResendWithMarkGone,
        (true, false) => Request::Skip,
        (false, false) => Request::Send,
    }
}

/// A local agent that does not answer counts as empty: when systemd reports its unit stopped
/// (the `check` rule; a drain run again after ours stopped the units sees this) and, once the
/// master has said gone (`master_said_gone`: the drain is verifying), during a decommission
/// (the master shuts a gone agent down).
pub fn silent_agent_is_empty(
    policy: &DrainOptions,
    agent_unit_stopped: bool,
    master_said_gone: bool,
) -> bool {
    agent_unit_stopped || (policy.decommission && master_said_gone)
}

/// While waiting for DRAINED: the master lists the agent with no drain at all. Someone
/// reactivated it (or it re-registered); waiting on would never end, so the drain fails.
pub fn drain_lost(master: &MasterObs) -> bool {
    matches!(
        master,
        MasterObs::Registered {
            drain: Phase::None,
            ..
        }
    )
}

/// How a drain gets its slot in the fleet's budget of nodes out (design.md "Fleet coordination").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRule {
    /// `drain`, `reboot`, scale-in: wait up to this long, then give up with nothing sent (exit 5).
    Wait(Duration),
    /// A spot notice or an OS shutdown under way: the node goes down anyway. One attempt within
    /// [`NEVER_REFUSED_BUDGET`]; without a slot the drain goes on over budget (logged, counted).
    NeverRefused,
}

/// How long a drain that is never refused spends asking the fleet lock.
pub const NEVER_REFUSED_BUDGET: Duration = Duration::from_secs(10);

/// Whether a drain that ended at `end` gives its fleet slot back at once. `drain_maybe_sent`:
/// DRAIN_AGENT was sent (or may have been: no answer) by this run or an earlier one.
/// - Done with a decommission: the agent is gone and its units stopped (or left running with
///   `--no-stop`); the instance is about to disappear.
/// - Failed or refused before DRAIN_AGENT: the node never went out.
///
/// Otherwise the slot stays until the node is back: `reactivate` (manual drain) or the daemon
/// after the post-boot reactivation (reboot, shutdown) gives it back.
pub fn release_slot_at_end(end: Stage, policy: &DrainOptions, drain_maybe_sent: bool) -> bool {
    match end {
        Stage::Done => policy.decommission,
        Stage::Failed => !drain_maybe_sent,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::Trigger;

    const BOOT: &str = "boot-1";
    const NOW: u64 = 1_000_000;

    fn policy(decommission: bool) -> DrainOptions {
        DrainOptions {
            decommission,
            stop_units: true,
            stop_docker: false,
            force: false,
        }
    }

    fn marker(stage: Stage, decommission: bool) -> Marker {
        let mut m = Marker::new(
            "S1",
            Trigger::Manual,
            policy(decommission),
            "m",
            None,
            None,
            Some(NOW + 100),
        );
        m.stage = stage;
        m.boot_id = BOOT.into();
        m
    }

    #[test]
    fn only_an_unfinished_drain_of_this_agent_and_this_boot_is_resumed() {
        let p = policy(false);
        let d = Some(Duration::from_secs(600));
        let m = marker(Stage::AwaitDrained, false);
        let s = start(Some(&m), "S1", &p, d, BOOT, NOW);
        assert_eq!(s.resume_from, Some(Stage::AwaitDrained));
        assert_eq!(s.resume_at, Some(Stage::AwaitDrained));
        assert_eq!(
            s.deadline_left,
            Some(Duration::from_secs(100)),
            "original deadline"
        );
        assert_eq!(start(Some(&m), "S2", &p, d, BOOT, NOW).resume_from, None);
        let other_boot = start(Some(&m), "S1", &p, d, "boot-0", NOW);
        assert_eq!(other_boot.resume_from, None);
        assert_eq!(other_boot.deadline_left, None);
        let done = marker(Stage::Done, false);
        assert_eq!(start(Some(&done), "S1", &p, d, BOOT, NOW).resume_from, None);
        // No deadline asked now: none carried over either.
        assert_eq!(
            start(Some(&m), "S1", &p, None, BOOT, NOW).deadline_left,
            None
        );
    }

    #[test]
    fn no_stop_skips_the_unit_stages_of_a_resumed_drain() {
        let mut p = policy(false);
        p.stop_units = false;
        for stage in [Stage::StopAgent, Stage::StopDocker] {
            let m = marker(stage, false);
            let s = start(Some(&m), "S1", &p, None, BOOT, NOW);
            assert_eq!(s.resume_from, Some(stage));
            assert_eq!(s.resume_at, Some(Stage::PostHooks));
        }
    }

    #[test]
    fn a_finished_decommission_keeps_drain_agent_from_being_sent_again() {
        let p = policy(true);
        let m = marker(Stage::Done, true);
        let s = start(Some(&m), "S1", &p, None, BOOT, NOW);
        assert!(s.finished_before);
        assert_eq!(request(&p, &MasterObs::Absent, &s), Request::Skip);
        let fresh = start(None, "S1", &p, None, BOOT, NOW);
        assert_eq!(request(&p, &MasterObs::Absent, &fresh), Request::Send);
        // Not for another boot.
        assert!(!start(Some(&m), "S1", &p, None, "boot-0", NOW).finished_before);
    }

    #[test]
    fn a_decommission_drained_without_mark_gone_is_sent_again() {
        let p = policy(true);
        let fresh = start(None, "S1", &p, None, BOOT, NOW);
        let drained = |mark_gone| MasterObs::Registered {
            drain: Phase::Drained,
            mark_gone,
            deactivated: true,
            active: false,
        };
        assert_eq!(
            request(&p, &drained(false), &fresh),
            Request::ResendWithMarkGone
        );
        assert_eq!(request(&p, &drained(true), &fresh), Request::Skip);
        assert_eq!(
            request(&policy(false), &drained(false), &fresh),
            Request::Skip
        );
    }

    #[test]
    fn already_requested_rules() {
        let reg = |drain| MasterObs::Registered {
            drain,
            deactivated: false,
            active: true,
            mark_gone: false,
        };
        let keep = policy(false);
        let gone = policy(true);
        let fresh = start(None, "S1", &keep, None, BOOT, NOW);
        let m = marker(Stage::AwaitDrained, false);
        let requested = start(Some(&m), "S1", &keep, None, BOOT, NOW);
        assert_eq!(request(&keep, &reg(Phase::Drained), &fresh), Request::Skip);
        assert_eq!(request(&keep, &reg(Phase::Draining), &fresh), Request::Skip);
        assert_eq!(request(&keep, &reg(Phase::None), &requested), Request::Send);
        assert_eq!(
            request(&keep, &MasterObs::Absent, &requested),
            Request::Send
        );
        let m = marker(Stage::AwaitDrained, true);
        let requested = start(Some(&m), "S1", &gone, None, BOOT, NOW);
        assert_eq!(
            request(&gone, &MasterObs::Absent, &requested),
            Request::Skip
        );
        assert_eq!(request(&gone, &MasterObs::Absent, &fresh), Request::Send);
        // Unreachable: the marker's word.
        let unreachable = MasterObs::Unreachable("x".into());
        assert_eq!(request(&keep, &unreachable, &requested), Request::Skip);
        assert_eq!(request(&keep, &unreachable, &fresh), Request::Send);
    }

    #[test]
    fn silence_and_a_lost_drain() {
        assert!(silent_agent_is_empty(&policy(false), true, false));
        assert!(silent_agent_is_empty(&policy(true), false, true));
        assert!(!silent_agent_is_empty(&policy(true), false, false));
        assert!(!silent_agent_is_empty(&policy(false), false, true));
        assert!(drain_lost(&MasterObs::Registered {
            drain: Phase::None,
            mark_gone: false,
            deactivated: false,
            active: true,
        }));
        assert!(!drain_lost(&MasterObs::Absent));
    }

    #[test]
    fn the_slot_is_given_back_after_a_decommission_or_a_failure_before_drain_agent() {
        let keep = DrainOptions {
            decommission: false,
            stop_units: true,
            stop_docker: false,
            force: false,
        };
        let gone = DrainOptions {
            decommission: true,
            ..keep
        };
        // Done: only a decommission gives the slot back (the node is not coming back).
        assert!(release_slot_at_end(Stage::Done, &gone, true));
        assert!(!release_slot_at_end(Stage::Done, &keep, true));
        // Failed or refused before DRAIN_AGENT: at once; after it, the node is (partly) out.
        assert!(release_slot_at_end(Stage::Failed, &keep, false));
        assert!(release_slot_at_end(Stage::Failed, &gone, false));
        assert!(!release_slot_at_end(Stage::Failed, &keep, true));
        // A deadline ends with the drain requested: the node is out until reactivated.
        assert!(!release_slot_at_end(Stage::DeadlineExceeded, &keep, true));
        assert!(!release_slot_at_end(Stage::DeadlineExceeded, &gone, true));
    }
}
