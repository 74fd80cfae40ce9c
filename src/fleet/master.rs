//! `backend = "master"`: no lock, a count. The agents of the cluster that are DRAINING, DRAINED
//! or deactivated, other than this one, are the slots in use; they come from one streamed
//! GET_AGENTS per attempt (never per poll of a drain).
//!
//! A best effort for small fleets: two nodes deciding in the same second can both go. Mesos has
//! no groups, so the whole cluster is one group. Nothing is recorded, so releasing is a no-op:
//! an agent stops counting once it is reactivated.
//!
//! The data source is injected ([`AgentCensus`]); [`MasterCensus`] is the real one.

use std::io::Read;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use super::{FleetError, FleetLock, GroupStatus, Holder, Release, Take};
use crate::mesos::types::{Call, DrainInfoWire, IdValue};
use crate::mesos::{MesosError, Transport};

/// One agent that is out, as the master reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOut {
    pub id: String,
    pub hostname: String,
    /// `DRAINING`, `DRAINED` or `deactivated`.
    pub state: String,
}

/// Where the agents that are out come from.
pub trait AgentCensus: Send + Sync {
    fn agents_out(&self) -> BoxFuture<'_, Result<Vec<AgentOut>, FleetError>>;
}

/// The master's GET_AGENTS, streamed (`mesos::Transport::call_streaming`) and decoded element by
/// element on a blocking thread.
pub struct MasterCensus {
    transport: Arc<Transport>,
    master: Url,
}

impl MasterCensus {
    pub fn new(transport: Arc<Transport>, master: Url) -> MasterCensus {
        MasterCensus { transport, master }
    }
}

impl AgentCensus for MasterCensus {
    fn agents_out(&self) -> BoxFuture<'_, Result<Vec<AgentOut>, FleetError>> {
        Box::pin(async move {
            let unavailable = |e: MesosError| {
                FleetError::Unavailable(format!("counting the agents out (GET_AGENTS): {e}"))
            };
            let (_, reader) = self
                .transport
                .call_streaming(&self.master, &Call::simple("GET_AGENTS"))
                .await
                .map_err(unavailable)?;
            tokio::task::spawn_blocking(move || agents_out_from_reader(reader))
                .await
                .map_err(|e| FleetError::Unavailable(format!("GET_AGENTS scan failed: {e}")))?
        })
    }
}

/// The few fields of a GET_AGENTS answer the fleet reads (here the agents out; `gone.rs` the
/// ids of the registered and recovered agents); the rest is skipped unparsed.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Doc {
    pub(super) get_agents: GetAgents,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct GetAgents {
    pub(super) agents: Vec<Entry>,
    pub(super) recovered_agents: Vec<Info>,
}

/// The few fields of an `agents[]` entry the count needs; the rest is skipped unparsed.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Entry {
    pub(super) agent_info: Info,
    deactivated: bool,
    drain_info: Option<DrainInfoWire>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Info {
    pub(super) id: Option<IdValue>,
    hostname: String,
}

/// The agents that are out in a GET_AGENTS answer (streamed; only small entries are kept).
pub fn agents_out_from_reader<R: Read>(reader: R) -> Result<Vec<AgentOut>, FleetError> {
    let reader = std::io::BufReader::with_capacity(256 * 1024, reader);
    let doc: Doc = serde_json::from_reader(reader)
        .map_err(|e| FleetError::Unavailable(format!("malformed GET_AGENTS answer: {e}")))?;
    Ok(doc
        .get_agents
        .agents
        .into_iter()
        .filter_map(|e| {
            let state = match e.drain_info.as_ref().map(|d| d.state.as_str()) {
                Some(s @ ("DRAINING" | "DRAINED")) => s.to_string(),
                _ if e.deactivated => "deactivated".to_string(),
                _ => return None,
            };
            Some(AgentOut {
                id: e.agent_info.id.map(|i| i.value).unwrap_or_default(),
                hostname: e.agent_info.hostname,
                state,
            })
        })
        .collect())
}

/// The count as a [`FleetLock`].
pub struct MasterCount<C> {
    census: C,
    max_unavailable: u32,
}

impl<C: AgentCensus> MasterCount<C> {
    pub fn new(census: C, max_unavailable: u32) -> MasterCount<C> {
        MasterCount {
            census,
            max_unavailable: max_unavailable.max(1),
        }
    }
}

fn as_holder(a: &AgentOut) -> Holder {
    Holder {
        id: a.hostname.clone(),
        agent_id: a.id.clone(),
        hostname: a.hostname.clone(),
        trigger: a.state.clone(),
        since: std::time::UNIX_EPOCH,
    }
}

impl<C: AgentCensus> FleetLock for MasterCount<C> {
    fn backend(&self) -> &'static str {
        "master"
    }

    fn group(&self) -> &str {
        "cluster"
    }

    /// `holder.agent_id` is this node's agent: it never counts against itself, and when it is
    /// already out (a resumed drain) the slot is its own.
    fn take<'a>(&'a self, holder: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        Box::pin(async move {
            let out = self.census.agents_out().await?;
            if !holder.agent_id.is_empty() && out.iter().any(|a| a.id == holder.agent_id) {
                return Ok(Take::Granted { already: true });
            }
            let others: Vec<Holder> = out
                .iter()
                .filter(|a| a.id != holder.agent_id)
                .map(as_holder)
                .collect();
            if others.len() >= self.max_unavailable as usize {
                return Ok(Take::Full {
                    detail: format!(
                        "{} agents out, at most {} allowed",
                        others.len(),
                        self.max_unavailable
                    ),
                    holders: others,
                    revision: 0,
                });
            }
            Ok(Take::Granted { already: false })
        })
    }

    /// Nothing is stored, so nothing is held to give back.
    fn release<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        Box::pin(async { Ok(Release::NotHeld) })
    }

    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(async move {
            let out = self.census.agents_out().await?;
            Ok(GroupStatus {
                backend: "master",
                group: "cluster".into(),
                max_unavailable: Some(self.max_unavailable),
                holders: Some(out.iter().map(as_holder).collect()),
            })
        })
    }
}
