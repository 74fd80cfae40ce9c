//! A real systemd manager (and optionally a real systemd-logind) on a private D-Bus, for system
//! tests. Facts and recipe: `real-systemd-in-tests.md` beside the design document.
//!
//! ```ignore
//! mod support;
//! use support::{fake::FakeService, sandbox::{run_isolated, Sandbox}};
//!
//! #[test]
//! fn stops_the_agent() {
//!     run_isolated("stops_the_agent", || {
//!         let sb = Sandbox::builder("stops_the_agent")
//!             .service(FakeService::agent("dcos-mesos-slave.service").with_socket())
//!             .service(FakeService::docker())
//!             .start("dcos-mesos-slave.socket")
//!             .start("dcos-mesos-slave.service")
//!             .build()
//!             .expect("sandbox");
//!         // The code under test: Systemd::connect_to(&sb.bus_address()), or the binary with
//!         // sb.command(env!("CARGO_BIN_EXE_mesos-maint")) (DBUS_SYSTEM_BUS_ADDRESS set) ...
//!         assert!(sb.unit_state("dcos-mesos-slave.service").is_stopped());
//!         assert_eq!(sb.sigusr1_count("docker.service"), 1);
//!     });
//! }
//! ```
//!
//! How it works: [`run_isolated`] (`isolate.rs`, re-exported here) re-executes the current test
//! binary for just this test under `unshare -m` (a private mount namespace), with
//! `MESOS_MAINT_SANDBOXED=1`; inside, it takes a machine-wide lock (sandboxes share the host's
//! cgroup tree, so same-named units would interfere) and runs the body. This file is the
//! sandbox itself: [`Sandbox::build`] refuses to run outside a private mount
//! namespace, mounts a tmpfs on `/run/systemd`, and starts `systemd --user` with the test's
//! units; dropping the [`Sandbox`] stops everything it started, by PID.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use super::fake::{FakeService, Program, SocketListen, FAKE_DAEMON};
// Each test binary uses part of these (as of the whole harness: see mod.rs).
use super::isolate::{in_private_mount_namespace, DONE_ENV, OUTER_MNTNS_ENV, SANDBOX_ENV};
#[allow(unused_imports)]
pub use super::isolate::{run_isolated, run_isolated_requiring, skip_reason};
use super::proc::{descendants, wait_until, ProcId};

/// Keep the sandbox directory after the test (its path is printed), for debugging.
pub const KEEP_ENV: &str = "MESOS_MAINT_SANDBOX_KEEP";
/// Time limit for the manager's bus and name (and logind's name) to appear.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

pub const SYSTEMD: &str = "/lib/systemd/systemd";
const LOGIND: &str = "/lib/systemd/systemd-logind";

// ---------------------------------------------------------------------------------------------
// The sandbox
// ---------------------------------------------------------------------------------------------

/// A unit's state as `systemctl --user show` reports it (independent of the code under test).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitStatus {
    pub id: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// 0 when there is no main process.
    pub main_pid: u32,
    /// Service result (`success`, `exit-code`, `signal`, ...); empty for other unit types.
    pub result: String,
}

impl UnitStatus {
    pub fn is_active(&self) -> bool {
        self.active_state == "active"
    }
    pub fn is_stopped(&self) -> bool {
        matches!(self.active_state.as_str(), "inactive" | "failed")
    }
}

/// Configuration of a [`Sandbox`]; see [`Sandbox::builder`].
pub struct SandboxBuilder {
    name: String,
    dir: tempfile::TempDir,
    units: Vec<(String, String)>,
    start: Vec<String>,
    logind: bool,
    inhibit_delay_max: Option<Duration>,
    logind_conf: Vec<(String, String)>,
    manager_env: Vec<(String, String)>,
}

impl SandboxBuilder {
    /// The sandbox directory (exists already), to put paths into unit texts.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The bus address the sandbox will have.
    pub fn bus_address(&self) -> String {
        format!("unix:path={}", self.dir().join("rt/bus").display())
    }

