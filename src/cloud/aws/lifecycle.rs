//! Pure decisions for the daemon on a termination lifecycle hook and a spot interruption, no I/O:
//! the daemon feeds observations and the time in, does what the answer says, and reports back.
//!
//! Termination hook: heartbeat every `heartbeat_interval` while the drain progresses (fewer
//! tasks left than ever seen, or a new drain state); once it has not progressed for
//! `stuck_after`, stop heartbeating and complete with `on_stuck`; when the drain is done,
//! complete with `CONTINUE`. Once completed, never again.
//!
//! Spot: fit the drain's grace cap into the time left before the interruption minus a margin.

use std::time::{Duration, Instant, SystemTime};

use super::{LifecycleActionResult, SpotAction, SpotNotice};

/// Reserved after the tasks' grace period on a spot interruption: for the kills to land, the
/// master to mark the agent drained and the agent units to stop.
pub const SPOT_MARGIN: Duration = Duration::from_secs(30);
/// Of the time left on a spot interruption, what stopping the agent units keeps for itself: the
/// wait for DRAINED ends this long before the interruption.
pub const SPOT_UNIT_STOP_RESERVE: Duration = Duration::from_secs(10);

/// What the watch needs from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    pub heartbeat_interval: Duration,
    pub stuck_after: Duration,
    pub on_stuck: LifecycleActionResult,
}

/// One look at the drain: `None` where the daemon could not tell (that is not progress).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Tasks (and operations) still on the agent.
    pub tasks_left: Option<u64>,
    /// The master's drain state name (`DRAINING`, `DRAINED`, or gone after a decommission).
    pub drain_state: Option<String>,
    /// The drain waits for a slot in the fleet's budget (design.md: waiting for a slot is not
    /// "stuck"): heartbeats go on and `stuck_after` does not run until the next look.
    pub waiting_for_slot: bool,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tasks_left {
            Some(n) => write!(f, "{n} task(s) left")?,
            None => f.write_str("tasks left unknown")?,
        }
        match &self.drain_state {
            Some(s) => write!(f, ", drain state {s}"),
            None => f.write_str(", drain state unknown"),
        }
    }
}

/// How the drain ended, reported by the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrainEnd {
    /// Drained, decommissioned and the units stopped.
    Done,
    /// It failed (the reason is logged and sent nowhere); complete with `on_stuck` at once.
    Failed(String),
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The action is completed: no more Auto Scaling calls for it.
    Nothing,
    /// Keep waiting; nothing to send now.
    Wait,
    /// Send `RecordLifecycleActionHeartbeat`, then [`LifecycleWatch::heartbeat_sent`].
    Heartbeat,
    /// The drain is done: `CompleteLifecycleAction` with `CONTINUE`, then
    /// [`LifecycleWatch::completed`].
    CompleteContinue,
    /// No progress for `stuck_after` (or the drain failed): complete with `result` and log
    /// `held_by`, then [`LifecycleWatch::completed`].
    CompleteOnStuck {
        result: LifecycleActionResult,
        held_by: String,
    },
}

/// The state of one termination lifecycle action, as far as the daemon's decisions go.
#[derive(Debug, Clone)]
pub struct LifecycleWatch {
    cfg: WatchConfig,
    last_progress: Instant,
    last_heartbeat: Instant,
    last: Option<Progress>,
    fewest_tasks: Option<u64>,
    end: Option<DrainEnd>,
    completed: Option<LifecycleActionResult>,
    /// The last look said the drain waits for a fleet slot.
    waiting_for_slot: bool,
}

impl LifecycleWatch {
    /// The action started at `now` (the group's heartbeat timeout runs from there, so `now` also
    /// counts as the last heartbeat and as progress).
    pub fn new(cfg: WatchConfig, now: Instant) -> LifecycleWatch {
        LifecycleWatch {
            cfg,
            last_progress: now,
            last_heartbeat: now,
            last: None,
            fewest_tasks: None,
            end: None,
            completed: None,
            waiting_for_slot: false,
        }
    }

    /// After a daemon restart: `completed` from the marker (`Some`: it was completed before, so
    /// nothing will be sent again).
    pub fn resumed(
        cfg: WatchConfig,
        now: Instant,
        completed: Option<LifecycleActionResult>,
    ) -> LifecycleWatch {
        LifecycleWatch {
            completed,
            ..LifecycleWatch::new(cfg, now)
        }
    }

