use serde_json::json;

use super::*;
use crate::mesos::testutil::{fast_settings, Canned, Recorded, TestServer};
use crate::mesos::transport::{Auth, TransportSettings};
use crate::mesos::types::DrainState;

fn client(base: &Url) -> MasterClient {
    let t = Transport::new(fast_settings()).unwrap();
    MasterClient::new(Arc::new(t), base.clone())
}

fn slave_v0(id: &str, drain: Option<&str>) -> serde_json::Value {
    let mut s = json!({
        "id": id, "hostname": "10.0.1.5", "port": 5051, "attributes": {},
        "pid": "slave(1)@10.0.1.5:5051", "registered_time": 1566970849.68,
        "resources": {"cpus": 4, "mem": 1024, "ports": "[31000-32000]"},
        "active": drain.is_none(), "deactivated": drain.is_some(), "version": "1.11.0",
        "capabilities": ["MULTI_ROLE", "AGENT_DRAINING"]
    });
    if let Some(state) = drain {
        s["drain_info"] = json!({"state": state, "config": {"max_grace_period": {"nanoseconds": 90_500_000_000i64}, "mark_gone": false}});
        s["estimated_drain_start_time_seconds"] = json!(1566970849.0);
    }
    s
}

fn get_agents_with(id: &str) -> String {
    json!({"type":"GET_AGENTS","get_agents":{"agents":[
        {"agent_info":{"hostname":"h1","port":5051,"id":{"value":"other"}},"active":true,"deactivated":false},
        {"agent_info":{"hostname":"h2","port":5051,"id":{"value":id}},"active":false,"deactivated":true,
         "pid":"slave(1)@10.0.0.2:5051","drain_info":{"state":"DRAINED","config":{"mark_gone":false}}}
    ],"recovered_agents":[]}})
    .to_string()
}

fn is_get_agents(r: &Recorded) -> bool {
    r.method == "POST" && r.target == "/api/v1" && r.json() == json!({"type":"GET_AGENTS"})
}

#[tokio::test]
async fn filtered_lookup_registered_with_drain_info() {
    let srv = TestServer::fixed(Canned::json(
        &json!({"slaves": [slave_v0("abc-S3", Some("DRAINING"))], "recovered_slaves": []}),
    ))
    .await;
    let m = client(&srv.url);
    let found = m.agent("abc-S3").await.unwrap();
    assert_eq!(
        found,
        AgentLookup::Registered(MasterAgent {
            id: "abc-S3".into(),
            hostname: "10.0.1.5".into(),
            pid: Some("slave(1)@10.0.1.5:5051".into()),
            active: false,
            deactivated: true,
            drain: Some(DrainInfo {
                state: DrainState::Draining,
                mark_gone: false,
                max_grace_period_ns: Some(90_500_000_000),
            }),
        })
    );
    let r = &srv.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/master/slaves?slave_id=abc-S3");
    assert_eq!(m.requests_sent(), 1);
}

#[tokio::test]
async fn filtered_lookup_encodes_the_id() {
    let srv = TestServer::fixed(Canned::json(&json!({"slaves": []}))).await;
    let m = client(&srv.url);
    assert_eq!(m.agent("a&b=c/d").await.unwrap(), AgentLookup::Absent);
    assert_eq!(
        srv.requests()[0].target,
        "/master/slaves?slave_id=a%26b%3Dc%2Fd"
    );
}

#[tokio::test]
async fn filtered_lookup_recovered_and_absent() {
    let srv = TestServer::fixed(Canned::json(
        &json!({"slaves": [], "recovered_slaves": [{"id": {"value": "R1"}, "hostname": "h"}]}),
    ))
    .await;
    assert_eq!(
        client(&srv.url).agent("R1").await.unwrap(),
        AgentLookup::Recovered
    );
    // Mesos 1.9: empty arrays left out altogether.
    let srv = TestServer::fixed(Canned::json(&json!({}))).await;
    assert_eq!(
        client(&srv.url).agent("S1").await.unwrap(),
        AgentLookup::Absent
    );
}

#[tokio::test]
async fn foreign_id_switches_to_get_agents_for_good() {
    let srv = TestServer::start(|_, r| {
        if is_get_agents(r) {
            Canned::new(200, get_agents_with("S2"))
        } else {
            // Ignores the filter: every agent comes back.
            Canned::json(
                &json!({"slaves": [slave_v0("S1", None), slave_v0("S2", Some("DRAINED"))]}),
            )
        }
    })
    .await;
    let m = client(&srv.url);
    for _ in 0..2 {
        match m.agent("S2").await.unwrap() {
            AgentLookup::Registered(a) => {
                assert_eq!(a.hostname, "h2");
                assert_eq!(a.drain.unwrap().state, DrainState::Drained);
            }
            other => panic!("{other:?}"),
        }
    }
    let reqs = srv.requests();
    let targets: Vec<_> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("GET", "/master/slaves?slave_id=S2"),
            ("POST", "/api/v1"),
            ("POST", "/api/v1")
        ]
    );
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn missing_endpoint_or_oversized_answer_falls_back() {
    let srv = TestServer::start(|_, r| {
        if is_get_agents(r) {
            Canned::new(200, get_agents_with("S2"))
        } else {
            Canned::new(404, "")
        }
    })
    .await;
    assert!(matches!(
        client(&srv.url).agent("S2").await.unwrap(),
        AgentLookup::Registered(_)
    ));

    let srv = TestServer::start(|_, r| {
        if is_get_agents(r) {
            Canned::new(200, get_agents_with("S2"))
        } else {
            Canned::new(200, vec![b' '; 2000])
        }
    })
    .await;
    let mut s = fast_settings();
    s.max_body_bytes = 1000;
    let m = MasterClient::new(Arc::new(Transport::new(s).unwrap()), srv.url.clone());
    assert!(matches!(
        m.agent("S2").await.unwrap(),
        AgentLookup::Registered(_)
    ));
}

