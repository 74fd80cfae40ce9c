//! Repairs: the record in the state dir (`health.json`: the last repair per unit, for the rate
//! limit, and the last known agent id), and the restarts through systemd, each followed to its
//! job result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::verdict::{self, DockerSafety, Wanted};
use super::{docker, Facts};
use crate::config::HealthSettings;
use crate::mesos::AgentClient;
use crate::systemd::Systemd;

/// The record's file name in the state dir.
pub const RECORD_FILE: &str = "health.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// The agent id last seen, so `registration` can still be checked while the agent hangs.
    pub agent_id: Option<String>,
    /// The agent's work dir last seen, for the disk check while the agent does not answer.
    pub work_dir: Option<String>,
    /// Unit → when it was last repaired (seconds since the epoch).
    pub repaired_at: BTreeMap<String, u64>,
}

impl Record {
    pub fn last_repair(&self, unit: &str) -> Option<SystemTime> {
        self.repaired_at
            .get(unit)
            .map(|s| UNIX_EPOCH + Duration::from_secs(*s))
    }
}

/// The record in the state dir. A record that cannot be read counts as empty for the agent id,
/// but refuses repairs (the rate limit must not be lost silently).
#[derive(Debug, Clone)]
pub struct RepairStore {
    dir: PathBuf,
}

impl RepairStore {
    pub fn new(dir: &Path) -> RepairStore {
        RepairStore {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(RECORD_FILE)
    }

    pub fn try_load(&self) -> std::io::Result<Record> {
        Ok(crate::state_file::read_json(&self.path())?.unwrap_or_default())
    }

    /// The record, or an empty one (logged) when it cannot be read.
    pub fn load(&self) -> Record {
        self.try_load().unwrap_or_else(|e| {
            tracing::warn!("cannot read the health record: {e}");
            Record::default()
        })
    }

    pub fn save(&self, record: &Record) -> std::io::Result<()> {
        crate::state_file::write_json(&self.dir, RECORD_FILE, record)
    }

    /// Keep what the agent said (its id and work dir) for the passes where it does not answer
    /// (written only when it changed; errors logged).
    pub fn remember_agent(&self, id: Option<&str>, work_dir: Option<&str>) {
        let Ok(mut record) = self.try_load() else {
            return;
        };
        let id = id.map(str::to_string).or(record.agent_id.clone());
        let work_dir = work_dir.map(str::to_string).or(record.work_dir.clone());
        if record.agent_id == id && record.work_dir == work_dir {
            return;
        }
        record.agent_id = id;
        record.work_dir = work_dir;
        if let Err(e) = self.save(&record) {
            tracing::debug!("cannot record the agent's id and work dir in the state dir: {e}");
        }
    }
}

/// `action` as `--json` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Restarted,
    Refused,
}

/// One repair as reported: `unit`, `action` and a one-line `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    pub unit: String,
    pub action: Action,
    pub detail: String,
}

impl Repair {
    fn refusal(unit: String, detail: String) -> Repair {
        Repair {
            unit,
            action: Action::Refused,
            detail,
        }
    }

    pub fn refused(&self) -> bool {
        self.action == Action::Refused
    }
}

/// What a Docker repair needs to know, asked only when Docker hangs: live-restore (the API,
/// else daemon.json) and the agent's live tasks (the containers a restart would kill).
pub async fn docker_safety(
    facts: &Facts,
    agent: &AgentClient,
    settings: &HealthSettings,
) -> DockerSafety {
    if !(facts.docker_active && facts.docker_hung) {
        return DockerSafety::default();
    }
    let (live_restore, tasks) = tokio::join!(
        docker::live_restore(&settings.docker_socket, &settings.docker_config),
        tokio::time::timeout(super::CHECK_TIMEOUT, agent.get_tasks()),
    );
    let live_tasks = match tasks {
        Ok(Ok(t)) => Some(t.live_count()),
        Ok(Err(e)) => {
            tracing::debug!("GET_TASKS: {e}");
            None
        }
        Err(_) => None,
    };
    DockerSafety {
        live_restore,
        live_tasks,
    }
}

/// Carry out `wanted` under the rate limit: a restart is recorded before it is queued (a crash
/// mid-restart still counts), then followed to its job result. A failed restart job is an
/// error (exit 3); refusals come back as `Refused`.
pub async fn perform(
    wanted: Vec<Wanted>,
    systemd: &Systemd,
    store: &RepairStore,
    settings: &HealthSettings,
    job_timeout: Duration,
) -> anyhow::Result<Vec<Repair>> {
    let mut done = Vec::new();
    for w in wanted {
        let (unit, why) = match w {
            Wanted::Refuse { unit, why } => {
                tracing::warn!("not restarting {unit}: {why}");
                done.push(Repair::refusal(unit, why));
                continue;
            }
            Wanted::Restart { unit, why } => (unit, why),
        };
        let mut record = match store.try_load() {
            Ok(r) => r,
            Err(e) => {
                done.push(Repair::refusal(
                    unit,
                    format!(
                        "the repair record cannot be read, so the rate limit cannot be kept: {e}"
                    ),
                ));
                continue;
            }
        };
        let now = SystemTime::now();
        if let Err(limit) = verdict::rate_limit(
            &unit,
            record.last_repair(&unit),
            settings.repair_interval,
            now,
        ) {
            tracing::warn!("not restarting {unit} ({why}): {limit}");
            done.push(Repair::refusal(unit, limit));
            continue;
        }
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        record.repaired_at.insert(unit.clone(), secs);
        if let Err(e) = store.save(&record) {
            done.push(Repair::refusal(
                unit,
                format!("the repair cannot be recorded in the state dir: {e}"),
            ));
            continue;
        }
        tracing::warn!("restarting {unit}: {why}");
        systemd
            .restart_unit(&unit, job_timeout)
            .await
            .map_err(|e| anyhow::anyhow!(e).context(format!("repairing {unit} ({why})")))?;
        done.push(Repair {
            unit,
            action: Action::Restarted,
            detail: why,
        });
    }
    Ok(done)
}
