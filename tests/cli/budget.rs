//! The drain's Budget stage against the simulator and the fake Marathon / SDK scheduler: each
//! refusal path and each override, through the built binary.

use std::time::Duration;

use mesos_sim::marathon::{task_id, FakeMarathon, MarathonApp, MarathonTask};
use mesos_sim::sdk::{FakeSdk, PodInstance};
use mesos_sim::{AckMode, Sim, SimAuth, SimConfig, TaskSpec};

use crate::common::*;

const APP: &str = "/prod/api";
const HOUR: Duration = Duration::from_secs(3600);

/// A node running one instance of `/prod/api` (labels as given), and a fake Marathon where the
/// app has `instances`, this node's task and `others` healthy elsewhere.
struct Cluster {
    sim: Sim,
    marathon: FakeMarathon,
}

async fn cluster(instances: u32, others: usize, labels: &[(&str, &str)], auth: SimAuth) -> Cluster {
    let local_task = task_id(APP);
    let mut spec = TaskSpec::new(local_task.clone(), Duration::from_millis(100));
    for (k, v) in labels {
        spec = spec.with_label(*k, *v);
    }
    let sim = Sim::start(SimConfig {
        frameworks: vec![framework(
            "fw-marathon",
            "marathon",
            AckMode::After(Duration::from_millis(20)),
            vec![spec],
        )],
        auth: auth.clone(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let marathon = FakeMarathon::start(auth).await;
    let mut app = MarathonApp::new(APP, instances);
    app.tasks
        .push(MarathonTask::running(&local_task, &sim.agent_id(), HOUR));
    for i in 0..others {
        app.tasks.push(MarathonTask::running(
            &task_id(APP),
            &format!("S-other-{i}"),
            HOUR,
        ));
    }
    marathon.put_app(app);
    Cluster { sim, marathon }
}

fn config(run: &Run, c: &Cluster, extra: &str) -> String {
    run.config_file(&format!(
        "[budget]\nmarathon = \"{}\"\nwait = \"5m\"\n{extra}",
        c.marathon.url()
    ))
}

const LABEL_MAX1: &[(&str, &str)] = &[("MESOS_MAINT_MAX_UNAVAILABLE", "1")];

async fn drain(run: &Run, c: &Cluster, cfg: &str, more: &[&str]) -> (i32, String, String) {
    let mut args = vec!["--config", cfg, "drain", "--no-stop"];
    args.extend_from_slice(more);
    run.run_against(&c.sim, &args).await
}

fn marker(run: &Run) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.marker_path()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_budgets_exit_2_before_anything_is_sent() {
    let c = cluster(3, 2, &[], SimAuth::None).await;
    for bad in [
        "[budget.app.\"/prod/api\"]\nmax_unavailable = \"ten\"\n",
        "[budget.app.\"/prod/api\"]\nmax_unavailable = \"150%\"\n",
        "[budget.app.\"/prod/api\"]\nmax_unavailable = 1\nmin_available = 2\n",
        "[budget]\nunknown = \"maybe\"\n",
    ] {
        let run = Run::new();
        let cfg = config(&run, &c, bad);
        let (code, _, err) = drain(&run, &c, &cfg, &[]).await;
        assert_eq!(code, 2, "{bad}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains("budget"), "{err}");
    }
    // A malformed label on the local task is refused too, before DRAIN_AGENT.
    let c2 = cluster(
        3,
        2,
        &[("MESOS_MAINT_MAX_UNAVAILABLE", "ten")],
        SimAuth::None,
    )
    .await;
    let run = Run::new();
    let cfg = config(&run, &c2, "");
    let (code, _, err) = drain(&run, &c2, &cfg, &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("MESOS_MAINT_MAX_UNAVAILABLE"), "{err}");
    assert_eq!(c2.sim.count_calls("DRAIN_AGENT"), 0);
    assert!(c.sim.requests().is_empty(), "nothing sent for a bad config");
    assert!(c.marathon.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_that_allows_it_asks_marathon_once_per_local_app_and_drains() {
    let c = cluster(3, 2, LABEL_MAX1, SimAuth::None).await;
    let run = Run::new();
    let cfg = config(&run, &c, "");
    let (code, _, err) = drain(&run, &c, &cfg, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        c.marathon.app_requests(APP),
        1,
        "{:?}",
        c.marathon.requests()
    );
    assert_eq!(c.marathon.requests()[0].query, "embed=app.tasks");
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 1);
    // The streamed GET_AGENTS of the round: one.
    assert_eq!(c.sim.count_calls("GET_AGENTS"), 1);
    let m = marker(&run);
    assert_eq!(m["budget"]["ignored"], false, "{m}");
    assert!(
        err.contains("/prod/api: 2 required, 2 healthy elsewhere"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_impossible_budget_is_refused_at_once_with_exit_5_naming_app_and_numbers() {
    // One instance, min_available = 1: it can never go.
    let c = cluster(1, 0, &[], SimAuth::None).await;
    let run = Run::new();
    let cfg = config(&run, &c, "[budget.app.\"/prod/api\"]\nmin_available = 1\n");
    let (code, _, err) = drain(&run, &c, &cfg, &["--budget-wait", "10m"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("/prod/api: 1 required, 0 healthy elsewhere"),
        "{err}"
    );
    assert!(err.contains("can never allow it"), "{err}");
    // One round, not a wait of 10 minutes (the test would time out): one request.
    assert_eq!(c.marathon.app_requests(APP), 1);
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 0);
    assert_eq!(marker(&run)["stage"], "Failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_that_does_not_allow_it_yet_waits_then_exits_5_with_nothing_sent() {
    let c = cluster(3, 2, LABEL_MAX1, SimAuth::None).await;
    let other = c.marathon.app(APP).unwrap().tasks[1].id.clone();
    c.marathon.set_alive(APP, &other, false);
    let run = Run::new();
    let cfg = config(&run, &c, "");
    let (code, _, err) = drain(&run, &c, &cfg, &["--budget-wait", "2s"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("not allowed within 2s"), "{err}");
    assert!(err.contains("1 healthy elsewhere"), "{err}");
    assert!(
        c.marathon.app_requests(APP) >= 2,
        "asked again while waiting"
    );
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn marathon_down_waits_budget_wait_then_exit_3_and_proceed_goes_ahead() {
    let c = cluster(3, 2, LABEL_MAX1, SimAuth::None).await;
    c.marathon.set_down(true);
    let run = Run::new();
    let cfg = config(&run, &c, "");
    let (code, _, err) = drain(&run, &c, &cfg, &["--budget-wait", "2s"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot tell within 2s"), "{err}");
    assert!(
        c.marathon.app_requests(APP) >= 2,
        "asked again while waiting"
    );
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 0);

    // budget.unknown = "proceed": goes ahead, and says so.
    let run = Run::new();
    let cfg = run.config_file(&format!(
        "[budget]\nmarathon = \"{}\"\nunknown = \"proceed\"\n",
        c.marathon.url()
    ));
    let (code, _, err) = drain(&run, &c, &cfg, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("overridden"), "{err}");
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 1);
    let m = marker(&run);
    assert!(
        m["budget"]["overridden"]
            .as_str()
            .unwrap()
            .contains("proceed"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn marathon_without_credentials_is_401_and_exit_3_with_them_it_drains() {
    let auth = SimAuth::Basic {
        principal: "maintenance".into(),
        secret: "s3cret".into(),
    };
    let c = cluster(3, 2, LABEL_MAX1, auth).await;
    let run = Run::new();
    let secret = run.state_dir().join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let with_auth = format!(
        "[auth]\nprincipal = \"maintenance\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    // A Marathon that wants other credentials than the master's: 401, "cannot be asked", exit 3.
    let other = FakeMarathon::start(SimAuth::Token("other".into())).await;
    other.put_app(c.marathon.app(APP).unwrap());
    let cfg = run.config_file(&format!(
        "[budget]\nmarathon = \"{}\"\n{with_auth}",
        other.url()
    ));
    let (code, _, err) = drain(&run, &c, &cfg, &["--budget-wait", "1s"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!other.requests().is_empty());
    assert!(other.requests().iter().all(|r| r.status == 401));
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 0);

    // The master's credentials ([auth]) are what Marathon gets.
    let cfg = config(&run, &c, &with_auth);
    let (code, _, err) = drain(&run, &c, &cfg, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(c.marathon.requests()[0].status, 200);
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_budgets_skips_the_stage_and_is_logged_and_marked() {
    let c = cluster(1, 0, &[("MESOS_MAINT_MIN_AVAILABLE", "1")], SimAuth::None).await;
    let run = Run::new();
    let cfg = config(&run, &c, "");
    let (code, _, err) = drain(&run, &c, &cfg, &["--ignore-budgets"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--ignore-budgets"), "{err}");
    assert!(c.marathon.requests().is_empty());
    assert_eq!(marker(&run)["budget"]["ignored"], true);
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 1);
    // --budget-wait and --ignore-budgets together is a usage error.
    let (code, _, _) = drain(&run, &c, &cfg, &["--ignore-budgets", "--budget-wait", "1s"]).await;
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sdk_scheduler_answering_202_holds_the_drain_and_500_cannot_be_asked() {
    let local = "kafka-0-broker__1";
    let sim = Sim::start(SimConfig {
        frameworks: vec![framework(
            "fw-kafka",
            "kafka",
            AckMode::After(Duration::from_millis(20)),
            vec![task(local, 100)],
        )],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let inst = |n: u32| PodInstance {
        name: format!("kafka-{n}"),
        task_id: format!("kafka-{n}-broker__1"),
        status: "RUNNING".into(),
    };
    let sdk = FakeSdk::start("kafka", "kafka", vec![inst(0), inst(1), inst(2)]).await;
    let run = Run::new();
    let cfg = run.config_file(&format!(
        "[budget.service.\"kafka\"]\nurl = \"{}\"\nmax_unavailable = 1\n",
        sdk.url()
    ));
    let args = [
        "--config",
        cfg.as_str(),
        "drain",
        "--no-stop",
        "--budget-wait",
        "1s",
    ];
    sdk.set_health(202);
    let (code, _, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("runs a plan"), "{err}");
    assert!(!sdk.requests().iter().any(|(p, _)| p == "/v1/pod/status"));
    sdk.set_health(500);
    let (code, _, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
    // Two brokers of three RUNNING elsewhere: one may go.
    sdk.set_health(200);
    let (code, _, err) = run.run_against(&sim, &args).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_each_workload_and_exits_5_when_a_budget_would_refuse() {
    let c = cluster(3, 2, LABEL_MAX1, SimAuth::None).await;
    let run = Run::new();
    let cfg = config(&run, &c, "");
    let (code, out, err) = drain(&run, &c, &cfg, &["--dry-run"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("/prod/api: 2 required, 2 healthy elsewhere, 0 in flight, 1 here"),
        "{out}"
    );
    let other = c.marathon.app(APP).unwrap().tasks[2].id.clone();
    c.marathon.remove_task(APP, &other);
    let (code, out, err) = drain(&run, &c, &cfg, &["--dry-run"]).await;
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("does not allow it yet"), "{out}");
    assert_eq!(c.sim.count_calls("DRAIN_AGENT"), 0);

    // status --json: `budgets`, read only when a budget applies.
    let (code, out, err) = run
        .run_against(&c.sim, &["--config", &cfg, "status", "--json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let b = &v["budgets"][0];
    assert_eq!(b["workload"], "/prod/api", "{v}");
    for (k, want) in [
        ("required", 2),
        ("healthy_elsewhere", 1),
        ("in_flight", 0),
        ("local", 1),
    ] {
        assert_eq!(b[k], want, "{k}: {v}");
    }
    assert_eq!(b["allows"], false);
    let plain = Run::new();
    let (_, out, _) = plain.run_against(&c.sim, &["status", "--json"]).await;
    assert!(
        json(&out).get("budgets").is_none(),
        "no budget, no key: {out}"
    );
}
