//! The daemon's metrics in the Prometheus text format (version 0.0.4), served at `GET /metrics`
//! on a local address (`daemon.metrics_listen`, e.g. `127.0.0.1:9464`).
//!
//! ```text
//! mesos_maint_up 1
//! mesos_maint_drain_state{stage="AwaitDrained"} 1      # one series per stage, plus "Idle"
//! mesos_maint_tasks_left 3
//! mesos_maint_drain_duration_seconds 812.5            # the last finished drain
//! mesos_maint_inhibitor_held{mode="delay"} 1
//! mesos_maint_last_outcome{outcome="done"} 1          # one series per outcome
//! mesos_maint_errors_total{kind="master"} 2
//! ```
//!
//! [`Metrics`] is shared (`Arc`) between the daemon's tasks, which update it, and [`serve`],
//! which renders it on each scrape. The HTTP side is deliberately small: one request per
//! connection, at most [`MAX_REQUEST_BYTES`] of request read, [`MAX_CONNECTIONS`] at once,
//! [`CONNECTION_TIMEOUT`] per connection, and the connection is closed after the answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::drain::machine::Stage;

/// The request head read at most; a longer one is answered 431 and closed.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Connections served at once; more are closed without an answer until one finishes.
pub const MAX_CONNECTIONS: usize = 16;
/// Time for one connection (reading the request and writing the answer).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Distinct `kind` labels of `mesos_maint_errors_total`; further kinds count as `other`.
pub const MAX_ERROR_KINDS: usize = 32;
/// Error kinds exported from the start (at 0), so that `rate()` sees their first increment.
pub const ERROR_KINDS: &[&str] = &[
    "master", "agent", "systemd", "logind", "drain", "hook", "marker", "config", "cloud",
    "internal",
];

/// Every drain stage, in order (for the one-series-per-stage gauge).
const STAGES: [Stage; 11] = [
    Stage::Resolve,
    Stage::PreHooks,
    Stage::RequestDrain,
    Stage::AwaitDrained,
    Stage::VerifyLocal,
    Stage::StopAgent,
    Stage::StopDocker,
    Stage::PostHooks,
    Stage::Done,
    Stage::DeadlineExceeded,
    Stage::Failed,
];

/// Keeps [`STAGES`] complete: a new stage fails to compile here until it is listed.
const fn stage_index(stage: Stage) -> usize {
    match stage {
        Stage::Resolve => 0,
        Stage::PreHooks => 1,
        Stage::RequestDrain => 2,
        Stage::AwaitDrained => 3,
        Stage::VerifyLocal => 4,
        Stage::StopAgent => 5,
        Stage::StopDocker => 6,
        Stage::PostHooks => 7,
        Stage::Done => 8,
        Stage::DeadlineExceeded => 9,
        Stage::Failed => 10,
    }
}

// Every stage sits at its own index: with the exhaustive match above, STAGES lists each once.
const _: () = {
    let mut i = 0;
    while i < STAGES.len() {
        assert!(stage_index(STAGES[i]) == i);
        i += 1;
    }
};

/// The `stage` label when no drain is running.
pub const IDLE: &str = "Idle";

/// How the last drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Drained (and units stopped, as configured).
    Done,
    /// The deadline passed with work left.
    DeadlineExceeded,
    /// An error ended it.
    Failed,
    /// Refused by policy before anything was changed (lock, maintenance window, hook).
    Refused,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Done,
        Outcome::DeadlineExceeded,
        Outcome::Failed,
        Outcome::Refused,
    ];

    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::DeadlineExceeded => "deadline_exceeded",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }
}

/// The daemon's metrics. All setters take `&self`; share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    stage: Mutex<Option<Stage>>,
    tasks_left: AtomicU64,
    /// f64 bits of the last drain's duration in seconds; `u64::MAX` while there was none.
    last_drain_secs: AtomicU64,
    delay_held: AtomicBool,
    block_held: AtomicBool,
    last_outcome: Mutex<Option<Outcome>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

