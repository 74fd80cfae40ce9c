//! The drain's Slot stage against the FleetLock fake: a slot is taken after Resolve and before
//! anything is sent, a full budget ends the drain with exit 5 and nothing sent, `reactivate`
//! gives the slot back, and a drain run again does not take a second slot.

use cloud_fakes::{FakeFleetLock, Flavor};
use mesos_sim::Sim;

use crate::common::*;

fn fleet_config(run: &Run, fake: &FakeFleetLock, id: &str) -> String {
    run.config_file(&format!(
        "[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"{}\"\nid = \"{id}\"\nwait = \"5m\"\n",
        fake.url()
    ))
}

/// `drain --no-stop --fleet-wait <wait>` on `sim` with the fleet config `cfg`.
async fn drain_waiting(run: &Run, sim: &Sim, cfg: &str, wait: &str) -> (i32, String, String) {
    let args = ["--config", cfg, "drain", "--no-stop", "--fleet-wait", wait];
    run.run_against(sim, &args).await
}

fn marker(run: &Run) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.marker_path()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_slot_two_nodes_the_second_is_refused_with_nothing_sent_until_reactivate() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    let (sim_a, sim_b) = (
        Sim::start(busy_config()).await.unwrap(),
        Sim::start(busy_config()).await.unwrap(),
    );
    let (a, b) = (Run::new(), Run::new());
    let (cfg_a, cfg_b) = (
        fleet_config(&a, &fake, "node-a"),
        fleet_config(&b, &fake, "node-b"),
    );

    let (code, _, err) = a
        .run_against(&sim_a, &["--config", &cfg_a, "drain", "--no-stop"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.holders("default"), ["node-a"]);
    let m = marker(&a);
    assert_eq!(m["fleet"]["id"], "node-a", "{m}");
    assert_eq!(m["fleet"]["group"], "default", "{m}");
    assert_eq!(m["fleet"]["released"], false, "{m}");

    // The budget is full: not waiting, then waiting a second; exit 5, DRAIN_AGENT never sent.
    for wait in ["0s", "1s"] {
        let (code, _, err) = drain_waiting(&b, &sim_b, &cfg_b, wait).await;
        assert_eq!(code, 5, "--fleet-wait {wait}: {err}");
        assert!(err.contains("no slot free in group default"), "{err}");
        assert_eq!(sim_b.count_calls("DRAIN_AGENT"), 0);
        assert_eq!(marker(&b)["stage"], "Failed");
    }
    assert_eq!(fake.holders("default"), ["node-a"]);

    // Node A drains again (a resumed or repeated drain): still one slot, held by node-a.
    let (code, _, err) = a
        .run_against(&sim_a, &["--config", &cfg_a, "drain", "--no-stop"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.holders("default"), ["node-a"]);

    // reactivate gives the slot back; node B goes.
    let (code, _, err) = a
        .run_against(&sim_a, &["--config", &cfg_a, "reactivate", "--no-start"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(fake.holders("default").is_empty());
    let (code, _, err) = drain_waiting(&b, &sim_b, &cfg_b, "0s").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.holders("default"), ["node-b"]);
    assert_eq!(sim_b.count_calls("DRAIN_AGENT"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decommission_gives_its_slot_back_once_the_agent_is_gone() {
    let fake = FakeFleetLock::start(Flavor::Poseidon).await;
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let cfg = fleet_config(&run, &fake, "node-a");
    let (code, _, err) = run
        .run_against(
            &sim,
            &["--config", &cfg, "drain", "--no-stop", "--decommission"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(fake.holders("default").is_empty());
    let taken: Vec<_> = fake
        .requests()
        .into_iter()
        .map(|r| (r.path, r.id.unwrap_or_default()))
        .collect();
    assert_eq!(
        taken,
        [
            ("/v1/pre-reboot".to_string(), "node-a".to_string()),
            ("/v1/steady-state".to_string(), "node-a".to_string())
        ]
    );
    assert_eq!(marker(&run)["fleet"]["released"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_lock_that_cannot_be_asked_is_exit_3_with_nothing_sent() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    // A port nothing listens on.
    let cfg = run.config_file(
        "[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"http://127.0.0.1:9/\"\nid = \"n\"\n",
    );
    let (code, _, err) = drain_waiting(&run, &sim, &cfg, "0s").await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
}

/// `status`/`check` show this node's slot, `drain --dry-run` says whether one is free (exit 5
/// when the budget is full), `fleet status` lists the holders and `fleet release --id` gives a
/// dead holder's slot back. The FleetLock fake cannot list its holders, so the lock here is a
/// real ZooKeeper where one can be started.
#[tokio::test(flavor = "multi_thread")]
async fn status_dry_run_and_the_fleet_commands_against_zookeeper() {
    let Some(zk) = crate::fleet_support::zk_server::start_or_skip("fleet commands") else {
        return;
    };
    let mut other = busy_config();
    other.agent_id = "a1b2c3d4-0000-4000-8000-000000000001-S8".into();
    other.hostname = "agent-8.sim.local".into();
    let (sim_a, sim_b) = (
        Sim::start(busy_config()).await.unwrap(),
        Sim::start(other).await.unwrap(),
    );
    let (a, b) = (Run::new(), Run::new());
    let cfg = |run: &Run, id: &str| {
        run.config_file(&format!(
            "[fleet]\nbackend = \"zookeeper\"\nzookeeper = \"zk://{}/mesos-maint\"\ngroup = \"kafka-a\"\nid = \"{id}\"\nwait = \"0s\"\n",
            zk.address()
        ))
    };
    let (cfg_a, cfg_b) = (cfg(&a, "node-a"), cfg(&b, "node-b"));

    // Nothing held yet: the dry run would take a slot, exit 0.
    let (code, out, err) = b
        .run_against(
            &sim_b,
            &["--config", &cfg_b, "drain", "--dry-run", "--no-stop"],
        )
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("take a fleet slot in group kafka-a"), "{out}");

    let (code, _, err) = a
        .run_against(&sim_a, &["--config", &cfg_a, "drain", "--no-stop"])
        .await;
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = a
        .run_against(&sim_a, &["--config", &cfg_a, "status", "--json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(report["fleet"]["slot"], "held", "{report}");
    assert_eq!(report["fleet"]["group"], "kafka-a", "{report}");
    assert_eq!(
        report["fleet"]["holder"]["agent_id"],
        sim_a.agent_id(),
        "{report}"
    );
    let (_, out, _) = b
        .run_against(&sim_b, &["--config", &cfg_b, "check", "--json"])
        .await;
    assert_eq!(json(&out)["fleet"]["slot"], "full", "{out}");

    // The budget is full: the dry run says so and exits 5.
    let (code, out, err) = b
        .run_against(
            &sim_b,
            &["--config", &cfg_b, "drain", "--dry-run", "--no-stop"],
        )
        .await;
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("no fleet slot free in group kafka-a"), "{out}");
    assert!(out.contains("node-a"), "{out}");

    let (code, out, err) = b
        .run_against(&sim_b, &["--config", &cfg_b, "fleet", "status", "--json"])
        .await;
    assert_eq!(code, 0, "{err}");
    let st = json(&out);
    let group = st["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "kafka-a")
        .unwrap_or_else(|| panic!("{st}"));
    assert_eq!(group["max_unavailable"], 1);
    let holder = &group["holders"][0];
    assert_eq!(holder["id"], "node-a");
    assert_eq!(holder["agent_id"], sim_a.agent_id());
    assert_eq!(holder["trigger"], "manual");
    assert!(
        holder["hostname"].is_string() && holder["since"].is_string(),
        "{holder}"
    );
    let (_, text, _) = b
        .run_against(&sim_b, &["--config", &cfg_b, "fleet", "status"])
        .await;
    assert!(
        text.contains("group kafka-a (zookeeper backend): 1 of 1 slots held"),
        "{text}"
    );

    // An admin gives node-a's slot back by hand; node B drains.
    let (code, out, err) = b
        .run_against(
            &sim_b,
            &["--config", &cfg_b, "fleet", "release", "--id", "node-a"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("slot of node-a in group kafka-a given back"),
        "{out}"
    );
    let (code, _, err) = b
        .run_against(&sim_b, &["--config", &cfg_b, "drain", "--no-stop"])
        .await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = b
        .run_against(
            &sim_b,
            &["--config", &cfg_b, "fleet", "release", "--id", "nobody"],
        )
        .await;
    assert!(out.contains("nobody holds no slot"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_command_without_a_backend_is_a_usage_error() {
    let run = Run::new();
    let (code, _, err) = run.run(&["fleet", "status"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fleet.backend"), "{err}");
}
