//! Drain on OS shutdown: logind announced PrepareForShutdown(true) while we hold the delay lock.
//! Drain within the delay logind grants (minus a margin), stop the units, then let go of the lock
//! so the shutdown continues with the node out of the cluster. When the deadline comes first the
//! lock is released anyway: a shutdown must never hang on us.

use std::time::Duration;

use crate::context::Ctx;
use crate::drain::progress::Observer;
use crate::drain::{self, current_boot_id, DrainError, DrainRequest, Marker, Outcome, Policy};

use super::policy::{shutdown_deadline, shutdown_drain_owner};

/// The shutdown drain's request; `earlier` is the marker found in the state dir, whose drain
/// (if someone else's, this boot) the shutdown drain carries on (see `shutdown_drain_owner`).
pub fn shutdown_request(
    ctx: &Ctx,
    inhibit_delay_max: Duration,
    earlier: Option<&Marker>,
) -> DrainRequest {
    let s = &ctx.settings;
    let (trigger, decommission) = shutdown_drain_owner(earlier, &current_boot_id());
    DrainRequest {
        trigger,
        policy: Policy {
            decommission,
            stop_units: true,
            stop_docker: s.units.stop_docker,
            force: false,
        },
        max_grace_period: s.drain.max_grace_period,
        deadline: Some(shutdown_deadline(inhibit_delay_max)),
        reason: Some("OS shutdown".into()),
    }
}

/// Runs the shutdown drain; every outcome is logged, none is fatal to the daemon.
pub async fn drain_for_shutdown(
    ctx: &Ctx,
    inhibit_delay_max: Duration,
    observer: &mut dyn Observer,
) -> Result<Outcome, DrainError> {
    // An unreadable marker is the executor's to report; here it only means "ours".
    let earlier = ctx.markers().load().ok().flatten();
    let req = shutdown_request(ctx, inhibit_delay_max, earlier.as_ref());
    if req.trigger != drain::Trigger::Shutdown {
        tracing::info!(
            "carrying on the {:?} drain started earlier this boot under its own trigger: the \
             daemon will not reactivate the agent after the boot",
            req.trigger
        );
    }
    tracing::info!(
        "shutdown announced: draining within {} (InhibitDelayMaxUSec {})",
        humantime::format_duration(req.deadline.unwrap_or_default()),
        humantime::format_duration(inhibit_delay_max)
    );
    let deps = ctx
        .drain_deps(&req)
        .await
        .map_err(|e| DrainError::Undetermined(format!("{e:#}")))?;
    drain::run(req, deps, observer).await
}
