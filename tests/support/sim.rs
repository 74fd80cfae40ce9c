//! Pieces shared by the system tests that run the binary against the in-process Mesos simulator
//! inside the sandbox.

use super::fake::FakeService;

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
