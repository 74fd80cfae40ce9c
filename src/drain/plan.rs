//! `drain --dry-run`: the steps a drain would take against the live state, computed from the same
//! observations and rules as a real drain, with nothing sent or stopped.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::machine::{drain_already_requested, Policy};
use super::marker::Marker;
use super::units::UnitPlan;
use crate::mesos::types::Call;
use crate::node::{drain_state_name, LocalObs, MasterObs};

pub struct PlanInput<'a> {
    pub agent_id: &'a str,
    pub master: &'a str,
    pub master_obs: &'a MasterObs,
    pub local: &'a LocalObs,
    pub policy: Policy,
    pub max_grace_period: Option<Duration>,
    pub deadline: Option<Duration>,
    /// `None` when units are not stopped; `Err` when they would be but cannot be found.
    pub units: Option<Result<UnitPlan, String>>,
    /// systemd reports the agent's service stopped.
    pub agent_unit_stopped: bool,
    pub marker: Option<&'a Marker>,
    pub pre_hooks: Vec<PathBuf>,
    pub post_hooks: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    pub agent_id: String,
    pub master: String,
    pub drain_state: String,
    pub steps: Vec<String>,
    /// Problems a real run would stop at.
    pub blockers: Vec<String>,
}

pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut steps = Vec::new();
    let mut blockers = Vec::new();
    let p = input.policy;
    if let Some(m) = input
        .marker
        .filter(|m| !m.stage.is_terminal() && m.agent_id == input.agent_id)
    {
        steps.push(format!(
            "resume the interrupted {:?} drain recorded in the marker at stage {}",
            m.trigger, m.stage
        ));
    }
    match &input.units {
        Some(Err(e)) => blockers.push(e.clone()),
        Some(Ok(u)) => steps.push(format!(
            "agent unit: {}{}",
            u.agent.service,
            u.agent
                .socket
                .as_ref()
                .map(|s| format!(" (+ {s})"))
                .unwrap_or_default()
        )),
        None => {}
    }
    for h in &input.pre_hooks {
        steps.push(format!("run pre-drain hook {}", h.display()));
    }
    if let MasterObs::Unreachable(e) = input.master_obs {
        blockers.push(format!("cannot ask the master: {e}"));
    }
    let marker_says = input.marker.is_some_and(|m| m.stage.drain_requested());
    if drain_already_requested(&p, input.master_obs, marker_says) {
        steps.push(format!(
            "skip DRAIN_AGENT: the master already has a drain for this agent ({})",
            drain_state_name(input.master_obs, p.decommission).as_str()
        ));
    } else {
        let call = Call::drain_agent(input.agent_id, input.max_grace_period, p.decommission);
        steps.push(format!("POST {}api/v1 {}", with_slash(input.master), call));
    }
    let goal = if p.decommission {
        "the master no longer lists the agent (gone) and the local agent is empty"
    } else {
        "the master reports DRAINED and the local agent is empty"
    };
    let limit = input.deadline.map_or("no deadline".to_string(), |d| {
        format!("deadline {}", humantime::format_duration(d))
    });
    steps.push(format!("wait until {goal} ({limit})"));
    match input.local {
        LocalObs::Seen(w) if !w.is_empty() => {
            for r in w.reasons() {
                steps.push(format!("  now: {r}"));
            }
        }
        LocalObs::Seen(_) => {
            steps.push("  now: the local agent has no live task and no pending operation".into())
        }
        // The drain's own rule: silence after mark_gone, or from a stopped unit, is no blocker.
        LocalObs::Unreachable(_) if p.decommission || input.agent_unit_stopped => steps.push(
            "  now: the local agent does not answer (its unit is stopped or it is being decommissioned)"
                .into(),
        ),
        LocalObs::Unreachable(e) => blockers.push(format!("cannot ask the local agent: {e}")),
    }
    if let Some(Ok(u)) = &input.units {
        if p.force {
            steps.push(format!(
                "at the deadline (--force): SIGUSR1 to {}, then stop it",
                u.agent.service
            ));
        }
        if let Some(s) = &u.agent.socket {
            steps.push(format!("stop {s}"));
        }
        steps.push(format!("stop {}", u.agent.service));
        if let Some(d) = &u.docker {
            if let Some(sig) = u.docker_signal {
                steps.push(format!("send {} to {d}", sig.as_str()));
            }
            steps.push(format!("stop {d}"));
        }
    } else if !p.stop_units {
        steps.push("leave the agent and docker units running (--no-stop)".into());
    }
    for h in &input.post_hooks {
        steps.push(format!("run post-drain hook {}", h.display()));
    }
    Plan {
        agent_id: input.agent_id.to_string(),
        master: input.master.to_string(),
        drain_state: drain_state_name(input.master_obs, p.decommission)
            .as_str()
            .to_string(),
        steps,
        blockers,
    }
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{LocalWork, Phase};

    fn input<'a>(master: &'a MasterObs, local: &'a LocalObs, policy: Policy) -> PlanInput<'a> {
        PlanInput {
            agent_id: "S1",
            master: "http://m:5050/",
            master_obs: master,
            local,
            policy,
            max_grace_period: Some(Duration::from_secs(600)),
            deadline: Some(Duration::from_secs(3600)),
            units: None,
            agent_unit_stopped: false,
            marker: None,
            pre_hooks: vec![],
            post_hooks: vec![],
        }
    }

    const P: Policy = Policy {
        decommission: false,
        stop_units: false,
        stop_docker: true,
        force: false,
    };

    #[test]
    fn shows_the_exact_request_for_an_undrained_agent() {
        let m = MasterObs::Registered {
            drain: Phase::None,
            deactivated: false,
            active: true,
            mark_gone: false,
        };
        let l = LocalObs::Seen(LocalWork::default());
        let plan = plan(&input(&m, &l, P));
        let post = plan.steps.iter().find(|s| s.starts_with("POST")).unwrap();
        assert!(post.contains("http://m:5050/api/v1"), "{post}");
        assert!(
            post.contains("\"max_grace_period\":{\"nanos\":0,\"seconds\":600}")
                || post.contains("\"seconds\":600"),
            "{post}"
        );
        assert!(plan.blockers.is_empty());
        assert_eq!(plan.drain_state, "NONE");
    }

    fn drained() -> MasterObs {
        MasterObs::Registered {
            drain: Phase::Drained,
            deactivated: true,
            active: false,
            mark_gone: false,
        }
    }

    #[test]
    fn skips_the_request_when_drained() {
        let m = drained();
        let l = LocalObs::Unreachable("refused".into());
        let plan = plan(&input(&m, &l, P));
        assert!(plan.steps.iter().any(|s| s.starts_with("skip DRAIN_AGENT")));
        assert!(!plan.steps.iter().any(|s| s.starts_with("POST")));
        assert_eq!(plan.blockers.len(), 1);
        assert!(
            plan.blockers[0].contains("local agent"),
            "{:?}",
            plan.blockers
        );
    }

    #[test]
    fn a_silent_agent_behind_a_stopped_unit_is_no_blocker() {
        let m = drained();
        let l = LocalObs::Unreachable("refused".into());
        let mut i = input(&m, &l, P);
        i.agent_unit_stopped = true;
        assert_eq!(plan(&i).blockers, Vec::<String>::new());
    }
}
