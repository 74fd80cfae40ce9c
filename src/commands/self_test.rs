//! `self-test`: is this node's installation usable? Configuration, credentials, hooks, the state
//! dir, the installed units, the system bus (systemd and logind), and the agent and master APIs.
//!
//! `--image-build` is for a machine-image build (Packer): no agent runs, no master is reachable
//! and there may be no system bus, so those checks are skipped or only warn; what must already
//! be right in the image (configuration, unit files, no drain marker baked in) still fails.
//!
//! Exit: 0 when every required check passes (warnings allowed), 2 when one fails for a
//! configuration or installation reason, 3 when something required cannot be reached.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::config::{sources::DEFAULT_DIRS, ConfigError, Loader, Overrides};
use crate::context::Ctx;
use crate::drain::hooks::{HookStage, Hooks};
use crate::exit::Exit;
use crate::mesos::{leader, AgentLookup, MasterClient};
use crate::systemd::{normalize_unit_name, socket_twin, Logind, Systemd};

/// The units this package installs.
pub const OWN_UNIT: &str = "mesos-maint.service";
/// Where systemd looks for unit files, most specific first (Debian without merged /usr still
/// has /lib/systemd/system).
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// A shutdown delay shorter than this cannot fit a drain: logind's default (5 s) means the
/// package's logind.conf.d drop-in is not in effect yet.
pub const MIN_USEFUL_INHIBIT_DELAY: Duration = Duration::from_secs(60);
/// How long to wait for the system bus before calling it unreachable.
const BUS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// Why a failed check fails, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// Configuration or installation: exit 2.
    Config,
    /// Something required cannot be reached: exit 3.
    Unreachable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            cause: None,
        }
    }
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail)
    }
    fn warn(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Warn, detail)
    }
    fn skip(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Skip, detail)
    }
    fn fail(name: &'static str, cause: Cause, detail: impl Into<String>) -> Check {
        Check {
            cause: Some(cause),
            ..Check::new(name, Status::Fail, detail)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SelfTestReport {
    pub ok: bool,
    pub image_build: bool,
    pub version: &'static str,
    pub exit_code: u8,
    pub checks: Vec<Check>,
}

impl SelfTestReport {
    pub fn new(image_build: bool, checks: Vec<Check>) -> SelfTestReport {
        let exit = exit_for(&checks);
        SelfTestReport {
            ok: exit == Exit::Ok,
            image_build,
            version: env!("CARGO_PKG_VERSION"),
            exit_code: exit as u8,
            checks,
        }
    }

    pub fn exit(&self) -> Exit {
        exit_for(&self.checks)
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "mesos-maint {} self-test{}\n",
            self.version,
            if self.image_build {
                " (image build)"
            } else {
                ""
            }
        );
        for c in &self.checks {
            let tag = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            let mut lines = c.detail.lines();
            out.push_str(&format!(
                "  {tag}  {:<14} {}\n",
                c.name,
                lines.next().unwrap_or("")
            ));
            for more in lines {
                out.push_str(&format!("  {:<4}  {:<14} {more}\n", "", ""));
            }
        }
        out.push_str(&match self.exit() {
            Exit::Ok => "result: OK\n".to_string(),
            Exit::Usage => "result: FAILED (configuration or installation; exit 2)\n".to_string(),
            other => format!(
                "result: FAILED (something required is unreachable; exit {})\n",
                other as u8
            ),
        });
        out
    }
}

/// 2 if any failure is a configuration/installation one, else 3 if any is unreachable, else 0.
pub fn exit_for(checks: &[Check]) -> Exit {
    let failed = |cause| {
        checks
            .iter()
            .any(|c| c.status == Status::Fail && c.cause == Some(cause))
    };
    if failed(Cause::Config) {
        Exit::Usage
    } else if failed(Cause::Unreachable) {
        Exit::Undetermined
    } else {
        Exit::Ok
    }
}

pub async fn run(ctx: &Ctx, overrides: &Overrides, image_build: bool) -> anyhow::Result<Exit> {
    let mut checks = vec![binary_check(), config_check(ctx, overrides)];
    checks.push(credentials_check(ctx, image_build));
    checks.push(hooks_check(ctx));
    checks.push(state_dir_check(ctx, image_build));

    let bus = connect_bus().await;
    checks.push(own_units_check(bus.as_ref().ok().map(|(sd, _)| sd)).await);
    checks.extend(bus_checks(&bus, image_build).await);
    checks.push(agent_units_check(ctx, bus.as_ref().ok().map(|(sd, _)| sd), image_build).await);

    if image_build {
        checks.push(Check::skip("agent-api", "not checked in an image build"));
        checks.push(Check::skip("master-api", "not checked in an image build"));
    } else {
        checks.extend(api_checks(ctx).await);
    }
    let report = SelfTestReport::new(image_build, checks);
    emit(ctx.output, &report);
    Ok(report.exit())
}

/// The configuration could not be loaded at all (main found it first): still one report, so a
/// script reading `--json` gets the same shape.
pub fn report_config_error(err: &ConfigError, output: OutputFormat, image_build: bool) {
    let report = SelfTestReport::new(
        image_build,
        vec![
            binary_check(),
            Check::fail("config", Cause::Config, err.to_string()),
        ],
    );
    emit(output, &report);
}

fn emit(output: OutputFormat, report: &SelfTestReport) {
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(report).expect("serialisable report")
        ),
        OutputFormat::Text => print!("{}", report.to_text()),
    }
}

