//! Node health (design.md "Node health"): the agent's own problems, seen and optionally
//! repaired. One file per check, each bounded by [`CHECK_TIMEOUT`] and ending in one [`Check`]
//! with a one-line reason; [`verdict`] holds the pure decisions (check verdicts, which repairs
//! are wanted, the rate limit, the exit code), [`repair`] the record in the state dir and the
//! restarts through systemd; [`guard`] holds repairs back while a drain is under way, and
//! [`watch`] is what the daemon's periodic checks remember between passes.

pub mod agent_api;
pub mod agent_unit;
pub mod disk;
pub mod docker;
pub mod guard;
pub mod registration;
pub mod repair;
pub mod verdict;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Settings;
use crate::mesos::leader::master_from_state;
use crate::mesos::{AgentClient, MasterClient, Transport};
use crate::systemd::Systemd;

/// Bound of one check (the design's "within 5 s"); a check that takes longer fails or skips
/// with that reason instead of holding the others up.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent's work directory when the agent does not say (Mesos' own default).
pub const DEFAULT_WORK_DIR: &str = "/var/lib/mesos/slave";

pub const AGENT_UNIT: &str = "agent-unit";
pub const AGENT_API: &str = "agent-api";
pub const REGISTRATION: &str = "registration";
pub const DOCKER: &str = "docker";
pub const DISK: &str = "disk";

/// Every check, in report order.
pub const CHECKS: [&str; 5] = [AGENT_UNIT, AGENT_API, REGISTRATION, DOCKER, DISK];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check's outcome: `name`, `status` and a one-line `detail`, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// The check could not run at all (the system bus is unreachable): the run exits 3.
    /// Shown as `skip`; a documented skip (an unreachable master) leaves this false.
    #[serde(skip)]
    pub undetermined: bool,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail)
    }
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Fail, detail)
    }
    pub fn skip(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Skip, detail)
    }
    /// Cannot be determined: shown as `skip`, and the run exits 3 unless another check fails.
    pub fn cannot_run(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            undetermined: true,
            ..Check::new(name, Status::Skip, detail)
        }
    }
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            undetermined: false,
        }
    }
    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

/// What the checks saw beyond their verdicts: the facts the repair rules need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The agent service, when one of the candidates is installed.
    pub agent_unit: Option<String>,
    pub agent_unit_active: bool,
    /// `GET /health` answered 2xx in time.
    pub agent_api_answers: bool,
    /// The master lists the agent as registered but disconnected.
    pub agent_disconnected: bool,
    /// The master reports the agent DRAINED.
    pub master_drained: bool,
    pub agent_id: Option<String>,
    pub docker_unit: String,
    pub docker_active: bool,
    /// `docker.service` is active but `GET /_ping` did not answer in time.
    pub docker_hung: bool,
}

/// The result of one pass of all checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub checks: Vec<Check>,
    pub facts: Facts,
}

impl Observation {
    /// The names of the failing checks.
    pub fn failing(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.failed())
            .map(|c| c.name)
            .collect()
    }
}

/// What the checks talk to. Built once per command run (or daemon), reused by every pass.
pub struct Probe {
    /// `None`: the system bus or systemd cannot be reached (unit checks cannot run).
    pub systemd: Option<Systemd>,
    pub agent: AgentClient,
    /// For the master client of each pass (the leader may move between passes).
    pub transport: Arc<Transport>,
    pub settings: Settings,
    pub store: repair::RepairStore,
}

impl Probe {
    /// The probe of `settings`: the agent and master clients over `transport` (one per
    /// probe, reused by every pass), systemd when it could be reached.
    pub fn new(settings: Settings, transport: Arc<Transport>, systemd: Option<Systemd>) -> Probe {
        Probe {
            systemd,
            agent: AgentClient::new(transport.clone(), settings.agent.clone()),
            transport,
            store: repair::RepairStore::new(&settings.state_dir),
            settings,
        }
    }

    /// Run every check once (concurrently; each bounded by [`CHECK_TIMEOUT`]).
    pub async fn observe(&self) -> Observation {
        let agent_state = async {
            match tokio::time::timeout(CHECK_TIMEOUT, self.agent.state()).await {
                Ok(Ok(state)) => Some(state),
                Ok(Err(e)) => {
                    tracing::debug!("agent /state: {e}");
                    None
                }
                Err(_) => {
                    tracing::debug!("agent /state did not answer within {CHECK_TIMEOUT:?}");
                    None
                }
            }
        };
        let (unit, api, docker, (registration, disk)) = tokio::join!(
            agent_unit::check(self.systemd.as_ref(), &self.settings.units.agent),
            agent_api::check(&self.agent),
            docker::check(
                self.systemd.as_ref(),
                &self.settings.units.docker,
                &self.settings.health.docker_socket
            ),
            async {
                let state = agent_state.await;
                let master_url = self.settings.master.clone().or_else(|| {
                    state
                        .as_ref()
                        .and_then(|s| master_from_state(s, self.agent.url().scheme()))
                });
                let master = master_url.map(|url| MasterClient::new(self.transport.clone(), url));
                let (id, work_dir) = match state {
                    Some(s) => {
                        self.store
                            .remember_agent(s.id.as_deref(), s.work_dir.as_deref());
                        (s.id, s.work_dir)
                    }
                    None => {
                        let record = self.store.load();
                        (record.agent_id, record.work_dir)
                    }
                };
                tokio::join!(
                    registration::check(master.as_ref(), id),
                    disk::check(work_dir, self.settings.health.min_free_percent),
                )
            }
        );
        let facts = Facts {
            agent_unit: unit.unit,
            agent_unit_active: unit.active,
            agent_api_answers: !api.failed(),
            agent_disconnected: registration.disconnected,
            master_drained: registration.drained,
            agent_id: registration.agent_id,
            docker_unit: self.settings.units.docker.clone(),
            docker_active: docker.active,
            docker_hung: docker.hung,
        };
        Observation {
            checks: vec![unit.check, api, registration.check, docker.check, disk],
            facts,
        }
    }

    /// Decide and carry out the repairs `seen` calls for (none on a healthy node), under the
    /// rate limit; a failed restart job is an error (exit 3).
    pub async fn repair(&self, seen: &Observation) -> anyhow::Result<Vec<repair::Repair>> {
        let safety = repair::docker_safety(&seen.facts, &self.agent, &self.settings.health).await;
        let wanted = verdict::wanted(&seen.facts, safety);
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let Some(systemd) = self.systemd.as_ref() else {
            anyhow::bail!(crate::exit::Refusal::Undetermined(
                "cannot repair: systemd cannot be reached over D-Bus".into()
            ));
        };
        repair::perform(
            wanted,
            systemd,
            &self.store,
            &self.settings.health,
            self.settings.units.job_timeout,
        )
        .await
    }
}
