//! Bringing a drained agent back, one sequence for the `reactivate` command and the daemon's
//! post-boot step: wait until the local agent answers with its id ([`wait_for_agent_id`]), wait
//! until the master lists it registered and no longer DRAINING ([`wait_registered`]), then
//! REACTIVATE_AGENT with the master's quirks turned into outcomes ([`reactivate_agent`]). Both
//! waits together are bounded by [`REACTIVATE_TIMEOUT`].

use std::time::Duration;

use crate::exit::Refusal;
use crate::mesos::{AgentClient, AgentLookup, MasterClient, MesosError};
use crate::node::{MasterObs, Phase};
use crate::wait::{self, Look};

/// How long an agent may take to come back (start, recover its executors, re-register) before
/// a human is needed: the one timeout of `reactivate` and of the daemon's post-boot step. An
/// hour, since after a boot nobody is watching and a large agent's recovery is slow; at a
/// terminal, Ctrl-C stops the wait.
pub const REACTIVATE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The pause between looks: quick at first (a person is often waiting), then at most every
/// 10 s (a node coming back after a mass reboot should not flood the master).
const BACK: wait::Backoff = wait::Backoff {
    first: Duration::from_millis(250),
    max: Duration::from_secs(10),
    timeout: REACTIVATE_TIMEOUT,
};

/// Waits until the local agent answers with an id, and returns it (it may be a new one: an
/// agent whose work dir was wiped comes back under another identity).
pub async fn wait_for_agent_id(agent: &AgentClient) -> anyhow::Result<String> {
    wait::until(BACK, || async {
        match agent.get_agent().await {
            Ok(info) => match info.id {
                Some(id) => Look::Ready(id),
                None => Look::NotYet("the agent has no id yet".into()),
            },
            Err(e) => Look::NotYet(format!("the agent is not answering yet: {e}")),
        }
    })
    .await
    .map_err(|e| match e {
        Ok(last) => Refusal::Undetermined(format!(
            "the local agent did not come up with an id within {} ({last})",
            humantime::format_duration(REACTIVATE_TIMEOUT)
        ))
        .into(),
        Err(e) => e,
    })
}

/// Waits until the master lists agent `id` registered and no longer DRAINING (a re-registering
/// empty agent turns DRAINED; the master refuses REACTIVATE_AGENT while it is DRAINING).
pub async fn wait_registered(master: &MasterClient, id: &str) -> anyhow::Result<()> {
    wait::until(BACK, || async {
        match master.agent(id).await {
            Ok(lookup) => match MasterObs::from_lookup(&lookup) {
                MasterObs::Registered {
                    drain: Phase::Draining,
                    ..
                } => Look::NotYet(format!("the master still reports agent {id} DRAINING")),
                MasterObs::Registered { .. } => Look::Ready(()),
                _ if matches!(lookup, AgentLookup::Recovered) => {
                    Look::NotYet(format!("agent {id} has not re-registered yet"))
                }
                _ => Look::NotYet(format!("agent {id} not registered with the master yet")),
            },
            Err(e @ MesosError::AuthRefused { .. }) => Look::Fail(e.into()),
            Err(e) => Look::NotYet(format!("cannot ask the master yet: {e}")),
        }
    })
    .await
    .map_err(|e| match e {
        Ok(last) => Refusal::Undetermined(format!(
            "agent {id} did not re-register with the master within {} ({last})",
            humantime::format_duration(REACTIVATE_TIMEOUT)
        ))
        .into(),
        Err(e) => e,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reactivated {
    Done,
    /// 400 "Agent is not deactivated": nothing to do.
    AlreadyActive,
    /// 409 on an agent that is not currently registered: the master saved it anyway.
    SavedWhileUnregistered,
}

/// REACTIVATE_AGENT with the master's quirks turned into outcomes (API reference 6.4).
pub async fn reactivate_agent(master: &MasterClient, id: &str) -> anyhow::Result<Reactivated> {
    match master.reactivate_agent(id).await {
        Ok(()) => Ok(Reactivated::Done),
        Err(e) if e.is_not_deactivated() => Ok(Reactivated::AlreadyActive),
        Err(e) if e.is_still_draining() => Err(Refusal::Undetermined(format!(
            "the master refused REACTIVATE_AGENT: agent {id} is still DRAINING (wait for DRAINED, \
             or let `mesos-maint drain` finish)"
        ))
        .into()),
        Err(e) if e.is_saved_while_unregistered() => Ok(Reactivated::SavedWhileUnregistered),
        Err(e) => Err(e.into()),
    }
}
