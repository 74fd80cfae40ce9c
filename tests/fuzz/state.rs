//! What this tool reads back from disk: configuration fragments and the records in the state dir
//! (drain marker, lifecycle record, machine record). A truncated or edited file gives a clear
//! one-line error, or is refused as a whole; it never panics and never reads as a finished
//! decommission that the file does not spell out (that would make `check` say safe).

use std::path::Path;

use mesos_maint::config::{load_from, Overrides};
use mesos_maint::drain::marker::{Marker, MarkerStore, MARKER_FILE};
use mesos_maint::drain::{DrainOptions, Trigger};
use mesos_maint::mesos::maintenance::MachineId;
use proptest::prelude::*;
use serde_json::Value;

use crate::mutate::{config, corpus, mutated};

fn marker_seeds() -> Vec<Vec<u8>> {
    let policy = |decommission| DrainOptions {
        decommission,
        stop_units: true,
        stop_docker: true,
        force: false,
    };
    let mut done = Marker::new(
        "S7",
        Trigger::Autoscaling,
        policy(true),
        "http://m:5050/",
        Some("scale-in".into()),
        Some(600.0),
        Some(1_900_000_000),
    );
    done.stage = mesos_maint::drain::Stage::Done;
    done.actions = vec!["stop dcos-mesos-slave.socket".into()];
    let running = Marker::new(
        "S7",
        Trigger::Manual,
        policy(false),
        "http://m:5050/",
        None,
        None,
        None,
    );
    [done, running]
        .iter()
        .map(|m| serde_json::to_vec_pretty(m).unwrap())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_damaged_marker_never_reads_as_a_finished_decommission(bytes in mutated(marker_seeds(), 6)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), MARKER_FILE, &bytes);
        match MarkerStore::new(dir.path()).load() {
            Ok(Some(m)) => {
                // serde ignores unknown fields unchecked (UTF-8 included), so a file the marker
                // loads from need not be a valid `Value`: judge by what it does spell out.
                if let (true, Ok(v)) = (
                    m.decommission_finished(&m.agent_id),
                    serde_json::from_slice::<Value>(&bytes),
                ) {
                    prop_assert_eq!(&v["policy"]["decommission"], &Value::Bool(true));
                    prop_assert!(v["stage"].is_string());
                    prop_assert_eq!(v["agent_id"].as_str(), Some(m.agent_id.as_str()));
                }
            }
            Ok(None) => prop_assert!(false, "the file exists"),
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.contains(MARKER_FILE), "{}", text);
                prop_assert!(!text.is_empty());
            }
        }
    }

    /// The machine record `maintenance up` falls back to: whole or refused.
    #[test]
    fn a_damaged_machine_record_is_whole_or_refused(bytes in mutated(vec![
        serde_json::to_vec(&MachineId { hostname: "agent-7".into(), ip: "10.0.0.7".into() }).unwrap(),
    ], 6)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "machine.json", &bytes);
        let read = mesos_maint::state_file::read_json::<MachineId>(&dir.path().join("machine.json"));
        if let (Ok(Some(m)), Ok(v)) = (read, serde_json::from_slice::<Value>(&bytes)) {
            prop_assert_eq!(v["hostname"].as_str(), Some(m.hostname.as_str()));
            prop_assert_eq!(v["ip"].as_str(), Some(m.ip.as_str()));
        }
    }

    /// The lifecycle record: a damaged one is ignored for this instance, never a panic.
    #[test]
    fn a_damaged_lifecycle_record_is_ignored(bytes in mutated(vec![
        br#"{"instance_id":"i-0123456789abcdef0","completed":"CONTINUE","spot_acted":false}"#.to_vec(),
        br#"{"instance_id":"i-0123456789abcdef0","completed":null}"#.to_vec(),
    ], 6)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), mesos_maint::daemon::cloud::LIFECYCLE_FILE, &bytes);
        let record = mesos_maint::daemon::cloud::load_record(dir.path(), "i-0123456789abcdef0");
        if let (Some(r), Ok(v)) = (record, serde_json::from_slice::<Value>(&bytes)) {
            prop_assert_eq!(v["instance_id"].as_str(), Some("i-0123456789abcdef0"));
            prop_assert_eq!(v["completed"].as_str(), r.completed.as_deref());
        }
    }

    /// A configuration fragment: settings, or one clear line naming the problem.
    #[test]
    fn a_damaged_config_fragment_gives_one_clear_line(bytes in mutated(corpus("config-"), 8)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "50-fuzz.toml", &bytes);
        if let Err(e) = load_from(&[dir.path()], &[], &Overrides::default()) {
            let text = e.to_string();
            prop_assert!(!text.trim().is_empty());
            prop_assert!(!text.trim_end().contains('\n'), "more than one line: {}", text);
        }
    }
}
