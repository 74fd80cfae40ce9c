//! The daemon's progress sink for a running drain: a STATUS line for `systemctl status`, the
//! metrics, and the log.

use std::sync::Arc;

use crate::drain::progress::{ProgressSink, Snapshot};
use crate::drain::Stage;
use crate::node::framework_reasons;

use super::metrics::Metrics;
use crate::cloud::aws::lifecycle::Progress as CloudProgress;
use crate::systemd::notify::Notifier;
use tokio::sync::mpsc::UnboundedSender;

/// One look at a running drain, for the cloud watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainProgress {
    /// Tasks left and drain state: what the heartbeat and stuck decisions go by.
    pub progress: CloudProgress,
    /// What keeps the drain from finishing (frameworks, operations), when this look tells
    /// (`None` for a stage change).
    pub holders: Option<Vec<String>>,
}

/// What the snapshot shows holding the drain, one entry per framework or operation count.
pub fn holders(snap: &Snapshot) -> Vec<String> {
    let mut out = framework_reasons(&snap.frameworks);
    if snap.pending_operations > 0 {
        out.push(format!(
            "{} operation(s) not finished",
            snap.pending_operations
        ));
    }
    out
}

pub struct DaemonSink {
    /// Progress for the cloud watcher (tasks left, drain state); `None` when nobody listens.
    pub progress: Option<UnboundedSender<DrainProgress>>,
    pub notifier: Notifier,
    pub metrics: Arc<Metrics>,
    pub label: &'static str,
}

impl ProgressSink for DaemonSink {
    fn stage(&mut self, stage: Stage) {
        tracing::info!(stage = stage.name(), "{} drain: stage {stage}", self.label);
        self.metrics.set_drain_stage(Some(stage));
        if let Some(tx) = &self.progress {
            // A new stage is progress too (e.g. the units being stopped).
            let _ = tx.send(DrainProgress {
                progress: CloudProgress {
                    tasks_left: None,
                    drain_state: Some(format!("stage {stage}")),
                    waiting_for_slot: false,
                },
                holders: None,
            });
        }
        let _ = self
            .notifier
            .status(&format!("{} drain: {stage}", self.label));
    }

    fn progress(&mut self, snap: &Snapshot) {
        self.metrics.set_tasks_left(snap.live_tasks() as u64);
        if let Some(tx) = &self.progress {
            let _ = tx.send(DrainProgress {
                progress: CloudProgress {
                    tasks_left: Some((snap.live_tasks() + snap.pending_operations) as u64),
                    drain_state: Some(snap.master_state.clone()),
                    waiting_for_slot: false,
                },
                holders: Some(holders(snap)),
            });
        }
        let line = format!("{} drain: {}", self.label, snap.line());
        let _ = self.notifier.status(&line);
        tracing::info!("{line}");
    }

    fn action(&mut self, what: &str) {
        tracing::info!("{what}");
    }

    fn waiting_for_slot(&mut self, wait: &crate::fleet::WaitProgress) {
        let line = format!("{} drain: {}", self.label, wait.line());
        tracing::info!("{line}");
        let _ = self.notifier.status(&line);
        if let Some(tx) = &self.progress {
            // Waiting for a slot is not being stuck (design.md): the watch keeps heartbeating
            // and does not count `stuck_after` while the last look says so, however long
            // between two reports.
            let _ = tx.send(DrainProgress {
                progress: CloudProgress {
                    tasks_left: None,
                    drain_state: Some(format!(
                        "waiting for a fleet slot ({}s)",
                        wait.waited.as_secs()
                    )),
                    waiting_for_slot: true,
                },
                holders: Some(vec![wait.line()]),
            });
        }
    }

    fn slot(&mut self, over_budget: bool, waited: std::time::Duration) {
        self.metrics.fleet_slot(over_budget, waited);
    }

    fn slot_released(&mut self) {
        self.metrics.fleet_slot_released();
    }

    fn waiting_for_budget(&mut self, holding: &[String]) {
        tracing::info!(target: crate::logging::PROGRESS, "waiting for the disruption budgets: {}", holding.join("; "));
        if let Some(tx) = &self.progress {
            // A scale-in keeps its lifecycle heartbeats while the budgets hold it.
            let _ = tx.send(DrainProgress {
                progress: CloudProgress {
                    tasks_left: None,
                    drain_state: Some("waiting for the disruption budgets".into()),
                    // Not stuck either; the Budget stage bounds its own wait (scale-in: it
                    // goes ahead at the end of its lifecycle budget).
                    waiting_for_slot: true,
                },
                holders: Some(holding.to_vec()),
            });
        }
    }

    fn budget(&mut self, trigger: &str, overridden: bool, waited: std::time::Duration) {
        self.metrics.budget(trigger, overridden, waited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::FrameworkWork;
    use std::time::Duration;

    #[test]
    fn holders_name_the_frameworks_and_operations() {
        let fw = |id: &str, name: &str, live_tasks, unacknowledged| FrameworkWork {
            id: id.into(),
            name: name.into(),
            live_tasks,
            unacknowledged,
        };
        let snap = Snapshot {
            elapsed: Duration::from_secs(5),
            remaining: None,
            master_state: "DRAINING".into(),
            frameworks: vec![fw("fw1", "marathon", 3, 1), fw("fw2", "", 1, 1)],
            pending_operations: 2,
        };
        assert_eq!(
            holders(&snap),
            [
                "2 task(s) of framework marathon (fw1) still running",
                "1 terminal update(s) of framework marathon (fw1) not acknowledged by its scheduler",
                "1 terminal update(s) of framework fw2 not acknowledged by its scheduler",
                "2 operation(s) not finished",
            ]
        );
        let empty = Snapshot {
            frameworks: Vec::new(),
            pending_operations: 0,
            ..snap
        };
        assert!(holders(&empty).is_empty());
    }
}
