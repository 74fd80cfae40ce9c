//! Waiting for a slot: up to `fleet.wait`, woken by the backend's [`FleetLock::changed`] (a
//! ZooKeeper watch) or by a bounded backoff, with progress that names the holders.

use std::time::Duration;

use tokio::time::Instant;

use super::gone::{candidates, GoneAgents};
use super::{describe_holders, FleetError, FleetLock, Holder, Release, Take};

/// First pause between attempts of a polling backend; doubled up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// Longest pause between two attempts (also the longest a ZooKeeper watch is trusted alone).
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
/// How long the lock service may stay unreachable during a wait before the wait gives up with
/// that error (exit 3) instead of going on until `fleet.wait`.
pub const UNAVAILABLE_GRACE: Duration = Duration::from_secs(60);
/// A progress line at least this often, even when nothing changed.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// Pauses and limits of [`take_slot`]; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    pub first_pause: Duration,
    pub max_pause: Duration,
    pub unavailable_grace: Duration,
    pub progress_every: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            first_pause: FIRST_PAUSE,
            max_pause: MAX_PAUSE,
            unavailable_grace: UNAVAILABLE_GRACE,
            progress_every: PROGRESS_EVERY,
        }
    }
}

/// One progress report while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitProgress {
    pub group: String,
    pub waited: Duration,
    /// Time left of `fleet.wait`.
    pub remaining: Duration,
    /// The holders as last seen (empty when the backend cannot list them).
    pub holders: Vec<Holder>,
    /// The backend's word on why there is no slot, or the error that is being retried.
    pub detail: String,
}

impl WaitProgress {
    /// One human line: `waiting for a fleet slot in group g (3m of 30m): held by a (…), b (…)`.
    pub fn line(&self) -> String {
        let total = self.waited + self.remaining;
        let held = if self.holders.is_empty() {
            self.detail.clone()
        } else {
            format!("held by {}", describe_holders(&self.holders))
        };
        format!(
            "waiting for a fleet slot in group {} ({} of {}): {held}",
            self.group,
            humantime::format_duration(Duration::from_secs(self.waited.as_secs())),
            humantime::format_duration(Duration::from_secs(total.as_secs())),
        )
    }
}

/// A slot that was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// This holder id held it already (a resumed drain or a retried hook).
    pub already: bool,
    /// Time spent waiting for it.
    pub waited: Duration,
}

/// Takes a slot for `holder`, waiting up to `wait` (zero: one attempt). `progress` is called
/// when the holders change and at least every [`PROGRESS_EVERY`] while waiting.
///
/// Errors: [`FleetError::Refused`] (no slot, `wait` zero) and [`FleetError::Timeout`] (no slot
/// within `wait`), exit 5; [`FleetError::Unavailable`] when the lock service stays unreachable
/// for [`UNAVAILABLE_GRACE`] or until the end of `wait`, exit 3; [`FleetError::Config`] at once.
pub async fn take_slot(
    lock: &dyn FleetLock,
    holder: &Holder,
    wait: Duration,
    progress: impl FnMut(&WaitProgress),
) -> Result<Slot, FleetError> {
    take_slot_paced(lock, holder, wait, Pacing::default(), progress).await
}

/// [`take_slot`] that also releases the slots of holders whose agent `gone` says the master
/// reports gone (design.md: "released by whoever sees it"), then tries again at once. The
/// master is asked when the holders that could be gone change, and at most every
/// `progress_every` otherwise.
pub async fn take_slot_reaping(
    lock: &dyn FleetLock,
    holder: &Holder,
    wait: Duration,
    gone: &dyn GoneAgents,
    progress: impl FnMut(&WaitProgress),
) -> Result<Slot, FleetError> {
    take_slot_with(lock, holder, wait, Pacing::default(), Some(gone), progress).await
}

/// [`take_slot`] with explicit pacing.
pub async fn take_slot_paced(
    lock: &dyn FleetLock,
    holder: &Holder,
    wait: Duration,
    pacing: Pacing,
    progress: impl FnMut(&WaitProgress),
) -> Result<Slot, FleetError> {
    take_slot_with(lock, holder, wait, pacing, None, progress).await
}

/// Releases the holders `gone` reports; true when at least one slot was given back.
async fn reap(lock: &dyn FleetLock, gone: &dyn GoneAgents, holders: &[Holder]) -> bool {
    let mut freed = false;
    for h in gone.gone(holders).await {
        match lock.release(&h.id).await {
            Ok(Release::Released) => {
                tracing::warn!(
                    "fleet slot of {} in group {} given back: the master no longer lists its agent \
                     (a finished decommission)",
                    h.describe(),
                    lock.group()
                );
                freed = true;
            }
            Ok(Release::NotHeld) => freed = true,
            Err(e) => tracing::warn!(
                "cannot give back the slot of {} (its agent is gone): {e}",
                h.id
            ),
        }
    }
    freed
}

