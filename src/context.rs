//! The wiring below the commands and the daemon: validated settings turned into clients (HTTP
//! transports, the agent and master clients, systemd), the drain's dependencies and the retry
//! budgets. Commands and the daemon both build on this module and never on each other, so a
//! command can change without touching the daemon (see tests/module_graph.rs).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::drain::hooks::Hooks;
use crate::drain::{DrainDeps, DrainRequest, MarkerStore};
use crate::mesos::{leader, AgentClient, Auth, MasterClient, Transport, TransportSettings};
use crate::systemd::Systemd;

/// Commands that change the cluster wait this long for a master to elect a leader or recover.
pub const DRAIN_RETRY_BUDGET: Duration = crate::mesos::transport::DEFAULT_RETRY_MAX_ELAPSED;

/// `status`/`check` answer a person or a script before a reboot: a master without a leader for
/// longer than this is reported as undetermined rather than waited for.
pub const REPORT_RETRY_BUDGET: Duration = Duration::from_secs(10);

/// How long `status`/`check` wait for the system bus before reporting units as unknown.
pub const SYSTEMD_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What every command gets: validated settings and output preferences.
#[derive(Clone)]
pub struct Ctx {
    pub settings: Settings,
    pub output: OutputFormat,
    pub quiet: bool,
}

impl Ctx {
    fn auth(&self) -> anyhow::Result<Auth> {
        let a = &self.settings.auth;
        Ok(match (&a.principal, &a.secret_file, &a.token_file) {
            (Some(p), Some(f), _) => Auth::basic_from_file(p, f)?,
            (Some(p), None, _) => {
                anyhow::bail!(crate::exit::Refusal::Usage(format!(
                    "auth.principal '{p}' is set without auth.secret_file"
                )))
            }
            (None, _, Some(t)) => Auth::token_from_file(t)?,
            _ => Auth::None,
        })
    }

    /// A fresh HTTP transport with the configured auth and CA; one per peer so request counts
    /// and leader caches stay apart.
    pub fn transport(&self) -> anyhow::Result<Arc<Transport>> {
        self.transport_with_retry(DRAIN_RETRY_BUDGET)
    }

    /// The same, with another budget for retrying "no leader" / "recovering" 503s.
    pub fn transport_with_retry(&self, max_elapsed: Duration) -> anyhow::Result<Arc<Transport>> {
        let mut settings = TransportSettings {
            auth: self.auth()?,
            ca_file: self.settings.auth.ca_file.clone(),
            ..TransportSettings::default()
        };
        settings.retry.max_elapsed = max_elapsed;
        Ok(Arc::new(Transport::new(settings)?))
    }

    /// For Marathon and SDK schedulers: the master's credentials and CA, each request bounded
    /// by `budget::REQUEST_TIMEOUT`, a 503 not retried (the Budget stage asks again itself).
    pub fn budget_transport(&self) -> anyhow::Result<Arc<Transport>> {
        let mut settings = TransportSettings {
            auth: self.auth()?,
            ca_file: self.settings.auth.ca_file.clone(),
            request_timeout: crate::budget::REQUEST_TIMEOUT,
            ..TransportSettings::default()
        };
        settings.retry.max_elapsed = Duration::ZERO;
        Ok(Arc::new(Transport::new(settings)?))
    }

    /// A client for the leading master: `--master`/config, else what `agent` knows, else
    /// `leader.mesos:5050`. `retry`: the budget for leaderless 503s.
    pub async fn master(
        &self,
        agent: &AgentClient,
        retry: Duration,
    ) -> anyhow::Result<MasterClient> {
        let (url, source) = leader::resolve_master(self.settings.master.as_ref(), agent).await;
        tracing::debug!(master = %url, ?source, "leading master");
        Ok(MasterClient::new(self.transport_with_retry(retry)?, url))
    }

    pub fn agent(&self) -> anyhow::Result<AgentClient> {
        Ok(AgentClient::new(
            self.transport()?,
            self.settings.agent.clone(),
        ))
    }

    /// This node's agent id by the drain's rule (`drain::identity`): the agent's own, or this
    /// boot's drain marker's when the agent does not answer.
    pub async fn agent_id(
        &self,
        agent: &AgentClient,
    ) -> Result<String, crate::drain::identity::IdentityError> {
        let marker = self.markers().load_or_warn();
        let fallback = crate::drain::identity::drain_fallback(marker.as_ref());
        crate::drain::identity::agent_id(agent, fallback).await
    }

