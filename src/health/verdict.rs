//! The pure half of node health: verdicts from what was read, which repairs are wanted, the
//! rate limit and the exit code. No I/O here; everything is unit-tested below.

use std::time::{Duration, SystemTime};

use super::{Check, Facts, Status, AGENT_UNIT, DISK, REGISTRATION};
use crate::exit::Exit;
use crate::mesos::{AgentLookup, DrainState};
use crate::systemd::UnitState;

/// A unit restarted more often than this ...
pub const RESTART_LOOP_COUNT: u32 = 3;
/// ... whose last (re)start is more recent than this is restarting in a loop.
pub const RESTART_LOOP_WINDOW: Duration = Duration::from_secs(600);

/// `agent-unit`: active, and not restarting in a loop (`NRestarts` above
/// [`RESTART_LOOP_COUNT`] while `ActiveEnterTimestamp` is within [`RESTART_LOOP_WINDOW`]).
pub fn agent_unit(
    state: &UnitState,
    restarts: u32,
    entered: Option<SystemTime>,
    now: SystemTime,
) -> Check {
    if !matches!(state.active_state.as_str(), "active" | "reloading") {
        return Check::fail(
            AGENT_UNIT,
            format!(
                "{} is {} ({}), {restarts} automatic restarts",
                state.name, state.active_state, state.sub_state
            ),
        );
    }
    let since = entered.and_then(|t| now.duration_since(t).ok());
    if restarts > RESTART_LOOP_COUNT {
        if let Some(ago) = since.filter(|ago| *ago < RESTART_LOOP_WINDOW) {
            return Check::fail(
                AGENT_UNIT,
                format!(
                    "{} is restarting in a loop: {restarts} automatic restarts, the last {} ago",
                    state.name,
                    short(ago)
                ),
            );
        }
    }
    Check::pass(
        AGENT_UNIT,
        format!(
            "{} is active ({}), {restarts} automatic restarts",
            state.name, state.sub_state
        ),
    )
}

/// What the master's entry says, beyond the verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registration {
    pub disconnected: bool,
    pub drained: bool,
}

/// `registration` from the master's filtered lookup of `agent_id`.
pub fn registration(agent_id: &str, lookup: &AgentLookup) -> (Check, Registration) {
    match lookup {
        AgentLookup::Registered(a) => {
            let drained = a
                .drain
                .as_ref()
                .is_some_and(|d| d.state == DrainState::Drained);
            if !a.active && !a.deactivated {
                let check = Check::fail(
                    REGISTRATION,
                    format!("the master lists agent {agent_id} as disconnected"),
                );
                return (
                    check,
                    Registration {
                        disconnected: true,
                        drained,
                    },
                );
            }
            let how = match (&a.drain, a.deactivated) {
                (Some(d), _) => format!("registered, {}", d.state.as_str()),
                (None, true) => "registered, deactivated".to_string(),
                (None, false) => "registered and active".to_string(),
            };
            (
                Check::pass(REGISTRATION, format!("agent {agent_id} is {how}")),
                Registration {
                    disconnected: false,
                    drained,
                },
            )
        }
        AgentLookup::Recovered => (
            Check::fail(
                REGISTRATION,
                format!("agent {agent_id} has not re-registered since a master failover"),
            ),
            Registration::default(),
        ),
        AgentLookup::Absent => (
            Check::fail(
                REGISTRATION,
                format!(
                    "the master does not list agent {agent_id} (unreachable, removed or unknown)"
                ),
            ),
            Registration::default(),
        ),
    }
}

/// What `statvfs` said about the work dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats {
    pub blocks: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_available: u64,
}

/// `disk`: at least `min_free` percent of the space and of the inodes free. A filesystem that
/// reports no inode count (btrfs, some network filesystems) is judged on its space alone.
pub fn disk(path: &str, stats: DiskStats, min_free: f64) -> Check {
    let pct = |avail: u64, total: u64| avail as f64 * 100.0 / total as f64;
    let space = (stats.blocks > 0).then(|| pct(stats.blocks_available, stats.blocks));
    let inodes = (stats.files > 0).then(|| pct(stats.files_available, stats.files));
    let mut low = Vec::new();
    if let Some(s) = space.filter(|s| *s < min_free) {
        low.push(format!("{s:.1}% of its space"));
    }
    if let Some(i) = inodes.filter(|i| *i < min_free) {
        low.push(format!("{i:.1}% of its inodes"));
    }
    if !low.is_empty() {
        return Check::fail(
            DISK,
            format!(
                "{path} has only {} free (minimum {min_free}%)",
                low.join(" and ")
            ),
        );
    }
    let shown = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}%"));
    Check::pass(
        DISK,
        format!(
            "{path}: {} of its space and {} of its inodes free",
            shown(space),
            shown(inodes)
        ),
    )
}

