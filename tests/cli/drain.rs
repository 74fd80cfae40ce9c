use std::time::Duration;

use mesos_sim::{AckMode, Sim, SimConfig};

use crate::common::*;

fn drain_bodies(sim: &Sim) -> Vec<serde_json::Value> {
    sim.requests()
        .iter()
        .filter(|r| r.call_type().as_deref() == Some("DRAIN_AGENT"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

/// Waits (at most 20 s) until the simulator has received a DRAIN_AGENT call.
async fn wait_for_drain_agent(sim: &Sim) {
    let waited = std::time::Instant::now();
    while sim.count_calls("DRAIN_AGENT") == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "drain never sent DRAIN_AGENT"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_sends_one_well_formed_request_and_waits_for_drained() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("DRAINED"), "{out}");
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
    let req = first_call(&sim, "DRAIN_AGENT");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["drain_agent"]["agent_id"]["value"], sim.agent_id());
    // No --max-grace-period: the field is left out (each task's own grace applies).
    assert!(
        body["drain_agent"].get("max_grace_period").is_none(),
        "{body}"
    );
    assert_ne!(body["drain_agent"]["mark_gone"], true);
    // Progress shows the frameworks by name while it waits.
    assert!(err.contains("marathon"), "{err}");
    let marker: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.marker_path()).unwrap()).unwrap();
    assert_eq!(marker["stage"], "Done");
    assert_eq!(marker["agent_id"], sim.agent_id());
}

