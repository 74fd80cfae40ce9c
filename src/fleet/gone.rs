//! Holders whose agent the master reports gone (design.md: "A holder whose agent the master
//! reports gone (a finished decommission) is released by whoever sees it").
//!
//! Mesos lists no gone agents: a gone agent is simply missing from GET_AGENTS, like an
//! unreachable one (mesos-operator-api.md: "Treat 'agent not in the list' as unknown"). So, as
//! `node::drain_state_name` does for this node, missing counts as gone only after a
//! decommission: the holder's trigger is a scale-in or a spot notice (both always decommission,
//! and the instance is terminated either way), its agent is neither among the registered
//! `agents` nor among the `recovered_agents` of a master that just failed over. A holder of a
//! reboot, a shutdown or a manual drain is never released this way: its node comes back.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use url::Url;

use super::Holder;
use crate::mesos::types::Call;
use crate::mesos::Transport;

/// The holder triggers that are decommissions (`Holder::trigger`, the drain's trigger).
pub const DECOMMISSION_TRIGGERS: [&str; 2] = ["autoscaling", "spot"];

/// Tells which holders' agents are gone. Injected into the wait for a slot.
pub trait GoneAgents: Send + Sync {
    /// The holders among `holders` to release; empty when the master cannot be asked.
    fn gone<'a>(&'a self, holders: &'a [Holder]) -> BoxFuture<'a, Vec<Holder>>;
}

/// Holders worth asking the master about: a decommission with a known agent id.
pub fn candidates(holders: &[Holder]) -> Vec<&Holder> {
    holders
        .iter()
        .filter(|h| !h.agent_id.is_empty() && DECOMMISSION_TRIGGERS.contains(&h.trigger.as_str()))
        .collect()
}

/// The decision: the candidates whose agent the master lists neither as registered nor as
/// recovered (`listed`).
pub fn gone_holders(holders: &[Holder], listed: &HashSet<String>) -> Vec<Holder> {
    candidates(holders)
        .into_iter()
        .filter(|h| !listed.contains(&h.agent_id))
        .cloned()
        .collect()
}

/// The master's view, from one streamed GET_AGENTS per look.
pub struct MasterGone {
    transport: Arc<Transport>,
    master: Url,
}

impl MasterGone {
    pub fn new(transport: Arc<Transport>, master: Url) -> MasterGone {
        MasterGone { transport, master }
    }
}

impl GoneAgents for MasterGone {
    fn gone<'a>(&'a self, holders: &'a [Holder]) -> BoxFuture<'a, Vec<Holder>> {
        Box::pin(async move {
            if candidates(holders).is_empty() {
                return Vec::new();
            }
            let listed = match self
                .transport
                .call_streaming(&self.master, &Call::simple("GET_AGENTS"))
                .await
            {
                Ok((_, reader)) => tokio::task::spawn_blocking(move || listed_ids(reader)).await,
                Err(e) => {
                    tracing::debug!("cannot ask the master which holders are gone: {e}");
                    return Vec::new();
                }
            };
            match listed {
                Ok(Ok(ids)) => gone_holders(holders, &ids),
                Ok(Err(e)) => {
                    tracing::debug!("cannot read GET_AGENTS for gone holders: {e}");
                    Vec::new()
                }
                Err(e) => {
                    tracing::debug!("GET_AGENTS scan failed: {e}");
                    Vec::new()
                }
            }
        })
    }
}

/// The ids of the registered and the recovered agents in a GET_AGENTS answer.
pub fn listed_ids<R: Read>(reader: R) -> Result<HashSet<String>, serde_json::Error> {
    let doc: super::master::Doc =
        serde_json::from_reader(std::io::BufReader::with_capacity(256 * 1024, reader))?;
    let a = doc.get_agents;
    Ok(a.agents
        .into_iter()
        .map(|e| e.agent_info)
        .chain(a.recovered_agents)
        .filter_map(|i| i.id.map(|v| v.value))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(id: &str, agent: &str, trigger: &str) -> Holder {
        Holder::new(id, agent, "host", trigger)
    }

    #[test]
    fn only_a_decommission_whose_agent_is_not_listed_is_gone() {
        let holders = [
            h("scaled-in", "S1", "autoscaling"),
            h("spot", "S2", "spot"),
            h("rebooting", "S3", "reboot"),
            h("manual", "S4", "manual"),
            h("listed", "S5", "autoscaling"),
            h("recovered", "S6", "spot"),
            h("no-agent", "", "spot"),
        ];
        let listed: HashSet<String> = ["S5", "S6"].iter().map(|s| s.to_string()).collect();
        let gone: Vec<String> = gone_holders(&holders, &listed)
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(gone, ["scaled-in", "spot"]);
        assert!(candidates(&holders[2..4]).is_empty());
    }

    #[test]
    fn listed_ids_reads_registered_and_recovered_agents() {
        let body = r#"{"type":"GET_AGENTS","get_agents":{"agents":[
            {"agent_info":{"id":{"value":"S1"},"hostname":"a"},"active":true,"drain_info":{"state":"DRAINED"}},
            {"agent_info":{"id":{"value":"S2"}}}],
            "recovered_agents":[{"id":{"value":"S3"},"hostname":"c"}]}}"#;
        let ids = listed_ids(body.as_bytes()).unwrap();
        let mut v: Vec<&str> = ids.iter().map(String::as_str).collect();
        v.sort();
        assert_eq!(v, ["S1", "S2", "S3"]);
        // Mesos 1.9 leaves an empty list out.
        let empty = listed_ids(r#"{"type":"GET_AGENTS","get_agents":{}}"#.as_bytes()).unwrap();
        assert!(empty.is_empty());
        assert!(listed_ids("not json".as_bytes()).is_err());
    }
}
