//! Unit names and states: what the agent units are called and what "running" means.

use std::fmt;

/// Agent unit names tried, in order, when none is configured (`[units] agent`).
pub const DEFAULT_AGENT_UNITS: [&str; 4] = [
    "dcos-mesos-slave.service",
    "dcos-mesos-slave-public.service",
    "mesos-slave.service",
    "mesos-agent.service",
];

/// [`DEFAULT_AGENT_UNITS`] as owned strings, the form [`super::Systemd::detect_agent_units`]
/// takes.
pub fn default_agent_units() -> Vec<String> {
    DEFAULT_AGENT_UNITS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Unit type suffixes systemd knows.
const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".timer",
    ".path",
    ".slice",
    ".scope",
];

/// `name` with `.service` appended when it has no unit type suffix (`dcos-mesos-slave` →
/// `dcos-mesos-slave.service`), as `systemctl` does.
pub fn normalize_unit_name(name: &str) -> String {
    if UNIT_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_owned()
    } else {
        format!("{name}.service")
    }
}

/// The `.socket` unit that activates a `.service` of the same stem, if `service` is a service.
pub fn socket_twin(service: &str) -> Option<String> {
    service
        .strip_suffix(".service")
        .filter(|stem| !stem.is_empty())
        .map(|stem| format!("{stem}.socket"))
}

/// The agent's units on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUnits {
    /// The agent service, e.g. `dcos-mesos-slave.service`.
    pub service: String,
    /// Its `.socket` twin, when one is loaded. Stop it before the service and start it before
    /// the service.
    pub socket: Option<String>,
}

impl AgentUnits {
    /// The units in stop order: socket first (a connection queued on a listening socket would
    /// start the agent again), then the service.
    pub fn stop_order(&self) -> Vec<&str> {
        self.socket
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.service.as_str()))
            .collect()
    }

    /// The units in start order: socket first (systemd refuses to start a socket whose service
    /// is already running), then the service.
    pub fn start_order(&self) -> Vec<&str> {
        self.stop_order()
    }
}

/// A snapshot of one unit's state, as systemd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    /// The unit's primary name (its `Id`).
    pub name: String,
    /// `loaded`, `not-found`, `masked`, `bad-setting` or `error`.
    pub load_state: String,
    /// `active`, `reloading`, `activating`, `deactivating`, `inactive` or `failed`.
    pub active_state: String,
    /// Type-specific, e.g. `running`, `dead`, `listening`, `stop-sigterm`.
    pub sub_state: String,
    /// Main process of a running service (`None` for other unit types or when there is none).
    pub main_pid: Option<u32>,
}

impl UnitState {
    /// The unit file was found and parsed.
    pub fn is_loaded(&self) -> bool {
        self.load_state == "loaded"
    }

    /// Running or on its way up (`active`, `reloading`, `activating`).
    pub fn is_active(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "reloading" | "activating"
        )
    }

    /// Not running (`inactive` or `failed`). `deactivating` is neither active nor stopped.
    pub fn is_stopped(&self) -> bool {
        matches!(self.active_state.as_str(), "inactive" | "failed")
    }
}

impl fmt::Display for UnitState {
    /// `dcos-mesos-slave.service: active (running), main PID 4242` or
    /// `mesos-agent.service: not-found`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_loaded() && self.is_stopped() {
            return write!(f, "{}: {}", self.name, self.load_state);
        }
        write!(
            f,
            "{}: {} ({})",
            self.name, self.active_state, self.sub_state
        )?;
        if let Some(pid) = self.main_pid {
            write!(f, ", main PID {pid}")?;
        }
        Ok(())
    }
}

/// Which processes of a unit [`super::Systemd::kill_unit`] signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillWhom {
    /// Only the main process.
    Main,
    /// Every process in the unit's cgroup.
    All,
}

impl KillWhom {
    /// The word systemd's `KillUnit` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            KillWhom::Main => "main",
            KillWhom::All => "all",
        }
    }
}

impl fmt::Display for KillWhom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(load: &str, active: &str, sub: &str, pid: Option<u32>) -> UnitState {
        UnitState {
            name: "dcos-mesos-slave.service".into(),
            load_state: load.into(),
            active_state: active.into(),
            sub_state: sub.into(),
            main_pid: pid,
        }
    }

    #[test]
    fn active_and_stopped_states() {
        for a in ["active", "reloading", "activating"] {
            let s = state("loaded", a, "running", Some(1));
            assert!(s.is_active() && !s.is_stopped(), "{a}");
        }
        for a in ["inactive", "failed"] {
            let s = state("loaded", a, "dead", None);
            assert!(!s.is_active() && s.is_stopped(), "{a}");
        }
        let s = state("loaded", "deactivating", "stop-sigterm", Some(7));
        assert!(!s.is_active() && !s.is_stopped());
    }

    #[test]
    fn loaded_state() {
        assert!(state("loaded", "inactive", "dead", None).is_loaded());
        for l in ["not-found", "masked", "bad-setting", "error"] {
            assert!(!state(l, "inactive", "dead", None).is_loaded(), "{l}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            state("loaded", "active", "running", Some(4242)).to_string(),
            "dcos-mesos-slave.service: active (running), main PID 4242"
        );
        assert_eq!(
            state("not-found", "inactive", "dead", None).to_string(),
            "dcos-mesos-slave.service: not-found"
        );
        assert_eq!(
            state("loaded", "failed", "failed", None).to_string(),
            "dcos-mesos-slave.service: failed (failed)"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            normalize_unit_name("dcos-mesos-slave"),
            "dcos-mesos-slave.service"
        );
        assert_eq!(normalize_unit_name("docker.service"), "docker.service");
        assert_eq!(normalize_unit_name("docker.socket"), "docker.socket");
        assert_eq!(
            socket_twin("dcos-mesos-slave-public.service").as_deref(),
            Some("dcos-mesos-slave-public.socket")
        );
        assert_eq!(socket_twin("docker.socket"), None);
        assert_eq!(socket_twin(".service"), None);
        assert_eq!(default_agent_units().len(), DEFAULT_AGENT_UNITS.len());
    }

    #[test]
    fn agent_unit_order() {
        let both = AgentUnits {
            service: "a.service".into(),
            socket: Some("a.socket".into()),
        };
        assert_eq!(both.stop_order(), ["a.socket", "a.service"]);
        assert_eq!(both.start_order(), ["a.socket", "a.service"]);
        let only = AgentUnits {
            service: "a.service".into(),
            socket: None,
        };
        assert_eq!(only.stop_order(), ["a.service"]);
    }

    #[test]
    fn kill_whom_words() {
        assert_eq!(KillWhom::Main.as_str(), "main");
        assert_eq!(KillWhom::All.to_string(), "all");
    }
}
