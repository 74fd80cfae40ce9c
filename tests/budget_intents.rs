//! Disruption budget intents in a real ZooKeeper (Debian's package, started here; each test
//! skips, saying why, only without a JRE or the ZooKeeper jar): deciding and recording are one
//! compare-and-set, so two nodes of different fleet groups racing for an app's last spare
//! instance cannot both go; intents go with the slot; `fleet status` lists them.

#[path = "common/mod.rs"]
mod common;
mod fleet_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use fleet_support::zk_server::start_or_skip;
use mesos_maint::budget::intents::{self, decide_and_record, Decision, IntentDoc};
use mesos_maint::budget::rule::{Census, Instance};
use mesos_maint::budget::spec::{Amount, Limit};
use mesos_maint::fleet::settings::ZkUrl;
use mesos_maint::fleet::zookeeper::{ZkLock, ZkTimeouts};
use mesos_sim::marathon::{task_id, FakeMarathon, MarathonApp, MarathonTask};
use mesos_sim::{AckMode, Sim, SimAuth, SimConfig, TaskSpec};

fn zk_lock(address: &str, group: &str) -> ZkLock {
    ZkLock::new(
        ZkUrl::parse(&format!("zk://{address}/mesos-maint")).unwrap(),
        group,
        3,
        None,
        ZkTimeouts {
            session: Duration::from_secs(6),
            connect: Duration::from_secs(5),
            request: Duration::from_secs(5),
            operation: Duration::from_secs(20),
        },
    )
}

