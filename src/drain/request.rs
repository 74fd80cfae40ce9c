//! What to drain and how, one constructor per trigger: the command line's `drain` and
//! `reboot`, the daemon's OS shutdown, an Auto Scaling scale-in and a spot interruption. Each
//! trigger's choices (decommission or not, units stopped, escalation, grace, deadline, reason)
//! are written here once.

use std::time::Duration;

use super::decide::SlotRule;
use super::machine::DrainOptions;
use super::marker::Trigger;
use crate::budget::BudgetRule;
use crate::cli::DrainArgs;
use crate::config::Settings;

/// What to drain and how; fixed for the whole run.
#[derive(Debug, Clone)]
pub struct DrainRequest {
    pub trigger: Trigger,
    pub policy: DrainOptions,
    /// `None`: the field is left out of DRAIN_AGENT (each task's own grace period applies).
    pub max_grace_period: Option<Duration>,
    /// `None`: wait as long as it takes.
    pub deadline: Option<Duration>,
    pub reason: Option<String>,
    /// How the fleet slot is taken: waited for, or never refused (the node goes down anyway).
    pub slot: SlotRule,
    /// How the disruption budgets are met: waited for, overridden at the end, never waited
    /// for, or ignored (`--ignore-budgets`).
    pub budget: BudgetRule,
}

impl DrainRequest {
    /// `mesos-maint drain`: the flags, over the settings.
    pub fn manual(s: &Settings, args: &DrainArgs) -> DrainRequest {
        DrainRequest::from_flags(s, args, Trigger::Manual)
    }

    /// `mesos-maint reboot`: the same flags (the command refuses `--decommission` and
    /// `--no-stop`); the trigger tells the daemon to reactivate the agent after the boot.
    pub fn reboot(s: &Settings, args: &DrainArgs) -> DrainRequest {
        DrainRequest::from_flags(s, args, Trigger::Reboot)
    }

    fn from_flags(s: &Settings, args: &DrainArgs, trigger: Trigger) -> DrainRequest {
        DrainRequest {
            trigger,
            policy: DrainOptions {
                decommission: args.decommission,
                stop_units: !args.no_stop,
                stop_docker: s.units.stop_docker,
                force: args.force,
            },
            max_grace_period: args.max_grace_period.or(s.drain.max_grace_period),
            deadline: if args.no_deadline {
                None
            } else {
                args.deadline.or(s.drain.deadline)
            },
            reason: args.reason.clone(),
            slot: SlotRule::Wait(args.fleet_wait.unwrap_or(s.fleet.wait)),
            budget: if args.ignore_budgets {
                BudgetRule::Ignore
            } else {
                BudgetRule::WaitThenRefuse(args.budget_wait.unwrap_or(s.budget.wait))
            },
        }
    }

    /// The daemon's drain on PrepareForShutdown: within `deadline` (logind's delay less a
    /// margin), units stopped, never forced (the shutdown goes on either way). `owner`:
    /// `(trigger, decommission)` of the drain it carries on (`daemon::policy::shutdown_drain_owner`).
    pub fn shutdown(s: &Settings, owner: (Trigger, bool), deadline: Duration) -> DrainRequest {
        let (trigger, decommission) = owner;
        DrainRequest {
            trigger,
            policy: DrainOptions {
                decommission,
                stop_units: true,
                stop_docker: s.units.stop_docker,
                force: false,
            },
            max_grace_period: s.drain.max_grace_period,
            deadline: Some(deadline),
            reason: Some("OS shutdown".into()),
            slot: SlotRule::NeverRefused,
            budget: BudgetRule::NeverWait,
        }
    }

    /// An Auto Scaling scale-in: the agent leaves for good, under the configured deadline.
    pub fn scale_in(s: &Settings) -> DrainRequest {
        DrainRequest {
            trigger: Trigger::Autoscaling,
            policy: DrainOptions {
                decommission: true,
                stop_units: true,
                stop_docker: s.units.stop_docker,
                force: false,
            },
            max_grace_period: s.drain.max_grace_period,
            deadline: s.drain.deadline,
            reason: Some("Auto Scaling scale-in".into()),
            // The lifecycle hook's heartbeats go on while the drain waits (daemon::cloud).
            slot: SlotRule::Wait(s.fleet.wait),
            // Waits within the lifecycle budget (heartbeats go on), then the instance goes.
            budget: BudgetRule::WaitThenProceed(s.budget.wait.min(s.aws.stuck_after)),
        }
    }

    /// A spot interruption: the agent leaves for good, its tasks' grace capped at `grace_cap`,
    /// and at `deadline` the agent is told to unregister and kill its tasks (the instance is
    /// gone two minutes after the notice either way). `notice`: the notice, for the reason.
    pub fn spot(
        s: &Settings,
        grace_cap: Duration,
        deadline: Duration,
        notice: &str,
    ) -> DrainRequest {
        DrainRequest {
            trigger: Trigger::Spot,
            policy: DrainOptions {
                decommission: true,
                stop_units: true,
                stop_docker: s.units.stop_docker,
                force: true,
            },
            max_grace_period: Some(grace_cap),
            deadline: Some(deadline),
            reason: Some(format!("spot interruption: {notice}")),
            slot: SlotRule::NeverRefused,
            budget: BudgetRule::NeverWait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_rule_of_each_trigger() {
        let mut s = Settings::default();
        s.budget.wait = Duration::from_secs(600);
        s.aws.stuck_after = Duration::from_secs(300);
        // The node goes down anyway: never waits.
        let shutdown =
            DrainRequest::shutdown(&s, (Trigger::Shutdown, false), Duration::from_secs(60));
        assert_eq!(shutdown.budget, BudgetRule::NeverWait);
        let spot = DrainRequest::spot(&s, Duration::from_secs(60), Duration::from_secs(90), "n");
        assert_eq!(spot.budget, BudgetRule::NeverWait);
        // A scale-in waits within its lifecycle budget, then goes.
        assert_eq!(
            DrainRequest::scale_in(&s).budget,
            BudgetRule::WaitThenProceed(Duration::from_secs(300))
        );
    }
}