#[tokio::test]
async fn get_agents_lookup_errors() {
    let srv = TestServer::fixed(Canned::new(
        200,
        r#"{"type":"GET_AGENTS","get_agents":{"agents":[{"#,
    ))
    .await;
    let err = client(&srv.url)
        .agent_via_get_agents("S1")
        .await
        .unwrap_err();
    assert!(matches!(err, MesosError::Decode { .. }), "{err}");
    let srv = TestServer::fixed(Canned::new(200, r#"{"type":"GET_AGENTS","get_agents":{}}"#)).await;
    assert_eq!(
        client(&srv.url).agent_via_get_agents("S1").await.unwrap(),
        AgentLookup::Absent
    );
}

#[tokio::test]
async fn follows_the_leader_after_a_redirect() {
    let leader = TestServer::start(|_, r| {
        if r.method == "GET" {
            Canned::json(&json!({"slaves": [slave_v0("S1", Some("DRAINED"))]}))
        } else {
            Canned::new(200, "")
        }
    })
    .await;
    let port = leader.port();
    let follower = TestServer::start(move |_, r| {
        // Mesos rewrites /api/v1 to /master/api/v1 before building the Location.
        let path = if r.target == "/api/v1" {
            "/master/api/v1".to_string()
        } else {
            r.target.clone()
        };
        Canned::redirect(307, &format!("//127.0.0.1:{port}{path}"))
    })
    .await;
    let t = Transport::new(TransportSettings {
        auth: Auth::Token("tok".into()),
        ..fast_settings()
    })
    .unwrap();
    let m = MasterClient::new(Arc::new(t), follower.url.clone());
    assert_eq!(m.leader_url(), follower.url);
    m.drain_agent("S1", None, false).await.unwrap();
    assert_eq!(m.leader_url().as_str(), format!("http://127.0.0.1:{port}/"));
    assert!(matches!(
        m.agent("S1").await.unwrap(),
        AgentLookup::Registered(_)
    ));
    m.reactivate_agent("S1").await.unwrap();
    assert_eq!(follower.requests().len(), 1);
    let lr = leader.requests();
    let targets: Vec<_> = lr.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        ["/master/api/v1", "/master/slaves?slave_id=S1", "/api/v1"]
    );
    assert!(lr
        .iter()
        .all(|r| r.header("authorization") == Some("token=tok")));
    assert_eq!(lr[0].json(), Call::drain_agent("S1", None, false));
    assert_eq!(lr[2].json(), Call::reactivate_agent("S1"));
    assert_eq!(m.requests_sent(), 4);
}

#[tokio::test]
async fn unreachable_leader_is_forgotten() {
    let leader = TestServer::fixed(Canned::new(200, "")).await;
    let port = leader.port();
    let follower = TestServer::fixed(Canned::redirect(
        307,
        &format!("//127.0.0.1:{port}/master/api/v1"),
    ))
    .await;
    let m = client(&follower.url);
    m.deactivate_agent("S1").await.unwrap();
    assert_ne!(m.leader_url(), follower.url);
    drop(leader);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let err = m.deactivate_agent("S1").await.unwrap_err();
    assert!(matches!(err, MesosError::Unreachable { .. }), "{err}");
    assert_eq!(m.leader_url(), follower.url);
}

#[tokio::test]
async fn write_calls_send_the_right_bodies_and_pass_errors_through() {
    let srv = TestServer::start(|_, r| match r.json()["type"].as_str() {
        Some("DRAIN_AGENT") => Canned::new(200, ""),
        Some("DEACTIVATE_AGENT") => Canned::new(400, "Unknown agent"),
        Some("REACTIVATE_AGENT") => Canned::new(409, "Agent removed while processing the call\n"),
        Some("MARK_AGENT_GONE") => Canned::new(404, "Agent 'S1' not found"),
        _ => Canned::new(500, "?"),
    })
    .await;
    let m = client(&srv.url);
    m.drain_agent("S1", Some(Duration::from_millis(90_500)), true)
        .await
        .unwrap();
    let err = m.deactivate_agent("S1").await.unwrap_err();
    assert_eq!(
        (err.status(), err.body()),
        (Some(400), Some("Unknown agent"))
    );
    let err = m.reactivate_agent("S1").await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert_eq!(err.body(), Some("Agent removed while processing the call"));
    let err = m.mark_agent_gone("S1").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let reqs = srv.requests();
    assert_eq!(
        reqs[0].json(),
        json!({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"S1"},
               "max_grace_period":{"seconds":90,"nanos":500_000_000},"mark_gone":true}})
    );
    assert_eq!(reqs[3].json(), Call::mark_agent_gone("S1"));
    assert!(reqs
        .iter()
        .all(|r| r.header("content-type") == Some("application/json")));
}

#[test]
fn drain_state_names() {
    assert_eq!(DrainState::from_wire("DRAINING"), DrainState::Draining);
    assert_eq!(DrainState::from_wire("DRAINED"), DrainState::Drained);
    assert_eq!(
        DrainState::from_wire("UNKNOWN"),
        DrainState::Other("UNKNOWN".into())
    );
    assert_eq!(DrainState::Other("X".into()).as_str(), "X");
    assert_eq!(DrainState::Drained.as_str(), "DRAINED");
}
