//! The daemon's periodic node health checks (design.md "Node health"): every `health.interval`
//! one pass of the five checks, then, with `health.auto_repair`, the repairs `health --repair`
//! would make, under the same rate limit. Each pass and each repair is a future the run loop
//! polls beside its other branches, so a check that hangs for its whole timeout never holds up
//! a shutdown, the inhibitor locks or the cloud watcher. The decisions (what changed, the gauge
//! values, the STATUS words, whether a repair may run) are `health::watch`'s, unit-tested there.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::context::Ctx;
use crate::health::repair::{Action, Repair};
use crate::health::watch::{self, Watch};
use crate::health::{guard, Observation, Probe, CHECK_TIMEOUT};

use super::metrics::Metrics;

/// Bound of one pass. The checks run concurrently, each bounded by `CHECK_TIMEOUT`; the agent's
/// `/state` and then the master's answer come one after the other, and systemd may take
/// `SYSTEMD_CONNECT_TIMEOUT` to connect: well under this.
pub const PASS_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished future brings back to the run loop.
pub enum Step {
    /// A pass: the probe it used (kept for the next pass) and what it saw; `Err`: the probe
    /// could not be built or the pass took longer than [`PASS_TIMEOUT`].
    Observed(Option<Arc<Probe>>, Result<Observation, String>),
    /// Repairs carried out (restarted or refused), or why they could not be.
    Repaired(Result<Vec<Repair>, String>),
    /// A drain began between the pass and the repair: nothing was done.
    HeldBack(String),
}

type StepFuture = Pin<Box<dyn Future<Output = Step>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pass,
    Repair,
}

/// What the run loop tells a finished pass about the node right now.
pub struct Node<'a> {
    pub auto_repair: bool,
    /// Why a drain is under way (the daemon's own, or one that holds the drain lock or left an
    /// unfinished marker), if one is.
    pub drain: Option<String>,
    pub shutting_down: bool,
    pub metrics: &'a Metrics,
}

/// The periodic checks: the last results, the probe reused between passes, and the one pass or
/// repair in flight (never two at once: the next pass is due `interval` after one ends).
pub struct HealthTask {
    watch: Watch,
    probe: Option<Arc<Probe>>,
    running: Option<(Kind, StepFuture)>,
    interval: Duration,
    due: Instant,
    /// The last reason a pass could not run, logged once.
    last_error: Option<String>,
}

impl HealthTask {
    /// The first pass comes one `interval` after the start, not at once: at boot the daemon
    /// starts beside the agent, and a pass at once would log an agent still starting as failing.
    pub fn new(interval: Duration) -> HealthTask {
        HealthTask {
            watch: Watch::new(),
            probe: None,
            running: None,
            interval,
            due: Instant::now() + interval,
            last_error: None,
        }
    }

    pub fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// After a reload: the probe is built again from the new settings at the next pass; a new
    /// interval counts from now; 0 turns the checks off (the gauges go, and the last results
    /// are forgotten, so turning them on again logs what fails afresh).
    pub fn reconfigure(&mut self, interval: Duration, metrics: &Metrics) {
        self.probe = None;
        if interval == self.interval {
            return;
        }
        tracing::info!(
            "health checks: every {}",
            if interval.is_zero() {
                "0s (off)".to_string()
            } else {
                humantime::format_duration(interval).to_string()
            }
        );
        self.interval = interval;
        self.due = Instant::now() + interval;
        if interval.is_zero() {
            self.running = None;
            self.watch = Watch::new();
            metrics.set_health_check(None);
        }
    }

    /// A drain or a shutdown starts: a repair not yet carried out is dropped. (A restart job
    /// already queued with systemd runs to its end; the drain's stop job follows it.)
    pub fn hold_repairs(&mut self) {
        if matches!(self.running, Some((Kind::Repair, _))) {
            tracing::info!("automatic repair skipped: a drain or a shutdown starts");
            self.running = None;
        }
    }

    /// The `STATUS=` words naming an unhealthy check, if any.
    pub fn status_words(&self) -> Option<String> {
        self.watch.status_words()
    }

    /// The next finished pass or repair. Cancel-safe (a `select!` branch): a future in flight
    /// stays here and is polled again by the next call; only the wait before a pass is dropped.
    pub async fn next(&mut self, ctx: &Ctx) -> Step {
        if self.running.is_none() {
            if !self.enabled() {
                return std::future::pending().await;
            }
            tokio::time::sleep_until(self.due).await;
            self.running = Some((Kind::Pass, self.pass(ctx)));
        }
        let (_, future) = self.running.as_mut().expect("set above");
        let step = future.await;
        self.running = None;
        step
    }

