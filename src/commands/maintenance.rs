//! `maintenance status|schedule|down|up`: the Mesos maintenance primitives for this machine.
//! The machine is named as the master names it: the agent's hostname and the IP of its pid,
//! read from the local agent and recorded in the state dir, because after `down` the agent is
//! gone and `up` must still name the machine.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::report::{MaintenanceReport, WindowReport};

use serde::Serialize;

use crate::cli::{MaintenanceCommand, OutputFormat, ScheduleArgs};
use crate::context::Ctx;
use crate::exit::{Exit, Refusal};
use crate::local_work::{self, Names};
use crate::mesos::maintenance::{self, InverseOffer, MachineId, Mode, Window};
use crate::mesos::{AgentClient, AgentLookup, MasterAgent, MasterClient};
use crate::node::{LocalObs, MasterObs};
use crate::state_file;

/// Where the machine's name is kept for when the agent cannot be asked.
pub const MACHINE_FILE: &str = "machine.json";
/// A window's length when `--duration` is not given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

pub async fn run(ctx: &Ctx, cmd: &MaintenanceCommand) -> anyhow::Result<Exit> {
    let agent = ctx.agent()?;
    let master = ctx
        .master(&agent, crate::context::DRAIN_RETRY_BUDGET)
        .await?;
    let before = recorded(ctx);
    let read_only = matches!(cmd, MaintenanceCommand::Status);
    let me = this_machine(ctx, &agent, &master, !read_only).await?;
    match cmd {
        MaintenanceCommand::Status => status(ctx, &master, &me).await,
        MaintenanceCommand::Schedule(args) => schedule(ctx, &master, &me, args).await,
        MaintenanceCommand::Down { force } => down(ctx, &agent, &master, &me, *force).await,
        MaintenanceCommand::Up => up(ctx, &master, &me, before).await,
    }
}

fn machine_file(ctx: &Ctx) -> PathBuf {
    ctx.settings.state_dir.join(MACHINE_FILE)
}

/// This machine as the master names it: the master's entry for this agent (its hostname and the
/// IP of its pid; the agent id by the drain's identity rule, so an agent our drain stopped is
/// found through the marker); else the local agent's `/state`; else what an earlier run recorded
/// (after `down` the master no longer lists the agent). `record`: keep what was found in the
/// state dir (not for read-only reports).
async fn this_machine(
    ctx: &Ctx,
    agent: &AgentClient,
    master: &MasterClient,
    record: bool,
) -> anyhow::Result<MachineId> {
    let found = match from_master(ctx, agent, master).await {
        Ok(me) => Ok(me),
        Err(why) => from_agent_state(agent)
            .await
            .map_err(|e| format!("{why}; {e}")),
    };
    match found {
        Ok(me) if !record => Ok(me),
        Ok(me) => {
            if let Err(e) = state_file::write_json(&ctx.settings.state_dir, MACHINE_FILE, &me) {
                tracing::warn!("cannot record the machine in the state dir: {e}");
            }
            Ok(me)
        }
        Err(why) => match recorded(ctx) {
            Some(me) => {
                tracing::warn!(
                    "{why}; using machine {me} recorded in {}",
                    machine_file(ctx).display()
                );
                Ok(me)
            }
            None => Err(Refusal::Undetermined(format!(
                "cannot tell which machine this is: {why} (and nothing recorded in {})",
                machine_file(ctx).display()
            ))
            .into()),
        },
    }
}

fn recorded(ctx: &Ctx) -> Option<MachineId> {
    state_file::read_json::<MachineId>(&machine_file(ctx))
        .ok()
        .flatten()
}

async fn from_master(
    ctx: &Ctx,
    agent: &AgentClient,
    master: &MasterClient,
) -> Result<MachineId, String> {
    let id = our_agent_id(ctx, agent).await?;
    match master.agent(&id).await {
        Ok(AgentLookup::Registered(a)) => machine_of(&a)
            .ok_or_else(|| format!("the master's entry for agent {id} has no usable pid")),
        Ok(_) => Err(format!("the master does not list agent {id}")),
        Err(e) => Err(e.to_string()),
    }
}

/// By the drain's rule: the agent's own id, or this boot's drain marker (after a reboot the
/// agent comes back under a new id, so an older marker names nothing here).
async fn our_agent_id(ctx: &Ctx, agent: &AgentClient) -> Result<String, String> {
    ctx.agent_id(agent).await.map_err(|e| e.to_string())
}

async fn from_agent_state(agent: &AgentClient) -> Result<MachineId, String> {
    let s = agent.state().await.map_err(|e| e.to_string())?;
    match (s.hostname.as_deref(), s.pid.as_deref()) {
        (Some(h), Some(pid)) => MachineId::from_pid(h, pid).ok_or_else(|| {
            format!("the local agent's hostname {h:?} and pid {pid:?} do not name a machine")
        }),
        _ => Err("the local agent's /state has no hostname or pid".into()),
    }
}

