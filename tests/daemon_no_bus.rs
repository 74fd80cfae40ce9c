//! `mesos-maint daemon` where an image build (or a chroot) leaves it: no Mesos agent and no usable
//! system bus. It must still tell systemd READY=1, wait quietly (one warning, no lock, no marker)
//! and stop on SIGTERM with exit 0, both when the bus socket is missing and when something
//! accepts connections on it but never answers. Plain processes, no root needed.

mod support;

use std::io::ErrorKind;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::node::{scrub_env, BIN};

struct Daemon {
    child: Child,
    notify: UnixDatagram,
}

impl Daemon {
    fn start(dir: &Path, bus_address: &str) -> Daemon {
        let notify_path = dir.join("notify");
        let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut cmd = Command::new(BIN);
        scrub_env(&mut cmd)
            .args(["--agent", "http://127.0.0.1:1", "--state-dir"])
            .arg(dir.join("state"))
            .arg("daemon")
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus_address)
            .env("NOTIFY_SOCKET", &notify_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Daemon {
            child: cmd.spawn().expect("spawn mesos-maint daemon"),
            notify,
        }
    }

    /// Notifications received until one contains `want` or `timeout` passes.
    fn wait_for(&self, want: &str, timeout: Duration) -> (bool, Vec<String>) {
        let until = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < until {
            match self.notify.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let hit = msg.contains(want);
                    seen.push(msg);
                    if hit {
                        return (true, seen);
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("notify socket: {e}"),
            }
        }
        (false, seen)
    }

    /// SIGTERM, then the exit status, the time it took and stderr.
    fn terminate(mut self) -> (Option<i32>, Duration, String) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the daemon exited by itself"
        );
        let t = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let out = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("the daemon ignored SIGTERM for 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = t.elapsed();
        let mut stderr = String::new();
        use std::io::Read;
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (out.code(), took, stderr)
    }
}

fn assert_inert(dir: &Path, daemon: Daemon, ready_within: Duration) {
    let (ready, seen) = daemon.wait_for("READY=1", ready_within);
    assert!(ready, "no READY=1 within {ready_within:?}: {seen:?}");
    // A few local-agent polls' worth of waiting (the first poll runs at once).
    std::thread::sleep(Duration::from_millis(1500));
    let (code, took, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        took < Duration::from_secs(12),
        "stop took {took:?}\n{stderr}"
    );
    assert_eq!(
        stderr.matches("logind not available").count(),
        1,
        "one warning, not one per retry:\n{stderr}"
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(
        !dir.join("state/drain.json").exists(),
        "a marker was written"
    );
}

#[test]
fn daemon_without_agent_or_bus_waits_quietly_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let bus = format!("unix:path={}", dir.path().join("no-such-bus").display());
    let daemon = Daemon::start(dir.path(), &bus);
    assert_inert(dir.path(), daemon, Duration::from_secs(10));
}

#[test]
fn daemon_on_a_bus_that_never_answers_still_gets_ready_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent-bus");
    // Accepts connections (kept open, never read) and never says a word.
    let listener = UnixListener::bind(&path).unwrap();
    let accepted = std::thread::spawn(move || {
        let mut keep = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => keep.push(c),
                Err(_) => break,
            }
            if keep.len() >= 8 {
                break;
            }
        }
        keep
    });
    let daemon = Daemon::start(dir.path(), &format!("unix:path={}", path.display()));
    // The logind connection attempt gives up after LOGIND_CONNECT_TIMEOUT (10 s).
    assert_inert(dir.path(), daemon, Duration::from_secs(20));
    drop(accepted);
}
