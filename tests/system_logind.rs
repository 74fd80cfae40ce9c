//! System tests of `mesos_maint::systemd::Logind` against a real systemd-logind (and a real
//! systemd manager, whose `reboot.target` is a harmless dummy) on a private bus; see
//! `tests/support/sandbox.rs`. They need root and `unshare`; elsewhere they print a SKIP line
//! and pass.
//!
//! What logind 252 was seen to do here (the daemon's shutdown handling relies on it):
//!
//! - `Inhibit` returns a descriptor; the lock is listed by `ListInhibitors` with our who, why,
//!   mode, uid and pid, and is gone once the descriptor is closed (the lock dropped).
//! - `Reboot(false)` with a delay lock held: `PrepareForShutdown(true)` at once,
//!   `PreparingForShutdown` reads true, a second `Reboot` is refused with
//!   `org.freedesktop.login1.OperationInProgress`, and `reboot.target` stays stopped until the
//!   lock is released; then logind starts it right away (well before `InhibitDelayMaxUSec`).
//! - `PrepareForShutdown(false)` follows when the `reboot.target` start job has finished, i.e.
//!   right after the dummy target is up (milliseconds). On a real machine, whose reboot.target
//!   job ends the system, it is only seen when the shutdown did not go through.
//! - A delay lock that is never released holds the reboot back for `InhibitDelayMaxUSec` only:
//!   logind then goes ahead, and the lock is still listed as held afterwards.

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use mesos_maint::systemd::{
    InhibitMode, LoginError, Logind, ShutdownSignals, Systemd, INHIBIT_SHUTDOWN,
};
use support::logind::inhibitors_of;
use support::sandbox::{run_isolated_requiring, Sandbox};
use support::sim::runtime;

const LOGIND: &str = "/lib/systemd/systemd-logind";
const WHO: &str = "mesos-maint-test";
const SHORT: Duration = Duration::from_secs(10);

fn block_on<F: Future>(f: F) -> F::Output {
    // Two workers (`runtime`): zbus reads the socket on its own task while a test waits on
    // systemctl.
    runtime().block_on(f)
}

async fn connect(sb: &Sandbox) -> Logind {
    Logind::connect_to(&sb.bus_address())
        .await
        .expect("connect to the sandbox's logind")
}

/// Our locks (by `who`) as logind lists them, through `busctl` (independent of the code under
/// test): `(what, who, why, mode, uid, pid)` per lock.
fn listed_by_busctl(sb: &Sandbox, who: &str) -> Vec<String> {
    inhibitors_of(sb, who)
        .iter()
        .map(|row| row.to_string())
        .collect()
}

/// The next `PrepareForShutdown` within `within`, and when it arrived.
async fn next_signal(stream: &mut ShutdownSignals, within: Duration) -> Option<(bool, Instant)> {
    match tokio::time::timeout(within, stream.next()).await {
        Ok(Some(start)) => Some((start, Instant::now())),
        Ok(None) => panic!("the PrepareForShutdown stream ended"),
        Err(_) => None,
    }
}

