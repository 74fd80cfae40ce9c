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
//! mesos_maint_health_check{check="agent-api"} 0      # one series per health check
//! ```
//!
//! [`Metrics`] is shared (`Arc`) between the daemon's tasks, which update it, and [`serve`],
//! which renders it on each scrape. The metric types and the text encoding are
//! `prometheus-client`'s (its Prometheus text format 0.0.4 encoder, the format and names this
//! endpoint always had); the HTTP side is hyper's HTTP/1 server, kept small: one request per
//! connection, at most [`MAX_REQUEST_BYTES`] of request head, [`MAX_CONNECTIONS`] at once,
//! [`CONNECTION_TIMEOUT`] per connection, and the connection is closed after the answer.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE as CONTENT_TYPE_HEADER,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::drain::machine::Stage;
use crate::systemd::InhibitMode;

/// The request head read at most (hyper's smallest buffer limit); a longer one is answered 431.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Connections served at once; more are closed without an answer until one finishes.
pub const MAX_CONNECTIONS: usize = 16;
/// Time for one connection (reading the request and writing the answer).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// Distinct `kind` labels of `mesos_maint_errors_total`; further kinds count as `other`.
pub const MAX_ERROR_KINDS: usize = 32;
/// Error kinds exported from the start (at 0), so that `rate()` sees their first increment.
pub const ERROR_KINDS: &[&str] = &[
    "master", "agent", "systemd", "logind", "drain", "hook", "marker", "config", "cloud",
    "internal",
];

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabel {
    check: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// No labels: a family of these has one series or (before it is first set) none.
type NoLabels = Vec<(String, String)>;

/// The daemon's metrics. All setters take `&self`; share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The current stage (`None`: idle); its lock also orders the gauge updates.
    stage: Mutex<Option<Stage>>,
    drain_state: Family<StageLabel, Gauge>,
    tasks_left: Gauge,
    /// Empty until the first drain finishes.
    drain_duration: Family<NoLabels, Gauge<f64, AtomicU64>>,
    inhibitor_held: Family<ModeLabel, Gauge>,
    last_outcome: Mutex<Option<Outcome>>,
    outcome: Family<OutcomeLabel, Gauge>,
    /// The error kinds with a series (bounded by [`MAX_ERROR_KINDS`]).
    error_kinds: Mutex<BTreeSet<String>>,
    errors: Family<KindLabel, Counter>,
    fleet_slot_held: Gauge,
    fleet_wait: Counter<f64, AtomicU64>,
    fleet_over_budget: Counter,
    health_check: Family<CheckLabel, Gauge>,
    budget_wait: Gauge<f64, AtomicU64>,
    budget_overrides: Family<TriggerLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabel {
    trigger: String,
}

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

fn mode_name(mode: InhibitMode) -> &'static str {
    match mode {
        InhibitMode::Delay => "delay",
        InhibitMode::Block => "block",
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // prometheus-client ends every HELP with a period: the texts here leave theirs out.
        let mut registry = Registry::default();
        let up = Gauge::<i64>::default();
        up.set(1);
        registry.register("mesos_maint_up", "1 while the daemon runs", up);
        let drain_state = Family::<StageLabel, Gauge>::default();
        registry.register(
            "mesos_maint_drain_state",
            "1 for the current drain stage (Idle when no drain runs), 0 for the others",
            drain_state.clone(),
        );
        let tasks_left = Gauge::default();
        registry.register(
            "mesos_maint_tasks_left",
            "Tasks still on the agent, as last observed",
            tasks_left.clone(),
        );
        let drain_duration = Family::<NoLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "mesos_maint_drain_duration_seconds",
            "Duration of the last finished drain (absent before the first one)",
            drain_duration.clone(),
        );
        let inhibitor_held = Family::<ModeLabel, Gauge>::default();
        registry.register(
            "mesos_maint_inhibitor_held",
            "1 while the daemon holds its logind inhibitor lock of this mode",
            inhibitor_held.clone(),
        );
        let outcome = Family::<OutcomeLabel, Gauge>::default();
        registry.register(
            "mesos_maint_last_outcome",
            "1 for how the last drain ended, 0 for the other outcomes (all 0 before the first)",
            outcome.clone(),
        );
        // A counter is registered without its `_total`, which the encoder adds.
        let errors = Family::<KindLabel, Counter>::default();
        registry.register(
            "mesos_maint_errors",
            "Errors seen by the daemon, by kind",
            errors.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "mesos_maint_build_info",
            "Always 1; the version of mesos-maint in a label",
            build_info,
        );
        let fleet_slot_held = Gauge::default();
        registry.register(
            "mesos_maint_fleet_slot_held",
            "1 while a drain of this node holds a slot in the fleet's budget of nodes out",
            fleet_slot_held.clone(),
        );
        let fleet_wait = Counter::<f64, AtomicU64>::default();
        registry.register(
            "mesos_maint_fleet_wait_seconds",
            "Time drains of this node spent waiting for a fleet slot",
            fleet_wait.clone(),
        );
        let fleet_over_budget = Counter::default();
        registry.register(
            "mesos_maint_fleet_over_budget",
            "Drains that went on without a fleet slot (spot notice, OS shutdown: never refused)",
            fleet_over_budget.clone(),
        );
        let health_check = Family::<CheckLabel, Gauge>::default();
        registry.register(
            "mesos_maint_health_check",
            "1 while the node health check passes or skips, 0 while it fails or cannot run \
             (absent before the first check and while health.interval is 0)",
            health_check.clone(),
        );
        let budget_wait = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "mesos_maint_budget_wait_seconds",
            "Time the last drain of this node waited for the disruption budgets",
            budget_wait.clone(),
        );
        let budget_overrides = Family::<TriggerLabel, Counter>::default();
        registry.register(
            "mesos_maint_budget_overrides",
            "Drains that went on although the disruption budgets did not allow it (spot, shutdown, scale-in at the end of its budget, --ignore-budgets), by trigger",
            budget_overrides.clone(),
        );
        let m = Metrics {
            health_check,
            fleet_slot_held,
            fleet_wait,
            fleet_over_budget,
            budget_wait,
            budget_overrides,
            registry,
            stage: Mutex::new(None),
            drain_state,
            tasks_left,
            drain_duration,
            inhibitor_held,
            last_outcome: Mutex::new(None),
            outcome,
            error_kinds: Mutex::new(ERROR_KINDS.iter().map(|k| k.to_string()).collect()),
            errors,
        };
        // Every series that exists from the start, at its initial value.
        m.set_drain_stage(None);
        for mode in [InhibitMode::Delay, InhibitMode::Block] {
            m.set_inhibitor_held(mode, false);
        }
        for o in Outcome::ALL {
            m.outcome
                .get_or_create(&OutcomeLabel {
                    outcome: o.as_str(),
                })
                .set(0);
        }
        for kind in ERROR_KINDS {
            let _series = m.errors.get_or_create(&KindLabel {
                kind: kind.to_string(),
            });
        }
        m
    }

    /// The current drain stage; `None` when no drain runs.
    pub fn set_drain_stage(&self, stage: Option<Stage>) {
        let mut current = lock(&self.stage);
        *current = stage;
        let on = |s: Option<Stage>| i64::from(s == stage);
        self.drain_state
            .get_or_create(&StageLabel { stage: IDLE })
            .set(on(None));
        for s in Stage::all() {
            self.drain_state
                .get_or_create(&StageLabel { stage: s.name() })
                .set(on(Some(s)));
        }
    }

    /// Tasks still on the agent (as last observed).
    pub fn set_tasks_left(&self, tasks: u64) {
        self.tasks_left
            .set(i64::try_from(tasks).unwrap_or(i64::MAX));
    }

    /// Whether the daemon holds its delay or block inhibitor lock.
    pub fn set_inhibitor_held(&self, mode: InhibitMode, held: bool) {
        self.inhibitor_held
            .get_or_create(&ModeLabel {
                mode: mode_name(mode),
            })
            .set(i64::from(held));
    }

    /// A drain ended: its outcome and how long it took. Also clears the current stage.
    pub fn finish_drain(&self, outcome: Outcome, took: Duration) {
        self.drain_duration
            .get_or_create(&NoLabels::new())
            .set(took.as_secs_f64());
        {
            let mut last = lock(&self.last_outcome);
            *last = Some(outcome);
            for o in Outcome::ALL {
                self.outcome
                    .get_or_create(&OutcomeLabel {
                        outcome: o.as_str(),
                    })
                    .set(i64::from(o == outcome));
            }
        }
        self.set_drain_stage(None);
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
        {
            let mut kinds = lock(&self.error_kinds);
            if !kinds.contains(&kind) && kinds.len() >= MAX_ERROR_KINDS {
                kind = "other".into();
            }
            kinds.insert(kind.clone());
        }
        self.errors.get_or_create(&KindLabel { kind }).inc();
    }

    /// A drain holds its fleet slot (`over_budget`: none was free, it went on anyway), after
    /// waiting `waited` for it.
    pub fn fleet_slot(&self, over_budget: bool, waited: Duration) {
        self.fleet_wait.inc_by(waited.as_secs_f64());
        if over_budget {
            self.fleet_over_budget.inc();
        } else {
            self.fleet_slot_held.set(1);
        }
    }

    /// The Budget stage of a `trigger` drain passed after `waited`; `overridden`: over the
    /// budgets.
    pub fn budget(&self, trigger: &str, overridden: bool, waited: Duration) {
        self.budget_wait.set(waited.as_secs_f64());
        if overridden {
            self.budget_overrides
                .get_or_create(&TriggerLabel {
                    trigger: trigger.to_string(),
                })
                .inc();
        }
    }

    /// The fleet slot was given back (or this node holds none).
    pub fn fleet_slot_released(&self) {
        self.fleet_slot_held.set(0);
    }

    /// The last result of one node health check (`None`: the checks are off, every series
    /// goes, so an alert on 0 does not fire on a value that is no longer measured).
    pub fn set_health_check(&self, check: Option<(&'static str, bool)>) {
        match check {
            Some((check, healthy)) => {
                self.health_check
                    .get_or_create(&CheckLabel { check })
                    .set(i64::from(healthy));
            }
            None => self.health_check.clear(),
        }
    }

    /// The current drain stage.
    pub fn drain_stage(&self) -> Option<Stage> {
        *lock(&self.stage)
    }

    /// How many errors of `kind` were counted.
    pub fn errors(&self, kind: &str) -> u64 {
        self.errors
            .get(&KindLabel {
                kind: kind.to_string(),
            })
            .map_or(0, |c| c.get())
    }

    /// The exposition text (Prometheus text format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
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
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = answer(&req, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            // One request per connection: a scrape every few seconds needs no keep-alive, and
            // the connection slot is free again as soon as the answer is written.
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .title_case_headers(true)
                .max_buf_size(MAX_REQUEST_BYTES)
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(timeout, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("metrics: connection from {peer}: {e}"),
                Err(_) => tracing::debug!("metrics: connection from {peer} timed out"),
            }
        });
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE_HEADER,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The answer to one request (hyper leaves the body out for HEAD).
fn answer(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let mut response = if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else {
        match req.uri().path() {
            "/metrics" => {
                let mut r = Response::new(Full::new(Bytes::from(metrics.render())));
                r.headers_mut()
                    .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
                r
            }
            "/" => text(StatusCode::OK, "mesos-maint daemon: metrics at /metrics\n"),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found; metrics are at /metrics\n",
            ),
        }
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests;
