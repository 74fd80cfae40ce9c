//! `agent-unit`: the agent service's ActiveState and its restart count, from systemd over D-Bus.

use std::time::SystemTime;

use super::{verdict, Check, AGENT_UNIT, CHECK_TIMEOUT};
use crate::systemd::Systemd;

pub struct UnitCheck {
    pub check: Check,
    /// The agent service found among the candidates.
    pub unit: Option<String>,
    pub active: bool,
}

pub async fn check(systemd: Option<&Systemd>, candidates: &[String]) -> UnitCheck {
    let outcome = |check, unit, active| UnitCheck {
        check,
        unit,
        active,
    };
    let Some(systemd) = systemd else {
        return outcome(
            Check::cannot_run(AGENT_UNIT, "systemd cannot be reached over D-Bus"),
            None,
            false,
        );
    };
    let read = async {
        let Some(units) = systemd.detect_agent_units(candidates).await? else {
            return Ok(None);
        };
        let facts = systemd.restart_facts(&units.service).await?;
        Ok::<_, crate::systemd::SystemdError>(Some(facts))
    };
    match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Err(_) => outcome(
            Check::cannot_run(
                AGENT_UNIT,
                format!("systemd did not answer within {CHECK_TIMEOUT:?}"),
            ),
            None,
            false,
        ),
        Ok(Err(e)) => outcome(Check::cannot_run(AGENT_UNIT, e.to_string()), None, false),
        Ok(Ok(None)) => outcome(
            Check::fail(
                AGENT_UNIT,
                format!(
                    "none of the agent units {} is installed",
                    candidates.join(", ")
                ),
            ),
            None,
            false,
        ),
        Ok(Ok(Some((state, restarts, entered)))) => {
            let check = verdict::agent_unit(&state, restarts, entered, SystemTime::now());
            let active = state.is_active();
            outcome(check, Some(state.name), active)
        }
    }
}
