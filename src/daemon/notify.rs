//! `sd_notify` for the daemon (`Type=notify` units): `READY=1`, `STATUS=…` (the line
//! `systemctl status` shows), `STOPPING=1`, `WATCHDOG=1`, and the watchdog interval systemd
//! asks for (`WATCHDOG_USEC`, `WATCHDOG_PID`).
//!
//! The protocol is one datagram of newline-separated `KEY=value` assignments to the unix socket
//! named by `NOTIFY_SOCKET` (a path, or an abstract name written with a leading `@`). Without
//! `NOTIFY_SOCKET` (not started by systemd) every call is a successful no-op.
//!
//! ```no_run
//! use mesos_maint::daemon::notify::{watchdog_timeout, Notifier};
//! let notifier = Notifier::from_env();
//! notifier.status("holding the shutdown delay lock; agent has 3 tasks")?;
//! notifier.ready()?;
//! if let Some(timeout) = watchdog_timeout() {
//!     // ping WATCHDOG=1 every timeout / 2 (see `watchdog_ping_interval`)
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! `NOTIFY_SOCKET` is left in the environment; with the default `NotifyAccess=main` systemd
//! ignores messages from child processes (hooks) anyway.

use std::fmt;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// The variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// The watchdog timeout in microseconds (`WatchdogSec=` of the unit).
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// The PID the watchdog is meant for; absent means "this process".
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";
/// A send that cannot complete within this is an error rather than a stuck daemon.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// One assignment of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State<'a> {
    /// `READY=1`: startup finished.
    Ready,
    /// `STOPPING=1`: shutting down.
    Stopping,
    /// `STATUS=<line>`: a one-line human status. Newlines are replaced by spaces.
    Status(&'a str),
    /// `WATCHDOG=1`: still alive.
    Watchdog,
}

impl fmt::Display for State<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Ready => f.write_str("READY=1"),
            State::Stopping => f.write_str("STOPPING=1"),
            State::Status(line) => {
                f.write_str("STATUS=")?;
                for c in line.chars() {
                    if c == '\n' || c == '\r' {
                        f.write_str(" ")?;
                    } else {
                        write!(f, "{c}")?;
                    }
                }
                Ok(())
            }
            State::Watchdog => f.write_str("WATCHDOG=1"),
        }
    }
}

/// The message for `states`: one assignment per line.
pub fn message(states: &[State<'_>]) -> String {
    let mut out = String::new();
    for (i, s) in states.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out += &s.to_string();
    }
    out
}

struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
    name: String,
}

/// Sends notifications to systemd. Cheap to clone; a disabled notifier (no `NOTIFY_SOCKET`)
/// accepts everything and sends nothing.
#[derive(Clone)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("socket", &self.target.as_ref().map(|t| t.name.as_str()))
            .finish()
    }
}

impl Notifier {
    /// From `NOTIFY_SOCKET`: disabled when unset or empty, and (with a warning) when it names
    /// something this module cannot send to.
    pub fn from_env() -> Notifier {
        let value = std::env::var(NOTIFY_SOCKET_ENV).ok();
        match Self::from_value(value.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(
                    "{NOTIFY_SOCKET_ENV}={value:?} is unusable ({e}); not notifying systemd"
                );
                Notifier::disabled()
            }
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// A notifier for the socket `name`: an absolute path, or `@name` for an abstract socket.
    pub fn to_socket(name: &str) -> io::Result<Notifier> {
        let addr = if let Some(abstract_name) = name.strip_prefix('@') {
            <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
                abstract_name.as_bytes(),
            )?
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(name)?
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not an absolute path nor an abstract socket name: {name:?}"),
            ));
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Notifier {
            target: Some(Arc::new(Target {
                socket,
                addr,
                name: name.to_owned(),
            })),
        })
    }

    fn from_value(value: Option<&str>) -> io::Result<Notifier> {
        match value.map(str::trim) {
            None | Some("") => Ok(Notifier::disabled()),
            Some(name) => Self::to_socket(name),
        }
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Send `states` in one datagram.
    pub fn notify(&self, states: &[State<'_>]) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let msg = message(states);
        tracing::trace!("sd_notify to {}: {msg:?}", target.name);
        let sent = target
            .socket
            .send_to_addr(msg.as_bytes(), &target.addr)
            .map_err(|e| io::Error::new(e.kind(), format!("sd_notify to {}: {e}", target.name)))?;
        if sent != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sd_notify to {}: short send", target.name),
            ));
        }
        Ok(())
    }

    /// `READY=1`.
    pub fn ready(&self) -> io::Result<()> {
        self.notify(&[State::Ready])
    }

    /// `STATUS=<line>`.
    pub fn status(&self, line: &str) -> io::Result<()> {
        self.notify(&[State::Status(line)])
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify(&[State::Stopping])
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> io::Result<()> {
        self.notify(&[State::Watchdog])
    }
}

