//! Master operator API: look one agent up, and the agent-level write calls.
//!
//! The client remembers the master that last answered, so after one 307 from a non-leader it talks
//! to the leader directly. Looking an agent up prefers `GET /master/slaves?slave_id=<id>` (filtered
//! on the master, a few KiB whatever the cluster size) and falls back to a streamed GET_AGENTS
//! scan when a master turns out not to filter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::error::MesosError;
use super::scan;
use super::transport::{shown, Transport};
use super::types::{AgentLookup, Call, DrainInfo, MasterAgent, SlavesV0Wire};

/// A filtered `/master/slaves` answer holds one agent (1-2 KB in real captures). Anything past
/// this is a master that ignored the filter: stop reading and scan GET_AGENTS instead of
/// buffering the whole cluster first.
pub const FILTERED_ANSWER_MAX_BYTES: u64 = 1024 * 1024;

pub struct MasterClient {
    transport: Arc<Transport>,
    base: Url,
    leader: Mutex<Url>,
    /// Set once a master is seen ignoring the `slave_id` filter (or lacking the endpoint).
    unfiltered: AtomicBool,
}

impl MasterClient {
    pub fn new(transport: Arc<Transport>, base: Url) -> MasterClient {
        MasterClient {
            transport,
            leader: Mutex::new(base.clone()),
            base,
            unfiltered: AtomicBool::new(false),
        }
    }

