//! Showing a drain's progress: an updating line on a terminal, plain log lines otherwise. The
//! daemon plugs its own sink in (sd_notify STATUS, metrics).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::machine::Stage;
use crate::logging::PROGRESS;
use crate::node::{framework_label, FrameworkWork};

/// A snapshot of a running drain.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub remaining: Option<Duration>,
    pub master_state: String,
    pub frameworks: Vec<FrameworkWork>,
    pub pending_operations: usize,
}

impl Snapshot {
    pub fn live_tasks(&self) -> usize {
        self.frameworks.iter().map(|f| f.live_tasks).sum()
    }

    /// One human line: "DRAINING, 5 tasks left (marathon (fw1): 3, ...), 12s elapsed, 59m48s left".
    pub fn line(&self) -> String {
        let mut s = format!("{}, {} task(s) left", self.master_state, self.live_tasks());
        if !self.frameworks.is_empty() {
            let parts: Vec<String> = self
                .frameworks
                .iter()
                .map(|f| {
                    let mut p = format!("{}: {}", framework_label(&f.id, &f.name), f.live_tasks);
                    if f.unacknowledged > 0 {
                        p.push_str(&format!(" ({} unacknowledged)", f.unacknowledged));
                    }
                    p
                })
                .collect();
            s.push_str(&format!(" [{}]", parts.join(", ")));
        }
        if self.pending_operations > 0 {
            s.push_str(&format!(
                ", {} pending operation(s)",
                self.pending_operations
            ));
        }
        s.push_str(&format!(", {} elapsed", short(self.elapsed)));
        match self.remaining {
            Some(r) => s.push_str(&format!(", {} left", short(r))),
            None => s.push_str(", no deadline"),
        }
        s
    }
}

fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Where a drain's progress goes: told about every stage change and every poll. (A sink, not
/// an observation: gathering the node's state is `commands::observe` and `local_work`.)
pub trait ProgressSink: Send {
    fn stage(&mut self, _stage: Stage) {}
    fn progress(&mut self, _snapshot: &Snapshot) {}
    /// A notable action (DRAIN_AGENT sent, unit stopped, ...).
    fn action(&mut self, _what: &str) {}
    /// Called once when the drain ends (also on failure), e.g. to end a terminal line.
    fn finish(&mut self) {}
    /// Still waiting for a fleet slot (each minute, and when the holders change). Waiting for
    /// a slot is not being stuck.
    fn waiting_for_slot(&mut self, wait: &crate::fleet::WaitProgress) {
        self.action(&wait.line());
    }
    /// The fleet slot is held (`over_budget`: none was free and the drain goes on anyway),
    /// after `waited`.
    fn slot(&mut self, _over_budget: bool, _waited: Duration) {}
    /// The fleet slot was given back.
    fn slot_released(&mut self) {}
    /// Still waiting for the disruption budgets: what holds the drain (when it changes).
    /// Waiting for a budget is not being stuck either.
    fn waiting_for_budget(&mut self, holding: &[String]) {
        self.action(&format!(
            "waiting for the disruption budgets: {}",
            holding.join("; ")
        ));
    }
    /// The Budget stage passed after `waited`; `overridden`: the budgets did not allow it (or
    /// were ignored) and the `trigger`'s drain went on anyway.
    fn budget(&mut self, _trigger: &str, _overridden: bool, _waited: Duration) {}
}

/// How often a non-terminal sink repeats an unchanged progress line in the log.
const LOG_REPEAT: Duration = Duration::from_secs(30);

/// The command-line sink: a self-rewriting line on a TTY (stderr), log lines otherwise.
pub struct ConsoleSink {
    tty: bool,
    quiet: bool,
    last_line: String,
    last_logged: Option<Instant>,
    line_open: bool,
}

impl ConsoleSink {
    pub fn new(quiet: bool) -> ConsoleSink {
        ConsoleSink {
            tty: std::io::stderr().is_terminal(),
            quiet,
            last_line: String::new(),
            last_logged: None,
            line_open: false,
        }
    }

    fn close_line(&mut self) {
        if self.line_open {
            eprintln!();
            self.line_open = false;
        }
    }
}

impl ProgressSink for ConsoleSink {
    fn stage(&mut self, stage: Stage) {
        self.close_line();
        tracing::info!(stage = stage.name(), "drain stage {stage}");
    }

    fn progress(&mut self, snap: &Snapshot) {
        if self.quiet {
            return;
        }
        let line = snap.line();
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.line_open = true;
        } else {
            let due = self.last_logged.is_none_or(|t| t.elapsed() >= LOG_REPEAT);
            // The elapsed/left figures change every poll; repeat only when the work changed.
            let work_changed = strip_times(&line) != strip_times(&self.last_line);
            if work_changed || due {
                tracing::info!(target: PROGRESS, "{line}");
                self.last_logged = Some(Instant::now());
            }
        }
        self.last_line = line;
    }

    fn action(&mut self, what: &str) {
        self.close_line();
        tracing::info!(target: PROGRESS, "{what}");
    }

    fn finish(&mut self) {
        self.close_line();
    }
}

fn strip_times(line: &str) -> &str {
    match line.find(" elapsed").and_then(|i| line[..i].rfind(", ")) {
        Some(j) => &line[..j],
        None => line,
    }
}

/// Discards everything (tests, `--quiet` in the daemon).
pub struct NullSink;
impl ProgressSink for NullSink {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_names_frameworks_and_times() {
        let s = Snapshot {
            elapsed: Duration::from_millis(12_500),
            remaining: Some(Duration::from_secs(3588)),
            master_state: "DRAINING".into(),
            frameworks: vec![FrameworkWork {
                id: "fw1".into(),
                name: "marathon".into(),
                live_tasks: 3,
                unacknowledged: 1,
            }],
            pending_operations: 1,
        };
        assert_eq!(
            s.line(),
            "DRAINING, 3 task(s) left [marathon (fw1): 3 (1 unacknowledged)], 1 pending operation(s), 12s elapsed, 59m 48s left"
        );
        assert_eq!(
            strip_times(&s.line()),
            "DRAINING, 3 task(s) left [marathon (fw1): 3 (1 unacknowledged)], 1 pending operation(s)"
        );
    }
}
