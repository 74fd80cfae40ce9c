//! `deactivate`: DEACTIVATE_AGENT only; running tasks keep running (idempotent on the master).

use crate::cli::OutputFormat;
use crate::context::Ctx;
use crate::exit::{Exit, Refusal};
use crate::mesos::{AgentClient, MasterClient};

/// This agent's id and a client for its leading master.
pub async fn resolve(ctx: &Ctx, agent: &AgentClient) -> anyhow::Result<(String, MasterClient)> {
    // The drain's rule: only this boot's drain can have stopped the agent; after a reboot the
    // agent returns under a new id and an older marker's id would name a stale agent.
    let id = ctx
        .agent_id(agent)
        .await
        .map_err(|e| Refusal::Undetermined(e.to_string()))?;
    Ok((
        id,
        ctx.master(agent, crate::context::DRAIN_RETRY_BUDGET)
            .await?,
    ))
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Exit> {
    let agent = ctx.agent()?;
    let (id, master) = resolve(ctx, &agent).await?;
    master.deactivate_agent(&id).await?;
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&serde_json::json!({
            "agent_id": id,
            "master": master.leader_text(),
            "deactivated": true,
        })),
        OutputFormat::Text => println!(
            "agent {id} deactivated on {} (no new work; running tasks keep running)",
            master.leader_text()
        ),
    }
    Ok(Exit::Ok)
}