#[test]
fn delay_lock_is_listed_while_held_and_gone_once_dropped() {
    run_isolated_requiring(
        "delay_lock_is_listed_while_held_and_gone_once_dropped",
        &[LOGIND],
        || {
            let sb = Sandbox::builder("logind-list")
                .with_logind(true)
                .build()
                .expect("sandbox");
            block_on(async {
                // Share the systemd client's connection, as the daemon does.
                let systemd = Systemd::connect_to(&sb.bus_address())
                    .await
                    .expect("systemd");
                let logind = Logind::on(systemd.connection()).await.expect("logind");

                let lock = logind
                    .inhibit(
                        INHIBIT_SHUTDOWN,
                        WHO,
                        "drain the agent first",
                        InhibitMode::Delay,
                    )
                    .await
                    .expect("take a delay lock");
                assert_eq!(lock.mode(), InhibitMode::Delay);
                assert_eq!(lock.what(), "shutdown");

                let ours: Vec<_> = logind
                    .list_inhibitors()
                    .await
                    .expect("ListInhibitors")
                    .into_iter()
                    .filter(|i| i.who == WHO)
                    .collect();
                assert_eq!(ours.len(), 1, "{ours:?}");
                let i = &ours[0];
                assert_eq!(i.what, "shutdown");
                assert!(i.covers(INHIBIT_SHUTDOWN));
                assert_eq!(i.why, "drain the agent first");
                assert_eq!(i.mode, "delay");
                assert!(i.has_mode(InhibitMode::Delay));
                assert_eq!(i.uid, 0);
                assert_eq!(i.pid, std::process::id());
                let independent = listed_by_busctl(&sb, WHO);
                assert_eq!(independent.len(), 1, "{independent:?}");
                assert!(independent[0].contains("\"delay\""), "{independent:?}");

                // A block lock next to it, released explicitly.
                let block = logind
                    .inhibit(INHIBIT_SHUTDOWN, WHO, "not drained", InhibitMode::Block)
                    .await
                    .expect("take a block lock");
                assert_eq!(listed_by_busctl(&sb, WHO).len(), 2);
                block.release();
                let t = Instant::now();
                assert!(
                    wait_async(SHORT, || async { listed_by_busctl(&sb, WHO).len() == 1 }).await,
                    "{:?}",
                    listed_by_busctl(&sb, WHO)
                );
                eprintln!(
                    "block lock gone from ListInhibitors {:?} after release",
                    t.elapsed()
                );
                assert!(listed_by_busctl(&sb, WHO)[0].contains("\"delay\""));

                drop(lock);
                let t = Instant::now();
                assert!(
                    wait_async(SHORT, || async { listed_by_busctl(&sb, WHO).is_empty() }).await,
                    "{:?}",
                    listed_by_busctl(&sb, WHO)
                );
                eprintln!(
                    "delay lock gone from ListInhibitors {:?} after drop",
                    t.elapsed()
                );
                let left = logind.list_inhibitors().await.expect("ListInhibitors");
                assert!(left.iter().all(|i| i.who != WHO), "{left:?}");
            });
        },
    );
}

#[test]
fn inhibit_delay_max_is_the_configured_value() {
    run_isolated_requiring(
        "inhibit_delay_max_is_the_configured_value",
        &[LOGIND],
        || {
            let sb = Sandbox::builder("logind-delay")
                .inhibit_delay_max(Duration::from_millis(2500))
                .build()
                .expect("sandbox");
            block_on(async {
                let logind = connect(&sb).await;
                assert_eq!(
                    logind
                        .inhibit_delay_max()
                        .await
                        .expect("InhibitDelayMaxUSec"),
                    Duration::from_millis(2500)
                );
                assert!(!logind.preparing_for_shutdown().await.expect("property"));
            });
        },
    );
}

