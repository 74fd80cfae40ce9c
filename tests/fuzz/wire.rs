//! What the master and the agent send: every decoder, fed mutated captures of the simulator's
//! answers (Mesos 1.9 and 1.11 shapes). None may panic, and none may turn a damaged answer into
//! a drained agent or an empty one.

use std::io::Read;

use mesos_maint::mesos::agent::{
    decode_agent_info, decode_frameworks, decode_operations, decode_state, decode_tasks,
};
use mesos_maint::mesos::maintenance::{
    mode_of, windows_of, with_window, without_machine, MachineId, Window,
};
use mesos_maint::mesos::master::{decode_slaves, SlavesAnswer};
use mesos_maint::mesos::scan::{find_agent, find_agent_serde, ScanError};
use mesos_maint::mesos::{AgentLookup, DrainState};
use proptest::prelude::*;
use serde_json::Value;
use url::Url;

use crate::mutate::{config, corpus, json_value, mutated, tree_mutated};

const LOCAL_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001-S7";

fn url() -> Url {
    Url::parse("http://127.0.0.1:5050/").unwrap()
}

/// Ids worth looking for: the local agent, a filler agent, a prefix of one, nothing, noise.
fn agent_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(LOCAL_ID.to_string()),
        Just("a1b2c3d4-0000-4000-8000-000000000001-S7000".to_string()),
        Just("a1b2c3d4-0000-4000-8000-000000000001-S".to_string()),
        Just(String::new()),
        "[a-zA-Z0-9-]{1,40}",
    ]
}

/// Hands the bytes over in pieces of the given sizes, to move the splitter's buffer boundaries.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let step = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        let n = step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Byte offset of a serde_json error's line and column.
fn offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut l = 1;
    for (i, b) in bytes.iter().enumerate() {
        if l == line {
            return i + column;
        }
        if *b == b'\n' {
            l += 1;
        }
    }
    bytes.len()
}

/// The differential check of the splitter against the serde reference: the same lookup, or
/// both fail. The one allowed difference is documented on `find_agent`: it stops reading once
/// it has the registered entry, so damage after that entry goes unnoticed by it.
pub fn check_scan(bytes: &[u8], id: &str, sizes: Vec<usize>) {
    let reference = find_agent_serde(bytes, id);
    let split = find_agent(
        Chunked {
            data: bytes,
            sizes,
            i: 0,
        },
        id,
    );
    match (&reference, &split) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "splitter and reference disagree for {id:?}"),
        (Err(_), Err(_)) => {}
        // A number beyond f64 in an entry that is not the one asked for: JSON's grammar allows
        // it and the splitter only checks the grammar there, while serde's `Value` (the
        // reference parses every entry into one) refuses it. Found by the second campaign and
        // accepted: no master writes such a number, and the agent asked for is still judged
        // on its own entry (an out-of-range number there fails both).
        (Err(ScanError::Json(e)), Ok(_)) if e.to_string().starts_with("number out of range") => {}
        (Err(ScanError::Json(e)), Ok(AgentLookup::Registered(a))) => {
            assert_eq!(a.id, id);
            let err_at = offset(bytes, e.line(), e.column());
            let needle = format!("\"{id}\"");
            let id_at = bytes
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .expect("a registered agent found by the splitter is in the input");
            assert!(
                id_at < err_at,
                "splitter found {id:?} at byte {id_at} but the document is broken before it (byte {err_at}: {e})"
            );
        }
        _ => panic!(
            "splitter and reference disagree for {id:?}: reference {reference:?}, splitter {split:?}"
        ),
    }
}

