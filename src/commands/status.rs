//! `status` (one report) and `check` (the same report plus "safe to reboot?").

use crate::cli::OutputFormat;
use crate::commands::observe::observe;
use crate::context::Ctx;
use crate::exit::Exit;
use crate::node::{evaluate, LocalObs, MasterObs, Verdict};
use crate::report::Report;

pub async fn status(ctx: &Ctx) -> anyhow::Result<Exit> {
    let (observed, _) = observe(ctx).await?;
    let report = Report::build(&observed, None);
    emit(ctx, &report);
    let unreachable = matches!(observed.master, MasterObs::Unreachable(_))
        || matches!(observed.local, LocalObs::Unreachable(_));
    Ok(if unreachable {
        Exit::Undetermined
    } else {
        Exit::Ok
    })
}

pub async fn check(ctx: &Ctx) -> anyhow::Result<Exit> {
    let (observed, exceptions) = observe(ctx).await?;
    let agent_id = observed
        .agent_id
        .clone()
        .unwrap_or_else(|| "<unknown>".into());
    let verdict = evaluate(&observed.master, &observed.local, exceptions, &agent_id);
    let report = Report::build(&observed, Some(&verdict));
    emit(ctx, &report);
    Ok(match verdict {
        Verdict::Safe => Exit::Ok,
        Verdict::NotSafe(_) => Exit::NotSafe,
        Verdict::Undetermined(_) => Exit::Undetermined,
    })
}

fn emit(ctx: &Ctx, report: &Report) {
    match ctx.output {
        OutputFormat::Json => println!("{}", report.to_json()),
        OutputFormat::Text => print!("{}", report.to_text()),
    }
}
