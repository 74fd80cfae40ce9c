//! What this node looks like from the outside (the master), from the inside (the local agent) and
//! from systemd, and the pure rules that turn those observations into drain states and a
//! "safe to reboot?" verdict. No I/O here: `check`, `status` and the drain executor feed it.

use serde::Serialize;

use crate::mesos::{AgentLookup, DrainState, FrameworkName, Operation, TaskBuckets};

/// The master's view of this agent.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterObs {
    /// The master could not be asked (unreachable, auth refused, garbled answer).
    Unreachable(String),
    Registered {
        drain: Phase,
        deactivated: bool,
        active: bool,
        mark_gone: bool,
    },
    /// Listed only under `recovered_agents` after a master failover.
    Recovered,
    /// Not listed at all: unreachable, removed, gone or unknown. Never "drained" by itself.
    Absent,
}

/// The master's `drain_info.state`, or its absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    None,
    Draining,
    Drained,
    Other(String),
}

impl MasterObs {
    pub fn from_lookup(lookup: &AgentLookup) -> MasterObs {
        match lookup {
            AgentLookup::Registered(a) => MasterObs::Registered {
                drain: match &a.drain {
                    None => Phase::None,
                    Some(d) => match &d.state {
                        DrainState::Draining => Phase::Draining,
                        DrainState::Drained => Phase::Drained,
                        DrainState::Other(s) => Phase::Other(s.clone()),
                    },
                },
                deactivated: a.deactivated,
                active: a.active,
                mark_gone: a.drain.as_ref().is_some_and(|d| d.mark_gone),
            },
            AgentLookup::Recovered => MasterObs::Recovered,
            AgentLookup::Absent => MasterObs::Absent,
        }
    }

    pub fn is_drained(&self) -> bool {
        matches!(
            self,
            MasterObs::Registered {
                drain: Phase::Drained,
                ..
            }
        )
    }

    pub fn deactivated(&self) -> Option<bool> {
        match self {
            MasterObs::Registered { deactivated, .. } => Some(*deactivated),
            _ => None,
        }
    }
}

/// The drain state as reported to users (`drain_state` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DrainStateName {
    None,
    Draining,
    Drained,
    Gone,
    Unknown,
}

impl DrainStateName {
    pub fn as_str(self) -> &'static str {
        match self {
            DrainStateName::None => "NONE",
            DrainStateName::Draining => "DRAINING",
            DrainStateName::Drained => "DRAINED",
            DrainStateName::Gone => "GONE",
            DrainStateName::Unknown => "UNKNOWN",
        }
    }
}

/// `decommissioned`: this tool's marker records a decommission drain of this agent, the only
/// evidence that lets an agent missing from the master count as GONE.
pub fn drain_state_name(master: &MasterObs, decommissioned: bool) -> DrainStateName {
    match master {
        MasterObs::Registered { drain, .. } => match drain {
            Phase::None => DrainStateName::None,
            Phase::Draining => DrainStateName::Draining,
            Phase::Drained => DrainStateName::Drained,
            Phase::Other(_) => DrainStateName::Unknown,
        },
        MasterObs::Absent if decommissioned => DrainStateName::Gone,
        _ => DrainStateName::Unknown,
    }
}

/// Work still on one framework's behalf on this agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameworkWork {
    pub id: String,
    pub name: String,
    /// pending + queued + launched + unacknowledged terminal
    pub live_tasks: usize,
    /// terminal tasks whose status update the scheduler has not acknowledged
    pub unacknowledged: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingOperation {
    pub id: Option<String>,
    pub framework_id: Option<String>,
    pub kind: Option<String>,
    pub state: Option<String>,
}

/// The local agent's view of the work it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalWork {
    pub frameworks: Vec<FrameworkWork>,
    pub pending_operations: Vec<PendingOperation>,
}

impl LocalWork {
    pub fn from_api(
        tasks: &TaskBuckets,
        operations: &[Operation],
        names: &[FrameworkName],
    ) -> LocalWork {
        use std::collections::BTreeMap;
        let mut by_fw: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for t in tasks.not_terminal() {
            by_fw.entry(&t.framework_id).or_default().0 += 1;
        }
        for t in &tasks.terminated {
            let e = by_fw.entry(&t.framework_id).or_default();
            e.0 += 1;
            e.1 += 1;
        }
        let frameworks = by_fw
            .into_iter()
            .map(|(id, (live_tasks, unacknowledged))| FrameworkWork {
                id: id.to_string(),
                name: names
                    .iter()
                    .find(|n| n.id == id)
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
                live_tasks,
                unacknowledged,
            })
            .collect();
        let pending_operations = operations
            .iter()
            .filter(|o| !o.is_terminal())
            .map(|o| PendingOperation {
                id: o.id.clone(),
                framework_id: o.framework_id.clone(),
                kind: o.kind.clone(),
                state: o.state.clone(),
            })
            .collect();
        LocalWork {
            frameworks,
            pending_operations,
        }
    }

