//! `mesos-maint daemon`: the long-running service. Holds logind inhibitor locks while the node
//! has work, drains on PrepareForShutdown(true), reactivates after a boot when this tool drained
//! the node for a reboot, talks to systemd (READY, STATUS, STOPPING, WATCHDOG), exports metrics,
//! and handles SIGTERM/SIGINT (release locks, keep the marker) and SIGHUP (reload config).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;

use crate::config::{Loader, Overrides};
use crate::context::Ctx;
use crate::drain::{current_boot_id, DrainError, Outcome};
use crate::exit::Exit;
use crate::local_work;
use crate::mesos::AgentClient;
use crate::node::LocalObs;
use crate::systemd::login::{BLOCK_WHY, DELAY_WHY, WHO};
use crate::systemd::{InhibitMode, InhibitorLock, Logind, ShutdownSignals, INHIBIT_SHUTDOWN};

use super::boot::{reactivate_after_boot, BootOutcome};
use super::cloud::CloudWatcher;
use super::metrics::{self, Metrics};
use super::policy::{after_boot, desired_locks, finished_drain_this_boot, BootAction, Locks, Work};
use super::running::RunningDrain;
use super::shutdown::shutdown_request;
use super::sink::{DaemonSink, DrainProgress};
use crate::cloud::aws::lifecycle::DrainEnd;
use crate::systemd::notify::{watchdog_ping_interval, watchdog_timeout, Notifier};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// How often the local agent is asked whether the node has work (never the master: idle is cheap).
pub const WORK_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// How often a lost logind connection is retried.
pub const LOGIND_RETRY: Duration = Duration::from_secs(30);
/// How long one attempt to reach logind may take.
pub const LOGIND_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type BootFuture = Pin<Box<dyn Future<Output = anyhow::Result<BootOutcome>>>>;

struct State {
    ctx: Ctx,
    overrides: Overrides,
    notifier: Notifier,
    metrics: Arc<Metrics>,
    logind: Option<Logind>,
    logind_tried: Option<Instant>,
    delay_lock: Option<InhibitorLock>,
    block_lock: Option<InhibitorLock>,
    work: Work,
    /// The client of the idle work polls, built once (a new one per poll re-read the system's
    /// CA roots every 10 s) and again after a reload.
    agent: Option<AgentClient>,
    /// Between PrepareForShutdown(true) and (false): locks are not re-taken.
    shutting_down: bool,
    /// `[aws] enabled`: the cloud termination watcher.
    cloud: Option<CloudWatcher>,
    /// Drain progress for the cloud watcher's heartbeat/stuck decisions.
    progress_tx: UnboundedSender<DrainProgress>,
}

