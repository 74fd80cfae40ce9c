//! The daemon's cloud termination watcher (AWS first): polls the instance metadata for a
//! scale-in (`autoscaling/target-lifecycle-state` = Terminated) or a spot interruption notice,
//! starts the matching decommission drain, and drives the lifecycle action: heartbeats while the
//! drain progresses, CompleteLifecycleAction once (CONTINUE when drained, `on_stuck` when stuck).
//! Decisions come from `cloud::aws::lifecycle`; this file does the calls and the bookkeeping.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cloud::aws::lifecycle::{Decision, DrainEnd, LifecycleWatch, Progress, SpotWatch};
use crate::cloud::aws::{AwsClients, LifecycleActionResult, TargetLifecycleState};
use crate::context::Ctx;
use crate::drain::{current_boot_id, DrainRequest, Marker, Trigger};

pub const LIFECYCLE_FILE: &str = "lifecycle.json";
/// The longest wait before a metadata service that does not answer is asked again.
pub const CONNECT_RETRY: Duration = Duration::from_secs(30);
/// How long after a failed heartbeat or completion it is sent again.
pub const CALL_RETRY: Duration = Duration::from_secs(1);

/// How long to wait after the `failures`-th failed attempt in a row (1 for the first) to reach
/// the metadata service: one poll interval, doubling with each further failure, at most
/// [`CONNECT_RETRY`]. A service that is only slow to come up (the daemon may start before the
/// network is online) is found again within seconds: a spot notice leaves two minutes.
pub fn connect_backoff(poll_interval: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    poll_interval
        .saturating_mul(1 << doublings)
        .min(CONNECT_RETRY)
}

/// What has been sent for this instance's lifecycle action, kept beside the drain marker so that
/// a restarted daemon never completes twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRecord {
    pub instance_id: String,
    /// `CONTINUE` or `ABANDON` once CompleteLifecycleAction succeeded.
    pub completed: Option<String>,
    /// A spot drain was started for this instance.
    #[serde(default)]
    pub spot_acted: bool,
}

fn record_path(state_dir: &Path) -> PathBuf {
    state_dir.join(LIFECYCLE_FILE)
}

/// The record of this instance; a missing, unreadable or other instance's record is none.
pub fn load_record(state_dir: &Path, instance_id: &str) -> Option<LifecycleRecord> {
    crate::state_file::read_json::<LifecycleRecord>(&record_path(state_dir))
        .ok()
        .flatten()
        .filter(|r| r.instance_id == instance_id)
}

fn save_record(state_dir: &Path, rec: &LifecycleRecord) {
    if let Err(e) = crate::state_file::write_json(state_dir, LIFECYCLE_FILE, rec) {
        tracing::error!(
            "cannot record the lifecycle action in {}: {e}",
            record_path(state_dir).display()
        );
    }
}

pub struct CloudWatcher {
    clients: Option<AwsClients>,
    /// No attempt to reach the metadata service before this.
    next_connect: Option<Instant>,
    /// Failed attempts in a row.
    connect_failures: u32,
    watch: Option<LifecycleWatch>,
    spot: SpotWatch,
    record: Option<LifecycleRecord>,
    /// What keeps the drain from finishing, from its last look at the agent (for the log when
    /// the action is completed as stuck).
    holders: Vec<String>,
    /// The drain ended in failure (not stuck): said so in the log.
    drain_failed: bool,
    /// After a failed Auto Scaling call: not again before this.
    retry_at: Option<Instant>,
}

/// A drain the watcher wants the daemon to run.
pub struct CloudDrain {
    pub request: DrainRequest,
    pub label: &'static str,
}

impl CloudWatcher {
    pub fn new() -> CloudWatcher {
        CloudWatcher {
            clients: None,
            next_connect: None,
            connect_failures: 0,
            watch: None,
            spot: SpotWatch::default(),
            record: None,
            holders: Vec::new(),
            drain_failed: false,
            retry_at: None,
        }
    }

    /// A lifecycle action is being driven (heartbeats or completion still to come).
    pub fn active(&self) -> bool {
        self.watch
            .as_ref()
            .is_some_and(|w| w.completed_with().is_none())
    }

