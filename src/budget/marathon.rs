//! The Marathon source: `GET <marathon>/v2/apps/<id>?embed=app.tasks`, one request per local
//! app (never per cluster task), with the master's credentials, bounded by the transport's
//! request timeout ([`super::REQUEST_TIMEOUT`]).

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use super::rule::{Census, Instance};
use super::SourceError;
use crate::mesos::Transport;

#[derive(Debug, Deserialize)]
struct AppDoc {
    app: App,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct App {
    instances: u32,
    health_checks: Vec<serde_json::Value>,
    tasks: Vec<AppTask>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AppTask {
    id: String,
    slave_id: String,
    state: Option<String>,
    started_at: Option<String>,
    health_check_results: Vec<HealthResult>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct HealthResult {
    alive: bool,
}

/// Asks Marathon about app `id` and reads its census at `now`.
pub async fn census(
    transport: &Transport,
    marathon: &Url,
    id: &str,
    min_uptime: Duration,
    now: SystemTime,
) -> Result<Census, SourceError> {
    let path = format!("/v2/apps/{}?embed=app.tasks", id.trim_start_matches('/'));
    let (_, body) = transport
        .get(marathon, &path, None)
        .await
        .map_err(|e| SourceError(format!("Marathon app {id}: {e}")))?;
    parse(&body, min_uptime, now).map_err(|e| SourceError(format!("Marathon app {id}: {e}")))
}

/// The census in one `/v2/apps/<id>?embed=app.tasks` answer. A task is healthy when it is
/// running, every health check result is alive (running is enough without checks), and it
/// started at least `min_uptime` before `now`.
pub fn parse(body: &[u8], min_uptime: Duration, now: SystemTime) -> Result<Census, String> {
    let doc: AppDoc =
        serde_json::from_slice(body).map_err(|e| format!("unexpected answer: {e}"))?;
    let checked = !doc.app.health_checks.is_empty();
    let instances = doc
        .app
        .tasks
        .into_iter()
        .map(|t| {
            let running = t.state.as_deref().is_none_or(|s| s == "TASK_RUNNING");
            let alive = if checked {
                !t.health_check_results.is_empty() && t.health_check_results.iter().all(|r| r.alive)
            } else {
                true
            };
            let up_long_enough = match t.started_at.as_deref() {
                Some(at) => humantime::parse_rfc3339_weak(at.trim_end_matches('Z'))
                    .or_else(|_| humantime::parse_rfc3339(at))
                    .map(|start| now.duration_since(start).unwrap_or_default() >= min_uptime)
                    .unwrap_or(false),
                // Not started yet.
                None => false,
            };
            Instance {
                task_id: t.id,
                agent_id: t.slave_id,
                healthy: running && alive && up_long_enough,
            }
        })
        .collect();
    Ok(Census {
        expected: doc.app.instances,
        instances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-12-06T12:00:00Z").unwrap()
    }

    #[test]
    fn health_state_and_uptime_decide() {
        let body = serde_json::json!({"app": {
        "id": "/prod/api", "instances": 3,
        "healthChecks": [{"protocol": "HTTP"}],
        "tasks": [
            {"id": "a", "slaveId": "S1", "host": "h1", "state": "TASK_RUNNING",
             "startedAt": "2026-12-06T11:00:00.000Z", "healthCheckResults": [{"alive": true}]},
            {"id": "b", "slaveId": "S2", "state": "TASK_RUNNING",
             "startedAt": "2026-12-06T11:59:00.000Z", "healthCheckResults": [{"alive": true}]},
            {"id": "c", "slaveId": "S3", "state": "TASK_RUNNING",
             "startedAt": "2026-12-06T11:00:00.000Z", "healthCheckResults": [{"alive": false}]},
            {"id": "d", "slaveId": "S4", "state": "TASK_RUNNING",
             "startedAt": "2026-12-06T11:00:00.000Z", "healthCheckResults": []},
            {"id": "e", "slaveId": "S5", "state": "TASK_STAGING", "healthCheckResults": [{"alive": true}]}
        ]}});
        let c = parse(body.to_string().as_bytes(), Duration::from_secs(300), now()).unwrap();
        assert_eq!(c.expected, 3);
        let healthy: Vec<_> = c
            .instances
            .iter()
            .filter(|i| i.healthy)
            .map(|i| i.task_id.as_str())
            .collect();
        assert_eq!(
            healthy,
            vec!["a"],
            "b too young, c dead, d unchecked yet, e not running"
        );
    }

    #[test]
    fn running_is_enough_without_checks() {
        let body = serde_json::json!({"app": {"instances": 1, "tasks": [
            {"id": "a", "slaveId": "S1", "state": "TASK_RUNNING", "startedAt": "2026-12-06T11:00:00.000Z"}]}});
        let c = parse(body.to_string().as_bytes(), Duration::ZERO, now()).unwrap();
        assert!(c.instances[0].healthy);
        assert!(parse(b"{}", Duration::ZERO, now()).is_err());
    }
}
