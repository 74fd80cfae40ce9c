use serde_json::json;

use super::*;
use crate::mesos::testutil::{fast_settings, Canned, TestServer};

fn client(base: &Url) -> AgentClient {
    AgentClient::new(
        Arc::new(Transport::new(fast_settings()).unwrap()),
        base.clone(),
    )
}

fn task(id: &str, fw: &str, state: &str) -> serde_json::Value {
    json!({"name": format!("n-{id}"), "task_id": {"value": id}, "framework_id": {"value": fw},
           "executor_id": {"value": "e"}, "agent_id": {"value": "S1"}, "state": state,
           "resources": [], "statuses": [{"state": state, "uuid": "0RC72iyRTQefoUL0ClcL0g==",
           "timestamp": 1566970849.683}], "status_update_state": state,
           "status_update_uuid": "0RC72iyRTQefoUL0ClcL0g==", "a_new_field": {"x": 1}})
}

/// Answers each v1 call by `type`; `/state` for GET.
async fn agent_server(answers: serde_json::Value) -> TestServer {
    TestServer::start(move |_, r| {
        if r.method == "GET" {
            return Canned::json(&answers["/state"]);
        }
        let kind = r.json()["type"].as_str().unwrap_or_default().to_string();
        match answers.get(&kind) {
            Some(a) => Canned::json(a),
            None => Canned::new(400, "Failed to validate agent::Call"),
        }
    })
    .await
}

