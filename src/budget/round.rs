//! One evaluation of every local workload's budget: the agents out (one streamed GET_AGENTS),
//! one request per local workload to its source, then the rule, with the intents of other nodes
//! (and this node's recorded in the same compare-and-set) when ZooKeeper is the fleet backend.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use url::Url;

use super::intents::{self, Decision};
use super::rule::{Census, Verdict};
use super::sdk::SdkAnswer;
use super::settings::{BudgetSettings, Unknown};
use super::spec::{self, Budget, Spec};
use super::workloads::{Workload, WorkloadId};
use super::{marathon, sdk, SourceError};
use crate::fleet::master::AgentCensus;
use crate::fleet::zookeeper::ZkLock;
use crate::mesos::Transport;

/// A local workload and the budget that applies to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub workload: Workload,
    pub budget: Budget,
}

/// The local workloads that have a budget, each with it resolved (configuration, labels,
/// `budget.default`). A malformed label or a workload with two limits is an error (exit 2).
pub fn plan(settings: &BudgetSettings, workloads: Vec<Workload>) -> Result<Vec<Planned>, String> {
    let mut out = Vec::new();
    for w in workloads {
        let name = w.id.to_string();
        let (configured, default): (Option<&Spec>, _) = match &w.id {
            WorkloadId::App(id) => {
                if settings.marathon.is_none() {
                    continue;
                }
                (settings.apps.get(id), settings.default)
            }
            WorkloadId::Service(n) => (settings.services.get(n).map(|s| &s.spec), None),
        };
        let labels = Spec::from_labels(w.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| format!("{name}: {e}"))?;
        if let Some(budget) = spec::resolve(&name, configured, labels.as_ref(), default)? {
            out.push(Planned {
                workload: w,
                budget,
            });
        }
    }
    Ok(out)
}

/// What a round asks.
pub struct Sources {
    /// Marathon and SDK requests: the master's credentials, [`super::REQUEST_TIMEOUT`], no retry.
    pub transport: Arc<Transport>,
    pub settings: BudgetSettings,
    /// The agents out (the fleet master backend's streamed GET_AGENTS).
    pub agents: Box<dyn AgentCensus>,
}

/// The result of one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    pub verdicts: Vec<Verdict>,
    /// Sources that could not be asked (their workloads have no verdict).
    pub unknown: Vec<String>,
    /// SDK services whose scheduler runs a plan (`/v1/health` 202-208): they hold the drain.
    pub held: Vec<String>,
    /// The workload znodes this node holds an intent on after the round.
    pub intents: Vec<String>,
}

impl Round {
    /// The budgets allow the drain now. With `unknown = "proceed"`, unknown sources do not stop it.
    pub fn allows(&self, unknown: Unknown) -> bool {
        (self.unknown.is_empty() || unknown == Unknown::Proceed)
            && self.held.is_empty()
            && self.verdicts.iter().all(|v| v.allows)
    }

    pub fn impossible(&self) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.impossible)
    }

    /// What holds the drain, one line each.
    pub fn holding(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .verdicts
            .iter()
            .filter(|v| !v.allows)
            .map(Verdict::line)
            .collect();
        out.extend(self.held.iter().cloned());
        out.extend(self.unknown.iter().map(|u| format!("cannot be asked: {u}")));
        out
    }
}

/// Where intents go: this node's holder id in a ZooKeeper lock; `record` false for a read-only
/// round (dry run, `status`).
pub struct IntentStore<'a> {
    pub zk: &'a ZkLock,
    pub holder_id: &'a str,
    pub record: bool,
}

