//! The unit the packages ship (`systemd/mesos-maint.service`), hardening included, run by a real
//! systemd manager with a real systemd-logind that reads the shipped logind.conf.d drop-in
//! (InhibitDelayMaxSec) (see `tests/support/sandbox.rs`) on a node without
//! a Mesos agent, as in a machine-image build: it starts (`Type=notify`, READY=1), stays inert
//! (no inhibitor lock, a status line saying so), survives `systemctl reload`, and stops promptly
//! and cleanly. Needs root and `unshare`; elsewhere it prints a SKIP line and passes.
//!
//! Only what a container cannot provide is relaxed, in a drop-in: `ProtectHome=`,
//! `ProtectKernelTunables=` and `ProtectKernelLogs=` fail with 226/NAMESPACE in these machines'
//! containers, and `PrivateTmp=` would hide the sandbox's bus under /tmp. Everything else (the
//! empty capability set, NoNewPrivileges, the seccomp deny list, MemoryDenyWriteExecute,
//! ProtectSystem=strict, RestrictAddressFamilies, ...) applies as shipped.

mod support;

use std::time::{Duration, Instant};

use support::sandbox::{run_isolated_requiring, Sandbox};

/// These tests read logind's InhibitDelayMaxUSec: skip (not fail) where it is not installed.
const LOGIND: &str = "/lib/systemd/systemd-logind";

const UNIT: &str = "mesos-maint.service";
const SHIPPED: &str = include_str!("../systemd/mesos-maint.service");
const SHIPPED_EXEC: &str = "ExecStart=/usr/bin/mesos-maint daemon";
const SHIPPED_LOGIND: &str = include_str!("../systemd/logind-mesos-maint.conf");

fn proc_status_field(pid: u32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn shipped_unit_starts_hardened_and_stays_inert_without_an_agent() {
    run_isolated_requiring(
        "shipped_unit_starts_hardened_and_stays_inert_without_an_agent",
        &[LOGIND],
        || {
            assert!(
                SHIPPED.contains(SHIPPED_EXEC),
                "the unit's ExecStart changed"
            );
            let builder = Sandbox::builder("shipped-unit");
            let state = builder.dir().join("state");
            // Nothing listens on port 1: the agent "does not answer", as during an image build.
            let unit = SHIPPED.replace(
                SHIPPED_EXEC,
                &format!(
                    "ExecStart={} --agent http://127.0.0.1:1 --state-dir {} daemon",
                    env!("CARGO_BIN_EXE_mesos-maint"),
                    state.display()
                ),
            );
            let dropin = format!(
                "[Service]\nEnvironment=DBUS_SYSTEM_BUS_ADDRESS={}\nProtectHome=no\n\
                 ProtectKernelTunables=no\nProtectKernelLogs=no\nPrivateTmp=no\n",
                builder.bus_address()
            );
            let sb = builder
                .unit(UNIT, &unit)
                .unit(&format!("{UNIT}.d/sandbox.conf"), &dropin)
                .logind_conf("mesos-maint.conf", SHIPPED_LOGIND)
                .build()
                .expect("sandbox");

            // The logind drop-in as shipped: a shutdown may wait 15 minutes for a drain.
            let delay = sb.busctl(&[
                "get-property",
                "org.freedesktop.login1",
                "/org/freedesktop/login1",
                "org.freedesktop.login1.Manager",
                "InhibitDelayMaxUSec",
            ]);
            assert_eq!(
                String::from_utf8_lossy(&delay.stdout).trim(),
                "t 900000000",
                "{}",
                String::from_utf8_lossy(&delay.stderr)
            );

            // Type=notify: `systemctl start` returns once READY=1 arrived.
            sb.start_unit(UNIT);
            let started = sb.unit_state(UNIT);
            assert!(started.is_active(), "{}", sb.status_text(UNIT));
            let pid = started.main_pid;
            assert_ne!(pid, 0);

            // The sandbox as shipped: no capabilities, no new privileges, a seccomp filter.
            assert_eq!(proc_status_field(pid, "CapEff"), "0000000000000000");
            assert_eq!(proc_status_field(pid, "CapBnd"), "0000000000000000");
            assert_eq!(proc_status_field(pid, "NoNewPrivs"), "1");
            assert_eq!(proc_status_field(pid, "Seccomp"), "2");

            // Inert: still running a few polls later, no lock, and says why.
            std::thread::sleep(Duration::from_secs(3));
            let later = sb.unit_state(UNIT);
            assert!(
                later.is_active() && later.main_pid == pid,
                "{}",
                sb.status_text(UNIT)
            );
            let status = sb.status_text(UNIT);
            assert!(
                status.contains("local agent not answering; no lock held"),
                "{status}"
            );
            let inhibitors = sb.busctl(&[
                "call",
                "org.freedesktop.login1",
                "/org/freedesktop/login1",
                "org.freedesktop.login1.Manager",
                "ListInhibitors",
            ]);
            assert!(inhibitors.status.success());
            let listed = String::from_utf8_lossy(&inhibitors.stdout);
            assert!(!listed.contains("mesos-maint"), "{listed}");

            // ExecReload (SIGHUP): configuration reloaded in place.
            let out = sb.systemctl(&["reload", UNIT]);
            assert!(out.status.success(), "{}", sb.status_text(UNIT));
            std::thread::sleep(Duration::from_millis(500));
            let reloaded = sb.unit_state(UNIT);
            assert!(reloaded.is_active() && reloaded.main_pid == pid);

            // SIGTERM: out within seconds (TimeoutStopSec is only a ceiling), exit status 0.
            let t = Instant::now();
            sb.stop_unit(UNIT);
            let took = t.elapsed();
            let stopped = sb.unit_state(UNIT);
            assert!(stopped.is_stopped(), "{stopped:?}");
            assert_eq!(stopped.result, "success", "{}", sb.status_text(UNIT));
            assert!(took < Duration::from_secs(5), "stop took {took:?}");
            assert!(
                !state.join("drain.json").exists(),
                "an inert daemon wrote a marker"
            );
        },
    );
}