#[tokio::test(flavor = "multi_thread")]
async fn max_grace_period_goes_out_as_seconds_and_nanos() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run
        .run_against(
            &sim,
            &["drain", "--no-stop", "--max-grace-period", "1m30s500ms"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let bodies = drain_bodies(&sim);
    assert_eq!(bodies.len(), 1);
    let g = &bodies[0]["drain_agent"]["max_grace_period"];
    assert_eq!(g["seconds"], 90, "{g}");
    assert_eq!(g["nanos"], 500_000_000, "{g}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_drain_of_a_drained_agent_sends_nothing() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, _, _) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0);
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not sent again"), "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn deadline_exits_4_and_names_the_unacknowledging_framework() {
    let sim = Sim::start(stuck_config()).await.unwrap();
    let run = Run::new();
    let started = std::time::Instant::now();
    let (code, _, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--deadline", "2s"])
        .await;
    assert_eq!(code, 4, "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(err.contains("dead-scheduler"), "{err}");
    assert!(err.contains("not acknowledged"), "{err}");
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
    let marker = std::fs::read_to_string(run.marker_path()).unwrap();
    assert!(marker.contains("DeadlineExceeded"), "{marker}");
}

#[tokio::test(flavor = "multi_thread")]
async fn decommission_sends_mark_gone_and_succeeds_when_gone() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run
        .run_against(&sim, &["drain", "--no-stop", "--decommission"])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("GONE"), "{out}");
    let bodies = drain_bodies(&sim);
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["drain_agent"]["mark_gone"], true);
    assert!(sim.is_gone());
    // Our marker records the decommission, so the missing agent counts as GONE and safe.
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["drain_state"], "GONE");
}

/// The dry run and the drain agree end to end (issue 10; src/drain/agreement_tests.rs holds the
/// full matrix): after a finished decommission this boot, the master no longer lists the agent,
/// and both the dry run and a second drain leave DRAIN_AGENT unsent.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_finished_decommission_the_dry_run_and_the_drain_both_skip_drain_agent() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let args = ["drain", "--no-stop", "--decommission", "--json"];
    let (code, out, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(sim.is_gone());
    let (_, out, err) = run
        .run_against(
            &sim,
            &[
                "drain",
                "--dry-run",
                "--no-stop",
                "--decommission",
                "--json",
            ],
        )
        .await;
    let plan = json(&out);
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}\n{err}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        steps.iter().any(|s| s.starts_with("skip DRAIN_AGENT")),
        "{steps:?}"
    );
    assert!(!steps.iter().any(|s| s.starts_with("POST ")), "{steps:?}");
    let (code, out, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(json(&out)["already_requested"], true, "{out}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_sends_no_mutating_call() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run
        .run_against(
            &sim,
            &[
                "drain",
                "--dry-run",
                "--no-stop",
                "--max-grace-period",
                "10m",
            ],
        )
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("DRAIN_AGENT"), "{out}");
    assert!(out.contains("\"seconds\":600"), "{out}");
    for call in [
        "DRAIN_AGENT",
        "DEACTIVATE_AGENT",
        "REACTIVATE_AGENT",
        "MARK_AGENT_GONE",
    ] {
        assert_eq!(sim.count_calls(call), 0, "{call}");
    }
    assert!(!run.marker_path().exists());
    assert_eq!(sim.drain_state(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_drain_resumes_without_a_second_drain_agent() {
    let cfg = SimConfig {
        frameworks: vec![framework(
            "fw-slow",
            "slow",
            AckMode::After(Duration::from_millis(50)),
            // Long enough that a loaded machine still kills the drain while DRAINING.
            vec![task("slow-1", 10_000)],
        )],
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let run = Run::new();
    let args = ["drain", "--no-stop"];
    let mut child = run.command_against(&sim, &args).spawn().unwrap();
    wait_for_drain_agent(&sim).await;
    // The marker is written after the master's answer: wait for it, not for a fixed time.
    let waited = std::time::Instant::now();
    while !std::fs::read_to_string(run.marker_path()).is_ok_and(|m| m.contains("AwaitDrained")) {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "marker never reached AwaitDrained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL: no chance to clean up.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    let marker = std::fs::read_to_string(run.marker_path()).unwrap();
    assert!(marker.contains("AwaitDrained"), "{marker}");
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));

    let (code, _, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_refused_in_a_maintenance_window_is_policy() {
    let sim = Sim::start(busy_config()).await.unwrap();
    sim.set_in_maintenance_window(true);
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("maintenance"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_drains_at_once_the_second_is_refused() {
    let sim = Sim::start(stuck_config()).await.unwrap();
    let run = Run::new();
    let args = ["drain", "--no-stop", "--deadline", "5s"];
    let mut first = run.command_against(&sim, &args).spawn().unwrap();
    wait_for_drain_agent(&sim).await;
    let (code, _, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("another mesos-maint drain"), "{err}");
    first.start_kill().unwrap();
    let _ = first.wait().await;
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
}

/// design.md: a dry run exits with the code the drain would end with, after the plan and the
/// blockers; 0 only when nothing blocks.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_exits_with_the_code_of_its_first_blocker() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let dry = ["drain", "--dry-run", "--no-stop"];

    // The master cannot be asked: 3, and the plan is still printed.
    let (code, out, err) = run
        .run_at("http://127.0.0.1:9", &sim.agent_url(), &dry)
        .await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("BLOCKER: cannot ask the master"), "{out}");
    assert!(out.contains(" 1. POST"), "{out}");

    // The machine is in a maintenance schedule: the master would refuse DRAIN_AGENT: 5.
    let (code, _, err) = run
        .run_against(
            &sim,
            &["maintenance", "schedule", "--start", "2030-01-01T00:00:00Z"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run.run_against(&sim, &dry).await;
    assert_eq!(code, 5, "{out}\n{err}");
    assert!(
        out.contains("BLOCKER: the machine is in a maintenance schedule"),
        "{out}"
    );
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "schedule", "--cancel"])
        .await;
    assert_eq!(code, 0, "{err}");

    // Another drain holds this node's lock: 5. Nothing is ever sent.
    let mut first = run
        .command_against(&sim, &["drain", "--no-stop", "--deadline", "30s"])
        .spawn()
        .unwrap();
    wait_for_drain_agent(&sim).await;
    let (code, out, err) = run.run_against(&sim, &dry).await;
    assert_eq!(code, 5, "{out}\n{err}");
    assert!(out.contains("another mesos-maint drain"), "{out}");
    first.start_kill().unwrap();
    let _ = first.wait().await;
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "only the real drain's");

    // The lock is free again and the master already has the drain: nothing blocks.
    let (code, out, err) = run.run_against(&sim, &dry).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("skip DRAIN_AGENT"), "{out}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
}
