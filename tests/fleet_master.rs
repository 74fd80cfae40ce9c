//! The master backend (a best-effort count of agents out) against the in-repo Mesos simulator:
//! synthetic agents DRAINING and deactivated, the simulator's own agent drained to DRAINED, and
//! `mesos-maint` processes on two agents of one master.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use mesos_maint::fleet::master::{AgentCensus, MasterCensus, MasterCount};
use mesos_maint::fleet::{FleetLock, Holder, Take};
use mesos_maint::mesos::{MasterClient, Transport, TransportSettings};
use mesos_sim::{Sim, SimConfig};
use url::Url;

/// Synthetic agent ids are `<prefix>-S<1000 + index>`; index % 97 == 3 is DRAINING (and
/// deactivated), index % 13 == 5 deactivated. Of the first 100: 3, 5, 18, 31, 44, 57, 70, 83, 96.
const FILLERS: usize = 100;
const FILLERS_OUT: usize = 9;

fn holder(agent_id: &str) -> Holder {
    Holder::new("node", agent_id, "node.example", "reboot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_other_agents_out_from_one_get_agents() {
    let sim = Sim::start(SimConfig {
        filler_agents: FILLERS,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let master = Url::parse(&sim.master_url()).unwrap();
    let transport = Arc::new(Transport::new(TransportSettings::default()).unwrap());
    let census = MasterCensus::new(transport.clone(), master.clone());

    let out = census.agents_out().await.unwrap();
    assert_eq!(out.len(), FILLERS_OUT, "{out:?}");
    let draining: Vec<&str> = out
        .iter()
        .filter(|a| a.state == "DRAINING")
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(draining.len(), 1);
    assert!(draining[0].ends_with("-S1003"), "{draining:?}");
    assert!(out
        .iter()
        .filter(|a| a.state != "DRAINING")
        .all(|a| a.state == "deactivated"));

    let me = sim.agent_id();
    sim.reset_log();
    let count = MasterCount::new(MasterCensus::new(transport.clone(), master.clone()), 10);
    assert_eq!(
        count.take(&holder(&me)).await.unwrap(),
        Take::Granted { already: false }
    );
    let tight = MasterCount::new(
        MasterCensus::new(transport.clone(), master.clone()),
        FILLERS_OUT as u32,
    );
    match tight.take(&holder(&me)).await.unwrap() {
        Take::Full {
            holders, detail, ..
        } => {
            assert_eq!(holders.len(), FILLERS_OUT);
            assert!(detail.contains("9 agents out, at most 9"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // One GET_AGENTS per attempt, nothing else.
    assert_eq!(sim.count_calls("GET_AGENTS"), 2);
    assert_eq!(sim.requests().len(), 2);

    // The simulator's own agent drains to DRAINED: for another node it is one more agent out,
    // for itself (a resumed drain) the slot is its own.
    let mc = MasterClient::new(transport.clone(), master.clone());
    mc.drain_agent(&me, None, false).await.unwrap();
    assert!(
        sim.wait_drain_state(Some("DRAINED"), Duration::from_secs(10))
            .await
    );
    let other_node = format!("{}-S1000", me.rsplit_once("-S").unwrap().0);
    match count.take(&holder(&other_node)).await.unwrap() {
        Take::Full { holders, .. } => {
            assert_eq!(holders.len(), FILLERS_OUT + 1);
            let local = holders
                .iter()
                .find(|h| h.agent_id == me)
                .expect("local agent");
            assert_eq!(local.trigger, "DRAINED");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        count.take(&holder(&me)).await.unwrap(),
        Take::Granted { already: true }
    );
    let status = count.status().await.unwrap();
    assert_eq!(status.holders.unwrap().len(), FILLERS_OUT + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_unreachable_is_unavailable() {
    let transport = Arc::new(
        Transport::new(TransportSettings {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            retry: mesos_maint::mesos::RetryPolicy {
                max_elapsed: Duration::ZERO,
                ..Default::default()
            },
            ..TransportSettings::default()
        })
        .unwrap(),
    );
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let count = MasterCount::new(MasterCensus::new(transport, master), 1);
    let e = count.take(&holder("S1")).await.unwrap_err();
    assert_eq!(
        mesos_maint::exit::fleet_exit(&e),
        mesos_maint::exit::Exit::Undetermined,
        "{e}"
    );
    assert!(e.to_string().contains("GET_AGENTS"), "{e}");
}

/// `args` for one node (its run, config and agent) against the master `m`.
async fn run(
    r: &common::Run,
    m: &str,
    cfg: &str,
    agent: &str,
    args: &[&str],
) -> (i32, String, String) {
    let mut full = vec!["--config", cfg];
    full.extend(args);
    r.run_at(m, agent, &full).await
}

/// Two nodes on one master, `max_unavailable = 1` counted by the master: while node 1's agent
/// is DRAINED, node 0's drain is refused (exit 5, nothing sent); `fleet release` says there is
/// nothing to give back and sends nothing; once node 1 is reactivated, node 0 drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_master_counted_by_the_master() {
    let sim = Sim::start(SimConfig::scenario("quick").unwrap().with_extra_agents(1))
        .await
        .unwrap();
    let agents = sim.agents();
    let toml = "[fleet]\nbackend = \"master\"\nmax_unavailable = 1\n";
    let (r0, r1) = (common::Run::new(), common::Run::new());
    let (c0, c1) = (r0.config_file(toml), r1.config_file(toml));
    let m = sim.master_url();
    let (code, _, err) = run(&r1, &m, &c1, &agents[1].url, &["drain", "--no-stop"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.agents()[1].drain_state.as_deref(), Some("DRAINED"));

    let (code, _, err) = run(
        &r0,
        &m,
        &c0,
        &agents[0].url,
        &["drain", "--no-stop", "--fleet-wait", "0s"],
    )
    .await;
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(&agents[1].agent_id),
        "names the agent out: {err}"
    );
    assert_eq!(sim.agents()[0].drain_state, None);

    sim.reset_log();
    let (code, out, err) = run(&r0, &m, &c0, &agents[0].url, &["fleet", "release"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing to give back"), "{out}");
    assert!(!out.contains("given back ("), "{out}");
    let writes: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| r.call_type())
        .filter(|t| !t.starts_with("GET_"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let (code, out, _) = run(
        &r0,
        &m,
        &c0,
        &agents[0].url,
        &["fleet", "release", "--output", "json"],
    )
    .await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["released"], false, "{v}");

    let (code, _, err) = run(&r1, &m, &c1, &agents[1].url, &["reactivate", "--no-start"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &r0,
        &m,
        &c0,
        &agents[0].url,
        &["drain", "--no-stop", "--fleet-wait", "0s"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.agents()[0].drain_state.as_deref(), Some("DRAINED"));
}
