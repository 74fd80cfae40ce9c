//! The DC/OS SDK source: `GET <url>/v1/health` must answer exactly 200 (202-208: a plan is in
//! progress, which holds the drain), then `GET <url>/v1/pod/status` gives the pods and their
//! tasks' states. A 5xx or no answer is "cannot be asked".

use serde::Deserialize;
use url::Url;

use super::rule::{Census, Instance};
use super::SourceError;
use crate::mesos::Transport;

/// What the scheduler said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkAnswer {
    Census(Census),
    /// `/v1/health` answered this 2xx other than 200: a deployment or recovery plan runs.
    PlanInProgress(u16),
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct PodStatus {
    pods: Vec<Pod>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Pod {
    instances: Vec<PodInstance>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct PodInstance {
    name: String,
    tasks: Vec<PodTask>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct PodTask {
    id: String,
    status: String,
}

pub async fn census(
    transport: &Transport,
    url: &Url,
    name: &str,
) -> Result<SdkAnswer, SourceError> {
    let err = |e: String| SourceError(format!("SDK service {name}: {e}"));
    let (status, _) = transport
        .get_with_status(url, "/v1/health")
        .await
        .map_err(|e| err(e.to_string()))?;
    if status != 200 {
        return Ok(SdkAnswer::PlanInProgress(status));
    }
    let (_, body) = transport
        .get(url, "/v1/pod/status", None)
        .await
        .map_err(|e| err(e.to_string()))?;
    parse(&body).map(SdkAnswer::Census).map_err(err)
}

/// One instance per pod instance, healthy when every task of it is RUNNING; its task ids are
/// those of its tasks joined (so that a local task id finds it). The scheduler does not say the
/// agent: a pod on an agent that is out has its tasks killed, which shows in their states.
pub fn parse(body: &[u8]) -> Result<Census, String> {
    let doc: PodStatus = serde_json::from_slice(body)
        .map_err(|e| format!("unexpected /v1/pod/status answer: {e}"))?;
    let instances: Vec<Instance> = doc
        .pods
        .into_iter()
        .flat_map(|p| p.instances)
        .map(|i| Instance {
            task_id: i
                .tasks
                .first()
                .map_or_else(|| i.name.clone(), |t| t.id.clone()),
            agent_id: String::new(),
            healthy: !i.tasks.is_empty() && i.tasks.iter().all(|t| t.status == "RUNNING"),
        })
        .collect();
    Ok(Census {
        expected: instances.len() as u32,
        instances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_and_their_tasks() {
        let body = serde_json::json!({"service": "kafka", "pods": [{"name": "kafka", "instances": [
            {"name": "kafka-0", "tasks": [{"name": "kafka-0-broker", "id": "kafka-0-broker__1", "status": "RUNNING"}]},
            {"name": "kafka-1", "tasks": [{"name": "kafka-1-broker", "id": "kafka-1-broker__1", "status": "STARTING"}]},
            {"name": "kafka-2", "tasks": [{"name": "kafka-2-broker", "id": "kafka-2-broker__1", "status": "RUNNING"}]}
        ]}]});
        let c = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(c.expected, 3);
        assert_eq!(c.instances.iter().filter(|i| i.healthy).count(), 2);
        assert_eq!(c.instances[0].task_id, "kafka-0-broker__1");
        assert!(parse(b"[1]").is_err());
    }
}
