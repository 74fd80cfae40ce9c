//! `sd_notify` for the daemon (`Type=notify` units): `READY=1`, `STATUS=…` (the line
//! `systemctl status` shows), `STOPPING=1`, `WATCHDOG=1`, and the watchdog interval systemd
//! asks for. The protocol is the `sd-notify` crate's; this adapter only keeps the daemon's
//! rules: a STATUS stays one line, a zero `WATCHDOG_USEC` is no watchdog, and without
//! `NOTIFY_SOCKET` (not started by systemd) every call is a successful no-op.
//!
//! ```no_run
//! use mesos_maint::systemd::notify::{watchdog_timeout, Notifier};
//! let notifier = Notifier::from_env();
//! notifier.status("holding the shutdown delay lock; agent has 3 tasks")?;
//! notifier.ready()?;
//! if let Some(timeout) = watchdog_timeout() {
//!     // ping WATCHDOG=1 every timeout / 2 (see `watchdog_ping_interval`)
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! `NOTIFY_SOCKET` is left in the environment (unsetting it is unsafe once threads run); with
//! the default `NotifyAccess=main` systemd ignores messages from child processes (hooks).

use std::io;
use std::time::Duration;

use sd_notify::NotifyState;

/// The variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Sends notifications to systemd. A notifier made without `NOTIFY_SOCKET` accepts everything
/// and sends nothing.
#[derive(Debug, Clone)]
pub struct Notifier {
    enabled: bool,
}

impl Notifier {
    /// Enabled when `NOTIFY_SOCKET` is set and not empty.
    pub fn from_env() -> Notifier {
        Notifier {
            enabled: std::env::var_os(NOTIFY_SOCKET_ENV).is_some_and(|v| !v.is_empty()),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier { enabled: false }
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn send(&self, state: NotifyState<'_>) -> io::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let what = state.to_string();
        sd_notify::notify(&[state])
            .map_err(|e| io::Error::new(e.kind(), format!("sd_notify ({what}): {e}")))
    }

    /// `READY=1`.
    pub fn ready(&self) -> io::Result<()> {
        self.send(NotifyState::Ready)
    }

    /// `STATUS=<line>`, newlines replaced by spaces: a status must not smuggle in another
    /// assignment such as `READY=1`.
    pub fn status(&self, line: &str) -> io::Result<()> {
        self.send(NotifyState::Status(&one_line(line)))
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) -> io::Result<()> {
        self.send(NotifyState::Stopping)
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send(NotifyState::Watchdog)
    }
}

fn one_line(line: &str) -> String {
    line.replace(['\n', '\r'], " ")
}

/// The watchdog timeout systemd asks this process to honour (`WatchdogSec=`), if any
/// (`WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or names this process). Zero is no watchdog.
pub fn watchdog_timeout() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|t| !t.is_zero())
}

/// How often to send `WATCHDOG=1` for a watchdog `timeout`: half of it, as systemd recommends.
pub fn watchdog_ping_interval(timeout: Duration) -> Duration {
    timeout / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_stays_one_line() {
        assert_eq!(one_line("first\nREADY=1\r\nthird"), "first READY=1  third");
    }

    #[test]
    fn a_disabled_notifier_is_a_silent_no_op() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        n.ready().unwrap();
        n.status("x").unwrap();
        n.stopping().unwrap();
        n.watchdog().unwrap();
        assert_eq!(
            watchdog_ping_interval(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
    }
}