/// The machine of an agent as the master lists it.
pub fn machine_of(a: &MasterAgent) -> Option<MachineId> {
    MachineId::from_pid(&a.hostname, a.pid.as_deref()?)
}

#[derive(Serialize)]
struct StatusJson<'a> {
    machine: &'a MachineId,
    master: String,
    mode: Mode,
    windows: Vec<WindowReport>,
    inverse_offers: Vec<InverseOffer>,
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

async fn status(ctx: &Ctx, master: &MasterClient, me: &MachineId) -> anyhow::Result<Exit> {
    let (schedule, cluster) =
        tokio::join!(master.maintenance_schedule(), master.maintenance_status());
    let (mode, inverse_offers) = maintenance::mode_of(&cluster?, me);
    let windows = maintenance::windows_of(&schedule?, me);
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&StatusJson {
            machine: me,
            master: master.leader_text(),
            mode,
            windows: windows.into_iter().map(WindowReport::from).collect(),
            inverse_offers,
        }),
        OutputFormat::Text => {
            println!("machine {me}: {mode}");
            for w in windows {
                println!("  window {}", WindowReport::from(w));
            }
            for o in inverse_offers {
                println!("  framework {}: {}", o.framework_id, o.status);
            }
        }
    }
    Ok(Exit::Ok)
}