pub async fn run(ctx: Ctx, overrides: Overrides) -> anyhow::Result<Exit> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let metrics = Arc::new(Metrics::new());
    if let Some(listen) = ctx.settings.daemon.metrics_listen {
        // Bound before READY=1, so the endpoint answers once systemd reports the unit started.
        match metrics::bind(listen).await {
            Ok(listener) => {
                let m = metrics.clone();
                tokio::spawn(async move {
                    if let Err(e) = metrics::serve_on(listener, m).await {
                        tracing::error!("metrics endpoint on {listen} failed: {e}");
                    }
                });
            }
            Err(e) => tracing::error!("{e}; running without metrics"),
        }
    }
    if ctx.settings.daemon.block_inhibitor {
        tracing::warn!(
            "daemon.block_inhibitor is on: it only stops unprivileged reboots (root bypasses block \
             locks before systemd 257); the delay lock is what holds a shutdown back"
        );
    }
    let (progress_tx, mut progress_rx) = unbounded_channel::<DrainProgress>();
    let cloud_enabled = ctx.settings.aws.enabled;
    let mut st = State {
        ctx,
        overrides,
        notifier: Notifier::from_env(),
        metrics,
        logind: None,
        logind_tried: None,
        delay_lock: None,
        block_lock: None,
        work: Work::Unknown,
        agent: None,
        shutting_down: false,
        cloud: cloud_enabled.then(CloudWatcher::new),
        progress_tx,
    };
    // A slot the marker says this node still holds (a drain for a reboot, a daemon restarted
    // mid-drain) is in the gauge from the start: the drain that took it ran in another process.
    if st
        .ctx
        .markers()
        .load_or_warn()
        .and_then(|m| m.fleet)
        .is_some_and(|f| !f.released && !f.over_budget)
    {
        st.metrics.fleet_slot(false, Duration::ZERO);
    }
    let mut cloud_poll = tokio::time::interval(st.ctx.settings.aws.poll_interval);
    cloud_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown_signals = st.connect_logind().await;
    let mut boot = st.boot_task();
    // The one running drain, owned here: a shutdown's or a cloud termination's.
    let mut drain: Option<RunningDrain> = None;
    let mut poll = tokio::time::interval(WORK_POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watchdog = watchdog_timeout().map(watchdog_ping_interval);
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));

    let _ = st.notifier.ready();
    tracing::info!("mesos-maint daemon running");
    loop {
        tokio::select! {
            sig = signals.next() => match sig {
                Some(SIGHUP) => st.reload(drain.is_some()),
                _ => {
                    tracing::info!("stopping (signal); locks released, marker kept");
                    break;
                }
            },
            _ = poll.tick(), if drain.is_none() => {
                if st.logind.is_none() && st.logind_tried.is_none_or(|t| t.elapsed() >= LOGIND_RETRY) {
                    shutdown_signals = st.connect_logind().await;
                }
                st.observe_work().await;
                st.apply_locks().await;
            }
            start = next_shutdown(&mut shutdown_signals) => match start {
                Some(true) if drain.is_none() => drain = st.on_shutdown().await,
                // A drain (the cloud's) already runs: no second one, but no lock taken again
                // after it either, until logind says the shutdown was cancelled.
                Some(true) => st.shutting_down = true,
                Some(false) => {
                    st.shutdown_cancelled();
                    // Cover the node again now, not at the next poll (up to 10 s later): a
                    // second shutdown in that window would find no lock to wait for.
                    if drain.is_none() {
                        st.observe_work().await;
                        st.apply_locks().await;
                    }
                }
                None => {
                    tracing::warn!("lost the connection to logind; retrying");
                    shutdown_signals = None;
                    st.logind = None;
                    st.release_locks();
                }
            },
            result = async { drain.as_mut().expect("guarded").finished().await }, if drain.is_some() => {
                let ended = drain.take().expect("guarded");
                let end = match &result {
                    Ok(_) => DrainEnd::Done,
                    Err(e) => DrainEnd::Failed(e.to_string()),
                };
                st.drain_finished(&ended, result);
                let ctx = st.ctx.clone();
                if let Some(c) = st.cloud.as_mut() {
                    c.drain_ended(end);
                    c.act(&ctx).await;
                }
            }
            result = async { boot.as_mut().expect("guarded").await }, if boot.is_some() => {
                boot = None;
                match result {
                    Ok(BootOutcome::Reactivated(r)) => tracing::info!("reactivated the agent after the reboot ({r:?})"),
                    Ok(BootOutcome::NewIdentity(id)) => tracing::warn!("the agent came back as {id}; nothing to reactivate"),
                    Err(e) => {
                        st.metrics.inc_error("master");
                        tracing::error!("{e:#}");
                    }
                }
            }
            _ = dog.tick(), if watchdog.is_some() => { let _ = st.notifier.watchdog(); }
            _ = cloud_poll.tick(), if st.cloud.is_some() && drain.is_none() => {
                drain = st.poll_cloud().await;
            }
            Some(p) = progress_rx.recv() => {
                if let Some(c) = st.cloud.as_mut() {
                    c.observe(&p.progress, p.holders);
                }
            }
            _ = tokio::time::sleep(st.cloud_due()), if st.cloud.as_ref().is_some_and(CloudWatcher::active) => {
                let ctx = st.ctx.clone();
                if let Some(c) = st.cloud.as_mut() {
                    c.act(&ctx).await;
                }
            }
        }
    }
    let _ = st.notifier.stopping();
    st.release_locks();
    Ok(Exit::Ok)
}

