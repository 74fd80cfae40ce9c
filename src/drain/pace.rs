//! How often to poll while waiting for DRAINED: fast when the end is near or something just
//! changed, slower while tasks are still being killed, never slower than a bound.

use std::time::Duration;

/// Poll interval of the local agent while tasks are still running (the master is not asked then).
/// The cap bounds how late the last task's end is seen, and DRAINED follows it by only the
/// acknowledgements: tasks of one framework usually share a kill grace period and die together
/// after a long quiet spell, so with a 2 s cap the median DRAINED-to-exit was about 0.5 s and the
/// p90 1.7 s (docs/benchmarks.md). The local agent is cheap to ask, whatever the cluster size.
pub const BUSY_MIN: Duration = Duration::from_millis(250);
pub const BUSY_MAX: Duration = Duration::from_millis(500);
/// Poll interval once nothing runs locally and only the master's verdict is missing: DRAINED can
/// come any moment, and the answer of the filtered endpoint is small.
pub const NEAR_MIN: Duration = Duration::from_millis(100);
pub const NEAR_MAX: Duration = Duration::from_secs(1);
/// Even while tasks run, ask the master this often (to notice a cancelled or removed drain).
pub const MASTER_MAX_GAP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Pacer {
    current: Duration,
    near: bool,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            current: NEAR_MIN,
            near: true,
        }
    }
}

impl Pacer {
    /// The wait before the next poll. `changed`: the observation differs from the previous one.
    /// `near_done`: nothing is running locally any more.
    pub fn next(&mut self, changed: bool, near_done: bool) -> Duration {
        let (min, max) = if near_done {
            (NEAR_MIN, NEAR_MAX)
        } else {
            (BUSY_MIN, BUSY_MAX)
        };
        if changed || near_done != self.near {
            self.current = min;
        } else {
            self.current = (self.current * 3 / 2).clamp(min, max);
        }
        self.near = near_done;
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_while_nothing_changes_and_resets_on_change() {
        let mut p = Pacer::default();
        assert_eq!(p.next(false, false), BUSY_MIN);
        let a = p.next(false, false);
        let b = p.next(false, false);
        assert!(b > a && a > BUSY_MIN);
        for _ in 0..20 {
            p.next(false, false);
        }
        assert_eq!(p.next(false, false), BUSY_MAX);
        assert_eq!(p.next(true, false), BUSY_MIN);
        assert_eq!(p.next(false, true), NEAR_MIN);
        for _ in 0..20 {
            p.next(false, true);
        }
        assert_eq!(p.next(false, true), NEAR_MAX);
    }
}
