//! The rule of design.md "Disruption budgets", pure: given what Marathon (or an SDK scheduler)
//! said about a workload's instances, which agents are out and which tasks other nodes have
//! recorded in flight, may this node go?

use std::collections::HashSet;

use serde::Serialize;

use super::spec::Limit;

/// One instance of a workload anywhere in the cluster, as its scheduler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub task_id: String,
    /// The agent it runs on (empty when the scheduler does not say: an SDK pod).
    pub agent_id: String,
    /// Running, every health check alive, and up for `min_uptime`.
    pub healthy: bool,
}

/// What the scheduler said about one workload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Census {
    /// How many instances it should have (Marathon `instances`; an SDK service's pods).
    pub expected: u32,
    pub instances: Vec<Instance>,
}

/// The numbers of one workload's decision: what `status`/`check` show as `budgets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub workload: String,
    pub required: u32,
    pub healthy_elsewhere: u32,
    pub in_flight: u32,
    pub local: u32,
    pub allows: bool,
    /// It can never allow it: `required` exceeds the instances minus this node's own.
    #[serde(skip)]
    pub impossible: bool,
    #[serde(skip)]
    pub expected: u32,
    #[serde(skip)]
    pub budget: String,
}

impl Verdict {
    /// `/prod/api: 2 required, 1 healthy elsewhere, 1 in flight, 1 here (max_unavailable=1)`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} required, {} healthy elsewhere, {} in flight, {} here, {} expected ({}): {}",
            self.workload,
            self.required,
            self.healthy_elsewhere,
            self.in_flight,
            self.local,
            self.expected,
            self.budget,
            if self.allows {
                "allows it"
            } else if self.impossible {
                "can never allow it"
            } else {
                "does not allow it yet"
            }
        )
    }
}

/// What the rule is given besides the census.
pub struct Context<'a> {
    pub workload: &'a str,
    pub limit: Limit,
    /// This node's agent id and its own live tasks of the workload.
    pub agent_id: &'a str,
    pub local_tasks: &'a [String],
    /// Agents DRAINING, DRAINED or deactivated (from one GET_AGENTS), other than this one.
    pub agents_out: &'a HashSet<String>,
    /// Task ids other nodes have recorded as in flight (their own tasks, about to go).
    pub in_flight: &'a HashSet<String>,
}

/// The node may go when the healthy instances elsewhere (not here, not on an agent out, not in
/// flight; each task once) are at least `required`. Its own unhealthy tasks cost nothing.
pub fn evaluate(census: &Census, cx: &Context<'_>) -> Verdict {
    let expected = census.expected;
    let required = cx.limit.required(expected);
    let local = cx.local_tasks.len() as u32;
    let mut seen = HashSet::new();
    let mut healthy_elsewhere = 0u32;
    let mut in_flight = 0u32;
    for i in &census.instances {
        if !seen.insert(i.task_id.as_str()) {
            continue;
        }
        let here = i.agent_id == cx.agent_id || cx.local_tasks.contains(&i.task_id);
        if here || cx.agents_out.contains(&i.agent_id) {
            continue;
        }
        if cx.in_flight.contains(&i.task_id) {
            in_flight += 1;
            continue;
        }
        if i.healthy {
            healthy_elsewhere += 1;
        }
    }
    Verdict {
        workload: cx.workload.to_string(),
        required,
        healthy_elsewhere,
        in_flight,
        local,
        allows: healthy_elsewhere >= required,
        impossible: required > expected.saturating_sub(local),
        expected,
        budget: cx.limit.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::spec::Amount;

    fn inst(id: &str, agent: &str, healthy: bool) -> Instance {
        Instance {
            task_id: id.into(),
            agent_id: agent.into(),
            healthy,
        }
    }

    fn run(
        census: &Census,
        limit: Limit,
        local: &[&str],
        out: &[&str],
        flight: &[&str],
    ) -> Verdict {
        let local: Vec<String> = local.iter().map(|s| s.to_string()).collect();
        let out: HashSet<String> = out.iter().map(|s| s.to_string()).collect();
        let flight: HashSet<String> = flight.iter().map(|s| s.to_string()).collect();
        evaluate(
            census,
            &Context {
                workload: "/prod/api",
                limit,
                agent_id: "S1",
                local_tasks: &local,
                agents_out: &out,
                in_flight: &flight,
            },
        )
    }

    fn three() -> Census {
        Census {
            expected: 3,
            instances: vec![
                inst("t1", "S1", true),
                inst("t2", "S2", true),
                inst("t3", "S3", true),
            ],
        }
    }

    const MAX1: Limit = Limit::MaxUnavailable(Amount::Count(1));

    #[test]
    fn allows_when_enough_are_healthy_elsewhere() {
        let v = run(&three(), MAX1, &["t1"], &[], &[]);
        assert_eq!(
            (v.required, v.healthy_elsewhere, v.local, v.allows),
            (2, 2, 1, true)
        );
        assert!(!v.impossible);
    }

    #[test]
    fn agents_out_and_in_flight_do_not_count() {
        let v = run(&three(), MAX1, &["t1"], &["S2"], &[]);
        assert_eq!((v.healthy_elsewhere, v.allows), (1, false));
        let v = run(&three(), MAX1, &["t1"], &[], &["t3"]);
        assert_eq!((v.healthy_elsewhere, v.in_flight, v.allows), (1, 1, false));
    }

    #[test]
    fn unhealthy_and_duplicate_tasks() {
        let mut c = three();
        c.instances[1].healthy = false;
        assert!(!run(&c, MAX1, &["t1"], &[], &[]).allows);
        // Its own unhealthy task costs nothing.
        let mut c = three();
        c.instances[0].healthy = false;
        assert!(run(&c, MAX1, &["t1"], &[], &[]).allows);
        let mut c = three();
        c.instances.push(inst("t2", "S2", true));
        assert_eq!(
            run(&c, MAX1, &["t1"], &[], &[]).healthy_elsewhere,
            2,
            "each task once"
        );
    }

    #[test]
    fn impossible_budgets() {
        let one = Census {
            expected: 1,
            instances: vec![inst("t1", "S1", true)],
        };
        let v = run(
            &one,
            Limit::MinAvailable(Amount::Count(1)),
            &["t1"],
            &[],
            &[],
        );
        assert!(v.impossible && !v.allows);
        assert!(v.line().contains("can never allow it"), "{}", v.line());
        let v = run(
            &three(),
            Limit::MaxUnavailable(Amount::Count(0)),
            &["t1"],
            &[],
            &[],
        );
        assert!(v.impossible);
        // Percentages round up: 10% of 3 is 1 unavailable, so 2 required.
        let v = run(
            &three(),
            Limit::MaxUnavailable(Amount::Percent(10)),
            &["t1"],
            &[],
            &[],
        );
        assert_eq!(v.required, 2);
        assert!(v.allows);
    }
}
