//! The binary under test, run the way the system tests run it: one node's files (a temp dir with
//! the configuration, a `hooks.d` kept away from the host's /etc, and the state dir), a command
//! line pointed at the simulator, an environment without the caller's `MESOS_MAINT_*`,
//! `RUST_LOG` or systemd notification variables, and the result of a one-shot run.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesos_maint::drain::{Marker, MarkerStore};
use mesos_sim::Sim;

use super::sandbox::Sandbox;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mesos-maint");

/// Upper bound for a one-shot run of the binary.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Environment variables a run must not inherit from the test process: logging and the
/// systemd service environment (the tests set `NOTIFY_SOCKET`/`WATCHDOG_USEC` themselves where
/// they want them). `MESOS_MAINT_*` go too (see [`scrub_env`]).
const SCRUBBED: [&str; 5] = [
    "RUST_LOG",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
];

/// Remove the caller's `MESOS_MAINT_*` (settings and the sandbox's own markers), `RUST_LOG` and
/// the systemd notification variables from `cmd`'s environment. Call it before setting any of
/// them on purpose.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for k in SCRUBBED {
        cmd.env_remove(k);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("MESOS_MAINT_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `(status, detail)` of the check named `name` in a `--json` report's `checks` (self-test,
/// health); panics naming the report when there is none.
pub fn json_check<'a>(report: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let c = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"));
    (
        c["status"].as_str().unwrap_or(""),
        c["detail"].as_str().unwrap_or(""),
    )
}

/// A number for unique file names within a test.
pub fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One node's files: `config.toml`, `hooks.d/` and the state dir, in a temp dir.
pub struct Node {
    pub dir: tempfile::TempDir,
}

impl Node {
    /// A node whose configuration is [`Self::config_text`] of `drain` and `rest`.
    pub fn new(drain: &str, rest: &str) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("hooks.d")).unwrap();
        let node = Node { dir };
        fs::write(node.config(), node.config_text(drain, rest)).unwrap();
        node
    }

    /// The configuration: `[drain]` with this node's hooks dir and the `drain` lines,
    /// `[units]` with a 30 s job timeout, then `rest` (more `[units]` lines and further
    /// sections).
    pub fn config_text(&self, drain: &str, rest: &str) -> String {
        format!(
            "[drain]\nhooks_dir = \"{}\"\n{drain}\n\n[units]\njob_timeout = \"30s\"\n{rest}\n",
            self.hooks_dir().display()
        )
    }

    pub fn hooks_dir(&self) -> PathBuf {
        self.dir.path().join("hooks.d")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn markers(&self) -> MarkerStore {
        MarkerStore::new(&self.state_dir())
    }

    pub fn marker(&self) -> Option<Marker> {
        self.markers().load().expect("readable marker")
    }

    /// The binary on the sandbox's bus (when given), with this node's config and state dir and
    /// the simulator as master and agent, its environment scrubbed ([`scrub_env`]). `args` come
    /// first (the subcommand and its flags).
    pub fn command(&self, sb: Option<&Sandbox>, sim: &Sim, args: &[&str]) -> Command {
        let mut cmd = match sb {
            Some(sb) => sb.command(BIN),
            None => Command::new(BIN),
        };
        cmd.args(args)
            .arg("--config")
            .arg(self.config())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--master", &sim.master_url(), "--agent", &sim.agent_url()])
            .stdin(Stdio::null());
        scrub_env(&mut cmd);
        cmd
    }

    /// Start `cmd`, its stdout and stderr going to `<tag>.stdout` and `<tag>.stderr` here.
    pub fn spawn(&self, cmd: &mut Command, tag: &str) -> Running {
        let out = self.dir.path().join(format!("{tag}.stdout"));
        let err = self.dir.path().join(format!("{tag}.stderr"));
        let child = cmd
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn mesos-maint");
        let what = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Running {
            child,
            what,
            out,
            err,
        }
    }

    /// Run `mesos-maint <args>` on the sandbox's bus to its end (at most [`RUN_TIMEOUT`]).
    pub fn run(&self, sb: &Sandbox, sim: &Sim, args: &[&str]) -> Ran {
        let tag = format!("run-{}", unique());
        self.spawn(&mut self.command(Some(sb), sim, args), &tag)
            .wait()
    }
}

/// A one-shot run under way (our child).
pub struct Running {
    child: Child,
    /// The command line, for the test's output.
    what: String,
    out: PathBuf,
    err: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The exit code and both outputs, for failure messages.
    pub fn context(&self) -> String {
        format!(
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Stdout as one JSON value; panics (with the context) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{}", self.context()))
    }
}

impl Running {
    /// Wait for the end (at most [`RUN_TIMEOUT`], then kill and panic).
    pub fn wait(mut self) -> Ran {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for mesos-maint") {
                break status;
            }
            if start.elapsed() > RUN_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "mesos-maint {} did not finish within {RUN_TIMEOUT:?}; stderr:\n{}",
                    self.what,
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let ran = Ran {
            code: status.code().unwrap_or(-1),
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
        };
        // Shown when the test fails (libtest captures it otherwise).
        eprintln!("=== mesos-maint {}\n{}", self.what, ran.context());
        ran
    }

    /// SIGKILL (our own child, by its handle) and reap.
    pub fn kill(mut self) -> Ran {
        self.child.kill().expect("kill mesos-maint");
        self.wait()
    }
}

/// A test that panics before it waits for or kills its `mesos-maint` must not leave it behind:
/// a drain with the default 1 h deadline outlives the test and keeps polling a master that is gone.
impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
