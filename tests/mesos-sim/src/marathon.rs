//! A fake Marathon, shaped after its REST API (`GET /v2/apps/{appId}?embed=app.tasks`, the
//! app's `instances`, `healthChecks` and `labels`; each task's `id`, `appId`, `slaveId`, `host`,
//! `state`, `startedAt`, `stagedAt` and `healthCheckResults` with `alive`), for the disruption
//! budgets' tests (Marathon itself cannot run here).
//!
//! - An unknown app is 404 `{"message": "App '/x' does not exist"}`.
//! - With credentials configured, a request without them (or with others) is 401.
//! - Switches: [`FakeMarathon::set_down`] (every request answers 503), [`FakeMarathon::set_hang`]
//!   (requests are accepted and never answered).
//! - Every request is recorded (path, query, status), so tests count requests per app.
//!
//! [`task_id`] gives Marathon-shaped task ids (`prod_api.instance-<uuid>._app.1`), which the
//! simulator's Mesos tasks use too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::fake_http::{authorized, serve, Req, Server};
use crate::SimAuth;

/// One instance of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarathonTask {
    pub id: String,
    pub agent_id: String,
    pub host: String,
    /// `TASK_RUNNING`, `TASK_STAGING`, ...
    pub state: String,
    pub started_at: SystemTime,
    /// The health check result (`None`: no result yet); ignored when the app has no checks.
    pub alive: Option<bool>,
}

impl MarathonTask {
    /// A task running and healthy since `up_for`.
    pub fn running(id: &str, agent_id: &str, up_for: Duration) -> MarathonTask {
        MarathonTask {
            id: id.into(),
            agent_id: agent_id.into(),
            host: format!("{agent_id}.sim.local"),
            state: "TASK_RUNNING".into(),
            started_at: SystemTime::now() - up_for,
            alive: Some(true),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarathonApp {
    pub id: String,
    pub instances: u32,
    pub health_checks: bool,
    pub labels: Vec<(String, String)>,
    pub tasks: Vec<MarathonTask>,
}

impl MarathonApp {
    pub fn new(id: &str, instances: u32) -> MarathonApp {
        MarathonApp {
            id: id.into(),
            instances,
            health_checks: true,
            labels: Vec::new(),
            tasks: Vec::new(),
        }
    }
}

/// One request the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarathonRequest {
    pub path: String,
    pub query: String,
    pub status: u16,
    /// When it was answered, since the fake started.
    pub at: Duration,
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeMap<String, MarathonApp>,
    auth: SimAuth,
    down: bool,
    hang: bool,
    log: Vec<MarathonRequest>,
}

/// The fake; stops when dropped.
pub struct FakeMarathon {
    state: Arc<Mutex<State>>,
    server: Server,
}

static UUIDS: AtomicU64 = AtomicU64::new(1);

/// A Marathon task id of app `app_id` (`/prod/api` gives `prod_api.instance-<uuid>._app.1`).
pub fn task_id(app_id: &str) -> String {
    let n = UUIDS.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}.instance-{:08x}-{:04x}-11ee-9b5f-{:012x}._app.1",
        app_id.trim_start_matches('/').replace('/', "_"),
        nanos,
        n & 0xffff,
        n
    )
}

impl FakeMarathon {
    /// Requests must carry `auth`'s credentials (`SimAuth::None`: none needed).
    pub async fn start(auth: SimAuth) -> FakeMarathon {
        let state = Arc::new(Mutex::new(State {
            auth,
            ..State::default()
        }));
        let started = std::time::Instant::now();
        let s = state.clone();
        let server = serve(Arc::new(move |req: &Req| {
            let mut st = s.lock().unwrap_or_else(|p| p.into_inner());
            let answer = handle(&st, req);
            st.log.push(MarathonRequest {
                path: req.path.clone(),
                query: req.query.clone(),
                status: answer.as_ref().map_or(0, |a| a.0),
                at: started.elapsed(),
            });
            answer
        }))
        .await
        .expect("bind the fake Marathon on loopback");
        FakeMarathon { state, server }
    }

    /// `http://127.0.0.1:<port>`, for `budget.marathon`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces an app.
    pub fn put_app(&self, app: MarathonApp) {
        self.lock().apps.insert(app.id.clone(), app);
    }

    /// Adds a task to an app (a replacement instance, say).
    pub fn add_task(&self, app_id: &str, task: MarathonTask) {
        if let Some(a) = self.lock().apps.get_mut(app_id) {
            a.tasks.push(task);
        }
    }