    /// The master URL that last answered (initially the configured one).
    pub fn leader_url(&self) -> Url {
        self.leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The leader's URL as reports show it: the base as given, without the `/` the URL parser
    /// adds to an empty path (`--master http://m:5050` is reported as `http://m:5050`).
    pub fn leader_text(&self) -> String {
        base_text(&self.leader_url())
    }

    pub fn requests_sent(&self) -> u64 {
        self.transport.requests_sent()
    }

    /// The transport this client sends through (shared, e.g. with the fleet's master backend).
    pub fn transport(&self) -> Arc<Transport> {
        self.transport.clone()
    }

    /// Looks one agent up, through the master-side filtered v0 endpoint when the master honours it.
    pub async fn agent(&self, agent_id: &str) -> Result<AgentLookup, MesosError> {
        if self.unfiltered.load(Ordering::Relaxed) {
            return self.agent_via_get_agents(agent_id).await;
        }
        let path = format!("/master/slaves?slave_id={}", encode_query(agent_id));
        let leader = self.leader_url();
        let limit = Some(FILTERED_ANSWER_MAX_BYTES);
        let (url, bytes) = match self.transport.get(&leader, &path, limit).await {
            Ok(answer) => answer,
            // A master without the endpoint, or one that sent every agent back.
            Err(e @ (MesosError::Status { status: 404, .. } | MesosError::TooLarge { .. })) => {
                self.mark_unfiltered(&e.to_string());
                return self.agent_via_get_agents(agent_id).await;
            }
            Err(e @ MesosError::Unreachable { .. }) => return Err(self.forget_leader(e)),
            Err(e) => return Err(e),
        };
        self.remember_leader(&leader, &url);
        match decode_slaves(&url, &bytes, agent_id)? {
            SlavesAnswer::Lookup(lookup) => Ok(lookup),
            SlavesAnswer::Foreign(other) => {
                self.mark_unfiltered(&format!("it answered with agent {other}"));
                self.agent_via_get_agents(agent_id).await
            }
        }
    }

    /// Full GET_AGENTS, streamed and scanned without building the document.
    pub async fn agent_via_get_agents(&self, agent_id: &str) -> Result<AgentLookup, MesosError> {
        let leader = self.leader_url();
        let call = Call::simple("GET_AGENTS");
        let (url, reader) = match self.transport.call_streaming(&leader, &call).await {
            Ok(answer) => answer,
            Err(e @ MesosError::Unreachable { .. }) => return Err(self.forget_leader(e)),
            Err(e) => return Err(e),
        };
        let id = agent_id.to_string();
        let scanned = tokio::task::spawn_blocking(move || scan::find_agent(reader, &id))
            .await
            .map_err(|e| MesosError::Decode {
                url: shown(&url),
                detail: format!("scan task failed: {e}"),
            })?;
        match scanned {
            Ok(lookup) => {
                self.remember_leader(&leader, &url);
                Ok(lookup)
            }
            Err(scan::ScanError::Io(e)) => Err(MesosError::Unreachable {
                url: shown(&url),
                detail: format!("reading the answer: {e}"),
            }),
            Err(e) => Err(MesosError::Decode {
                url: shown(&url),
                detail: e.to_string(),
            }),
        }
    }

    /// DRAIN_AGENT. Do not call it for an agent already DRAINED: it goes back to DRAINING.
    pub async fn drain_agent(
        &self,
        agent_id: &str,
        max_grace: Option<Duration>,
        mark_gone: bool,
    ) -> Result<(), MesosError> {
        self.write(&Call::drain_agent(agent_id, max_grace, mark_gone))
            .await
    }

    pub async fn deactivate_agent(&self, agent_id: &str) -> Result<(), MesosError> {
        self.write(&Call::deactivate_agent(agent_id)).await
    }

    /// Raw REACTIVATE_AGENT: 400 "Agent is not deactivated" and 409 (saved although the agent is
    /// unreachable) come back as `MesosError::Status` for the caller to interpret.
    pub async fn reactivate_agent(&self, agent_id: &str) -> Result<(), MesosError> {
        self.write(&Call::reactivate_agent(agent_id)).await
    }

    pub async fn mark_agent_gone(&self, agent_id: &str) -> Result<(), MesosError> {
        self.write(&Call::mark_agent_gone(agent_id)).await
    }

    /// Write calls answer 200 with an empty body; any 2xx is success and the body is ignored.
    /// They are not retried on a lost connection (REACTIVATE is not idempotent); the caller's
    /// next attempt starts again from the configured URL.
    pub(super) async fn write(&self, call: &serde_json::Value) -> Result<(), MesosError> {
        self.read(call).await.map(|_| ())
    }

    /// A call whose answer the caller decodes, under the same leader bookkeeping as `write`.
    pub(super) async fn read(
        &self,
        call: &serde_json::Value,
    ) -> Result<(Url, bytes::Bytes), MesosError> {
        let leader = self.leader_url();
        match self.transport.call(&leader, call).await {
            Ok((url, body)) => {
                self.remember_leader(&leader, &url);
                Ok((url, body))
            }
            Err(e @ MesosError::Unreachable { .. }) => Err(self.forget_leader(e)),
            Err(e) => Err(e),
        }
    }

    /// After a redirect to another host, use that host's root from now on (Mesos serves every
    /// endpoint at the root; the Location path `/master/api/v1` says nothing about a prefix).
    /// Same host: keep the configured URL, which may carry a proxy prefix such as `/mesos`.
    fn remember_leader(&self, asked: &Url, answered: &Url) {
        if same_origin(asked, answered) {
            return;
        }
        let mut root = answered.clone();
        root.set_path("/");
        root.set_query(None);
        root.set_fragment(None);
        tracing::info!(leader = %shown(&root), "following the leading master");
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = root;
    }

    /// A remembered leader that stopped answering may have lost leadership; start again from the
    /// configured URL next time.
    fn forget_leader(&self, e: MesosError) -> MesosError {
        let mut leader = self.leader.lock().unwrap_or_else(|p| p.into_inner());
        if *leader != self.base {
            tracing::info!(leader = %shown(&leader), "leading master unreachable; back to {}", shown(&self.base));
            *leader = self.base.clone();
        }
        e
    }

    fn mark_unfiltered(&self, why: &str) {
        if !self.unfiltered.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "master does not filter /master/slaves by slave_id ({why}); scanning GET_AGENTS instead"
            );
        }
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A base URL without its trailing `/`.
pub fn base_text(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests;

/// What a `/master/slaves?slave_id=` answer says.
#[derive(Debug, Clone, PartialEq)]
pub enum SlavesAnswer {
    /// Only the agent asked for, or nobody: where it is.
    Lookup(AgentLookup),
    /// The master ignored the filter and sent another agent (this id): fall back to GET_AGENTS.
    Foreign(String),
}

/// Decodes a filtered `/master/slaves` answer (pure, so it can be fuzzed without a server).
pub fn decode_slaves(url: &Url, bytes: &[u8], agent_id: &str) -> Result<SlavesAnswer, MesosError> {
    let slaves: SlavesV0Wire = serde_json::from_slice(bytes).map_err(|e| MesosError::Decode {
        url: shown(url),
        detail: e.to_string(),
    })?;
    let foreign = slaves
        .slaves
        .iter()
        .map(|s| &s.id.0)
        .chain(slaves.recovered_slaves.iter().map(|s| &s.id.0))
        .find(|id| id.as_str() != agent_id);
    if let Some(other) = foreign {
        return Ok(SlavesAnswer::Foreign(other.clone()));
    }
    if let Some(s) = slaves.slaves.into_iter().next() {
        return Ok(SlavesAnswer::Lookup(AgentLookup::Registered(MasterAgent {
            id: s.id.0,
            hostname: s.hostname,
            pid: s.pid,
            active: s.active,
            deactivated: s.deactivated,
            drain: s.drain_info.as_ref().map(DrainInfo::from),
        })));
    }
    if !slaves.recovered_slaves.is_empty() {
        return Ok(SlavesAnswer::Lookup(AgentLookup::Recovered));
    }
    Ok(SlavesAnswer::Lookup(AgentLookup::Absent))
}