    fn pass(&self, ctx: &Ctx) -> StepFuture {
        // A probe without systemd is built again: the bus may be back.
        let probe = self.probe.clone().filter(|p| p.systemd.is_some());
        let ctx = ctx.clone();
        Box::pin(async move {
            let probe = match probe {
                Some(p) => p,
                None => match ctx.transport_with_retry(Duration::ZERO) {
                    Ok(t) => Arc::new(Probe::new(
                        ctx.settings.clone(),
                        t,
                        ctx.systemd_if_available().await,
                    )),
                    Err(e) => return Step::Observed(None, Err(format!("{e:#}"))),
                },
            };
            let seen = tokio::time::timeout(PASS_TIMEOUT, probe.observe())
                .await
                .map_err(|_| format!("the checks took longer than {PASS_TIMEOUT:?}"));
            Step::Observed(Some(probe), seen)
        })
    }

    /// Take a finished step in: log what changed, set the gauges, start the repairs a pass
    /// calls for when they may run. Returns whether the `STATUS=` words changed.
    pub fn finished(&mut self, step: Step, node: Node<'_>) -> bool {
        match step {
            Step::Observed(probe, seen) => {
                self.due = Instant::now() + self.interval;
                if probe.is_some() {
                    self.probe = probe;
                }
                match seen {
                    Ok(seen) => {
                        self.last_error = None;
                        self.observed(seen, node)
                    }
                    Err(e) => {
                        if self.last_error.as_ref() != Some(&e) {
                            tracing::warn!("health checks could not run: {e}");
                            self.last_error = Some(e);
                        }
                        false
                    }
                }
            }
            Step::Repaired(Ok(repairs)) => {
                // Refusals (the rate limit, Docker with work) were logged where decided.
                for r in repairs.iter().filter(|r| r.action == Action::Restarted) {
                    tracing::info!("automatic repair: restarted {}: {}", r.unit, r.detail);
                }
                false
            }
            Step::Repaired(Err(e)) => {
                node.metrics.inc_error("systemd");
                tracing::error!("automatic repair failed: {e}");
                false
            }
            Step::HeldBack(why) => {
                if self.watch.hold_back(Some(why.clone())) {
                    tracing::warn!("automatic repair skipped: {why}");
                }
                false
            }
        }
    }

    fn observed(&mut self, seen: Observation, node: Node<'_>) -> bool {
        let before = self.watch.status_words();
        watch::log_changes(&self.watch.update(&seen.checks));
        for gauge in self.watch.gauges() {
            node.metrics.set_health_check(Some(gauge));
        }
        let changed = self.watch.status_words() != before;
        if seen.failing().is_empty() {
            self.watch.hold_back(None);
            return changed;
        }
        match watch::may_auto_repair(node.auto_repair, node.drain.as_deref(), node.shutting_down) {
            Ok(()) => {
                self.watch.hold_back(None);
                if let Some(probe) = self.probe.clone() {
                    self.running = Some((Kind::Repair, repair(probe, seen)));
                }
            }
            // Off: nothing to say; the failure itself was logged.
            Err(_) if !node.auto_repair => {}
            Err(why) => {
                if self.watch.hold_back(Some(why.clone())) {
                    tracing::warn!(
                        "automatic repair skipped ({} failing): {why}",
                        seen.failing().join(", ")
                    );
                }
            }
        }
        changed
    }
}

/// The repairs `seen` calls for, as `health --repair` makes them. The drain guard is asked again
/// right before: a drain started by hand since the pass began wins.
fn repair(probe: Arc<Probe>, seen: Observation) -> StepFuture {
    Box::pin(async move {
        if let Some(why) = guard::drain_under_way(&probe.settings.state_dir) {
            return Step::HeldBack(why);
        }
        // Docker's safety facts (one check timeout), then a restart job per unit at most.
        let bound = CHECK_TIMEOUT * 2 + probe.settings.units.job_timeout * 2;
        let result = match tokio::time::timeout(bound, probe.repair(&seen)).await {
            Ok(r) => r.map_err(|e| format!("{e:#}")),
            Err(_) => Err(format!("the repair took longer than {bound:?}")),
        };
        Step::Repaired(result)
    })
}
