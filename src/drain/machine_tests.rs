use super::*;
use crate::node::{FrameworkWork, LocalWork, Phase};

const KEEP: DrainOptions = DrainOptions {
    decommission: false,
    stop_units: true,
    stop_docker: true,
    force: false,
};

fn run(policy: &DrainOptions, events: &[Event]) -> Vec<Stage> {
    let mut stage = Stage::Resolve;
    let mut seen = vec![stage];
    for e in events {
        stage = transition(stage, e, policy).unwrap();
        seen.push(stage);
    }
    seen
}

#[test]
fn happy_path_visits_every_stage_in_order() {
    use Event as E;
    let stages = run(
        &KEEP,
        &[
            E::Resolved,
            E::SlotTaken,
            E::BudgetPassed,
            E::HooksPassed,
            E::DrainRequested,
            E::Waiting,
            E::Drained,
            E::LocalEmpty,
            E::UnitsStopped,
            E::DockerStopped,
            E::HooksPassed,
        ],
    );
    use Stage::*;
    assert_eq!(
        stages,
        vec![
            Resolve,
            Slot,
            Budget,
            PreHooks,
            RequestDrain,
            AwaitDrained,
            AwaitDrained,
            VerifyLocal,
            StopAgent,
            StopDocker,
            PostHooks,
            Done
        ]
    );
}

#[test]
fn no_stop_skips_unit_stages() {
    let p = DrainOptions {
        stop_units: false,
        ..KEEP
    };
    assert_eq!(
        transition(Stage::VerifyLocal, &Event::LocalEmpty, &p),
        Ok(Stage::PostHooks)
    );
    let p = DrainOptions {
        stop_docker: false,
        ..KEEP
    };
    assert_eq!(
        transition(Stage::StopAgent, &Event::UnitsStopped, &p),
        Ok(Stage::PostHooks)
    );
}

#[test]
fn deadline_without_force_ends_and_never_stops_units() {
    assert_eq!(
        transition(Stage::AwaitDrained, &Event::DeadlinePassed, &KEEP),
        Ok(Stage::DeadlineExceeded)
    );
    let forced = DrainOptions {
        force: true,
        ..KEEP
    };
    assert_eq!(
        transition(Stage::AwaitDrained, &Event::DeadlinePassed, &forced),
        Ok(Stage::StopAgent)
    );
    // --force with --no-stop has nothing to escalate with.
    let odd = DrainOptions {
        force: true,
        stop_units: false,
        ..KEEP
    };
    assert_eq!(
        transition(Stage::AwaitDrained, &Event::DeadlinePassed, &odd),
        Ok(Stage::DeadlineExceeded)
    );
}

#[test]
fn units_are_never_stopped_before_verification() {
    // No event leads to StopAgent from a stage before VerifyLocal except the forced deadline.
    let all_events = [
        Event::Resolved,
        Event::SlotTaken,
        Event::SlotRefused("full".into()),
        Event::BudgetPassed,
        Event::BudgetRefused("no".into()),
        Event::HooksPassed,
        Event::AlreadyRequested,
        Event::DrainRequested,
        Event::Drained,
        Event::Waiting,
        Event::LocalBusy,
        Event::LocalEmpty,
        Event::UnitsStopped,
        Event::DockerStopped,
        Event::DeadlinePassed,
    ];
    for stage in [
        Stage::Resolve,
        Stage::Slot,
        Stage::Budget,
        Stage::PreHooks,
        Stage::RequestDrain,
        Stage::AwaitDrained,
    ] {
        for e in &all_events {
            if let Ok(next) = transition(stage, e, &KEEP) {
                assert_ne!(next, Stage::StopAgent, "{stage} --{e:?}--> StopAgent");
            }
        }
    }
}

#[test]
fn failures_and_terminal_stages() {
    assert_eq!(
        transition(Stage::PreHooks, &Event::HookFailed("x".into()), &KEEP),
        Ok(Stage::Failed)
    );
    assert_eq!(
        transition(Stage::AwaitDrained, &Event::Error("boom".into()), &KEEP),
        Ok(Stage::Failed)
    );
    for s in [Stage::Done, Stage::Failed, Stage::DeadlineExceeded] {
        assert!(transition(s, &Event::Resolved, &KEEP).is_err());
    }
    assert!(transition(Stage::RequestDrain, &Event::UnitsStopped, &KEEP).is_err());
}

