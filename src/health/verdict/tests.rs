use super::*;
use crate::health::Check;
use crate::mesos::{DrainInfo, MasterAgent};

const T0: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(secs)
}

fn unit(active: &str, sub: &str) -> UnitState {
    UnitState {
        name: "dcos-mesos-slave.service".into(),
        load_state: "loaded".into(),
        active_state: active.into(),
        sub_state: sub.into(),
        main_pid: None,
    }
}

#[test]
fn agent_unit_active_passes_and_a_stopped_one_fails() {
    let c = agent_unit(&unit("active", "running"), 0, Some(at(T0)), at(T0 + 5));
    assert_eq!(c.status, Status::Pass, "{c:?}");
    let c = agent_unit(&unit("failed", "failed"), 2, Some(at(T0)), at(T0 + 5));
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("is failed (failed)"), "{}", c.detail);
    let c = agent_unit(&unit("activating", "auto-restart"), 7, None, at(T0));
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("7 automatic restarts"), "{}", c.detail);
}

#[test]
fn agent_unit_restart_loop_is_counted_over_the_window() {
    let u = unit("active", "running");
    // three restarts are tolerated
    assert_eq!(
        agent_unit(&u, 3, Some(at(T0)), at(T0 + 1)).status,
        Status::Pass
    );
    // four, the last one 30 s ago: a loop
    let c = agent_unit(&u, 4, Some(at(T0)), at(T0 + 30));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.detail
            .contains("restarting in a loop: 4 automatic restarts, the last 30s ago"),
        "{}",
        c.detail
    );
    // four, but up for more than ten minutes since: settled
    assert_eq!(
        agent_unit(&u, 4, Some(at(T0)), at(T0 + 601)).status,
        Status::Pass
    );
    // no timestamp (never entered active): not judged a loop on the count alone
    assert_eq!(agent_unit(&u, 9, None, at(T0)).status, Status::Pass);
}

fn master_agent(active: bool, deactivated: bool, drain: Option<DrainState>) -> AgentLookup {
    AgentLookup::Registered(MasterAgent {
        id: "S1".into(),
        hostname: "h".into(),
        pid: None,
        active,
        deactivated,
        drain: drain.map(|state| DrainInfo {
            state,
            mark_gone: false,
            max_grace_period_ns: None,
        }),
    })
}

#[test]
fn registration_verdicts() {
    let (c, r) = registration("S1", &master_agent(true, false, None));
    assert_eq!((c.status, r), (Status::Pass, Registration::default()));
    // disconnected: active false while not deactivated
    let (c, r) = registration("S1", &master_agent(false, false, None));
    assert_eq!(c.status, Status::Fail);
    assert!(r.disconnected);
    assert!(c.detail.contains("disconnected"), "{}", c.detail);
    // deactivated or draining counts as registered
    let (c, r) = registration("S1", &master_agent(false, true, Some(DrainState::Drained)));
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert!(r.drained && !r.disconnected);
    assert!(c.detail.contains("DRAINED"), "{}", c.detail);
    let (c, _) = registration("S1", &master_agent(false, true, None));
    assert_eq!(c.status, Status::Pass);
    // only recovered, or not listed (unreachable)
    assert_eq!(
        registration("S1", &AgentLookup::Recovered).0.status,
        Status::Fail
    );
    let (c, _) = registration("S1", &AgentLookup::Absent);
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.contains("does not list agent S1"), "{}", c.detail);
}

#[test]
fn disk_space_and_inodes_against_min_free() {
    let ok = DiskStats {
        blocks: 1000,
        blocks_available: 100,
        files: 1000,
        files_available: 500,
    };
    assert_eq!(disk("/w", ok, 5.0).status, Status::Pass);
    let full = DiskStats {
        blocks_available: 40,
        ..ok
    };
    let c = disk("/w", full, 5.0);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.detail, "/w has only 4.0% of its space free (minimum 5%)");
    let no_inodes = DiskStats {
        files_available: 10,
        ..ok
    };
    let c = disk("/w", no_inodes, 5.0);
    assert!(c.detail.contains("1.0% of its inodes"), "{}", c.detail);
    // a filesystem without an inode count is judged on space alone
    let btrfs = DiskStats {
        files: 0,
        files_available: 0,
        ..ok
    };
    let c = disk("/w", btrfs, 5.0);
    assert_eq!(c.status, Status::Pass);
    assert!(c.detail.contains("n/a of its inodes"), "{}", c.detail);
}

