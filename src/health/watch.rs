//! The daemon's side of node health, kept out of `daemon/` so the daemon only has to call it:
//! remember each check's last status, log a change once (not every interval), give the gauge
//! values of `mesos_maint_health_check{check}` and the `STATUS=` words, and decide whether an
//! automatic repair may run at all (never in the middle of a drain or a shutdown).

use std::collections::BTreeMap;

use super::{Check, Status};

/// One check that changed status since the previous pass (or its first status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: &'static str,
    pub from: Option<Status>,
    pub to: Status,
    /// The check could not run at all (see [`Check::undetermined`]).
    pub undetermined: bool,
    pub detail: String,
}

/// Healthy as the gauge and `STATUS=` see it, and as `health --json` prints `healthy`: a
/// `skip` (the master cannot be asked, Docker not installed) is healthy; a failure, or a check
/// that could not run at all (no system bus), is not.
pub fn healthy(c: &Check) -> bool {
    c.status != Status::Fail && !c.undetermined
}

/// The last result of each check across the daemon's passes, and the last reason an automatic
/// repair was held back (so each is logged once, not every interval).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    last: BTreeMap<&'static str, Check>,
    held_back: Option<String>,
}

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Record a pass; returns the checks whose status changed. On the first pass every check
    /// that does not pass counts as a change (a passing one does not: nothing to say). A new
    /// detail with the same status is not a change (free space moves every pass).
    pub fn update(&mut self, checks: &[Check]) -> Vec<Change> {
        let mut changes = Vec::new();
        for c in checks {
            let before = self.last.get(c.name);
            let changed = match before {
                None => c.status != Status::Pass,
                Some(b) => (b.status, b.undetermined) != (c.status, c.undetermined),
            };
            if changed {
                changes.push(Change {
                    name: c.name,
                    from: before.map(|b| b.status),
                    to: c.status,
                    undetermined: c.undetermined,
                    detail: c.detail.clone(),
                });
            }
            self.last.insert(c.name, c.clone());
        }
        changes
    }

    /// `(check, healthy)` for `mesos_maint_health_check{check}` (1 healthy, 0 not; see
    /// [`healthy`]), in name order. Empty before the first pass.
    pub fn gauges(&self) -> Vec<(&'static str, bool)> {
        self.last.values().map(|c| (c.name, healthy(c))).collect()
    }

    /// For `STATUS=`: `None` when every check is healthy, else e.g. `health: agent-api failing
    /// (GET http://127.0.0.1:5051/health did not answer within 5s)`, naming the first unhealthy
    /// check in report order and counting the others.
    pub fn status_words(&self) -> Option<String> {
        let unhealthy: Vec<&Check> = super::CHECKS
            .iter()
            .filter_map(|name| self.last.get(name))
            .filter(|c| !healthy(c))
            .collect();
        let (first, rest) = unhealthy.split_first()?;
        let how = if first.status == Status::Fail {
            "failing"
        } else {
            "cannot be checked"
        };
        let more = if rest.is_empty() {
            String::new()
        } else {
            format!(" and {} more", rest.len())
        };
        Some(format!(
            "health: {} {how} ({}){more}",
            first.name, first.detail
        ))
    }

    /// An automatic repair was held back for `reason` (`None`: not held back). Returns whether
    /// to log it: only when the reason differs from the last pass's.
    pub fn hold_back(&mut self, reason: Option<String>) -> bool {
        let new = reason.is_some() && reason != self.held_back;
        self.held_back = reason;
        new
    }
}

/// Log each change once: a failure as a warning, a recovery or a skip as information.
pub fn log_changes(changes: &[Change]) {
    for c in changes {
        match c.to {
            Status::Fail => tracing::warn!("health check {} fails: {}", c.name, c.detail),
            Status::Pass => tracing::info!("health check {} passes again: {}", c.name, c.detail),
            Status::Skip if c.undetermined => {
                tracing::warn!("health check {} cannot run: {}", c.name, c.detail)
            }
            Status::Skip => tracing::info!("health check {} skipped: {}", c.name, c.detail),
        }
    }
}

/// Whether the daemon may repair now: `health.auto_repair` is on and no drain (`drain`: why
/// one is under way, from [`super::guard`] or the daemon's own) or shutdown is under way. A
/// node being taken out is not "repaired" in the middle of it.
pub fn may_auto_repair(
    auto_repair: bool,
    drain: Option<&str>,
    shutting_down: bool,
) -> Result<(), String> {
    if !auto_repair {
        Err("health.auto_repair is off".into())
    } else if let Some(why) = drain {
        Err(why.to_string())
    } else if shutting_down {
        Err("the node is shutting down".into())
    } else {
        Ok(())
    }
}

