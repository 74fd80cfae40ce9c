//! `mesos-maint health [--repair]`: the node's own health (design.md "Node health"), and the
//! repairs that keep the running tasks.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::{HealthArgs, OutputFormat};
use crate::context::Ctx;
use crate::exit::{Exit, Refusal};
use crate::health::repair::{self, Repair};
use crate::health::{guard, verdict, Check, Observation, Probe, Status};

/// After a restart, how long the second pass may wait for the repaired units to come back.
pub const REPAIR_SETTLE: Duration = Duration::from_secs(30);
/// Pause between second passes while waiting.
const SETTLE_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize)]
struct Report<'a> {
    healthy: bool,
    checks: &'a [Check],
    #[serde(skip_serializing_if = "Option::is_none")]
    repairs: Option<&'a [Repair]>,
}

/// The command's probe: systemd when reachable, the agent and master
/// clients with a single attempt per request (no waiting out a leaderless master).
pub async fn probe(ctx: &Ctx) -> anyhow::Result<Probe> {
    let transport = ctx.transport_with_retry(Duration::ZERO)?;
    Ok(Probe::new(
        ctx.settings.clone(),
        transport,
        ctx.systemd_if_available().await,
    ))
}

pub async fn run(ctx: &Ctx, args: &HealthArgs) -> anyhow::Result<Exit> {
    // Before anything is asked: a repair in the middle of a drain would start what the drain
    // stops. A plain `health` (no --repair) is read-only and runs during a drain too.
    if args.repair {
        if let Some(why) = guard::drain_under_way(&ctx.settings.state_dir) {
            anyhow::bail!(Refusal::Policy(format!(
                "health --repair refused: {why} (plain `mesos-maint health` only checks)"
            )));
        }
    }
    let probe = probe(ctx).await?;
    let first = probe.observe().await;
    if !args.repair {
        print(ctx, &first.checks, None);
        return Ok(verdict::exit_code(&first.checks, false));
    }
    let repairs = probe.repair(&first).await?;
    let restarted = repairs.iter().any(|r| !r.refused());
    let refused = repairs.iter().any(Repair::refused);
    let last = if restarted {
        settle(&probe).await
    } else {
        first
    };
    print(ctx, &last.checks, Some(&repairs));
    Ok(verdict::exit_code(&last.checks, refused))
}

/// The second pass: checks again until they pass or [`REPAIR_SETTLE`] is over (a restarted
/// agent takes a moment to answer and re-register).
async fn settle(probe: &Probe) -> Observation {
    let end = Instant::now() + REPAIR_SETTLE;
    loop {
        let seen = probe.observe().await;
        if seen.failing().is_empty() || Instant::now() + SETTLE_POLL >= end {
            return seen;
        }
        tracing::debug!("after the repair still failing: {:?}", seen.failing());
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

fn print(ctx: &Ctx, checks: &[Check], repairs: Option<&[Repair]>) {
    let healthy = verdict::healthy(checks);
    if ctx.output == OutputFormat::Json {
        ctx.print_json(&Report {
            healthy,
            checks,
            repairs,
        });
        return;
    }
    for r in repairs.unwrap_or_default() {
        let action = match r.action {
            repair::Action::Restarted => "restarted",
            repair::Action::Refused => "refused to restart",
        };
        println!("repair: {action} {}: {}", r.unit, r.detail);
    }
    for c in checks {
        println!("{:<13} {:<5} {}", c.name, c.status.as_str(), c.detail);
    }
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name)
        .collect();
    if failing.is_empty() {
        if healthy {
            println!("healthy");
        } else {
            let unknown: Vec<&str> = checks
                .iter()
                .filter(|c| c.undetermined)
                .map(|c| c.name)
                .collect();
            println!("cannot tell: {} could not be checked", unknown.join(", "));
        }
    } else {
        println!("not healthy: {}", failing.join(", "));
    }
}