    /// Pending, queued or launched: running or about to run (live minus unacknowledged terminal).
    pub fn running(&self) -> usize {
        self.live_tasks() - self.unacknowledged()
    }

    pub fn live_tasks(&self) -> usize {
        self.frameworks.iter().map(|f| f.live_tasks).sum()
    }

    pub fn unacknowledged(&self) -> usize {
        self.frameworks.iter().map(|f| f.unacknowledged).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.live_tasks() == 0 && self.pending_operations.is_empty()
    }

    /// One human reason per thing that keeps the node busy.
    pub fn reasons(&self) -> Vec<String> {
        let mut out = framework_reasons(&self.frameworks);
        for op in &self.pending_operations {
            out.push(format!(
                "operation {} ({}) is {}",
                op.id.as_deref().unwrap_or("<no id>"),
                op.kind.as_deref().unwrap_or("unknown type"),
                op.state.as_deref().unwrap_or("in an unknown state")
            ));
        }
        out
    }
}

/// Per framework: its tasks still running, and its terminal updates not yet acknowledged.
pub fn framework_reasons(frameworks: &[FrameworkWork]) -> Vec<String> {
    let mut out = Vec::new();
    for f in frameworks {
        let running = f.live_tasks.saturating_sub(f.unacknowledged);
        let who = framework_label(&f.id, &f.name);
        if running > 0 {
            out.push(format!(
                "{running} task(s) of framework {who} still running"
            ));
        }
        if f.unacknowledged > 0 {
            out.push(format!(
                "{} terminal update(s) of framework {who} not acknowledged by its scheduler",
                f.unacknowledged
            ));
        }
    }
    out
}

pub fn framework_label(id: &str, name: &str) -> String {
    if name.is_empty() {
        id.to_string()
    } else {
        format!("{name} ({id})")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LocalObs {
    Unreachable(String),
    Seen(LocalWork),
}

/// Evidence that lets a node be safe without its local agent answering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exceptions {
    /// systemd (over D-Bus) reports the agent unit stopped.
    pub agent_unit_stopped: bool,
    /// This tool's marker records a finished decommission of this agent.
    pub decommission_finished: bool,
    /// The master keeps this machine DOWN for maintenance: START_MAINTENANCE removed its agent,
    /// and the master shuts down any agent that registers from it.
    pub machine_down: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    NotSafe(Vec<String>),
    Undetermined(Vec<String>),
}

impl Verdict {
    pub fn reasons(&self) -> &[String] {
        match self {
            Verdict::Safe => &[],
            Verdict::NotSafe(r) | Verdict::Undetermined(r) => r,
        }
    }
}

/// Safe only when the master reports DRAINED (or the agent gone after this tool's decommission)
/// and the local agent has nothing live; a side that cannot be asked, or a drain state the master
/// leaves UNKNOWN, makes the answer undetermined, except for the documented exceptions.
pub fn evaluate(master: &MasterObs, local: &LocalObs, ex: Exceptions, agent_id: &str) -> Verdict {
    // Both end with the master no longer listing the agent: absence means "gone" only then.
    let gone_after_decommission =
        (ex.decommission_finished || ex.machine_down) && *master == MasterObs::Absent;
    let master_ok = master.is_drained() || gone_after_decommission;

    // design.md: 1 only when the master lists the agent with a drain state that is not DRAINED
    // (or the agent holds work); whenever the drain state is UNKNOWN the answer is 3.
    let mut undetermined = Vec::new();
    let mut not_safe = Vec::new();
    match master {
        MasterObs::Unreachable(why) => undetermined.push(format!("cannot ask the master: {why}")),
        _ if master_ok => {}
        MasterObs::Registered { drain, .. } => match drain {
            Phase::None => not_safe.push(format!(
                "the master does not report agent {agent_id} as draining"
            )),
            Phase::Draining => not_safe.push(format!(
                "the master reports agent {agent_id} still DRAINING"
            )),
            Phase::Other(s) => undetermined.push(format!(
                "the master reports agent {agent_id} in drain state {s}, which this tool does not know; cannot tell whether it is drained"
            )),
            Phase::Drained => unreachable!("drained handled above"),
        },
        MasterObs::Recovered => undetermined.push(format!(
            "agent {agent_id} has not re-registered with the master since its failover; cannot tell whether it is drained"
        )),
        MasterObs::Absent => undetermined.push(format!(
            "the master does not list agent {agent_id} (unreachable there, removed, or not re-registered since a failover); cannot tell whether it is drained"
        )),
    }
    match local {
        LocalObs::Unreachable(why) => {
            let excused = (master.is_drained() && ex.agent_unit_stopped) || gone_after_decommission;
            if !excused {
                undetermined.push(format!("cannot ask the local agent: {why}"));
            }
        }
        LocalObs::Seen(work) => not_safe.extend(work.reasons()),
    }
    if !undetermined.is_empty() {
        undetermined.extend(not_safe);
        Verdict::Undetermined(undetermined)
    } else if !not_safe.is_empty() {
        Verdict::NotSafe(not_safe)
    } else {
        Verdict::Safe
    }
}

#[cfg(test)]
mod tests;
