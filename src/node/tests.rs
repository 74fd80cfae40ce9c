use super::*;

fn registered(drain: Phase) -> MasterObs {
    MasterObs::Registered {
        drain,
        deactivated: true,
        active: false,
        mark_gone: false,
    }
}

fn busy() -> LocalWork {
    LocalWork {
        frameworks: vec![FrameworkWork {
            id: "fw-1".into(),
            name: "marathon".into(),
            live_tasks: 3,
            unacknowledged: 1,
        }],
        pending_operations: vec![],
    }
}

#[test]
fn drained_and_empty_is_safe() {
    let v = evaluate(
        &registered(Phase::Drained),
        &LocalObs::Seen(LocalWork::default()),
        Exceptions::default(),
        "S1",
    );
    assert_eq!(v, Verdict::Safe);
}

#[test]
fn drained_but_unacknowledged_is_not_safe() {
    let v = evaluate(
        &registered(Phase::Drained),
        &LocalObs::Seen(busy()),
        Exceptions::default(),
        "S1",
    );
    match v {
        Verdict::NotSafe(r) => {
            assert!(
                r.iter()
                    .any(|s| s.contains("2 task(s) of framework marathon (fw-1)")),
                "{r:?}"
            );
            assert!(r.iter().any(|s| s.contains("not acknowledged")), "{r:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn draining_is_not_safe_even_when_empty() {
    let v = evaluate(
        &registered(Phase::Draining),
        &LocalObs::Seen(LocalWork::default()),
        Exceptions::default(),
        "S1",
    );
    assert!(matches!(v, Verdict::NotSafe(_)));
}

#[test]
fn pending_operation_is_not_safe() {
    let work = LocalWork {
        pending_operations: vec![PendingOperation {
            id: Some("op1".into()),
            framework_id: None,
            kind: Some("RESERVE".into()),
            state: Some("OPERATION_PENDING".into()),
        }],
        ..Default::default()
    };
    let v = evaluate(
        &registered(Phase::Drained),
        &LocalObs::Seen(work),
        Exceptions::default(),
        "S1",
    );
    assert!(matches!(v, Verdict::NotSafe(ref r) if r[0].contains("OPERATION_PENDING")));
}

#[test]
fn unreachable_sides_are_undetermined_never_safe() {
    let empty = LocalObs::Seen(LocalWork::default());
    let v = evaluate(
        &MasterObs::Unreachable("refused".into()),
        &empty,
        Exceptions::default(),
        "S1",
    );
    assert!(matches!(v, Verdict::Undetermined(_)));
    let v = evaluate(
        &registered(Phase::Drained),
        &LocalObs::Unreachable("refused".into()),
        Exceptions::default(),
        "S1",
    );
    assert!(matches!(v, Verdict::Undetermined(_)));
    // Undetermined wins over a definite "not safe": the contract says 3 when a side can't be asked.
    let v = evaluate(
        &MasterObs::Unreachable("x".into()),
        &LocalObs::Seen(busy()),
        Exceptions::default(),
        "S1",
    );
    assert!(matches!(v, Verdict::Undetermined(_)));
}

#[test]
fn stopped_unit_excuses_the_silent_agent_only_when_drained() {
    let ex = Exceptions {
        agent_unit_stopped: true,
        ..Exceptions::default()
    };
    let down = LocalObs::Unreachable("refused".into());
    assert_eq!(
        evaluate(&registered(Phase::Drained), &down, ex, "S1"),
        Verdict::Safe
    );
    // Not drained: the silent agent is not excused, and a side that cannot be asked is 3.
    assert!(matches!(
        evaluate(&registered(Phase::Draining), &down, ex, "S1"),
        Verdict::Undetermined(_)
    ));
}

#[test]
fn absent_is_gone_only_after_our_decommission() {
    let down = LocalObs::Unreachable("refused".into());
    let ex = Exceptions {
        decommission_finished: true,
        ..Exceptions::default()
    };
    assert_eq!(evaluate(&MasterObs::Absent, &down, ex, "S1"), Verdict::Safe);
    assert_eq!(
        drain_state_name(&MasterObs::Absent, true),
        DrainStateName::Gone
    );
    assert_eq!(
        drain_state_name(&MasterObs::Absent, false),
        DrainStateName::Unknown
    );
    let v = evaluate(
        &MasterObs::Absent,
        &LocalObs::Seen(LocalWork::default()),
        Exceptions::default(),
        "S1",
    );
    // design.md: the master answered but does not list the agent: UNKNOWN, so 3, never 1.
    assert!(matches!(v, Verdict::Undetermined(_)), "{v:?}");
    for unknown in [MasterObs::Recovered, registered(Phase::Other("X".into()))] {
        let v = evaluate(
            &unknown,
            &LocalObs::Seen(LocalWork::default()),
            Exceptions::default(),
            "S1",
        );
        assert!(matches!(v, Verdict::Undetermined(_)), "{unknown:?}: {v:?}");
    }
    // NONE and DRAINING are answers: not safe (1).
    for phase in [Phase::None, Phase::Draining] {
        let v = evaluate(
            &registered(phase),
            &LocalObs::Seen(LocalWork::default()),
            Exceptions::default(),
            "S1",
        );
        assert!(matches!(v, Verdict::NotSafe(_)), "{v:?}");
    }
}

#[test]
fn absent_from_a_machine_down_for_maintenance_is_safe_too() {
    let ex = Exceptions {
        machine_down: true,
        ..Exceptions::default()
    };
    let silent = LocalObs::Unreachable("refused".into());
    assert_eq!(
        evaluate(&MasterObs::Absent, &silent, ex, "S1"),
        Verdict::Safe
    );
    assert_eq!(
        evaluate(
            &MasterObs::Absent,
            &LocalObs::Seen(LocalWork::default()),
            ex,
            "S1"
        ),
        Verdict::Safe
    );
    // Work seen locally still counts, and a listed agent is judged by its drain state.
    assert!(matches!(
        evaluate(&MasterObs::Absent, &LocalObs::Seen(busy()), ex, "S1"),
        Verdict::NotSafe(_)
    ));
    assert!(matches!(
        evaluate(&registered(Phase::Draining), &silent, ex, "S1"),
        Verdict::Undetermined(_)
    ));
}