    /// Add a unit file `name` with `text`.
    pub fn unit(mut self, name: &str, text: &str) -> Self {
        self.units.push((name.to_owned(), text.to_owned()));
        self
    }

    /// Add a fake service (and its `.socket` twin if it has one).
    pub fn service(mut self, service: FakeService) -> Self {
        let paths = Paths::new(self.dir());
        let (exec, hook) = match &service.program {
            Program::Recorder { on_sigusr1 } => {
                let hook = on_sigusr1.as_ref().map(|cmd| {
                    let hook = paths.bin.join(format!("{}.on-sigusr1", service.name));
                    (hook, format!("#!/bin/sh\n{cmd}\n"))
                });
                let exec = format!(
                    "/bin/bash {} {} {}",
                    paths.bin.join("fake-daemon").display(),
                    paths.records.join(&service.name).display(),
                    hook.as_ref()
                        .map(|(p, _)| p.display().to_string())
                        .unwrap_or_default()
                );
                (exec, hook)
            }
            Program::Exec(cmd) => (cmd.clone(), None),
        };
        if let Some((path, text)) = hook {
            write_file(&path, &text, 0o755).expect("write the SIGUSR1 hook");
        }
        let mut text = String::from("[Unit]\n");
        text += &format!("Description=mesos-maint sandbox: fake {}\n", service.name);
        for line in &service.unit_lines {
            text += &format!("{line}\n");
        }
        text += "\n[Service]\n";
        text += &format!("ExecStart={exec}\n");
        text += &format!(
            "StandardOutput=append:{}\nStandardError=inherit\n",
            paths.logs.join(format!("{}.log", service.name)).display()
        );
        text += &format!(
            "Environment=DBUS_SYSTEM_BUS_ADDRESS={}\n",
            self.bus_address()
        );
        for line in &service.service_lines {
            text += &format!("{line}\n");
        }
        if let Some(listen) = &service.socket {
            let listen = match listen {
                SocketListen::UnixInSandbox => paths
                    .sockets
                    .join(format!("{}.sock", service.stem()))
                    .display()
                    .to_string(),
                SocketListen::Literal(l) => l.clone(),
            };
            let socket = format!(
                "[Unit]\nDescription=mesos-maint sandbox: socket of {}\n\n[Socket]\nListenStream={listen}\n",
                service.name
            );
            self = self.unit(&service.socket_unit_name(), &socket);
        }
        self.unit(&service.name, &text)
    }

    /// Start `unit` (with `systemctl --user start`, waiting for the job) once the manager is up.
    /// Units start in the order given: a `.socket` before its service.
    pub fn start(mut self, unit: &str) -> Self {
        self.start.push(unit.to_owned());
        self
    }

    /// Also run a real systemd-logind on the bus (with dummy `reboot.target`, `poweroff.target`
    /// and `halt.target` units, so logind's Reboot/PowerOff only start a dummy).
    pub fn with_logind(mut self, on: bool) -> Self {
        self.logind = on;
        self
    }

    /// logind's `InhibitDelayMaxSec` (implies [`Self::with_logind`]).
    pub fn inhibit_delay_max(mut self, delay: Duration) -> Self {
        self.inhibit_delay_max = Some(delay);
        self.logind = true;
        self
    }

    /// An extra logind.conf.d drop-in `name` with `text` (implies [`Self::with_logind`]), e.g.
    /// the one the package ships. Read before the sandbox's own, so the sandbox's settings win.
    pub fn logind_conf(mut self, name: &str, text: &str) -> Self {
        self.logind_conf.push((name.to_owned(), text.to_owned()));
        self.logind = true;
        self
    }

