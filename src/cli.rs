//! The command-line contract (design.md): names, flags and their parsing. Kept apart from `main`
//! so packaging can generate the man page and shell completions from the same definitions.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

#[derive(Debug, Parser)]
#[command(
    name = "mesos-maint",
    version,
    about = "Take a Mesos / DC/OS agent node out of the cluster safely, and bring it back",
    long_about = "Take a Mesos / DC/OS agent node out of the cluster safely before a reboot, a \
termination or maintenance, and bring it back afterwards.\n\nExit codes: 0 done/safe, 1 not safe \
(check), 2 usage or configuration error, 3 undetermined (master or agent unreachable, \
authentication refused, unexpected answer), 4 deadline exceeded, 5 refused by policy, 70 internal \
error."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// One more configuration fragment, on top of the config.d directories
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Leading master, or any master (redirects are followed) [default: discovered]
    #[arg(long, global = true, value_name = "URL", value_parser = parse_url)]
    pub master: Option<Url>,
    /// Local agent [default: http://127.0.0.1:5051]
    #[arg(long, global = true, value_name = "URL", value_parser = parse_url)]
    pub agent: Option<Url>,
    /// Where the drain marker lives [default: /var/lib/mesos-maint]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output format
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// Short for --output json
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

impl GlobalArgs {
    pub fn output(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.output.unwrap_or(OutputFormat::Text)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One report: agent, leading master, drain state, live tasks by framework, operations, units
    Status,
    /// Is it safe to reboot or power off? Exit 0 safe, 1 not safe, 3 undetermined
    Check,
    /// Drain this agent: request the drain, wait until verified, then stop the agent units
    Drain(DrainArgs),
    /// DEACTIVATE_AGENT only: no new work; running tasks keep running
    Deactivate,
    /// Start the units if stopped, wait until the agent is registered, REACTIVATE_AGENT
    Reactivate(ReactivateArgs),
    /// Drain (identity kept), stop the units, then reboot through logind; the daemon reactivates after the boot
    ///
    /// Takes the flags of `drain`, except that --decommission and --no-stop are refused (exit 2):
    /// a reboot keeps the agent's identity and stops its units.
    Reboot(DrainArgs),
    /// The long-running service: shutdown inhibitor, drain on shutdown, reactivation after boot
    Daemon,
    /// Mesos maintenance primitives for this machine (hostname and IP as the master sees them)
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// The cluster-wide budget of nodes out: groups, slots, holders; give a slot back by hand
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Validate the configuration, D-Bus access, unit names and API reachability
    ///
    /// Exit 0 when every required check passes (warnings allowed), 2 on a configuration or
    /// installation error, 3 when something required cannot be reached. With --image-build (a
    /// Packer build) the agent, master and bus are not expected and only warn or are skipped.
    SelfTest {
        /// Inside a machine-image build: no agent, master or bus is expected (those checks are skipped)
        #[arg(long)]
        image_build: bool,
    },
    /// The agent's own health: unit, API, registration, Docker, disk; optionally repair
    ///
    /// Exit 0 when every check passes (a skip is not a failure), 1 with the failing checks
    /// named, 3 when the checks cannot run, 5 when a repair was refused.
    Health(HealthArgs),
    /// Write the man pages, or the completion script of a shell (the package ships bash and zsh)
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum Generate {
    /// mesos-maint.1 and one page per command (mesos-maint-drain.1, ...) into DIR
    Man { dir: PathBuf },
    /// The completion script for SHELL into DIR, under the name that shell looks for
    Completions {
        shell: clap_complete::Shell,
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DrainArgs {
    /// Cap every task's kill grace period (e.g. 90s, 10m); absent: each task's own
    // Hyphen values reach the duration parser, so `-5s` is named as a bad duration, not taken
    // for an unknown flag.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true)]
    pub max_grace_period: Option<Duration>,
    /// Leave the cluster for good (mark_gone): the agent never comes back with this id
    #[arg(long)]
    pub decommission: bool,
    /// Give up (exit 4) when not drained by then [default: 1h]
    #[arg(
        long,
        value_name = "DUR",
        value_parser = parse_duration,
        conflicts_with = "no_deadline",
        allow_hyphen_values = true
    )]
    pub deadline: Option<Duration>,
    /// Wait as long as it takes
    #[arg(long)]
    pub no_deadline: bool,
    /// Leave the agent and docker units running
    #[arg(long)]
    pub no_stop: bool,
    /// At the deadline, escalate: SIGUSR1 to the agent (it unregisters and kills its tasks), then stop it (not with --no-stop)
    #[arg(long, conflicts_with = "no_stop")]
    pub force: bool,
    /// Print the plan against the live state; send and stop nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Why (recorded in the marker and the log)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Wait this long for a fleet slot, then exit 5 with nothing sent [default: fleet.wait]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true)]
    pub fleet_wait: Option<Duration>,
    /// Wait this long for the disruption budgets to allow the drain, then exit 5 with nothing sent [default: budget.wait]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true, conflicts_with = "ignore_budgets")]
    pub budget_wait: Option<Duration>,
    /// Skip the disruption budgets (logged, counted and written to the marker)
    #[arg(long)]
    pub ignore_budgets: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MaintenanceCommand {
    /// This machine's maintenance mode (UP, DRAINING, DOWN), its windows and the frameworks' answers
    Status,
    /// Put this machine in the cluster's maintenance schedule (replacing its own window), or take it out
    ///
    /// The schedule is one document for the whole cluster, replaced by every update without a
    /// compare-and-swap: two machines scheduling at the same moment can lose one window. The
    /// master refuses DRAIN_AGENT for a scheduled machine: drain first, then schedule.
    Schedule(ScheduleArgs),
    /// START_MAINTENANCE: the machine goes DOWN and the master removes its agent at once (tasks still running are lost)
    ///
    /// Refused (exit 5) while the local agent holds work, unless --force. The machine must be
    /// scheduled first.
    Down {
        /// Bring the machine down even though the local agent still holds work
        #[arg(long)]
        force: bool,
    },
    /// STOP_MAINTENANCE: the machine is UP again and leaves the schedule
    Up,
}

#[derive(Debug, Clone, Args)]
pub struct ScheduleArgs {
    /// When the window starts: "now", a delay from now ("10m"), or an RFC 3339 time [default: now]
    #[arg(long, value_name = "WHEN", value_parser = parse_when, conflicts_with = "cancel")]
    pub start: Option<SystemTime>,
    /// How long the machine is unavailable [default: 1h]
    #[arg(
        long,
        value_name = "DUR",
        value_parser = parse_window_duration,
        conflicts_with = "cancel",
        allow_hyphen_values = true
    )]
    pub duration: Option<Duration>,
    /// Take this machine out of the schedule instead
    #[arg(long)]
    pub cancel: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum FleetCommand {
    /// The groups, their slots and holders (id, agent id, hostname, trigger, since)
    Status,
    /// Give a slot back by hand (a holder that died for good); default: this node's holder id
    Release {
        /// The holder id whose slot to give back (see `fleet status`)
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Repair what failed in ways that keep the running tasks (restart the agent; Docker only when safe)
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReactivateArgs {
    /// Leave the units alone (do not start docker or the agent)
    #[arg(long)]
    pub no_start: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

/// Mesos keeps times as int64 nanoseconds since the epoch: later than 2262 cannot be sent.
fn parse_when(s: &str) -> Result<SystemTime, String> {
    let t = if s == "now" {
        SystemTime::now()
    } else if let Ok(d) = humantime::parse_duration(s) {
        SystemTime::now()
            .checked_add(d)
            .ok_or("too far in the future")?
    } else {
        humantime::parse_rfc3339_weak(s).map_err(|_| {
            "not a start time; use \"now\", a delay such as \"10m\", or an RFC 3339 time such as \"2026-11-22T20:00:00Z\"".to_string()
        })?
    };
    let nanos = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "before 1970")?
        .as_nanos();
    i64::try_from(nanos)
        .map(|_| t)
        .map_err(|_| "too far in the future (Mesos times end in 2262)".to_string())
}

/// A maintenance window's length, sent as int64 nanoseconds.
fn parse_window_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    i64::try_from(d.as_nanos())
        .map(|_| d)
        .map_err(|_| "too long (Mesos durations end at about 292 years)".to_string())
}

fn parse_url(s: &str) -> Result<Url, String> {
    crate::config::parse_url(s)
}
