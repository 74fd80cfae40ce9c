//! A fleet rollout simulated end to end: N `mesos-maint` processes, one per simulated node (its
//! own agent URL, master and state dir), each `drain --no-stop` then `reactivate --no-start`,
//! sharing one fleet lock with a budget of K. From the masters' logs laid on one timeline (an
//! agent is out from its accepted DRAIN_AGENT until its accepted REACTIVATE_AGENT) never more
//! than K agents are out at once, and all N finish.
//!
//! Each node has its own simulator (master and agent): the simulator serves one local agent
//! per master today, so "the master's timeline" is the union of the N masters' logs on the
//! shared clock (`Sim::started`).

#[path = "common/mod.rs"]
mod common;
mod fleet_support;

use std::time::{Duration, Instant};

use cloud_fakes::{FakeFleetLock, Flavor};
use mesos_sim::{Sim, SimConfig};

use common::Run;

const NODES: usize = 8;
const BUDGET: usize = 2;

struct Node {
    sim: Sim,
    run: Run,
    config: String,
}

async fn nodes(fleet_toml: impl Fn(&str) -> String) -> Vec<Node> {
    let mut out = Vec::new();
    for i in 0..NODES {
        let mut cfg = SimConfig::scenario("quick").unwrap();
        cfg.agent_id = format!("{}-S{i}", mesos_sim::FRAMEWORK_ID_PREFIX);
        cfg.hostname = format!("agent-{i}.sim.local");
        let sim = Sim::start(cfg).await.unwrap();
        let run = Run::new();
        let config = run.config_file(&fleet_toml(&format!("node-{i}")));
        out.push(Node { sim, run, config });
    }
    out
}

/// Runs every node's drain-then-reactivate at once; returns the peak number of agents out.
async fn roll(nodes: &[Node]) -> usize {
    let runs = nodes.iter().map(|n| async move {
        let (code, _, err) = n
            .run
            .run_against(&n.sim, &["--config", &n.config, "drain", "--no-stop"])
            .await;
        assert_eq!(code, 0, "drain: {err}");
        // Out for a moment longer, so the slots are held while others wait.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (code, _, err) = n
            .run
            .run_against(&n.sim, &["--config", &n.config, "reactivate", "--no-start"])
            .await;
        assert_eq!(code, 0, "reactivate: {err}");
    });
    futures_util::future::join_all(runs).await;
    let mut events: Vec<(Instant, i32)> = Vec::new();
    for n in nodes {
        let origin = n.sim.started();
        let accepted = |call: &str| {
            n.sim
                .requests()
                .into_iter()
                .filter(|r| r.call_type().as_deref() == Some(call) && r.status / 100 == 2)
                .map(|r| origin + Duration::from_millis(r.at_ms))
                .collect::<Vec<_>>()
        };
        let (drains, reactivations) = (accepted("DRAIN_AGENT"), accepted("REACTIVATE_AGENT"));
        assert_eq!(drains.len(), 1, "{}: {drains:?}", n.sim.agent_id());
        assert_eq!(reactivations.len(), 1, "{}", n.sim.agent_id());
        assert_eq!(n.sim.drain_state(), None, "{} finished", n.sim.agent_id());
        events.push((drains[0], 1));
        events.push((reactivations[0], -1));
    }
    // At equal instants (ms resolution) count the return first: a slot given back is taken next.
    events.sort();
    let (mut out, mut peak) = (0i32, 0i32);
    for (_, d) in events {
        out += d;
        peak = peak.max(out);
    }
    peak as usize
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_through_zookeeper_never_has_more_than_k_agents_out() {
    let Some(zk) = fleet_support::zk_server::start_or_skip("rollout through ZooKeeper") else {
        return;
    };
    let nodes = nodes(|id| {
        format!(
            "[fleet]\nbackend = \"zookeeper\"\nzookeeper = \"zk://{}/rollout\"\nmax_unavailable = {BUDGET}\nid = \"{id}\"\nwait = \"5m\"\n",
            zk.address()
        )
    })
    .await;
    let peak = roll(&nodes).await;
    eprintln!("peak agents out: {peak} (budget {BUDGET}, {NODES} nodes)");
    assert!(peak <= BUDGET, "{peak} agents out at once, budget {BUDGET}");
    assert!(peak >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_through_the_fleetlock_fake_never_has_more_than_k_agents_out() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    fake.set_group("default", BUDGET);
    let url = fake.url();
    let nodes = nodes(|id| {
        format!("[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"{url}\"\nid = \"{id}\"\nwait = \"5m\"\n")
    })
    .await;
    let peak = roll(&nodes).await;
    eprintln!("peak agents out: {peak} (budget {BUDGET}, {NODES} nodes)");
    assert!(peak <= BUDGET, "{peak} agents out at once, budget {BUDGET}");
    assert!(fake.holders("default").is_empty());
}