/// [`take_slot_paced`] with an optional [`GoneAgents`] (see [`take_slot_reaping`]).
pub async fn take_slot_with(
    lock: &dyn FleetLock,
    holder: &Holder,
    wait: Duration,
    pacing: Pacing,
    gone: Option<&dyn GoneAgents>,
    mut progress: impl FnMut(&WaitProgress),
) -> Result<Slot, FleetError> {
    // (candidate holder ids, when) of the last look at the master.
    let mut last_gone_check: Option<(Vec<String>, Instant)> = None;
    let start = Instant::now();
    let deadline = start + wait;
    let mut pause = pacing.first_pause;
    let mut unavailable_since: Option<Instant> = None;
    let mut last_holders: Option<Vec<String>> = None;
    let mut last_report: Option<Instant> = None;
    loop {
        let (revision, holders, detail) = match lock.take(holder).await {
            Ok(Take::Granted { already }) => {
                return Ok(Slot {
                    already,
                    waited: start.elapsed(),
                });
            }
            Ok(Take::Full {
                holders,
                revision,
                detail,
            }) => {
                unavailable_since = None;
                if let Some(g) = gone {
                    let ids: Vec<String> =
                        candidates(&holders).iter().map(|h| h.id.clone()).collect();
                    let due = !ids.is_empty()
                        && last_gone_check.as_ref().is_none_or(|(seen, at)| {
                            *seen != ids || at.elapsed() >= pacing.progress_every
                        });
                    if due {
                        last_gone_check = Some((ids, Instant::now()));
                        if reap(lock, g, &holders).await {
                            continue;
                        }
                    }
                }
                if wait.is_zero() {
                    return Err(FleetError::Refused {
                        group: lock.group().to_string(),
                        holders: holders_or_detail(&holders, &detail),
                    });
                }
                (Some(revision), holders, detail)
            }
            Err(e @ FleetError::Unavailable(_)) => {
                let since = *unavailable_since.get_or_insert_with(Instant::now);
                if wait.is_zero()
                    || since.elapsed() >= pacing.unavailable_grace
                    || Instant::now() >= deadline
                {
                    return Err(e);
                }
                (None, Vec::new(), e.to_string())
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(FleetError::Timeout {
                group: lock.group().to_string(),
                waited: wait,
                holders: holders_or_detail(&holders, &detail),
            });
        }
        let ids: Vec<String> = holders.iter().map(|h| h.id.clone()).collect();
        let due = last_report.is_none_or(|t| now.duration_since(t) >= pacing.progress_every);
        if due || last_holders.as_ref() != Some(&ids) {
            progress(&WaitProgress {
                group: lock.group().to_string(),
                waited: now.duration_since(start),
                remaining: deadline - now,
                holders,
                detail,
            });
            last_report = Some(now);
            last_holders = Some(ids);
        }
        let remaining = deadline - now;
        match revision {
            // A full group: wait for a change (a watch where the backend has one), bounded.
            Some(rev) => {
                let max = pause.min(remaining);
                match lock.changed(rev, max).await {
                    Ok(()) => {}
                    Err(FleetError::Unavailable(_)) => {
                        tokio::time::sleep(pacing.first_pause.min(remaining)).await
                    }
                    Err(e) => return Err(e),
                }
            }
            // The service could not be asked: back off before the next attempt.
            None => tokio::time::sleep(pause.min(remaining)).await,
        }
        pause = (pause * 2).min(pacing.max_pause);
    }
}

fn holders_or_detail(holders: &[Holder], detail: &str) -> String {
    if holders.is_empty() {
        if detail.is_empty() {
            "holders unknown".into()
        } else {
            detail.to_string()
        }
    } else {
        format!("held by {}", describe_holders(holders))
    }
}

/// What a never-refused drain (a spot notice, an OS shutdown under way) got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A slot was free (or already this holder's).
    Granted(Slot),
    /// No slot, or the lock service could not say within `budget`: the drain goes on anyway,
    /// over budget; the caller logs it and counts it in the metrics.
    OverBudget(FleetError),
}

/// For the triggers that are never refused (design.md: the node goes down anyway): one attempt
/// within `budget`, never waiting for a slot and never failing the drain. A slot taken here is
/// released like any other.
pub async fn admit_never_refused(
    lock: &dyn FleetLock,
    holder: &Holder,
    budget: Duration,
) -> Admission {
    match tokio::time::timeout(budget, lock.take(holder)).await {
        Ok(Ok(Take::Granted { already })) => Admission::Granted(Slot {
            already,
            waited: Duration::ZERO,
        }),
        Ok(Ok(Take::Full {
            holders, detail, ..
        })) => Admission::OverBudget(FleetError::Refused {
            group: lock.group().to_string(),
            holders: holders_or_detail(&holders, &detail),
        }),
        Ok(Err(e)) => Admission::OverBudget(e),
        Err(_) => Admission::OverBudget(FleetError::Unavailable(format!(
            "the {} lock did not answer within {}",
            lock.backend(),
            humantime::format_duration(budget)
        ))),
    }
}