    /// Removes a task from an app (it was killed).
    pub fn remove_task(&self, app_id: &str, task_id: &str) {
        if let Some(a) = self.lock().apps.get_mut(app_id) {
            a.tasks.retain(|t| t.id != task_id);
        }
    }

    /// Sets a task's health check result.
    pub fn set_alive(&self, app_id: &str, task_id: &str, alive: bool) {
        if let Some(a) = self.lock().apps.get_mut(app_id) {
            for t in a.tasks.iter_mut().filter(|t| t.id == task_id) {
                t.alive = Some(alive);
            }
        }
    }

    pub fn app(&self, app_id: &str) -> Option<MarathonApp> {
        self.lock().apps.get(app_id).cloned()
    }

    /// Every request answers 503 (Marathon down or leaderless).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Requests are accepted and never answered.
    pub fn set_hang(&self, hang: bool) {
        self.lock().hang = hang;
    }

    pub fn requests(&self) -> Vec<MarathonRequest> {
        self.lock().log.clone()
    }

    /// Requests for one app (`/v2/apps/<id>`).
    pub fn app_requests(&self, app_id: &str) -> usize {
        let path = format!("/v2/apps{app_id}");
        self.lock().log.iter().filter(|r| r.path == path).count()
    }
}

fn handle(st: &State, req: &Req) -> Option<(u16, String)> {
    if st.hang {
        return None;
    }
    if !authorized(&st.auth, req.authorization.as_deref()) {
        return Some((
            401,
            json!({"message": "Invalid username or password."}).to_string(),
        ));
    }
    if st.down {
        return Some((
            503,
            json!({"message": "Could not determine the current leader"}).to_string(),
        ));
    }
    if req.method != "GET" {
        return Some((
            405,
            json!({"message": "HTTP 405 Method Not Allowed"}).to_string(),
        ));
    }
    let Some(id) = req.path.strip_prefix("/v2/apps") else {
        return Some((404, json!({"message": "Not found"}).to_string()));
    };
    match st.apps.get(id) {
        None => Some((
            404,
            json!({"message": format!("App '{id}' does not exist")}).to_string(),
        )),
        Some(app) => {
            let embed_tasks = req.query.split('&').any(|p| p == "embed=app.tasks");
            Some((200, json!({ "app": render(app, embed_tasks) }).to_string()))
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Marathon writes milliseconds and a Z.
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn render(app: &MarathonApp, embed_tasks: bool) -> Value {
    let labels: serde_json::Map<String, Value> = app
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let checks: Vec<Value> = if app.health_checks {
        vec![
            json!({"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
                    "gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
                    "maxConsecutiveFailures": 3}),
        ]
    } else {
        Vec::new()
    };
    let running = app
        .tasks
        .iter()
        .filter(|t| t.state == "TASK_RUNNING")
        .count();
    let mut v = json!({
        "id": app.id,
        "cmd": "sleep 3600",
        "instances": app.instances,
        "cpus": 0.1,
        "mem": 32,
        "labels": labels,
        "healthChecks": checks,
        "tasksRunning": running,
        "tasksStaged": app.tasks.len() - running,
        "version": "2026-12-01T00:00:00.000Z",
    });
    if embed_tasks {
        let tasks: Vec<Value> = app
            .tasks
            .iter()
            .map(|t| {
                let results: Vec<Value> = match (app.health_checks, t.alive) {
                    (true, Some(alive)) => vec![json!({
                        "alive": alive,
                        "consecutiveFailures": if alive { 0 } else { 3 },
                        "firstSuccess": rfc3339(t.started_at),
                        "lastSuccess": rfc3339(SystemTime::now()),
                        "taskId": t.id,
                        "instanceId": t.id.replace("._app.1", ""),
                    })],
                    _ => Vec::new(),
                };
                json!({
                    "id": t.id,
                    "appId": app.id,
                    "slaveId": t.agent_id,
                    "host": t.host,
                    "state": t.state,
                    "stagedAt": rfc3339(t.started_at - Duration::from_secs(2)),
                    "startedAt": rfc3339(t.started_at),
                    "version": "2026-12-01T00:00:00.000Z",
                    "ports": [31000],
                    "healthCheckResults": results,
                })
            })
            .collect();
        v["tasks"] = Value::Array(tasks);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_have_marathon_shapes() {
        let id = task_id("/prod/api");
        assert!(
            id.starts_with("prod_api.instance-") && id.ends_with("._app.1"),
            "{id}"
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_780_000_000)),
            "2026-05-28T20:26:40.000Z"
        );
    }
}