async fn next_shutdown(signals: &mut Option<ShutdownSignals>) -> Option<bool> {
    match signals {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl State {
    /// Bounded in time: a bus that accepts the connection but never answers (dbus-daemon stuck,
    /// a chroot or an image build with a stale socket) must not hold the loop, and with it
    /// READY=1 and SIGTERM, forever. Only the first failure warns; retries (every
    /// [`LOGIND_RETRY`]) log at debug, so a node without logind (image build) stays quiet.
    async fn connect_logind(&mut self) -> Option<ShutdownSignals> {
        let first = self.logind_tried.is_none();
        self.logind_tried = Some(Instant::now());
        let attempt = async {
            let logind = Logind::connect().await.map_err(|e| e.to_string())?;
            // The stream exists before any lock is taken, so no PrepareForShutdown is missed.
            let stream = logind
                .prepare_for_shutdown_stream()
                .await
                .map_err(|e| format!("cannot subscribe to PrepareForShutdown: {e}"))?;
            Ok::<_, String>((logind, stream))
        };
        let failure = match tokio::time::timeout(LOGIND_CONNECT_TIMEOUT, attempt).await {
            Ok(Ok((logind, stream))) => {
                if !first {
                    tracing::info!("connected to logind");
                }
                self.logind = Some(logind);
                return Some(stream);
            }
            Ok(Err(e)) => e,
            Err(_) => format!("the system bus did not answer within {LOGIND_CONNECT_TIMEOUT:?}"),
        };
        self.metrics.inc_error("logind");
        if first {
            tracing::warn!(
                "logind not available ({failure}); no shutdown handling until it is (retrying \
                 every {LOGIND_RETRY:?})"
            );
        } else {
            tracing::debug!("logind still not available: {failure}");
        }
        None
    }

    fn boot_task(&self) -> Option<BootFuture> {
        let store = self.ctx.markers();
        let marker = match store.load() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("unreadable marker left alone: {e}");
                return None;
            }
        };
        match after_boot(marker.as_ref(), &current_boot_id()) {
            BootAction::Nothing => None,
            BootAction::LeaveAlone(why) => {
                tracing::info!("marker from an earlier boot left alone: {why}");
                None
            }
            BootAction::Reactivate { agent_id } => {
                tracing::info!("this tool drained agent {agent_id} for a reboot: reactivating it once it is back");
                let ctx = self.ctx.clone();
                let metrics = self.metrics.clone();
                Some(Box::pin(async move {
                    let agent = ctx.agent()?;
                    let master = ctx
                        .master(&agent, crate::context::DRAIN_RETRY_BUDGET)
                        .await?;
                    let marker = ctx.markers().load_or_warn();
                    let outcome =
                        reactivate_after_boot(&agent, &master, &ctx.markers(), &agent_id).await?;
                    // The node is back in the cluster: the drain's fleet slot goes back.
                    if ctx.release_fleet_slot(marker.as_ref(), &master).await {
                        metrics.fleet_slot_released();
                    }
                    Ok(outcome)
                }))
            }
        }
    }

    /// The local agent only: is there work a shutdown would interrupt?
    async fn observe_work(&mut self) {
        if self.agent.is_none() {
            match self.ctx.agent() {
                Ok(agent) => self.agent = Some(agent),
                Err(e) => tracing::error!("{e:#}"),
            }
        }
        let work = match &self.agent {
            Some(agent) => match local_work::observe(agent, local_work::Names::Skip).await {
                LocalObs::Seen(w) => {
                    self.metrics.set_tasks_left(w.live_tasks() as u64);
                    if w.is_empty() {
                        Work::Idle
                    } else {
                        Work::Busy
                    }
                }
                LocalObs::Unreachable(e) => {
                    tracing::debug!("local agent not answering: {e}");
                    Work::Unknown
                }
            },
            None => Work::Unknown,
        };
        if work != self.work {
            tracing::info!("node work: {:?} -> {:?}", self.work, work);
            self.work = work;
        }
    }

    async fn apply_locks(&mut self) {
        if self.shutting_down {
            return;
        }
        let d = &self.ctx.settings.daemon;
        let want: Locks = desired_locks(self.work, d.delay_inhibitor, d.block_inhibitor);
        let Some(logind) = self.logind.clone() else {
            return;
        };
        for (mode, wanted, why) in [
            (InhibitMode::Delay, want.delay, DELAY_WHY),
            (InhibitMode::Block, want.block, BLOCK_WHY),
        ] {
            let slot = match mode {
                InhibitMode::Delay => &mut self.delay_lock,
                InhibitMode::Block => &mut self.block_lock,
            };
            match (wanted, slot.is_some()) {
                (true, false) => match logind.inhibit(INHIBIT_SHUTDOWN, WHO, why, mode).await {
                    Ok(lock) => {
                        tracing::info!("holding a {mode} inhibitor lock on shutdown");
                        *slot = Some(lock);
                    }
                    Err(e) => {
                        tracing::warn!("cannot take the {mode} inhibitor lock: {e}");
                        self.metrics.inc_error("logind");
                    }
                },
                (false, true) => {
                    tracing::info!("releasing the {mode} inhibitor lock (no work on the node)");
                    *slot = None;
                }
                _ => {}
            }
            self.metrics.set_inhibitor_held(mode, slot.is_some());
        }
        let status = format!(
            "{}; {}",
            match self.work {
                Work::Busy => "node has work",
                Work::Idle => "node idle",
                Work::Unknown => "local agent not answering",
            },
            if self.delay_lock.is_some() {
                "holding the shutdown delay lock"
            } else {
                "no lock held"
            }
        );
        let _ = self.notifier.status(&status);
    }

    async fn on_shutdown(&mut self) -> Option<RunningDrain> {
        self.shutting_down = true;
        if self.delay_lock.is_none() {
            tracing::info!("shutdown announced; no delay lock held (no work), nothing to drain");
            self.block_lock = None;
            return None;
        }
        let marker = self.ctx.markers().load_or_warn();
        if let Some(trigger) = finished_drain_this_boot(marker.as_ref(), &current_boot_id()) {
            self.observe_work().await;
            if self.work == Work::Unknown {
                tracing::info!(
                    "shutdown announced; the {trigger:?} drain of this boot finished and stopped \
                     the agent, which no longer answers: releasing the lock, nothing to drain"
                );
                self.release_locks();
                let _ = self.notifier.status("node already drained; lock released");
                return None;
            }
        }
        let delay = match &self.logind {
            Some(l) => l.inhibit_delay_max().await.unwrap_or_else(|e| {
                tracing::warn!(
                    "cannot read InhibitDelayMaxUSec ({e}); assuming logind's default 5s"
                );
                Duration::from_secs(5)
            }),
            None => Duration::from_secs(5),
        };
        // An unreadable marker is the executor's to report; here it only means "ours".
        let earlier = self.ctx.markers().load_or_warn();
        let request = shutdown_request(
            &self.ctx.settings,
            delay,
            earlier.as_ref(),
            &current_boot_id(),
        );
        Some(RunningDrain::start(
            &self.ctx,
            request,
            self.sink("shutdown"),
        ))
    }

    /// The sink of a drain started now, named `label` in the log, STATUS and metrics.
    fn sink(&self, label: &'static str) -> DaemonSink {
        DaemonSink {
            progress: Some(self.progress_tx.clone()),
            notifier: self.notifier.clone(),
            metrics: self.metrics.clone(),
            label,
        }
    }

    /// A cloud termination (scale-in or spot) starts its decommission drain here.
    async fn poll_cloud(&mut self) -> Option<RunningDrain> {
        let ctx = self.ctx.clone();
        let cd = self.cloud.as_mut()?.poll(&ctx).await?;
        Some(RunningDrain::start(
            &self.ctx,
            cd.request,
            self.sink(cd.label),
        ))
    }

    /// When the cloud watcher wants to act next (a heartbeat or the stuck deadline).
    fn cloud_due(&self) -> Duration {
        self.cloud
            .as_ref()
            .and_then(CloudWatcher::next_due)
            .unwrap_or(Duration::from_secs(1))
    }

    fn drain_finished(&mut self, ended: &RunningDrain, result: Result<Outcome, DrainError>) {
        let took = ended.started.elapsed();
        let label = ended.label;
        let outcome = match &result {
            Ok(o) => {
                tracing::info!(
                    "{} drain done in {:.1}s; locks released",
                    label,
                    o.elapsed.as_secs_f64()
                );
                metrics::Outcome::Done
            }
            Err(e @ DrainError::DeadlineExceeded { .. }) => {
                tracing::warn!(
                    "{} drain: {e}; releasing the locks anyway so a shutdown goes on",
                    label
                );
                metrics::Outcome::DeadlineExceeded
            }
            Err(
                e @ (DrainError::Busy(_) | DrainError::HookRefused(_) | DrainError::Refused(_)),
            ) => {
                tracing::warn!(
                    "{} drain refused: {e}; releasing the locks so a shutdown goes on",
                    label
                );
                metrics::Outcome::Refused
            }
            Err(e) => {
                tracing::error!(
                    "{} drain failed: {e}; releasing the locks so a shutdown goes on",
                    label
                );
                self.metrics.inc_error("drain");
                metrics::Outcome::Failed
            }
        };
        self.metrics.finish_drain(outcome, took);
        self.metrics.set_drain_stage(None);
        self.release_locks();
        let _ = self
            .notifier
            .status(&format!("{} drain ended; locks released", label));
    }

    /// Drops both logind locks (closing their fds) and says so in the metrics.
    fn release_locks(&mut self) {
        self.delay_lock = None;
        self.block_lock = None;
        self.metrics.set_inhibitor_held(InhibitMode::Delay, false);
        self.metrics.set_inhibitor_held(InhibitMode::Block, false);
    }

    fn shutdown_cancelled(&mut self) {
        if self.shutting_down {
            tracing::info!(
                "shutdown cancelled (PrepareForShutdown false): taking the locks again as needed"
            );
        }
        self.shutting_down = false;
    }

    fn reload(&mut self, draining: bool) {
        if draining {
            tracing::info!("SIGHUP during a drain: the running drain keeps its settings");
        }
        match Loader::system().load(&self.overrides) {
            Ok((settings, warnings)) => {
                for w in warnings {
                    tracing::warn!("{w}");
                }
                self.ctx.settings = settings;
                self.agent = None;
                tracing::info!("configuration reloaded");
            }
            Err(e) => {
                self.metrics.inc_error("config");
                tracing::error!("configuration reload failed, keeping the previous one: {e}");
            }
        }
    }
}
