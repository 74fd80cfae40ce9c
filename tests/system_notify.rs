//! System test of `mesos_maint::systemd::notify` (the sd-notify crate underneath) against a
//! real systemd manager: a `Type=notify` unit with a watchdog runs this test binary as its main
//! process (the `notify_helper` test, which does nothing unless the unit's environment selects
//! it), and the manager's view of the unit shows what the notifications did. Needs root and
//! `unshare`; elsewhere it prints a SKIP line and passes.

mod support;

use std::time::{Duration, Instant};

use mesos_maint::systemd::notify::{watchdog_ping_interval, watchdog_timeout, Notifier};
use support::sandbox::{run_isolated, Sandbox};

/// Set in the helper unit's environment: makes `notify_helper` act.
const HELPER_ENV: &str = "MESOS_MAINT_NOTIFY_HELPER";
const UNIT: &str = "mm-notify-helper.service";
/// How long the helper runs after READY=1, feeding the watchdog.
const HELPER_RUNS: Duration = Duration::from_secs(6);
/// Pings go out every half of it: a 1 s margin against a helper thread starved on a loaded
/// 2-core CI machine (the test only asks that the watchdog is fed, not how tightly).
const WATCHDOG: Duration = Duration::from_secs(2);

/// The unit's main process. A no-op in a normal test run.
#[test]
fn notify_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let notifier = Notifier::from_env();
    assert!(notifier.is_enabled(), "NOTIFY_SOCKET is not set");
    let timeout = watchdog_timeout().expect("WATCHDOG_USEC for this process");
    let every = watchdog_ping_interval(timeout);
    notifier
        .status(&format!("watchdog {timeout:?}; ping every {every:?}"))
        .unwrap();
    notifier.ready().unwrap();
    let until = Instant::now() + HELPER_RUNS;
    while Instant::now() < until {
        std::thread::sleep(every);
        notifier.watchdog().unwrap();
    }
    notifier.stopping().unwrap();
    notifier.status("done").unwrap();
}

fn show(sb: &Sandbox, property: &str) -> String {
    let out = sb.systemctl(&["show", "--value", "-p", property, "--", UNIT]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_notify_unit_gets_ready_status_and_a_fed_watchdog() {
    run_isolated("a_notify_unit_gets_ready_status_and_a_fed_watchdog", || {
        let exe = std::env::current_exe().expect("test executable");
        let unit = format!(
            "[Unit]\nDescription=mesos-maint sandbox: sd_notify helper\n\n[Service]\n\
             Type=notify\nTimeoutStartSec=15s\nWatchdogSec={}ms\nEnvironment={HELPER_ENV}=1\n\
             ExecStart={} --exact notify_helper --nocapture --test-threads=1\n",
            WATCHDOG.as_millis(),
            exe.display()
        );
        let sb = Sandbox::builder("notify")
            .unit(UNIT, &unit)
            .build()
            .expect("sandbox");

        // `systemctl start` of a Type=notify unit returns once READY=1 arrived.
        sb.start_unit(UNIT);
        let s = sb.unit_state(UNIT);
        assert!(s.is_active(), "{s:?}\n{}", sb.status_text(UNIT));
        assert_eq!(
            show(&sb, "StatusText"),
            "watchdog 2s; ping every 1s",
            "STATUS= as systemctl status shows it"
        );

        // Past the watchdog timeout, twice over: still running, so WATCHDOG=1 got through.
        std::thread::sleep(2 * WATCHDOG + Duration::from_millis(200));
        let s = sb.unit_state(UNIT);
        assert_eq!(
            (s.active_state.as_str(), s.sub_state.as_str()),
            ("active", "running"),
            "{s:?}\n{}",
            sb.status_text(UNIT)
        );

        let (s, ok) = sb.wait_for_state(UNIT, Duration::from_secs(15), |s| s.is_stopped());
        assert!(ok, "{s:?}");
        assert_eq!(s.result, "success", "{s:?}\n{}", sb.status_text(UNIT));
    });
}
