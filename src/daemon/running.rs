//! The daemon's one running drain (a shutdown's or a cloud termination's): built, run and
//! tracked in one place, whatever started it.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use crate::context::Ctx;
use crate::drain::{self, DrainError, DrainRequest, Outcome};

use super::sink::DaemonSink;

type DrainFuture = Pin<Box<dyn Future<Output = Result<Outcome, DrainError>>>>;

/// A drain the daemon runs: at most one at a time (the event loop holds an
/// `Option<RunningDrain>`).
pub struct RunningDrain {
    future: DrainFuture,
    /// What the drain is for ("shutdown", "scale-in", "spot"): the log, STATUS and metrics say it.
    pub label: &'static str,
    pub started: Instant,
}

impl RunningDrain {
    /// Starts `request` with the daemon's sink (its label names the drain). The
    /// dependencies are built inside the drain, so a system bus that does not answer fails this
    /// drain (as undetermined) and not the daemon.
    pub fn start(ctx: &Ctx, request: DrainRequest, mut sink: DaemonSink) -> RunningDrain {
        let label = sink.label;
        let ctx = ctx.clone();
        RunningDrain {
            future: Box::pin(async move {
                let deps = ctx
                    .drain_deps(&request)
                    .await
                    .map_err(|e| DrainError::Undetermined(format!("{e:#}")))?;
                drain::run(request, deps, &mut sink).await
            }),
            label,
            started: Instant::now(),
        }
    }

    /// Completes when the drain ends; not to be awaited again after that.
    pub async fn finished(&mut self) -> Result<Outcome, DrainError> {
        self.future.as_mut().await
    }
}
