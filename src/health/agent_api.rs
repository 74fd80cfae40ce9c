//! `agent-api`: the local agent answers `GET /health` within [`CHECK_TIMEOUT`].

use super::{Check, AGENT_API, CHECK_TIMEOUT};
use crate::mesos::AgentClient;

pub async fn check(agent: &AgentClient) -> Check {
    let url = agent.url().as_str().trim_end_matches('/').to_string();
    match tokio::time::timeout(CHECK_TIMEOUT, agent.health()).await {
        Ok(Ok(())) => Check::pass(AGENT_API, format!("{url}/health answered")),
        Ok(Err(e)) => Check::fail(AGENT_API, format!("GET {url}/health: {e}")),
        Err(_) => Check::fail(
            AGENT_API,
            format!(
                "GET {url}/health did not answer within {}s",
                CHECK_TIMEOUT.as_secs()
            ),
        ),
    }
}