/// What a repair pass would like to do for one unit, before the rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Restart { unit: String, why: String },
    Refuse { unit: String, why: String },
}

/// Facts a Docker repair needs beyond the checks (asked only when Docker hangs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DockerSafety {
    /// `LiveRestoreEnabled` from `GET /info`, else `live-restore` from daemon.json.
    pub live_restore: Option<bool>,
    /// The local agent's live tasks; `None` when it cannot be asked.
    pub live_tasks: Option<usize>,
}

/// The repair rules: restart the agent unit when its API does not answer or the master says it
/// is disconnected, while the unit is active; restart Docker only when its API hangs and the
/// agent is drained (the master says DRAINED, or no live task) or Docker has live-restore.
pub fn wanted(facts: &Facts, docker: DockerSafety) -> Vec<Wanted> {
    let mut out = Vec::new();
    if let Some(unit) = facts
        .agent_unit
        .as_ref()
        .filter(|_| facts.agent_unit_active)
    {
        let why = if !facts.agent_api_answers {
            Some("its API does not answer GET /health")
        } else if facts.agent_disconnected {
            Some("the master lists it as disconnected")
        } else {
            None
        };
        if let Some(why) = why {
            out.push(Wanted::Restart {
                unit: unit.clone(),
                why: why.to_string(),
            });
        }
    }
    if facts.docker_active && facts.docker_hung {
        let unit = facts.docker_unit.clone();
        let drained = facts.master_drained || docker.live_tasks == Some(0);
        if docker.live_restore == Some(true) {
            out.push(Wanted::Restart {
                unit,
                why: "its API hangs; live-restore keeps the containers running".into(),
            });
        } else if drained {
            out.push(Wanted::Restart {
                unit,
                why: "its API hangs; the agent is drained".into(),
            });
        } else {
            let killed = match docker.live_tasks {
                Some(n) => format!("would kill {n} containers (the agent's live tasks)"),
                None => "would kill an unknown number of containers (the agent does not answer)"
                    .to_string(),
            };
            out.push(Wanted::Refuse {
                unit,
                why: format!(
                    "its API hangs, but a restart {killed}: Docker has no live-restore and the agent is not drained; drain the node first"
                ),
            });
        }
    }
    out
}

/// `Err(reason)` when `unit` was repaired less than `interval` ago (`last`), naming when the
/// next repair is allowed.
pub fn rate_limit(
    unit: &str,
    last: Option<SystemTime>,
    interval: Duration,
    now: SystemTime,
) -> Result<(), String> {
    let Some(last) = last else { return Ok(()) };
    let next = last + interval;
    match next.duration_since(now) {
        Ok(wait) if !wait.is_zero() => Err(format!(
            "{unit} was already repaired {} ago; at most one repair per {} (health.repair_interval): the next is allowed at {} (in {})",
            short(now.duration_since(last).unwrap_or_default()),
            short(interval),
            humantime::format_rfc3339_seconds(next),
            short(wait)
        )),
        _ => Ok(()),
    }
}

/// The exit code of a pass: 1 when a check fails, else 3 when a check could not run, else 0;
/// any refused repair makes it 5.
pub fn exit_code(checks: &[Check], refused_repair: bool) -> Exit {
    if refused_repair {
        Exit::Policy
    } else if checks.iter().any(Check::failed) {
        Exit::NotSafe
    } else if checks.iter().any(|c| c.undetermined) {
        Exit::Undetermined
    } else {
        Exit::Ok
    }
}

/// `healthy` as `--json` prints it: nothing failed and nothing was undetermined (a documented
/// skip leaves it true).
pub fn healthy(checks: &[Check]) -> bool {
    checks
        .iter()
        .all(|c| c.status != Status::Fail && !c.undetermined)
}

/// `90s`, `4m`, `1h 30m` (whole seconds).
fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests;
