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
    nodes_n(NODES, fleet_toml).await
}

async fn nodes_n(count: usize, fleet_toml: impl Fn(&str) -> String) -> Vec<Node> {
    let mut out = Vec::new();
    for i in 0..count {
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

/// Runs `args` for node `n` to completion without a time limit (a node may wait long for its
/// slot in a big rollout); panics unless it exits 0.
async fn run_ok(n: &Node, args: &[&str]) {
    let mut full = vec!["--config", n.config.as_str()];
    full.extend(args);
    let out = n.run.command_against(&n.sim, &full).output().await.unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs every node's drain-then-reactivate at once; returns the peak number of agents out.
async fn roll(nodes: &[Node]) -> usize {
    roll_holding(nodes, Duration::from_millis(150)).await
}

/// [`roll`], each node staying out `hold` between its drain and its reactivation.
async fn roll_holding(nodes: &[Node], hold: Duration) -> usize {
    let runs = nodes.iter().map(|n| async move {
        run_ok(n, &["drain", "--no-stop"]).await;
        tokio::time::sleep(hold).await;
        run_ok(n, &["reactivate", "--no-start"]).await;
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

/// The rollout benchmark of docs/benchmarks.md (not a timed test; ignored by default):
/// `MEASURE_NODES` nodes (default 50) with each budget of `MEASURE_K` (default "1,5,10"), through
/// a real ZooKeeper behind the request-counting 3.4 proxy. Prints the wall time against the
/// ideal ceil(N/K) x one node's drain-and-reactivate alone, the peak agents out and the
/// ZooKeeper requests per node (pings excluded).
///
/// `cargo nextest run --release --test fleet_rollout --run-ignored only --no-capture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run by hand (see docs/benchmarks.md)"]
async fn measure_rollout() {
    let Some(zk) = fleet_support::zk_server::start_or_skip("measure_rollout") else {
        return;
    };
    let count: usize = std::env::var("MEASURE_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let budgets: Vec<usize> = std::env::var("MEASURE_K")
        .unwrap_or_else(|_| "1,5,10".into())
        .split(',')
        .map(|k| k.trim().parse().unwrap())
        .collect();
    for (round, k) in budgets.into_iter().enumerate() {
        let proxy = fleet_support::zk34_proxy::Zk34Proxy::start(zk.address()).await;
        let toml = |id: &str| {
            format!(
                "[fleet]\nbackend = \"zookeeper\"\nzookeeper = \"zk://{}/bench{round}\"\nmax_unavailable = {k}\nid = \"{id}\"\nwait = \"1h\"\n",
                proxy.address()
            )
        };
        // One node alone: the unit of the ideal.
        let solo = nodes_n(1, toml).await;
        let t = Instant::now();
        roll_holding(&solo, Duration::ZERO).await;
        let one = t.elapsed();
        let before = requests(&proxy);
        let nodes = nodes_n(count, toml).await;
        let t = Instant::now();
        let peak = roll_holding(&nodes, Duration::ZERO).await;
        let wall = t.elapsed();
        let per_node = (requests(&proxy) - before) as f64 / count as f64;
        let ideal = one * count.div_ceil(k) as u32;
        eprintln!(
            "MEASURE nodes={count} K={k} wall={:.1}s ideal={:.1}s (one node {:.2}s) ratio={:.2} peak={peak} zk_requests_per_node={per_node:.1}",
            wall.as_secs_f64(),
            ideal.as_secs_f64(),
            one.as_secs_f64(),
            wall.as_secs_f64() / ideal.as_secs_f64()
        );
        assert!(peak <= k, "peak {peak} over K = {k}");
    }
}

/// ZooKeeper requests the proxy saw, pings (type 11) excluded.
fn requests(proxy: &fleet_support::zk34_proxy::Zk34Proxy) -> usize {
    proxy.types().iter().filter(|t| **t != 11).count()
}
