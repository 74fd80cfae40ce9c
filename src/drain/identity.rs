//! Which agent this node is. The local agent names itself (GET_AGENT); when it is down, which
//! our own drain may have caused, the marker of that drain does. Every command asks here, so a
//! dry run and the drain it previews always agree on the agent.

use crate::mesos::AgentClient;

use super::marker::{current_boot_id, Marker};
use super::Stage;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the local agent at {agent} has no agent id yet (not registered)")]
    NotRegistered { agent: String },
    #[error("cannot ask the local agent for its id: {reason}")]
    Unreachable { reason: String },
}

/// The marker a drain may take the agent id from when the agent cannot answer: one of this boot
/// that is unfinished (to resume) or finished (whose unit stop is why the agent is silent).
pub fn drain_fallback(marker: Option<&Marker>) -> Option<&Marker> {
    let boot = current_boot_id();
    marker.filter(|m| m.is_this_boot(&boot) && (m.unfinished() || m.stage == Stage::Done))
}

/// For `status`/`check`: `drain_fallback`, or a finished decommission of any boot (its agent is
/// gone for good, and the report says so).
pub fn report_fallback(marker: Option<&Marker>) -> Option<&Marker> {
    drain_fallback(marker).or(marker.filter(|m| m.decommission_done()))
}

/// The agent's own id, or `fallback`'s when the agent does not answer. An agent that answers
/// without an id is not registered: the marker is not consulted then, since the agent may have
/// been re-provisioned under a new identity.
pub async fn agent_id(
    agent: &AgentClient,
    fallback: Option<&Marker>,
) -> Result<String, IdentityError> {
    match agent.get_agent().await {
        Ok(info) => info.id.ok_or_else(|| IdentityError::NotRegistered {
            agent: agent.url().to_string(),
        }),
        Err(e) => match fallback {
            Some(m) => {
                tracing::warn!(
                    "local agent unreachable ({e}); using agent id {} from the marker",
                    m.agent_id
                );
                Ok(m.agent_id.clone())
            }
            None => Err(IdentityError::Unreachable {
                reason: e.to_string(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::{DrainOptions, Trigger};

    fn marker(stage: Stage, boot: &str) -> Marker {
        let p = DrainOptions {
            decommission: false,
            stop_units: true,
            stop_docker: true,
            force: false,
        };
        let mut m = Marker::new("S1", Trigger::Manual, p, "m", None, None, None);
        m.stage = stage;
        m.boot_id = boot.to_string();
        m
    }

    #[test]
    fn drains_of_this_boot_that_are_unfinished_or_done_name_the_agent() {
        let boot = current_boot_id();
        for stage in [
            Stage::Resolve,
            Stage::AwaitDrained,
            Stage::StopDocker,
            Stage::Done,
        ] {
            let m = marker(stage, &boot);
            assert!(drain_fallback(Some(&m)).is_some(), "{stage:?}");
        }
        for stage in [Stage::Failed, Stage::DeadlineExceeded] {
            let m = marker(stage, &boot);
            assert!(drain_fallback(Some(&m)).is_none(), "{stage:?}");
        }
        let old = marker(Stage::AwaitDrained, "an-earlier-boot");
        assert!(drain_fallback(Some(&old)).is_none());
        assert!(report_fallback(Some(&old)).is_none());
        // A finished decommission names its (gone) agent for a report whatever the boot.
        let mut gone = marker(Stage::Done, "an-earlier-boot");
        assert!(report_fallback(Some(&gone)).is_none());
        gone.policy.decommission = true;
        assert!(report_fallback(Some(&gone)).is_some());
        assert!(drain_fallback(Some(&gone)).is_none());
        assert!(drain_fallback(None).is_none());
    }
}