/// Evaluates every planned workload once.
pub async fn evaluate_round(
    sources: &Sources,
    agent_id: &str,
    planned: &[Planned],
    store: Option<&IntentStore<'_>>,
) -> Round {
    let mut round = Round::default();
    if planned.is_empty() {
        return round;
    }
    // The GET_AGENTS scan and one request per local workload, all at once: the stage's wall
    // time is the slowest of them, not their sum.
    let (agents, answers) = tokio::join!(
        sources.agents.agents_out(),
        futures_util::future::join_all(planned.iter().map(|p| ask(sources, p)))
    );
    let agents_out: HashSet<String> = match agents {
        Ok(a) => a
            .into_iter()
            .map(|a| a.id)
            .filter(|id| id != agent_id)
            .collect(),
        Err(e) => {
            round.unknown.push(e.to_string());
            return round;
        }
    };
    let mut decisions = Vec::new();
    for (p, answer) in planned.iter().zip(answers) {
        match answer {
            Ok(Some(census)) => decisions.push(Decision {
                workload: p.workload.id.to_string(),
                znode: p.workload.id.znode(),
                limit: p.budget.limit,
                census,
                agent_id: agent_id.to_string(),
                local_tasks: p.workload.local_tasks.clone(),
                agents_out: agents_out.clone(),
            }),
            Ok(None) => round.held.push(format!(
                "{}: its scheduler runs a plan (/v1/health is not 200)",
                p.workload.id
            )),
            Err(e) => round.unknown.push(e.0),
        }
    }
    // An impossible budget is known without the intents: say so before recording anything.
    let none = HashSet::new();
    let impossible: Vec<Verdict> = decisions
        .iter()
        .map(|d| d.verdict(&none))
        .filter(|v| v.impossible)
        .collect();
    if !impossible.is_empty() || !round.held.is_empty() {
        round.verdicts = decisions.iter().map(|d| d.verdict(&none)).collect();
        return round;
    }
    match store {
        None => round.verdicts = decisions.iter().map(|d| d.verdict(&none)).collect(),
        Some(s) if !s.record => {
            for d in &decisions {
                match intents::in_flight(s.zk, s.holder_id, &d.znode).await {
                    Ok(f) => round.verdicts.push(d.verdict(&f)),
                    Err(e) => round.unknown.push(e.to_string()),
                }
            }
        }
        Some(s) => {
            for d in decisions {
                let znode = d.znode.clone();
                match intents::decide_and_record(s.zk, s.holder_id, d).await {
                    Ok(v) => {
                        if v.allows {
                            round.intents.push(znode);
                        }
                        let stop = !v.allows;
                        round.verdicts.push(v);
                        if stop {
                            break;
                        }
                    }
                    Err(e) => {
                        round.unknown.push(e.to_string());
                        break;
                    }
                }
            }
            if !round.allows(Unknown::Wait) {
                // Holding an intent while waiting for another workload would keep other nodes
                // out for nothing: give this round's intents back.
                for z in std::mem::take(&mut round.intents) {
                    if let Err(e) = intents::remove(s.zk, s.holder_id, &z).await {
                        tracing::warn!("cannot remove the budget intent on budgets/{z}: {e}");
                        round.intents.push(z);
                    }
                }
            }
        }
    }
    round
}

/// One workload's census from its source; `None`: an SDK plan in progress.
async fn ask(sources: &Sources, p: &Planned) -> Result<Option<Census>, SourceError> {
    match &p.workload.id {
        WorkloadId::App(id) => {
            let url: &Url = sources
                .settings
                .marathon
                .as_ref()
                .expect("apps are planned only with budget.marathon");
            marathon::census(
                &sources.transport,
                url,
                id,
                p.budget.min_uptime,
                SystemTime::now(),
            )
            .await
            .map(Some)
        }
        WorkloadId::Service(name) => {
            let url = sources
                .settings
                .services
                .get(name)
                .and_then(|s| s.url.as_ref())
                .expect("services are planned only with their url");
            match sdk::census(&sources.transport, url, name).await? {
                SdkAnswer::Census(c) => Ok(Some(c)),
                SdkAnswer::PlanInProgress(_) => Ok(None),
            }
        }
    }
}

/// Why a read-only look at the budgets has no verdicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookError {
    /// A malformed budget (exit 2).
    #[error("{0}")]
    Config(String),
    /// The local agent (or the sources, in time) could not be asked (exit 3).
    #[error("{0}")]
    Undetermined(String),
}

/// A read-only look at the budgets for `status`, `check` and `drain --dry-run`: `None` when no
/// budget applies to a local workload (nothing is asked then); `Err` for a malformed budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub round: Round,
    pub unknown: Unknown,
}

impl Look {
    /// The verdict of the moment: `None` when it allows the drain; else whether it is a policy
    /// refusal (`true`: exit 5) or "cannot tell" (`false`: exit 3), and the reasons.
    pub fn refusal(&self) -> Option<(bool, Vec<String>)> {
        if self.round.allows(self.unknown) {
            return None;
        }
        let policy = self.round.impossible().is_some()
            || !self.round.held.is_empty()
            || self.round.verdicts.iter().any(|v| !v.allows)
            || self.round.unknown.is_empty();
        Some((policy, self.round.holding()))
    }
}
