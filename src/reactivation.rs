//! Bringing a drained agent back: REACTIVATE_AGENT with the master's quirks turned into
//! outcomes, for the `reactivate` command and the daemon's post-boot step alike.

use crate::exit::Refusal;
use crate::mesos::MasterClient;

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