    pub fn markers(&self) -> MarkerStore {
        MarkerStore::new(&self.settings.state_dir)
    }

    /// systemd when it can be reached; `None` (logged) otherwise. For read-only reporting.
    pub async fn systemd_if_available(&self) -> Option<Systemd> {
        match tokio::time::timeout(SYSTEMD_CONNECT_TIMEOUT, Systemd::connect()).await {
            Ok(Ok(sd)) => Some(sd),
            Ok(Err(e)) => {
                tracing::debug!("systemd not available: {e}");
                None
            }
            Err(_) => {
                tracing::debug!("systemd did not answer within {SYSTEMD_CONNECT_TIMEOUT:?}");
                None
            }
        }
    }

    /// systemd, required: a clear error (exit 3) when the bus or systemd cannot be reached.
    pub async fn systemd_required(&self) -> anyhow::Result<Systemd> {
        tokio::time::timeout(SYSTEMD_CONNECT_TIMEOUT, Systemd::connect())
            .await
            .map_err(|_| {
                crate::exit::Refusal::Undetermined(format!(
                    "the system bus did not answer within {SYSTEMD_CONNECT_TIMEOUT:?}"
                ))
            })?
            .context(
                "cannot reach systemd over D-Bus (use --no-stop/--no-start to leave units alone)",
            )
    }

    pub fn print_json<T: serde::Serialize>(&self, value: &T) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("serialisable output")
        );
    }

    /// The hooks of `drain.hooks_dir`, run with `drain.hook_timeout`.
    pub fn drain_hooks(&self) -> Hooks {
        Hooks {
            dir: self.settings.drain.hooks_dir.clone(),
            timeout: self.settings.drain.hook_timeout,
        }
    }

    /// Gives this node's fleet slot back once the node is back (`reactivate`, the daemon after
    /// the post-boot reactivation). The holder id is the one the drain recorded in `marker`,
    /// else `fleet.id`. Release is idempotent: a slot already given back is fine. A failure
    /// is logged with the way out (`fleet release`), not raised: the node is back either way.
    /// True when this node holds no slot any more (given back now, or held by none).
    pub async fn release_fleet_slot(
        &self,
        marker: Option<&crate::drain::Marker>,
        master: &MasterClient,
    ) -> bool {
        let fleet = &self.settings.fleet;
        if fleet.backend == crate::fleet::Backend::None {
            return true;
        }
        let id = marker
            .and_then(|m| m.fleet.as_ref())
            .map_or_else(|| fleet.holder_id(), |f| f.id.clone());
        let lock = match crate::fleet::open(fleet, Some((master.transport(), master.leader_url())))
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot give the fleet slot back: {e}");
                return false;
            }
        };
        // The budget intents go with the slot (never on a timer).
        if let (Some(zk), Some(b)) = (lock.zookeeper(), marker.and_then(|m| m.budget.as_ref())) {
            for z in &b.intents {
                if let Err(e) = crate::budget::intents::remove(zk, &b.holder, z).await {
                    tracing::warn!("cannot remove the budget intent on budgets/{z}: {e}");
                }
            }
        }
        match lock.release(&id).await {
            Ok(crate::fleet::Release::Released) => {
                tracing::info!(
                    target: crate::logging::PROGRESS,
                    "fleet slot in group {} given back (holder {id})",
                    lock.group()
                );
                true
            }
            Ok(crate::fleet::Release::NotHeld) => {
                tracing::debug!("no fleet slot held by {id} in group {}", lock.group());
                true
            }
            Err(e) => {
                tracing::warn!(
                    "cannot give the fleet slot back ({e}); `mesos-maint fleet release --id {id}` does it by hand"
                );
                false
            }
        }
    }

    /// What the drain executor talks to, for `req`; systemd is required only when units will be
    /// stopped. One builder for `drain`, `reboot` and the daemon's drains.
    pub async fn drain_deps(&self, req: &DrainRequest) -> anyhow::Result<DrainDeps> {
        let systemd = if req.policy.stop_units {
            Some(self.systemd_required().await?)
        } else {
            None
        };
        Ok(DrainDeps {
            master_transport: self.transport()?,
            configured_master: self.settings.master.clone(),
            agent: self.agent()?,
            store: self.markers(),
            hooks: self.drain_hooks(),
            systemd,
            units: self.settings.units.clone(),
            fleet: self.settings.fleet.clone(),
            budget: self.settings.budget.clone(),
            budget_transport: self.budget_transport()?,
        })
    }
}
