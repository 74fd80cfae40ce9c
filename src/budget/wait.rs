//! The Budget stage's waiting: rounds until the budgets allow the drain, bounded by
//! `budget.wait` (or the trigger's own limit), and the per-trigger rules: `drain`/`reboot`
//! refuse at the end (exit 5, or 3 when a source could not be asked), a scale-in goes ahead at
//! the end of its lifecycle budget, a spot notice or an OS shutdown never waits.

use std::time::Duration;

use tokio::time::Instant;

use super::round::{evaluate_round, IntentStore, Planned, Round, Sources};
use super::settings::Unknown;

/// First pause between two rounds; doubled up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_secs(1);
pub const MAX_PAUSE: Duration = Duration::from_secs(15);

/// How a trigger meets a budget that does not allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetRule {
    /// `drain`, `reboot`: wait up to this long, then refuse with nothing sent.
    WaitThenRefuse(Duration),
    /// A scale-in: wait up to this long (its lifecycle budget), then go ahead (the instance
    /// is going), recorded and counted.
    WaitThenProceed(Duration),
    /// A spot notice or an OS shutdown under way: evaluate once, log and count what it overrides.
    NeverWait,
    /// `--ignore-budgets`: the stage is skipped (logged, counted, in the marker).
    Ignore,
}

/// How the stage was passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    pub waited: Duration,
    /// The workload znodes this node holds an intent on.
    pub intents: Vec<String>,
    /// `Some(why)`: the budgets did not allow it and the drain went on anyway.
    pub overridden: Option<String>,
    /// The verdicts of the last round, one line each.
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// It can never allow it (exit 5, at once).
    #[error(
        "disruption budget: {0}; refusing at once (the budget can never allow this node to go)"
    )]
    Impossible(String),
    /// Not allowed within the wait (exit 5).
    #[error("disruption budget: not allowed within {}: {}", humantime::format_duration(*.waited), .holding.join("; "))]
    Timeout {
        waited: Duration,
        holding: Vec<String>,
    },
    /// A source could not be asked until the end of the wait (exit 3).
    #[error("disruption budget: cannot tell within {}: {}", humantime::format_duration(*.waited), .holding.join("; "))]
    Unknown {
        waited: Duration,
        holding: Vec<String>,
    },
    /// A malformed budget (exit 2).
    #[error("disruption budget: {0}")]
    Config(String),
}

