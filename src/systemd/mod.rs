//! systemd (`org.freedesktop.systemd1`) over D-Bus: unit lookup, stop/start/kill with job
//! tracking; and systemd-logind (`org.freedesktop.login1`, [`login`]): inhibitor locks,
//! `PrepareForShutdown`, `Reboot`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesos_maint::systemd::SystemdError> {
//! use mesos_maint::systemd::{default_agent_units, Systemd, JOB_TIMEOUT};
//! let systemd = Systemd::connect().await?;
//! if let Some(agent) = systemd.detect_agent_units(&default_agent_units()).await? {
//!     systemd.stop_agent(&agent, JOB_TIMEOUT).await?; // socket first, then the service
//! }
//! # Ok(()) }
//! ```

mod error;
pub mod login;
pub mod login_proxies;
mod manager;
pub mod notify;
pub mod proxies;
mod units;

pub use error::SystemdError;
pub use login::{
    InhibitMode, Inhibitor, InhibitorLock, LoginError, Logind, ShutdownSignals, INHIBIT_SHUTDOWN,
};
pub use manager::{
    system_bus_address, Systemd, CALL_TIMEOUT, DEFAULT_SYSTEM_BUS_ADDRESS, JOB_TIMEOUT,
};
pub use units::{
    default_agent_units, normalize_unit_name, socket_twin, AgentUnits, KillWhom, UnitState,
    DEFAULT_AGENT_UNITS,
};
