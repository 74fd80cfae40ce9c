//! The three HTTP servers (leader, follower, agent) and the `/__sim/` control API.

// Errors here are ready HTTP responses; boxing them buys nothing in a test fixture.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use crate::proto;
use crate::render;
use crate::state::calls::{self, Answer};
use crate::state::{now_ns, Link, Shared};
use crate::{AckMode, LoggedRequest, Server, SimAuth, SimConfig, TaskSpec, TaskSpecState};

// ------------------------------------------------------------------ body

/// A response body made of ready chunks, with an exact size (so `Content-Length` is set).
pub(crate) struct SimBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl SimBody {
    fn new(chunks: Vec<Bytes>) -> SimBody {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|b| !b.is_empty()).collect();
        let remaining = chunks.iter().map(|b| b.len() as u64).sum();
        SimBody { chunks, remaining }
    }
}

impl http_body::Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.chunks.pop_front() {
            Some(b) => {
                self.remaining -= b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

type Resp = Response<SimBody>;

fn resp(status: u16, ctype: Option<&str>, chunks: Vec<Bytes>) -> Resp {
    let mut r = Response::new(SimBody::new(chunks));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = ctype {
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_str(ct).expect("valid header"),
        );
    }
    r
}

/// Plain-text error, like libprocess.
fn text(status: u16, msg: impl Into<String>) -> Resp {
    resp(
        status,
        Some("text/plain; charset=utf-8"),
        vec![Bytes::from(msg.into())],
    )
}

/// `200 OK` with an empty body.
fn ok_empty() -> Resp {
    resp(200, None, vec![])
}

fn json_resp(status: u16, v: &Value) -> Resp {
    resp(
        status,
        Some("application/json"),
        vec![Bytes::from(v.to_string())],
    )
}

fn json_chunks(chunks: Vec<Bytes>) -> Resp {
    resp(200, Some("application/json"), chunks)
}

fn with_header(mut r: Resp, name: &'static str, value: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

// ------------------------------------------------------------------ servers

pub(crate) struct ServerHandle {
    token: CancellationToken,
    listener_fd: OwnedFd,
    conns: Arc<Mutex<HashMap<u64, RawFd>>>,
}

impl ServerHandle {
    /// Closes the listening socket and every open connection at once (new connections are
    /// refused from the moment this returns).
    fn stop(&self) {
        {
            let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            for fd in conns.values() {
                // SAFETY: the fd stays open while it is in the map (removed before close).
                unsafe { libc::shutdown(*fd, libc::SHUT_RDWR) };
            }
        }
        // SAFETY: our own dup of the listening socket.
        unsafe { libc::shutdown(self.listener_fd.as_raw_fd(), libc::SHUT_RDWR) };
        self.token.cancel();
    }
}

fn bind(port: u16) -> std::io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    sock.listen(1024)
}

fn spawn_server(
    sh: &Arc<Shared>,
    listener: TcpListener,
    kind: Server,
) -> std::io::Result<ServerHandle> {
    // SAFETY: dup of a valid fd; the result is owned by the OwnedFd.
    let dup = unsafe { libc::dup(listener.as_raw_fd()) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh fd we own.
    let listener_fd = unsafe { OwnedFd::from_raw_fd(dup) };
    let token = sh.shutdown.child_token();
    let conns: Arc<Mutex<HashMap<u64, RawFd>>> = Arc::default();
    sh.rt.spawn(accept_loop(
        sh.clone(),
        listener,
        kind,
        token.clone(),
        conns.clone(),
    ));
    Ok(ServerHandle {
        token,
        listener_fd,
        conns,
    })
}

async fn accept_loop(
    sh: Arc<Shared>,
    listener: TcpListener,
    kind: Server,
    token: CancellationToken,
    conns: Arc<Mutex<HashMap<u64, RawFd>>>,
) {
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = token.cancelled() => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(_) => {
                if token.is_cancelled() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        {
            let mut g = conns.lock().unwrap_or_else(|e| e.into_inner());
            if token.is_cancelled() {
                break;
            }
            g.insert(id, stream.as_raw_fd());
        }
        let _ = stream.set_nodelay(true);
        let sh = sh.clone();
        let token = token.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            let svc_sh = sh.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let sh = svc_sh.clone();
                async move { Ok::<_, Infallible>(handle(sh, kind, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = &mut conn => {}
                _ = token.cancelled() => {}
            }
            conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            // `conn` (and the socket) is dropped here, after leaving the map.
        });
    }
}

pub(crate) async fn start(cfg: SimConfig) -> anyhow::Result<Arc<Shared>> {
    use anyhow::Context as _;
    let rt = tokio::runtime::Handle::current();
    let leader = bind(cfg.master_port)
        .with_context(|| format!("binding the leader on port {}", cfg.master_port))?;
    let follower = bind(cfg.follower_port)
        .with_context(|| format!("binding the follower on port {}", cfg.follower_port))?;
    let agent = bind(cfg.agent_port)
        .with_context(|| format!("binding the agent on port {}", cfg.agent_port))?;
    let ports = (
        leader.local_addr()?.port(),
        follower.local_addr()?.port(),
        agent.local_addr()?.port(),
    );
    // Bound before anything is spawned, so a taken port fails the start cleanly.
    let mut extra_listeners = Vec::new();
    for spec in &cfg.extra_agents {
        let l = bind(spec.port)
            .with_context(|| format!("binding agent {} on port {}", spec.agent_id, spec.port))?;
        extra_listeners.push(l);
    }
    let sh = Arc::new(Shared::new(&cfg, rt.clone(), ports));
    let mut extras = Vec::new();
    for (spec, l) in cfg.extra_agents.iter().zip(extra_listeners) {
        let own = SimConfig {
            agent_id: spec.agent_id.clone(),
            hostname: spec.hostname.clone(),
            frameworks: spec.frameworks.clone(),
            stuck_operation: false,
            extra_agents: Vec::new(),
            ..cfg.clone()
        };
        let mut x = Shared::new(&own, rt.clone(), (ports.0, ports.1, l.local_addr()?.port()));
        // One clock, one shutdown and one master for every agent.
        x.started = sh.started;
        x.shutdown = sh.shutdown.child_token();
        x.agent_master_flag = sh.agent_master_flag.clone();
        let x = Arc::new(x);
        let _ = x.master.set(Arc::downgrade(&sh));
        let h = spawn_server(&x, l, Server::Agent)?;
        *x.agent_server.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
        extras.push(x);
    }
    let _ = sh.extras.set(extras);
    let hl = spawn_server(&sh, leader, Server::Leader)?;
    let hf = spawn_server(&sh, follower, Server::Follower)?;
    let ha = spawn_server(&sh, agent, Server::Agent)?;
    sh.servers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend([hl, hf]);
    *sh.agent_server.lock().unwrap_or_else(|e| e.into_inner()) = Some(ha);
    Ok(sh)
}

impl Shared {
    pub(crate) fn stop_agent_server(&self) {
        if let Some(h) = self
            .agent_server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            h.stop();
        }
    }

    pub(crate) fn start_agent_server(self: &Arc<Self>) -> std::io::Result<()> {
        let _guard = self.rt.enter();
        let mut slot = self.agent_server.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Ok(());
        }
        let l = bind(self.agent_port)?;
        *slot = Some(spawn_server(self, l, Server::Agent)?);
        Ok(())
    }

