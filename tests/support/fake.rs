//! Test units: a fake agent or docker daemon that records the signals it gets, its `.socket`
//! twin, and variants whose jobs fail.
//!
//! A [`FakeService`] is added to a sandbox with `SandboxBuilder::service`; the sandbox renders
//! it into unit files under its directory. The default process is a small shell daemon that
//! keeps running on SIGUSR1 (like dockerd, which only dumps its stacks) and appends one line per
//! event to its record file (`Sandbox::record_path`):
//!
//! ```text
//! START 1732249200.123456 4242
//! SIGUSR1 1732249201.000001
//! SIGTERM 1732249202.500000
//! ```

use std::time::Duration;

/// The fake daemon. `$1` = record file, `$2` = optional hook run on each SIGUSR1.
pub(crate) const FAKE_DAEMON: &str = r#"#!/bin/bash
# mesos-maint test sandbox: a daemon that survives SIGUSR1 (like dockerd) and records events.
# Times come from bash's $EPOCHREALTIME, not a `date` child: the unit's SIGTERM reaches every
# process of the cgroup and could kill a `date` started by the trap before it printed.
record="$1"
hook="$2"
child=
echo "START $EPOCHREALTIME $$" >> "$record"
trap 'echo "SIGUSR1 $EPOCHREALTIME" >> "$record"; if [ -n "$hook" ] && [ -x "$hook" ]; then "$hook" || true; fi' USR1
trap 'echo "SIGTERM $EPOCHREALTIME" >> "$record"; [ -n "$child" ] && kill "$child" 2>/dev/null; exit 0' TERM
while :; do
    sleep 3600 &
    child=$!
    wait "$child"
    kill "$child" 2>/dev/null
done
"#;

/// What the service runs.
#[derive(Debug, Clone)]
pub(crate) enum Program {
    /// [`FAKE_DAEMON`], recording events; the optional command runs on SIGUSR1.
    Recorder { on_sigusr1: Option<String> },
    /// A literal `ExecStart=` command line.
    Exec(String),
}

/// A test service unit (and optionally its `.socket` twin).
#[derive(Debug, Clone)]
pub struct FakeService {
    pub(crate) name: String,
    pub(crate) program: Program,
    pub(crate) socket: Option<SocketListen>,
    pub(crate) unit_lines: Vec<String>,
    pub(crate) service_lines: Vec<String>,
}

/// Where the `.socket` twin listens.
#[derive(Debug, Clone)]
pub(crate) enum SocketListen {
    /// A unix socket in the sandbox directory (`Sandbox::socket_path`).
    UnixInSandbox,
    /// A literal `ListenStream=` value, e.g. `127.0.0.1:15051`.
    Literal(String),
}

impl FakeService {
    /// A recording fake daemon named `name` (`.service` is appended when missing).
    pub fn new(name: &str) -> FakeService {
        let name = if name.ends_with(".service") {
            name.to_owned()
        } else {
            format!("{name}.service")
        };
        FakeService {
            name,
            program: Program::Recorder { on_sigusr1: None },
            socket: None,
            unit_lines: Vec::new(),
            service_lines: Vec::new(),
        }
    }

    /// A fake Mesos agent service (a recording daemon), e.g. `dcos-mesos-slave.service`.
    pub fn agent(name: &str) -> FakeService {
        FakeService::new(name)
    }

    /// A fake `docker.service`: survives SIGUSR1 and records it, like dockerd.
    pub fn docker() -> FakeService {
        FakeService::new("docker.service")
    }

    /// A plain `sleep infinity` service: dies of SIGUSR1 (unit ends `failed`), records nothing.
    pub fn sleeper(name: &str) -> FakeService {
        FakeService::new(name).exec_start("/bin/sleep infinity")
    }

    /// A oneshot service whose start job fails (result `failed`).
    pub fn failing_start(name: &str) -> FakeService {
        FakeService::new(name)
            .exec_start("/bin/false")
            .service_directive("Type=oneshot")
    }

    /// A service whose stop hangs, so a stop job ends with result `timeout` after
    /// `job_timeout` (systemd's `JobTimeoutSec=`). The stop itself goes on in the background
    /// for at most 30 s.
    pub fn stuck_on_stop(name: &str, job_timeout: Duration) -> FakeService {
        FakeService::new(name)
            .exec_stop("/bin/sleep 30")
            .service_directive("TimeoutStopSec=30")
            .unit_directive(&format!("JobTimeoutSec={}ms", job_timeout.as_millis()))
    }

    /// Run `command` (a shell command line, e.g. `curl -s -X POST http://127.0.0.1:5051/x`)
    /// each time the daemon gets SIGUSR1, after recording it.
    pub fn on_sigusr1(mut self, command: &str) -> FakeService {
        self.program = Program::Recorder {
            on_sigusr1: Some(command.to_owned()),
        };
        self
    }

    /// Run `command` instead of the recording daemon (a full `ExecStart=` value).
    pub fn exec_start(mut self, command: &str) -> FakeService {
        self.program = Program::Exec(command.to_owned());
        self
    }

    /// An `ExecStop=` command.
    pub fn exec_stop(self, command: &str) -> FakeService {
        self.service_directive(&format!("ExecStop={command}"))
    }

    /// Add a `.socket` twin listening on a unix socket in the sandbox directory.
    pub fn with_socket(mut self) -> FakeService {
        self.socket = Some(SocketListen::UnixInSandbox);
        self
    }

    /// Add a `.socket` twin with this `ListenStream=` value (e.g. `127.0.0.1:15051`).
    pub fn with_socket_listen(mut self, listen: &str) -> FakeService {
        self.socket = Some(SocketListen::Literal(listen.to_owned()));
        self
    }

    /// An extra line for the `[Unit]` section.
    pub fn unit_directive(mut self, line: &str) -> FakeService {
        self.unit_lines.push(line.to_owned());
        self
    }

    /// An extra line for the `[Service]` section (e.g. `Environment=X=1`).
    pub fn service_directive(mut self, line: &str) -> FakeService {
        self.service_lines.push(line.to_owned());
        self
    }

    /// The service unit name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `.socket` twin's name, when it has one.
    pub fn socket_name(&self) -> Option<String> {
        self.socket.as_ref().map(|_| self.socket_unit_name())
    }

    pub(crate) fn socket_unit_name(&self) -> String {
        format!("{}.socket", self.stem())
    }

    pub(crate) fn stem(&self) -> &str {
        self.name.strip_suffix(".service").unwrap_or(&self.name)
    }
}
