//! The daemon's view of a running drain: a STATUS line for `systemctl status`, the metrics, and
//! the log.

use std::sync::Arc;

use crate::drain::progress::{Observer, Snapshot};
use crate::drain::Stage;

use super::metrics::Metrics;
use super::notify::Notifier;
use crate::cloud::aws::lifecycle::Progress as CloudProgress;
use tokio::sync::mpsc::UnboundedSender;

pub struct DaemonObserver {
    /// Progress for the cloud watcher (tasks left, drain state); `None` when nobody listens.
    pub progress: Option<UnboundedSender<CloudProgress>>,
    pub notifier: Notifier,
    pub metrics: Arc<Metrics>,
    pub label: &'static str,
}

impl Observer for DaemonObserver {
    fn stage(&mut self, stage: Stage) {
        tracing::info!(stage = stage.name(), "{} drain: stage {stage}", self.label);
        self.metrics.set_drain_stage(Some(stage));
        if let Some(tx) = &self.progress {
            // A new stage is progress too (e.g. the units being stopped).
            let _ = tx.send(CloudProgress {
                tasks_left: None,
                drain_state: Some(format!("stage {stage}")),
            });
        }
        let _ = self
            .notifier
            .status(&format!("{} drain: {stage}", self.label));
    }

    fn progress(&mut self, snap: &Snapshot) {
        self.metrics.set_tasks_left(snap.live_tasks() as u64);
        if let Some(tx) = &self.progress {
            let _ = tx.send(CloudProgress {
                tasks_left: Some((snap.live_tasks() + snap.pending_operations) as u64),
                drain_state: Some(snap.master_state.clone()),
            });
        }
        let line = format!("{} drain: {}", self.label, snap.line());
        let _ = self.notifier.status(&line);
        tracing::info!("{line}");
    }

    fn action(&mut self, what: &str) {
        tracing::info!("{what}");
    }
}