#[test]
fn reboot_waits_for_the_delay_lock_and_ends_with_prepare_for_shutdown_false() {
    run_isolated_requiring(
        "reboot_waits_for_the_delay_lock_and_ends_with_prepare_for_shutdown_false",
        &[LOGIND],
        || {
            // Long enough that only our release can end the wait within the test's bounds.
            let delay_max = Duration::from_secs(30);
            let sb = Sandbox::builder("logind-reboot")
                .inhibit_delay_max(delay_max)
                .build()
                .expect("sandbox");
            block_on(async {
                let logind = connect(&sb).await;
                let mut signals = logind.prepare_for_shutdown_stream().await.expect("stream");
                let lock = logind
                    .inhibit(INHIBIT_SHUTDOWN, WHO, "drain first", InhibitMode::Delay)
                    .await
                    .expect("delay lock");

                let asked = Instant::now();
                logind.reboot(false).await.expect("Reboot(false)");
                let (start, got) = next_signal(&mut signals, SHORT)
                    .await
                    .expect("PrepareForShutdown(true) after Reboot");
                assert!(start, "the first signal is PrepareForShutdown(true)");
                eprintln!("PrepareForShutdown(true) {:?} after Reboot", got - asked);
                assert!(logind.preparing_for_shutdown().await.expect("property"));

                // A second request while the first waits for us is refused.
                match logind.reboot(false).await {
                    Err(LoginError::OperationInProgress { detail }) => {
                        eprintln!("second Reboot refused: {detail}")
                    }
                    other => panic!("second Reboot: {other:?}"),
                }

                // Held: reboot.target stays down (sampled for 2 s, at least 5 times).
                let hold_until = Instant::now() + Duration::from_secs(2);
                let mut samples = 0;
                while Instant::now() < hold_until || samples < 5 {
                    let s = sb.unit_state("reboot.target");
                    assert!(
                        !s.is_active(),
                        "reboot.target started under a delay lock: {s:?}"
                    );
                    assert_eq!(s.active_state, "inactive", "{s:?}");
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                assert_eq!(
                    next_signal(&mut signals, Duration::ZERO).await,
                    None,
                    "no PrepareForShutdown(false) while the lock is held"
                );

                let released = Instant::now();
                lock.release();
                let (s, ok) = sb.wait_for_state("reboot.target", SHORT, |s| s.is_active());
                assert!(ok, "reboot.target not started after the release: {s:?}");
                let started = Instant::now();
                let after_release = started - released;
                eprintln!("reboot.target active {after_release:?} after the release");
                assert!(
                    after_release < Duration::from_secs(3),
                    "logind went ahead {after_release:?} after the release (delay max {delay_max:?})"
                );

                let (start, got) = next_signal(&mut signals, SHORT)
                    .await
                    .expect("PrepareForShutdown(false) once the reboot.target job finished");
                assert!(!start, "the second signal is PrepareForShutdown(false)");
                eprintln!(
                    "PrepareForShutdown(false) {:?} after the release ({:?} after reboot.target \
                     was seen active)",
                    got - released,
                    got.saturating_duration_since(started)
                );
                assert!(!logind.preparing_for_shutdown().await.expect("property"));

                // The daemon takes its lock again after PrepareForShutdown(false).
                let again = logind
                    .inhibit(INHIBIT_SHUTDOWN, WHO, "drain first", InhibitMode::Delay)
                    .await
                    .expect("re-take the delay lock");
                assert_eq!(listed_by_busctl(&sb, WHO).len(), 1);
                drop(again);
            });
        },
    );
}

#[test]
fn an_unreleased_delay_lock_holds_the_reboot_for_inhibit_delay_max_only() {
    run_isolated_requiring(
        "an_unreleased_delay_lock_holds_the_reboot_for_inhibit_delay_max_only",
        &[LOGIND],
        || {
            let delay_max = Duration::from_millis(1500);
            let sb = Sandbox::builder("logind-timeout")
                .inhibit_delay_max(delay_max)
                .build()
                .expect("sandbox");
            block_on(async {
                let logind = connect(&sb).await;
                let mut signals = logind.prepare_for_shutdown_stream().await.expect("stream");
                let lock = logind
                    .inhibit(INHIBIT_SHUTDOWN, WHO, "stuck drain", InhibitMode::Delay)
                    .await
                    .expect("delay lock");
                logind.reboot(false).await.expect("Reboot(false)");
                let (start, got) = next_signal(&mut signals, SHORT).await.expect("signal");
                assert!(start);
                let (s, ok) = sb.wait_for_state("reboot.target", SHORT, |s| s.is_active());
                assert!(ok, "{s:?}");
                let waited = got.elapsed();
                eprintln!("reboot.target active {waited:?} after PrepareForShutdown(true)");
                assert!(
                    waited >= delay_max - Duration::from_millis(300),
                    "logind did not wait for the lock: {waited:?}"
                );
                assert!(waited < delay_max + Duration::from_secs(3), "{waited:?}");
                let (start, _) = next_signal(&mut signals, SHORT).await.expect("signal");
                assert!(!start);
                // logind went ahead without us: the lock is still ours and still listed.
                assert_eq!(listed_by_busctl(&sb, WHO).len(), 1);
                drop(lock);
            });
        },
    );
}

#[test]
fn a_bus_without_logind_is_bus_unavailable() {
    run_isolated_requiring("a_bus_without_logind_is_bus_unavailable", &[LOGIND], || {
        let sb = Sandbox::builder("no-logind").build().expect("sandbox");
        block_on(async {
            match Logind::connect_to(&sb.bus_address()).await {
                Err(e @ LoginError::BusUnavailable { .. }) => {
                    assert!(e.to_string().contains("login1"), "{e}")
                }
                other => panic!("unexpected {other:?}"),
            }
            let systemd = Systemd::connect_to(&sb.bus_address())
                .await
                .expect("systemd");
            let err = Logind::on(systemd.connection()).await.unwrap_err();
            assert!(matches!(err, LoginError::BusUnavailable { .. }), "{err:?}");
        });
    });
}

/// Poll an async condition every 50 ms until it holds or `timeout` passes.
async fn wait_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