proptest! {
    #![proptest_config(config())]

    /// GET_AGENTS through the streaming scan, differential against serde.
    #[test]
    fn get_agents_scan_matches_the_serde_reference(
        bytes in mutated(corpus("master-GET_AGENTS"), 6),
        id in agent_id(),
        sizes in proptest::collection::vec(1usize..300, 1..6),
    ) {
        check_scan(&bytes, &id, sizes);
    }

    /// The same on whole-tree edits (a value of another type, a key removed): valid JSON that
    /// means something else.
    #[test]
    fn get_agents_scan_matches_on_tree_edits(
        seed in 0usize..4, pick in any::<usize>(), with in json_value(), remove in any::<bool>(),
        id in agent_id(),
        sizes in proptest::collection::vec(1usize..300, 1..6),
    ) {
        let seeds = corpus("master-GET_AGENTS");
        let v: Value = serde_json::from_slice(&seeds[seed % seeds.len()]).unwrap();
        let bytes = serde_json::to_vec(&tree_mutated(&v, pick, with, remove)).unwrap();
        check_scan(&bytes, &id, sizes);
    }

    /// `/master/slaves?slave_id=`: never a panic; a lookup is of the agent asked for, and
    /// DRAINED only when the answer says DRAINED for it.
    #[test]
    fn master_slaves_never_invents_a_drained_agent(
        bytes in mutated(corpus("master-slaves"), 6),
        id in agent_id(),
    ) {
        check_slaves(&bytes, &id);
    }

    #[test]
    fn master_slaves_tree_edits(
        seed in 0usize..4, pick in any::<usize>(), with in json_value(), remove in any::<bool>(),
    ) {
        let seeds = corpus("master-slaves");
        let v: Value = serde_json::from_slice(&seeds[seed % seeds.len()]).unwrap();
        let bytes = serde_json::to_vec(&tree_mutated(&v, pick, with, remove)).unwrap();
        check_slaves(&bytes, LOCAL_ID);
    }

    /// GET_TASKS: every task the answer lists is counted (a dropped task would read as an
    /// empty, safe agent).
    #[test]
    fn get_tasks_counts_every_listed_task(
        seed in 0usize..2, pick in any::<usize>(), with in json_value(), remove in any::<bool>(),
        bytes in mutated(corpus("agent-GET_TASKS"), 6),
    ) {
        let _ = decode_tasks(&url(), &bytes);
        let seeds = corpus("agent-GET_TASKS");
        let v: Value = serde_json::from_slice(&seeds[seed % seeds.len()]).unwrap();
        let edited = tree_mutated(&v, pick, with, remove);
        if let Ok(b) = decode_tasks(&url(), &serde_json::to_vec(&edited).unwrap()) {
            let listed: usize = ["pending_tasks", "queued_tasks", "launched_tasks", "terminated_tasks"]
                .iter()
                .map(|k| edited["get_tasks"][k].as_array().map_or(0, Vec::len))
                .sum();
            prop_assert_eq!(b.live_count(), listed);
        }
    }

    /// GET_OPERATIONS: every listed operation is kept (a pending one holds the drain).
    #[test]
    fn get_operations_keeps_every_operation(
        pick in any::<usize>(), with in json_value(), remove in any::<bool>(),
        bytes in mutated(corpus("agent-GET_OPERATIONS"), 6),
    ) {
        let _ = decode_operations(&url(), &bytes);
        let v: Value = serde_json::json!({"type": "GET_OPERATIONS", "get_operations": {"operations": [
            {"info": {"type": "RESERVE", "id": {"value": "op-1"}}, "latest_status": {"state": "OPERATION_PENDING"},
             "framework_id": {"value": "fw"}, "uuid": {"value": "dXVpZA=="}}]}});
        let edited = tree_mutated(&v, pick, with, remove);
        if let Ok(ops) = decode_operations(&url(), &serde_json::to_vec(&edited).unwrap()) {
            let listed = edited["get_operations"]["operations"].as_array().map_or(0, Vec::len);
            prop_assert_eq!(ops.len(), listed);
        }
    }

    /// GET_AGENT, GET_FRAMEWORKS and `/state`: no panic on any damage.
    #[test]
    fn agent_answers_never_panic(
        info in mutated(corpus("agent-GET_AGENT"), 8),
        frameworks in mutated(corpus("agent-GET_FRAMEWORKS"), 8),
        state in mutated(corpus("agent-state"), 8),
    ) {
        let _ = decode_agent_info(&url(), &info);
        let _ = decode_frameworks(&url(), &frameworks);
        let _ = decode_state(&url(), &state);
    }

    /// GET_MAINTENANCE_SCHEDULE / STATUS: the schedule edits never touch another machine's
    /// windows and always leave exactly what was asked for this one.
    #[test]
    fn maintenance_schedule_edits_keep_other_machines(
        seed in 0usize..8, pick in any::<usize>(), with in json_value(), remove in any::<bool>(),
        bytes in mutated(corpus("master-GET_MAINTENANCE"), 6),
        start in any::<i64>(), duration in proptest::option::of(any::<i64>()),
    ) {
        let me = MachineId { hostname: "agent-7.sim.local".into(), ip: "127.0.0.1".into() };
        let other = MachineId { hostname: "other.sim.local".into(), ip: "10.0.0.9".into() };
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let schedule = v.pointer("/get_maintenance_schedule/schedule").cloned().unwrap_or(v.clone());
            let _ = windows_of(&schedule, &me);
            let _ = mode_of(v.pointer("/get_maintenance_status/status").unwrap_or(&v), &me);
        }
        let seeds = corpus("master-GET_MAINTENANCE");
        let v: Value = serde_json::from_slice(&seeds[seed % seeds.len()]).unwrap();
        let edited = tree_mutated(&v, pick, with, remove);
        let schedule = edited.pointer("/get_maintenance_schedule/schedule").cloned().unwrap_or(edited.clone());
        let _ = mode_of(edited.pointer("/get_maintenance_status/status").unwrap_or(&edited), &me);
        let cleared = without_machine(&schedule, &me);
        prop_assert!(windows_of(&cleared, &me).is_empty());
        prop_assert_eq!(windows_of(&cleared, &other), windows_of(&schedule, &other));
        let w = Window { start_unix_nanos: start, duration_nanos: duration };
        let set = with_window(&schedule, &me, w);
        prop_assert_eq!(windows_of(&set, &me), vec![w]);
        prop_assert_eq!(windows_of(&set, &other), windows_of(&schedule, &other));
    }
}

fn check_slaves(bytes: &[u8], id: &str) {
    let Ok(answer) = decode_slaves(&url(), bytes, id) else {
        return;
    };
    if let SlavesAnswer::Lookup(AgentLookup::Registered(a)) = answer {
        assert_eq!(a.id, id);
        if a.drain
            .as_ref()
            .is_some_and(|d| d.state == DrainState::Drained)
        {
            let v: Value = serde_json::from_slice(bytes).expect("decoded, so JSON");
            assert_eq!(
                v["slaves"][0]["drain_info"]["state"], "DRAINED",
                "DRAINED without the master saying so"
            );
        }
    }
}
