//! `drain` (and `--dry-run`): builds the request from flags and settings and runs the executor.

use serde::Serialize;

use crate::cli::{DrainArgs, OutputFormat};
use crate::context::Ctx;
use crate::drain::hooks::HookStage;
use crate::drain::plan::{plan, render_text, Blocker, BlockerKind, PlanInput};
use crate::drain::progress::ConsoleSink;
use crate::drain::{self, DrainError, DrainRequest, Outcome};
use crate::exit::{Exit, Refusal};
use crate::mesos::maintenance::Mode;
use crate::mesos::AgentLookup;
use crate::node::MasterObs;

#[derive(Serialize)]
struct OutcomeJson<'a> {
    agent_id: &'a str,
    master: String,
    drain_state: &'static str,
    forced: bool,
    already_requested: bool,
    elapsed_seconds: f64,
    master_requests: u64,
    resumed_from: Option<&'static str>,
}

pub async fn run(ctx: &Ctx, args: &DrainArgs) -> anyhow::Result<Exit> {
    let req = DrainRequest::manual(&ctx.settings, args);
    if args.dry_run {
        return dry_run(ctx, &req).await;
    }
    let deps = ctx.drain_deps(&req).await?;
    let mut sink = ConsoleSink::new(ctx.quiet);
    let outcome = drain::run(req.clone(), deps, &mut sink).await?;
    print_outcome(ctx, &req, &outcome);
    Ok(Exit::Ok)
}

pub fn print_outcome(ctx: &Ctx, req: &DrainRequest, o: &Outcome) {
    // A forced drain ends with the agent unregistered: the master keeps no drain state for it.
    let state = if o.forced {
        "UNKNOWN"
    } else if req.policy.decommission {
        "GONE"
    } else {
        "DRAINED"
    };
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&OutcomeJson {
            agent_id: &o.agent_id,
            master: crate::mesos::master::base_text(&o.master),
            drain_state: state,
            forced: o.forced,
            already_requested: o.already_requested,
            elapsed_seconds: o.elapsed.as_secs_f64(),
            master_requests: o.master_requests,
            resumed_from: o.resumed_from.map(|s| s.name()),
        }),
        OutputFormat::Text if o.forced => println!(
            "agent {}: deadline reached after {:.1}s; escalated (SIGUSR1: the agent unregistered \
             and killed its tasks), agent units stopped",
            o.agent_id,
            o.elapsed.as_secs_f64()
        ),
        OutputFormat::Text => println!(
            "agent {} is {state} after {:.1}s{}",
            o.agent_id,
            o.elapsed.as_secs_f64(),
            if req.policy.stop_units {
                "; agent units stopped"
            } else {
                "; units left running (--no-stop)"
            }
        ),
    }
}

async fn dry_run(ctx: &Ctx, req: &DrainRequest) -> anyhow::Result<Exit> {
    let agent = ctx.agent()?;
    let marker = ctx.markers().load_or_warn();
    // The same identity rule as the drain it previews.
    let agent_id = ctx
        .agent_id(&agent)
        .await
        .map_err(|e| Refusal::Undetermined(e.to_string()))?;
    let master = ctx
        .master(&agent, crate::context::REPORT_RETRY_BUDGET)
        .await?;
    let lookup = master.agent(&agent_id).await;
    let master_obs = match &lookup {
        Ok(l) => MasterObs::from_lookup(l),
        Err(e) => MasterObs::Unreachable(e.to_string()),
    };
    let machine = match &lookup {
        Ok(AgentLookup::Registered(a)) => super::maintenance::machine_of(a),
        _ => None,
    };
    let (local, units, maintenance, fleet, budgets) = tokio::join!(
        super::observe::observe_local(&agent),
        async {
            if req.policy.stop_units {
                Some(plan_units(ctx, req).await)
            } else {
                None
            }
        },
        async {
            match master_obs {
                MasterObs::Unreachable(_) => None,
                _ => super::maintenance::report(ctx, &master, machine).await,
            }
        },
        super::observe::observe_fleet(ctx, &master, Some(&agent_id)),
        super::observe::observe_budgets(ctx, &agent, &master, &agent_id),
    );
    let agent_unit_stopped = match &units {
        Some(Ok(u)) => super::observe::unit_stopped(ctx, &u.agent.service).await,
        _ => false,
    };
    // The master refuses DRAIN_AGENT for a machine that is part of a maintenance schedule.
    let refusals = maintenance
        .filter(|m| !m.windows.is_empty() || m.mode != Mode::Up)
        .map(|m| {
            format!(
                "the machine is in a maintenance schedule (mode {}): the master refuses DRAIN_AGENT; \
                 use `mesos-maint maintenance` instead, or cancel the window",
                m.mode
            )
        })
        .into_iter()
        .collect();
    let hooks = ctx.drain_hooks();
    let leader = master.leader_text();
    let p = plan(&PlanInput {
        agent_id: &agent_id,
        master: &leader,
        master_obs: &master_obs,
        local: &local,
        policy: req.policy,
        max_grace_period: req.max_grace_period,
        deadline: req.deadline,
        units,
        agent_unit_stopped,
        marker: marker.as_ref(),
        boot_id: &drain::current_boot_id(),
        now_unix: drain::marker::unix_now(),
        pre_hooks: hooks.list(HookStage::PreDrain),
        post_hooks: hooks.list(HookStage::PostDrain),
        lock_holder: drain::lock::holder(ctx.markers().dir()),
        refusals,
        fleet: fleet.map(|(r, e)| match e {
            Some(e) => Err(e),
            None => Ok(r),
        }),
        budgets: budgets.map(|b| {
            b.map_err(|e| {
                let kind = match e {
                    crate::budget::round::LookError::Config(_) => BlockerKind::Config,
                    crate::budget::round::LookError::Undetermined(_) => BlockerKind::Undetermined,
                };
                Blocker::new(kind, format!("disruption budgets: {e}"))
            })
        }),
        ignore_budgets: req.budget == crate::budget::BudgetRule::Ignore,
    });
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&p),
        OutputFormat::Text => print!("{}", render_text(&p)),
    }
    Ok(match p.stops_at {
        None => Exit::Ok,
        Some(kind) => Exit::from(kind),
    })
}

async fn plan_units(ctx: &Ctx, req: &DrainRequest) -> Result<drain::units::UnitPlan, Blocker> {
    let sd = ctx.systemd_if_available().await;
    drain::units::plan(sd.as_ref(), &ctx.settings.units, req.policy.stop_docker)
        .await
        .map_err(|e| {
            let kind = match e {
                DrainError::Config(_) => BlockerKind::Config,
                _ => BlockerKind::Undetermined,
            };
            Blocker::new(kind, e.to_string())
        })
}
