//! A fleet rollout simulated end to end on ONE master: one simulator serves a master and N
//! local agents (each its own port, id, hostname and tasks); N `mesos-maint` processes, one per
//! agent (its own agent URL, state dir and holder id), each `drain --no-stop` then `reactivate
//! --no-start`, all sharing one fleet lock with a budget of K. From that master's request log
//! (one clock: an agent is out from its accepted DRAIN_AGENT, DRAINING and then DRAINED, until
//! its accepted REACTIVATE_AGENT) never more than K agents are out at once, and all N finish.

#[path = "common/mod.rs"]
mod common;
mod fleet_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cloud_fakes::{FakeFleetLock, Flavor};
use mesos_sim::{LoggedRequest, Sim, SimConfig};

use common::Run;

const NODES: usize = 8;
const BUDGET: usize = 2;

/// One simulated node: its agent on the shared master, and its own `mesos-maint` state.
struct Node {
    agent_url: String,
    agent_id: String,
    run: Run,
    config: String,
}

/// One master with `count` agents running the "quick" scenario's tasks (a drain of a few hundred
/// ms), and one node per agent
/// with the `[fleet]` config `fleet_toml(holder id)`.
async fn fleet(count: usize, fleet_toml: impl Fn(&str) -> String) -> (Sim, Vec<Node>) {
    fleet_of("quick", count, fleet_toml).await
}

/// [`fleet`] with the tasks of another simulator scenario.
async fn fleet_of(
    scenario: &str,
    count: usize,
    fleet_toml: impl Fn(&str) -> String,
) -> (Sim, Vec<Node>) {
    let cfg = SimConfig::scenario(scenario)
        .unwrap()
        .with_extra_agents(count - 1);
    let sim = Sim::start(cfg).await.unwrap();
    let nodes = sim
        .agents()
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let run = Run::new();
            let config = run.config_file(&fleet_toml(&format!("node-{i}")));
            Node {
                agent_url: a.url,
                agent_id: a.agent_id,
                run,
                config,
            }
        })
        .collect();
    (sim, nodes)
}

