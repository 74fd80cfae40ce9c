//! `reactivate`: start the units if stopped (docker first, then the agent socket and service),
//! wait until the agent is registered, REACTIVATE_AGENT, clear the marker.

use crate::cli::{OutputFormat, ReactivateArgs};
use crate::commands::deactivate::resolve;
use crate::context::Ctx;
use crate::exit::{Exit, Refusal};
use crate::reactivation::{reactivate_agent, wait_for_agent_id, wait_registered, Reactivated};
use crate::systemd::Systemd;

pub async fn run(ctx: &Ctx, args: &ReactivateArgs) -> anyhow::Result<Exit> {
    let agent = ctx.agent()?;
    let started = if args.no_start {
        Vec::new()
    } else {
        let sd = ctx.systemd_required().await?;
        start_units(ctx, &sd).await?
    };
    let (id, master) = if started.is_empty() {
        resolve(ctx, &agent).await?
    } else {
        // The agent just started: its id is known once it answers with one.
        let id = wait_for_agent_id(&agent).await?;
        (
            id,
            ctx.master(&agent, crate::context::DRAIN_RETRY_BUDGET)
                .await?,
        )
    };
    if !started.is_empty() {
        wait_registered(&master, &id).await?;
    }
    let outcome = reactivate_agent(&master, &id).await?;
    match outcome {
        Reactivated::SavedWhileUnregistered => tracing::warn!(
            "the master answered 409 (agent {id} not currently registered); the reactivation is saved \
             and applies when the agent re-registers"
        ),
        Reactivated::AlreadyActive => tracing::info!("agent {id} was not deactivated; nothing to do"),
        Reactivated::Done => {}
    }
    // The node is back: its fleet slot goes back (the drain recorded the holder id).
    let marker = ctx.markers().load_or_warn();
    ctx.release_fleet_slot(marker.as_ref(), &master).await;
    ctx.markers()
        .clear()
        .map_err(|e| anyhow::anyhow!("cannot clear the marker: {e}"))?;
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&serde_json::json!({
            "agent_id": id,
            "master": master.leader_text(),
            "reactivated": true,
            "already_active": outcome == Reactivated::AlreadyActive,
            "saved_while_unregistered": outcome == Reactivated::SavedWhileUnregistered,
            "started_units": started,
        })),
        OutputFormat::Text => {
            for u in &started {
                println!("started {u}");
            }
            println!(
                "agent {id} {} on {}",
                match outcome {
                    Reactivated::Done => "reactivated",
                    Reactivated::AlreadyActive => "was already active",
                    Reactivated::SavedWhileUnregistered =>
                        "reactivation saved (the agent is not registered yet)",
                },
                master.leader_text()
            );
        }
    }
    Ok(Exit::Ok)
}

/// Starts what is stopped: docker first (the agent's containerizer needs it), then the agent's
/// socket before its service (systemd refuses a socket whose service already runs).
pub async fn start_units(ctx: &Ctx, sd: &Systemd) -> anyhow::Result<Vec<String>> {
    let units = &ctx.settings.units;
    let agent = sd.detect_agent_units(&units.agent).await?.ok_or_else(|| {
        Refusal::Usage(format!(
            "no agent unit found (looked for {}); set units.agent or use --no-start",
            units.agent.join(", ")
        ))
    })?;
    // Docker comes back when our drain stopped it; without a marker (units stopped by hand),
    // everything stopped is started.
    let marker = ctx.markers().load_or_warn();
    let docker_ours = match &marker {
        Some(m) => m.did(&crate::drain::units::stop_action(&units.docker)),
        None => units.stop_docker,
    };
    let mut order = Vec::new();
    if docker_ours {
        order.push(units.docker.clone());
    }
    order.extend(agent.socket.clone());
    order.push(agent.service.clone());
    let mut started = Vec::new();
    for name in order {
        let st = sd.unit_state(&name).await?;
        if !st.is_loaded() || st.is_active() {
            continue;
        }
        tracing::info!(target: crate::logging::PROGRESS, "starting {name}");
        sd.start_unit(&name, units.job_timeout).await?;
        started.push(name);
    }
    Ok(started)
}
