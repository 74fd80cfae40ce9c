//! systemd-logind (`org.freedesktop.login1`) over D-Bus: inhibitor locks, the
//! `PrepareForShutdown` signal, `Reboot`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesos_maint::systemd::LoginError> {
//! use futures_util::StreamExt as _;
//! use mesos_maint::systemd::{InhibitMode, Logind, INHIBIT_SHUTDOWN};
//! let logind = Logind::connect().await?;
//! // Listen first: a shutdown may start the moment the lock exists.
//! let mut shutdown = logind.prepare_for_shutdown_stream().await?;
//! let lock = logind
//!     .inhibit(INHIBIT_SHUTDOWN, "mesos-maint", "drain the Mesos agent first", InhibitMode::Delay)
//!     .await?;
//! while let Some(start) = shutdown.next().await {
//!     if start {
//!         // drain within logind.inhibit_delay_max() minus a margin, then:
//!         lock.release();
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Facts about logind 252 this module relies on (checked by `tests/system_logind.rs` against a
//! real logind):
//!
//! - A lock lasts exactly as long as the file descriptor `Inhibit` returns stays open; logind
//!   drops it from `ListInhibitors` as soon as the descriptor is closed.
//! - On `Reboot`, logind emits `PrepareForShutdown(true)`, then waits until no delay lock on
//!   `shutdown` is left or `InhibitDelayMaxUSec` passed, whichever comes first, and then starts
//!   `reboot.target`. A delay lock held by the caller of `Reboot` delays it too.
//! - `PrepareForShutdown(false)` comes when the `reboot.target` start job has finished (or the
//!   operation failed). On a real machine that is only seen when the shutdown did not happen; a
//!   shutdown that goes through ends logind before.
//! - A block lock does not stop root: for uid 0 `CanReboot` answers `yes` and `Reboot` goes
//!   ahead (before systemd 257). The delay lock is what holds a reboot back.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedFd;

use super::error::dbus_error_name;
use super::login_proxies::{LoginManagerProxy, PrepareForShutdownStream};
use super::manager::{system_bus_address, CALL_TIMEOUT};

/// The inhibitor "what" for shutdown, reboot and power-off.
pub const INHIBIT_SHUTDOWN: &str = "shutdown";

/// The `who` of this tool's inhibitor locks: the daemon takes them under it, and `status`/`check`
/// recognise them by it in ListInhibitors.
pub const WHO: &str = "mesos-maint";
/// The `why` of the daemon's delay lock (shown by `systemd-inhibit --list`).
pub const DELAY_WHY: &str =
    "Draining the Mesos agent (moving its tasks to other nodes) before shutdown";
/// The `why` of the daemon's optional block lock.
pub const BLOCK_WHY: &str = "The Mesos agent runs tasks; drain it first (mesos-maint drain)";

/// D-Bus error names this module recognises.
mod names {
    pub const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
    pub const INTERACTIVE_AUTH: &str =
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";
    pub const SERVICE_UNKNOWN: &str = "org.freedesktop.DBus.Error.ServiceUnknown";
    pub const NAME_HAS_NO_OWNER: &str = "org.freedesktop.DBus.Error.NameHasNoOwner";
    pub const OPERATION_IN_PROGRESS: &str = "org.freedesktop.login1.OperationInProgress";
}

/// Why a logind operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The system bus cannot be reached, or systemd-logind is not on it.
    #[error(
        "cannot reach systemd-logind on the system bus: {detail} \
         (is systemd-logind running? DBUS_SYSTEM_BUS_ADDRESS overrides the address)"
    )]
    BusUnavailable { detail: String },

    /// logind (or polkit) refused the request.
    #[error("systemd-logind refused the request: {detail} (not root?)")]
    AccessDenied { detail: String },

    /// A shutdown or sleep is already under way (or scheduled), so logind refused another.
    #[error("systemd-logind refused the request: {detail} (a shutdown is already in progress)")]
    OperationInProgress { detail: String },

    /// Any other D-Bus failure, with context.
    #[error("D-Bus (logind): {0}")]
    DBus(String),
}

/// The two kinds of inhibitor lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InhibitMode {
    /// Hold the operation back until the lock is released or `InhibitDelayMaxUSec` passed.
    Delay,
    /// Refuse the operation while the lock is held (advisory for root, see the module docs).
    Block,
}

impl InhibitMode {
    /// The wire name: `delay` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            InhibitMode::Delay => "delay",
            InhibitMode::Block => "block",
        }
    }

    /// Parse a wire name. Other modes (`block-weak`, systemd 257) are `None`.
    pub fn parse(s: &str) -> Option<InhibitMode> {
        match s {
            "delay" => Some(InhibitMode::Delay),
            "block" => Some(InhibitMode::Block),
            _ => None,
        }
    }
}

