use super::*;

const S: Duration = Duration::from_secs(1);

fn cfg() -> WatchConfig {
    WatchConfig {
        heartbeat_interval: 60 * S,
        stuck_after: 600 * S,
        on_stuck: LifecycleActionResult::Abandon,
    }
}

fn p(tasks: Option<u64>, state: Option<&str>) -> Progress {
    Progress {
        tasks_left: tasks,
        drain_state: state.map(str::to_string),
        waiting_for_slot: false,
    }
}

#[test]
fn waiting_for_a_fleet_slot_heartbeats_and_is_never_stuck() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    let waiting = Progress {
        drain_state: Some("waiting for a fleet slot".into()),
        waiting_for_slot: true,
        ..Progress::default()
    };
    w.observe(t0, &waiting);
    // Long past stuck_after (600 s) with the same look: still heartbeats, never stuck.
    assert_eq!(w.decide(t0 + 3600 * S), Decision::Heartbeat);
    w.heartbeat_sent(t0 + 3600 * S);
    assert_eq!(w.next_due(t0 + 3600 * S), Some(60 * S));
    // The slot is taken: the next stage is progress and stuck_after runs from there.
    assert!(w.observe(t0 + 3700 * S, &p(None, Some("stage PreHooks"))));
    assert_eq!(w.decide(t0 + 3700 * S + 599 * S), Decision::Heartbeat);
    assert!(matches!(
        w.decide(t0 + 3700 * S + 600 * S),
        Decision::CompleteOnStuck { .. }
    ));
}

#[test]
fn heartbeats_at_the_interval_while_progressing() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    assert_eq!(w.decide(t0), Decision::Wait);
    assert!(w.observe(t0 + 5 * S, &p(Some(10), Some("DRAINING"))));
    assert_eq!(w.decide(t0 + 59 * S), Decision::Wait);
    assert_eq!(w.decide(t0 + 60 * S), Decision::Heartbeat);
    // Asking again without reporting back: same answer (a failed call is retried).
    assert_eq!(w.decide(t0 + 61 * S), Decision::Heartbeat);
    w.heartbeat_sent(t0 + 61 * S);
    assert_eq!(w.decide(t0 + 62 * S), Decision::Wait);
    assert!(w.observe(t0 + 100 * S, &p(Some(7), Some("DRAINING"))));
    assert_eq!(w.decide(t0 + 121 * S), Decision::Heartbeat);
}

#[test]
fn what_counts_as_progress() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    assert!(w.observe(t0, &p(Some(5), None)), "first count");
    assert!(!w.observe(t0 + S, &p(Some(5), None)), "same count");
    assert!(!w.observe(t0 + 2 * S, &p(None, None)), "unknown");
    assert!(
        w.observe(t0 + 3 * S, &p(None, Some("DRAINING"))),
        "new state"
    );
    assert!(
        !w.observe(t0 + 4 * S, &p(Some(6), Some("DRAINING"))),
        "more tasks"
    );
    assert!(
        !w.observe(t0 + 5 * S, &p(Some(5), None)),
        "back to the best, not below"
    );
    // The state was kept through a look that could not tell it.
    assert!(!w.observe(t0 + 6 * S, &p(Some(5), Some("DRAINING"))));
    assert!(
        w.observe(t0 + 7 * S, &p(Some(4), Some("DRAINING"))),
        "fewer"
    );
    assert!(
        w.observe(t0 + 8 * S, &p(Some(4), Some("DRAINED"))),
        "drained"
    );
}

#[test]
fn stuck_stops_heartbeating_and_completes_with_on_stuck() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    w.observe(t0 + 10 * S, &p(Some(3), Some("DRAINING")));
    // Only heartbeats sent on time from here, but nothing moves.
    for m in 1..10 {
        let now = t0 + m * 60 * S;
        assert_eq!(w.decide(now), Decision::Heartbeat, "minute {m}");
        w.heartbeat_sent(now);
        assert!(!w.observe(now, &p(Some(3), Some("DRAINING"))));
    }
    assert_eq!(w.decide(t0 + 599 * S), Decision::Wait);
    assert_eq!(w.decide(t0 + 609 * S), Decision::Heartbeat);
    match w.decide(t0 + 610 * S) {
        Decision::CompleteOnStuck { result, held_by } => {
            assert_eq!(result, LifecycleActionResult::Abandon);
            assert!(held_by.contains("3 task(s) left"), "{held_by}");
            assert!(held_by.contains("DRAINING"), "{held_by}");
            assert!(held_by.contains("10m"), "{held_by}");
        }
        other => panic!("{other:?}"),
    }
    // Even a late heartbeat due is not sent any more.
    assert!(matches!(
        w.decide(t0 + 700 * S),
        Decision::CompleteOnStuck { .. }
    ));
    w.completed(LifecycleActionResult::Abandon);
    assert_eq!(w.decide(t0 + 701 * S), Decision::Nothing);
    assert_eq!(w.completed_with(), Some(LifecycleActionResult::Abandon));
}

