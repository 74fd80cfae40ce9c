//! The drain marker: one JSON file in the state dir, rewritten atomically before each transition,
//! so a helper that is killed and started again resumes instead of starting a second drain, and a
//! daemon can tell after a boot whether it drained the node for a reboot.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::machine::{DrainOptions, Stage};

pub const MARKER_FILE: &str = "drain.json";
const MARKER_VERSION: u32 = 1;

/// Why the drain started; decides what happens after the next boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `mesos-maint drain` by an operator: never reactivated automatically.
    Manual,
    /// `mesos-maint reboot`: reactivated by the daemon after the boot.
    Reboot,
    /// OS shutdown seen through logind: reactivated after the boot.
    Shutdown,
    /// Cloud autoscaling scale-in: decommissioned.
    Autoscaling,
    /// Spot interruption: decommissioned.
    Spot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub version: u32,
    pub agent_id: String,
    pub boot_id: String,
    pub trigger: Trigger,
    pub policy: DrainOptions,
    pub stage: Stage,
    /// The leading master this drain talks to.
    pub master: String,
    pub reason: Option<String>,
    pub max_grace_period_secs: Option<f64>,
    pub started_at: u64,
    pub updated_at: u64,
    pub deadline_at: Option<u64>,
    /// Unit actions already carried out ("stop dcos-mesos-slave.socket", ...), so a resumed
    /// drain does not repeat them and `reactivate` knows what to start again.
    #[serde(default)]
    pub actions: Vec<String>,
    /// The deadline passed and `--force` escalated.
    #[serde(default)]
    pub forced: bool,
    /// What ended a drain that did not reach Done.
    #[serde(default)]
    pub error: Option<String>,
    /// The fleet slot this drain took (absent with `fleet.backend = "none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetMark>,
    /// What the Budget stage did (absent when no budget applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetMark>,
}

/// The Budget stage of a drain, as written to the marker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetMark {
    /// `--ignore-budgets`: the stage was skipped.
    #[serde(default)]
    pub ignored: bool,
    /// The budgets did not allow it and the drain went on anyway: why (scale-in at the end of
    /// its lifecycle budget, spot, shutdown, `budget.unknown = "proceed"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden: Option<String>,
    /// The workload znodes (`budgets/<name>`) holding this node's intent, until the slot is
    /// given back.
    #[serde(default)]
    pub intents: Vec<String>,
    /// The holder id the intents were recorded under.
    #[serde(default)]
    pub holder: String,
    pub waited_secs: u64,
}

/// The fleet slot of a drain, as written to the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetMark {
    pub backend: String,
    pub group: String,
    /// The holder id the slot was taken under.
    pub id: String,
    /// No slot was free and the drain went on anyway (spot notice, OS shutdown).
    #[serde(default)]
    pub over_budget: bool,
    /// Given back (after a decommission, a failure before DRAIN_AGENT, or a reactivation).
    #[serde(default)]
    pub released: bool,
    pub taken_at: u64,
}

