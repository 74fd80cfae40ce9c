//! A fake DC/OS SDK scheduler (dcos-commons): `GET /v1/health` answers 200 when every plan is
//! complete, 202 while a plan is in progress (or whatever the test sets, 500 for a broken
//! scheduler), and `GET /v1/pod/status` lists the pods, their instances and their tasks'
//! states (`{"service", "pods":[{"name", "instances":[{"name", "tasks":[{"name", "id",
//! "status"}]}]}]}`).

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::fake_http::{serve, Req, Server};

/// One pod instance with one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInstance {
    /// `kafka-0`
    pub name: String,
    /// The task's Mesos id (`kafka-0-broker__<uuid>`).
    pub task_id: String,
    /// `RUNNING`, `STARTING`, ...
    pub status: String,
}

#[derive(Debug, Default)]
struct State {
    service: String,
    pod: String,
    health: u16,
    instances: Vec<PodInstance>,
    log: Vec<(String, u16)>,
}

pub struct FakeSdk {
    state: Arc<Mutex<State>>,
    server: Server,
}

impl FakeSdk {
    /// A service `service` whose pod type `pod` has these instances; `/v1/health` answers 200.
    pub async fn start(service: &str, pod: &str, instances: Vec<PodInstance>) -> FakeSdk {
        let state = Arc::new(Mutex::new(State {
            service: service.into(),
            pod: pod.into(),
            health: 200,
            instances,
            log: Vec::new(),
        }));
        let s = state.clone();
        let server = serve(Arc::new(move |req: &Req| {
            let mut st = s.lock().unwrap_or_else(|p| p.into_inner());
            let (status, body) = match req.path.as_str() {
                "/v1/health" => (st.health, String::new()),
                "/v1/pod/status" => (200, pod_status(&st)),
                _ => (404, json!({"message": "not found"}).to_string()),
            };
            st.log.push((req.path.clone(), status));
            Some((status, body))
        }))
        .await
        .expect("bind the fake SDK scheduler on loopback");
        FakeSdk { state, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `/v1/health` answers: 200 (plans complete), 202 (in progress), 500, ...
    pub fn set_health(&self, status: u16) {
        self.lock().health = status;
    }

    pub fn set_status(&self, instance: &str, status: &str) {
        for i in self
            .lock()
            .instances
            .iter_mut()
            .filter(|i| i.name == instance)
        {
            i.status = status.into();
        }
    }

    /// `(path, status)` of every request.
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.lock().log.clone()
    }
}

fn pod_status(st: &State) -> String {
    let instances: Vec<_> = st
        .instances
        .iter()
        .map(|i| {
            json!({"name": i.name, "tasks": [{
                "name": format!("{}-broker", i.name), "id": i.task_id, "status": i.status}]})
        })
        .collect();
    json!({"service": st.service, "pods": [{"name": st.pod, "instances": instances}]}).to_string()
}