#[test]
fn resume_jumps_past_hooks_only() {
    assert_eq!(
        transition(Stage::Resolve, &Event::Resume(Stage::AwaitDrained), &KEEP),
        Ok(Stage::AwaitDrained)
    );
    assert_eq!(
        transition(Stage::Resolve, &Event::Resume(Stage::PreHooks), &KEEP),
        Ok(Stage::PreHooks)
    );
    // Interrupted while waiting for a slot: the wait starts again (take is idempotent).
    assert_eq!(
        transition(Stage::Resolve, &Event::Resume(Stage::Slot), &KEEP),
        Ok(Stage::Slot)
    );
    assert_eq!(
        transition(Stage::Resolve, &Event::Resume(Stage::Done), &KEEP),
        Ok(Stage::Slot)
    );
}

#[test]
fn busy_local_after_master_drained_goes_back_to_waiting() {
    assert_eq!(
        transition(Stage::VerifyLocal, &Event::LocalBusy, &KEEP),
        Ok(Stage::AwaitDrained)
    );
}

fn reg(drain: Phase) -> MasterObs {
    MasterObs::Registered {
        drain,
        deactivated: true,
        active: false,
        mark_gone: false,
    }
}

fn busy() -> LocalObs {
    LocalObs::Seen(LocalWork {
        frameworks: vec![FrameworkWork {
            id: "f".into(),
            name: "n".into(),
            live_tasks: 1,
            unacknowledged: 1,
        }],
        ..Default::default()
    })
}

#[test]
fn await_needs_master_and_local() {
    let empty = LocalObs::Seen(LocalWork::default());
    assert_eq!(
        await_event(&KEEP, &reg(Phase::Drained), &empty),
        Event::Drained
    );
    assert_eq!(
        await_event(&KEEP, &reg(Phase::Draining), &empty),
        Event::Waiting
    );
    assert_eq!(
        await_event(&KEEP, &reg(Phase::Drained), &busy()),
        Event::Waiting
    );
    // Absent is not drained without a decommission.
    assert_eq!(
        await_event(&KEEP, &MasterObs::Absent, &empty),
        Event::Waiting
    );
    let gone = DrainOptions {
        decommission: true,
        ..KEEP
    };
    assert_eq!(
        await_event(&gone, &MasterObs::Absent, &empty),
        Event::Drained
    );
    assert_eq!(
        await_event(
            &gone,
            &MasterObs::Absent,
            &LocalObs::Unreachable("x".into())
        ),
        Event::Drained
    );
    assert_eq!(
        await_event(&gone, &MasterObs::Absent, &busy()),
        Event::Waiting
    );
    // A decommissioning agent never reaches DRAINED; DRAINED would be somebody else's drain.
    assert_eq!(
        await_event(&gone, &reg(Phase::Draining), &empty),
        Event::Waiting
    );
}

#[test]
fn the_slot_comes_between_resolve_and_the_pre_hooks() {
    assert_eq!(
        transition(Stage::Resolve, &Event::Resolved, &KEEP),
        Ok(Stage::Slot)
    );
    assert_eq!(
        transition(Stage::Slot, &Event::SlotTaken, &KEEP),
        Ok(Stage::Budget)
    );
    // Refused: the drain ends before anything is sent or stopped.
    assert_eq!(
        transition(Stage::Slot, &Event::SlotRefused("full".into()), &KEEP),
        Ok(Stage::Failed)
    );
    // No other event leaves Slot for a later stage.
    for e in [Event::HooksPassed, Event::DrainRequested, Event::Drained] {
        assert!(transition(Stage::Slot, &e, &KEEP).is_err(), "{e:?}");
    }
}

#[test]
fn the_budget_comes_between_the_slot_and_the_pre_hooks() {
    assert_eq!(
        transition(Stage::Budget, &Event::BudgetPassed, &KEEP),
        Ok(Stage::PreHooks)
    );
    // Refused: the drain ends before DRAIN_AGENT or any hook.
    assert_eq!(
        transition(Stage::Budget, &Event::BudgetRefused("no".into()), &KEEP),
        Ok(Stage::Failed)
    );
    for e in [Event::SlotTaken, Event::HooksPassed, Event::DrainRequested] {
        assert!(transition(Stage::Budget, &e, &KEEP).is_err(), "{e:?}");
    }
    // A drain interrupted in the Budget stage resumes there (its slot is held already).
    assert_eq!(
        transition(Stage::Resolve, &Event::Resume(Stage::Budget), &KEEP),
        Ok(Stage::Budget)
    );
    assert!(!Stage::Budget.drain_requested());
}