/// The daemon's `STATUS=` line: its own `base` (work, locks), then the health words when a
/// check is unhealthy; `base` alone again once every check is healthy.
pub fn status_line(base: &str, health: Option<&str>) -> String {
    match health {
        Some(words) => format!("{base}; {words}"),
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(api: Status) -> Vec<Check> {
        vec![
            Check::pass("agent-unit", "active"),
            Check {
                status: api,
                ..Check::pass("agent-api", "GET /health did not answer within 5s")
            },
            Check::skip("registration", "the master cannot be asked"),
        ]
    }

    #[test]
    fn each_change_is_reported_once() {
        let mut w = Watch::new();
        let first = w.update(&checks(Status::Pass));
        assert_eq!(
            first.len(),
            1,
            "only the non-passing check on the first pass: {first:?}"
        );
        assert_eq!(first[0].name, "registration");
        assert!(
            w.update(&checks(Status::Pass)).is_empty(),
            "nothing changed"
        );
        let c = w.update(&checks(Status::Fail));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].name, c[0].from, c[0].to),
            ("agent-api", Some(Status::Pass), Status::Fail)
        );
        assert!(
            w.update(&checks(Status::Fail)).is_empty(),
            "still failing: not logged again"
        );
        let c = w.update(&checks(Status::Pass));
        assert_eq!((c[0].name, c[0].to), ("agent-api", Status::Pass));
    }

    #[test]
    fn gauges_and_status_words() {
        let mut w = Watch::new();
        assert!(w.gauges().is_empty(), "no series before the first pass");
        w.update(&checks(Status::Fail));
        assert_eq!(
            w.gauges(),
            vec![
                ("agent-api", false),
                ("agent-unit", true),
                ("registration", true)
            ],
            "a skip is healthy"
        );
        assert_eq!(
            w.status_words().as_deref(),
            Some("health: agent-api failing (GET /health did not answer within 5s)")
        );
        w.update(&checks(Status::Pass));
        assert_eq!(w.status_words(), None);
        // A check that cannot run at all (no system bus) is not healthy, and named as such.
        let mut c = checks(Status::Pass);
        c[0] = Check::cannot_run("agent-unit", "the system bus cannot be reached");
        let changes = w.update(&c);
        assert_eq!(
            changes.len(),
            1,
            "pass -> cannot run is a change: {changes:?}"
        );
        assert!(changes[0].undetermined);
        assert_eq!(w.gauges()[1], ("agent-unit", false));
        assert_eq!(
            w.status_words().as_deref(),
            Some("health: agent-unit cannot be checked (the system bus cannot be reached)")
        );
        c[2] = Check::fail("registration", "the master lists agent S1 as disconnected");
        w.update(&c);
        assert_eq!(
            w.status_words().as_deref(),
            Some("health: agent-unit cannot be checked (the system bus cannot be reached) and 1 more"),
            "the first in report order, the others counted"
        );
    }

    #[test]
    fn a_new_detail_with_the_same_status_is_no_change() {
        let mut w = Watch::new();
        w.update(&[Check::pass("disk", "61.2% free")]);
        assert!(w.update(&[Check::pass("disk", "61.1% free")]).is_empty());
        w.update(&[Check::fail("disk", "only 4.9% free")]);
        assert!(w
            .update(&[Check::fail("disk", "only 4.8% free")])
            .is_empty());
    }

    #[test]
    fn the_status_line_carries_the_failing_check_and_drops_it_when_healthy() {
        assert_eq!(
            status_line(
                "node idle; no lock held",
                Some("health: docker failing (x)")
            ),
            "node idle; no lock held; health: docker failing (x)"
        );
        assert_eq!(
            status_line("node idle; no lock held", None),
            "node idle; no lock held"
        );
    }

    #[test]
    fn never_repairs_during_a_drain_or_a_shutdown() {
        assert!(may_auto_repair(true, None, false).is_ok());
        assert_eq!(
            may_auto_repair(false, None, false),
            Err("health.auto_repair is off".into())
        );
        assert_eq!(
            may_auto_repair(true, Some("a drain is running on this node"), false),
            Err("a drain is running on this node".into())
        );
        assert_eq!(
            may_auto_repair(true, None, true),
            Err("the node is shutting down".into())
        );
        assert!(
            may_auto_repair(false, Some("drain"), true).is_err(),
            "off wins"
        );
    }

    #[test]
    fn a_held_back_repair_is_logged_once_per_reason() {
        let mut w = Watch::new();
        assert!(!w.hold_back(None));
        assert!(w.hold_back(Some("a drain".into())));
        assert!(!w.hold_back(Some("a drain".into())), "same reason: quiet");
        assert!(w.hold_back(Some("shutting down".into())));
        assert!(!w.hold_back(None));
        assert!(
            w.hold_back(Some("a drain".into())),
            "again after a pass without"
        );
    }
}
