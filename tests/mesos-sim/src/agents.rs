//! The local agents of a [`Sim`] beyond the first: per-agent handles, and a read of which
//! tasks run where (for fakes of schedulers, such as a fake Marathon, that place and replace
//! tasks on agents).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::state::{Link, Shared};
use crate::{Sim, TaskCounts, TaskSpec};

/// One task as an agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskView {
    pub framework_id: String,
    pub id: String,
    pub name: String,
    /// `TASK_RUNNING`, `TASK_KILLING`, `TASK_KILLED`, ...
    pub state: String,
    /// Not yet completed (pending, queued, launched, or terminal and unacknowledged).
    pub live: bool,
}

/// One local agent, as the master and the agent see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentView {
    pub agent_id: String,
    pub hostname: String,
    /// The agent's own URL, e.g. `http://127.0.0.1:41236`.
    pub url: String,
    /// Listed by GET_AGENTS (registered, not unreachable, not gone).
    pub listed: bool,
    pub deactivated: bool,
    /// `DRAINING`, `DRAINED`, or none.
    pub drain_state: Option<String>,
    pub tasks: Vec<TaskView>,
}

impl Shared {
    /// This agent's view (see [`AgentView`]).
    pub(crate) fn agent_view(&self) -> AgentView {
        let c = self.lock();
        AgentView {
            agent_id: c.agent_id.clone(),
            hostname: c.hostname.clone(),
            url: format!("http://127.0.0.1:{}", self.agent_port),
            listed: c.listed(),
            deactivated: c.deactivated,
            drain_state: c.drain.as_ref().map(|d| d.state.name().to_owned()),
            tasks: c
                .tasks
                .iter()
                .map(|t| TaskView {
                    framework_id: t.framework_id.clone(),
                    id: t.id.clone(),
                    name: t.name.clone(),
                    state: t.state.clone(),
                    live: t.bucket.live(),
                })
                .collect(),
        }
    }

    /// Every local agent's view, the first agent first (called on the master's state).
    pub(crate) fn agent_views(self: &Arc<Self>) -> Vec<AgentView> {
        self.local_agents().iter().map(|a| a.agent_view()).collect()
    }
}

impl Sim {
    /// Every local agent (the first one, then [`crate::SimConfig::extra_agents`] in order):
    /// id, hostname, URL, the master's view and its tasks.
    pub fn agents(&self) -> Vec<AgentView> {
        self.shared.agent_views()
    }

    /// The URLs of every local agent, the first one ([`Sim::agent_url`]) first.
    pub fn agent_urls(&self) -> Vec<String> {
        self.shared
            .local_agents()
            .iter()
            .map(|a| format!("http://127.0.0.1:{}", a.agent_port))
            .collect()
    }

    /// A handle on local agent `index` (0 = the first agent), `None` past the last.
    pub fn agent(&self, index: usize) -> Option<SimAgent> {
        self.shared
            .local_agents()
            .get(index)
            .map(|a| SimAgent { shared: a.clone() })
    }

    /// Adds a task to the agent with this id (see [`Sim::add_task`]: a task added to a
    /// draining agent is killed like the others). False if no local agent has that id.
    pub fn add_task_to(&self, agent_id: &str, framework_id: &str, task: TaskSpec) -> bool {
        match self.shared.find_agent(agent_id) {
            Some(a) => {
                a.add_task(framework_id, task);
                true
            }
            None => false,
        }
    }
}

/// One local agent of a [`Sim`]; it shares the master and the request log with the others.
/// The agent-level knobs of [`Sim`], for this agent.
#[derive(Clone)]
pub struct SimAgent {
    shared: Arc<Shared>,
}

impl SimAgent {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.agent_port)
    }

    pub fn port(&self) -> u16 {
        self.shared.agent_port
    }

    /// The current id (a new one after it re-registers following a removal).
    pub fn id(&self) -> String {
        self.shared.lock().agent_id.clone()
    }

    pub fn hostname(&self) -> String {
        self.shared.lock().hostname.clone()
    }

    pub fn view(&self) -> AgentView {
        self.shared.agent_view()
    }

    /// The master's drain state of this agent (see [`Sim::drain_state`]).
    pub fn drain_state(&self) -> Option<String> {
        let c = self.shared.lock();
        c.drain.as_ref().map(|d| d.state.name().to_owned())
    }

    /// Polls [`SimAgent::drain_state`] until it equals `want` or the timeout passes.
    pub async fn wait_drain_state(&self, want: Option<&str>, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.drain_state().as_deref() == want {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn is_deactivated(&self) -> bool {
        self.shared.lock().deactivated
    }

    pub fn is_listed(&self) -> bool {
        self.shared.lock().listed()
    }

    pub fn is_gone(&self) -> bool {
        self.shared.lock().gone
    }

    pub fn task_counts(&self) -> TaskCounts {
        self.shared.lock().task_counts()
    }

    /// See [`Sim::add_task`].
    pub fn add_task(&self, framework_id: &str, task: TaskSpec) {
        self.shared.add_task(framework_id, task);
    }

    /// See [`Sim::stop_agent`].
    pub fn stop(&self) {
        self.shared.stop_agent(Link::Disconnected);
    }

    /// See [`Sim::start_agent`].
    pub fn start(&self) {
        self.shared.start_agent();
    }

    /// See [`Sim::unregister_agent`].
    pub fn unregister(&self) {
        self.shared.unregister_agent();
    }

    /// See [`Sim::acknowledge_all`].
    pub fn acknowledge_all(&self) {
        self.shared.acknowledge_all();
    }
}
