//! `maintenance status|schedule|down|up` against the simulator's maintenance primitives.

use mesos_sim::{Sim, SimConfig};
use serde_json::{json, Value};

use crate::common::*;

/// The simulated agent's machine as the master names it (AgentInfo.hostname, pid IP).
fn this_machine(sim: &Sim) -> Value {
    json!({"hostname": sim.state_json()["hostname"], "ip": "127.0.0.1"})
}

fn schedule(sim: &Sim) -> Value {
    sim.state_json()["maintenance_schedule"].clone()
}

/// Another node's helper scheduled its own machine before us.
async fn seed_other_window(sim: &Sim) -> Value {
    let window = json!({"machine_ids": [{"hostname": "other.sim.local", "ip": "10.9.9.9"}],
        "unavailability": {"start": {"nanoseconds": 1_900_000_000_000_000_001i64}}});
    let call = json!({"type": "UPDATE_MAINTENANCE_SCHEDULE",
        "update_maintenance_schedule": {"schedule": {"windows": [window.clone()]}}});
    let status = reqwest::Client::new()
        .post(format!("{}/api/v1", sim.master_url()))
        .header("Content-Type", "application/json")
        .body(call.to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    sim.reset_log();
    window
}

fn calls(sim: &Sim, call_type: &str) -> Vec<Value> {
    sim.requests()
        .iter()
        .filter(|r| r.call_type().as_deref() == Some(call_type))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_down_up_walks_the_machine_through_the_modes() {
    let sim = Sim::start(SimConfig::scenario("quick").unwrap())
        .await
        .unwrap();
    let other = seed_other_window(&sim).await;
    let me = this_machine(&sim);
    let run = Run::new();

    let (code, out, err) = run
        .run_against(&sim, &["maintenance", "status", "--json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["mode"], "UP");
    assert_eq!(v["machine"], me);
    assert!(
        !run.state_dir().join("machine.json").exists(),
        "status is read-only"
    );
    assert_eq!(v["windows"], json!([]));
    let (_, out, _) = run.run_against(&sim, &["status", "--json"]).await;
    assert_eq!(
        json(&out)["maintenance"],
        json!({"mode": "UP", "windows": []})
    );

    // Drain first: the master refuses DRAIN_AGENT for a scheduled machine.
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run
        .run_against(
            &sim,
            &[
                "maintenance",
                "schedule",
                "--start",
                "2030-01-01T00:00:00Z",
                "--duration",
                "90m",
                "--json",
            ],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["window"]["start"], "2030-01-01T00:00:00Z");
    let sent = calls(&sim, "UPDATE_MAINTENANCE_SCHEDULE");
    assert_eq!(sent.len(), 1);
    // Both hostname and IP, int64 nanoseconds, and the other machine's window kept as it was.
    let mine = json!({"machine_ids": [me],
        "unavailability": {"start": {"nanoseconds": 1_893_456_000_000_000_000i64},
                           "duration": {"nanoseconds": 5_400_000_000_000i64}}});
    assert_eq!(
        sent[0]["update_maintenance_schedule"]["schedule"],
        json!({"windows": [other.clone(), mine.clone()]})
    );
    assert_eq!(schedule(&sim), json!({"windows": [other.clone(), mine]}));

    // Scheduling again replaces our own window instead of adding a second one.
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "schedule", "--duration", "1h"])
        .await;
    assert_eq!(code, 0, "{err}");
    let windows = schedule(&sim)["windows"].as_array().unwrap().clone();
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert_eq!(windows[0], other);
    assert_eq!(
        windows[1]["unavailability"]["duration"]["nanoseconds"],
        3_600_000_000_000i64
    );
    let (code, out, _) = run
        .run_against(&sim, &["maintenance", "status", "--json"])
        .await;
    assert_eq!(code, 0);
    assert_eq!(json(&out)["mode"], "DRAINING");
    // `status` reports the window too.
    let (code, out, err) = run.run_against(&sim, &["status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let m = &json(&out)["maintenance"];
    assert_eq!(m["mode"], "DRAINING", "{out}");
    assert_eq!(m["windows"][0]["duration_seconds"], 3600.0, "{out}");
    let (_, text, _) = run.run_against(&sim, &["status"]).await;
    assert!(text.contains("maintenance:    DRAINING"), "{text}");
    assert!(text.contains("for 1h"), "{text}");

    let (code, _, err) = run.run_against(&sim, &["maintenance", "down"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(calls(&sim, "START_MAINTENANCE").len(), 1);
    assert_eq!(
        calls(&sim, "START_MAINTENANCE")[0]["start_maintenance"]["machines"],
        json!([me])
    );
    assert_eq!(sim.state_json()["down_machines"], json!([me]));
    assert!(!sim.is_listed(), "the master removed the agent");
    // The master removed the agent (erasing its drain state) and keeps the machine DOWN:
    // nothing can run here any more.
    let (code, out, err) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(json(&out)["maintenance"]["mode"], "DOWN", "{out}");
    // Down again: already down, nothing else sent.
    let (code, out, _) = run.run_against(&sim, &["maintenance", "down"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("already DOWN"), "{out}");
    assert_eq!(calls(&sim, "START_MAINTENANCE").len(), 1);

    // Up names the machine from the record even when the local agent does not answer.
    let (code, out, err) = run
        .run_at(
            &sim.master_url(),
            "http://127.0.0.1:9",
            &["maintenance", "up"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("UP"), "{out}");
    assert!(err.contains("recorded"), "{err}");
    assert_eq!(sim.state_json()["down_machines"], json!([]));
    assert_eq!(schedule(&sim), json!({"windows": [other]}));
    let (code, out, _) = run.run_against(&sim, &["maintenance", "up"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("nothing to do"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn down_is_refused_while_the_agent_holds_work_or_the_machine_is_unscheduled() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    // The master still sends this agent work: a task could land between the check and the call.
    let (code, _, err) = run.run_against(&sim, &["maintenance", "down"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("not deactivated"), "{err}");
    // Deactivated, but tasks still run: refused, naming them.
    let (code, _, err) = run.run_against(&sim, &["deactivate"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run.run_against(&sim, &["maintenance", "down"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("still holds work"), "{err}");
    assert!(err.contains("marathon"), "{err}");
    // Scheduled already: the way out named is one the master accepts (DRAIN_AGENT is refused
    // for a scheduled machine).
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "schedule", "--start", "1h"])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run.run_against(&sim, &["maintenance", "down"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("schedule --cancel"), "{err}");
    assert_eq!(calls(&sim, "START_MAINTENANCE").len(), 0);
    assert!(sim.is_listed());
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "schedule", "--cancel"])
        .await;
    assert_eq!(code, 0, "{err}");

    // --force skips the work check; the master still wants the machine scheduled.
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "down", "--force"])
        .await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("not in the maintenance schedule"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .last()
            .map(|l| l.starts_with("mesos-maint:")),
        Some(true)
    );
    assert!(sim.is_listed());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_takes_only_this_machine_out_and_bad_input_sends_nothing() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let other = seed_other_window(&sim).await;
    let run = Run::new();
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "schedule", "--start", "10m"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(schedule(&sim)["windows"].as_array().unwrap().len(), 2);
    let (code, _, err) = run
        .run_against(&sim, &["maintenance", "schedule", "--cancel"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(schedule(&sim), json!({"windows": [other]}));

    sim.reset_log();
    for args in [
        &["maintenance", "schedule", "--start", "tomorrow-ish"][..],
        &["maintenance", "schedule", "--duration", "-5m"][..],
        // Mesos times are int64 nanoseconds: 2262 is the end.
        &["maintenance", "schedule", "--start", "1000y"][..],
        &["maintenance", "schedule", "--start", "9999-01-01T00:00:00Z"][..],
        &["maintenance", "schedule", "--start", "300000000000y"][..],
        &["maintenance", "schedule", "--duration", "300y"][..],
        &["maintenance", "schedule", "--cancel", "--start", "now"][..],
        &["maintenance", "sideways"][..],
    ] {
        let (code, _, err) = run.run_against(&sim, args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
}