    pub(crate) fn shutdown_all(&self) {
        for h in self
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            h.stop();
        }
        self.stop_agent_server();
        for x in self.extra_agents() {
            x.stop_agent_server();
        }
        self.shutdown.cancel();
    }
}

// ------------------------------------------------------------------ requests

struct Req<'a> {
    method: String,
    path: String,
    query: Option<String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

impl Req<'_> {
    fn param(&self, key: &str) -> Option<String> {
        query_param(self.query.as_deref(), key)
    }
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    for pair in query?.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k) == key {
            return Some(decode(v));
        }
    }
    None
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn handle(sh: Arc<Shared>, kind: Server, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let path = parts.uri.path().to_owned();
    if kind == Server::Leader && path.starts_with("/__sim/") {
        return control(&sh, parts.method.as_str(), &path, parts.uri.query(), &body);
    }
    let r = Req {
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().map(str::to_owned),
        headers: &parts.headers,
        body: &body,
    };
    let response = match kind {
        Server::Leader => leader(&sh, &r).await,
        Server::Follower => follower(&sh, &r),
        Server::Agent => agent(&sh, &r).await,
    };
    let entry = LoggedRequest {
        server: kind,
        method: r.method.clone(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| r.path.clone()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: response.status().as_u16(),
        at_ms: sh.started.elapsed().as_millis() as u64,
        port: match kind {
            Server::Leader => sh.leader_port,
            Server::Follower => sh.follower_port,
            Server::Agent => sh.agent_port,
        },
    };
    // Every agent's requests go to the master's one log (one timeline).
    sh.master_state().lock().log.push(entry);
    response
}

// ------------------------------------------------------------------ auth

const MASTER_RW: &str = "mesos-master-readwrite";
const MASTER_RO: &str = "mesos-master-readonly";
const AGENT_RW: &str = "mesos-agent-readwrite";
const AGENT_RO: &str = "mesos-agent-readonly";

fn basic_ok(header: &str, principal: &str, secret: &str) -> bool {
    let parts: Vec<&str> = header.split(' ').collect();
    if parts.len() != 2 || parts[0] != "Basic" {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(parts[1]) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    // libprocess splits on every ':' and wants exactly two parts.
    let creds: Vec<&str> = decoded.split(':').collect();
    creds.len() == 2 && creds[0] == principal && creds[1] == secret
}

/// libprocess authentication (runs before any handler). `None` = allowed.
fn authenticate(sh: &Shared, headers: &HeaderMap, realm: &str) -> Option<Resp> {
    let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    match &sh.auth {
        SimAuth::None => None,
        SimAuth::Basic { principal, secret } => {
            if given.is_some_and(|h| basic_ok(h, principal, secret)) {
                None
            } else {
                Some(with_header(
                    resp(401, None, vec![]),
                    "www-authenticate",
                    &format!("Basic realm=\"{realm}\""),
                ))
            }
        }
        SimAuth::Token(t) => {
            if given == Some(format!("token={t}").as_str()) {
                None
            } else {
                Some(with_header(
                    resp(401, None, vec![]),
                    "www-authenticate",
                    "acsjwt",
                ))
            }
        }
    }
}

fn authenticate_ro(sh: &Shared, headers: &HeaderMap, realm: &str) -> Option<Resp> {
    if sh.auth_readonly {
        authenticate(sh, headers, realm)
    } else {
        None
    }
}

// ------------------------------------------------------------------ common checks

fn take(counter: &mut usize) -> bool {
    if *counter == 0 {
        return false;
    }
    if *counter != usize::MAX {
        *counter -= 1;
    }
    true
}

/// Method, Content-Type and Accept checks of `Http::api` (§1.2 steps 4–6, 9).
fn api_checks(r: &Req, streaming_ok: bool) -> Option<Resp> {
    if r.method != "POST" {
        return Some(with_header(
            text(
                405,
                format!("Expecting one of {{ 'POST' }}, but received '{}'", r.method),
            ),
            "allow",
            "POST",
        ));
    }
    let Some(ct) = r.headers.get(CONTENT_TYPE) else {
        return Some(text(400, "Expecting 'Content-Type' to be present"));
    };
    let ct = ct.to_str().unwrap_or("");
    if ct == "application/x-protobuf" || (streaming_ok && ct == "application/recordio") {
        return Some(text(
            501,
            format!("mesos-sim does not support '{ct}' request bodies"),
        ));
    }
    if ct != "application/json" {
        return Some(text(
            415,
            "Expecting 'Content-Type' of application/json or application/x-protobuf",
        ));
    }
    if let Some(a) = r.headers.get(ACCEPT) {
        let a = a.to_str().unwrap_or("");
        if !accepts(a, "application/json") {
            if accepts(a, "application/x-protobuf") {
                return Some(text(501, "mesos-sim cannot answer in protobuf"));
            }
            return Some(text(
                406,
                "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'",
            ));
        }
    }
    None
}

fn accepts(header: &str, mt: &str) -> bool {
    let (major, _) = mt.split_once('/').unwrap_or((mt, ""));
    for part in header.split(',') {
        let mut it = part.split(';');
        let t = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
            })
            .next()
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        if t == mt || t == "*/*" || t == format!("{major}/*") {
            return true;
        }
    }
    false
}

