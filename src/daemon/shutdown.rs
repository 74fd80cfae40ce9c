//! Drain on OS shutdown: logind announced PrepareForShutdown(true) while we hold the delay lock.
//! Drain within the delay logind grants (minus a margin), stop the units, then let go of the lock
//! so the shutdown continues with the node out of the cluster. When the deadline comes first the
//! lock is released anyway: a shutdown must never hang on us. The drain itself runs as the
//! daemon's [`RunningDrain`](super::running::RunningDrain).

use std::time::Duration;

use crate::config::Settings;
use crate::drain::{DrainRequest, Marker, Trigger};

use super::policy::{shutdown_deadline, shutdown_drain_owner};

/// The shutdown drain's request; `earlier` is the marker found in the state dir, whose drain
/// (if someone else's, this boot) the shutdown drain carries on (see `shutdown_drain_owner`).
pub fn shutdown_request(
    settings: &Settings,
    inhibit_delay_max: Duration,
    earlier: Option<&Marker>,
    boot_id: &str,
) -> DrainRequest {
    let req = DrainRequest::shutdown(
        settings,
        shutdown_drain_owner(earlier, boot_id),
        shutdown_deadline(inhibit_delay_max),
    );
    if req.trigger != Trigger::Shutdown {
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
    req
}