    /// An extra environment variable for the manager (inherited by all units).
    pub fn manager_env(mut self, key: &str, value: &str) -> Self {
        self.manager_env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Mount, write, start. Must run inside [`run_isolated`].
    pub fn build(self) -> Result<Sandbox> {
        if std::env::var_os(SANDBOX_ENV).is_none() || !in_private_mount_namespace() {
            bail!(
                "refusing to mount over /run/systemd outside a private mount namespace: \
                 wrap the test body in support::sandbox::run_isolated"
            );
        }
        let SandboxBuilder {
            name,
            dir,
            units,
            start,
            logind,
            inhibit_delay_max,
            logind_conf,
            manager_env,
        } = self;
        let paths = Paths::new(dir.path());
        let mut sandbox = Sandbox {
            name,
            dir: Some(dir),
            paths,
            manager: None,
            logind: None,
            mounts: Vec::new(),
            units: units.iter().map(|(n, _)| n.clone()).collect(),
        };

        // Mounts first, so Drop undoes whatever succeeded.
        mount_tmpfs(Path::new("/run/systemd"))?;
        sandbox.mounts.push(PathBuf::from("/run/systemd"));
        fs::create_dir_all("/run/systemd/system").context("mkdir /run/systemd/system")?;

        let p = sandbox.paths.clone();
        write_file(&p.bin.join("fake-daemon"), FAKE_DAEMON, 0o755)?;
        for (unit, text) in &units {
            write_file(&p.units.join(unit), text, 0o644)?;
        }
        if logind {
            for target in ["reboot.target", "poweroff.target", "halt.target"] {
                if !units.iter().any(|(n, _)| n == target) {
                    let text = format!(
                        "[Unit]\nDescription=mesos-maint sandbox: dummy {target} (reboots nothing)\n"
                    );
                    write_file(&p.units.join(target), &text, 0o644)?;
                    sandbox.units.push(target.to_owned());
                }
            }
        }

        sandbox.manager = Some(sandbox.spawn_manager(&manager_env)?);
        sandbox.wait_for_manager()?;

        if logind {
            sandbox.setup_logind_conf(inhibit_delay_max, &logind_conf)?;
            sandbox.logind = Some(sandbox.spawn_logind()?);
            sandbox.wait_for_name(
                "org.freedesktop.login1",
                || {
                    sandbox
                        .logind_pid()
                        .is_some_and(|pid| ProcId::of(pid as i32).is_some_and(|p| p.is_alive()))
                },
                "systemd-logind",
                &p.logind_log,
            )?;
        }

        for unit in &start {
            let out = sandbox.systemctl(&["start", unit]);
            if !out.status.success() {
                bail!(
                    "systemctl --user start {unit} failed: {}\n{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    sandbox.status_text(unit)
                );
            }
        }
        tracing::info!(
            "sandbox {} up: bus {}, dir {}",
            sandbox.name,
            sandbox.bus_address(),
            sandbox.dir().display()
        );
        Ok(sandbox)
    }
}

/// Paths inside the sandbox directory.
#[derive(Debug, Clone)]
struct Paths {
    root: PathBuf,
    rt: PathBuf,
    units: PathBuf,
    bin: PathBuf,
    records: PathBuf,
    logs: PathBuf,
    sockets: PathBuf,
    manager_log: PathBuf,
    logind_log: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_owned(),
            rt: root.join("rt"),
            units: root.join("units"),
            bin: root.join("bin"),
            records: root.join("records"),
            logs: root.join("logs"),
            sockets: root.join("s"),
            manager_log: root.join("logs/systemd.log"),
            logind_log: root.join("logs/systemd-logind.log"),
        }
    }

    fn create(&self) -> std::io::Result<()> {
        for d in [
            &self.units,
            &self.bin,
            &self.records,
            &self.logs,
            &self.sockets,
        ] {
            fs::create_dir_all(d)?;
        }
        fs::create_dir_all(&self.rt)?;
        fs::set_permissions(&self.rt, fs::Permissions::from_mode(0o700))
    }
}