    async fn ensure_connected(&mut self, ctx: &Ctx) -> bool {
        if self.clients.is_some() {
            return true;
        }
        if self.next_connect.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match AwsClients::connect(&ctx.settings.aws.target()).await {
            Ok(c) => {
                tracing::info!(
                    instance = %c.target.instance_id,
                    region = %c.region,
                    "watching the Auto Scaling lifecycle of this instance"
                );
                self.connect_failures = 0;
                self.next_connect = None;
                let rec = load_record(&ctx.settings.state_dir, &c.target.instance_id);
                if let Some(r) = &rec {
                    // A spot drain that a restart interrupted is picked up again (the executor
                    // resumes it from the marker, without a second DRAIN_AGENT).
                    let resume = r.spot_acted && unfinished_drain(ctx, Trigger::Spot).is_some();
                    if resume {
                        tracing::info!(
                            "a spot drain was interrupted; resuming it while the notice stands"
                        );
                    }
                    self.spot = SpotWatch::resumed(r.spot_acted && !resume);
                }
                self.record = rec.or_else(|| {
                    Some(LifecycleRecord {
                        instance_id: c.target.instance_id.clone(),
                        completed: None,
                        spot_acted: false,
                    })
                });
                self.clients = Some(c);
                true
            }
            Err(e) => {
                self.connect_failures += 1;
                let wait = connect_backoff(ctx.settings.aws.poll_interval, self.connect_failures);
                self.next_connect = Some(Instant::now() + wait);
                tracing::warn!(
                    "instance metadata not available ({e}); retrying in {}, nothing drained",
                    humantime::format_duration(wait)
                );
                false
            }
        }
    }

