//! Small process helpers for the sandbox: find a process's descendants, recognise a PID across
//! time (start time), signal by PID only.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A process identified by PID and start time (so a recycled PID is never signalled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    pub pid: i32,
    pub start_time: u64,
}

/// `(ppid, start time)` of `pid` from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is field 4, starttime field 22.
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

impl ProcId {
    /// The process `pid` as it is now, if it exists.
    pub fn of(pid: i32) -> Option<ProcId> {
        stat(pid).map(|(_, start_time)| ProcId { pid, start_time })
    }

    /// Still the same process (and not a zombie that was reaped and its PID reused).
    pub fn is_alive(&self) -> bool {
        stat(self.pid).is_some_and(|(_, start)| start == self.start_time) && !is_zombie(self.pid)
    }

    /// Send `signal` if this is still the same process.
    pub fn signal(&self, signal: Signal) {
        if stat(self.pid).is_some_and(|(_, start)| start == self.start_time) {
            let _ = kill(Pid::from_raw(self.pid), signal);
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| {
            t.rfind(')')
                .map(|i| t[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// All current descendants of `root` (children, grandchildren, ...), not `root` itself.
pub fn descendants(root: i32) -> Vec<ProcId> {
    let mut children: HashMap<i32, Vec<ProcId>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some((ppid, start_time)) = stat(pid) {
                children
                    .entry(ppid)
                    .or_default()
                    .push(ProcId { pid, start_time });
            }
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for child in children.remove(&p).unwrap_or_default() {
            todo.push(child.pid);
            out.push(child);
        }
    }
    out
}

/// Poll `cond` every 50 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
