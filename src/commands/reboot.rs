//! `reboot`: drain with the identity kept, stop the units, then reboot through logind. The daemon
//! sees this tool's marker after the boot and reactivates the agent.

use crate::cli::DrainArgs;
use crate::commands::drain::print_outcome;
use crate::context::Ctx;
use crate::drain::progress::ConsoleSink;
use crate::drain::{self, DrainRequest};
use crate::exit::{Exit, Refusal};
use crate::systemd::Logind;

pub async fn run(ctx: &Ctx, args: &DrainArgs) -> anyhow::Result<Exit> {
    if args.decommission {
        anyhow::bail!(Refusal::Usage(
            "reboot keeps the agent's identity; use `drain --decommission` to leave the cluster for good".into()
        ));
    }
    if args.no_stop {
        anyhow::bail!(Refusal::Usage(
            "reboot stops the agent units before rebooting; --no-stop does not apply".into()
        ));
    }
    if args.dry_run {
        let exit = super::drain::run(ctx, args).await?;
        eprintln!("then: reboot through logind; after the boot the daemon reactivates the agent");
        return Ok(exit);
    }
    // logind first: a node drained and stopped that then cannot be rebooted is capacity lost
    // until someone reactivates it by hand. Nothing has been sent anywhere yet.
    let logind = Logind::connect().await.map_err(|e| {
        Refusal::Undetermined(format!(
            "logind cannot be reached, so the machine could not be rebooted; nothing was drained: {e}"
        ))
    })?;
    let req = DrainRequest::reboot(&ctx.settings, args);
    let deps = ctx.drain_deps(&req).await?;
    let mut sink = ConsoleSink::new(ctx.quiet);
    let outcome = drain::run(req.clone(), deps, &mut sink).await?;
    print_outcome(ctx, &req, &outcome);
    tracing::info!("rebooting through logind");
    logind.reboot(false).await.map_err(|e| {
        Refusal::Undetermined(format!(
            "the node is drained and its units stopped, but logind refused the reboot: {e}"
        ))
    })?;
    // stderr: with --json, stdout holds exactly the drain outcome object.
    eprintln!(
        "reboot requested; the daemon reactivates agent {} after the boot",
        outcome.agent_id
    );
    Ok(Exit::Ok)
}
