//! The systemd client: connect, inspect units, run start/stop jobs to completion, send signals.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::OnceCell;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedObjectPath;

use super::error::{map_call_error, map_connect_error, names, SystemdError};
use super::proxies::{JobRemovedStream, ManagerProxy, ServiceProxy, UnitProxy};
use super::units::{normalize_unit_name, socket_twin, AgentUnits, KillWhom, UnitState};

/// Default wait for one start or stop job. Stopping an agent can take long (it waits for its
/// executors to exit), so this is generous; callers with a deadline pass their own.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Timeout of a single D-Bus method call (queuing a job, reading a property), as `systemctl`.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// Address of the system bus when `DBUS_SYSTEM_BUS_ADDRESS` is not set.
pub const DEFAULT_SYSTEM_BUS_ADDRESS: &str = "unix:path=/var/run/dbus/system_bus_socket";

/// The system bus address: `DBUS_SYSTEM_BUS_ADDRESS`, else [`DEFAULT_SYSTEM_BUS_ADDRESS`]
/// (the same rule zbus, `busctl` and `systemctl` follow).
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SYSTEM_BUS_ADDRESS.to_owned())
}

/// Which job a [`Systemd::run_job`] queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Start,
    Stop,
    Restart,
}

impl JobKind {
    fn action(self) -> &'static str {
        match self {
            JobKind::Start => "start",
            JobKind::Stop => "stop",
            JobKind::Restart => "restart",
        }
    }
}

/// A connection to systemd's manager (`org.freedesktop.systemd1`). Cheap to clone; clones share
/// the connection.
///
/// Needs a tokio runtime with the time driver enabled (job waits use `tokio::time`).
#[derive(Clone)]
pub struct Systemd {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
    address: Arc<str>,
    subscribed: Arc<OnceCell<()>>,
}

