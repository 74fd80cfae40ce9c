//! The daemon's test fixture, shared by the daemon's and the cloud's system tests and the
//! footprint measurement: a started simulator with its clocks, a node configured for the daemon
//! (metrics on a free port), a running daemon with the test's end of its `NOTIFY_SOCKET` and a
//! scraper for its metrics, and logind's list of the daemon's locks (through `busctl`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mesos_sim::{AckMode, FrameworkSpec, Sim, SimConfig, TaskSpec};

use super::daemon::DaemonProcess;
use super::logind::inhibitors_of;
use super::node::{unique, Node};
use super::proc::wait_until;
use super::sandbox::Sandbox;
use super::sim::sim_node;

pub const LOGIND: &str = "/lib/systemd/systemd-logind";

pub const REBOOT_TARGET: &str = "reboot.target";
/// The daemon's `who` in its inhibitor locks.
pub const WHO: &str = "mesos-maint";

/// Upper bound for the daemon to reach a state it reaches in well under a second normally.
pub const SOON: Duration = Duration::from_secs(15);

/// A started simulator and the CLOCK_MONOTONIC bounds (µs) of its start, to place its
/// `at_ms` request times on the clock systemd's `*TimestampMonotonic` use.
pub struct SimRun {
    pub sim: Sim,
    /// Taken after `Sim::start` returned: `started_before_us + at_ms` is an upper bound of a
    /// request's time.
    pub started_before_us: u64,
    /// The wall clock taken at the same moment (for `$EPOCHREALTIME` records and the fakes).
    pub started_after: SystemTime,
}

impl SimRun {
    pub fn start(rt: &tokio::runtime::Runtime, cfg: SimConfig) -> SimRun {
        let sim = rt.block_on(Sim::start(cfg)).expect("start the simulator");
        SimRun {
            sim,
            started_before_us: mono_us(),
            started_after: SystemTime::now(),
        }
    }

    /// The DRAIN_AGENT bodies the master received, oldest first.
    pub fn drain_bodies(&self) -> Vec<serde_json::Value> {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.is_api_call() && r.call_type().as_deref() == Some("DRAIN_AGENT"))
            .map(|r| serde_json::from_str(&r.body).expect("a JSON body"))
            .collect()
    }

    /// Latest possible wall-clock time of the first DRAIN_AGENT.
    pub fn drain_time_upper(&self) -> Option<SystemTime> {
        self.sim
            .requests()
            .iter()
            .find(|r| r.call_type().as_deref() == Some("DRAIN_AGENT"))
            .map(|r| self.started_after + Duration::from_millis(r.at_ms + 1))
    }

    /// Latest possible CLOCK_MONOTONIC time (µs) of the first master call of `call_type`.
    pub fn call_time_upper_us(&self, call_type: &str) -> Option<u64> {
        self.sim
            .requests()
            .iter()
            .find(|r| r.call_type().as_deref() == Some(call_type))
            .map(|r| self.started_before_us + r.at_ms * 1000 + 1000)
    }
}

/// CLOCK_MONOTONIC in µs (the clock of systemd's `…TimestampMonotonic` properties).
#[allow(unsafe_code)] // CLOCK_MONOTONIC in µs, the clock systemd's watchdog timestamps use
pub fn mono_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC in µs, to put the fake daemons' `$EPOCHREALTIME` records
/// on the monotonic clock.
pub fn wall_minus_mono_us() -> i128 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i128;
    wall - mono_us() as i128
}

/// Frameworks whose tasks take `grace` to die and acknowledge at once: a drain of about `grace`.
pub fn busy_config(grace: Duration) -> SimConfig {
    let ack = AckMode::After(Duration::from_millis(20));
    SimConfig {
        frameworks: vec![
            FrameworkSpec::new("fw-marathon", "marathon", ack)
                .task(TaskSpec::new("web-1", grace))
                .task(TaskSpec::new("web-2", grace / 2)),
            FrameworkSpec::new("fw-cassandra", "cassandra", ack)
                .task(TaskSpec::new("node-1", grace)),
        ],
        ..SimConfig::default()
    }
}

/// The usual node ([`sim_node`]), with logind's `InhibitDelayMaxSec` = `delay`.
pub fn node_sandbox(name: &str, sim: &Sim, delay: Option<Duration>) -> Sandbox {
    let mut b = Sandbox::builder(name).with_logind(true);
    if let Some(d) = delay {
        b = b.inhibit_delay_max(d);
    }
    sim_node(b, sim)
}

/// A node with the daemon's configuration (metrics on a free port); each daemon started gets its
/// own notification socket.
pub struct DaemonNode {
    pub node: Node,
    pub metrics_port: u16,
}

impl Deref for DaemonNode {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

/// The `[daemon]` section: metrics on `metrics_port`, and `extra` lines.
pub fn daemon_section(metrics_port: u16, extra: &str) -> String {
    format!("\n[daemon]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n{extra}")
}

impl DaemonNode {
    pub fn new() -> DaemonNode {
        let metrics_port = free_port();
        DaemonNode {
            node: Node::new("", &daemon_section(metrics_port, "")),
            metrics_port,
        }
    }

