//! `fleet status` and `fleet release`: the cluster-wide budget of nodes out, seen and mended by
//! hand (design.md "Fleet coordination").

use crate::cli::{FleetCommand, OutputFormat};
use crate::context::Ctx;
use crate::exit::{Exit, Refusal};
use crate::fleet::{self, Backend, FleetLock, GroupStatus, Release};

/// What `fleet release` says with the master backend.
pub const MASTER_NOTHING_TO_RELEASE: &str = "nothing to give back: the master backend stores no \
     lock, it counts the agents that are draining, drained or deactivated; an agent stops \
     counting once it is reactivated (mesos-maint reactivate)";

pub async fn run(ctx: &Ctx, cmd: &FleetCommand) -> anyhow::Result<Exit> {
    let settings = &ctx.settings.fleet;
    if settings.backend == Backend::None {
        return Err(Refusal::Usage(
            "fleet.backend is \"none\": there is no fleet budget (set [fleet] backend)".into(),
        )
        .into());
    }
    let lock = open(ctx).await?;
    match cmd {
        FleetCommand::Status => status(ctx, lock.as_ref()).await,
        FleetCommand::Release { id } => {
            let id = match id {
                Some(id) => fleet::settings::parse_id(id).map_err(Refusal::Usage)?,
                None => settings.holder_id(),
            };
            release(ctx, lock.as_ref(), &id).await
        }
    }
}

/// The configured lock; the master backend asks the leading master.
async fn open(ctx: &Ctx) -> anyhow::Result<Box<dyn FleetLock>> {
    let master = if ctx.settings.fleet.backend == Backend::Master {
        let agent = ctx.agent()?;
        let m = ctx
            .master(&agent, crate::context::REPORT_RETRY_BUDGET)
            .await?;
        Some((m.transport(), m.leader_url()))
    } else {
        None
    };
    Ok(fleet::open(&ctx.settings.fleet, master)?)
}

async fn status(ctx: &Ctx, lock: &dyn FleetLock) -> anyhow::Result<Exit> {
    let groups = lock.groups().await?;
    // The disruption budgets' intents (ZooKeeper backend only: the others have no store).
    let intents = match lock.zookeeper() {
        Some(zk) => crate::budget::intents::list(zk).await?,
        None => Vec::new(),
    };
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&serde_json::json!({
            "backend": lock.backend(),
            "group": lock.group(),
            "groups": groups,
            "budgets": intents
                .iter()
                .map(|(w, doc)| serde_json::json!({"workload": w, "holders": doc.holders}))
                .collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            print!("{}", render(&groups));
            print!("{}", render_intents(&intents));
        }
    }
    Ok(Exit::Ok)
}

/// The intents in flight, one block per workload that has any.
pub fn render_intents(intents: &[(String, crate::budget::intents::IntentDoc)]) -> String {
    let mut s = String::new();
    for (w, doc) in intents.iter().filter(|(_, d)| !d.holders.is_empty()) {
        s.push_str(&format!("budget intents on budgets/{w}:\n"));
        for h in &doc.holders {
            s.push_str(&format!(
                "  {}  agent {}  tasks {}  since {}\n",
                h.id,
                or_dash(&h.agent_id),
                h.tasks.join(","),
                humantime::format_rfc3339_seconds(h.since)
            ));
        }
    }
    s
}

/// The text of `fleet status`: one block per group.
pub fn render(groups: &[GroupStatus]) -> String {
    let mut s = String::new();
    if groups.is_empty() {
        s.push_str("no groups yet\n");
    }
    for g in groups {
        let held = g.holders.as_ref().map(Vec::len);
        let slots = match (held, g.max_unavailable) {
            (Some(n), Some(max)) => format!("{n} of {max} slots held"),
            (Some(n), None) => format!("{n} slot(s) held"),
            (None, Some(max)) => format!("{max} slots, holders not listed"),
            (None, None) => "slots decided by the server, holders not listed".into(),
        };
        s.push_str(&format!(
            "group {} ({} backend): {slots}\n",
            g.group, g.backend
        ));
        for h in g.holders.iter().flatten() {
            s.push_str(&format!(
                "  {}  agent {}  host {}  trigger {}  since {}\n",
                h.id,
                or_dash(&h.agent_id),
                or_dash(&h.hostname),
                or_dash(&h.trigger),
                humantime::format_rfc3339_seconds(h.since)
            ));
        }
    }
    s
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

async fn release(ctx: &Ctx, lock: &dyn FleetLock, id: &str) -> anyhow::Result<Exit> {
    if ctx.settings.fleet.backend == Backend::Master {
        // The master backend is a count of the agents out, not a lock: nothing was stored, so
        // nothing can be given back by hand (the agent stops counting once it is reactivated).
        match ctx.output {
            OutputFormat::Json => ctx.print_json(&serde_json::json!({
                "backend": lock.backend(),
                "group": lock.group(),
                "id": id,
                "released": false,
                "note": MASTER_NOTHING_TO_RELEASE,
            })),
            OutputFormat::Text => println!("{MASTER_NOTHING_TO_RELEASE}"),
        }
        return Ok(Exit::Ok);
    }
    let released = lock.release(id).await? == Release::Released;
    // The holder's budget intents go with its slot.
    if let Some(zk) = lock.zookeeper() {
        for (w, doc) in crate::budget::intents::list(zk).await? {
            if doc.holders.iter().any(|h| h.id == id) {
                crate::budget::intents::remove(zk, id, &w).await?;
            }
        }
    }
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&serde_json::json!({
            "backend": lock.backend(),
            "group": lock.group(),
            "id": id,
            "released": released,
        })),
        OutputFormat::Text if released => {
            println!("slot of {id} in group {} given back", lock.group())
        }
        OutputFormat::Text => println!("{id} holds no slot in group {}", lock.group()),
    }
    Ok(Exit::Ok)
}