async fn schedule(
    ctx: &Ctx,
    master: &MasterClient,
    me: &MachineId,
    args: &ScheduleArgs,
) -> anyhow::Result<Exit> {
    let current = master.maintenance_schedule().await?;
    let (next, said) = if args.cancel {
        if maintenance::windows_of(&current, me).is_empty() {
            say(
                ctx,
                me,
                master,
                "not in the schedule; nothing to cancel",
                None,
            );
            return Ok(Exit::Ok);
        }
        (
            maintenance::without_machine(&current, me),
            "taken out of the schedule",
        )
    } else {
        let window = Window {
            start_unix_nanos: unix_nanos(args.start.unwrap_or_else(SystemTime::now)),
            duration_nanos: Some(args.duration.unwrap_or(DEFAULT_WINDOW).as_nanos() as i64),
        };
        (maintenance::with_window(&current, me, window), "scheduled")
    };
    match master.update_maintenance_schedule(&next).await {
        Ok(()) => {}
        Err(e) if e.is_down_machine_left_out() => {
            return Err(match e.body().and_then(maintenance::named_machine) {
                Some(m) if me.matches(&m) => Refusal::Policy(format!(
                    "machine {me} is DOWN and cannot leave the schedule; bring it up with `mesos-maint maintenance up`"
                )),
                // GET_MAINTENANCE_SCHEDULE filters what the principal may not see, and the
                // schedule has no compare-and-swap: another machine fell out of our copy.
                _ => Refusal::Undetermined(format!(
                    "the master refused the schedule, nothing was changed: {e} (the schedule \
                     changed meanwhile, or is filtered for this principal)"
                )),
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    }
    let windows = maintenance::windows_of(&next, me);
    say(ctx, me, master, said, windows.first().copied());
    Ok(Exit::Ok)
}

async fn down(
    ctx: &Ctx,
    agent: &AgentClient,
    master: &MasterClient,
    me: &MachineId,
    force: bool,
) -> anyhow::Result<Exit> {
    // Asked first: after START_MAINTENANCE the agent is shut down, so the work check of a
    // repeated `down` could not succeed.
    let (mode, _) = maintenance::mode_of(&master.maintenance_status().await?, me);
    if mode == Mode::Down {
        say(ctx, me, master, "already DOWN", None);
        return Ok(Exit::Ok);
    }
    if force {
        tracing::warn!("--force: not checking the agent for work");
    } else {
        nothing_to_lose(ctx, agent, master, mode).await?;
    }
    match master.start_maintenance(me).await {
        Ok(()) => say(ctx, me, master, "DOWN (the master removed its agent)", None),
        Err(e) if e.is_not_in_draining_mode() => say(ctx, me, master, "already DOWN", None),
        Err(e) if e.is_not_in_maintenance_schedule() => {
            return Err(Refusal::Policy(format!(
                "machine {me} is not in the maintenance schedule; run `mesos-maint maintenance schedule` first"
            ))
            .into())
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Exit::Ok)
}

/// START_MAINTENANCE removes the agent at once and whatever still runs is lost: go ahead only
/// when the master no longer sends it work (deactivated, as a drain leaves it) and the agent
/// holds none. An agent that does not answer counts as empty only when systemd shows its unit
/// stopped and the master says DRAINED (`check`'s rule: a plain stop keeps the tasks).
async fn nothing_to_lose(
    ctx: &Ctx,
    agent: &AgentClient,
    master: &MasterClient,
    mode: Mode,
) -> anyhow::Result<()> {
    let how = if mode == Mode::Draining {
        "the master refuses DRAIN_AGENT for a scheduled machine: `mesos-maint maintenance schedule \
         --cancel`, `mesos-maint drain --no-stop`, schedule again, then down"
    } else {
        "drain first (`mesos-maint drain`), then schedule and down"
    };
    let id = our_agent_id(ctx, agent)
        .await
        .map_err(|e| Refusal::Undetermined(format!("cannot tell what runs here: {e}")))?;
    let listed = match master.agent(&id).await {
        Ok(lookup) => MasterObs::from_lookup(&lookup),
        Err(e) => return Err(e.into()),
    };
    if listed.deactivated() == Some(false) {
        return Err(Refusal::Policy(format!(
            "agent {id} still takes new work (not deactivated); {how}; or use --force"
        ))
        .into());
    }
    match local_work::observe(agent, Names::Cached(&mut Vec::new())).await {
        LocalObs::Seen(w) if w.is_empty() => Ok(()),
        LocalObs::Seen(w) => Err(Refusal::Policy(format!(
            "the local agent still holds work ({}); {how}; or use --force",
            w.reasons().join("; ")
        ))
        .into()),
        LocalObs::Unreachable(_) if listed.is_drained() && agent_unit_stopped(ctx).await => Ok(()),
        LocalObs::Unreachable(e) => Err(Refusal::Undetermined(format!(
            "cannot tell whether the local agent holds work ({e}); use --force to bring the machine down anyway"
        ))
        .into()),
    }
}

async fn agent_unit_stopped(ctx: &Ctx) -> bool {
    let Some(sd) = ctx.systemd_if_available().await else {
        return false;
    };
    match sd.detect_agent_units(&ctx.settings.units.agent).await {
        Ok(Some(a)) => sd
            .unit_state(&a.service)
            .await
            .is_ok_and(|s| s.is_stopped()),
        _ => false,
    }
}

async fn up(
    ctx: &Ctx,
    master: &MasterClient,
    live: &MachineId,
    before: Option<MachineId>,
) -> anyhow::Result<Exit> {
    // A machine renamed since `down` (a new DHCP address, say) would leave the recorded one DOWN
    // for good: bring up the one that is DOWN.
    let status = master.maintenance_status().await?;
    let me = match before {
        Some(rec)
            if rec != *live
                && maintenance::mode_of(&status, live).0 != Mode::Down
                && maintenance::mode_of(&status, &rec).0 == Mode::Down =>
        {
            tracing::warn!("machine {rec}, recorded at `down`, is DOWN; it is the one brought up (this machine is now named {live})");
            if let Err(e) = state_file::write_json(&ctx.settings.state_dir, MACHINE_FILE, &rec) {
                tracing::warn!("cannot record the machine in the state dir: {e}");
            }
            rec
        }
        _ => live.clone(),
    };
    let me = &me;
    match master.stop_maintenance(me).await {
        Ok(()) => say(ctx, me, master, "UP (out of the schedule)", None),
        Err(e) if e.is_not_in_maintenance_schedule() => {
            say(ctx, me, master, "not in maintenance; nothing to do", None)
        }
        Err(e) if e.is_not_in_down_mode() => {
            return Err(Refusal::Policy(format!(
                "machine {me} is scheduled but not DOWN; `mesos-maint maintenance schedule --cancel` takes it out of the schedule"
            ))
            .into())
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Exit::Ok)
}

#[derive(Serialize)]
struct OutcomeJson<'a> {
    machine: &'a MachineId,
    master: String,
    outcome: &'a str,
    window: Option<WindowReport>,
}

fn say(ctx: &Ctx, me: &MachineId, master: &MasterClient, outcome: &str, window: Option<Window>) {
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&OutcomeJson {
            machine: me,
            master: master.leader_text(),
            outcome,
            window: window.map(WindowReport::from),
        }),
        OutputFormat::Text => match window.map(WindowReport::from) {
            Some(w) => println!("machine {me}: {outcome} {w}"),
            None => println!("machine {me}: {outcome}"),
        },
    }
}

/// For `status`/`check`: this machine's mode and windows, read-only. `listed`: the machine of
/// the master's entry for this agent, already fetched; else what an earlier run recorded.
/// `None` (logged) when neither names the machine or the master cannot say.
pub async fn report(
    ctx: &Ctx,
    master: &MasterClient,
    listed: Option<MachineId>,
) -> Option<MaintenanceReport> {
    let me = listed.or_else(|| recorded(ctx))?;
    let (schedule, cluster) =
        tokio::join!(master.maintenance_schedule(), master.maintenance_status());
    match (schedule, cluster) {
        (Ok(schedule), Ok(cluster)) => Some(MaintenanceReport {
            mode: maintenance::mode_of(&cluster, &me).0,
            windows: maintenance::windows_of(&schedule, &me)
                .into_iter()
                .map(WindowReport::from)
                .collect(),
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot read the maintenance state of machine {me}: {e}");
            None
        }
    }
}