#[tokio::test]
async fn get_agent() {
    let srv = agent_server(json!({"GET_AGENT": {"type":"GET_AGENT","get_agent":{
        "agent_info":{"hostname":"10.0.1.5","port":5051,"id":{"value":"S1"},"resources":[]},
        "drain_config":{"mark_gone":false}}}}))
    .await;
    let info = client(&srv.url).get_agent().await.unwrap();
    assert_eq!(
        info,
        AgentInfo {
            id: Some("S1".into()),
            hostname: "10.0.1.5".into(),
            port: Some(5051)
        }
    );
    let r = &srv.requests()[0];
    assert_eq!(r.json(), json!({"type":"GET_AGENT"}));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn get_agent_before_registration_and_odd_answers() {
    let srv = agent_server(
        json!({"GET_AGENT": {"type":"GET_AGENT","get_agent":{"agent_info":{"hostname":"h"}}}}),
    )
    .await;
    let info = client(&srv.url).get_agent().await.unwrap();
    assert_eq!(
        info,
        AgentInfo {
            id: None,
            hostname: "h".into(),
            port: None
        }
    );

    let srv = agent_server(json!({"GET_AGENT": {"type":"GET_AGENT"}})).await;
    let err = client(&srv.url).get_agent().await.unwrap_err();
    assert!(matches!(err, MesosError::Decode { .. }), "{err}");

    let srv = TestServer::fixed(Canned::new(200, "<html>proxy error</html>")).await;
    let err = client(&srv.url).get_agent().await.unwrap_err();
    assert!(matches!(err, MesosError::Decode { .. }), "{err}");

    let srv = agent_server(
        json!({"GET_AGENT": {"get_agent":{"agent_info":{"hostname":"h","port":70000}}}}),
    )
    .await;
    assert!(matches!(
        client(&srv.url).get_agent().await,
        Err(MesosError::Decode { .. })
    ));
}

#[tokio::test]
async fn get_tasks_1_11_style() {
    let srv = agent_server(json!({"GET_TASKS": {"type":"GET_TASKS","get_tasks":{
        "pending_tasks":[task("p1","F1","TASK_STAGING")],
        "queued_tasks":[],
        "launched_tasks":[task("l1","F1","TASK_RUNNING"), task("l2","F2","TASK_KILLING")],
        "terminated_tasks":[task("t1","F2","TASK_KILLED")],
        "completed_tasks":[task("c1","F1","TASK_FINISHED"), task("c2","F1","TASK_FINISHED")]}}}))
    .await;
    let b = client(&srv.url).get_tasks().await.unwrap();
    assert_eq!(b.live_count(), 4);
    assert!(!b.is_empty());
    assert_eq!(b.pending[0].state, "TASK_STAGING");
    assert_eq!(
        b.terminated[0],
        Task {
            task_id: "t1".into(),
            framework_id: "F2".into(),
            name: "n-t1".into(),
            state: "TASK_KILLED".into(),
            status_update_state: Some("TASK_KILLED".into()),
            labels: Vec::new(),
        }
    );
}

#[tokio::test]
async fn get_tasks_1_9_style_empty() {
    let srv = agent_server(json!({"GET_TASKS": {"type":"GET_TASKS","get_tasks":{}}})).await;
    let b = client(&srv.url).get_tasks().await.unwrap();
    assert!(b.is_empty());
    assert_eq!(b, TaskBuckets::default());
    // Only completed tasks: still empty for draining purposes.
    let srv = agent_server(json!({"GET_TASKS": {"type":"GET_TASKS","get_tasks":{
        "completed_tasks":[task("c1","F1","TASK_FINISHED")]}}}))
    .await;
    assert!(client(&srv.url).get_tasks().await.unwrap().is_empty());
}

#[tokio::test]
async fn get_operations() {
    let srv =
        agent_server(json!({"GET_OPERATIONS": {"type":"GET_OPERATIONS","get_operations":{}}}))
            .await;
    assert!(client(&srv.url).get_operations().await.unwrap().is_empty());

    let srv = agent_server(json!({"GET_OPERATIONS": {"type":"GET_OPERATIONS","get_operations":{"operations":[
        {"framework_id":{"value":"F1"},"info":{"type":"CREATE_DISK","id":{"value":"op-1"}},
         "latest_status":{"state":"OPERATION_PENDING","uuid":{"value":"q83vEjRWeJCrze8SNFZ4kA=="}},
         "uuid":{"value":"AAECAwQFBgcICQoLDA0ODw=="}},
        {"info":{"type":"RESERVE"},"latest_status":{"operation_id":{"value":"op-2"},"state":"OPERATION_FINISHED"}},
        {"uuid":{"value":"AAECAwQFBgcICQoLDA0ODw=="}}
    ]}}}))
    .await;
    let ops = client(&srv.url).get_operations().await.unwrap();
    assert_eq!(
        ops[0],
        Operation {
            id: Some("op-1".into()),
            framework_id: Some("F1".into()),
            kind: Some("CREATE_DISK".into()),
            state: Some("OPERATION_PENDING".into()),
        }
    );
    assert!(!ops[0].is_terminal());
    assert_eq!(ops[1].id.as_deref(), Some("op-2"));
    assert!(ops[1].is_terminal());
    assert_eq!(ops[2].id.as_deref(), Some("AAECAwQFBgcICQoLDA0ODw=="));
    assert!(!ops[2].is_terminal());
}

#[test]
fn operation_terminal_states() {
    let op = |s: Option<&str>| Operation {
        id: None,
        framework_id: None,
        kind: None,
        state: s.map(String::from),
    };
    for s in [
        "OPERATION_FINISHED",
        "OPERATION_FAILED",
        "OPERATION_ERROR",
        "OPERATION_DROPPED",
        "OPERATION_GONE_BY_OPERATOR",
    ] {
        assert!(op(Some(s)).is_terminal(), "{s}");
    }
    for s in [
        "OPERATION_PENDING",
        "OPERATION_UNREACHABLE",
        "OPERATION_RECOVERING",
        "OPERATION_UNKNOWN",
        "OPERATION_UNSUPPORTED",
        "FINISHED",
        "OPERATION_SOMETHING_NEW",
    ] {
        assert!(!op(Some(s)).is_terminal(), "{s}");
    }
    assert!(!op(None).is_terminal());
}

#[tokio::test]
async fn get_frameworks() {
    let srv = agent_server(json!({"GET_FRAMEWORKS": {"type":"GET_FRAMEWORKS","get_frameworks":{
        "frameworks":[{"framework_info":{"id":{"value":"F1"},"name":"marathon","user":"root","roles":["*"]}}],
        "completed_frameworks":[{"framework_info":{"id":{"value":"F2"},"name":"spark"}},
                                {"framework_info":{"name":"no id yet"}}]}}}))
    .await;
    let f = client(&srv.url).get_frameworks().await.unwrap();
    assert_eq!(
        f,
        [
            FrameworkName {
                id: "F1".into(),
                name: "marathon".into()
            },
            FrameworkName {
                id: "F2".into(),
                name: "spark".into()
            }
        ]
    );
    let srv =
        agent_server(json!({"GET_FRAMEWORKS": {"type":"GET_FRAMEWORKS","get_frameworks":{}}}))
            .await;
    assert!(client(&srv.url).get_frameworks().await.unwrap().is_empty());
}

#[tokio::test]
async fn v0_state() {
    let srv = agent_server(
        json!({"/state": {"id":"S1","pid":"slave(1)@10.0.1.5:5051","hostname":"10.0.1.5",
        "master_hostname":"10.0.4.125","flags":{"master":"zk://zk-1.zk:2181/mesos","work_dir":"/var/lib/mesos/slave"},
        "frameworks":[{"executors":[{"tasks":[{"id":"t"}]}]}]}}),
    )
    .await;
    let s = client(&srv.url).state().await.unwrap();
    assert_eq!(
        s,
        AgentState {
            id: Some("S1".into()),
            hostname: Some("10.0.1.5".into()),
            pid: Some("slave(1)@10.0.1.5:5051".into()),
            master_hostname: Some("10.0.4.125".into()),
            master_flag: Some("zk://zk-1.zk:2181/mesos".into()),
            work_dir: Some("/var/lib/mesos/slave".into()),
        }
    );
    let r = &srv.requests()[0];
    assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/state"));
}

#[tokio::test]
async fn recovering_agent_is_retried() {
    let srv = TestServer::start(|n, _| {
        if n == 0 {
            Canned::new(503, "Agent has not finished recovery")
        } else {
            Canned::json(&json!({"type":"GET_TASKS","get_tasks":{}}))
        }
    })
    .await;
    assert!(client(&srv.url).get_tasks().await.unwrap().is_empty());
    assert_eq!(srv.requests().len(), 2);
}