    /// Rewrite the configuration: `[daemon]` as [`DaemonNode::new`] has it, then `rest` (further
    /// sections, e.g. `[health]`). A running daemon reads it at its next SIGHUP.
    pub fn write_config(&self, rest: &str) {
        let text = self.node.config_text(
            "",
            &format!("{}\n{rest}", daemon_section(self.metrics_port, "")),
        );
        std::fs::write(self.config(), text).expect("write the daemon's configuration");
    }

    /// The configuration with `daemon_extra` lines added to `[daemon]`.
    pub fn config_text(&self, daemon_extra: &str) -> String {
        self.node
            .config_text("", &daemon_section(self.metrics_port, daemon_extra))
    }

    /// Start `mesos-maint daemon` with a notification socket; returns once it sent READY=1.
    pub fn daemon(&self, sb: &Sandbox, sim: &Sim) -> Daemon {
        self.daemon_with_env(sb, sim, &[])
    }

    /// [`Self::daemon`] with extra environment variables (e.g. `WATCHDOG_USEC`).
    pub fn daemon_with_env(&self, sb: &Sandbox, sim: &Sim, env: &[(&str, &str)]) -> Daemon {
        let tag = unique();
        let notify_path = self.dir.path().join(format!("notify-{tag}.sock"));
        let notify = NotifyListener::bind(&notify_path);
        let log = self.dir.path().join(format!("daemon-{tag}.log"));
        let mut cmd = self.command(Some(sb), sim, &["daemon"]);
        cmd.env("NOTIFY_SOCKET", &notify_path)
            .envs(env.iter().copied());
        let started = Instant::now();
        let d = Daemon {
            process: DaemonProcess::spawn(&mut cmd, log),
            notify,
            metrics_port: self.metrics_port,
        };
        assert!(
            d.notify.wait_for(SOON, |m| m == "READY=1"),
            "no READY=1 within {SOON:?}; got {:?}\n{}",
            d.notify.messages(),
            d.log_text()
        );
        eprintln!("daemon pid {} ready after {:?}", d.pid(), started.elapsed());
        d
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The test's end of `NOTIFY_SOCKET`: every datagram, in order.
pub struct NotifyListener {
    pub messages: Arc<Mutex<Vec<(Instant, String)>>>,
    pub stop: Arc<AtomicBool>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifyListener {
    pub fn bind(path: &Path) -> NotifyListener {
        let sock = UnixDatagram::bind(path).expect("bind the notification socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (messages.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let now = Instant::now();
                    m.lock()
                        .unwrap()
                        .extend(text.lines().map(|l| (now, l.to_owned())));
                }
            }
        });
        NotifyListener {
            messages,
            stop,
            thread: Some(thread),
        }
    }

    /// Every assignment received so far (`READY=1`, `STATUS=…`), one per entry.
    pub fn messages(&self) -> Vec<String> {
        self.timed().into_iter().map(|(_, m)| m).collect()
    }

    /// The same, with the time each datagram arrived.
    pub fn timed(&self) -> Vec<(Instant, String)> {
        self.messages.lock().unwrap().clone()
    }

    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        wait_until(timeout, || self.messages().iter().any(|m| pred(m)))
    }

    pub fn last_status(&self) -> Option<String> {
        self.messages()
            .iter()
            .rev()
            .find_map(|m| m.strip_prefix("STATUS=").map(str::to_owned))
    }
}

impl Drop for NotifyListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running daemon (our child) with the test's end of its notification socket. Dropping it
/// kills it if it still runs.
pub struct Daemon {
    pub process: DaemonProcess,
    pub notify: NotifyListener,
    pub metrics_port: u16,
}

impl Deref for Daemon {
    type Target = DaemonProcess;

    fn deref(&self) -> &DaemonProcess {
        &self.process
    }
}

impl DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut DaemonProcess {
        &mut self.process
    }
}

impl Daemon {
    /// `GET /metrics` over a plain TCP connection; the body.
    pub fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port))
            .unwrap_or_else(|e| panic!("connect to the metrics port {}: {e}", self.metrics_port));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text)
            .expect("read the metrics answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_owned()
    }

    /// The value of the series `series` (name with labels, exactly as exposed).
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.metrics(), series)
    }
}

pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The daemon's locks as logind lists them, through `busctl` (independent of the code under
/// test): `(what, who, why, mode, uid, pid)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub what: String,
    pub who: String,
    pub why: String,
    pub mode: String,
    pub uid: u64,
    pub pid: u64,
}

pub fn listed_locks(sb: &Sandbox) -> Vec<Listed> {
    inhibitors_of(sb, WHO)
        .iter()
        .map(|row| Listed {
            what: row[0].as_str().unwrap_or_default().into(),
            who: row[1].as_str().unwrap_or_default().into(),
            why: row[2].as_str().unwrap_or_default().into(),
            mode: row[3].as_str().unwrap_or_default().into(),
            uid: row[4].as_u64().unwrap_or(u64::MAX),
            pid: row[5].as_u64().expect("ListInhibitors pid"),
        })
        .collect()
}

pub fn delay_lock_of(sb: &Sandbox, pid: u32) -> Option<Listed> {
    listed_locks(sb)
        .into_iter()
        .find(|l| l.mode == "delay" && l.pid == u64::from(pid))
}