const NO_DRAIN_YET: u64 = u64::MAX;

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Lock a mutex, ignoring poisoning (a panicked writer leaves a consistent value behind:
/// every critical section here is a single store or increment).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            stage: Mutex::new(None),
            tasks_left: AtomicU64::new(0),
            last_drain_secs: AtomicU64::new(NO_DRAIN_YET),
            delay_held: AtomicBool::new(false),
            block_held: AtomicBool::new(false),
            last_outcome: Mutex::new(None),
            errors: Mutex::new(ERROR_KINDS.iter().map(|k| (k.to_string(), 0)).collect()),
        }
    }

    /// The current drain stage; `None` when no drain runs.
    pub fn set_drain_stage(&self, stage: Option<Stage>) {
        *lock(&self.stage) = stage;
    }

    /// Tasks still on the agent (as last observed).
    pub fn set_tasks_left(&self, tasks: u64) {
        self.tasks_left.store(tasks, Ordering::Relaxed);
    }

    /// Whether the daemon holds its delay or block inhibitor lock.
    pub fn set_inhibitor_held(&self, mode: crate::systemd::InhibitMode, held: bool) {
        let flag = match mode {
            crate::systemd::InhibitMode::Delay => &self.delay_held,
            crate::systemd::InhibitMode::Block => &self.block_held,
        };
        flag.store(held, Ordering::Relaxed);
    }

    /// A drain ended: its outcome and how long it took. Also clears the current stage.
    pub fn finish_drain(&self, outcome: Outcome, took: Duration) {
        self.last_drain_secs
            .store(took.as_secs_f64().to_bits(), Ordering::Relaxed);
        *lock(&self.last_outcome) = Some(outcome);
        *lock(&self.stage) = None;
    }

    /// Count one error of `kind` (e.g. `master`, `systemd`; see [`ERROR_KINDS`]). The kind is
    /// reduced to `[a-z0-9_]`; past [`MAX_ERROR_KINDS`] distinct kinds it counts as `other`.
    pub fn inc_error(&self, kind: &str) {
        let mut kind: String = kind
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '_') => c,
                _ => '_',
            })
            .take(40)
            .collect();
        if kind.is_empty() {
            kind = "other".into();
        }
        let mut errors = lock(&self.errors);
        if !errors.contains_key(&kind) && errors.len() >= MAX_ERROR_KINDS {
            kind = "other".into();
        }
        *errors.entry(kind).or_insert(0) += 1;
    }

    /// The current drain stage.
    pub fn drain_stage(&self) -> Option<Stage> {
        *lock(&self.stage)
    }

    /// How many errors of `kind` were counted.
    pub fn errors(&self, kind: &str) -> u64 {
        lock(&self.errors).get(kind).copied().unwrap_or(0)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        emit(
            &mut out,
            "mesos_maint_up",
            "gauge",
            "1 while the daemon runs.",
            [(vec![], "1".to_owned())],
        );
        let stage = self.drain_stage();
        emit(
            &mut out,
            "mesos_maint_drain_state",
            "gauge",
            "1 for the current drain stage (Idle when no drain runs), 0 for the others.",
            std::iter::once((IDLE, stage.is_none()))
                .chain(STAGES.iter().map(|s| (s.name(), stage == Some(*s))))
                .map(|(name, on)| (vec![("stage", name.to_owned())], gauge_bool(on))),
        );
        emit(
            &mut out,
            "mesos_maint_tasks_left",
            "gauge",
            "Tasks still on the agent, as last observed.",
            [(vec![], self.tasks_left.load(Ordering::Relaxed).to_string())],
        );
        let secs = self.last_drain_secs.load(Ordering::Relaxed);
        emit(
            &mut out,
            "mesos_maint_drain_duration_seconds",
            "gauge",
            "Duration of the last finished drain (absent before the first one).",
            (secs != NO_DRAIN_YET).then(|| (vec![], float(f64::from_bits(secs)))),
        );
        emit(
            &mut out,
            "mesos_maint_inhibitor_held",
            "gauge",
            "1 while the daemon holds its logind inhibitor lock of this mode.",
            [
                ("delay", self.delay_held.load(Ordering::Relaxed)),
                ("block", self.block_held.load(Ordering::Relaxed)),
            ]
            .map(|(mode, held)| (vec![("mode", mode.to_owned())], gauge_bool(held))),
        );
        let last = *lock(&self.last_outcome);
        emit(
            &mut out,
            "mesos_maint_last_outcome",
            "gauge",
            "1 for how the last drain ended, 0 for the other outcomes (all 0 before the first).",
            Outcome::ALL.map(|o| {
                (
                    vec![("outcome", o.as_str().to_owned())],
                    gauge_bool(last == Some(o)),
                )
            }),
        );
        let errors: Vec<_> = lock(&self.errors)
            .iter()
            .map(|(k, v)| (vec![("kind", k.clone())], v.to_string()))
            .collect();
        emit(
            &mut out,
            "mesos_maint_errors_total",
            "counter",
            "Errors seen by the daemon, by kind.",
            errors,
        );
        emit(
            &mut out,
            "mesos_maint_build_info",
            "gauge",
            "Always 1; the version of mesos-maint in a label.",
            [(
                vec![("version", env!("CARGO_PKG_VERSION").to_owned())],
                "1".to_owned(),
            )],
        );
        out
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: HELP, TYPE, then its samples.
fn emit(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{key}=\"{}\"", escape_label(value));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {value}");
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format requires.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn gauge_bool(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

/// A float in the text format's spelling (`+Inf`, `-Inf`, `NaN`).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// Serve `GET /metrics` on `listen` until the task is dropped. Fails only when the address
/// cannot be bound.
pub async fn serve(listen: SocketAddr, metrics: Arc<Metrics>) -> io::Result<()> {
    let listener = bind(listen).await?;
    serve_on(listener, metrics).await
}

/// Bind the metrics address (so a daemon can report a taken port before it is ready).
pub async fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen for metrics on {listen}: {e}"),
        )
    })
}