impl Marker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        agent_id: &str,
        trigger: Trigger,
        policy: DrainOptions,
        master: &str,
        reason: Option<String>,
        max_grace_period_secs: Option<f64>,
        deadline_at: Option<u64>,
    ) -> Marker {
        let now = unix_now();
        Marker {
            version: MARKER_VERSION,
            agent_id: agent_id.to_string(),
            boot_id: current_boot_id(),
            trigger,
            policy,
            stage: Stage::Resolve,
            master: master.to_string(),
            reason,
            max_grace_period_secs,
            started_at: now,
            updated_at: now,
            deadline_at,
            actions: Vec::new(),
            forced: false,
            error: None,
            fleet: None,
            budget: None,
        }
    }

    pub fn did(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }

    /// Written during the boot `boot_id` (a reboot ends every drain's claim on the running
    /// agent: it may come back under another identity).
    pub fn is_this_boot(&self, boot_id: &str) -> bool {
        self.boot_id == boot_id
    }

    /// The drain has not reached a terminal stage: it can be resumed.
    pub fn unfinished(&self) -> bool {
        !self.stage.is_terminal()
    }

    /// A decommission drain that reached Done: the agent left the cluster for good, and its
    /// DRAIN_AGENT must not be sent again.
    pub fn decommission_done(&self) -> bool {
        self.stage == Stage::Done && self.policy.decommission
    }

    /// For `status`/`check`: a decommission of `agent_id` that got past the master's verdict
    /// (VerifyLocal or later, not failed): the master no longer listing the agent means gone.
    /// Wider than [`Marker::decommission_done`]: a report made while the units are being stopped
    /// already calls the agent gone.
    pub fn decommission_finished(&self, agent_id: &str) -> bool {
        self.agent_id == agent_id
            && self.policy.decommission
            && self.stage >= Stage::VerifyLocal
            && self.stage != Stage::Failed
            && self.stage != Stage::DeadlineExceeded
    }
}

/// Reads and writes the marker in one state directory.
#[derive(Debug, Clone)]
pub struct MarkerStore {
    dir: PathBuf,
}

impl MarkerStore {
    pub fn new(dir: &Path) -> MarkerStore {
        MarkerStore {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(MARKER_FILE)
    }

    pub fn load(&self) -> std::io::Result<Option<Marker>> {
        crate::state_file::read_json(&self.path())
    }

    /// For readers that can go on without it (reports, the dry run, identity fallbacks): an
    /// unreadable marker (truncated, edited) is ignored with a warning that names the file.
    /// The drain itself uses [`MarkerStore::load`] and stops on it instead.
    pub fn load_or_warn(&self) -> Option<Marker> {
        match self.load() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(
                    "ignoring an unreadable drain marker ({e}); remove it if no drain is running"
                );
                None
            }
        }
    }

    /// Atomic (see `state_file`): after a crash the marker is the old or the new one.
    pub fn save(&self, marker: &mut Marker) -> std::io::Result<()> {
        marker.updated_at = unix_now();
        crate::state_file::write_json(&self.dir, MARKER_FILE, marker)
    }

    pub fn clear(&self) -> std::io::Result<()> {
        match fs::remove_file(self.path()) {
            Ok(()) => File::open(&self.dir)?.sync_all(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The kernel's id of this boot; differs after every reboot.
pub fn current_boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DrainOptions {
        DrainOptions {
            decommission: false,
            stop_units: false,
            stop_docker: true,
            force: false,
        }
    }

    #[test]
    fn save_load_clear_roundtrip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = MarkerStore::new(&tmp.path().join("state"));
        assert_eq!(store.load().unwrap(), None);
        let mut m = Marker::new(
            "S1",
            Trigger::Manual,
            policy(),
            "http://m:5050/",
            None,
            Some(90.0),
            None,
        );
        m.stage = Stage::AwaitDrained;
        m.actions.push("stop a.socket".into());
        store.save(&mut m).unwrap();
        let back = store.load().unwrap().unwrap();
        assert_eq!(back, m);
        assert!(back.did("stop a.socket"));
        assert!(!tmp.path().join("state/.drain.json.tmp").exists());
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
        store.clear().unwrap();
    }

    #[test]
    fn garbage_marker_is_an_error_not_a_fresh_start() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(MARKER_FILE), "{not json").unwrap();
        assert!(MarkerStore::new(tmp.path()).load().is_err());
    }

    #[test]
    fn decommission_finished_needs_our_agent_and_a_verified_stage() {
        let p = DrainOptions {
            decommission: true,
            ..policy()
        };
        let mut m = Marker::new("S1", Trigger::Autoscaling, p, "m", None, None, None);
        m.stage = Stage::AwaitDrained;
        assert!(!m.decommission_finished("S1"));
        m.stage = Stage::Done;
        assert!(m.decommission_finished("S1"));
        assert!(!m.decommission_finished("S2"));
    }
}