/// JSON parse + stout mapping + `type` validation. Returns (type, call).
fn parse_call(
    r: &Req,
    fields: &'static [proto::Field],
    who: &str,
) -> Result<(String, Map<String, Value>), Resp> {
    let v: Value = serde_json::from_slice(r.body)
        .map_err(|e| text(400, format!("Failed to parse body into JSON: {e}")))?;
    let call = proto::parse(fields, &v).map_err(|e| {
        text(
            400,
            format!("Failed to convert JSON into Call protobuf: {e}"),
        )
    })?;
    let Some(t) = call.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return Err(text(
            400,
            format!("Failed to validate {who}::Call: Expecting 'type' to be present"),
        ));
    };
    Ok((t, call))
}

// ------------------------------------------------------------------ leader

fn strip_master(path: &str) -> &str {
    match path.strip_prefix("/master") {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

async fn leader(sh: &Arc<Shared>, r: &Req<'_>) -> Resp {
    let rel = strip_master(&r.path);
    match rel {
        "/api/v1" => {
            if let Some(x) = authenticate(sh, r.headers, MASTER_RW) {
                return x;
            }
            master_api(sh, r).await
        }
        "/redirect" => with_header(
            resp(307, None, vec![]),
            "location",
            &format!("//127.0.0.1:{}", sh.leader_port),
        ),
        "/slaves" | "/state" | "/state.json" => {
            if let Some(x) = authenticate_ro(sh, r.headers, MASTER_RO) {
                return x;
            }
            let c = &mut *sh.lock();
            if take(&mut c.recovering) {
                return text(503, "Master has not finished recovery");
            }
            if rel == "/slaves" {
                let filter = r.param("slave_id");
                json_chunks(render::slaves(c, sh, filter.as_deref()))
            } else {
                json_chunks(render::master_state(c, sh))
            }
        }
        "/maintenance/schedule" => {
            if r.method == "POST" {
                if let Some(x) = authenticate(sh, r.headers, MASTER_RW) {
                    return x;
                }
                let v: Value = match serde_json::from_slice(r.body) {
                    Ok(v) => v,
                    Err(e) => return text(400, format!("Failed to parse body into JSON: {e}")),
                };
                match proto::parse(proto::SCHEDULE, &v) {
                    Ok(s) => answer(calls::update_schedule(sh, Value::Object(s)).await),
                    Err(e) => text(
                        400,
                        format!("Failed to convert JSON into Schedule protobuf: {e}"),
                    ),
                }
            } else {
                if let Some(x) = authenticate_ro(sh, r.headers, MASTER_RO) {
                    return x;
                }
                json_resp(200, &sh.lock().schedule)
            }
        }
        "/maintenance/status" => {
            if let Some(x) = authenticate_ro(sh, r.headers, MASTER_RO) {
                return x;
            }
            json_resp(200, &render::maintenance_status(&sh.lock()))
        }
        "/machine/down" | "/machine/up" => {
            if let Some(x) = authenticate(sh, r.headers, MASTER_RW) {
                return x;
            }
            if r.method != "POST" {
                return with_header(
                    text(
                        405,
                        format!("Expecting one of {{ 'POST' }}, but received '{}'", r.method),
                    ),
                    "allow",
                    "POST",
                );
            }
            let machines = match serde_json::from_slice::<Value>(r.body) {
                Ok(Value::Array(a)) => a,
                Ok(_) => return text(400, "Expecting a JSON array"),
                Err(e) => return text(400, format!("Failed to parse body into JSON: {e}")),
            };
            answer(calls::machine_updown(sh, machines, rel == "/machine/down").await)
        }
        "/health" => ok_empty(),
        "/version" => json_resp(
            200,
            &json!({"version": sh.style.version(), "build_user": "mesos-sim"}),
        ),
        _ => resp(404, None, vec![]),
    }
}

fn required_sub(t: &str) -> Option<&'static str> {
    Some(match t {
        "DRAIN_AGENT" => "drain_agent",
        "DEACTIVATE_AGENT" => "deactivate_agent",
        "REACTIVATE_AGENT" => "reactivate_agent",
        "MARK_AGENT_GONE" => "mark_agent_gone",
        "UPDATE_MAINTENANCE_SCHEDULE" => "update_maintenance_schedule",
        "START_MAINTENANCE" => "start_maintenance",
        "STOP_MAINTENANCE" => "stop_maintenance",
        "TEARDOWN" => "teardown",
        _ => return None,
    })
}

async fn master_api(sh: &Arc<Shared>, r: &Req<'_>) -> Resp {
    if take(&mut sh.lock().recovering) {
        return text(503, "Master has not finished recovery");
    }
    if let Some(x) = api_checks(r, false) {
        return x;
    }
    let (t, call) = match parse_call(r, proto::MASTER_CALL, "master") {
        Ok(x) => x,
        Err(x) => return x,
    };
    let sub = match required_sub(&t) {
        Some(key) => match call.get(key) {
            Some(v) => v.clone(),
            None => {
                return text(
                    400,
                    format!("Failed to validate master::Call: Expecting '{key}' to be present"),
                )
            }
        },
        None => Value::Null,
    };
    match t.as_str() {
        "GET_HEALTH" => json_resp(
            200,
            &json!({"type": "GET_HEALTH", "get_health": {"healthy": true}}),
        ),
        "GET_VERSION" => json_resp(
            200,
            &json!({"type": "GET_VERSION", "get_version": {"version_info": {"version": sh.style.version(), "build_user": "mesos-sim"}}}),
        ),
        "GET_MASTER" => json_resp(
            200,
            &json!({"type": "GET_MASTER", "get_master": {
                "master_info": render::master_info(sh),
                "start_time": (now_ns() as f64) / 1e9 - 7200.0,
                "elected_time": (now_ns() as f64) / 1e9 - 7100.0}}),
        ),
        "GET_AGENTS" => {
            let c = sh.lock();
            json_chunks(render::get_agents(&c, sh))
        }
        "GET_FRAMEWORKS" => json_resp(200, &render::master_get_frameworks(&sh.lock(), sh)),
        "GET_MAINTENANCE_SCHEDULE" => json_resp(
            200,
            &json!({"type": "GET_MAINTENANCE_SCHEDULE", "get_maintenance_schedule": {"schedule": sh.lock().schedule}}),
        ),
        "GET_MAINTENANCE_STATUS" => json_resp(
            200,
            &json!({"type": "GET_MAINTENANCE_STATUS", "get_maintenance_status": {"status": render::maintenance_status(&sh.lock())}}),
        ),
        "UPDATE_MAINTENANCE_SCHEDULE" => answer(
            calls::update_schedule(sh, sub.get("schedule").cloned().unwrap_or(json!({}))).await,
        ),
        "START_MAINTENANCE" | "STOP_MAINTENANCE" => {
            let machines = sub
                .get("machines")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            answer(calls::machine_updown(sh, machines, t == "START_MAINTENANCE").await)
        }
        "DRAIN_AGENT" => answer(calls::drain_agent(sh, &sub).await),
        "DEACTIVATE_AGENT" => answer(calls::deactivate_agent(sh, &sub).await),
        "REACTIVATE_AGENT" => answer(calls::reactivate_agent(sh, &sub).await),
        "MARK_AGENT_GONE" => answer(calls::mark_agent_gone(sh, &sub).await),
        "TEARDOWN" => {
            let id = sub
                .pointer("/framework_id/value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // A framework runs on any of the local agents: torn down on each.
            let mut found = false;
            for ag in sh.local_agents() {
                found |= ag.teardown_framework(id);
            }
            if found {
                ok_empty()
            } else {
                text(400, "No framework found with specified ID")
            }
        }
        "UNKNOWN" => resp(501, None, vec![]),
        other => text(501, format!("mesos-sim does not implement {other}")),
    }
}

/// The master's answer to a write call (`state::calls`) as an HTTP response.
fn answer(a: Answer) -> Resp {
    match a {
        Ok(()) => ok_empty(),
        Err((status, message)) => text(status, message),
    }
}

// ------------------------------------------------------------------ follower

fn follower(sh: &Shared, r: &Req) -> Resp {
    let rel = strip_master(&r.path);
    let is_redirect = rel == "/redirect" || rel.starts_with("/redirect/");
    if !is_redirect {
        let rw = rel == "/api/v1"
            || rel.starts_with("/machine/")
            || (rel == "/maintenance/schedule" && r.method == "POST");
        let denied = if rw {
            authenticate(sh, r.headers, MASTER_RW)
        } else {
            authenticate_ro(sh, r.headers, MASTER_RO)
        };
        if let Some(x) = denied {
            return x;
        }
    }
    if take(&mut sh.lock().no_leader) {
        return text(503, "No leader elected");
    }
    let base = format!("//127.0.0.1:{}", sh.leader_port);
    if is_redirect {
        return with_header(resp(307, None, vec![]), "location", &base);
    }
    // libprocess delegates unknown paths to the `master` process: `/api/v1` → `/master/api/v1`.
    let path = if r.path == "/master" || r.path.starts_with("/master/") {
        r.path.clone()
    } else {
        format!("/master{}", r.path)
    };
    let location = match &r.query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    with_header(resp(307, None, vec![]), "location", &location)
}

// ------------------------------------------------------------------ agent

async fn agent(sh: &Arc<Shared>, r: &Req<'_>) -> Resp {
    let rel = r
        .path
        .strip_prefix("/slave(1)")
        .or_else(|| r.path.strip_prefix("/slave%281%29"))
        .unwrap_or(&r.path);
    match rel {
        "/api/v1" => {
            if let Some(x) = authenticate(sh, r.headers, AGENT_RW) {
                return x;
            }
            agent_api(sh, r)
        }
        "/state" | "/state.json" => {
            if let Some(x) = authenticate_ro(sh, r.headers, AGENT_RO) {
                return x;
            }
            json_resp(200, &render::agent_state_v0(&sh.lock(), sh))
        }
        "/health" => {
            // A hung agent: hold the request until the knob is cleared (or the agent
            // restarts), the simulator stops, or two minutes pass.
            let end = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
            while sh.lock().health_hang && tokio::time::Instant::now() < end {
                tokio::select! {
                    _ = sh.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                }
            }
            ok_empty()
        }
        _ => resp(404, None, vec![]),
    }
}

fn agent_api(sh: &Arc<Shared>, r: &Req) -> Resp {
    if take(&mut sh.lock().agent_recovering) {
        return text(503, "Agent has not finished recovery");
    }
    if let Some(x) = api_checks(r, true) {
        return x;
    }
    let (t, _call) = match parse_call(r, proto::AGENT_CALL, "agent") {
        Ok(x) => x,
        Err(x) => return x,
    };
    let c = sh.lock();
    match t.as_str() {
        "GET_AGENT" => json_resp(200, &render::agent_get_agent(&c, sh)),
        "GET_TASKS" => json_resp(200, &render::agent_get_tasks(&c, sh.style)),
        "GET_OPERATIONS" => json_resp(200, &render::agent_get_operations(&c)),
        "GET_FRAMEWORKS" => json_resp(200, &render::agent_get_frameworks(&c)),
        "GET_HEALTH" => json_resp(
            200,
            &json!({"type": "GET_HEALTH", "get_health": {"healthy": true}}),
        ),
        "GET_VERSION" => json_resp(
            200,
            &json!({"type": "GET_VERSION", "get_version": {"version_info": {"version": sh.style.version(), "build_user": "mesos-sim"}}}),
        ),
        "UNKNOWN" => resp(501, None, vec![]),
        other => text(501, format!("mesos-sim does not implement {other}")),
    }
}

// ------------------------------------------------------------------ control API

#[derive(serde::Deserialize)]
struct AddTask {
    framework_id: String,
    id: String,
    name: Option<String>,
    kill_grace_ms: Option<u64>,
    state: Option<String>,
}

fn flag(query: Option<&str>, key: &str, default: bool) -> bool {
    match query_param(query, key).as_deref() {
        Some("false" | "0" | "no" | "off") => false,
        Some(_) => true,
        None => default,
    }
}

fn count_param(query: Option<&str>) -> Result<usize, Resp> {
    match query_param(query, "requests") {
        None => Ok(usize::MAX),
        Some(s) if s == "forever" => Ok(usize::MAX),
        Some(s) => s
            .parse()
            .map_err(|_| text(400, format!("bad 'requests': {s}"))),
    }
}

fn control(sh: &Arc<Shared>, method: &str, path: &str, query: Option<&str>, body: &Bytes) -> Resp {
    let ok = || json_resp(200, &json!({"ok": true}));
    let op = &path["/__sim/".len()..];
    let reads = matches!(op, "requests" | "state" | "count" | "agents");
    if !reads && method != "POST" {
        return with_header(text(405, "POST only"), "allow", "POST");
    }
    // Agent-level knobs act on the agent named by `?agent=<id or hostname>` (default: the
    // first one); the master's knobs ignore it.
    let tgt = match query_param(query, "agent") {
        Some(key) => match sh.find_agent(&key) {
            Some(a) => a,
            None => return text(404, format!("unknown agent '{key}'")),
        },
        None => sh.clone(),
    };
    let sh_master = sh;
    let sh = &tgt;
    match op {
        "agents" => json_resp(
            200,
            &serde_json::to_value(sh_master.agent_views()).unwrap_or_default(),
        ),
        "requests" => {
            let log = sh_master.lock().log.clone();
            let v: Vec<Value> = log
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                    v["call_type"] = json!(r.call_type());
                    v
                })
                .collect();
            json_resp(200, &Value::Array(v))
        }
        "count" => {
            let t = query_param(query, "type").unwrap_or_default();
            let n = sh_master
                .lock()
                .log
                .iter()
                .filter(|r| {
                    r.server != Server::Agent
                        && r.is_api_call()
                        && r.call_type().as_deref() == Some(t.as_str())
                })
                .count();
            json_resp(200, &json!({"type": t, "count": n}))
        }
        "state" => json_resp(200, &sh.state_json()),
        "reset-log" => {
            sh_master.lock().log.clear();
            ok()
        }
        "unregister" => {
            sh.unregister_agent();
            ok()
        }
        "agent/stop" => {
            let link = if flag(query, "unreachable", false) {
                Link::Unreachable
            } else {
                Link::Disconnected
            };
            sh.stop_agent(link);
            ok()
        }
        "agent/unreachable" => {
            sh.stop_agent(Link::Unreachable);
            ok()
        }
        "failover" => {
            let after = match query_param(query, "reregister_after_ms") {
                Some(ms) => match ms.parse() {
                    Ok(ms) => Some(Duration::from_millis(ms)),
                    Err(_) => return text(400, format!("bad 'reregister_after_ms': {ms}")),
                },
                None => None,
            };
            // The master fails over: every agent it knew is only "recovered" for a while.
            for ag in sh_master.local_agents() {
                ag.failover(after);
            }
            ok()
        }
        "agent/start" => {
            sh.start_agent();
            ok()
        }
        "agent/health-hang" => {
            sh.lock().health_hang = flag(query, "on", true);
            ok()
        }
        "no-leader" => match count_param(query) {
            Ok(n) => {
                sh_master.lock().no_leader = n;
                ok()
            }
            Err(x) => x,
        },
        "recovering" => match count_param(query) {
            Ok(n) => {
                sh_master.lock().recovering = n;
                ok()
            }
            Err(x) => x,
        },
        "agent-recovering" => match count_param(query) {
            Ok(n) => {
                sh.lock().agent_recovering = n;
                ok()
            }
            Err(x) => x,
        },
        "maintenance-window" => {
            sh.lock().in_window_knob = flag(query, "on", true);
            ok()
        }
        "forbid-drain" => {
            sh_master.lock().forbid_drain = flag(query, "on", true);
            ok()
        }
        "ignore-slave-id-filter" => {
            sh_master.lock().ignore_slave_id_filter = flag(query, "on", true);
            ok()
        }
        "acknowledge-all" => {
            sh.acknowledge_all();
            ok()
        }
        "stuck-operation" => {
            sh.set_stuck_operation(flag(query, "on", true));
            ok()
        }
        "teardown" => {
            let id = query_param(query, "framework_id").unwrap_or_default();
            if sh.teardown_framework(&id) {
                ok()
            } else {
                text(404, format!("unknown framework '{id}'"))
            }
        }
        "ack-mode" => {
            let id = query_param(query, "framework_id").unwrap_or_default();
            let mode = match query_param(query, "after_ms") {
                Some(ms) => match ms.parse() {
                    Ok(ms) => AckMode::After(Duration::from_millis(ms)),
                    Err(_) => return text(400, format!("bad 'after_ms': {ms}")),
                },
                None => AckMode::Never,
            };
            sh.set_ack_mode(&id, mode);
            ok()
        }
        "add-task" => {
            let a: AddTask = match serde_json::from_slice(body) {
                Ok(a) => a,
                Err(e) => return text(400, format!("bad add-task body: {e}")),
            };
            let state = match a.state.as_deref().unwrap_or("launched") {
                "launched" => TaskSpecState::Launched,
                "pending" => TaskSpecState::Pending,
                "queued" => TaskSpecState::Queued,
                "terminal_unacked" => TaskSpecState::TerminalUnacked,
                other => return text(400, format!("bad task state: {other}")),
            };
            let spec = TaskSpec {
                name: a.name.unwrap_or_else(|| a.id.clone()),
                id: a.id,
                kill_grace: Duration::from_millis(a.kill_grace_ms.unwrap_or(300)),
                state,
                labels: Vec::new(),
            };
            sh.add_task(&a.framework_id, spec);
            ok()
        }
        _ => text(404, format!("unknown control endpoint /__sim/{op}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_splits_on_every_colon() {
        let enc = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(basic_ok(&enc("ops:pw"), "ops", "pw"));
        assert!(!basic_ok(&enc("ops:pw"), "ops", "other"));
        assert!(!basic_ok(&enc("ops:a:b"), "ops", "a:b"));
        assert!(!basic_ok(
            &format!("basic {}", &enc("ops:pw")[6..]),
            "ops",
            "pw"
        ));
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts("*/*", "application/json"));
        assert!(accepts(
            "application/json;q=0.5, text/plain",
            "application/json"
        ));
        assert!(!accepts("application/json;q=0", "application/json"));
        assert!(!accepts("text/html", "application/json"));
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param(Some("a=1&slave_id=x%2Dy"), "slave_id").as_deref(),
            Some("x-y")
        );
        assert_eq!(query_param(Some("a=1"), "b"), None);
    }
}