/// Runs `args` for node `n` to completion without a time limit (a node may wait long for its
/// slot in a big rollout); panics unless it exits 0.
async fn run_ok(sim: &Sim, n: &Node, args: &[&str]) {
    let mut full = vec!["--config", n.config.as_str()];
    full.extend(args);
    let out = n
        .run
        .command_at(&sim.master_url(), &n.agent_url, &full)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        n.agent_id,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs every node's drain-then-reactivate at once (each staying out `hold` in between);
/// checks on the master that every node finished; returns the peak number of agents out.
async fn roll(sim: &Sim, nodes: &[Node], hold: Duration) -> usize {
    let runs = nodes.iter().map(|n| async move {
        run_ok(sim, n, &["drain", "--no-stop"]).await;
        tokio::time::sleep(hold).await;
        run_ok(sim, n, &["reactivate", "--no-start"]).await;
    });
    futures_util::future::join_all(runs).await;
    let spans = out_spans(&sim.requests());
    assert_eq!(spans.len(), nodes.len(), "agents drained: {spans:?}");
    for n in nodes {
        let s = &spans[&n.agent_id];
        assert_eq!(s.drains.len(), 1, "{}: {s:?}", n.agent_id);
        assert_eq!(s.reactivations.len(), 1, "{}: {s:?}", n.agent_id);
        assert!(s.drains[0] <= s.reactivations[0], "{}: {s:?}", n.agent_id);
    }
    for a in sim.agents() {
        assert_eq!(a.drain_state, None, "{} finished", a.agent_id);
        assert!(!a.deactivated && a.listed, "{} back in service", a.agent_id);
    }
    peak_out(&spans)
}

/// The accepted DRAIN_AGENT and REACTIVATE_AGENT calls of one agent (ms on the master's clock).
#[derive(Debug, Default)]
struct Span {
    drains: Vec<u64>,
    reactivations: Vec<u64>,
}

/// Per agent id, from the master's log: when its drains and reactivations were accepted.
fn out_spans(log: &[LoggedRequest]) -> BTreeMap<String, Span> {
    let mut spans: BTreeMap<String, Span> = BTreeMap::new();
    for r in log {
        if r.status / 100 != 2 || !r.is_api_call() {
            continue;
        }
        let (key, reactivation) = match r.call_type().as_deref() {
            Some("DRAIN_AGENT") => ("drain_agent", false),
            Some("REACTIVATE_AGENT") => ("reactivate_agent", true),
            _ => continue,
        };
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let id = body[key]["agent_id"]["value"].as_str().unwrap().to_owned();
        let span = spans.entry(id).or_default();
        if reactivation {
            span.reactivations.push(r.at_ms);
        } else {
            span.drains.push(r.at_ms);
        }
    }
    spans
}

/// The most agents out at one instant. At equal instants (ms resolution) a return counts
/// first: a slot given back is taken next, in that order.
fn peak_out(spans: &BTreeMap<String, Span>) -> usize {
    let mut events: Vec<(u64, i32)> = Vec::new();
    for s in spans.values() {
        events.extend(s.drains.iter().map(|t| (*t, 1)));
        events.extend(s.reactivations.iter().map(|t| (*t, -1)));
    }
    events.sort();
    let (mut out, mut peak) = (0i32, 0i32);
    for (_, d) in events {
        out += d;
        peak = peak.max(out);
    }
    peak as usize
}

#[test]
fn peak_counts_overlaps_and_a_handover_at_one_instant_once() {
    let span = |d: u64, r: u64| Span {
        drains: vec![d],
        reactivations: vec![r],
    };
    let mut spans = BTreeMap::new();
    spans.insert("a".to_owned(), span(0, 10));
    spans.insert("b".to_owned(), span(10, 20));
    assert_eq!(peak_out(&spans), 1);
    spans.insert("c".to_owned(), span(5, 15));
    assert_eq!(peak_out(&spans), 2);
    spans.insert("d".to_owned(), span(6, 7));
    assert_eq!(peak_out(&spans), 3);
}

fn zookeeper_toml(address: &str, chroot: &str, k: usize, id: &str, wait: &str) -> String {
    format!(
        "[fleet]\nbackend = \"zookeeper\"\nzookeeper = \"zk://{address}/{chroot}\"\nmax_unavailable = {k}\nid = \"{id}\"\nwait = \"{wait}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_through_zookeeper_never_has_more_than_k_agents_out() {
    let Some(zk) = fleet_support::zk_server::start_or_skip("rollout through ZooKeeper") else {
        return;
    };
    let (sim, nodes) = fleet(NODES, |id| {
        zookeeper_toml(&zk.address(), "rollout", BUDGET, id, "5m")
    })
    .await;
    let peak = roll(&sim, &nodes, Duration::from_millis(150)).await;
    eprintln!("peak agents out: {peak} (budget {BUDGET}, {NODES} nodes, one master)");
    assert!(peak <= BUDGET, "{peak} agents out at once, budget {BUDGET}");
    assert!(peak >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_through_the_fleetlock_fake_never_has_more_than_k_agents_out() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    fake.set_group("default", BUDGET);
    let url = fake.url();
    let (sim, nodes) = fleet(NODES, |id| {
        format!("[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"{url}\"\nid = \"{id}\"\nwait = \"5m\"\n")
    })
    .await;
    let peak = roll(&sim, &nodes, Duration::from_millis(150)).await;
    eprintln!("peak agents out: {peak} (budget {BUDGET}, {NODES} nodes, one master)");
    assert!(peak <= BUDGET, "{peak} agents out at once, budget {BUDGET}");
    assert!(fake.holders("default").is_empty());
}

/// The rollout benchmark of docs/benchmarks.md (not a timed test; ignored by default):
/// `MEASURE_NODES` nodes (default 50) on one master, each agent running the `MEASURE_SCENARIO`
/// tasks (default `demo`: a drain of about 2.3 s), with each budget of `MEASURE_K` (default
/// "1,5,10"), through a real ZooKeeper behind the request-counting 3.4 proxy. Prints:
/// - `span`: on the master's clock, the first accepted DRAIN_AGENT to the last accepted
///   REACTIVATE_AGENT of the rollout; `ideal`: ceil(N/K) x one node's own span (DRAIN_AGENT to
///   REACTIVATE_AGENT) when it rolls alone (the median of three); their ratio is what the
///   coordination costs (a hand-over: the release, the waiter's watch, its take and its drain's
///   first steps up to DRAIN_AGENT);
/// - `wall`: from starting the N processes to the last exit (process start-up included);
/// - the peak number of agents out, and the ZooKeeper requests per node (pings excluded).
///
/// `cargo nextest run --release --test fleet_rollout --run-ignored only --no-capture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run by hand (see docs/benchmarks.md)"]
async fn measure_rollout() {
    let Some(zk) = fleet_support::zk_server::start_or_skip("measure_rollout") else {
        return;
    };
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
    let count: usize = env("MEASURE_NODES", "50").parse().unwrap();
    let scenario = env("MEASURE_SCENARIO", "demo");
    let budgets: Vec<usize> = env("MEASURE_K", "1,5,10")
        .split(',')
        .map(|k| k.trim().parse().unwrap())
        .collect();
    for (round, k) in budgets.into_iter().enumerate() {
        let proxy = fleet_support::zk34_proxy::Zk34Proxy::start(zk.address()).await;
        let toml =
            |id: &str| zookeeper_toml(&proxy.address(), &format!("bench{round}"), k, id, "1h");
        // One node alone (three times): the unit of the ideal.
        let mut solo = Vec::new();
        for _ in 0..3 {
            let (sim, node) = fleet_of(&scenario, 1, toml).await;
            roll(&sim, &node, Duration::ZERO).await;
            solo.push(master_span(&sim));
        }
        solo.sort();
        let one = solo[1];
        let before = requests(&proxy);
        let (sim, nodes) = fleet_of(&scenario, count, toml).await;
        let t = Instant::now();
        let peak = roll(&sim, &nodes, Duration::ZERO).await;
        let wall = t.elapsed();
        let span = master_span(&sim);
        let per_node = (requests(&proxy) - before) as f64 / count as f64;
        let ideal = one * count.div_ceil(k) as u32;
        eprintln!(
            "MEASURE nodes={count} K={k} scenario={scenario} span={:.1}s ideal={:.1}s (one node {:.2}s, solo spans {:?}) ratio={:.3} wall={:.1}s peak={peak} zk_requests_per_node={per_node:.1}",
            span.as_secs_f64(),
            ideal.as_secs_f64(),
            one.as_secs_f64(),
            solo,
            span.as_secs_f64() / ideal.as_secs_f64(),
            wall.as_secs_f64(),
        );
        assert!(peak <= k, "peak {peak} over K = {k}");
    }
}

/// On the master's clock: the first accepted DRAIN_AGENT to the last accepted REACTIVATE_AGENT.
fn master_span(sim: &Sim) -> Duration {
    let spans = out_spans(&sim.requests());
    let first = spans.values().flat_map(|s| s.drains.iter()).min().unwrap();
    let last = spans
        .values()
        .flat_map(|s| s.reactivations.iter())
        .max()
        .unwrap();
    Duration::from_millis(last - first)
}

/// ZooKeeper requests the proxy saw, pings (type 11) excluded.
fn requests(proxy: &fleet_support::zk34_proxy::Zk34Proxy) -> usize {
    proxy.types().iter().filter(|t| **t != 11).count()
}

/// design.md: "A holder whose agent the master reports gone (a finished decommission) is
/// released by whoever sees it". A scaled-in node died holding its slot after its agent was
/// marked gone: the next node's drain gives that slot back and goes on. A decommission whose
/// agent the master still lists keeps its slot.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_goes_on_past_a_decommissioned_node_that_died_holding_its_slot() {
    use mesos_maint::fleet::zookeeper::{ZkLock, ZkTimeouts};
    use mesos_maint::fleet::{FleetLock, Holder, Take, ZkUrl};

    let Some(zk) = fleet_support::zk_server::start_or_skip("decommissioned holder") else {
        return;
    };
    let (sim, nodes) = fleet(3, |id| zookeeper_toml(&zk.address(), "gone", 1, id, "30s")).await;
    let seed = ZkLock::new(
        ZkUrl::parse(&format!("zk://{}/gone", zk.address())).unwrap(),
        "default",
        1,
        None,
        ZkTimeouts {
            session: Duration::from_secs(6),
            connect: Duration::from_secs(5),
            request: Duration::from_secs(5),
            operation: Duration::from_secs(20),
        },
    );
    let scaled_in = Holder::new("node-1", &nodes[1].agent_id, "agent-1", "autoscaling");
    assert_eq!(
        seed.take(&scaled_in).await.unwrap(),
        Take::Granted { already: false }
    );
    let holders = || async {
        let s = seed.status().await.unwrap();
        let mut ids: Vec<String> = s.holders.unwrap().into_iter().map(|h| h.id).collect();
        ids.sort();
        ids
    };

    // Its agent still listed (the decommission under way): node-0 waits, then exit 5.
    let (n0, n2) = (&nodes[0], &nodes[2]);
    let args = [
        "--config",
        n0.config.as_str(),
        "drain",
        "--no-stop",
        "--fleet-wait",
        "2s",
    ];
    let out = n0
        .run
        .command_at(&sim.master_url(), &n0.agent_url, &args)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(holders().await, ["node-1"]);

    // The decommission finished: the agent is gone, the node died before giving its slot back.
    let body = format!(
        r#"{{"type":"MARK_AGENT_GONE","mark_agent_gone":{{"agent_id":{{"value":"{}"}}}}}}"#,
        nodes[1].agent_id
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1", sim.master_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!sim.agents()[1].listed);

    run_ok(&sim, n0, &["drain", "--no-stop"]).await;
    assert_eq!(holders().await, ["node-0"]);
    assert_eq!(sim.agents()[0].drain_state.as_deref(), Some("DRAINED"));
    // Nobody released node-2's agent's drain, or anything else: one DRAIN_AGENT, node-0's.
    let drains: Vec<String> = out_spans(&sim.requests()).into_keys().collect();
    assert_eq!(drains, std::slice::from_ref(&n0.agent_id));
    assert_eq!(sim.agents()[2].drain_state, None, "{}", n2.agent_id);
}
