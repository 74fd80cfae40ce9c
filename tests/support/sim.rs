//! Pieces shared by the system tests that run the binary against the in-process Mesos simulator
//! inside the sandbox.

use std::time::Duration;

use mesos_sim::{AckMode, FrameworkSpec, Sim, SimConfig, TaskSpec};

use super::fake::FakeService;
use super::sandbox::{Sandbox, SandboxBuilder};

/// A multi-threaded runtime: the simulator's servers keep answering while the test thread blocks
/// on the binary or the sandbox.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A shell command POSTing to the simulator's control API (for unit directives and hooks).
pub fn curl_post(url: &str) -> String {
    format!("/usr/bin/curl -s -o /dev/null -m 5 -X POST {url}")
}

/// A framework (`dead-scheduler`) whose scheduler never acknowledges: a drain of the agent stays
/// DRAINING for good.
pub fn never_ack_config() -> SimConfig {
    SimConfig {
        frameworks: vec![
            FrameworkSpec::new("fw-dead", "dead-scheduler", AckMode::Never)
                .task(TaskSpec::new("zombie-1", Duration::from_millis(50))),
        ],
        ..SimConfig::default()
    }
}

/// A fake agent service tied to the simulator at `master_url`: starting the unit starts the
/// simulated agent, stopping it stops the agent (`/__sim/agent/start|stop`).
pub fn sim_tied_agent(unit: &str, master_url: &str) -> FakeService {
    FakeService::agent(unit)
        .service_directive(&format!(
            "ExecStartPost=-{}",
            curl_post(&format!("{master_url}/__sim/agent/start"))
        ))
        .service_directive(&format!(
            "ExecStopPost=-{}",
            curl_post(&format!("{master_url}/__sim/agent/stop"))
        ))
}

/// The agent unit of the usual node (see [`sim_node`]).
pub const AGENT: &str = "dcos-mesos-slave.service";
/// Its socket twin.
pub const AGENT_SOCKET: &str = "dcos-mesos-slave.socket";
pub const DOCKER: &str = "docker.service";

/// The usual node, built from `b`: the fake [`AGENT`] tied to the simulator ([`sim_tied_agent`])
/// with its socket, and docker, started in boot order (docker, the socket, the agent) and
/// checked to be active.
pub fn sim_node(b: SandboxBuilder, sim: &Sim) -> Sandbox {
    let sb = b
        .service(sim_tied_agent(AGENT, &sim.master_url()).with_socket())
        .service(FakeService::docker())
        .start(DOCKER)
        .start(AGENT_SOCKET)
        .start(AGENT)
        .build()
        .expect("sandbox");
    for u in [DOCKER, AGENT_SOCKET, AGENT] {
        assert!(sb.unit_state(u).is_active(), "{u}: {:?}", sb.unit_state(u));
    }
    sb
}
