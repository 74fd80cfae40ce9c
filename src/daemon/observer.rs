//! The daemon's view of a running drain: a STATUS line for `systemctl status`, the metrics, and
//! the log.

use std::sync::Arc;

use crate::drain::progress::{Observer, Snapshot};
use crate::drain::Stage;

use super::metrics::Metrics;
use super::notify::Notifier;

pub struct DaemonObserver {
    pub notifier: Notifier,
    pub metrics: Arc<Metrics>,
    pub label: &'static str,
}

impl Observer for DaemonObserver {
    fn stage(&mut self, stage: Stage) {
        tracing::info!(stage = stage.name(), "{} drain: stage {stage}", self.label);
        self.metrics.set_drain_stage(Some(stage));
        let _ = self
            .notifier
            .status(&format!("{} drain: {stage}", self.label));
    }

    fn progress(&mut self, snap: &Snapshot) {
        self.metrics.set_tasks_left(snap.live_tasks() as u64);
        let line = format!("{} drain: {}", self.label, snap.line());
        let _ = self.notifier.status(&line);
        tracing::info!("{line}");
    }

    fn action(&mut self, what: &str) {
        tracing::info!("{what}");
    }
}