    /// One look at the metadata; `Some` when a drain must start now.
    pub async fn poll(&mut self, ctx: &Ctx) -> Option<CloudDrain> {
        if !self.ensure_connected(ctx).await {
            return None;
        }
        let clients = self.clients.as_ref()?;
        let aws = &ctx.settings.aws;
        if aws.spot && !self.spot.acted() {
            match clients.imds.spot_instance_action().await {
                Ok(Some(notice)) => {
                    let plan = self.spot.on_notice(
                        &notice,
                        SystemTime::now(),
                        ctx.settings.drain.max_grace_period,
                    )?;
                    tracing::warn!(
                        "spot interruption notice ({notice}): draining now, grace capped at {}, deadline {}",
                        humantime::format_duration(plan.grace_cap),
                        humantime::format_duration(plan.drain_deadline)
                    );
                    if let Some(r) = self.record.as_mut() {
                        r.spot_acted = true;
                        save_record(&ctx.settings.state_dir, r);
                    }
                    return Some(CloudDrain {
                        request: DrainRequest::spot(
                            &ctx.settings,
                            plan.grace_cap,
                            plan.drain_deadline,
                            &notice.to_string(),
                        ),
                        label: "spot",
                    });
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot read the spot notice (will retry): {e}"),
            }
        }
        if self.watch.is_some() {
            return None;
        }
        match clients.imds.target_lifecycle_state().await {
            Ok(Some(TargetLifecycleState::Terminated)) => {
                let completed = self
                    .record
                    .as_ref()
                    .and_then(|r| r.completed.as_deref())
                    .and_then(LifecycleActionResult::parse);
                let cfg = aws.watch_config();
                let mut watch = LifecycleWatch::resumed(cfg, Instant::now(), completed);
                if let Some(result) = completed {
                    tracing::info!(
                        "the lifecycle action of this instance was completed ({}) before; nothing more to do",
                        result.as_str()
                    );
                    self.watch = Some(watch);
                    return None;
                }
                // Drained and decommissioned already (the daemon restarted before the completion
                // went through, or a spot drain came first): a new drain would only fail on the
                // stopped agent and complete with `on_stuck`. The node is out: CONTINUE.
                if let Some(agent_id) = finished_decommission(ctx).await {
                    tracing::info!(
                        "the Auto Scaling group is terminating this instance; agent {agent_id} was already drained and decommissioned in this boot: completing the lifecycle action"
                    );
                    watch.drain_ended(DrainEnd::Done);
                    self.watch = Some(watch);
                    return None;
                }
                self.watch = Some(watch);
                tracing::warn!(
                    "the Auto Scaling group is terminating this instance: decommission drain"
                );
                Some(CloudDrain {
                    request: DrainRequest::scale_in(&ctx.settings),
                    label: "scale-in",
                })
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("cannot read the target lifecycle state (will retry): {e}");
                None
            }
        }
    }

    /// `holders`: what keeps the drain from finishing, when this look could tell.
    pub fn observe(&mut self, p: &Progress, holders: Option<Vec<String>>) {
        if let Some(h) = holders {
            self.holders = h;
        }
        if let Some(w) = self.watch.as_mut() {
            if w.observe(Instant::now(), p) {
                tracing::debug!("drain progress: {p}");
            }
        }
    }

    pub fn drain_ended(&mut self, end: DrainEnd) {
        self.drain_failed = matches!(end, DrainEnd::Failed(_));
        if let Some(w) = self.watch.as_mut() {
            w.drain_ended(end);
        }
    }

    /// When the watcher wants to be asked again (heartbeat or stuck deadline; at once when a
    /// call is due, or at the retry time after a failed one). Computed from fixed instants, so
    /// a loop that re-arms its timer on every other event still gets there.
    pub fn next_due(&self) -> Option<Duration> {
        let w = self
            .watch
            .as_ref()
            .filter(|w| w.completed_with().is_none())?;
        let now = Instant::now();
        Some(w.next_due(now).unwrap_or_else(|| {
            self.retry_at
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
        }))
    }

    /// Sends what the decision asks for: a heartbeat, or the one completion.
    pub async fn act(&mut self, ctx: &Ctx) {
        let (Some(w), Some(clients)) = (self.watch.as_mut(), self.clients.as_ref()) else {
            return;
        };
        let now = Instant::now();
        let result = match w.decide(now) {
            Decision::Nothing | Decision::Wait => return,
            Decision::Heartbeat => {
                match clients.autoscaling.record_heartbeat(&clients.target).await {
                    Ok(()) => {
                        tracing::info!("lifecycle heartbeat sent (the drain is progressing)");
                        w.heartbeat_sent(now);
                        self.retry_at = None;
                    }
                    Err(e) => {
                        tracing::warn!("lifecycle heartbeat failed (will retry): {e}");
                        self.retry_at = Some(Instant::now() + CALL_RETRY);
                    }
                }
                return;
            }
            Decision::CompleteContinue => LifecycleActionResult::Continue,
            Decision::CompleteOnStuck { result, held_by } if self.drain_failed => {
                tracing::warn!(
                    "{held_by}; completing the lifecycle action with {}",
                    result.as_str()
                );
                result
            }
            Decision::CompleteOnStuck { result, held_by } => {
                let holders = if self.holders.is_empty() {
                    String::new()
                } else {
                    format!("; held by: {}", self.holders.join("; "))
                };
                tracing::warn!(
                    "the drain made no progress for {} ({held_by}{holders}); completing the lifecycle action with {}",
                    humantime::format_duration(ctx.settings.aws.stuck_after),
                    result.as_str()
                );
                result
            }
        };
        match clients.autoscaling.complete(&clients.target, result).await {
            Ok(()) => {
                tracing::info!("CompleteLifecycleAction {} sent", result.as_str());
                w.completed(result);
            }
            Err(e)
                if matches!(
                    e.api_kind(),
                    Some(crate::cloud::aws::ApiErrorKind::NoActiveLifecycleAction)
                ) =>
            {
                tracing::info!(
                    "the lifecycle action is no longer active ({e}); treating it as completed"
                );
                w.completed(result);
            }
            Err(e) => {
                tracing::warn!("CompleteLifecycleAction failed (will retry): {e}");
                self.retry_at = Some(Instant::now() + CALL_RETRY);
                return;
            }
        }
        if let Some(r) = self.record.as_mut() {
            r.completed = Some(result.as_str().to_string());
            save_record(&ctx.settings.state_dir, r);
        }
    }
}

/// The marker's drain of this boot with `trigger`, when it has not reached a terminal stage.
fn unfinished_drain(ctx: &Ctx, trigger: Trigger) -> Option<Marker> {
    ctx.markers()
        .load()
        .ok()
        .flatten()
        .filter(|m| m.trigger == trigger && m.unfinished())
        .filter(|m| m.is_this_boot(&current_boot_id()))
}

/// The agent id of a decommission drain that finished in this boot, unless the local agent now
/// answers as another (registered) agent, which would need its own drain.
async fn finished_decommission(ctx: &Ctx) -> Option<String> {
    let m = ctx
        .markers()
        .load()
        .ok()
        .flatten()
        .filter(|m| m.decommission_done())
        .filter(|m| m.is_this_boot(&current_boot_id()))?;
    let current = match ctx.agent() {
        Ok(agent) => agent.get_agent().await.ok().and_then(|info| info.id),
        Err(_) => None,
    };
    match current {
        Some(id) if id != m.agent_id => None,
        _ => Some(m.agent_id),
    }
}

impl Default for CloudWatcher {
    fn default() -> Self {
        CloudWatcher::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_backoff_starts_at_the_poll_interval_and_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (1..=6).map(|n| connect_backoff(ms(200), n)).collect();
        assert_eq!(
            waits,
            [ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(6400)]
        );
        let s = Duration::from_secs;
        let waits: Vec<Duration> = (1..=5).map(|n| connect_backoff(s(5), n)).collect();
        assert_eq!(waits, [s(5), s(10), s(20), CONNECT_RETRY, CONNECT_RETRY]);
        assert_eq!(connect_backoff(s(5), 0), s(5));
        assert_eq!(connect_backoff(s(5), u32::MAX), CONNECT_RETRY);
        assert_eq!(connect_backoff(s(60), 1), CONNECT_RETRY);
    }
}