/// The watchdog timeout systemd asks this process to honour (`WatchdogSec=`), if any: from
/// `WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or names this process.
pub fn watchdog_timeout() -> Option<Duration> {
    let usec = std::env::var(WATCHDOG_USEC_ENV).ok();
    let pid = std::env::var(WATCHDOG_PID_ENV).ok();
    parse_watchdog(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// [`watchdog_timeout`] from the variables' values and this process's PID. A value that does
/// not parse, or a zero timeout, is no watchdog.
pub fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid.map(str::trim).filter(|p| !p.is_empty()) {
        if pid.parse::<u32>().ok()? != my_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// How often to send `WATCHDOG=1` for a watchdog `timeout`: half of it, as systemd recommends.
pub fn watchdog_ping_interval(timeout: Duration) -> Duration {
    timeout / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt as _;

    fn receiver() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (dir, sock, path.display().to_string())
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_each_state_to_a_path_socket() {
        let (_dir, sock, path) = receiver();
        let n = Notifier::to_socket(&path).unwrap();
        assert!(n.is_enabled());
        n.ready().unwrap();
        assert_eq!(recv(&sock), "READY=1");
        n.status("draining: 3 tasks left").unwrap();
        assert_eq!(recv(&sock), "STATUS=draining: 3 tasks left");
        n.stopping().unwrap();
        assert_eq!(recv(&sock), "STOPPING=1");
        n.watchdog().unwrap();
        assert_eq!(recv(&sock), "WATCHDOG=1");
        // Clones share the socket.
        n.clone()
            .notify(&[State::Ready, State::Status("idle"), State::Stopping])
            .unwrap();
        assert_eq!(recv(&sock), "READY=1\nSTATUS=idle\nSTOPPING=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = format!("mesos-maint-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::from_value(Some(&format!("@{name}"))).unwrap();
        n.ready().unwrap();
        assert_eq!(recv(&sock), "READY=1");
    }

    #[test]
    fn a_status_stays_one_line() {
        let (_dir, sock, path) = receiver();
        let n = Notifier::to_socket(&path).unwrap();
        n.status("first\nREADY=1\r\nthird").unwrap();
        assert_eq!(recv(&sock), "STATUS=first READY=1  third");
    }

    #[test]
    fn unset_or_empty_is_a_silent_no_op() {
        for value in [None, Some(""), Some("  ")] {
            let n = Notifier::from_value(value).unwrap();
            assert!(!n.is_enabled());
            n.ready().unwrap();
            n.status("x").unwrap();
            n.stopping().unwrap();
            n.watchdog().unwrap();
        }
        assert!(!Notifier::disabled().is_enabled());
    }

    #[test]
    fn relative_names_are_refused() {
        let err = Notifier::from_value(Some("run/notify")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone").display().to_string();
        let err = Notifier::to_socket(&path).unwrap().ready().unwrap_err();
        assert!(err.to_string().contains(&path), "{err}");
    }

    #[test]
    fn watchdog_from_the_environment_values() {
        let me = 4242;
        assert_eq!(
            parse_watchdog(Some("30000000"), None, me),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_watchdog(Some("30000000"), Some("4242"), me),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_watchdog(Some("30000000"), Some(""), me),
            Some(Duration::from_secs(30))
        );
        // Meant for another process (e.g. inherited by a hook).
        assert_eq!(parse_watchdog(Some("30000000"), Some("1"), me), None);
        assert_eq!(parse_watchdog(Some("30000000"), Some("x"), me), None);
        assert_eq!(parse_watchdog(None, Some("4242"), me), None);
        assert_eq!(parse_watchdog(Some("0"), None, me), None);
        assert_eq!(parse_watchdog(Some("soon"), None, me), None);
        assert_eq!(
            watchdog_ping_interval(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
    }
}