impl fmt::Display for InhibitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inhibitor lock as `ListInhibitors` reports it (anyone's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inhibitor {
    /// Colon-separated list: `shutdown`, `sleep`, `idle`, `handle-power-key`, ...
    pub what: String,
    pub who: String,
    pub why: String,
    /// `delay` or `block` (newer logind also knows `block-weak`); see [`Inhibitor::has_mode`].
    pub mode: String,
    pub uid: u32,
    pub pid: u32,
}

impl Inhibitor {
    /// Whether this lock covers `what` (one of the colon-separated entries).
    pub fn covers(&self, what: &str) -> bool {
        self.what.split(':').any(|w| w == what)
    }

    /// Whether this lock is of `mode`.
    pub fn has_mode(&self, mode: InhibitMode) -> bool {
        InhibitMode::parse(&self.mode) == Some(mode)
    }
}

/// An inhibitor lock this process holds. The lock is released exactly when this value is
/// dropped (or [`InhibitorLock::release`]d): logind watches the file descriptor it owns.
///
/// The descriptor is close-on-exec, so child processes (hooks) do not keep the lock alive.
pub struct InhibitorLock {
    fd: OwnedFd,
    what: String,
    who: String,
    why: String,
    mode: InhibitMode,
}

impl InhibitorLock {
    pub fn what(&self) -> &str {
        &self.what
    }
    pub fn who(&self) -> &str {
        &self.who
    }
    pub fn why(&self) -> &str {
        &self.why
    }
    pub fn mode(&self) -> InhibitMode {
        self.mode
    }

    /// Release the lock now (the same as dropping it; reads better at the call site).
    pub fn release(self) {
        drop(self);
    }
}

impl AsFd for InhibitorLock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for InhibitorLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InhibitorLock")
            .field("what", &self.what)
            .field("mode", &self.mode)
            .field("who", &self.who)
            .field("why", &self.why)
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&self.fd))
            .finish()
    }
}

impl Drop for InhibitorLock {
    fn drop(&mut self) {
        // The descriptor closes right after this, when `fd` is dropped.
        tracing::debug!(
            "releasing the {} inhibitor lock on {}",
            self.mode,
            self.what
        );
    }
}

/// `PrepareForShutdown(start)` signals as a stream of `start`. Ends when the bus connection
/// closes. Malformed signals are skipped.
pub struct ShutdownSignals {
    inner: PrepareForShutdownStream,
}

impl fmt::Debug for ShutdownSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignals").finish_non_exhaustive()
    }
}

impl Stream for ShutdownSignals {
    type Item = bool;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<bool>> {
        loop {
            match self.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(signal)) => match signal.args() {
                    Ok(args) => {
                        tracing::debug!("logind: PrepareForShutdown({})", args.start);
                        return Poll::Ready(Some(args.start));
                    }
                    Err(e) => tracing::debug!("ignoring a malformed PrepareForShutdown: {e}"),
                },
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A client of systemd-logind's manager. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Logind {
    conn: zbus::Connection,
    manager: LoginManagerProxy<'static>,
}

impl fmt::Debug for Logind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logind")
            .field("unique_name", &self.conn.unique_name())
            .finish_non_exhaustive()
    }
}

impl Logind {
    /// Connect to logind on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured) and check
    /// that it answers.
    pub async fn connect() -> Result<Logind, LoginError> {
        Self::connect_to(&system_bus_address()).await
    }

    /// Connect to logind on the bus at `address` and check that it answers.
    pub async fn connect_to(address: &str) -> Result<Logind, LoginError> {
        let unavailable = |e: zbus::Error| LoginError::BusUnavailable {
            detail: format!("{address}: {e}"),
        };
        let conn = zbus::connection::Builder::address(address)
            .map_err(unavailable)?
            .method_timeout(CALL_TIMEOUT)
            .build()
            .await
            .map_err(unavailable)?;
        Self::on(&conn).await
    }