/// Three healthy instances, one on each of S1, S2, S3; max_unavailable = 1 (2 required).
fn decision(znode: &str, agent: &str, task: &str) -> Decision {
    Decision {
        workload: "/prod/api".into(),
        znode: znode.into(),
        limit: Limit::MaxUnavailable(Amount::Count(1)),
        census: Census {
            expected: 3,
            instances: (1..=3)
                .map(|n| Instance {
                    task_id: format!("t{n}"),
                    agent_id: format!("S{n}"),
                    healthy: true,
                })
                .collect(),
        },
        agent_id: agent.into(),
        local_tasks: vec![task.into()],
        agents_out: HashSet::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_of_different_groups_racing_for_the_last_spare_instance_exactly_one_goes() {
    let Some(server) = start_or_skip("racing for the last spare instance") else {
        return;
    };
    let addr = server.address();
    // Different fleet groups: the slot does not stop either; only the budget can.
    let a = Arc::new(zk_lock(&addr, "rack-a"));
    let b = Arc::new(zk_lock(&addr, "rack-b"));
    for round in 0..20 {
        let znode = format!("prod_api-{round}");
        let (ra, rb) = tokio::join!(
            decide_and_record(&a, "node-a", decision(&znode, "S1", "t1")),
            decide_and_record(&b, "node-b", decision(&znode, "S2", "t2")),
        );
        let (va, vb) = (ra.unwrap(), rb.unwrap());
        assert!(
            va.allows ^ vb.allows,
            "round {round}: exactly one goes: a {va:?} b {vb:?}"
        );
        let loser = if va.allows { &vb } else { &va };
        assert_eq!(
            loser.in_flight, 1,
            "the winner's task is in flight: {loser:?}"
        );
        assert_eq!(loser.healthy_elsewhere, 1);
        // The store holds the winner's intent only.
        let data = a
            .read_znode(&intents::rel_path(&znode))
            .await
            .unwrap()
            .unwrap();
        let doc = IntentDoc::parse(&data).unwrap();
        assert_eq!(doc.holders.len(), 1, "{doc:?}");
    }
    // A node asking again (a resumed drain) keeps its intent: no second entry.
    let v = decide_and_record(&a, "node-a", decision("again", "S1", "t1"))
        .await
        .unwrap();
    assert!(v.allows);
    let v = decide_and_record(&a, "node-a", decision("again", "S1", "t1"))
        .await
        .unwrap();
    assert!(v.allows);
    let doc = IntentDoc::parse(
        &a.read_znode(&intents::rel_path("again"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc.holders.len(), 1);
    // Removed (idempotent), the other node may go.
    intents::remove(&a, "node-a", "again").await.unwrap();
    intents::remove(&a, "node-a", "again").await.unwrap();
    let v = decide_and_record(&b, "node-b", decision("again", "S2", "t2"))
        .await
        .unwrap();
    assert!(v.allows);
}

/// A node (its own simulated master and agent) running one instance of `/prod/api` labelled
/// max_unavailable = 1, in fleet group `group` of the shared ZooKeeper.
struct Node {
    sim: Sim,
    run: Run,
    cfg: String,
}

async fn node(zk: &str, marathon: &FakeMarathon, id: &str, group: &str, task: &str) -> Node {
    let sim = Sim::start(SimConfig {
        frameworks: vec![framework(
            "fw-marathon",
            "marathon",
            AckMode::After(Duration::from_millis(20)),
            vec![TaskSpec::new(task, Duration::from_millis(100))
                .with_label("MESOS_MAINT_MAX_UNAVAILABLE", "1")],
        )],
        agent_id: format!("agent-{id}"),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let run = Run::new();
    let cfg = run.config_file(&format!(
        "[fleet]\nbackend = \"zookeeper\"\nzookeeper = \"zk://{zk}/mesos-maint\"\ngroup = \"{group}\"\nid = \"{id}\"\nmax_unavailable = 3\nwait = \"0s\"\n[budget]\nmarathon = \"{}\"\n",
        marathon.url()
    ));
    Node { sim, run, cfg }
}

async fn drain(n: &Node) -> (i32, String, String) {
    let args = [
        "--config",
        n.cfg.as_str(),
        "drain",
        "--no-stop",
        "--budget-wait",
        "1s",
    ];
    n.run.run_against(&n.sim, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_holds_another_node_until_the_slot_is_given_back_and_fleet_status_lists_it() {
    let Some(server) = start_or_skip("intents through the binary") else {
        return;
    };
    let zk = server.address();
    let marathon = FakeMarathon::start(SimAuth::None).await;
    let (t1, t2, t3) = (
        task_id("/prod/api"),
        task_id("/prod/api"),
        task_id("/prod/api"),
    );
    let a = node(&zk, &marathon, "node-a", "rack-a", &t1).await;
    let b = node(&zk, &marathon, "node-b", "rack-b", &t2).await;
    let mut app = MarathonApp::new("/prod/api", 3);
    let hour = Duration::from_secs(3600);
    app.tasks
        .push(MarathonTask::running(&t1, "agent-node-a", hour));
    app.tasks
        .push(MarathonTask::running(&t2, "agent-node-b", hour));
    app.tasks
        .push(MarathonTask::running(&t3, "agent-node-c", hour));
    marathon.put_app(app);

    let (code, _, err) = drain(&a).await;
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.run.marker_path()).unwrap()).unwrap();
    assert_eq!(m["budget"]["intents"][0], "prod_api", "{m}");

    // fleet status lists the intent (and no group named "budgets").
    let (code, out, err) = a
        .run
        .run_against(&a.sim, &["--config", &a.cfg, "fleet", "status", "--json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["budgets"][0]["workload"], "prod_api", "{v}");
    assert_eq!(v["budgets"][0]["holders"][0]["id"], "node-a", "{v}");
    assert_eq!(
        v["budgets"][0]["holders"][0]["tasks"][0],
        t1.as_str(),
        "{v}"
    );
    assert!(
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["group"] != "budgets"),
        "{v}"
    );
    let (_, text, _) = a
        .run
        .run_against(&a.sim, &["--config", &a.cfg, "fleet", "status"])
        .await;
    assert!(
        text.contains("budget intents on budgets/prod_api:"),
        "{text}"
    );

    // Node B (another group, another master that does not see A out): A's task is in flight,
    // so only t3 is healthy elsewhere of the 2 required. Refused, nothing sent.
    let (code, _, err) = drain(&b).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("1 healthy elsewhere, 1 in flight"), "{err}");
    assert_eq!(b.sim.count_calls("DRAIN_AGENT"), 0);

    // No timer takes the intent away; reactivate (A is back) does, with the slot.
    let (code, _, err) = a
        .run
        .run_against(&a.sim, &["--config", &a.cfg, "reactivate", "--no-start"])
        .await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = a
        .run
        .run_against(&a.sim, &["--config", &a.cfg, "fleet", "status", "--json"])
        .await;
    let v = json(&out);
    assert_eq!(v["budgets"][0]["holders"], serde_json::json!([]), "{v}");

    let (code, _, err) = drain(&b).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(b.sim.count_calls("DRAIN_AGENT"), 1);
}
