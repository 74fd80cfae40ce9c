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
        let (code, _, err) = b
            .run_against(
                &sim_b,
                &[
                    "--config",
                    &cfg_b,
                    "drain",
                    "--no-stop",
                    "--fleet-wait",
                    wait,
                ],
            )
            .await;
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
    let (code, _, err) = b
        .run_against(
            &sim_b,
            &[
                "--config",
                &cfg_b,
                "drain",
                "--no-stop",
                "--fleet-wait",
                "0s",
            ],
        )
        .await;
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
    let (code, _, err) = run
        .run_against(
            &sim,
            &["--config", &cfg, "drain", "--no-stop", "--fleet-wait", "0s"],
        )
        .await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
}