fn facts() -> Facts {
    Facts {
        agent_unit: Some("dcos-mesos-slave.service".into()),
        agent_unit_active: true,
        agent_api_answers: true,
        docker_unit: "docker.service".into(),
        docker_active: true,
        ..Facts::default()
    }
}

#[test]
fn a_healthy_node_wants_no_repair() {
    assert!(wanted(&facts(), DockerSafety::default()).is_empty());
}

#[test]
fn agent_restart_only_while_the_unit_is_active() {
    let hung = Facts {
        agent_api_answers: false,
        ..facts()
    };
    assert!(matches!(
        wanted(&hung, DockerSafety::default()).as_slice(),
        [Wanted::Restart { unit, .. }] if unit == "dcos-mesos-slave.service"
    ));
    let disconnected = Facts {
        agent_disconnected: true,
        ..facts()
    };
    assert!(matches!(
        wanted(&disconnected, DockerSafety::default()).as_slice(),
        [Wanted::Restart { why, .. }] if why.contains("disconnected")
    ));
    // a stopped unit is not "repaired" by a restart
    let stopped = Facts {
        agent_unit_active: false,
        ..hung
    };
    assert!(wanted(&stopped, DockerSafety::default()).is_empty());
}

#[test]
fn docker_restart_needs_live_restore_or_a_drained_agent() {
    let hung = Facts {
        docker_hung: true,
        ..facts()
    };
    let busy = DockerSafety {
        live_restore: Some(false),
        live_tasks: Some(3),
    };
    match wanted(&hung, busy).as_slice() {
        [Wanted::Refuse { unit, why }] => {
            assert_eq!(unit, "docker.service");
            assert!(why.contains("would kill 3 containers"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = DockerSafety {
        live_restore: None,
        live_tasks: None,
    };
    assert!(
        matches!(wanted(&hung, unknown).as_slice(), [Wanted::Refuse { why, .. }] if why.contains("unknown number"))
    );
    let live = DockerSafety {
        live_restore: Some(true),
        ..busy
    };
    assert!(
        matches!(wanted(&hung, live).as_slice(), [Wanted::Restart { why, .. }] if why.contains("live-restore"))
    );
    let empty = DockerSafety {
        live_tasks: Some(0),
        ..busy
    };
    assert!(matches!(
        wanted(&hung, empty).as_slice(),
        [Wanted::Restart { .. }]
    ));
    let drained = Facts {
        master_drained: true,
        ..hung.clone()
    };
    assert!(matches!(
        wanted(&drained, busy).as_slice(),
        [Wanted::Restart { .. }]
    ));
    // not active, or failing without hanging: nothing to restart
    let inactive = Facts {
        docker_active: false,
        ..hung
    };
    assert!(wanted(&inactive, busy).is_empty());
}

#[test]
fn one_repair_per_unit_per_interval() {
    let ten = Duration::from_secs(600);
    assert!(rate_limit("a.service", None, ten, at(T0)).is_ok());
    let err = rate_limit("a.service", Some(at(T0)), ten, at(T0 + 120)).unwrap_err();
    assert!(err.contains("already repaired 2m ago"), "{err}");
    assert!(err.contains("in 8m"), "{err}");
    assert!(
        err.contains(&humantime::format_rfc3339_seconds(at(T0 + 600)).to_string()),
        "{err}"
    );
    assert!(rate_limit("a.service", Some(at(T0)), ten, at(T0 + 600)).is_ok());
}

#[test]
fn exit_codes() {
    let pass = Check::pass("disk", "ok");
    let skip = Check::skip("registration", "master unreachable");
    let fail = Check::fail("docker", "hangs");
    let undetermined = Check::cannot_run("agent-unit", "no bus");
    assert_eq!(exit_code(&[pass.clone(), skip.clone()], false), Exit::Ok);
    assert!(
        healthy(&[pass.clone(), skip.clone()]),
        "a skip leaves healthy true"
    );
    assert_eq!(
        exit_code(&[pass.clone(), fail.clone()], false),
        Exit::NotSafe
    );
    assert_eq!(
        exit_code(&[undetermined.clone(), pass.clone()], false),
        Exit::Undetermined
    );
    assert!(!healthy(std::slice::from_ref(&undetermined)));
    assert_eq!(exit_code(&[undetermined, fail], false), Exit::NotSafe);
    assert_eq!(exit_code(&[pass], true), Exit::Policy);
}