    /// Record an observation; `true` when it is progress (fewer tasks left than ever seen, or a
    /// drain state other than the last one seen).
    pub fn observe(&mut self, now: Instant, p: &Progress) -> bool {
        let fewer = match (p.tasks_left, self.fewest_tasks) {
            (Some(n), Some(best)) => n < best,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let last_state = self.last.as_ref().and_then(|l| l.drain_state.as_ref());
        let new_state = p.drain_state.is_some() && p.drain_state.as_ref() != last_state;
        if let Some(n) = p.tasks_left {
            self.fewest_tasks = Some(self.fewest_tasks.map_or(n, |b| b.min(n)));
        }
        // Keep the last known state when this look could not tell.
        let drain_state = p
            .drain_state
            .clone()
            .or_else(|| self.last.as_ref().and_then(|l| l.drain_state.clone()));
        self.last = Some(Progress {
            tasks_left: p.tasks_left,
            drain_state,
            waiting_for_slot: p.waiting_for_slot,
        });
        self.waiting_for_slot = p.waiting_for_slot;
        let progressed = fewer || new_state;
        if progressed {
            self.last_progress = now;
        }
        progressed
    }

    /// The drain finished one way or the other.
    pub fn drain_ended(&mut self, end: DrainEnd) {
        self.end = Some(end);
    }

    /// What to do at `now`. Pure: calling it again without reporting back gives the same answer,
    /// which is how a failed call is retried.
    pub fn decide(&self, now: Instant) -> Decision {
        if self.completed.is_some() {
            return Decision::Nothing;
        }
        match &self.end {
            Some(DrainEnd::Done) => return Decision::CompleteContinue,
            Some(DrainEnd::Failed(reason)) => {
                return Decision::CompleteOnStuck {
                    result: self.cfg.on_stuck,
                    held_by: format!("the drain failed: {reason}"),
                }
            }
            None => {}
        }
        let still = now.saturating_duration_since(self.last_progress);
        if still >= self.cfg.stuck_after && !self.waiting_for_slot {
            return Decision::CompleteOnStuck {
                result: self.cfg.on_stuck,
                held_by: self.held_by(now),
            };
        }
        if now.saturating_duration_since(self.last_heartbeat) >= self.cfg.heartbeat_interval {
            return Decision::Heartbeat;
        }
        Decision::Wait
    }

    /// How long from `now` until [`decide`](Self::decide) can answer something other than
    /// `Wait` without a new observation (`None`: it already does, or never will).
    pub fn next_due(&self, now: Instant) -> Option<Duration> {
        if self.decide(now) != Decision::Wait {
            return None;
        }
        let hb = (self.last_heartbeat + self.cfg.heartbeat_interval).saturating_duration_since(now);
        if self.waiting_for_slot {
            return Some(hb);
        }
        let stuck = (self.last_progress + self.cfg.stuck_after).saturating_duration_since(now);
        Some(hb.min(stuck))
    }

    pub fn heartbeat_sent(&mut self, now: Instant) {
        self.last_heartbeat = now;
    }

    /// The action was completed with `result` (or Auto Scaling says it has no active action for
    /// the instance any more): from now on [`Decision::Nothing`].
    pub fn completed(&mut self, result: LifecycleActionResult) {
        self.completed.get_or_insert(result);
    }

    pub fn completed_with(&self) -> Option<LifecycleActionResult> {
        self.completed
    }

    /// What holds the drain: the last observation and how long nothing moved.
    pub fn held_by(&self, now: Instant) -> String {
        let still = humantime::format_duration(Duration::from_secs(
            now.saturating_duration_since(self.last_progress).as_secs(),
        ));
        match &self.last {
            Some(p) => format!("{p}; no progress for {still}"),
            None => format!("no observation of the drain yet; no progress for {still}"),
        }
    }
}

/// How to drain on a spot interruption notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotPlan {
    pub action: SpotAction,
    /// Until the interruption (zero when it is already due).
    pub time_left: Duration,
    /// `max_grace_period` for DRAIN_AGENT: the configured one (if any) capped to the time left
    /// minus [`SPOT_MARGIN`]; zero kills at once.
    pub grace_cap: Duration,
    /// How long to wait for DRAINED before stopping the units anyway.
    pub drain_deadline: Duration,
}

/// Fit a drain into the time a spot notice leaves. `configured`: `drain.max_grace_period`.
pub fn spot_plan(
    notice: &SpotNotice,
    now: SystemTime,
    margin: Duration,
    configured: Option<Duration>,
) -> SpotPlan {
    let time_left = notice.time.duration_since(now).unwrap_or(Duration::ZERO);
    let fit = time_left.saturating_sub(margin);
    SpotPlan {
        action: notice.action.clone(),
        time_left,
        grace_cap: configured.map_or(fit, |c| c.min(fit)),
        drain_deadline: time_left.saturating_sub(SPOT_UNIT_STOP_RESERVE),
    }
}

/// Acts on the first spot notice only (the metadata keeps serving it until the end).
#[derive(Debug, Clone, Default)]
pub struct SpotWatch {
    acted: bool,
}

impl SpotWatch {
    /// `Some(plan)` the first time a notice is seen, `None` afterwards.
    pub fn on_notice(
        &mut self,
        notice: &SpotNotice,
        now: SystemTime,
        configured: Option<Duration>,
    ) -> Option<SpotPlan> {
        if self.acted {
            return None;
        }
        self.acted = true;
        Some(spot_plan(notice, now, SPOT_MARGIN, configured))
    }

    /// After a daemon restart with a spot drain in the marker.
    pub fn resumed(acted: bool) -> SpotWatch {
        SpotWatch { acted }
    }

    pub fn acted(&self) -> bool {
        self.acted
    }
}

#[cfg(test)]
mod tests;
