//! `deactivate`: DEACTIVATE_AGENT only; running tasks keep running (idempotent on the master).

use crate::cli::OutputFormat;
use crate::commands::Ctx;
use crate::exit::{Exit, Refusal};
use crate::mesos::{AgentClient, MasterClient};

/// This agent's id and a client for its leading master.
pub async fn resolve(ctx: &Ctx, agent: &AgentClient) -> anyhow::Result<(String, MasterClient)> {
    let marker = ctx.markers().load().ok().flatten();
    let id = match agent.get_agent().await {
        Ok(info) => match info.id {
            Some(id) => id,
            None => anyhow::bail!(Refusal::Undetermined(
                "the local agent has no agent id yet (not registered)".into()
            )),
        },
        Err(e) => match marker {
            Some(m) => {
                tracing::warn!(
                    "local agent unreachable ({e}); using agent id {} from the marker",
                    m.agent_id
                );
                m.agent_id
            }
            None => anyhow::bail!(Refusal::Undetermined(format!(
                "cannot ask the local agent for its id: {e}"
            ))),
        },
    };
    Ok((id, ctx.master(agent, super::DRAIN_RETRY_BUDGET).await?))
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    let agent = ctx.agent()?;
    let (id, master) = resolve(ctx, &agent).await?;
    master.deactivate_agent(&id).await?;
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&serde_json::json!({
            "agent_id": id,
            "master": master.leader_url().to_string(),
            "deactivated": true,
        })),
        OutputFormat::Text => println!(
            "agent {id} deactivated on {} (no new work; running tasks keep running)",
            master.leader_url()
        ),
    }
    Ok(Exit::Ok)
}
