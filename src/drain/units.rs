//! The unit stages of a drain: stop the agent's socket then its service (socket first, or a
//! queued connection restarts the agent), optionally signal and stop docker. Every finished action
//! is recorded in the marker, so a resumed drain does not repeat it and `reactivate` knows what
//! to start again.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::marker::{Marker, MarkerStore};
use super::progress::ProgressSink;
use super::DrainError;
use crate::config::UnitSettings;
use crate::systemd::{AgentUnits, KillWhom, Systemd, SystemdError};

/// Which units this node has and what to do with them; resolved before DRAIN_AGENT is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitPlan {
    pub agent: AgentUnits,
    /// `None` when docker is left alone (`units.stop_docker = false`).
    pub docker: Option<String>,
    pub docker_signal: Option<Signal>,
    pub job_timeout: Duration,
}

/// Finds the units a drain will stop, before DRAIN_AGENT is sent: a drain that could not stop
/// them must not start. The drain and its `--dry-run` both ask here.
pub async fn plan(
    systemd: Option<&Systemd>,
    units: &UnitSettings,
    stop_docker: bool,
) -> Result<UnitPlan, DrainError> {
    // polkit would only refuse the stop after DRAIN_AGENT went out; refuse before instead.
    let uid = nix::unistd::geteuid();
    if !uid.is_root() {
        return Err(DrainError::Undetermined(format!(
            "stopping the agent units needs root (running as uid {uid}; not root?); use --no-stop to leave them alone"
        )));
    }
    let Some(sd) = systemd else {
        return Err(DrainError::Undetermined(
            "stopping units needs systemd over D-Bus, which is not connected".into(),
        ));
    };
    let candidates = &units.agent;
    let agent = sd
        .detect_agent_units(candidates)
        .await
        .map_err(|e| DrainError::Undetermined(e.to_string()))?
        .ok_or_else(|| {
            DrainError::Config(format!(
                "no agent unit found (looked for {}); set units.agent or use --no-stop",
                candidates.join(", ")
            ))
        })?;
    let docker = if stop_docker {
        let name = &units.docker;
        match sd.unit_state(name).await {
            Ok(st) if st.is_loaded() => Some(name.clone()),
            Ok(_) => {
                tracing::info!("{name} is not loaded; docker is left alone");
                None
            }
            Err(e) => return Err(DrainError::Undetermined(e.to_string())),
        }
    } else {
        None
    };
    Ok(UnitPlan {
        agent,
        docker,
        docker_signal: units.docker_signal,
        job_timeout: units.job_timeout,
    })
}

pub fn stop_action(unit: &str) -> String {
    format!("stop {unit}")
}

pub fn signal_action(unit: &str, sig: Signal) -> String {
    format!("signal {} {unit}", sig.as_str())
}

/// Unit actions with their bookkeeping.
pub struct UnitStages<'a> {
    pub systemd: &'a Systemd,
    pub plan: &'a UnitPlan,
    pub store: &'a MarkerStore,
}

impl UnitStages<'_> {
    async fn once<F, Fut>(
        &self,
        marker: &mut Marker,
        sink: &mut dyn ProgressSink,
        action: String,
        f: F,
    ) -> Result<(), SystemdError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), SystemdError>>,
    {
        if marker.did(&action) {
            tracing::debug!("{action}: already done by an earlier run");
            return Ok(());
        }
        f().await?;
        sink.action(&action);
        marker.actions.push(action);
        if let Err(e) = self.store.save(marker) {
            tracing::warn!("cannot record unit action in the marker: {e}");
        }
        Ok(())
    }

    /// `forced`: the deadline passed with `--force`: SIGUSR1 first makes the agent unregister and
    /// kill its tasks, so the master stops waiting for them.
    pub async fn stop_agent(
        &self,
        marker: &mut Marker,
        sink: &mut dyn ProgressSink,
        forced: bool,
    ) -> Result<(), SystemdError> {
        let sd = self.systemd;
        let service = &self.plan.agent.service;
        let timeout = self.plan.job_timeout;
        if forced {
            let action = signal_action(service, Signal::SIGUSR1);
            self.once(marker, sink, action, || async {
                sd.kill_unit(service, KillWhom::Main, Signal::SIGUSR1 as i32)
                    .await
            })
            .await?;
        }
        if let Some(socket) = &self.plan.agent.socket {
            self.once(marker, sink, stop_action(socket), || async {
                sd.stop_unit(socket, timeout).await
            })
            .await?;
        }
        self.once(marker, sink, stop_action(service), || async {
            sd.stop_unit(service, timeout).await
        })
        .await
    }

    pub async fn stop_docker(
        &self,
        marker: &mut Marker,
        sink: &mut dyn ProgressSink,
    ) -> Result<(), SystemdError> {
        let Some(docker) = &self.plan.docker else {
            return Ok(());
        };
        let sd = self.systemd;
        if let Some(sig) = self.plan.docker_signal {
            self.once(marker, sink, signal_action(docker, sig), || async {
                sd.kill_unit(docker, KillWhom::Main, sig as i32).await
            })
            .await?;
        }
        let timeout = self.plan.job_timeout;
        self.once(marker, sink, stop_action(docker), || async {
            sd.stop_unit(docker, timeout).await
        })
        .await
    }
}
