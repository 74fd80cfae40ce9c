//! Measurements for docs/benchmarks.md "Disruption budgets" (ignored tests, run by hand; see
//! there how): the Budget stage's wall time and Marathon requests against a fake Marathon with
//! 5,000 apps and 50,000 tasks, 10 of the apps on the local node; and the ZooKeeper requests
//! the intents add to a drain. Nothing here asserts a time.

#[path = "common/mod.rs"]
mod common;
mod fleet_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mesos_maint::budget::round::{evaluate_round, IntentStore, Sources};
use mesos_maint::budget::{self, BudgetSettings};
use mesos_maint::fleet::master::MasterCensus;
use mesos_maint::mesos::{AgentClient, Transport, TransportSettings};
use mesos_sim::marathon::{task_id, FakeMarathon, MarathonApp, MarathonTask};
use mesos_sim::{AckMode, Sim, SimAuth, SimConfig, TaskSpec};

const APPS: usize = 5_000;
const TASKS_PER_APP: usize = 10;
const LOCAL_APPS: usize = 10;
const ROUNDS: usize = 21;

/// Other agents the master lists (GET_AGENTS): `BUDGET_BENCH_AGENTS`, default 1,000.
fn fillers() -> usize {
    std::env::var("BUDGET_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

fn app_id(i: usize) -> String {
    format!("/bench/app-{i:04}")
}

async fn setup() -> (Sim, FakeMarathon, BudgetSettings) {
    let hour = Duration::from_secs(3600);
    let mut local = Vec::new();
    for i in 0..LOCAL_APPS {
        local.push(
            TaskSpec::new(task_id(&app_id(i)), Duration::from_millis(100))
                .with_label("MESOS_MAINT_MAX_UNAVAILABLE", "10%"),
        );
    }
    let sim = Sim::start(SimConfig {
        frameworks: vec![framework(
            "fw-marathon",
            "marathon",
            AckMode::After(Duration::from_millis(20)),
            local.clone(),
        )],
        filler_agents: fillers(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let marathon = FakeMarathon::start(SimAuth::None).await;
    for i in 0..APPS {
        let id = app_id(i);
        let mut app = MarathonApp::new(&id, TASKS_PER_APP as u32);
        let first = match local.get(i) {
            Some(t) => {
                app.tasks
                    .push(MarathonTask::running(&t.id, &sim.agent_id(), hour));
                1
            }
            None => 0,
        };
        for t in first..TASKS_PER_APP {
            app.tasks.push(MarathonTask::running(
                &task_id(&id),
                &format!("S-fill-{}", (i * TASKS_PER_APP + t) % 1_000),
                hour,
            ));
        }
        marathon.put_app(app);
    }
    let settings = BudgetSettings {
        marathon: Some(marathon.url().parse().unwrap()),
        ..BudgetSettings::default()
    };
    (sim, marathon, settings)
}

fn transport(timeout: Duration) -> Arc<Transport> {
    let mut s = TransportSettings {
        request_timeout: timeout,
        ..TransportSettings::default()
    };
    s.retry.max_elapsed = Duration::ZERO;
    Arc::new(Transport::new(s).unwrap())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: run by hand (docs/benchmarks.md)"]
async fn measure_budget_stage() {
    let (sim, marathon, settings) = setup().await;
    let agent = AgentClient::new(
        transport(Duration::from_secs(10)),
        sim.agent_url().parse().unwrap(),
    );
    let sources = Sources {
        transport: transport(budget::REQUEST_TIMEOUT),
        settings: settings.clone(),
        agents: Box::new(MasterCensus::new(
            transport(Duration::from_secs(30)),
            sim.master_url().parse().unwrap(),
        )),
    };
    let mut times = Vec::new();
    let mut per_round = Vec::new();
    for _ in 0..ROUNDS {
        let before = marathon.requests().len();
        let started = Instant::now();
        // What the stage does: the local tasks and frameworks, the plan, one round.
        let (tasks, frameworks) = tokio::join!(agent.get_tasks(), agent.get_frameworks());
        let (tasks, frameworks) = (tasks.unwrap(), frameworks.unwrap());
        let local = budget::workloads::from_tasks(&tasks, &frameworks, &[]);
        let planned = budget::plan(&settings, local).unwrap();
        let round = evaluate_round(&sources, &sim.agent_id(), &planned, None).await;
        times.push(started.elapsed());
        per_round.push(marathon.requests().len() - before);
        assert_eq!(round.verdicts.len(), LOCAL_APPS, "{round:?}");
        assert!(round.verdicts.iter().all(|v| v.allows), "{round:?}");
    }
    times.sort();
    eprintln!(
        "budget stage: {APPS} apps, {} tasks, {LOCAL_APPS} local apps, {} other agents: median {:.2} ms, p95 {:.2} ms, max {:.2} ms over {ROUNDS} rounds; Marathon requests per round {:?}",
        APPS * TASKS_PER_APP,
        fillers(),
        pct(&times, 0.5).as_secs_f64() * 1e3,
        pct(&times, 0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
        per_round.iter().collect::<std::collections::BTreeSet<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: run by hand (docs/benchmarks.md)"]
async fn measure_intent_requests() {
    use fleet_support::zk34_proxy::Zk34Proxy;
    let Some(server) = fleet_support::zk_server::start_or_skip("intent requests") else {
        return;
    };
    let proxy = Zk34Proxy::start(server.address()).await;
    let lock = mesos_maint::fleet::zookeeper::ZkLock::new(
        mesos_maint::fleet::settings::ZkUrl::parse(&format!("zk://{}/bench", proxy.address()))
            .unwrap(),
        "default",
        3,
        None,
        Default::default(),
    );
    let (sim, _marathon, settings) = setup().await;
    let agent = AgentClient::new(
        transport(Duration::from_secs(10)),
        sim.agent_url().parse().unwrap(),
    );
    let sources = Sources {
        transport: transport(budget::REQUEST_TIMEOUT),
        settings: settings.clone(),
        agents: Box::new(MasterCensus::new(
            transport(Duration::from_secs(30)),
            sim.master_url().parse().unwrap(),
        )),
    };
    let (tasks, frameworks) = tokio::join!(agent.get_tasks(), agent.get_frameworks());
    let local = budget::workloads::from_tasks(&tasks.unwrap(), &frameworks.unwrap(), &[]);
    let planned = budget::plan(&settings, local).unwrap();
    let count = |from: usize| {
        let t = proxy.types();
        // Pings (11) and the connect frame are not requests of the lock.
        t[from..]
            .iter()
            .filter(|x| **x != 11 && **x != -11 && **x != 0)
            .count()
    };
    for (what, n) in [("first drain (znodes created)", 0), ("next drain", 1)] {
        let _ = n;
        let from = proxy.types().len();
        let store = IntentStore {
            zk: &lock,
            holder_id: "node-a",
            record: true,
        };
        let round = evaluate_round(&sources, &sim.agent_id(), &planned, Some(&store)).await;
        assert_eq!(round.intents.len(), LOCAL_APPS, "{round:?}");
        let recorded = count(from);
        let from = proxy.types().len();
        for z in &round.intents {
            budget::intents::remove(&lock, "node-a", z).await.unwrap();
        }
        let released = count(from);
        eprintln!(
            "intents, {what}: {recorded} ZooKeeper requests to decide and record {LOCAL_APPS} workloads, {released} to remove them; types {:?}; outside 3.4: {:?}",
            proxy.types(),
            proxy.violations()
        );
    }
}