    /// A client on an existing connection (e.g. [`super::Systemd::connection`], to share one
    /// bus connection), after checking that logind answers on it.
    pub async fn on(conn: &zbus::Connection) -> Result<Logind, LoginError> {
        let manager = LoginManagerProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| LoginError::BusUnavailable {
                detail: e.to_string(),
            })?;
        let logind = Logind {
            conn: conn.clone(),
            manager,
        };
        let delay = logind.inhibit_delay_max().await?;
        tracing::debug!("connected to systemd-logind (InhibitDelayMaxUSec {delay:?})");
        Ok(logind)
    }

    /// The underlying bus connection.
    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// Take an inhibitor lock on `what` (e.g. [`INHIBIT_SHUTDOWN`]). `who` and `why` are shown
    /// by `systemd-inhibit --list`.
    pub async fn inhibit(
        &self,
        what: &str,
        who: &str,
        why: &str,
        mode: InhibitMode,
    ) -> Result<InhibitorLock, LoginError> {
        let fd = self
            .manager
            .inhibit(what, who, why, mode.as_str())
            .await
            .map_err(|e| map_error(e, &format!("taking a {mode} inhibitor lock on {what}")))?;
        tracing::debug!(
            "took a {mode} inhibitor lock on {what} (fd {})",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        );
        Ok(InhibitorLock {
            fd,
            what: what.to_owned(),
            who: who.to_owned(),
            why: why.to_owned(),
            mode,
        })
    }

    /// All inhibitor locks currently held on this machine, by anyone.
    pub async fn list_inhibitors(&self) -> Result<Vec<Inhibitor>, LoginError> {
        let rows = self
            .manager
            .list_inhibitors()
            .await
            .map_err(|e| map_error(e, "listing inhibitor locks"))?;
        Ok(rows
            .into_iter()
            .map(|(what, who, why, mode, uid, pid)| Inhibitor {
                what,
                who,
                why,
                mode,
                uid,
                pid,
            })
            .collect())
    }

    /// How long logind waits for delay locks before it goes ahead (`InhibitDelayMaxSec=` of
    /// logind.conf, 5 s by default).
    pub async fn inhibit_delay_max(&self) -> Result<Duration, LoginError> {
        self.manager
            .inhibit_delay_max_usec()
            .await
            .map(Duration::from_micros)
            .map_err(|e| map_error(e, "reading InhibitDelayMaxUSec"))
    }

    /// Whether a shutdown or reboot is under way (between `PrepareForShutdown(true)` and the
    /// end of the operation): for a client that starts, or reconnects, in the middle of one.
    pub async fn preparing_for_shutdown(&self) -> Result<bool, LoginError> {
        self.manager
            .preparing_for_shutdown()
            .await
            .map_err(|e| map_error(e, "reading PreparingForShutdown"))
    }

    /// Ask logind to reboot the machine. Returns once logind accepted the request: the reboot
    /// itself waits for the delay locks (see the module docs). `interactive` allows polkit to
    /// ask for authentication; root does not need it.
    pub async fn reboot(&self, interactive: bool) -> Result<(), LoginError> {
        tracing::info!("asking systemd-logind to reboot the machine");
        self.manager
            .reboot(interactive)
            .await
            .map_err(|e| map_error(e, "requesting a reboot"))
    }

    /// `PrepareForShutdown(start)` signals from now on. Create it before anything that could
    /// trigger one (taking the lock, calling [`Logind::reboot`]): signals sent before the
    /// stream exists are not seen.
    pub async fn prepare_for_shutdown_stream(&self) -> Result<ShutdownSignals, LoginError> {
        let inner = self
            .manager
            .receive_prepare_for_shutdown()
            .await
            .map_err(|e| map_error(e, "listening for PrepareForShutdown"))?;
        Ok(ShutdownSignals { inner })
    }
}