fn binary_check() -> Check {
    // current_exe needs /proc; argv[0] stands in where there is none (a bare chroot).
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .ok()
        .or_else(|| std::env::args().next())
        .unwrap_or_else(|| "?".into());
    let mut detail = format!(
        "{exe} ({}-{})",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    if let Some(glibc) = glibc_version() {
        detail.push_str(&format!(", running on glibc {glibc}"));
    }
    Check::pass("binary", detail)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the only unsafe in src/: glibc names its version through FFI alone
fn glibc_version() -> Option<String> {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    Some(v.to_string_lossy().into_owned())
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_version() -> Option<String> {
    None
}

/// main already loaded the configuration (a failure there is exit 2 before we get here); load it
/// once more the same way for the list of warnings, which main only logged.
fn config_check(ctx: &Ctx, overrides: &Overrides) -> Check {
    let warnings = match Loader::system().load(overrides) {
        Ok((_, w)) => w,
        Err(e) => return Check::fail("config", Cause::Config, e.to_string()),
    };
    let sources = &ctx.settings.sources;
    let mut detail = if sources.is_empty() {
        format!(
            "built-in defaults (no fragment in {})",
            DEFAULT_DIRS.join(", ")
        )
    } else {
        let list: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
        format!(
            "{} fragment{}: {}",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            list.join(", ")
        )
    };
    detail.push_str(&format!(
        "\nmaster {}, agent {}",
        ctx.settings
            .master
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "discovered".into()),
        ctx.settings.agent
    ));
    if warnings.is_empty() {
        Check::pass("config", detail)
    } else {
        for w in &warnings {
            detail.push('\n');
            detail.push_str(w);
        }
        Check::warn("config", detail)
    }
}

/// Secret, token and CA files are read the way a real request would read them. In an image
/// build they are often provisioned at boot (a DC/OS token under /run), so a missing one warns.
fn credentials_check(ctx: &Ctx, image_build: bool) -> Check {
    let a = &ctx.settings.auth;
    let what = match (&a.principal, &a.token_file) {
        (Some(p), _) => format!("HTTP basic auth as '{p}'"),
        (None, Some(t)) => format!("DC/OS token from {}", t.display()),
        (None, None) => "no authentication configured".to_string(),
    };
    let ca = a
        .ca_file
        .as_ref()
        .map(|f| format!(", CA bundle {}", f.display()))
        .unwrap_or_default();
    match ctx.transport() {
        Ok(_) => Check::pass("credentials", format!("{what}{ca}")),
        Err(e) if image_build => Check::warn(
            "credentials",
            format!("{what}{ca}: {e:#} (fine if it is provisioned at boot)"),
        ),
        Err(e) => Check::fail("credentials", Cause::Config, format!("{what}{ca}: {e:#}")),
    }
}

fn hooks_check(ctx: &Ctx) -> Check {
    let hooks = Hooks {
        dir: ctx.settings.drain.hooks_dir.clone(),
        timeout: ctx.settings.drain.hook_timeout,
    };
    let mut lines = Vec::new();
    let mut ignored = Vec::new();
    for stage in [HookStage::PreDrain, HookStage::PostDrain] {
        let found = hooks.list(stage);
        let dir = hooks.dir.join(stage.dir_name());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if !found.contains(&e.path()) && e.path().is_file() {
                    ignored.push(e.path().display().to_string());
                }
            }
        }
        let names: Vec<String> = found
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        lines.push(format!(
            "{}: {}",
            stage.dir_name(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    let mut detail = format!("{}: {}", hooks.dir.display(), lines.join("; "));
    if ignored.is_empty() {
        Check::pass("hooks", detail)
    } else {
        ignored.sort();
        detail.push_str(&format!(
            "\nnot executable, never run: {}",
            ignored.join(", ")
        ));
        Check::warn("hooks", detail)
    }
}

/// An image must not carry a drain marker: every node started from it would take it for its own.
fn state_dir_check(ctx: &Ctx, image_build: bool) -> Check {
    let dir = &ctx.settings.state_dir;
    if !dir.is_dir() {
        return Check::warn(
            "state-dir",
            format!(
                "{} does not exist yet (systemd-tmpfiles creates it at boot, a drain on first use)",
                dir.display()
            ),
        );
    }
    match ctx.markers().load() {
        Ok(None) => Check::pass("state-dir", format!("{}: no drain marker", dir.display())),
        Ok(Some(m)) if image_build => Check::fail(
            "state-dir",
            Cause::Config,
            format!(
                "{} holds a drain marker (agent {}, stage {}): remove it before capturing the image",
                ctx.markers().path().display(),
                m.agent_id,
                m.stage
            ),
        ),
        Ok(Some(m)) => Check::warn(
            "state-dir",
            format!(
                "drain marker: agent {}, stage {}, trigger {:?}",
                m.agent_id, m.stage, m.trigger
            ),
        ),
        Err(e) => Check::fail(
            "state-dir",
            Cause::Config,
            format!("unreadable marker {}: {e}", ctx.markers().path().display()),
        ),
    }
}

type Bus = Result<(Systemd, Option<Logind>), String>;

/// systemd on the system bus, and logind on the same connection.
async fn connect_bus() -> Bus {
    let sd = match tokio::time::timeout(BUS_TIMEOUT, Systemd::connect()).await {
        Ok(Ok(sd)) => sd,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            return Err(format!(
                "the system bus did not answer within {BUS_TIMEOUT:?}"
            ))
        }
    };
    let logind = match tokio::time::timeout(BUS_TIMEOUT, Logind::on(sd.connection())).await {
        Ok(Ok(l)) => Some(l),
        Ok(Err(e)) => {
            tracing::debug!("logind: {e}");
            None
        }
        Err(_) => None,
    };
    Ok((sd, logind))
}

async fn bus_checks(bus: &Bus, image_build: bool) -> Vec<Check> {
    let (sd, logind) = match bus {
        Ok(b) => b,
        Err(e) if image_build => {
            return vec![Check::skip(
                "dbus",
                format!("no system bus ({e}); not needed in an image build"),
            )]
        }
        Err(e) => return vec![Check::fail("dbus", Cause::Unreachable, e.clone())],
    };
    let version = sd.version().await.unwrap_or_else(|_| "?".into());
    let mut out = vec![Check::pass(
        "dbus",
        format!("systemd {version} at {}", sd.address()),
    )];
    out.push(match logind {
        None if image_build => Check::skip("logind", "systemd-logind is not on the bus"),
        None => Check::fail(
            "logind",
            Cause::Unreachable,
            "systemd-logind is not on the system bus: no shutdown handling",
        ),
        Some(l) => match l.inhibit_delay_max().await {
            Ok(d) if d < MIN_USEFUL_INHIBIT_DELAY => Check::warn(
                "logind",
                format!(
                    "InhibitDelayMaxUSec is {}: too short to drain before a shutdown; the \
                     package's logind.conf.d drop-in takes effect at the next boot or when \
                     systemd-logind restarts",
                    humantime::format_duration(d)
                ),
            ),
            Ok(d) => Check::pass(
                "logind",
                format!(
                    "a shutdown can be delayed up to {} (InhibitDelayMaxUSec)",
                    humantime::format_duration(d)
                ),
            ),
            Err(e) if image_build => Check::skip("logind", e.to_string()),
            Err(e) => Check::fail("logind", Cause::Unreachable, e.to_string()),
        },
    });
    out
}

/// A unit file for `unit` in one of the unit directories.
pub fn find_unit_file(unit: &str) -> Option<PathBuf> {
    find_unit_file_in(&UNIT_DIRS.map(Path::new), unit)
}

/// The first directory with an entry for `unit` decides: a link to /dev/null there masks it.
pub fn find_unit_file_in(dirs: &[&Path], unit: &str) -> Option<PathBuf> {
    let path = dirs
        .iter()
        .map(|d| d.join(unit))
        .find(|p| p.symlink_metadata().is_ok())?;
    (!is_masked(&path)).then_some(path)
}

fn is_masked(p: &Path) -> bool {
    std::fs::read_link(p).is_ok_and(|t| t == Path::new("/dev/null"))
}

/// This package's own unit: systemd's view when the bus is there, the unit files otherwise.
async fn own_units_check(sd: Option<&Systemd>) -> Check {
    if let Some(sd) = sd {
        match sd.unit_state(OWN_UNIT).await {
            Ok(s) if s.is_loaded() => return Check::pass("units", format!("{s}")),
            Ok(s) => {
                return match find_unit_file(OWN_UNIT) {
                    // Installed, but this systemd has not read it yet.
                    Some(p) if s.load_state == "not-found" => Check::warn(
                        "units",
                        format!(
                            "{}: systemd reports {OWN_UNIT} {} (systemctl daemon-reload)",
                            p.display(),
                            s.load_state
                        ),
                    ),
                    _ => Check::fail(
                        "units",
                        Cause::Config,
                        format!("{OWN_UNIT}: {} (is the package installed?)", s.load_state),
                    ),
                };
            }
            Err(e) => tracing::debug!("{OWN_UNIT}: {e}; looking for the unit file instead"),
        }
    }
    match find_unit_file(OWN_UNIT) {
        Some(p) => Check::pass("units", format!("{OWN_UNIT}: {}", p.display())),
        None => Check::fail(
            "units",
            Cause::Config,
            format!(
                "{OWN_UNIT} not found in {} (is the package installed?)",
                UNIT_DIRS.join(", ")
            ),
        ),
    }
}

/// The agent units named by `units.agent`, and docker. In an image build the agent is usually
/// installed later (the DC/OS installer adds its units at bootstrap), so a missing one warns.
async fn agent_units_check(ctx: &Ctx, sd: Option<&Systemd>, image_build: bool) -> Check {
    let candidates = &ctx.settings.units.agent;
    let docker = normalize_unit_name(&ctx.settings.units.docker);
    let mut found: Option<String> = None;
    let mut docker_found = false;
    let mut how = "unit files";
    if let Some(sd) = sd {
        if let Ok(agent) = sd.detect_agent_units(candidates).await {
            how = "systemd";
            found = agent.map(|a| match a.socket {
                Some(s) => format!("{} (with {s})", a.service),
                None => a.service,
            });
            docker_found = sd.unit_state(&docker).await.is_ok_and(|s| s.is_loaded());
        }
    }
    if how == "unit files" {
        found = candidates.iter().find_map(|c| {
            let service = normalize_unit_name(c);
            find_unit_file(&service)?;
            let socket = socket_twin(&service).filter(|s| find_unit_file(s).is_some());
            Some(match socket {
                Some(s) => format!("{service} (with {s})"),
                None => service,
            })
        });
        docker_found = find_unit_file(&docker).is_some();
    }
    let docker_note = if docker_found {
        format!("{docker} present")
    } else {
        format!("{docker} not installed")
    };
    match found {
        Some(agent) => Check::pass(
            "agent-units",
            format!("agent {agent}, {docker_note} (from {how})"),
        ),
        None if image_build => Check::warn(
            "agent-units",
            format!(
                "none of {} installed yet ({docker_note}); fine if the agent is installed at first boot",
                candidates.join(", ")
            ),
        ),
        None => Check::fail(
            "agent-units",
            Cause::Config,
            format!(
                "none of {} is installed ({docker_note}); set units.agent",
                candidates.join(", ")
            ),
        ),
    }
}

async fn api_checks(ctx: &Ctx) -> Vec<Check> {
    let agent = match ctx.agent() {
        Ok(a) => a,
        Err(e) => return vec![Check::fail("agent-api", Cause::Config, format!("{e:#}"))],
    };
    let mut out = Vec::new();
    let agent_id = match agent.get_agent().await {
        Ok(info) => {
            out.push(Check::pass(
                "agent-api",
                format!(
                    "{}: agent {} on {}",
                    agent.url(),
                    info.id.as_deref().unwrap_or("(not registered yet)"),
                    info.hostname
                ),
            ));
            info.id
        }
        Err(e) => {
            out.push(Check::fail("agent-api", Cause::Unreachable, e.to_string()));
            None
        }
    };
    let (url, source) = leader::resolve_master(ctx.settings.master.as_ref(), &agent).await;
    // A leaderless master must not hold an image build for the drain's full minute.
    let transport = match ctx.transport_with_retry(crate::context::REPORT_RETRY_BUDGET) {
        Ok(t) => t,
        Err(e) => {
            out.push(Check::fail("master-api", Cause::Config, format!("{e:#}")));
            return out;
        }
    };
    out.push(match agent_id {
        Some(id) => {
            let master = MasterClient::new(transport, url.clone());
            match master.agent(&id).await {
                Ok(lookup) => {
                    let what = match lookup {
                        AgentLookup::Registered(a) => format!(
                            "knows agent {id} (drain state {})",
                            a.drain
                                .as_ref()
                                .map(|d| d.state.as_str().to_string())
                                .unwrap_or_else(|| "NONE".into())
                        ),
                        AgentLookup::Recovered => {
                            format!("recovered agent {id} (not re-registered yet)")
                        }
                        AgentLookup::Absent => format!("does not list agent {id}"),
                    };
                    Check::pass(
                        "master-api",
                        format!("{} ({source:?}): {what}", master.leader_text()),
                    )
                }
                Err(e) => Check::fail("master-api", Cause::Unreachable, e.to_string()),
            }
        }
        // Without an agent id only reachability can be checked.
        None => match transport.get(&url, "/version", None).await {
            Ok((answered, _)) => {
                Check::pass("master-api", format!("{answered} answers ({source:?})"))
            }
            Err(e) => Check::fail("master-api", Cause::Unreachable, e.to_string()),
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_prefers_config_failures() {
        let pass = Check::pass("a", "");
        let warn = Check::warn("b", "");
        let unreachable = Check::fail("c", Cause::Unreachable, "");
        let config = Check::fail("d", Cause::Config, "");
        assert_eq!(exit_for(&[pass.clone(), warn.clone()]), Exit::Ok);
        assert_eq!(
            exit_for(&[pass.clone(), unreachable.clone()]),
            Exit::Undetermined
        );
        assert_eq!(exit_for(&[unreachable, config, pass]), Exit::Usage);
        let report = SelfTestReport::new(true, vec![warn]);
        assert!(report.ok);
        assert_eq!(report.exit_code, 0);
    }

    #[test]
    fn text_report_lists_every_check_and_the_result() {
        let report = SelfTestReport::new(
            false,
            vec![
                Check::pass("config", "one\ntwo"),
                Check::fail("agent-api", Cause::Unreachable, "cannot reach"),
            ],
        );
        let text = report.to_text();
        assert!(text.contains("PASS  config         one\n"), "{text}");
        assert!(text.contains("                     two\n"), "{text}");
        assert!(text.contains("FAIL  agent-api      cannot reach"), "{text}");
        assert!(text.ends_with("result: FAILED (something required is unreachable; exit 3)\n"));
    }

    #[test]
    fn unit_files_are_found_unless_masked() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        let lib = tmp.path().join("lib");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("a.service"), "[Service]\n").unwrap();
        std::fs::write(lib.join("b.service"), "[Service]\n").unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("b.service")).unwrap();
        let dirs = [etc.as_path(), lib.as_path()];
        assert_eq!(
            find_unit_file_in(&dirs, "a.service"),
            Some(lib.join("a.service"))
        );
        assert_eq!(find_unit_file_in(&dirs, "b.service"), None);
        assert_eq!(find_unit_file_in(&dirs, "c.service"), None);
    }
}
