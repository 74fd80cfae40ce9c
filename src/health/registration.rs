//! `registration`: the master's entry for this agent, through the filtered lookup the drain
//! uses. A master that cannot be asked makes it skip, not fail.

use super::{verdict, Check, CHECK_TIMEOUT, REGISTRATION};
use crate::mesos::MasterClient;

pub struct RegistrationCheck {
    pub check: Check,
    pub disconnected: bool,
    pub drained: bool,
    pub agent_id: Option<String>,
}

pub async fn check(master: Option<&MasterClient>, agent_id: Option<String>) -> RegistrationCheck {
    let skip = |detail: String, agent_id| RegistrationCheck {
        check: Check::skip(REGISTRATION, detail),
        disconnected: false,
        drained: false,
        agent_id,
    };
    let Some(id) = agent_id else {
        return skip(
            "this agent's id is unknown (the agent does not answer and none is recorded)".into(),
            None,
        );
    };
    let Some(master) = master else {
        return skip(
            "no master is configured and the agent names none".into(),
            Some(id),
        );
    };
    let master_text = master.leader_text();
    match tokio::time::timeout(CHECK_TIMEOUT, master.agent(&id)).await {
        Err(_) => skip(
            format!(
                "the master {master_text} did not answer within {}s",
                CHECK_TIMEOUT.as_secs()
            ),
            Some(id),
        ),
        Ok(Err(e)) => skip(format!("the master cannot be asked: {e}"), Some(id)),
        Ok(Ok(lookup)) => {
            let (check, r) = verdict::registration(&id, &lookup);
            RegistrationCheck {
                check,
                disconnected: r.disconnected,
                drained: r.drained,
                agent_id: Some(id),
            }
        }
    }
}