/// A running systemd manager (and optionally logind) on a private bus. Dropping it stops them
/// (by PID), kills what their units left behind, unmounts and removes the directory.
pub struct Sandbox {
    name: String,
    dir: Option<tempfile::TempDir>,
    paths: Paths,
    manager: Option<Child>,
    logind: Option<Child>,
    mounts: Vec<PathBuf>,
    units: Vec<String>,
}

impl Sandbox {
    /// Start configuring a sandbox for test `name`. Creates its directory at once (under
    /// `/tmp`), so unit texts can refer to paths in it.
    pub fn builder(name: &str) -> SandboxBuilder {
        // Keep the directory short: unix socket paths are limited to 108 bytes.
        let short: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(24)
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("mm-{short}-"))
            .tempdir_in("/tmp")
            .expect("create the sandbox directory");
        Paths::new(dir.path())
            .create()
            .expect("create the sandbox layout");
        SandboxBuilder {
            name: name.to_owned(),
            dir,
            units: Vec::new(),
            start: Vec::new(),
            logind: false,
            inhibit_delay_max: None,
            logind_conf: Vec::new(),
            manager_env: Vec::new(),
        }
    }

    /// `unix:path=<dir>/rt/bus`, the bus of the manager (and logind).
    pub fn bus_address(&self) -> String {
        format!("unix:path={}", self.paths.rt.join("bus").display())
    }

    /// The sandbox directory.
    pub fn dir(&self) -> &Path {
        &self.paths.root
    }

    /// The manager's `XDG_RUNTIME_DIR`.
    pub fn runtime_dir(&self) -> &Path {
        &self.paths.rt
    }

    /// Environment for a process that should see the sandbox as its system: the system bus
    /// address (for zbus, busctl, systemd-inhibit) and the runtime dir (for `systemctl --user`).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DBUS_SYSTEM_BUS_ADDRESS".into(), self.bus_address()),
            (
                "XDG_RUNTIME_DIR".into(),
                self.paths.rt.display().to_string(),
            ),
        ]
    }

    /// A command with [`Self::env`] applied (e.g. the binary under test).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env()).env_remove("DBUS_SESSION_BUS_ADDRESS");
        cmd
    }

    /// PID of the systemd manager.
    pub fn manager_pid(&self) -> Option<u32> {
        self.manager.as_ref().map(Child::id)
    }

    /// PID of systemd-logind, when running.
    pub fn logind_pid(&self) -> Option<u32> {
        self.logind.as_ref().map(Child::id)
    }

    /// Run `systemctl --user <args>` against the sandbox manager.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        self.command("systemctl")
            .arg("--user")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run systemctl")
    }

    /// Run `busctl --address=<bus> <args>`.
    pub fn busctl(&self, args: &[&str]) -> Output {
        busctl(&self.bus_address(), args)
    }

    /// The state of `unit` now.
    pub fn unit_state(&self, unit: &str) -> UnitStatus {
        let out = self.systemctl(&[
            "show",
            "--property=Id,LoadState,ActiveState,SubState,MainPID,Result",
            "--",
            unit,
        ]);
        assert!(
            out.status.success(),
            "systemctl --user show {unit}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = UnitStatus::default();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.to_owned();
            match k {
                "Id" => s.id = v,
                "LoadState" => s.load_state = v,
                "ActiveState" => s.active_state = v,
                "SubState" => s.sub_state = v,
                "MainPID" => s.main_pid = v.parse().unwrap_or(0),
                "Result" => s.result = v,
                _ => {}
            }
        }
        s
    }

    /// Wait up to `timeout` until `unit`'s state satisfies `pred`; the last state seen, and
    /// whether it did.
    pub fn wait_for_state(
        &self,
        unit: &str,
        timeout: Duration,
        pred: impl Fn(&UnitStatus) -> bool,
    ) -> (UnitStatus, bool) {
        let mut last = UnitStatus::default();
        let ok = wait_until(timeout, || {
            last = self.unit_state(unit);
            pred(&last)
        });
        (last, ok)
    }

    /// Start `unit` with systemctl (test setup), panicking on failure.
    pub fn start_unit(&self, unit: &str) {
        let out = self.systemctl(&["start", unit]);
        assert!(
            out.status.success(),
            "systemctl --user start {unit}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.status_text(unit)
        );
    }

    /// Stop `unit` with systemctl (test setup), panicking on failure.
    pub fn stop_unit(&self, unit: &str) {
        let out = self.systemctl(&["stop", unit]);
        assert!(
            out.status.success(),
            "systemctl --user stop {unit}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `systemctl --user status <unit>` text, for failure messages.
    pub fn status_text(&self, unit: &str) -> String {
        let out = self.systemctl(&["status", "--no-pager", "--full", "--", unit]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The record file of a fake service (see `support::fake`).
    pub fn record_path(&self, service: &str) -> PathBuf {
        self.paths.records.join(service)
    }

    /// The events a fake service recorded so far, e.g. `["START", "SIGUSR1", "SIGTERM"]`.
    pub fn recorded(&self, service: &str) -> Vec<String> {
        fs::read_to_string(self.record_path(service))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// The time (`$EPOCHREALTIME`: seconds since the epoch) of the `nth` (0-based) `event` a
    /// fake service recorded.
    pub fn record_time(&self, service: &str, event: &str, nth: usize) -> Option<f64> {
        fs::read_to_string(self.record_path(service))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                match (w.next(), w.next()) {
                    (Some(e), Some(t)) if e == event => t.parse().ok(),
                    _ => None,
                }
            })
            .nth(nth)
    }

    /// How many SIGUSR1 a fake service recorded.
    pub fn sigusr1_count(&self, service: &str) -> usize {
        self.recorded(service)
            .iter()
            .filter(|e| *e == "SIGUSR1")
            .count()
    }

    /// Wait up to `timeout` until a fake service recorded `event` (`START`, `SIGUSR1`,
    /// `SIGTERM`) at least `count` times.
    pub fn wait_for_record(
        &self,
        service: &str,
        event: &str,
        count: usize,
        timeout: Duration,
    ) -> bool {
        wait_until(timeout, || {
            self.recorded(service)
                .iter()
                .filter(|e| *e == event)
                .count()
                >= count
        })
    }

    /// The unix socket a `.with_socket()` fake service's socket unit listens on.
    pub fn socket_path(&self, service: &str) -> PathBuf {
        let stem = service.strip_suffix(".service").unwrap_or(service);
        self.paths.sockets.join(format!("{stem}.sock"))
    }

    /// The file a fake service's stdout and stderr go to.
    pub fn service_log(&self, service: &str) -> PathBuf {
        self.paths.logs.join(format!("{service}.log"))
    }

    /// The manager's own log (it has no journal).
    pub fn manager_log(&self) -> PathBuf {
        self.paths.manager_log.clone()
    }

    /// logind's log.
    pub fn logind_log(&self) -> PathBuf {
        self.paths.logind_log.clone()
    }

    // -- startup --------------------------------------------------------------------------

    fn spawn_manager(&self, extra_env: &[(String, String)]) -> Result<Child> {
        let log = File::create(&self.paths.manager_log)?;
        let mut cmd = Command::new(SYSTEMD);
        cmd.arg("--user")
            // The trailing ':' keeps the default path: the manager needs its stock dbus.socket,
            // dbus.service and default.target.
            .env(
                "SYSTEMD_UNIT_PATH",
                format!("{}:", self.paths.units.display()),
            )
            .env("XDG_RUNTIME_DIR", &self.paths.rt)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .env_remove("NOTIFY_SOCKET")
            .env_remove(SANDBOX_ENV)
            .env_remove(DONE_ENV)
            .env_remove(OUTER_MNTNS_ENV)
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        die_with_parent(&mut cmd);
        cmd.spawn()
            .with_context(|| format!("spawn {SYSTEMD} --user"))
    }

    fn wait_for_manager(&mut self) -> Result<()> {
        let bus = self.paths.rt.join("bus");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self
                .manager
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "systemd --user exited during startup ({status}):\n{}",
                    tail(&self.paths.manager_log, 40)
                );
            }
            if fs::metadata(&bus).is_ok_and(|m| m.file_type().is_socket()) {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "no bus at {} after {STARTUP_TIMEOUT:?}:\n{}",
                    bus.display(),
                    tail(&self.paths.manager_log, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = self.manager_pid().unwrap_or(0) as i32;
        let log = self.paths.manager_log.clone();
        self.wait_for_name(
            "org.freedesktop.systemd1",
            || ProcId::of(pid).is_some_and(|p| p.is_alive()),
            "systemd --user",
            &log,
        )
    }

    fn wait_for_name(
        &self,
        name: &str,
        alive: impl Fn() -> bool,
        what: &str,
        log: &Path,
    ) -> Result<()> {
        let address = self.bus_address();
        let owned = wait_until(STARTUP_TIMEOUT, || {
            if !alive() {
                return true; // reported below
            }
            let out = busctl(
                &address,
                &[
                    "call",
                    "org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "NameHasOwner",
                    "s",
                    name,
                ],
            );
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "b true"
        });
        if !alive() {
            bail!("{what} exited during startup:\n{}", tail(log, 40));
        }
        if !owned {
            bail!(
                "{name} not on the bus after {STARTUP_TIMEOUT:?}:\n{}",
                tail(log, 40)
            );
        }
        Ok(())
    }

    fn setup_logind_conf(
        &mut self,
        inhibit_delay_max: Option<Duration>,
        extra: &[(String, String)],
    ) -> Result<()> {
        // Host drop-ins in /etc would override ours: hide them. /run/systemd is ours already.
        let etc = Path::new("/etc/systemd/logind.conf.d");
        let dir = if etc.is_dir() {
            mount_tmpfs(etc)?;
            self.mounts.push(etc.to_owned());
            etc.to_owned()
        } else {
            let run = PathBuf::from("/run/systemd/logind.conf.d");
            fs::create_dir_all(&run)?;
            run
        };
        // This logind must never act on the real machine's buttons, lid or idle state.
        let mut conf = String::from(
            "[Login]\nHandlePowerKey=ignore\nHandleSuspendKey=ignore\nHandleHibernateKey=ignore\n\
             HandleLidSwitch=ignore\nHandleLidSwitchExternalPower=ignore\n\
             HandleLidSwitchDocked=ignore\nHandleRebootKey=ignore\nIdleAction=ignore\n\
             KillUserProcesses=no\n",
        );
        if let Some(delay) = inhibit_delay_max {
            conf += &format!("InhibitDelayMaxSec={}ms\n", delay.as_millis());
        }
        for (name, text) in extra {
            write_file(&dir.join(name), text, 0o644)?;
        }
        write_file(&dir.join("zz-mesos-maint-sandbox.conf"), &conf, 0o644)
    }

    fn spawn_logind(&self) -> Result<Child> {
        let log = File::create(&self.paths.logind_log)?;
        let mut cmd = Command::new(LOGIND);
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", self.bus_address())
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("NOTIFY_SOCKET")
            .env("SYSTEMD_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        die_with_parent(&mut cmd);
        cmd.spawn().with_context(|| format!("spawn {LOGIND}"))
    }

    // -- teardown -------------------------------------------------------------------------

    fn teardown(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- sandbox {} ({}): manager log tail ---\n{}",
                self.name,
                self.dir().display(),
                tail(&self.paths.manager_log, 30)
            );
            if self.logind.is_some() {
                eprintln!(
                    "--- logind log tail ---\n{}",
                    tail(&self.paths.logind_log, 30)
                );
            }
        }
        let cgroups = self
            .manager_pid()
            .map(|pid| unit_cgroup_dirs(pid as i32, &self.units))
            .unwrap_or_default();
        let mut leftovers = Vec::new();
        if let Some(logind) = self.logind.take() {
            leftovers.extend(descendants(logind.id() as i32));
            stop_child(logind, "systemd-logind", Duration::from_secs(3));
        }
        if let Some(manager) = self.manager.take() {
            leftovers.extend(descendants(manager.id() as i32));
            // SIGTERM makes a user manager start exit.target: units are stopped, then it exits.
            // A unit that is slow to stop (a test of stop timeouts) would hold that up: give it
            // a moment only, then kill the lot.
            stop_child(manager, "systemd --user", Duration::from_millis(1500));
        }
        // Whatever the units left behind (a stop that was still running, a daemon that
        // double-forked), by PID.
        for p in leftovers.iter().filter(|p| p.is_alive()) {
            p.signal(Signal::SIGKILL);
        }
        for dir in &cgroups {
            for pid in cgroup_pids(dir) {
                if let Some(p) = ProcId::of(pid) {
                    p.signal(Signal::SIGKILL);
                }
            }
            let _ = fs::remove_dir(dir);
        }
        for mount in self.mounts.drain(..).rev() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&mount)
                .stderr(Stdio::null())
                .status();
        }
        if let Some(dir) = self.dir.take() {
            if std::env::var_os(KEEP_ENV).is_some() {
                eprintln!("sandbox {} kept at {}", self.name, dir.keep().display());
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL; always reap.
fn stop_child(mut child: Child, what: &str, grace: Duration) {
    let Some(proc_id) = ProcId::of(child.id() as i32) else {
        let _ = child.wait();
        return;
    };
    proc_id.signal(Signal::SIGTERM);
    let exited = wait_until(grace, || matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
    if !exited {
        tracing::debug!(
            "{what} (pid {}) still running after {grace:?}; killing it",
            child.id()
        );
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Have the child get SIGTERM when the thread that spawned it dies (so a killed test process
/// does not leave a manager behind). Build the sandbox on the test's own thread.
#[allow(unsafe_code)] // pre_exec is unsafe by signature; prctl has no safe wrapper in std
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn busctl(address: &str, args: &[&str]) -> Output {
    Command::new("busctl")
        .arg(format!("--address={address}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run busctl")
}

fn mount_tmpfs(target: &Path) -> Result<()> {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs"])
        .arg(target)
        .output()
        .context("run mount")?;
    if !out.status.success() {
        bail!(
            "mount tmpfs on {}: {}",
            target.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut f = File::create(path).with_context(|| format!("create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The cgroup directories the manager gives `units` (`<its root>/app.slice/<unit>`), in every
/// mounted hierarchy that tracks processes (cgroup2, or v1 `name=systemd`).
fn unit_cgroup_dirs(manager_pid: i32, units: &[String]) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(format!("/proc/{manager_pid}/cgroup")) else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let mount = match controllers {
            "" => ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
                .into_iter()
                .find(|m| Path::new(m).join("cgroup.controllers").exists()),
            "name=systemd" => Some("/sys/fs/cgroup/systemd"),
            _ => None,
        };
        let Some(mount) = mount else { continue };
        // The manager sits in <root>/init.scope; its units in <root>/app.slice/<unit>.
        let root = Path::new(path.trim_start_matches('/'));
        let root = if root.ends_with("init.scope") {
            root.parent().unwrap_or(Path::new(""))
        } else {
            root
        };
        for unit in units {
            let dir = Path::new(mount).join(root).join("app.slice").join(unit);
            if dir.is_dir() {
                dirs.push(dir);
            }
        }
    }
    dirs
}

fn cgroup_pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