/// Map an error of a call to logind; `what` describes the call.
fn map_error(err: zbus::Error, what: &str) -> LoginError {
    let Some((name, message)) = dbus_error_name(&err) else {
        return LoginError::DBus(format!("{what}: {err}"));
    };
    match name.as_str() {
        names::ACCESS_DENIED | names::INTERACTIVE_AUTH => LoginError::AccessDenied {
            detail: format!("{what}: {message}"),
        },
        names::OPERATION_IN_PROGRESS => LoginError::OperationInProgress {
            detail: format!("{what}: {message}"),
        },
        names::SERVICE_UNKNOWN | names::NAME_HAS_NO_OWNER => LoginError::BusUnavailable {
            detail: format!("org.freedesktop.login1 is not on this bus ({message})"),
        },
        // The bus tried to start logind on demand and could not.
        n if n.starts_with("org.freedesktop.DBus.Error.Spawn.") => LoginError::BusUnavailable {
            detail: format!("systemd-logind could not be started ({name}: {message})"),
        },
        n if n.ends_with(".AccessDenied") => LoginError::AccessDenied {
            detail: format!("{what}: {name}: {message}"),
        },
        _ => LoginError::DBus(format!("{what}: {name}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method_error(name: &str, message: &str) -> zbus::Error {
        crate::systemd::error::error_reply("/org/freedesktop/login1", "Reboot", name, message)
    }

    #[test]
    fn modes_round_trip() {
        for mode in [InhibitMode::Delay, InhibitMode::Block] {
            assert_eq!(InhibitMode::parse(mode.as_str()), Some(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        assert_eq!(InhibitMode::parse("block-weak"), None);
        assert_eq!(InhibitMode::parse("Delay"), None);
    }

    #[test]
    fn inhibitor_covers_each_listed_what() {
        let i = Inhibitor {
            what: "shutdown:sleep".into(),
            who: "mesos-maint".into(),
            why: "drain".into(),
            mode: "delay".into(),
            uid: 0,
            pid: 42,
        };
        assert!(i.covers("shutdown"));
        assert!(i.covers("sleep"));
        assert!(!i.covers("idle"));
        assert!(!i.covers("shut"));
        assert!(i.has_mode(InhibitMode::Delay));
        assert!(!i.has_mode(InhibitMode::Block));
    }

    #[test]
    fn access_denied_in_every_form() {
        let interactive = zbus::Error::from(zbus::fdo::Error::InteractiveAuthorizationRequired(
            "Interactive authentication required.".into(),
        ));
        for err in [
            method_error(names::ACCESS_DENIED, "Permission denied"),
            method_error("org.freedesktop.login1.AccessDenied", "Permission denied"),
            interactive,
        ] {
            let mapped = map_error(err, "requesting a reboot");
            assert!(
                matches!(mapped, LoginError::AccessDenied { .. }),
                "{mapped:?}"
            );
            let text = mapped.to_string();
            assert!(text.contains("requesting a reboot"), "{text}");
            assert!(text.contains("not root?"), "{text}");
        }
    }

    #[test]
    fn shutdown_in_progress_is_its_own_error() {
        let err = method_error(
            names::OPERATION_IN_PROGRESS,
            "There's already a shutdown or sleep operation in progress",
        );
        let mapped = map_error(err, "requesting a reboot");
        assert!(
            matches!(mapped, LoginError::OperationInProgress { .. }),
            "{mapped:?}"
        );
        assert!(mapped.to_string().contains("already"), "{mapped}");
    }

    #[test]
    fn logind_missing_from_bus_is_bus_unavailable() {
        let unknown = zbus::Error::from(zbus::fdo::Error::ServiceUnknown(
            "The name org.freedesktop.login1 was not provided by any .service files".into(),
        ));
        let spawn = method_error(
            "org.freedesktop.DBus.Error.Spawn.ChildExited",
            "Process org.freedesktop.login1 exited with status 1",
        );
        let no_owner = method_error(names::NAME_HAS_NO_OWNER, "no owner");
        for err in [unknown, spawn, no_owner] {
            let mapped = map_error(err, "reading InhibitDelayMaxUSec");
            assert!(
                matches!(mapped, LoginError::BusUnavailable { .. }),
                "{mapped:?}"
            );
            assert!(
                mapped.to_string().contains("is systemd-logind running?"),
                "{mapped}"
            );
        }
    }

    #[test]
    fn other_errors_keep_name_message_and_context() {
        let err = method_error(
            "org.freedesktop.DBus.Error.InvalidArgs",
            "Invalid what specification shutdown:nonsense",
        );
        match map_error(err, "taking a delay inhibitor lock on shutdown:nonsense") {
            LoginError::DBus(s) => {
                assert!(s.contains("taking a delay inhibitor lock"), "{s}");
                assert!(s.contains("InvalidArgs"), "{s}");
                assert!(s.contains("Invalid what"), "{s}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mapped = map_error(zbus::Error::InvalidReply, "listing inhibitor locks");
        assert!(matches!(mapped, LoginError::DBus(_)), "{mapped:?}");
    }

    #[tokio::test]
    async fn unreachable_bus_is_bus_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}", dir.path().join("no-bus").display());
        match Logind::connect_to(&address).await {
            Err(LoginError::BusUnavailable { detail }) => {
                assert!(detail.contains("no-bus"), "{detail}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn lock_releases_its_descriptor_on_drop() {
        // A pipe stands in for logind's FIFO: the read end sees EOF once every write end is
        // closed, which is how logind notices a released lock.
        let (read, write) = nix::unistd::pipe().unwrap();
        let lock = InhibitorLock {
            fd: OwnedFd::from(write),
            what: INHIBIT_SHUTDOWN.into(),
            who: "test".into(),
            why: "test".into(),
            mode: InhibitMode::Delay,
        };
        assert!(format!("{lock:?}").contains("Delay"));
        nix::fcntl::fcntl(
            &read,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        let mut buf = [0u8; 1];
        // Still held: no data, no EOF.
        assert_eq!(
            nix::unistd::read(&read, &mut buf),
            Err(nix::errno::Errno::EAGAIN)
        );
        lock.release();
        assert_eq!(nix::unistd::read(&read, &mut buf), Ok(0));
    }
}
