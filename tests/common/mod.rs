//! Shared helpers for the black-box tests: run the built binary against the in-repo simulator.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use mesos_sim::{AckMode, FrameworkSpec, LoggedRequest, Sim, SimConfig, TaskSpec};

pub const BIN: &str = env!("CARGO_BIN_EXE_mesos-maint");

/// A scratch state dir plus the command line common to every run.
pub struct Run {
    pub state: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

impl Run {
    pub fn new() -> Run {
        Run {
            state: tempfile::tempdir().unwrap(),
            extra_env: Vec::new(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args)
            .arg("--state-dir")
            .arg(self.state.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("MESOS_MAINT_") {
                cmd.env_remove(k);
            }
        }
        // Never talk to a real system bus from these tests.
        cmd.env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/mesos-maint-test-bus",
        );
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// [`Run::command`] with `args` followed by `--master <master> --agent <agent>`.
    pub fn command_at(&self, master: &str, agent: &str, args: &[&str]) -> tokio::process::Command {
        let mut full = args.to_vec();
        full.extend(["--master", master, "--agent", agent]);
        self.command(&full)
    }

    /// [`Run::command_at`] the simulator's leading master and its agent.
    pub fn command_against(&self, sim: &Sim, args: &[&str]) -> tokio::process::Command {
        self.command_at(&sim.master_url(), &sim.agent_url(), args)
    }

    /// Runs to completion (bounded), returning (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        finish(self.command(args)).await
    }

    /// [`Run::run`] with `args` followed by `--master <master> --agent <agent>`.
    pub async fn run_at(&self, master: &str, agent: &str, args: &[&str]) -> (i32, String, String) {
        finish(self.command_at(master, agent, args)).await
    }

    /// [`Run::run_at`] the simulator's leading master and its agent.
    pub async fn run_against(&self, sim: &Sim, args: &[&str]) -> (i32, String, String) {
        finish(self.command_against(sim, args)).await
    }

    /// Writes `text` as a config file in the state dir; returns its path for `--config`.
    pub fn config_file(&self, text: &str) -> String {
        let path = self.state.path().join("test.toml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    pub fn marker_path(&self) -> PathBuf {
        self.state.path().join("drain.json")
    }
}

/// Runs `cmd` to completion (bounded), returning (exit code, stdout, stderr).
async fn finish(mut cmd: tokio::process::Command) -> (i32, String, String) {
    let out: Output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("mesos-maint did not finish within 60s")
        .expect("spawn mesos-maint");
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first recorded call of `call_type` (e.g. "DRAIN_AGENT"); panics if there is none.
pub fn first_call(sim: &Sim, call_type: &str) -> LoggedRequest {
    sim.requests()
        .into_iter()
        .find(|r| r.call_type().as_deref() == Some(call_type))
        .unwrap_or_else(|| panic!("no {call_type} request recorded"))
}

pub fn task(id: &str, grace_ms: u64) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        name: id.into(),
        kill_grace: Duration::from_millis(grace_ms),
        ..Default::default()
    }
}

pub fn framework(id: &str, name: &str, acks: AckMode, tasks: Vec<TaskSpec>) -> FrameworkSpec {
    FrameworkSpec {
        id: id.into(),
        name: name.into(),
        acks,
        tasks,
    }
}

/// Two frameworks whose tasks die within a few hundred ms and whose schedulers acknowledge.
pub fn busy_config() -> SimConfig {
    SimConfig {
        frameworks: vec![
            framework(
                "fw-marathon",
                "marathon",
                AckMode::After(Duration::from_millis(50)),
                vec![task("web-1", 200), task("web-2", 300)],
            ),
            framework(
                "fw-cassandra",
                "cassandra",
                AckMode::After(Duration::from_millis(50)),
                vec![task("node-1", 250)],
            ),
        ],
        ..Default::default()
    }
}

pub fn stuck_config() -> SimConfig {
    SimConfig {
        frameworks: vec![framework(
            "fw-dead",
            "dead-scheduler",
            AckMode::Never,
            vec![task("zombie-1", 50)],
        )],
        ..Default::default()
    }
}

pub fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"))
}