/// Runs rounds under `rule`. `progress` gets the holding lines whenever they change.
pub async fn pass(
    sources: &Sources,
    agent_id: &str,
    planned: &[Planned],
    store: Option<&IntentStore<'_>>,
    rule: BudgetRule,
    mut progress: impl FnMut(&[String]),
) -> Result<Passage, BudgetError> {
    let start = Instant::now();
    let unknown = sources.settings.unknown;
    let (wait, proceed_at_end) = match rule {
        BudgetRule::Ignore => {
            return Ok(Passage {
                waited: Duration::ZERO,
                intents: Vec::new(),
                overridden: Some("--ignore-budgets".into()),
                lines: Vec::new(),
            })
        }
        BudgetRule::WaitThenRefuse(w) => (w, false),
        BudgetRule::WaitThenProceed(w) => (w, true),
        BudgetRule::NeverWait => (Duration::ZERO, true),
    };
    let deadline = start + wait;
    let mut pause = FIRST_PAUSE;
    let mut last: Option<Vec<String>> = None;
    loop {
        let round = evaluate_round(sources, agent_id, planned, store).await;
        let past_deadline = Instant::now() >= deadline;
        match next(&round, unknown, proceed_at_end, past_deadline, wait) {
            Next::Pass { overridden } => {
                return Ok(Passage {
                    waited: start.elapsed(),
                    lines: round.verdicts.iter().map(|v| v.line()).collect(),
                    intents: round.intents,
                    overridden,
                })
            }
            Next::Refuse(e) => return Err(e),
            Next::Wait(holding) => {
                if last.as_ref() != Some(&holding) {
                    progress(&holding);
                    last = Some(holding);
                }
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(remaining)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// What a round means for the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Go on; `overridden` says why when the budgets did not allow it.
    Pass {
        overridden: Option<String>,
    },
    Refuse(BudgetError),
    /// Wait and ask again; what holds the drain.
    Wait(Vec<String>),
}

/// The per-trigger rules over one round, pure. `proceed_at_end`: a trigger whose node goes
/// anyway (scale-in at the end of its lifecycle budget, spot, shutdown).
pub fn next(
    round: &Round,
    unknown: Unknown,
    proceed_at_end: bool,
    past_deadline: bool,
    wait: Duration,
) -> Next {
    if round.allows(unknown) {
        let overridden = (!round.unknown.is_empty()).then(|| {
            format!(
                "budget.unknown = \"proceed\": going ahead although {}",
                round.unknown.join("; ")
            )
        });
        return Next::Pass { overridden };
    }
    let holding = round.holding();
    let over = || Next::Pass {
        overridden: Some(format!(
            "the budgets do not allow it: {}",
            holding.join("; ")
        )),
    };
    if let Some(v) = round.impossible() {
        // drain/reboot: waiting cannot make it possible, refuse at once. A scale-in still waits
        // out its lifecycle budget (the app may be scaled up meanwhile), then goes.
        if !proceed_at_end {
            return Next::Refuse(BudgetError::Impossible(v.line()));
        }
    }
    if !past_deadline {
        return Next::Wait(holding);
    }
    if proceed_at_end {
        return over();
    }
    Next::Refuse(if round.unknown.is_empty() {
        BudgetError::Timeout {
            waited: wait,
            holding,
        }
    } else {
        BudgetError::Unknown {
            waited: wait,
            holding,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::round::Round;
    use crate::budget::rule::Verdict;

    fn verdict(allows: bool, impossible: bool) -> Verdict {
        Verdict {
            workload: "/a".into(),
            required: 2,
            healthy_elsewhere: u32::from(allows) * 2,
            in_flight: 0,
            local: 1,
            allows,
            impossible,
            expected: 3,
            budget: "max_unavailable=1".into(),
        }
    }

    #[test]
    fn a_round_allows_only_without_holders() {
        let mut r = Round {
            verdicts: vec![verdict(true, false)],
            ..Round::default()
        };
        assert!(r.allows(Unknown::Wait));
        r.unknown.push("Marathon down".into());
        assert!(!r.allows(Unknown::Wait));
        assert!(r.allows(Unknown::Proceed));
        r.held.push("kafka: plan".into());
        assert!(!r.allows(Unknown::Proceed));
        let r = Round {
            verdicts: vec![verdict(false, true)],
            ..Round::default()
        };
        assert!(r.impossible().is_some());
        assert_eq!(r.holding().len(), 1);
    }

    const W: Duration = Duration::from_secs(60);

    fn round(allows: bool, impossible: bool, unknown: bool) -> Round {
        Round {
            verdicts: vec![verdict(allows, impossible)],
            unknown: if unknown {
                vec!["Marathon: HTTP 500".into()]
            } else {
                vec![]
            },
            ..Round::default()
        }
    }

    #[test]
    fn drain_and_reboot_wait_then_refuse() {
        let r = round(false, false, false);
        assert!(matches!(
            next(&r, Unknown::Wait, false, false, W),
            Next::Wait(_)
        ));
        assert!(matches!(
            next(&r, Unknown::Wait, false, true, W),
            Next::Refuse(BudgetError::Timeout { .. })
        ));
        let r = round(true, false, true);
        assert!(matches!(
            next(&r, Unknown::Wait, false, true, W),
            Next::Refuse(BudgetError::Unknown { .. })
        ));
        match next(&r, Unknown::Proceed, false, false, W) {
            Next::Pass {
                overridden: Some(why),
            } => assert!(why.contains("proceed")),
            other => panic!("{other:?}"),
        }
        let r = round(false, true, false);
        assert!(matches!(
            next(&r, Unknown::Wait, false, false, W),
            Next::Refuse(BudgetError::Impossible(_))
        ));
        assert_eq!(
            next(&round(true, false, false), Unknown::Wait, false, false, W),
            Next::Pass { overridden: None }
        );
    }

    #[test]
    fn triggers_that_go_anyway_override_at_the_end_or_at_once() {
        let r = round(false, false, false);
        // Scale-in: waits within its budget, then goes ahead.
        assert!(matches!(
            next(&r, Unknown::Wait, true, false, W),
            Next::Wait(_)
        ));
        assert!(matches!(
            next(&r, Unknown::Wait, true, true, W),
            Next::Pass {
                overridden: Some(_)
            }
        ));
        // Even an impossible budget: a scale-in waits, then goes.
        let r = round(false, true, false);
        assert!(matches!(
            next(&r, Unknown::Wait, true, false, W),
            Next::Wait(_)
        ));
        // Spot and shutdown: their wait is zero, the deadline is now.
        assert!(matches!(
            next(&r, Unknown::Wait, true, true, Duration::ZERO),
            Next::Pass {
                overridden: Some(_)
            }
        ));
    }
}
