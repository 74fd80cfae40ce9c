//! Asking the local agent what work it holds (GET_TASKS and GET_OPERATIONS together), for
//! `check`/`status`, the drain executor and the daemon's reboot gate alike.

use crate::mesos::{AgentClient, FrameworkName};
use crate::node::{LocalObs, LocalWork};

/// What to do about framework names, which only the text output and progress lines show.
pub enum Names<'a> {
    /// Leave them out (the daemon's idle poll: one request pair, nothing more).
    Skip,
    /// Ask GET_FRAMEWORKS when a task names a framework missing from the cache; the cache is
    /// kept across polls, so a long drain asks once.
    Cached(&'a mut Vec<FrameworkName>),
}

pub async fn observe(agent: &AgentClient, names: Names<'_>) -> LocalObs {
    let (tasks, ops) = tokio::join!(agent.get_tasks(), agent.get_operations());
    let (tasks, ops) = match (tasks, ops) {
        (Ok(t), Ok(o)) => (t, o),
        (Err(e), _) | (_, Err(e)) => return LocalObs::Unreachable(e.to_string()),
    };
    let known: &[FrameworkName] = match names {
        Names::Skip => &[],
        Names::Cached(cache) => {
            let unknown = tasks
                .not_terminal()
                .chain(&tasks.terminated)
                .any(|t| !cache.iter().any(|f| f.id == t.framework_id));
            if unknown {
                match agent.get_frameworks().await {
                    Ok(f) => *cache = f,
                    Err(e) => tracing::debug!("cannot read framework names: {e}"),
                }
            }
            cache
        }
    };
    LocalObs::Seen(LocalWork::from_api(&tasks, &ops, known))
}