#[test]
fn progress_resets_the_stuck_clock() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    w.observe(t0, &p(Some(3), Some("DRAINING")));
    w.heartbeat_sent(t0 + 590 * S);
    w.observe(t0 + 599 * S, &p(Some(2), Some("DRAINING")));
    assert_eq!(w.decide(t0 + 1000 * S), Decision::Heartbeat);
    assert!(matches!(
        w.decide(t0 + 1199 * S),
        Decision::CompleteOnStuck { .. }
    ));
}

#[test]
fn done_completes_with_continue_exactly_once() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    w.observe(t0, &p(Some(0), Some("DRAINED")));
    w.drain_ended(DrainEnd::Done);
    assert_eq!(w.decide(t0 + S), Decision::CompleteContinue);
    assert_eq!(w.decide(t0 + 2 * S), Decision::CompleteContinue, "retry");
    w.completed(LifecycleActionResult::Continue);
    for later in [3, 600, 100_000] {
        assert_eq!(w.decide(t0 + later * S), Decision::Nothing);
    }
    // Nothing can make it complete again.
    w.drain_ended(DrainEnd::Failed("late".into()));
    w.completed(LifecycleActionResult::Abandon);
    assert_eq!(w.decide(t0 + 5 * S), Decision::Nothing);
    assert_eq!(w.completed_with(), Some(LifecycleActionResult::Continue));
}

#[test]
fn a_failed_drain_completes_with_on_stuck_at_once() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(cfg(), t0);
    w.drain_ended(DrainEnd::Failed("the master is unreachable".into()));
    assert_eq!(
        w.decide(t0 + S),
        Decision::CompleteOnStuck {
            result: LifecycleActionResult::Abandon,
            held_by: "the drain failed: the master is unreachable".into()
        }
    );
}

#[test]
fn resumed_after_completion_sends_nothing() {
    let t0 = Instant::now();
    let w = LifecycleWatch::resumed(cfg(), t0, Some(LifecycleActionResult::Continue));
    assert_eq!(w.decide(t0 + 10_000 * S), Decision::Nothing);
    let w = LifecycleWatch::resumed(cfg(), t0, None);
    assert_eq!(w.decide(t0 + 60 * S), Decision::Heartbeat);
}

#[test]
fn next_due_is_the_earlier_of_heartbeat_and_stuck() {
    let t0 = Instant::now();
    let mut w = LifecycleWatch::new(
        WatchConfig {
            heartbeat_interval: 60 * S,
            stuck_after: 90 * S,
            on_stuck: LifecycleActionResult::Continue,
        },
        t0,
    );
    assert_eq!(w.next_due(t0 + 10 * S), Some(50 * S));
    w.heartbeat_sent(t0 + 60 * S);
    assert_eq!(w.next_due(t0 + 60 * S), Some(30 * S));
    assert_eq!(w.next_due(t0 + 90 * S), None);
    assert_eq!(
        w.held_by(t0 + 90 * S),
        "no observation of the drain yet; no progress for 1m 30s"
    );
}

fn notice(secs_from: u32, now: SystemTime) -> SpotNotice {
    SpotNotice {
        action: SpotAction::Terminate,
        time: now + secs_from * S,
    }
}

#[test]
fn spot_grace_fits_into_the_time_left() {
    let now = SystemTime::UNIX_EPOCH + 1_800_000_000 * S;
    let plan = spot_plan(&notice(120, now), now, SPOT_MARGIN, None);
    assert_eq!(plan.time_left, 120 * S);
    assert_eq!(plan.grace_cap, 90 * S);
    assert_eq!(plan.drain_deadline, 110 * S);
    assert_eq!(plan.action, SpotAction::Terminate);
    // A shorter configured grace stays; a longer one is capped.
    assert_eq!(
        spot_plan(&notice(120, now), now, SPOT_MARGIN, Some(20 * S)).grace_cap,
        20 * S
    );
    assert_eq!(
        spot_plan(&notice(120, now), now, SPOT_MARGIN, Some(300 * S)).grace_cap,
        90 * S
    );
    // Less left than the margin, or already past: kill at once.
    let late = spot_plan(&notice(20, now), now, SPOT_MARGIN, Some(300 * S));
    assert_eq!(late.grace_cap, Duration::ZERO);
    assert_eq!(late.drain_deadline, 10 * S);
    let past = spot_plan(&notice(0, now), now + 5 * S, SPOT_MARGIN, None);
    assert_eq!(past.time_left, Duration::ZERO);
    assert_eq!(past.grace_cap, Duration::ZERO);
    assert_eq!(past.drain_deadline, Duration::ZERO);
}

#[test]
fn spot_watch_acts_once() {
    let now = SystemTime::UNIX_EPOCH + 1_800_000_000 * S;
    let mut w = SpotWatch::default();
    assert!(!w.acted());
    assert!(w.on_notice(&notice(120, now), now, None).is_some());
    assert!(w.on_notice(&notice(120, now), now + 5 * S, None).is_none());
    assert!(w.acted());
    let mut resumed = SpotWatch::resumed(true);
    assert!(resumed.on_notice(&notice(120, now), now, None).is_none());
}
