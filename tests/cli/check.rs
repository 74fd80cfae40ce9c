use mesos_sim::{ApiStyle, Sim, SimConfig};

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn check_on_a_busy_undrained_agent_is_not_safe_and_names_frameworks() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run.run_against(&sim, &["check"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("NOT SAFE"), "{out}");
    assert!(out.contains("marathon (fw-marathon)"), "{out}");
    assert!(out.contains("cassandra (fw-cassandra)"), "{out}");
    assert!(out.contains("does not report agent"), "{out}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_json_is_one_object_with_the_contract_fields() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["agent_id"], sim.agent_id());
    assert_eq!(v["drain_state"], "NONE");
    assert_eq!(v["deactivated"], false);
    assert_eq!(v["live_tasks"], 3);
    assert_eq!(v["pending_operations"], 0);
    assert_eq!(v["safe"], false);
    // The leader's URL as given, without a '/' added by URL parsing.
    assert_eq!(v["master"], sim.master_url().trim_end_matches('/'));
    assert!(v["hostname"].is_string());
    let fws = v["frameworks"].as_array().unwrap();
    assert_eq!(fws.len(), 2);
    let m = fws.iter().find(|f| f["name"] == "marathon").unwrap();
    assert_eq!(m["id"], "fw-marathon");
    assert_eq!(m["live_tasks"], 2);
    assert_eq!(m["unacknowledged"], 0);
    assert!(!v["reasons"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_has_no_safe_field_and_exits_zero() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, _) = run.run_against(&sim, &["status", "--output", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert!(v.get("safe").is_none());
    assert_eq!(v["live_tasks"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_after_a_drain_is_safe() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["safe"], true);
    assert_eq!(v["drain_state"], "DRAINED");
    assert_eq!(v["deactivated"], true);
    assert_eq!(v["reasons"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_agent_or_master_is_undetermined_never_safe() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let run = Run::new();
    // Nothing listens on port 9 of loopback.
    let (code, out, _) = run
        .run_at(
            &sim.master_url(),
            "http://127.0.0.1:9",
            &["check", "--json"],
        )
        .await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(json(&out)["safe"], false);
    let (code, out, _) = run
        .run_at("http://127.0.0.1:9", &sim.agent_url(), &["check", "--json"])
        .await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(json(&out)["drain_state"], "UNKNOWN");
}

#[tokio::test(flavor = "multi_thread")]
async fn drained_master_with_unacknowledged_local_updates_is_not_safe() {
    let sim = Sim::start(stuck_config()).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--deadline", "1s"])
        .await;
    assert_eq!(code, 4, "{err}");
    let (code, out, _) = run.run_against(&sim, &["check"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not acknowledged"), "{out}");
    assert!(out.contains("dead-scheduler"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stuck_operation_keeps_the_node_unsafe() {
    let cfg = SimConfig {
        stuck_operation: true,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 1, "{out}");
    let v = json(&out);
    assert_eq!(v["pending_operations"], 1);
    assert!(
        v["reasons"].to_string().contains("OPERATION_PENDING"),
        "{v}"
    );
    let (code, _, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--deadline", "1s"])
        .await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("OPERATION_PENDING"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mesos_1_9_responses_are_understood() {
    let cfg = SimConfig {
        style: ApiStyle::V1_9,
        ..busy_config()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(json(&out)["live_tasks"], 3);
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 0, "{out}");
}

/// design.md: the master answered but does not list the agent (unreachable there, removed, or
/// not re-registered since a failover): the drain state is UNKNOWN and the answer is 3, not 1.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_the_master_does_not_list_cannot_be_told_exit_3() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let run = Run::new();
    // Registered and empty, no drain: an answer, "not safe".
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(json(&out)["drain_state"], "NONE");

    // Removed from the master (SIGUSR1 unregisters it); the agent still answers, empty.
    sim.unregister_agent();
    assert!(!sim.is_listed());
    let (code, out, err) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 3, "{out}\n{err}");
    let v = json(&out);
    assert_eq!(v["drain_state"], "UNKNOWN");
    assert_eq!(v["safe"], false);
    assert!(
        v["reasons"].to_string().contains("does not list agent"),
        "{v}"
    );
    let (code, out, _) = run.run_against(&sim, &["check"]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("drain state:    UNKNOWN"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_not_re_registered_after_a_failover_is_exit_3() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let run = Run::new();
    sim.failover(None);
    let (code, out, err) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert_eq!(json(&out)["drain_state"], "UNKNOWN");
    assert!(
        json(&out)["reasons"].to_string().contains("re-registered"),
        "{out}"
    );
}

/// A truncated drain marker (a full disk, an edit by hand): `check` warns and judges without it
/// (never safe on its word), a drain refuses with a line naming the file and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_marker_is_ignored_with_a_warning_and_stops_a_drain() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    std::fs::create_dir_all(run.state_dir()).unwrap();
    std::fs::write(
        run.marker_path(),
        r#"{"version":1,"agent_id":"x","stage":"Do"#,
    )
    .unwrap();
    let (code, out, err) = run.run_against(&sim, &["check"]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("ignoring an unreadable drain marker"), "{err}");
    let (code, out, err) = run
        .run_against(&sim, &["drain", "--dry-run", "--no-stop"])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("drain.json"), "{err}");
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 70, "{err}");
    assert!(
        err.contains("drain.json") && err.contains("remove it"),
        "{err}"
    );
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
}
