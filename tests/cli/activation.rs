use mesos_sim::{Sim, SimConfig};

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn deactivate_is_idempotent() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["deactivate"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(sim.is_deactivated());
    let (code, _, err) = run.run_against(&sim, &["deactivate"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.count_calls("DEACTIVATE_AGENT"), 2);
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
    // Deactivated but not draining: tasks keep running.
    let (code, out, _) = run.run_against(&sim, &["check", "--json"]).await;
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["deactivated"], true);
    assert_eq!(v["drain_state"], "NONE");
}

#[tokio::test(flavor = "multi_thread")]
async fn reactivate_after_drain_clears_state_and_marker() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(run.marker_path().exists());
    let (code, out, err) = run.run_against(&sim, &["reactivate", "--no-start"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 1);
    assert_eq!(sim.drain_state(), None);
    assert!(!sim.is_deactivated());
    assert!(!run.marker_path().exists());
    // Already active: Mesos answers 400 "Agent is not deactivated"; that is success for us.
    let (code, out, err) = run.run_against(&sim, &["reactivate", "--no-start"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("already active"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reactivate_while_draining_is_a_clear_error() {
    let sim = Sim::start(stuck_config()).await.unwrap();
    let run = Run::new();
    let (code, _, _) = run
        .run_against(&sim, &["drain", "--no-stop", "--deadline", "1s"])
        .await;
    assert_eq!(code, 4);
    let (code, _, err) = run.run_against(&sim, &["reactivate", "--no-start"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("still DRAINING"), "{err}");
    assert!(
        run.marker_path().exists(),
        "marker kept when reactivation failed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reactivate_of_an_unreachable_agent_is_saved_with_a_warning() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let run = Run::new();
    let (code, _, err) = run.run_against(&sim, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    sim.set_agent_reachable(false);
    // The agent is down: its id comes from our marker; the master answers 409 but saves it.
    let (code, out, err) = run.run_against(&sim, &["reactivate", "--no-start"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("409"), "{err}");
    assert!(!sim.is_deactivated());
}