/// Serve `GET /metrics` on an already bound listener until the task is dropped.
pub async fn serve_on(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<()> {
    serve_with(listener, metrics, CONNECTION_TIMEOUT).await
}

async fn serve_with(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    timeout: Duration,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving metrics at http://{addr}/metrics");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Per-connection trouble (aborted handshake) or no descriptors left: wait a
                // little and go on; the listener itself stays good.
                tracing::debug!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics: too many connections; closing the one from {peer}");
            drop(stream);
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(timeout, answer(stream, &metrics)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("metrics: connection from {peer}: {e}"),
                Err(_) => tracing::debug!("metrics: connection from {peer} timed out"),
            }
        });
    }
}

/// Read one request head (bounded), write one answer, close.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_complete = loop {
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            break true;
        }
        if buf.len() >= MAX_REQUEST_BYTES {
            break false;
        }
        let want = chunk.len().min(MAX_REQUEST_BYTES - buf.len());
        let n = stream.read(&mut chunk[..want]).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(()); // connected and closed: nothing to answer
            }
            break head_end(&buf).is_some();
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let response = if head_complete {
        respond(&buf, metrics)
    } else if buf.len() >= MAX_REQUEST_BYTES {
        Response::text(
            431,
            "Request Header Fields Too Large",
            "request too large\n",
        )
    } else {
        Response::text(400, "Bad Request", "incomplete request\n")
    };
    stream.write_all(&response.bytes()).await?;
    stream.shutdown().await
}

/// Where the request head ends (after the blank line), if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some(i + 4);
    }
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    extra: &'static str,
    body: String,
    head_only: bool,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: &str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            extra: "",
            body: body.to_owned(),
            head_only: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len(),
            self.extra,
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// The answer to a complete request head.
fn respond(head: &[u8], metrics: &Metrics) -> Response {
    let text = String::from_utf8_lossy(head);
    let request_line = text.lines().next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::text(400, "Bad Request", "malformed request line\n");
    };
    if !version.starts_with("HTTP/1.") {
        return Response::text(400, "Bad Request", "only HTTP/1.x is spoken here\n");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut r = Response::text(405, "Method Not Allowed", "use GET\n");
            r.extra = "Allow: GET, HEAD\r\n";
            return r;
        }
    };
    let path = target.split(['?', '#']).next().unwrap_or("");
    let mut response = match path {
        "/metrics" => Response {
            status: 200,
            reason: "OK",
            content_type: CONTENT_TYPE,
            extra: "",
            body: metrics.render(),
            head_only: false,
        },
        "/" => Response::text(200, "OK", "mesos-maint daemon: metrics at /metrics\n"),
        _ => Response::text(404, "Not Found", "not found; metrics are at /metrics\n"),
    };
    response.head_only = head_only;
    response
}

#[cfg(test)]
mod tests;
