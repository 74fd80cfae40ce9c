//! The traps of the real operator API, checked over plain HTTP against the simulator.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use mesos_sim::*;
use serde_json::{json, Value};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn fw(id: &str, acks: AckMode) -> FrameworkSpec {
    FrameworkSpec::new(id, id, acks)
}

fn cfg_with(frameworks: Vec<FrameworkSpec>) -> SimConfig {
    SimConfig {
        frameworks,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn request_checks_follow_the_master_order() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let m = sim.master_url();
    let id = sim.agent_id();

    let r = get(&m, "/api/v1").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));

    let r = request(&m, "POST", "/api/v1", &[], Some(r#"{"type":"GET_AGENTS"}"#))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Expecting 'Content-Type' to be present")
    );

    let r = call_with(
        &m,
        &[("Content-Type", "application/json; charset=utf-8")],
        r#"{"type":"GET_AGENTS"}"#,
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(
        r.body,
        "Expecting 'Content-Type' of application/json or application/x-protobuf"
    );
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    let r = call(&m, "{not json").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with("Failed to parse body into JSON: "),
        "{}",
        r.body
    );

    let r = call(&m, r#"{"type":37}"#).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'")
    );

    let r = call(&m, &drain_body(&id, r#","max_grace_period":"10mins""#)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'max_grace_period'"
        )
    );

    for body in [r#"{"type":"DRAIN_AGENTS"}"#, "{}"] {
        let r = call(&m, body).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (
                400,
                "Failed to validate master::Call: Expecting 'type' to be present"
            )
        );
    }

    let r = call(&m, r#"{"type":"DRAIN_AGENT"}"#).await;
    assert_eq!(
        r.body,
        "Failed to validate master::Call: Expecting 'drain_agent' to be present"
    );

    let r = call(
        &m,
        &format!(r#"{{"type":"DRAIN_AGENT","drain_agent":{{"agentId":{{"value":"{id}"}}}}}}"#),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Failed to convert JSON into Call protobuf: Missing required fields: drain_agent.agent_id")
    );

    // The agent checks the same way.
    let a = sim.agent_url();
    let r = call_with(
        &a,
        &[("Content-Type", "application/json; charset=utf-8")],
        r#"{"type":"GET_TASKS"}"#,
    )
    .await;
    assert_eq!(r.status, 415);
    let r = call(&a, r#"{"type":"GET_NOTHING"}"#).await;
    assert_eq!(
        r.body,
        "Failed to validate agent::Call: Expecting 'type' to be present"
    );

    // Recovery: 503 for the next request only.
    sim.set_recovering(1);
    let r = call(&m, r#"{"type":"GET_AGENTS"}"#).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "Master has not finished recovery")
    );
    assert_eq!(call(&m, r#"{"type":"GET_AGENTS"}"#).await.status, 200);

    // Nothing above reached the drain handler.
    assert_eq!(sim.drain_state(), None);
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 3);
}

#[tokio::test]
async fn camel_case_grace_is_dropped_and_numeric_strings_accepted() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let m = sim.master_url();
    let id = sim.agent_id();
    let r = call(&m, &drain_body(&id, r#","maxGracePeriod":{"seconds":5}"#)).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let e = agent_entry(&m, &id).await.unwrap();
    assert_eq!(e["drain_info"]["config"], json!({"mark_gone": false}));

    let r = call(
        &m,
        &drain_body(&id, r#","max_grace_period":{"seconds":"600","nanos":5}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let e = agent_entry(&m, &id).await.unwrap();
    assert_eq!(
        e["drain_info"]["config"]["max_grace_period"],
        json!({"nanoseconds": 600_000_000_005i64})
    );
}

#[tokio::test]
async fn follower_redirects_like_libprocess() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let f = sim.follower_url();
    let port = sim.master_port();

    let r = call(&f, r#"{"type":"GET_AGENTS"}"#).await;
    assert_eq!(r.status, 307);
    let loc = r.header("location").unwrap().to_owned();
    assert_eq!(loc, format!("//127.0.0.1:{port}/master/api/v1"));

    let r = get(&f, "/master/slaves?slave_id=x").await;
    assert_eq!(
        r.header("location"),
        Some(format!("//127.0.0.1:{port}/master/slaves?slave_id=x").as_str())
    );

    let r = get(&sim.master_url(), "/master/redirect").await;
    assert_eq!(
        (r.status, r.header("location")),
        (307, Some(format!("//127.0.0.1:{port}").as_str()))
    );

    // Replaying the POST with its body on the leader works.
    let path = loc.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    let r = request(
        &sim.master_url(),
        "POST",
        &path,
        &[JSON],
        Some(r#"{"type":"GET_AGENTS"}"#),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(sim.count_calls("GET_AGENTS"), 2);
    assert_eq!(sim.count_calls_on(Server::Follower, "GET_AGENTS"), 1);

    sim.set_no_leader(2);
    for _ in 0..2 {
        let r = call(&f, r#"{"type":"GET_AGENTS"}"#).await;
        assert_eq!((r.status, r.body.as_str()), (503, "No leader elected"));
    }
    assert_eq!(call(&f, r#"{"type":"GET_AGENTS"}"#).await.status, 307);
}

#[tokio::test]
async fn basic_auth_runs_before_the_redirect() {
    let sim = Sim::start(SimConfig {
        auth: SimAuth::Basic {
            principal: "ops".into(),
            secret: "pw".into(),
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ops:pw")
    );
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ops:nope")
    );
    let body = r#"{"type":"GET_AGENTS"}"#;

    let r = call(&sim.follower_url(), body).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="mesos-master-readwrite""#)
    );
    let r = call_with(&sim.follower_url(), &[JSON, ("Authorization", &good)], body).await;
    assert_eq!(r.status, 307);
    assert_eq!(
        call_with(&sim.master_url(), &[JSON, ("Authorization", &bad)], body)
            .await
            .status,
        401
    );
    assert_eq!(
        call_with(&sim.master_url(), &[JSON, ("Authorization", &good)], body)
            .await
            .status,
        200
    );
    let r = call(&sim.agent_url(), r#"{"type":"GET_AGENT"}"#).await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="mesos-agent-readwrite""#)
    );
    assert_eq!(get(&sim.master_url(), "/master/redirect").await.status, 307);
    let r = get(&sim.master_url(), "/master/slaves").await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="mesos-master-readonly""#)
    );

    let logged = sim.requests();
    let on_leader: Vec<_> = logged
        .iter()
        .filter(|r| r.server == Server::Leader && r.status == 200)
        .collect();
    assert_eq!(on_leader[0].header("Authorization"), Some(good.as_str()));
    assert_eq!(on_leader[0].call_type().as_deref(), Some("GET_AGENTS"));

    // A secret with ':' can never authenticate.
    let sim2 = Sim::start(SimConfig {
        auth: SimAuth::Basic {
            principal: "ops".into(),
            secret: "a:b".into(),
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let creds = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ops:a:b")
    );
    assert_eq!(
        call_with(&sim2.master_url(), &[JSON, ("Authorization", &creds)], body)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn dcos_token_auth_is_exact() {
    let sim = Sim::start(SimConfig {
        auth: SimAuth::Token("abc".into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let body = r#"{"type":"GET_AGENTS"}"#;
    assert_eq!(
        call_with(
            &sim.master_url(),
            &[JSON, ("Authorization", "token=abc")],
            body
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call_with(
            &sim.master_url(),
            &[JSON, ("Authorization", "Bearer abc")],
            body
        )
        .await
        .status,
        401
    );
    assert_eq!(
        call_with(
            &sim.agent_url(),
            &[JSON, ("Authorization", "token=abc")],
            r#"{"type":"GET_TASKS"}"#
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn drain_reaches_drained_only_after_acknowledgements() {
    let sim = Sim::start(SimConfig {
        registry_delay: MS(20),
        ..cfg_with(vec![fw("fw-1", AckMode::After(MS(150)))
            .task(TaskSpec::new("t1", MS(100)))
            .task(TaskSpec::new("t2", MS(200)))
            .task(
                TaskSpec::new("t3", MS(100)).with_state(TaskSpecState::Queued),
            )])
    })
    .await
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    sim.set_on_drained(tx);
    let (m, a, id) = (sim.master_url(), sim.agent_url(), sim.agent_id());

    let start = Instant::now();
    let r = call(
        &m,
        &drain_body(&id, r#","max_grace_period":{"seconds":600}"#),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    assert!(sim.is_deactivated());

    let e = agent_entry(&m, &id).await.unwrap();
    assert_eq!(e["drain_info"]["state"], "DRAINING");
    assert_eq!(
        e["drain_info"]["config"],
        json!({"max_grace_period": {"nanoseconds": 600_000_000_000i64}, "mark_gone": false})
    );
    assert_eq!(
        (e["active"].as_bool(), e["deactivated"].as_bool()),
        (Some(false), Some(true))
    );
    let est = e["estimated_drain_start_time"]["nanoseconds"]
        .as_u64()
        .unwrap();
    assert!(est > (1u64 << 53) && est % 1_000_000_000 == 0);
    assert!(e["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!({"type": "AGENT_DRAINING"})));

    let ga = call(&a, r#"{"type":"GET_AGENT"}"#).await.json();
    assert_eq!(ga["get_agent"]["drain_config"]["mark_gone"], json!(false));

    // Killed after their grace, then terminal but unacknowledged for a while.
    tokio::time::sleep(MS(230)).await;
    let c = sim.task_counts();
    assert_eq!((c.launched, c.queued), (0, 0), "{c:?}");
    assert!(c.terminated >= 1, "{c:?}");
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    let tasks = call(&a, r#"{"type":"GET_TASKS"}"#).await.json();
    let term = &tasks["get_tasks"]["terminated_tasks"][0];
    assert!(term["state"] == "TASK_KILLED", "{term}");
    assert_eq!(
        term["statuses"].as_array().unwrap().last().unwrap()["reason"],
        "REASON_AGENT_DRAINING"
    );

    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(3))
            .await
    );
    let at = rx.recv().await.unwrap();
    assert!(
        at.duration_since(start) >= MS(350),
        "{:?}",
        at.duration_since(start)
    );
    assert_eq!(
        sim.task_counts(),
        TaskCounts {
            completed: 4,
            ..TaskCounts::default()
        }
    );

    let s = get(&m, &format!("/master/slaves?slave_id={id}"))
        .await
        .json();
    assert_eq!(s["slaves"].as_array().unwrap().len(), 1);
    assert_eq!(s["slaves"][0]["id"], id.as_str());
    assert_eq!(s["slaves"][0]["drain_info"]["state"], "DRAINED");
    assert!(s["slaves"][0]["registered_time"].is_f64());

    let ga = call(&a, r#"{"type":"GET_AGENT"}"#).await.json();
    assert!(ga["get_agent"].get("drain_config").is_none());
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
}

#[tokio::test]
async fn empty_agent_is_drained_after_the_registry_write_and_redrain_resets() {
    let sim = Sim::start(SimConfig {
        registry_delay: MS(60),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
    // The agent never stored a drain config: it was empty.
    let ga = call(&sim.agent_url(), r#"{"type":"GET_AGENT"}"#)
        .await
        .json();
    assert!(ga["get_agent"].get("drain_config").is_none());

    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
}

#[tokio::test]
async fn never_acknowledging_framework_pins_draining() {
    let sim = Sim::start(cfg_with(vec![
        fw("dead", AckMode::Never).task(TaskSpec::new("stuck", MS(30))),
        fw("live", AckMode::After(MS(10))).task(TaskSpec::new("ok", MS(30))),
    ]))
    .await
    .unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    tokio::time::sleep(MS(300)).await;
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    let tasks = call(&sim.agent_url(), r#"{"type":"GET_TASKS"}"#)
        .await
        .json();
    let term = tasks["get_tasks"]["terminated_tasks"].as_array().unwrap();
    assert_eq!(term.len(), 1);
    assert_eq!(term[0]["task_id"]["value"], "stuck");
    let uuid = term[0]["status_update_uuid"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(uuid)
            .unwrap()
            .len(),
        16
    );

    // A late acknowledgement does not run the check by itself...
    sim.acknowledge_all();
    tokio::time::sleep(MS(100)).await;
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    assert_eq!(sim.task_counts().terminated, 0);
    // ...a re-issued DRAIN_AGENT does.
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
}

#[tokio::test]
async fn zero_grace_kills_at_once() {
    let sim = Sim::start(cfg_with(vec![
        fw("f", AckMode::After(MS(10))).task(TaskSpec::new("slow", Duration::from_secs(30)))
    ]))
    .await
    .unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(
        call(&m, &drain_body(&id, r#","max_grace_period":{"seconds":0}"#))
            .await
            .status,
        200
    );
    assert!(sim.wait_drain_state(Some("DRAINED"), MS(1500)).await);
}

#[tokio::test]
async fn mark_gone_never_drains_and_the_agent_disappears() {
    let sim = Sim::start(SimConfig {
        filler_agents: 3,
        ..cfg_with(vec![
            fw("f", AckMode::After(MS(20))).task(TaskSpec::new("t", MS(50)))
        ])
    })
    .await
    .unwrap();
    let (m, a, id) = (sim.master_url(), sim.agent_url(), sim.agent_id());
    assert_eq!(
        call(&m, &drain_body(&id, r#","mark_gone":true"#))
            .await
            .status,
        200
    );
    let e = agent_entry(&m, &id).await.unwrap();
    assert_eq!(e["drain_info"]["config"]["mark_gone"], json!(true));
    let end = Instant::now() + Duration::from_secs(3);
    while !sim.is_gone() {
        assert_ne!(sim.drain_state().as_deref(), Some("DRAINED"));
        assert!(Instant::now() < end, "never marked gone");
        tokio::time::sleep(MS(5)).await;
    }
    assert_eq!(sim.drain_state(), None);
    assert!(!sim.is_deactivated());
    assert!(agent_entry(&m, &id).await.is_none());
    let all = call(&m, r#"{"type":"GET_AGENTS"}"#).await.json();
    assert_eq!(all["get_agents"]["agents"].as_array().unwrap().len(), 3);
    let s = get(&m, &format!("/master/slaves?slave_id={id}"))
        .await
        .json();
    assert_eq!(s, json!({"slaves": [], "recovered_slaves": []}));

    let r = call(&m, &drain_body(&id, "")).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Unknown agent"));
    assert_eq!(
        call(&m, &agent_call("MARK_AGENT_GONE", &id)).await.status,
        200
    );
    assert_eq!(
        call(&m, &agent_call("DEACTIVATE_AGENT", &id)).await.body,
        "Unknown agent"
    );
    assert_eq!(
        call(&m, &agent_call("REACTIVATE_AGENT", &id)).await.body,
        "Agent is not deactivated"
    );
    let r = call(&m, &agent_call("MARK_AGENT_GONE", "nope")).await;
    assert_eq!((r.status, r.body.as_str()), (404, "Agent 'nope' not found"));

    // The agent process still answers, with nothing live.
    let t = call(&a, r#"{"type":"GET_TASKS"}"#).await.json();
    for k in [
        "pending_tasks",
        "queued_tasks",
        "launched_tasks",
        "terminated_tasks",
    ] {
        assert_eq!(t["get_tasks"][k], json!([]), "{k}");
    }
}

#[tokio::test]
async fn response_styles_1_9_and_1_11() {
    let old = Sim::start(SimConfig {
        style: ApiStyle::V1_9,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let new = Sim::start(SimConfig::default()).await.unwrap();

    let r = call(&old.agent_url(), r#"{"type":"GET_TASKS"}"#).await;
    assert_eq!(r.json(), json!({"type": "GET_TASKS", "get_tasks": {}}));
    let r = call(&new.agent_url(), r#"{"type":"GET_TASKS"}"#)
        .await
        .json();
    for k in [
        "pending_tasks",
        "queued_tasks",
        "launched_tasks",
        "terminated_tasks",
        "completed_tasks",
    ] {
        assert_eq!(r["get_tasks"][k], json!([]), "{k}");
    }
    for sim in [&old, &new] {
        let r = call(&sim.agent_url(), r#"{"type":"GET_OPERATIONS"}"#)
            .await
            .json();
        assert_eq!(r, json!({"type": "GET_OPERATIONS", "get_operations": {}}));
    }
    let o = call(&old.master_url(), r#"{"type":"GET_AGENTS"}"#)
        .await
        .json();
    assert!(o["get_agents"].get("recovered_agents").is_none());
    assert_eq!(o["get_agents"]["agents"][0]["version"], "1.9.0");
    let n = call(&new.master_url(), r#"{"type":"GET_AGENTS"}"#)
        .await
        .json();
    assert_eq!(n["get_agents"]["recovered_agents"], json!([]));
    assert_eq!(
        n["get_agents"]["agents"][0]["agent_info"]["port"],
        new.agent_port()
    );

    // Task shapes: base64 uuids, float timestamps, unknown field, unknown enum name.
    let demo = Sim::start(SimConfig::scenario("quick").unwrap())
        .await
        .unwrap();
    let t = call(&demo.agent_url(), r#"{"type":"GET_TASKS"}"#)
        .await
        .json();
    let l = &t["get_tasks"]["launched_tasks"][0];
    assert!(l["statuses"][0]["timestamp"].is_f64());
    assert!(l.get("x_future_field").is_some());
    assert_eq!(l["state"], "TASK_RUNNING");
    assert_eq!(
        t["get_tasks"]["completed_tasks"][0]["state"],
        "TASK_SUSPENDED"
    );
}

#[tokio::test]
async fn reactivate_codes() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    let re = |who: &str| agent_call("REACTIVATE_AGENT", who);

    let r = call(&m, &re(&id)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Agent is not deactivated")
    );
    assert_eq!(call(&m, &re("nope")).await.body, "Agent is not deactivated");
    let r = call(&m, &agent_call("DEACTIVATE_AGENT", "nope")).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Unknown agent"));
    for _ in 0..2 {
        let r = call(&m, &agent_call("DEACTIVATE_AGENT", &id)).await;
        assert_eq!((r.status, r.body.as_str()), (200, ""));
    }
    assert_eq!(call(&m, &re(&id)).await.status, 200);
    assert!(!sim.is_deactivated());

    // DRAINING refuses.
    sim.add_task("dead", TaskSpec::new("t", MS(10)));
    sim.set_ack_mode("dead", AckMode::Never);
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    let r = call(&m, &re(&id)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Agent is still in the DRAINING state")
    );
    assert!(sim.teardown_framework("dead"));
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );

    // DRAINED and stopped (disconnected, still registered): 200.
    sim.stop_agent();
    let e = agent_entry(&m, &id).await.unwrap();
    assert_eq!(e["active"], json!(false));
    assert_eq!(call(&m, &re(&id)).await.status, 200);
    assert_eq!(sim.drain_state(), None);
    sim.start_agent();
    assert_eq!(agent_entry(&m, &id).await.unwrap()["active"], json!(true));

    // DRAINED and unreachable: 409, but saved.
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
    sim.set_agent_reachable(false);
    assert!(request(&sim.agent_url(), "GET", "/state", &[], None)
        .await
        .is_err());
    assert!(agent_entry(&m, &id).await.is_none());
    let r = call(&m, &re(&id)).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "Agent removed while processing the call")
    );
    assert_eq!(sim.drain_state(), None);
    assert!(!sim.is_deactivated());
    sim.set_agent_reachable(true);
    assert_eq!(agent_entry(&m, &id).await.unwrap()["active"], json!(true));
    assert_eq!(get(&sim.agent_url(), "/state").await.status, 200);
}

#[tokio::test]
async fn redrain_of_a_stopped_agent_stays_draining_until_it_returns() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
    sim.stop_agent();
    assert!(call_result(&sim.agent_url()).await.is_err());
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    tokio::time::sleep(MS(100)).await;
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    assert_eq!(
        call(&m, &agent_call("REACTIVATE_AGENT", &id)).await.status,
        400
    );
    sim.start_agent();
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
    assert_eq!(
        call(&sim.agent_url(), r#"{"type":"GET_AGENT"}"#)
            .await
            .status,
        200
    );
}

async fn call_result(base: &str) -> std::io::Result<Resp> {
    request(
        base,
        "POST",
        "/api/v1",
        &[JSON],
        Some(r#"{"type":"GET_AGENT"}"#),
    )
    .await
}

#[tokio::test]
async fn stuck_operation_pins_draining() {
    let sim = Sim::start(SimConfig {
        stuck_operation: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    let ops = call(&sim.agent_url(), r#"{"type":"GET_OPERATIONS"}"#)
        .await
        .json();
    assert_eq!(
        ops["get_operations"]["operations"][0]["latest_status"]["state"],
        "OPERATION_PENDING"
    );
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    tokio::time::sleep(MS(100)).await;
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    sim.set_stuck_operation(false);
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
}

#[tokio::test]
async fn teardown_and_unregister_do_not_run_the_check() {
    let sim = Sim::start(cfg_with(vec![
        fw("dead", AckMode::Never).task(TaskSpec::new("t", MS(10)))
    ]))
    .await
    .unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    tokio::time::sleep(MS(80)).await;
    let r = call(
        &m,
        r#"{"type":"TEARDOWN","teardown":{"framework_id":{"value":"dead"}}}"#,
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    tokio::time::sleep(MS(80)).await;
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    assert_eq!(sim.task_counts().terminated, 0);

    // SIGUSR1: the master removes the agent and forgets its drain state.
    sim.unregister_agent();
    assert_eq!(sim.drain_state(), None);
    assert!(!sim.is_deactivated());
    assert!(agent_entry(&m, &id).await.is_none());
    assert_eq!(call(&m, &drain_body(&id, "")).await.body, "Unknown agent");
    // Restarted, it registers as a new agent.
    sim.start_agent();
    let new_id = sim.agent_id();
    assert_ne!(new_id, id);
    assert_eq!(
        agent_entry(&m, &new_id).await.unwrap()["active"],
        json!(true)
    );
}

#[tokio::test]
async fn slaves_filter_fillers_and_state() {
    let sim = Sim::start(SimConfig {
        filler_agents: 50,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    let all = call(&m, r#"{"type":"GET_AGENTS"}"#).await;
    assert!(all.header("content-length").is_some());
    assert_eq!(
        all.json()["get_agents"]["agents"].as_array().unwrap().len(),
        51
    );

    let one = get(&m, &format!("/master/slaves?slave_id={id}"))
        .await
        .json();
    assert_eq!(one["slaves"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["slaves"][0]["pid"],
        format!("slave(1)@127.0.0.1:{}", sim.agent_port())
    );
    assert_eq!(
        get(&m, "/master/slaves").await.json()["slaves"]
            .as_array()
            .unwrap()
            .len(),
        51
    );
    let filler = get(
        &m,
        "/slaves?slave_id=a1b2c3d4-0000-4000-8000-000000000001-S1007",
    )
    .await
    .json();
    assert_eq!(filler["slaves"].as_array().unwrap().len(), 1);

    sim.set_ignore_slave_id_filter(true);
    let ignored = get(&m, &format!("/master/slaves?slave_id={id}"))
        .await
        .json();
    assert_eq!(ignored["slaves"].as_array().unwrap().len(), 51);

    let st = get(&m, "/master/state").await.json();
    assert_eq!(st["slaves"].as_array().unwrap().len(), 51);

    let agent_state = get(&sim.agent_url(), "/state").await.json();
    assert_eq!(agent_state["id"], id.as_str());
    assert_eq!(agent_state["master_hostname"], "127.0.0.1");
    assert_eq!(
        agent_state["flags"]["master"],
        format!("127.0.0.1:{}", sim.master_port())
    );
    assert_eq!(
        agent_state["pid"],
        format!("slave(1)@127.0.0.1:{}", sim.agent_port())
    );
}

#[tokio::test]
async fn maintenance_window_refuses_drain() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    sim.set_in_maintenance_window(true);
    let r = call(&m, &drain_body(&id, "")).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with(&format!(
            "Agent {id} is part of a maintenance schedule under Machine"
        )),
        "{}",
        r.body
    );
    sim.set_in_maintenance_window(false);

    let sched = |machine: Value| {
        json!({"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {"schedule": {"windows": [
            {"machine_ids": [machine], "unavailability": {"start": {"nanoseconds": 1_700_000_000_000_000_000i64}}}
        ]}}})
        .to_string()
    };
    // Hostname only never matches the agent's machine.
    assert_eq!(
        call(&m, &sched(json!({"hostname": "agent-7.sim.local"})))
            .await
            .status,
        200
    );
    let r = call(&m, &agent_call("DEACTIVATE_AGENT", &id)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        call(
            &m,
            &sched(json!({"hostname": "agent-7.sim.local", "ip": "127.0.0.1"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 400);
    let st = call(&m, r#"{"type":"GET_MAINTENANCE_STATUS"}"#)
        .await
        .json();
    assert_eq!(
        st["get_maintenance_status"]["status"]["draining_machines"][0]["id"]["ip"],
        "127.0.0.1"
    );
}

#[tokio::test]
async fn control_api_and_request_log() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(post(&m, "/__sim/forbid-drain?on=true").await.status, 200);
    let r = call(&m, &drain_body(&id, "")).await;
    assert_eq!(r.status, 403);
    post(&m, "/__sim/forbid-drain?on=false").await;
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);

    let log = get(&m, "/__sim/requests").await.json();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "control calls are not logged");
    assert_eq!(log[1]["call_type"], "DRAIN_AGENT");
    assert_eq!(log[1]["server"], "leader");
    assert_eq!(log[1]["status"], 200);
    let count = get(&m, "/__sim/count?type=DRAIN_AGENT").await.json();
    assert_eq!(count["count"], 2);

    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
    let st = get(&m, "/__sim/state").await.json();
    assert_eq!(st["drain_state"], "DRAINED");
    assert_eq!(st["agent_id"], id.as_str());

    post(&m, "/__sim/unregister").await;
    assert_eq!(
        get(&m, "/__sim/state").await.json()["drain_state"],
        Value::Null
    );
    post(&m, "/__sim/agent/stop").await;
    assert!(call_result(&sim.agent_url()).await.is_err());
    post(&m, "/__sim/agent/start").await;
    assert_eq!(call_result(&sim.agent_url()).await.unwrap().status, 200);
    post(&m, "/__sim/no-leader?requests=1").await;
    assert_eq!(call(&sim.follower_url(), "{}").await.status, 503);
    post(&m, "/__sim/reset-log").await;
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn dropping_the_sim_closes_the_ports() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let urls = [sim.master_url(), sim.follower_url(), sim.agent_url()];
    drop(sim);
    for u in urls {
        assert!(
            request(&u, "GET", "/health", &[], None).await.is_err(),
            "{u}"
        );
    }
}

#[test]
fn binary_prints_urls_and_stops_on_sigterm() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mesos-sim"))
        .args(["serve", "--scenario", "empty", "--style", "1.9"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["agent_id"], DEFAULT_AGENT_ID);
    let master = v["master"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(call(&master, r#"{"type":"GET_AGENTS"}"#));
    assert_eq!(r.json()["get_agents"]["agents"][0]["version"], "1.9.0");
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let err = std::process::Command::new(env!("CARGO_BIN_EXE_mesos-sim"))
        .args(["serve", "--scenario", "nope"])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(2));
}

#[tokio::test]
async fn failover_lists_the_agent_as_recovered_until_it_reregisters() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (m, id) = (sim.master_url(), sim.agent_id());
    assert_eq!(call(&m, &drain_body(&id, "")).await.status, 200);
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(2))
            .await
    );
    sim.failover(None);
    sim.set_recovering(1);
    assert_eq!(call(&m, r#"{"type":"GET_AGENTS"}"#).await.status, 503);
    let v = call(&m, r#"{"type":"GET_AGENTS"}"#).await.json();
    assert_eq!(v["get_agents"]["agents"], json!([]));
    assert_eq!(
        v["get_agents"]["recovered_agents"][0]["id"]["value"],
        id.as_str()
    );
    let s = get(&m, &format!("/master/slaves?slave_id={id}"))
        .await
        .json();
    assert_eq!(s["slaves"], json!([]));
    assert_eq!(s["recovered_slaves"].as_array().unwrap().len(), 1);
    // DRAINED survived the failover (registry); reactivating now is 409 but saved.
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
    let r = call(&m, &agent_call("REACTIVATE_AGENT", &id)).await;
    assert_eq!(r.status, 409);
    assert_eq!(sim.drain_state(), None);
    sim.start_agent();
    let e = agent_entry(&m, &id).await.unwrap();
    assert_eq!(e["active"], json!(true));
    assert!(e["reregistered_time"]["nanoseconds"].as_i64().is_some());
}