impl std::fmt::Debug for Systemd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Systemd")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Systemd {
    /// Connect to systemd on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured) and check
    /// that it answers.
    pub async fn connect() -> Result<Systemd, SystemdError> {
        Self::connect_to(&system_bus_address()).await
    }

    /// Connect to systemd on the bus at `address` (e.g. `unix:path=/run/user/0/bus`) and check
    /// that it answers.
    pub async fn connect_to(address: &str) -> Result<Systemd, SystemdError> {
        let conn = zbus::connection::Builder::address(address)
            .map_err(|e| map_connect_error(e, address))?
            .method_timeout(CALL_TIMEOUT)
            .build()
            .await
            .map_err(|e| map_connect_error(e, address))?;
        let manager = ManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| map_connect_error(e, address))?;
        let systemd = Systemd {
            conn,
            manager,
            address: Arc::from(address),
            subscribed: Arc::new(OnceCell::new()),
        };
        let version = systemd.version().await?;
        tracing::debug!(address, version, "connected to systemd");
        Ok(systemd)
    }

    /// The bus address this client is connected to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The underlying bus connection, to share it with other clients (e.g. logind).
    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// systemd's version string, e.g. `252.38-1~deb12u1`.
    pub async fn version(&self) -> Result<String, SystemdError> {
        self.manager
            .version()
            .await
            .map_err(|e| self.call_error(e, None, "reading the systemd version"))
    }

    /// The state of `unit`. Works for units that do not exist: their `load_state` is
    /// `not-found` and they read as stopped.
    pub async fn unit_state(&self, unit: &str) -> Result<UnitState, SystemdError> {
        let ctx = || format!("reading the state of {unit}");
        let path = self
            .manager
            .load_unit(unit)
            .await
            .map_err(|e| self.call_error(e, Some(unit), &ctx()))?;
        let proxy = UnitProxy::builder(&self.conn)
            .path(path.clone())
            .map(|b| b.cache_properties(CacheProperties::No))
            .map_err(|e| self.call_error(e, Some(unit), &ctx()))?
            .build()
            .await
            .map_err(|e| self.call_error(e, Some(unit), &ctx()))?;
        let get = |r: zbus::Result<String>| r.map_err(|e| self.call_error(e, Some(unit), &ctx()));
        let name = get(proxy.id().await)?;
        let load_state = get(proxy.load_state().await)?;
        let active_state = get(proxy.active_state().await)?;
        let sub_state = get(proxy.sub_state().await)?;
        let main_pid = if load_state == "loaded" && name.ends_with(".service") {
            self.main_pid(path)
                .await
                .map_err(|e| self.call_error(e, Some(unit), &ctx()))?
        } else {
            None
        };
        Ok(UnitState {
            name,
            load_state,
            active_state,
            sub_state,
            main_pid,
        })
    }

    async fn main_pid(&self, path: OwnedObjectPath) -> zbus::Result<Option<u32>> {
        let service = ServiceProxy::builder(&self.conn)
            .path(path)?
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(Some(service.main_pid().await?).filter(|pid| *pid != 0))
    }

    /// The first of `candidates` that is loaded (its unit file exists and is not masked),
    /// together with its `.socket` twin when that is loaded too. `Ok(None)` when none is.
    /// A candidate without a type suffix gets `.service`.
    pub async fn detect_agent_units(
        &self,
        candidates: &[String],
    ) -> Result<Option<AgentUnits>, SystemdError> {
        for candidate in candidates {
            let service = normalize_unit_name(candidate);
            let state = self.unit_state(&service).await?;
            if !state.is_loaded() {
                if state.load_state != "not-found" {
                    tracing::warn!(
                        "skipping agent unit candidate {service}: {}",
                        state.load_state
                    );
                } else {
                    tracing::debug!("agent unit candidate {service} not found");
                }
                continue;
            }
            let mut socket = None;
            if let Some(twin) = socket_twin(&service) {
                if self.unit_state(&twin).await?.is_loaded() {
                    socket = Some(twin);
                }
            }
            tracing::info!(
                "agent unit: {service}{}",
                socket
                    .as_deref()
                    .map(|s| format!(" (with {s})"))
                    .unwrap_or_default()
            );
            return Ok(Some(AgentUnits { service, socket }));
        }
        tracing::info!("none of the agent units {candidates:?} is installed");
        Ok(None)
    }

    /// Stop `unit` (job mode `replace`) and wait up to `timeout` for the job to finish.
    /// A unit that is already stopped is a success; a unit that does not exist is `NoSuchUnit`.
    pub async fn stop_unit(&self, unit: &str, timeout: Duration) -> Result<(), SystemdError> {
        self.run_job(JobKind::Stop, unit, timeout).await
    }

    /// Start `unit` (job mode `replace`) and wait up to `timeout` for the job to finish.
    pub async fn start_unit(&self, unit: &str, timeout: Duration) -> Result<(), SystemdError> {
        self.run_job(JobKind::Start, unit, timeout).await
    }

    /// Restart `unit` (job mode `replace`) and wait up to `timeout` for the job to finish.
    pub async fn restart_unit(&self, unit: &str, timeout: Duration) -> Result<(), SystemdError> {
        self.run_job(JobKind::Restart, unit, timeout).await
    }

    /// How often `unit` was restarted automatically (`NRestarts`, 0 for a unit that is not a
    /// loaded service) and when it last entered `active` (`ActiveEnterTimestamp`, `None` when
    /// never), read together with its state.
    pub async fn restart_facts(
        &self,
        unit: &str,
    ) -> Result<(UnitState, u32, Option<std::time::SystemTime>), SystemdError> {
        let ctx = || format!("reading the restart count of {unit}");
        let state = self.unit_state(unit).await?;
        if !state.is_loaded() {
            return Ok((state, 0, None));
        }
        let path = self
            .manager
            .load_unit(unit)
            .await
            .map_err(|e| self.call_error(e, Some(unit), &ctx()))?;
        let read = async {
            let u = UnitProxy::builder(&self.conn)
                .path(path.clone())?
                .cache_properties(CacheProperties::No)
                .build()
                .await?;
            let entered = u.active_enter_timestamp().await?;
            let restarts = if unit.ends_with(".service") {
                ServiceProxy::builder(&self.conn)
                    .path(path)?
                    .cache_properties(CacheProperties::No)
                    .build()
                    .await?
                    .n_restarts()
                    .await?
            } else {
                0
            };
            zbus::Result::Ok((restarts, entered))
        };
        let (restarts, entered) = read
            .await
            .map_err(|e| self.call_error(e, Some(unit), &ctx()))?;
        let entered =
            (entered != 0).then(|| std::time::UNIX_EPOCH + Duration::from_micros(entered));
        Ok((state, restarts, entered))
    }

    /// Stop the agent: its socket first, then the service, each within `timeout`.
    pub async fn stop_agent(
        &self,
        units: &AgentUnits,
        timeout: Duration,
    ) -> Result<(), SystemdError> {
        for unit in units.stop_order() {
            self.stop_unit(unit, timeout).await?;
        }
        Ok(())
    }

    /// Start the agent: its socket first, then the service, each within `timeout`.
    pub async fn start_agent(
        &self,
        units: &AgentUnits,
        timeout: Duration,
    ) -> Result<(), SystemdError> {
        for unit in units.start_order() {
            self.start_unit(unit, timeout).await?;
        }
        Ok(())
    }

    /// Send `signal` (e.g. `libc::SIGUSR1`) to the unit's main process or to all its processes.
    ///
    /// A unit that exists but has nothing to signal (stopped, or no main process) is a success,
    /// logged; a unit that does not exist is `NoSuchUnit`.
    pub async fn kill_unit(
        &self,
        unit: &str,
        whom: KillWhom,
        signal: i32,
    ) -> Result<(), SystemdError> {
        let what = format!("sending signal {signal} to {whom} processes of {unit}");
        tracing::info!("{what}");
        let Err(err) = self.manager.kill_unit(unit, whom.as_str(), signal).await else {
            return Ok(());
        };
        match super::error::dbus_error_name(&err) {
            // KillUnit only looks at loaded units, and systemd unloads stopped units nothing
            // refers to: tell "stopped" from "does not exist".
            Some((name, _)) if name == names::NO_SUCH_UNIT => {
                let state = self.unit_state(unit).await?;
                if state.is_loaded() {
                    tracing::info!("{unit} is not running; nothing to signal");
                    Ok(())
                } else {
                    Err(SystemdError::NoSuchUnit {
                        unit: unit.to_owned(),
                    })
                }
            }
            Some((name, message)) if name == names::NO_SUCH_PROCESS => {
                tracing::info!("{unit}: {message}; nothing to signal");
                Ok(())
            }
            _ => Err(self.call_error(err, Some(unit), &what)),
        }
    }

    /// Queue a job for `unit` and wait for its `JobRemoved`.
    async fn run_job(
        &self,
        kind: JobKind,
        unit: &str,
        timeout: Duration,
    ) -> Result<(), SystemdError> {
        let action = kind.action();
        let verb = match kind {
            JobKind::Start => "starting",
            JobKind::Stop => "stopping",
            JobKind::Restart => "restarting",
        };
        tracing::info!("{verb} {unit}");
        let what = format!("{verb} {unit}");

        // Listen before queuing: a job can finish before the reply to StopUnit arrives.
        let mut removed = self.job_removed_stream().await?;
        let queued = match kind {
            JobKind::Start => self.manager.start_unit(unit, "replace").await,
            JobKind::Stop => self.manager.stop_unit(unit, "replace").await,
            JobKind::Restart => self.manager.restart_unit(unit, "replace").await,
        };
        let job = queued.map_err(|e| self.call_error(e, Some(unit), &what))?;
        tracing::debug!("{verb} {unit}: job {}", job.as_str());

        let result = match tokio::time::timeout(timeout, wait_for_job(&mut removed, &job)).await {
            Ok(Some(result)) => result,
            Ok(None) => {
                return Err(SystemdError::DBus(format!(
                    "{what}: the bus connection closed while waiting for job {}",
                    job.as_str()
                )))
            }
            Err(_) => {
                tracing::warn!("{verb} {unit}: job not finished after {timeout:?}");
                return Err(SystemdError::JobTimeout {
                    unit: unit.to_owned(),
                    action,
                    after: timeout,
                });
            }
        };
        if result == "done" {
            tracing::info!(
                "{} {unit}",
                match kind {
                    JobKind::Start => "started",
                    JobKind::Stop => "stopped",
                    JobKind::Restart => "restarted",
                }
            );
            Ok(())
        } else {
            tracing::warn!("{verb} {unit}: job result {result}");
            Err(SystemdError::JobFailed {
                unit: unit.to_owned(),
                action,
                result,
            })
        }
    }

    /// A `JobRemoved` stream, subscribing this connection to manager signals first (once).
    async fn job_removed_stream(&self) -> Result<JobRemovedStream, SystemdError> {
        self.subscribed
            .get_or_try_init(|| async {
                match self.manager.subscribe().await {
                    Ok(()) => Ok(()),
                    // Older systemd refuses a second Subscribe from the same client.
                    Err(e) if is_already_subscribed(&e) => Ok(()),
                    Err(e) => Err(self.call_error(e, None, "subscribing to systemd signals")),
                }
            })
            .await?;
        self.manager
            .receive_job_removed()
            .await
            .map_err(|e| self.call_error(e, None, "listening for JobRemoved"))
    }

    fn call_error(&self, err: zbus::Error, unit: Option<&str>, what: &str) -> SystemdError {
        map_call_error(err, &self.address, unit, what)
    }
}

fn is_already_subscribed(err: &zbus::Error) -> bool {
    super::error::dbus_error_name(err)
        .is_some_and(|(name, _)| name == "org.freedesktop.systemd1.AlreadySubscribed")
}

/// The result of job `job`, or `None` when the stream ends (connection closed).
async fn wait_for_job(removed: &mut JobRemovedStream, job: &OwnedObjectPath) -> Option<String> {
    while let Some(signal) = removed.next().await {
        let Ok(args) = signal.args() else {
            tracing::debug!("ignoring a malformed JobRemoved signal");
            continue;
        };
        if args.job().as_str() == job.as_str() {
            tracing::debug!(
                "job {} ({} #{}) removed: {}",
                job.as_str(),
                args.unit(),
                args.id(),
                args.result()
            );
            return Some(args.result().to_string());
        }
    }
    None
}
