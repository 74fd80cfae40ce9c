//! In flight: the intents of nodes that passed a workload's rule and are about to take its
//! instances out, in ZooKeeper (`<chroot>/budgets/<workload>`, one persistent znode per
//! workload holding `{holders:[{id, agent_id, tasks, since}]}`). Deciding and recording are one
//! versioned compare-and-set ([`ZkLock::compare_and_set`]): a node whose write loses the race
//! reads the other's intent and decides again, so two nodes of different fleet groups cannot
//! both spend the last spare instance. An intent goes when its node gives its slot back, never
//! on a timer.

use std::collections::HashSet;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::rule::{evaluate, Census, Context, Verdict};
use super::spec::Limit;
use crate::fleet::zookeeper::{Cas, ZkLock, BUDGETS_ZNODE};
use crate::fleet::FleetError;

/// One node's intent on a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The fleet holder id.
    pub id: String,
    #[serde(default)]
    pub agent_id: String,
    /// Its own tasks of the workload, which it is about to take out.
    #[serde(default)]
    pub tasks: Vec<String>,
    #[serde(with = "crate::fleet::rfc3339")]
    pub since: SystemTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentDoc {
    #[serde(default)]
    pub holders: Vec<Intent>,
}

impl IntentDoc {
    pub fn parse(data: &[u8]) -> Result<IntentDoc, String> {
        if data.iter().all(u8::is_ascii_whitespace) {
            return Ok(IntentDoc::default());
        }
        serde_json::from_slice(data).map_err(|e| e.to_string())
    }

    /// The tasks the other holders have in flight.
    pub fn in_flight_except(&self, id: &str) -> HashSet<String> {
        self.holders
            .iter()
            .filter(|h| h.id != id)
            .flat_map(|h| h.tasks.iter().cloned())
            .collect()
    }
}

/// `budgets/<znode>` relative to the chroot.
pub fn rel_path(znode: &str) -> String {
    format!("{BUDGETS_ZNODE}/{znode}")
}

/// Everything the rule needs for one workload, owned (the decision runs again after a lost race).
#[derive(Debug, Clone)]
pub struct Decision {
    pub workload: String,
    pub znode: String,
    pub limit: Limit,
    pub census: Census,
    pub agent_id: String,
    pub local_tasks: Vec<String>,
    pub agents_out: HashSet<String>,
}

impl Decision {
    /// The rule with `in_flight` from the intents read.
    pub fn verdict(&self, in_flight: &HashSet<String>) -> Verdict {
        evaluate(
            &self.census,
            &Context {
                workload: &self.workload,
                limit: self.limit,
                agent_id: &self.agent_id,
                local_tasks: &self.local_tasks,
                agents_out: &self.agents_out,
                in_flight,
            },
        )
    }
}

/// Decides and, when the rule allows it, records this node's intent, in one compare-and-set. An
/// intent this holder recorded already (a resumed drain) is kept and the verdict is allows.
pub async fn decide_and_record(
    zk: &ZkLock,
    holder_id: &str,
    d: Decision,
) -> Result<Verdict, FleetError> {
    let id = holder_id.to_string();
    let rel = rel_path(&d.znode);
    zk.compare_and_set(
        &rel,
        "recording a budget intent",
        move |data, _maybe_written| {
            let mut doc = parse_or_fail(data, &d.znode)?;
            let mut verdict = d.verdict(&doc.in_flight_except(&id));
            if doc.holders.iter().any(|h| h.id == id) {
                verdict.allows = true;
                return Ok(Cas::Keep(verdict));
            }
            if !verdict.allows {
                return Ok(Cas::Keep(verdict));
            }
            doc.holders.push(Intent {
                id: id.clone(),
                agent_id: d.agent_id.clone(),
                tasks: d.local_tasks.clone(),
                since: SystemTime::now(),
            });
            Ok(Cas::Write(to_bytes(&doc), verdict))
        },
    )
    .await
}

/// The intents of other nodes on a workload, read only (dry run, `status`).
pub async fn in_flight(
    zk: &ZkLock,
    holder_id: &str,
    znode: &str,
) -> Result<HashSet<String>, FleetError> {
    match zk.read_znode(&rel_path(znode)).await? {
        Some(data) => Ok(parse_or_fail(&data, znode)?.in_flight_except(holder_id)),
        None => Ok(HashSet::new()),
    }
}

/// Removes this holder's intent from a workload's znode (idempotent).
pub async fn remove(zk: &ZkLock, holder_id: &str, znode: &str) -> Result<(), FleetError> {
    let id = holder_id.to_string();
    let z = znode.to_string();
    zk.compare_and_set(
        &rel_path(znode),
        "removing a budget intent",
        move |data, _| {
            let mut doc = parse_or_fail(data, &z)?;
            if !doc.holders.iter().any(|h| h.id == id) {
                return Ok(Cas::Keep(()));
            }
            doc.holders.retain(|h| h.id != id);
            Ok(Cas::Write(to_bytes(&doc), ()))
        },
    )
    .await
}

/// Every workload's intents, for `fleet status`.
pub async fn list(zk: &ZkLock) -> Result<Vec<(String, IntentDoc)>, FleetError> {
    let mut out = Vec::new();
    for name in zk.children(BUDGETS_ZNODE).await? {
        if let Some(data) = zk.read_znode(&rel_path(&name)).await? {
            if let Ok(doc) = IntentDoc::parse(&data) {
                out.push((name, doc));
            }
        }
    }
    Ok(out)
}

fn parse_or_fail(data: &[u8], znode: &str) -> Result<IntentDoc, FleetError> {
    IntentDoc::parse(data).map_err(|e| {
        FleetError::Unavailable(format!(
            "ZooKeeper znode budgets/{znode} does not hold a list of intents ({e}); fix or delete it by hand"
        ))
    })
}

fn to_bytes(doc: &IntentDoc) -> Vec<u8> {
    serde_json::to_vec(doc).expect("intents serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_holders_tasks_are_in_flight() {
        let doc = IntentDoc::parse(
            br#"{"holders":[{"id":"a","agent_id":"S1","tasks":["t1"],"since":"2026-12-06T12:00:00Z"},
                            {"id":"b","tasks":["t2","t3"],"since":"2026-12-06T12:00:00Z"}]}"#,
        )
        .unwrap();
        let f = doc.in_flight_except("a");
        assert_eq!(f.len(), 2);
        assert!(f.contains("t2") && !f.contains("t1"));
        assert_eq!(IntentDoc::parse(b"").unwrap(), IntentDoc::default());
        assert_eq!(
            IntentDoc::parse(br#"{"holders":[]}"#).unwrap(),
            IntentDoc::default()
        );
        assert!(IntentDoc::parse(b"nope").is_err());
        assert_eq!(rel_path("prod_api"), "budgets/prod_api");
    }
}
