//! The daemon's side of node health, kept out of `daemon/` so the daemon only has to call it:
//! remember each check's last status, log a change once (not every interval), give the gauge
//! values of `mesos_maint_health_check{check}` and the `STATUS=` words, and decide whether an
//! automatic repair may run at all (never in the middle of a drain or a shutdown).

use std::collections::BTreeMap;

use super::repair::Repair;
use super::{Check, Probe, Status};

/// One check that changed status since the previous pass (or its first status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: &'static str,
    pub from: Option<Status>,
    pub to: Status,
    pub detail: String,
}

/// The last status of each check, across the daemon's passes.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    last: BTreeMap<&'static str, (Status, String)>,
}

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Record a pass; returns the checks whose status changed. On the first pass every check
    /// that does not pass counts as a change (a passing one does not: nothing to say).
    pub fn update(&mut self, checks: &[Check]) -> Vec<Change> {
        let mut changes = Vec::new();
        for c in checks {
            let before = self.last.get(c.name).map(|(s, _)| *s);
            let changed = match before {
                None => c.status != Status::Pass,
                Some(s) => s != c.status,
            };
            if changed {
                changes.push(Change {
                    name: c.name,
                    from: before,
                    to: c.status,
                    detail: c.detail.clone(),
                });
            }
            self.last.insert(c.name, (c.status, c.detail.clone()));
        }
        changes
    }

    /// `(check, value)` for `mesos_maint_health_check{check}`: 1 healthy (pass or skip), 0 not.
    pub fn gauges(&self) -> Vec<(&'static str, f64)> {
        self.last
            .iter()
            .map(|(name, (s, _))| (*name, if *s == Status::Fail { 0.0 } else { 1.0 }))
            .collect()
    }

    /// For `STATUS=`: `None` when nothing fails, else e.g. `health: agent-api failing (GET
    /// http://127.0.0.1:5051/health did not answer within 5s)`, naming the first failing check.
    pub fn status_words(&self) -> Option<String> {
        let failing: Vec<(&&str, &String)> = self
            .last
            .iter()
            .filter(|(_, (s, _))| *s == Status::Fail)
            .map(|(n, (_, d))| (n, d))
            .collect();
        let ((first, detail), rest) = failing.split_first()?;
        let more = if rest.is_empty() {
            String::new()
        } else {
            format!(" and {} more", rest.len())
        };
        Some(format!("health: {first} failing ({detail}){more}"))
    }
}

/// Log each change once: a failure as a warning, a recovery or a skip as information.
pub fn log_changes(changes: &[Change]) {
    for c in changes {
        match c.to {
            Status::Fail => tracing::warn!("health check {} fails: {}", c.name, c.detail),
            Status::Pass => tracing::info!("health check {} passes again: {}", c.name, c.detail),
            Status::Skip => tracing::info!("health check {} skipped: {}", c.name, c.detail),
        }
    }
}

/// Whether the daemon may repair now: `health.auto_repair` is on and no drain or shutdown is
/// under way (a node being taken out is not "repaired" in the middle of it).
pub fn may_auto_repair(
    auto_repair: bool,
    draining: bool,
    shutting_down: bool,
) -> Result<(), &'static str> {
    if !auto_repair {
        Err("health.auto_repair is off")
    } else if draining {
        Err("a drain is under way")
    } else if shutting_down {
        Err("the node is shutting down")
    } else {
        Ok(())
    }
}

/// One daemon pass: observe, log what changed, and repair when `repair_allowed` (the result of
/// [`may_auto_repair`]) says so, under the same rules and rate limit as `health --repair`.
pub async fn pass(
    probe: &Probe,
    watch: &mut Watch,
    repair_allowed: Result<(), &'static str>,
) -> Vec<Repair> {
    let seen = probe.observe().await;
    log_changes(&watch.update(&seen.checks));
    if seen.failing().is_empty() {
        return Vec::new();
    }
    if let Err(why) = repair_allowed {
        tracing::debug!("no automatic repair: {why}");
        return Vec::new();
    }
    match probe.repair(&seen).await {
        Ok(repairs) => repairs,
        Err(e) => {
            tracing::error!("automatic repair failed: {e:#}");
            Vec::new()
        }
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
        w.update(&checks(Status::Fail));
        assert_eq!(
            w.gauges(),
            vec![
                ("agent-api", 0.0),
                ("agent-unit", 1.0),
                ("registration", 1.0)
            ],
            "a skip is healthy"
        );
        assert_eq!(
            w.status_words().as_deref(),
            Some("health: agent-api failing (GET /health did not answer within 5s)")
        );
        w.update(&checks(Status::Pass));
        assert_eq!(w.status_words(), None);
    }

    #[test]
    fn never_repairs_during_a_drain_or_a_shutdown() {
        assert!(may_auto_repair(true, false, false).is_ok());
        assert!(may_auto_repair(false, false, false).is_err());
        assert_eq!(
            may_auto_repair(true, true, false),
            Err("a drain is under way")
        );
        assert_eq!(
            may_auto_repair(true, false, true),
            Err("the node is shutting down")
        );
    }
}
