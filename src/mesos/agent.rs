//! Local agent operator API (port 5051): who am I, what still runs here.
//!
//! Read calls filter silently by ACL: empty lists from an under-privileged principal do not prove
//! the agent is empty. That is the caller's concern; this module reports what it was told.

use std::sync::Arc;

use serde::Serialize;
use url::Url;

use super::error::MesosError;
use super::transport::{shown, Transport};
use super::types::{AgentResponseWire, AgentStateV0Wire, Call, OperationWire, TaskWire};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentInfo {
    /// Absent until the agent has registered (or recovered its id from its checkpoint).
    pub id: Option<String>,
    pub hostname: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub task_id: String,
    pub framework_id: String,
    pub name: String,
    /// `TaskState` name, e.g. `TASK_RUNNING`; unknown names kept verbatim.
    pub state: String,
    /// State of the latest status update not yet acknowledged by the scheduler, if any.
    pub status_update_state: Option<String>,
    /// The task's labels, `(key, value)` (a label without a value has an empty one).
    pub labels: Vec<(String, String)>,
}

impl From<TaskWire> for Task {
    fn from(t: TaskWire) -> Task {
        Task {
            task_id: t.task_id.value,
            framework_id: t.framework_id.value,
            name: t.name,
            state: t.state,
            status_update_state: t.status_update_state,
            labels: t
                .labels
                .map(|l| {
                    l.labels
                        .into_iter()
                        .map(|l| (l.key, l.value.unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// GET_TASKS without the acknowledged `completed_tasks` history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskBuckets {
    pub pending: Vec<Task>,
    pub queued: Vec<Task>,
    pub launched: Vec<Task>,
    /// Terminal but not yet acknowledged: still holds the drain.
    pub terminated: Vec<Task>,
}

impl TaskBuckets {
    pub fn live_count(&self) -> usize {
        self.pending.len() + self.queued.len() + self.launched.len() + self.terminated.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live_count() == 0
    }

    /// The tasks that are not terminal: pending, queued and launched (without the terminal
    /// ones still waiting for their acknowledgement).
    pub fn not_terminal(&self) -> impl Iterator<Item = &Task> {
        self.pending
            .iter()
            .chain(&self.queued)
            .chain(&self.launched)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    pub id: Option<String>,
    pub framework_id: Option<String>,
    /// `Offer.Operation.Type` name, e.g. `CREATE_DISK`.
    pub kind: Option<String>,
    /// `latest_status.state`, e.g. `OPERATION_PENDING`.
    pub state: Option<String>,
}

/// `isTerminalState(OperationState)` in Mesos.
const TERMINAL_OPERATION_STATES: [&str; 5] = [
    "OPERATION_FINISHED",
    "OPERATION_FAILED",
    "OPERATION_ERROR",
    "OPERATION_DROPPED",
    "OPERATION_GONE_BY_OPERATOR",
];

impl Operation {
    /// Unknown or missing states count as still running: better to wait than to cut one short.
    pub fn is_terminal(&self) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| TERMINAL_OPERATION_STATES.contains(&s))
    }
}

impl From<OperationWire> for Operation {
    fn from(o: OperationWire) -> Operation {
        let status = o.latest_status.unwrap_or_default();
        let info = o.info.unwrap_or_default();
        let id = info.id.or(status.operation_id).or(o.uuid).map(|v| v.value);
        Operation {
            id,
            framework_id: o.framework_id.map(|v| v.value),
            kind: info.kind,
            state: status.state,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameworkName {
    pub id: String,
    pub name: String,
}

/// The few facts of the agent's v0 `/state` used to find the master and the agent's IP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentState {
    pub id: Option<String>,
    pub hostname: Option<String>,
    /// `slave(1)@<ip>:<port>`.
    pub pid: Option<String>,
    /// Reverse lookup of the leading master's IP, as the agent knows it.
    pub master_hostname: Option<String>,
    /// The agent's `--master` flag: `host:port`, `zk://…` or `file://…`.
    pub master_flag: Option<String>,
    /// The agent's `--work_dir` flag (sandboxes, checkpoints), when it reports one.
    pub work_dir: Option<String>,
}

pub struct AgentClient {
    transport: Arc<Transport>,
    base: Url,
}

impl AgentClient {
    pub fn new(transport: Arc<Transport>, base: Url) -> AgentClient {
        AgentClient { transport, base }
    }

    pub fn url(&self) -> &Url {
        &self.base
    }

    pub async fn get_agent(&self) -> Result<AgentInfo, MesosError> {
        let (url, bytes) = self.v1("GET_AGENT").await?;
        decode_agent_info(&url, &bytes)
    }

    pub async fn get_tasks(&self) -> Result<TaskBuckets, MesosError> {
        let (url, bytes) = self.v1("GET_TASKS").await?;
        decode_tasks(&url, &bytes)
    }

    pub async fn get_operations(&self) -> Result<Vec<Operation>, MesosError> {
        let (url, bytes) = self.v1("GET_OPERATIONS").await?;
        decode_operations(&url, &bytes)
    }

    /// Running and completed frameworks, to put names on framework ids.
    pub async fn get_frameworks(&self) -> Result<Vec<FrameworkName>, MesosError> {
        let (url, bytes) = self.v1("GET_FRAMEWORKS").await?;
        decode_frameworks(&url, &bytes)
    }

    /// v0 `GET /state`.
    pub async fn state(&self) -> Result<AgentState, MesosError> {
        let (url, bytes) = self.transport.get(&self.base, "/state", None).await?;
        decode_state(&url, &bytes)
    }

    /// v0 `GET /health`: `Ok` on a 2xx answer. Bounded by the transport's request timeout;
    /// callers wanting a shorter bound wrap it in their own timeout.
    pub async fn health(&self) -> Result<(), MesosError> {
        self.transport
            .get(&self.base, "/health", Some(4096))
            .await?;
        Ok(())
    }

    async fn v1(&self, kind: &str) -> Result<(Url, bytes::Bytes), MesosError> {
        self.transport.call(&self.base, &Call::simple(kind)).await
    }
}

// The decoders are pure (bytes in, typed answer or a Decode error out) so that the parsers of
// what the agent sends can be fuzzed without a server (tests/fuzz).

/// A GET_AGENT answer.
pub fn decode_agent_info(url: &Url, bytes: &[u8]) -> Result<AgentInfo, MesosError> {
    let r: AgentResponseWire = decode(url, bytes)?;
    let info = r
        .get_agent
        .ok_or_else(|| missing(url, "get_agent"))?
        .agent_info;
    let port = match info.port {
        None => None,
        Some(p) => Some(u16::try_from(p).map_err(|_| MesosError::Decode {
            url: shown(url),
            detail: format!("agent port {p} out of range"),
        })?),
    };
    Ok(AgentInfo {
        id: info.id.map(|v| v.value),
        hostname: info.hostname,
        port,
    })
}

/// A GET_TASKS answer.
pub fn decode_tasks(url: &Url, bytes: &[u8]) -> Result<TaskBuckets, MesosError> {
    let r: AgentResponseWire = decode(url, bytes)?;
    let t = r.get_tasks.ok_or_else(|| missing(url, "get_tasks"))?;
    let conv = |v: Vec<TaskWire>| v.into_iter().map(Task::from).collect();
    Ok(TaskBuckets {
        pending: conv(t.pending_tasks),
        queued: conv(t.queued_tasks),
        launched: conv(t.launched_tasks),
        terminated: conv(t.terminated_tasks),
    })
}

/// A GET_OPERATIONS answer.
pub fn decode_operations(url: &Url, bytes: &[u8]) -> Result<Vec<Operation>, MesosError> {
    let r: AgentResponseWire = decode(url, bytes)?;
    let ops = r
        .get_operations
        .ok_or_else(|| missing(url, "get_operations"))?;
    Ok(ops.operations.into_iter().map(Operation::from).collect())
}

/// A GET_FRAMEWORKS answer: running and completed frameworks with an id.
pub fn decode_frameworks(url: &Url, bytes: &[u8]) -> Result<Vec<FrameworkName>, MesosError> {
    let r: AgentResponseWire = decode(url, bytes)?;
    let f = r
        .get_frameworks
        .ok_or_else(|| missing(url, "get_frameworks"))?;
    Ok(f.frameworks
        .into_iter()
        .chain(f.completed_frameworks)
        .filter_map(|fw| {
            let id = fw.framework_info.id?.value;
            Some(FrameworkName {
                id,
                name: fw.framework_info.name,
            })
        })
        .collect())
}

/// A v0 `/state` answer.
pub fn decode_state(url: &Url, bytes: &[u8]) -> Result<AgentState, MesosError> {
    let s: AgentStateV0Wire = decode(url, bytes)?;
    Ok(AgentState {
        id: s.id,
        hostname: s.hostname,
        pid: s.pid,
        master_hostname: s.master_hostname,
        master_flag: s.flags.master,
        work_dir: s.flags.work_dir,
    })
}

fn decode<T: serde::de::DeserializeOwned>(url: &Url, bytes: &[u8]) -> Result<T, MesosError> {
    serde_json::from_slice(bytes).map_err(|e| MesosError::Decode {
        url: shown(url),
        detail: e.to_string(),
    })
}

fn missing(url: &Url, field: &str) -> MesosError {
    MesosError::Decode {
        url: shown(url),
        detail: format!("answer has no `{field}` object"),
    }
}

#[cfg(test)]
mod tests;
