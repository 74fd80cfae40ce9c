//! `maintenance status|schedule|down|up`: the Mesos maintenance primitives for this machine.
//! The machine is named as the master names it: the agent's hostname and the IP of its pid,
//! read from the local agent and recorded in the state dir, because after `down` the agent is
//! gone and `up` must still name the machine.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::cli::{MaintenanceCommand, OutputFormat, ScheduleArgs};
use crate::commands::Ctx;
use crate::exit::{Exit, Refusal};
use crate::local_work::{self, Names};
use crate::mesos::maintenance::{self, InverseOffer, MachineId, Mode, Window};
use crate::mesos::{AgentClient, AgentLookup, MasterClient};
use crate::node::LocalObs;
use crate::state_file;

/// Where the machine's name is kept for when the agent cannot be asked.
pub const MACHINE_FILE: &str = "machine.json";
/// A window's length when `--duration` is not given.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

pub async fn run(ctx: &Ctx, cmd: &MaintenanceCommand) -> anyhow::Result<Exit> {
    let agent = ctx.agent()?;
    let master = ctx.master(&agent, super::DRAIN_RETRY_BUDGET).await?;
    let me = this_machine(ctx, &agent, &master).await?;
    match cmd {
        MaintenanceCommand::Status => status(ctx, &master, &me).await,
        MaintenanceCommand::Schedule(args) => schedule(ctx, &master, &me, args).await,
        MaintenanceCommand::Down { force } => down(ctx, &agent, &master, &me, *force).await,
        MaintenanceCommand::Up => up(ctx, &master, &me).await,
    }
}

fn machine_file(ctx: &Ctx) -> PathBuf {
    ctx.settings.state_dir.join(MACHINE_FILE)
}

/// The local agent's hostname and pid IP; else, for an agent our drain stopped, the master's
/// entry for the agent id in the marker; else what an earlier run recorded.
async fn this_machine(
    ctx: &Ctx,
    agent: &AgentClient,
    master: &MasterClient,
) -> anyhow::Result<MachineId> {
    let asked = match agent.state().await {
        Ok(s) => match (s.hostname.as_deref(), s.pid.as_deref()) {
            (Some(h), Some(pid)) => MachineId::from_pid(h, pid).ok_or_else(|| {
                format!("the local agent's hostname {h:?} and pid {pid:?} do not name a machine")
            }),
            _ => Err("the local agent's /state has no hostname or pid".into()),
        },
        Err(e) => match as_the_master_lists_it(ctx, master).await {
            Some(me) => Ok(me),
            None => Err(e.to_string()),
        },
    };
    match asked {
        Ok(me) => {
            if let Err(e) = state_file::write_json(&ctx.settings.state_dir, MACHINE_FILE, &me) {
                tracing::warn!("cannot record the machine in the state dir: {e}");
            }
            Ok(me)
        }
        Err(why) => match state_file::read_json::<MachineId>(&machine_file(ctx)) {
            Ok(Some(me)) => {
                tracing::warn!(
                    "cannot ask the local agent ({why}); using machine {me} recorded in {}",
                    machine_file(ctx).display()
                );
                Ok(me)
            }
            _ => Err(Refusal::Undetermined(format!(
                "cannot tell which machine this is: {why} (and nothing recorded in {})",
                machine_file(ctx).display()
            ))
            .into()),
        },
    }
}

/// The master still lists an agent stopped without unregistering, hostname and pid included.
async fn as_the_master_lists_it(ctx: &Ctx, master: &MasterClient) -> Option<MachineId> {
    let marker = ctx.markers().load().ok().flatten()?;
    match master.agent(&marker.agent_id).await {
        Ok(AgentLookup::Registered(a)) => {
            let me = MachineId::from_pid(&a.hostname, a.pid.as_deref()?)?;
            tracing::info!(
                "the local agent does not answer; machine {me} as the master lists agent {}",
                a.id
            );
            Some(me)
        }
        _ => None,
    }
}

#[derive(Serialize)]
struct StatusJson<'a> {
    machine: &'a MachineId,
    master: String,
    mode: Mode,
    windows: Vec<WindowJson>,
    inverse_offers: Vec<InverseOffer>,
}

#[derive(Serialize)]
struct WindowJson {
    start: String,
    start_unix_nanos: i64,
    /// `None`: no end.
    duration_seconds: Option<f64>,
}

impl From<Window> for WindowJson {
    fn from(w: Window) -> WindowJson {
        WindowJson {
            start: rfc3339(w.start_unix_nanos),
            start_unix_nanos: w.start_unix_nanos,
            duration_seconds: w.duration_nanos.map(|d| d as f64 / 1e9),
        }
    }
}

fn rfc3339(unix_nanos: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(unix_nanos.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
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
            windows: windows.into_iter().map(WindowJson::from).collect(),
            inverse_offers,
        }),
        OutputFormat::Text => {
            println!("machine {me}: {mode}");
            for w in windows {
                let w = WindowJson::from(w);
                match w.duration_seconds {
                    Some(d) => println!(
                        "  window from {} for {}",
                        w.start,
                        humantime::format_duration(Duration::from_secs_f64(d))
                    ),
                    None => println!("  window from {} (no end)", w.start),
                }
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
            return Err(Refusal::Policy(format!(
                "machine {me} is DOWN and cannot leave the schedule; bring it up with `mesos-maint maintenance up`"
            ))
            .into())
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
    if force {
        tracing::warn!("--force: not checking the local agent for work");
    } else {
        no_work_left(ctx, agent).await?;
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

/// START_MAINTENANCE kills whatever still runs (tasks become LOST): refuse while there is work,
/// or while it cannot be told, except when systemd shows the agent stopped.
async fn no_work_left(ctx: &Ctx, agent: &AgentClient) -> anyhow::Result<()> {
    match local_work::observe(agent, Names::Cached(&mut Vec::new())).await {
        LocalObs::Seen(w) if w.is_empty() => Ok(()),
        LocalObs::Seen(w) => Err(Refusal::Policy(format!(
            "the local agent still holds work ({}); drain first (`mesos-maint drain`) or use --force",
            w.reasons().join("; ")
        ))
        .into()),
        LocalObs::Unreachable(e) => {
            if let Some(sd) = ctx.systemd_if_available().await {
                if let Ok(Some(a)) = sd.detect_agent_units(&ctx.settings.units.agent).await {
                    if sd.unit_state(&a.service).await.is_ok_and(|s| s.is_stopped()) {
                        return Ok(());
                    }
                }
            }
            Err(Refusal::Undetermined(format!(
                "cannot tell whether the local agent holds work ({e}); use --force to bring the machine down anyway"
            ))
            .into())
        }
    }
}

async fn up(ctx: &Ctx, master: &MasterClient, me: &MachineId) -> anyhow::Result<Exit> {
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
    window: Option<WindowJson>,
}

fn say(ctx: &Ctx, me: &MachineId, master: &MasterClient, outcome: &str, window: Option<Window>) {
    match ctx.output {
        OutputFormat::Json => ctx.print_json(&OutcomeJson {
            machine: me,
            master: master.leader_text(),
            outcome,
            window: window.map(WindowJson::from),
        }),
        OutputFormat::Text => match window.map(WindowJson::from) {
            Some(w) => println!(
                "machine {me}: {outcome} from {}{}",
                w.start,
                w.duration_seconds
                    .map(|d| format!(
                        " for {}",
                        humantime::format_duration(Duration::from_secs_f64(d))
                    ))
                    .unwrap_or_default()
            ),
            None => println!("machine {me}: {outcome}"),
        },
    }
}
