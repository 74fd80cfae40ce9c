//! The dry run and the real drain decide alike: the same inputs (marker, boot, clock, policy,
//! the master's and the local agent's views) go through `plan` and through the decisions the
//! executor takes (`decide::start` at Resolve and the resume transition, `decide::request` at
//! RequestDrain, `decide::silent_agent_is_empty` at VerifyLocal), and every case must agree.
//! tests/cli/drain.rs runs one of these cases end to end against the simulator.

use std::time::Duration;

use super::decide::{self, Request};
use super::machine::{transition, DrainOptions, Event, Stage};
use super::marker::{Marker, Trigger};
use super::plan::{plan, Plan, PlanInput};
use crate::node::{FrameworkWork, LocalObs, LocalWork, MasterObs, Phase};

const BOOT: &str = "boot-now";
const NOW: u64 = 2_000_000;
const AGENT: &str = "S1";

fn markers() -> Vec<Option<Marker>> {
    let mut out = vec![None];
    for stage in [
        Stage::Resolve,
        Stage::PreHooks,
        Stage::RequestDrain,
        Stage::AwaitDrained,
        Stage::VerifyLocal,
        Stage::StopAgent,
        Stage::StopDocker,
        Stage::PostHooks,
        Stage::Done,
        Stage::Failed,
        Stage::DeadlineExceeded,
    ] {
        for decommission in [false, true] {
            for (boot, agent) in [(BOOT, AGENT), ("boot-before", AGENT), (BOOT, "S0")] {
                for forced in [false, true] {
                    let policy = DrainOptions {
                        decommission,
                        stop_units: true,
                        stop_docker: false,
                        force: forced,
                    };
                    let mut m = Marker::new(
                        agent,
                        Trigger::Manual,
                        policy,
                        "http://m:5050/",
                        None,
                        None,
                        Some(NOW + 300),
                    );
                    m.stage = stage;
                    m.boot_id = boot.into();
                    m.forced = forced && stage >= Stage::StopAgent;
                    out.push(Some(m));
                }
            }
        }
    }
    out
}

fn masters() -> Vec<MasterObs> {
    let mut out = vec![
        MasterObs::Absent,
        MasterObs::Recovered,
        MasterObs::Unreachable("connection refused".into()),
    ];
    for drain in [Phase::None, Phase::Draining, Phase::Drained] {
        for mark_gone in [false, true] {
            out.push(MasterObs::Registered {
                drain: drain.clone(),
                deactivated: drain != Phase::None,
                active: drain == Phase::None,
                mark_gone,
            });
        }
    }
    out
}

fn locals() -> Vec<LocalObs> {
    let busy = LocalWork {
        frameworks: vec![FrameworkWork {
            id: "F1".into(),
            name: "marathon".into(),
            live_tasks: 1,
            unacknowledged: 0,
        }],
        pending_operations: vec![],
    };
    vec![
        LocalObs::Seen(LocalWork::default()),
        LocalObs::Seen(busy),
        LocalObs::Unreachable("connection refused".into()),
    ]
}

fn policies() -> Vec<DrainOptions> {
    let mut out = Vec::new();
    for decommission in [false, true] {
        for stop_units in [false, true] {
            for force in [false, true] {
                out.push(DrainOptions {
                    decommission,
                    stop_units,
                    stop_docker: false,
                    force,
                });
            }
        }
    }
    out
}

fn has_step(p: &Plan, prefix: &str) -> bool {
    p.steps.iter().any(|s| s.starts_with(prefix))
}

#[test]
fn the_dry_run_and_the_drain_decide_alike() {
    let deadline = Some(Duration::from_secs(600));
    let mut cases = 0;
    for marker in markers() {
        for policy in policies() {
            for master in masters() {
                for local in locals() {
                    for unit_stopped in [false, true] {
                        cases += 1;
                        let input = PlanInput {
                            agent_id: AGENT,
                            master: "http://m:5050/",
                            master_obs: &master,
                            local: &local,
                            policy,
                            max_grace_period: None,
                            deadline,
                            units: None,
                            agent_unit_stopped: unit_stopped,
                            marker: marker.as_ref(),
                            boot_id: BOOT,
                            now_unix: NOW,
                            pre_hooks: vec![],
                            post_hooks: vec![],
                            lock_holder: None,
                            refusals: vec![],
                            fleet: None,
                            budgets: None,
                            ignore_budgets: false,
                        };
                        let p = plan(&input);
                        let case = format!(
                            "marker {marker:?}\npolicy {policy:?}\nmaster {master:?}\nlocal \
                             {local:?}\nunit stopped {unit_stopped}\nplan {p:#?}"
                        );

                        // Resolve: what the executor does with the marker.
                        let start =
                            decide::start(marker.as_ref(), AGENT, &policy, deadline, BOOT, NOW);
                        let event = match start.resume_at {
                            Some(at) => Event::Resume(at),
                            None => Event::Resolved,
                        };
                        let first = transition(Stage::Resolve, &event, &policy).unwrap();
                        assert_eq!(
                            has_step(&p, "resume the interrupted"),
                            start.resume_from.is_some(),
                            "resume\n{case}"
                        );
                        if start.resume_from.is_none() {
                            assert_eq!(first, Stage::Slot, "{case}");
                        }

                        // RequestDrain.
                        let sent = match decide::request(&policy, &master, &start) {
                            Request::Skip => false,
                            Request::Send | Request::ResendWithMarkGone => true,
                        };
                        assert_eq!(has_step(&p, "skip DRAIN_AGENT"), !sent, "skip\n{case}");
                        assert_eq!(has_step(&p, "POST "), sent, "send\n{case}");
                        if sent {
                            let post = p.steps.iter().find(|s| s.starts_with("POST ")).unwrap();
                            assert_eq!(
                                post.contains("\"mark_gone\":true"),
                                policy.decommission,
                                "mark_gone\n{case}"
                            );
                        }

                        // The deadline the wait runs under.
                        let limit = start.deadline_left.or(deadline).unwrap();
                        let want = format!("deadline {}", humantime::format_duration(limit));
                        assert!(
                            p.steps.iter().any(|s| s.contains(&want)),
                            "deadline {want}\n{case}"
                        );

                        // VerifyLocal: a silent agent is a blocker exactly when the drain
                        // would keep waiting on it.
                        let silent_blocks = matches!(local, LocalObs::Unreachable(_))
                            && !decide::silent_agent_is_empty(&policy, unit_stopped, true);
                        assert_eq!(
                            p.blockers
                                .iter()
                                .any(|b| b.starts_with("cannot ask the local agent")),
                            silent_blocks,
                            "local\n{case}"
                        );
                    }
                }
            }
        }
    }
    assert!(cases > 10_000, "{cases} cases");
}
