//! After a boot: bring back an agent that this tool drained for a reboot, once it has registered
//! again. Never touches an agent drained by hand or decommissioned (see `policy::after_boot`).

use std::time::Duration;

use crate::drain::MarkerStore;
use crate::mesos::{AgentClient, AgentLookup, MasterClient};
use crate::node::{MasterObs, Phase};
use crate::reactivation::{reactivate_agent, Reactivated};
use crate::wait::{self, Look};

/// How long after the boot the daemon keeps trying; an agent that takes longer needs a human.
pub const BOOT_REACTIVATE_TIMEOUT: Duration = Duration::from_secs(3600);
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    Reactivated(Reactivated),
    /// The agent came back under another id (its work dir was wiped): nothing to reactivate.
    NewIdentity(String),
}

/// Waits until the agent answers with its old id and the master lists it registered and no
/// longer DRAINING (a re-registering empty agent turns DRAINED), then REACTIVATE_AGENT and
/// clears the marker.
pub async fn reactivate_after_boot(
    agent: &AgentClient,
    master: &MasterClient,
    store: &MarkerStore,
    agent_id: &str,
) -> anyhow::Result<BootOutcome> {
    let backoff = wait::Backoff {
        first: RETRY_MIN,
        max: RETRY_MAX,
        timeout: BOOT_REACTIVATE_TIMEOUT,
    };
    let id = wait::until(backoff, || step(agent, master, agent_id))
    .await
    .map_err(|e| match e {
        Ok(last) => anyhow::anyhow!(
            "agent {agent_id} not back within {} after the boot ({last}); run `mesos-maint reactivate` by hand",
            humantime::format_duration(BOOT_REACTIVATE_TIMEOUT)
        ),
        Err(e) => e,
    })?;
    if id != agent_id {
        store.clear()?;
        return Ok(BootOutcome::NewIdentity(id));
    }
    let outcome = reactivate_agent(master, agent_id).await?;
    store.clear()?;
    Ok(BootOutcome::Reactivated(outcome))
}

/// `Ready(id)` when it is time to act (the agent's current id), `NotYet(why)` to keep waiting.
async fn step(agent: &AgentClient, master: &MasterClient, agent_id: &str) -> Look<String> {
    match look(agent, master, agent_id).await {
        Ok(id) => Look::Ready(id),
        Err(why) => Look::NotYet(why),
    }
}

async fn look(
    agent: &AgentClient,
    master: &MasterClient,
    agent_id: &str,
) -> Result<String, String> {
    let info = agent
        .get_agent()
        .await
        .map_err(|e| format!("local agent: {e}"))?;
    let Some(id) = info.id else {
        return Err("the local agent has no id yet".into());
    };
    if id != agent_id {
        return Ok(id);
    }
    let lookup = master
        .agent(agent_id)
        .await
        .map_err(|e| format!("master: {e}"))?;
    match MasterObs::from_lookup(&lookup) {
        MasterObs::Registered {
            drain: Phase::Draining,
            ..
        } => Err("the master still reports the agent DRAINING".into()),
        MasterObs::Registered { .. } => Ok(id),
        _ if matches!(lookup, AgentLookup::Recovered) => {
            Err("the agent has not re-registered yet".into())
        }
        _ => Err("the master does not list the agent yet".into()),
    }
}
