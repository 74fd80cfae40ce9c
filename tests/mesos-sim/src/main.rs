//! `mesos-sim serve`: runs the simulator for shell scripts and systemd test units.
//!
//! Prints one line of JSON (`master`, `follower`, `agent`, `agent_id`, `control`, `agents`) on stdout,
//! then serves until SIGTERM or SIGINT.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mesos_sim::{ApiStyle, Sim, SimAuth, SimConfig};

#[derive(Parser)]
#[command(
    name = "mesos-sim",
    about = "Stateful Mesos master + agent simulator (test fixture)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve a leading master, a non-leading master and an agent on 127.0.0.1.
    Serve(ServeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Style {
    #[value(name = "1.9")]
    V19,
    #[value(name = "1.11")]
    V111,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Leading master port (0: ephemeral).
    #[arg(long, default_value_t = 0)]
    master_port: u16,
    /// Agent port (0: ephemeral).
    #[arg(long, default_value_t = 0)]
    agent_port: u16,
    /// Non-leading master port (0: ephemeral).
    #[arg(long, default_value_t = 0)]
    follower_port: u16,
    /// empty | demo | stuck (alias never-ack) | stuck-operation | quick
    #[arg(long, default_value = "demo")]
    scenario: String,
    /// Response style: Mesos 1.9 or 1.11.
    #[arg(long, value_enum, default_value = "1.11")]
    style: Style,
    /// Synthetic other agents listed by the master.
    #[arg(long, default_value_t = 0)]
    filler_agents: usize,
    /// Local agents registered with the master, each on its own port with its own id,
    /// hostname and copy of the scenario's tasks (1: the one agent of --agent-port).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    agents: u16,
    /// none | basic:<principal>:<secret file> | token:<token file>
    #[arg(long, default_value = "none")]
    auth: String,
    /// Agent id of the local agent.
    #[arg(long)]
    agent_id: Option<String>,
    /// AgentInfo.hostname of the local agent.
    #[arg(long)]
    hostname: Option<String>,
    /// Simulated registry write time in milliseconds.
    #[arg(long)]
    registry_delay_ms: Option<u64>,
    /// /master/slaves ignores ?slave_id= (returns every agent).
    #[arg(long)]
    ignore_slave_id_filter: bool,
    /// The agent's machine is in a maintenance window (DRAIN_AGENT answers 400).
    #[arg(long)]
    in_maintenance_window: bool,
}

fn read_secret(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .map_err(|e| format!("cannot read {path}: {e}"))
}

fn parse_auth(spec: &str) -> Result<SimAuth, String> {
    if spec == "none" {
        return Ok(SimAuth::None);
    }
    if let Some(rest) = spec.strip_prefix("basic:") {
        let (principal, file) = rest
            .split_once(':')
            .ok_or_else(|| format!("--auth {spec}: expected basic:<principal>:<secret file>"))?;
        return Ok(SimAuth::Basic {
            principal: principal.to_owned(),
            secret: read_secret(file)?,
        });
    }
    if let Some(file) = spec.strip_prefix("token:") {
        return Ok(SimAuth::Token(read_secret(file)?));
    }
    Err(format!(
        "--auth {spec}: expected none, basic:<principal>:<secret file> or token:<token file>"
    ))
}

fn config(a: &ServeArgs) -> Result<SimConfig, String> {
    let mut cfg = SimConfig::scenario(&a.scenario).ok_or_else(|| {
        format!(
            "unknown --scenario '{}' (empty, demo, stuck, never-ack, stuck-operation, quick)",
            a.scenario
        )
    })?;
    cfg.style = match a.style {
        Style::V19 => ApiStyle::V1_9,
        Style::V111 => ApiStyle::V1_11,
    };
    cfg.auth = parse_auth(&a.auth)?;
    cfg.filler_agents = a.filler_agents;
    cfg.master_port = a.master_port;
    cfg.agent_port = a.agent_port;
    cfg.follower_port = a.follower_port;
    cfg.ignore_slave_id_filter = a.ignore_slave_id_filter;
    cfg.in_maintenance_window = a.in_maintenance_window;
    if let Some(id) = &a.agent_id {
        cfg.agent_id = id.clone();
    }
    if let Some(h) = &a.hostname {
        cfg.hostname = h.clone();
    }
    if let Some(ms) = a.registry_delay_ms {
        cfg.registry_delay = std::time::Duration::from_millis(ms);
    }
    Ok(cfg.with_extra_agents(usize::from(a.agents) - 1))
}

async fn serve(a: ServeArgs) -> Result<(), String> {
    let cfg = config(&a)?;
    // Handlers go in before the URLs are printed: a caller may signal as soon as it has read them.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| e.to_string())?;
    let sim = Sim::start(cfg).await.map_err(|e| format!("{e:#}"))?;
    let line = serde_json::json!({
        "master": sim.master_url(),
        "follower": sim.follower_url(),
        "agent": sim.agent_url(),
        "agent_id": sim.agent_id(),
        "control": format!("{}/__sim/", sim.master_url()),
        "agents": sim.agents().iter().map(|a| serde_json::json!({
            "agent": a.url, "agent_id": a.agent_id, "hostname": a.hostname,
        })).collect::<Vec<_>>(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    drop(sim);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-sim: {e}");
            return ExitCode::from(70);
        }
    };
    let Cmd::Serve(args) = cli.cmd;
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesos-sim: {e}");
            ExitCode::from(2)
        }
    }
}
