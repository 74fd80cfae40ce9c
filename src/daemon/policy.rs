//! The daemon's decisions, pure and unit-tested: which inhibitor locks to hold, what to do with a
//! marker found after a boot, how long a shutdown drain may take.

use std::time::Duration;

use crate::drain::{Marker, Stage, Trigger};

/// What the daemon knows about the node between drains (from the local agent only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// The agent is not answering or has no id yet (image build, agent down): nothing to protect.
    Unknown,
    Idle,
    /// Live tasks or pending operations.
    Busy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Locks {
    pub delay: bool,
    pub block: bool,
}

/// The delay lock holds a shutdown back while there is work to move away; the optional block
/// lock makes non-root reboot attempts fail while the node is not drained.
pub fn desired_locks(work: Work, delay_enabled: bool, block_enabled: bool) -> Locks {
    let busy = work == Work::Busy;
    Locks {
        delay: delay_enabled && busy,
        block: block_enabled && busy,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootAction {
    /// No marker, or the marker is from this boot (the daemon was merely restarted).
    Nothing,
    /// This tool drained the node for a reboot: bring it back once the agent has registered.
    Reactivate { agent_id: String },
    /// A marker from an earlier boot that is not ours to undo (manual drain, decommission, or a
    /// drain that never reached the master).
    LeaveAlone(String),
}

pub fn after_boot(marker: Option<&Marker>, current_boot_id: &str) -> BootAction {
    let Some(m) = marker else {
        return BootAction::Nothing;
    };
    if m.is_this_boot(current_boot_id) {
        return BootAction::Nothing;
    }
    if m.policy.decommission {
        return BootAction::LeaveAlone(format!(
            "agent {} was decommissioned; it does not come back",
            m.agent_id
        ));
    }
    match m.trigger {
        Trigger::Reboot | Trigger::Shutdown
            if m.stage.drain_requested() && m.stage != Stage::Failed =>
        {
            BootAction::Reactivate {
                agent_id: m.agent_id.clone(),
            }
        }
        Trigger::Reboot | Trigger::Shutdown => BootAction::LeaveAlone(format!(
            "the drain before the reboot stopped at {} before reaching the master; nothing to undo",
            m.stage
        )),
        Trigger::Manual => BootAction::LeaveAlone(format!(
            "agent {} was drained by hand; run `mesos-maint reactivate` to bring it back",
            m.agent_id
        )),
        Trigger::Autoscaling | Trigger::Spot => BootAction::LeaveAlone(format!(
            "agent {} was drained for a cloud termination",
            m.agent_id
        )),
    }
}

/// Whose drain a shutdown drain is: `(trigger, decommission)` for its marker.
///
/// Normally the daemon's own (`Shutdown`, identity kept: reactivated after the boot). But when
/// a drain that someone else started this boot (by hand, or for a cloud termination) already
/// reached the master, the shutdown drain only carries it on: it keeps that drain's trigger and
/// decommission, so the agent is not reactivated after the boot when that drain would not have
/// been. Without this, a manual drain that hit its deadline (its marker terminal, so not
/// resumed) became a `Shutdown` drain and was undone by the daemon after the reboot.
pub fn shutdown_drain_owner(earlier: Option<&Marker>, current_boot_id: &str) -> (Trigger, bool) {
    match earlier {
        Some(m)
            if m.is_this_boot(current_boot_id)
                && m.stage.drain_requested()
                && !matches!(m.trigger, Trigger::Shutdown | Trigger::Reboot) =>
        {
            (m.trigger, m.policy.decommission)
        }
        _ => (Trigger::Shutdown, false),
    }
}

/// The trigger of a drain of this boot that finished and stopped the agent units, if the marker
/// records one. With the agent not answering, a shutdown then has nothing left to wait for: this
/// is `mesos-maint reboot` (or `drain` followed by a reboot) while the daemon still held its lock
/// from its last look at the agent. Draining again would only fail to reach the agent.
pub fn finished_drain_this_boot(marker: Option<&Marker>, current_boot_id: &str) -> Option<Trigger> {
    marker
        .filter(|m| {
            m.is_this_boot(current_boot_id) && m.stage == Stage::Done && m.policy.stop_units
        })
        .map(|m| m.trigger)
}

/// Time kept back from logind's InhibitDelayMaxUSec so the lock is released before logind
/// stops waiting on its own: at least this much...
pub const SHUTDOWN_MARGIN_MIN: Duration = Duration::from_secs(2);
/// ...or this fraction of the delay, whichever is larger.
pub const SHUTDOWN_MARGIN_FRACTION: u32 = 10;

/// The drain deadline during a shutdown.
pub fn shutdown_deadline(inhibit_delay_max: Duration) -> Duration {
    let margin = SHUTDOWN_MARGIN_MIN.max(inhibit_delay_max / SHUTDOWN_MARGIN_FRACTION);
    inhibit_delay_max.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::DrainOptions;

    fn marker(trigger: Trigger, stage: Stage, decommission: bool, boot: &str) -> Marker {
        let mut m = Marker::new(
            "S1",
            trigger,
            DrainOptions {
                decommission,
                stop_units: true,
                stop_docker: true,
                force: false,
            },
            "http://m",
            None,
            None,
            None,
        );
        m.stage = stage;
        m.boot_id = boot.into();
        m
    }

    #[test]
    fn locks_follow_work() {
        assert_eq!(
            desired_locks(Work::Busy, true, false),
            Locks {
                delay: true,
                block: false
            }
        );
        assert_eq!(
            desired_locks(Work::Busy, true, true),
            Locks {
                delay: true,
                block: true
            }
        );
        assert_eq!(desired_locks(Work::Idle, true, true), Locks::default());
        assert_eq!(desired_locks(Work::Unknown, true, true), Locks::default());
        assert_eq!(desired_locks(Work::Busy, false, false), Locks::default());
    }

    #[test]
    fn reactivates_only_our_reboot_drains_after_a_new_boot() {
        let m = marker(Trigger::Reboot, Stage::Done, false, "old");
        assert_eq!(
            after_boot(Some(&m), "new"),
            BootAction::Reactivate {
                agent_id: "S1".into()
            }
        );
        assert_eq!(after_boot(Some(&m), "old"), BootAction::Nothing);
        let m = marker(Trigger::Shutdown, Stage::DeadlineExceeded, false, "old");
        assert_eq!(
            after_boot(Some(&m), "new"),
            BootAction::Reactivate {
                agent_id: "S1".into()
            }
        );
        assert!(matches!(
            after_boot(
                Some(&marker(Trigger::Manual, Stage::Done, false, "old")),
                "new"
            ),
            BootAction::LeaveAlone(_)
        ));
        assert!(matches!(
            after_boot(
                Some(&marker(Trigger::Reboot, Stage::Done, true, "old")),
                "new"
            ),
            BootAction::LeaveAlone(_)
        ));
        assert!(matches!(
            after_boot(
                Some(&marker(Trigger::Autoscaling, Stage::Done, true, "old")),
                "new"
            ),
            BootAction::LeaveAlone(_)
        ));
        assert!(matches!(
            after_boot(
                Some(&marker(Trigger::Shutdown, Stage::PreHooks, false, "old")),
                "new"
            ),
            BootAction::LeaveAlone(_)
        ));
        assert_eq!(after_boot(None, "new"), BootAction::Nothing);
    }

    #[test]
    fn a_shutdown_drain_carries_on_someone_elses_drain_under_its_trigger() {
        let own = (Trigger::Shutdown, false);
        assert_eq!(shutdown_drain_owner(None, "b"), own);
        // A manual drain of this boot that reached the master (stuck at its deadline, or done
        // with --no-stop): it stays manual, so it is not reactivated after the boot.
        for stage in [Stage::AwaitDrained, Stage::DeadlineExceeded, Stage::Done] {
            let m = marker(Trigger::Manual, stage, false, "b");
            assert_eq!(
                shutdown_drain_owner(Some(&m), "b"),
                (Trigger::Manual, false)
            );
            assert!(matches!(
                after_boot(Some(&m), "next"),
                BootAction::LeaveAlone(_)
            ));
        }
        let m = marker(Trigger::Autoscaling, Stage::AwaitDrained, true, "b");
        assert_eq!(
            shutdown_drain_owner(Some(&m), "b"),
            (Trigger::Autoscaling, true)
        );
        // A manual drain that never reached the master, one from an earlier boot, or our own
        // kind of drain: the shutdown drain is ours.
        let m = marker(Trigger::Manual, Stage::PreHooks, false, "b");
        assert_eq!(shutdown_drain_owner(Some(&m), "b"), own);
        let m = marker(Trigger::Manual, Stage::Done, false, "a");
        assert_eq!(shutdown_drain_owner(Some(&m), "b"), own);
        let m = marker(Trigger::Reboot, Stage::Done, false, "b");
        assert_eq!(shutdown_drain_owner(Some(&m), "b"), own);
    }

    #[test]
    fn a_finished_drain_with_stopped_units_of_this_boot_is_recognised() {
        let m = marker(Trigger::Reboot, Stage::Done, false, "b");
        assert_eq!(
            finished_drain_this_boot(Some(&m), "b"),
            Some(Trigger::Reboot)
        );
        assert_eq!(finished_drain_this_boot(Some(&m), "other"), None);
        assert_eq!(finished_drain_this_boot(None, "b"), None);
        let m = marker(Trigger::Manual, Stage::StopDocker, false, "b");
        assert_eq!(finished_drain_this_boot(Some(&m), "b"), None);
        let mut m = marker(Trigger::Manual, Stage::Done, false, "b");
        m.policy.stop_units = false;
        assert_eq!(finished_drain_this_boot(Some(&m), "b"), None, "--no-stop");
    }

    #[test]
    fn shutdown_deadline_keeps_a_margin() {
        assert_eq!(
            shutdown_deadline(Duration::from_secs(5)),
            Duration::from_secs(3)
        );
        assert_eq!(
            shutdown_deadline(Duration::from_secs(600)),
            Duration::from_secs(540)
        );
        assert_eq!(shutdown_deadline(Duration::from_secs(1)), Duration::ZERO);
    }
}
