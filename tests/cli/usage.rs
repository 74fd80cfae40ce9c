use mesos_sim::{Sim, SimConfig};

use crate::common::*;

async fn assert_usage_error(args: &[&str], needle: &str) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let run = Run::new();
    let (code, out, err) = run.run_against(&sim, args).await;
    assert_eq!(code, 2, "{args:?}: {out}\n{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: one-line error expected: {err}"
    );
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(sim.requests().is_empty(), "{args:?}: nothing may be sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_exit_2_before_anything_is_sent() {
    assert_usage_error(&["drain", "--no-stop", "--deadline", "10x"], "10x").await;
    assert_usage_error(
        &["drain", "--no-stop", "--max-grace-period", "10mins please"],
        "10mins please",
    )
    .await;
    // A negative duration is named as such, not mistaken for a flag.
    assert_usage_error(&["drain", "--no-stop", "--deadline", "-5s"], "'-5s'").await;
    assert_usage_error(
        &["drain", "--no-stop", "--max-grace-period", "-5s"],
        "'-5s'",
    )
    .await;
    assert_usage_error(&["drain", "--bogus-flag"], "--bogus-flag").await;
    assert_usage_error(&["drain", "--no-stop", "--force"], "--force").await;
    assert_usage_error(
        &["drain", "--deadline", "5m", "--no-deadline"],
        "--no-deadline",
    )
    .await;
    assert_usage_error(&["explode"], "explode").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_and_config_are_exit_2() {
    let run = Run::new();
    let (code, _, err) = run.run(&["check", "--master", "leader.mesos:5050"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("leader.mesos:5050"), "{err}");

    let conf = run.config_file("[drain]\ndeadline = 5\n");
    let (code, _, err) = run.run(&["check", "--config", &conf]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("drain.deadline = 5"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let mut run2 = Run::new();
    run2.extra_env
        .push(("MESOS_MAINT_AGENT".into(), "ftp://x".into()));
    let (code, _, err) = run2.run(&["check"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("MESOS_MAINT_AGENT"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn help_and_version_exit_0() {
    let run = Run::new();
    let (code, out, _) = run.run(&["--help"]).await;
    assert_eq!(code, 0);
    for cmd in [
        "status",
        "check",
        "drain",
        "deactivate",
        "reactivate",
        "maintenance",
    ] {
        assert!(out.contains(cmd), "{out}");
    }
    let (code, out, _) = run.run(&["--version"]).await;
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}
