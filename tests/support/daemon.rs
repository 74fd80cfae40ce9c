//! A running `mesos-maint daemon` (our child) whose stdout and stderr go to one log file:
//! its PID, its log, signals, its exit. Dropping it kills it if it still runs, and prints its
//! log when the test is failing.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::proc::wait_until;

pub struct DaemonProcess {
    child: Option<Child>,
    log: PathBuf,
    /// The exit code once an exit was seen (-1 for a signal death).
    pub exit: Option<i32>,
}

impl DaemonProcess {
    /// Start `cmd` with stdout and stderr both going to `log` (created; one file offset, so
    /// neither overwrites the other).
    pub fn spawn(cmd: &mut Command, log: PathBuf) -> DaemonProcess {
        let file = fs::File::create(&log).expect("create the daemon log");
        let child = cmd
            .stdout(file.try_clone().expect("dup the daemon log"))
            .stderr(file)
            .spawn()
            .expect("spawn mesos-maint daemon");
        DaemonProcess {
            child: Some(child),
            log,
            exit: None,
        }
    }

    /// The daemon's PID; panics once it was reaped (never signal PID 0: the process group).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the daemon was reaped")
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait up to `timeout` for `needle` in the log; whether it came.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log_text().contains(needle))
    }

    /// How often `needle` is in the log.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(status))) => {
                self.exit = Some(status.code().unwrap_or(-1));
                false
            }
            _ => false,
        }
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid() as i32), sig).expect("signal the daemon");
    }

    /// Wait up to `timeout` for the exit, and reap; the exit code (-1 for a signal death), or
    /// `None` when it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let ok = wait_until(timeout, || !self.is_running());
        if ok {
            if let Some(mut c) = self.child.take() {
                let status = c.wait().expect("reap the daemon");
                self.exit = Some(status.code().unwrap_or(-1));
            }
            self.exit
        } else {
            None
        }
    }

    /// SIGTERM, then [`Self::wait_exit`].
    pub fn stop(&mut self, timeout: Duration) -> Option<i32> {
        self.signal(Signal::SIGTERM);
        self.wait_exit(timeout)
    }

    /// SIGKILL (no chance to clean up), reaped.
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill_hard();
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log {} ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}
