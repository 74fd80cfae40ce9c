//! After a boot: bring back an agent that this tool drained for a reboot, once it has registered
//! again. Never touches an agent drained by hand or decommissioned (see `policy::after_boot`).
//! The waits and the call are the `reactivate` command's own (`crate::reactivation`).

use anyhow::Context as _;

use crate::drain::MarkerStore;
use crate::mesos::{AgentClient, MasterClient};
use crate::reactivation::{reactivate_agent, wait_for_agent_id, wait_registered, Reactivated};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    Reactivated(Reactivated),
    /// The agent came back under another id (its work dir was wiped): nothing to reactivate.
    NewIdentity(String),
}

/// Waits until the agent answers with its old id and the master lists it registered and no
/// longer DRAINING, then REACTIVATE_AGENT and clears the marker.
pub async fn reactivate_after_boot(
    agent: &AgentClient,
    master: &MasterClient,
    store: &MarkerStore,
    agent_id: &str,
) -> anyhow::Result<BootOutcome> {
    let by_hand = || {
        format!("agent {agent_id} not back after the boot; run `mesos-maint reactivate` by hand")
    };
    let id = wait_for_agent_id(agent).await.with_context(by_hand)?;
    if id != agent_id {
        store.clear()?;
        return Ok(BootOutcome::NewIdentity(id));
    }
    wait_registered(master, agent_id)
        .await
        .with_context(by_hand)?;
    let outcome = reactivate_agent(master, agent_id).await?;
    store.clear()?;
    Ok(BootOutcome::Reactivated(outcome))
}
