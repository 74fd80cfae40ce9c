//! System tests of `mesos_maint::systemd` against a real systemd manager on a private bus (see
//! `tests/support/sandbox.rs`). They need root and `unshare`; elsewhere they print a SKIP line
//! and pass.

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use mesos_maint::systemd::{
    default_agent_units, AgentUnits, KillWhom, Systemd, SystemdError, JOB_TIMEOUT,
};
use support::fake::FakeService;
use support::sandbox::{run_isolated, Sandbox};

const AGENT: &str = "dcos-mesos-slave.service";
const AGENT_SOCKET: &str = "dcos-mesos-slave.socket";
const PUBLIC: &str = "dcos-mesos-slave-public.service";
const PUBLIC_SOCKET: &str = "dcos-mesos-slave-public.socket";
const DOCKER: &str = "docker.service";
const SHORT: Duration = Duration::from_secs(20);

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

async fn connect(sb: &Sandbox) -> Systemd {
    Systemd::connect_to(&sb.bus_address())
        .await
        .expect("connect to the sandbox manager")
}

#[test]
fn detects_the_public_agent_and_its_socket() {
    run_isolated("detects_the_public_agent_and_its_socket", || {
        let sb = Sandbox::builder("detect-public")
            .service(FakeService::agent(PUBLIC).with_socket())
            .service(FakeService::docker())
            .build()
            .expect("sandbox");
        block_on(async {
            let systemd = connect(&sb).await;
            let found = systemd
                .detect_agent_units(&default_agent_units())
                .await
                .expect("detect");
            assert_eq!(
                found,
                Some(AgentUnits {
                    service: PUBLIC.into(),
                    socket: Some(PUBLIC_SOCKET.into()),
                })
            );
            // Without a socket twin, and with a suffix-less configured name.
            let found = systemd
                .detect_agent_units(&["mesos-agent".into(), "docker".into()])
                .await
                .expect("detect");
            assert_eq!(
                found,
                Some(AgentUnits {
                    service: DOCKER.into(),
                    socket: None,
                })
            );
        });
    });
}

#[test]
fn detects_nothing_and_reports_missing_units_as_not_found() {
    run_isolated(
        "detects_nothing_and_reports_missing_units_as_not_found",
        || {
            let sb = Sandbox::builder("detect-none")
                .service(FakeService::docker())
                .build()
                .expect("sandbox");
            block_on(async {
                let systemd = connect(&sb).await;
                let found = systemd.detect_agent_units(&default_agent_units()).await;
                assert_eq!(found.expect("detect"), None);

                let missing = systemd.unit_state(AGENT).await.expect("state");
                assert_eq!(missing.load_state, "not-found");
                assert!(!missing.is_loaded() && missing.is_stopped() && !missing.is_active());
                assert_eq!(missing.main_pid, None);

                let err = systemd.start_unit(AGENT, SHORT).await.unwrap_err();
                assert!(
                    matches!(&err, SystemdError::NoSuchUnit { unit } if unit == AGENT),
                    "{err:?}"
                );
                let err = systemd
                    .kill_unit(AGENT, KillWhom::All, libc::SIGUSR1)
                    .await
                    .unwrap_err();
                assert!(matches!(err, SystemdError::NoSuchUnit { .. }), "{err:?}");
            });
        },
    );
}

#[test]
fn stops_socket_then_service_and_starts_them_again() {
    run_isolated("stops_socket_then_service_and_starts_them_again", || {
        let sb = Sandbox::builder("stop-start")
            .service(FakeService::agent(AGENT).with_socket())
            .start(AGENT_SOCKET)
            .start(AGENT)
            .build()
            .expect("sandbox");
        assert!(sb.unit_state(AGENT_SOCKET).is_active());
        assert!(sb.unit_state(AGENT).is_active());
        block_on(async {
            let systemd = connect(&sb).await;
            let before = systemd.unit_state(AGENT).await.expect("state");
            assert!(before.is_loaded() && before.is_active(), "{before}");
            assert_eq!(before.sub_state, "running");
            assert_eq!(before.main_pid, Some(sb.unit_state(AGENT).main_pid));

            let units = systemd
                .detect_agent_units(&default_agent_units())
                .await
                .expect("detect")
                .expect("agent found");
            systemd.stop_agent(&units, SHORT).await.expect("stop");
            // The job result is in: no waiting for the states.
            for unit in [AGENT_SOCKET, AGENT] {
                let s = sb.unit_state(unit);
                assert_eq!(s.active_state, "inactive", "{unit}: {s:?}");
            }
            let after = systemd.unit_state(AGENT).await.expect("state");
            assert!(after.is_stopped() && after.main_pid.is_none(), "{after}");
            assert_eq!(sb.recorded(AGENT), ["START", "SIGTERM"]);

            // Stopping what is already stopped is fine.
            systemd
                .stop_unit(AGENT, SHORT)
                .await
                .expect("stop a stopped unit");

            systemd.start_agent(&units, SHORT).await.expect("start");
            for unit in [AGENT_SOCKET, AGENT] {
                let s = sb.unit_state(unit);
                assert_eq!(s.active_state, "active", "{unit}: {s:?}");
            }
            let again = systemd.unit_state(AGENT).await.expect("state");
            assert!(again.is_active(), "{again}");
            assert_eq!(again.main_pid, Some(sb.unit_state(AGENT).main_pid));
            assert_ne!(again.main_pid, before.main_pid);
        });
    });
}

#[test]
fn sigusr1_reaches_the_fake_docker_which_keeps_running() {
    run_isolated(
        "sigusr1_reaches_the_fake_docker_which_keeps_running",
        || {
            let sb = Sandbox::builder("kill-docker")
                .service(FakeService::docker())
                .service(FakeService::sleeper("plain-sleeper.service"))
                .start(DOCKER)
                .start("plain-sleeper.service")
                .build()
                .expect("sandbox");
            assert!(sb.wait_for_record(DOCKER, "START", 1, SHORT));
            block_on(async {
                let systemd = connect(&sb).await;
                systemd
                    .kill_unit(DOCKER, KillWhom::All, libc::SIGUSR1)
                    .await
                    .expect("kill all");
                assert!(
                    sb.wait_for_record(DOCKER, "SIGUSR1", 1, SHORT),
                    "{:?}",
                    sb.recorded(DOCKER)
                );
                systemd
                    .kill_unit(DOCKER, KillWhom::Main, libc::SIGUSR1)
                    .await
                    .expect("kill main");
                assert!(sb.wait_for_record(DOCKER, "SIGUSR1", 2, SHORT));
                assert_eq!(sb.sigusr1_count(DOCKER), 2);
                let docker = systemd.unit_state(DOCKER).await.expect("state");
                assert!(docker.is_active(), "{docker}");
                assert_eq!(
                    sb.recorded(DOCKER).first().map(String::as_str),
                    Some("START")
                );
                assert!(!sb.recorded(DOCKER).contains(&"SIGTERM".to_owned()));

                // A plain process dies of it, as the doc says; the unit ends failed.
                systemd
                    .kill_unit("plain-sleeper.service", KillWhom::All, libc::SIGUSR1)
                    .await
                    .expect("kill sleeper");
                let (s, ok) = sb.wait_for_state("plain-sleeper.service", SHORT, |s| s.is_stopped());
                assert!(ok, "{s:?}");
                assert_eq!(
                    (s.active_state.as_str(), s.result.as_str()),
                    ("failed", "signal")
                );

                // Signalling a stopped (but installed) unit is a no-op, not an error.
                systemd.stop_unit(DOCKER, SHORT).await.expect("stop docker");
                systemd
                    .kill_unit(DOCKER, KillWhom::All, libc::SIGUSR1)
                    .await
                    .expect("kill a stopped unit");
                systemd
                    .kill_unit(DOCKER, KillWhom::Main, libc::SIGUSR1)
                    .await
                    .expect("kill main of a stopped unit");
                assert_eq!(sb.sigusr1_count(DOCKER), 2);
            });
        },
    );
}

#[test]
fn sigusr1_hook_runs_a_command() {
    run_isolated("sigusr1_hook_runs_a_command", || {
        let builder = Sandbox::builder("usr1-hook");
        let touched = builder.dir().join("hook-ran");
        let sb = builder
            .service(
                FakeService::agent(AGENT).on_sigusr1(&format!("echo ran >> {}", touched.display())),
            )
            .start(AGENT)
            .build()
            .expect("sandbox");
        assert!(sb.wait_for_record(AGENT, "START", 1, SHORT));
        block_on(async {
            let systemd = connect(&sb).await;
            systemd
                .kill_unit(AGENT, KillWhom::Main, libc::SIGUSR1)
                .await
                .expect("kill");
        });
        assert!(support::proc::wait_until(SHORT, || touched.exists()));
        assert!(sb.unit_state(AGENT).is_active());
    });
}

#[test]
fn failing_jobs_are_job_failed_with_their_result() {
    run_isolated("failing_jobs_are_job_failed_with_their_result", || {
        let sb = Sandbox::builder("job-failed")
            .service(FakeService::failing_start("broken.service"))
            .service(FakeService::stuck_on_stop(AGENT, Duration::from_secs(1)))
            .start(AGENT)
            .build()
            .expect("sandbox");
        block_on(async {
            let systemd = connect(&sb).await;
            let err = systemd
                .start_unit("broken.service", SHORT)
                .await
                .unwrap_err();
            match &err {
                SystemdError::JobFailed {
                    unit,
                    action,
                    result,
                } => {
                    assert_eq!(
                        (unit.as_str(), *action, result.as_str()),
                        ("broken.service", "start", "failed")
                    )
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(err.to_string().contains("broken.service"), "{err}");

            // systemd gives up on the stop job after JobTimeoutSec=1s: result "timeout".
            let err = systemd.stop_unit(AGENT, SHORT).await.unwrap_err();
            match &err {
                SystemdError::JobFailed {
                    unit,
                    action,
                    result,
                } => assert_eq!(
                    (unit.as_str(), *action, result.as_str()),
                    (AGENT, "stop", "timeout")
                ),
                other => panic!("unexpected {other:?}"),
            }
        });
    });
}

#[test]
fn our_wait_gives_up_with_job_timeout() {
    run_isolated("our_wait_gives_up_with_job_timeout", || {
        let sb = Sandbox::builder("job-timeout")
            .service(FakeService::new("slow.service").exec_stop("/bin/sleep 30"))
            .start("slow.service")
            .build()
            .expect("sandbox");
        block_on(async {
            let systemd = connect(&sb).await;
            let started = Instant::now();
            let err = systemd
                .stop_unit("slow.service", Duration::from_millis(700))
                .await
                .unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            match &err {
                SystemdError::JobTimeout {
                    unit,
                    action,
                    after,
                } => {
                    assert_eq!((unit.as_str(), *action), ("slow.service", "stop"));
                    assert_eq!(*after, Duration::from_millis(700));
                }
                other => panic!("unexpected {other:?}"),
            }
            let s = systemd.unit_state("slow.service").await.expect("state");
            assert_eq!(s.active_state, "deactivating", "{s}");
            assert!(!s.is_active() && !s.is_stopped());
        });
    });
}

#[test]
fn concurrent_jobs_on_one_connection_each_get_their_own_result() {
    run_isolated(
        "concurrent_jobs_on_one_connection_each_get_their_own_result",
        || {
            let sb = Sandbox::builder("concurrent")
                .service(FakeService::agent(AGENT))
                .service(FakeService::docker())
                .service(FakeService::failing_start("broken.service"))
                .start(AGENT)
                .start(DOCKER)
                .build()
                .expect("sandbox");
            block_on(async {
                let systemd = connect(&sb).await;
                let other = systemd.clone();
                let third = systemd.clone();
                let (a, d, b) = tokio::join!(
                    systemd.stop_unit(AGENT, JOB_TIMEOUT),
                    other.stop_unit(DOCKER, JOB_TIMEOUT),
                    third.start_unit("broken.service", JOB_TIMEOUT),
                );
                a.expect("stop agent");
                d.expect("stop docker");
                assert!(matches!(b, Err(SystemdError::JobFailed { .. })), "{b:?}");
                assert!(sb.unit_state(AGENT).is_stopped());
                assert!(sb.unit_state(DOCKER).is_stopped());
            });
        },
    );
}

/// No root needed: nothing listens there.
#[test]
fn unreachable_bus_is_bus_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let address = format!("unix:path={}", dir.path().join("no-bus").display());
    let err = block_on(Systemd::connect_to(&address)).unwrap_err();
    match &err {
        SystemdError::BusUnavailable { address: a, detail } => {
            assert_eq!(a, &address);
            assert!(!detail.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(&address), "{err}");

    let err = block_on(Systemd::connect_to("not-an-address")).unwrap_err();
    assert!(
        matches!(err, SystemdError::BusUnavailable { .. }),
        "{err:?}"
    );
}

/// A private dbus-daemon without systemd on it. With `activation`, the bus has an activation
/// file for org.freedesktop.systemd1 that runs /bin/false, as the system bus of a machine where
/// systemd is not PID 1 has. No root needed.
fn connect_to_bus_without_systemd(activation: bool) -> SystemdError {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("bus");
    let services = dir.path().join("services");
    std::fs::create_dir(&services).expect("mkdir");
    if activation {
        std::fs::write(
            services.join("org.freedesktop.systemd1.service"),
            "[D-BUS Service]\nName=org.freedesktop.systemd1\nExec=/bin/false\n",
        )
        .expect("write activation file");
    }
    let config = dir.path().join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            socket.display(),
            services.display()
        ),
    )
    .expect("write bus config");
    let mut daemon = std::process::Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .arg("--nofork")
        .arg("--print-address")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn dbus-daemon");
    // The address is printed once the socket accepts connections; the socket file alone appears
    // at bind(), before listen(), and a connect in between is refused (seen in CI). An exiting
    // daemon closes stdout, so this read cannot hang.
    let mut address = String::new();
    let up = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(daemon.stdout.take().expect("piped stdout")),
        &mut address,
    )
    .is_ok_and(|n| n > 0)
        && socket.exists();
    let result = up.then(|| {
        block_on(Systemd::connect_to(&format!(
            "unix:path={}",
            socket.display()
        )))
    });
    let _ = daemon.kill(); // our own child, by PID
    let _ = daemon.wait();
    assert!(up, "dbus-daemon did not come up");
    result.expect("connected").unwrap_err()
}

#[test]
fn bus_without_systemd_is_bus_unavailable() {
    if std::process::Command::new("dbus-daemon")
        .arg("--version")
        .output()
        .is_err()
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP bus_without_systemd_is_bus_unavailable: no dbus-daemon on PATH"
        );
        return;
    }
    for activation in [false, true] {
        let err = connect_to_bus_without_systemd(activation);
        match &err {
            SystemdError::BusUnavailable { detail, .. } => {
                let expected = if activation {
                    "not running"
                } else {
                    "not on this bus"
                };
                assert!(
                    detail.contains(expected),
                    "activation={activation}: {detail}"
                );
            }
            other => panic!("activation={activation}: unexpected {other:?}"),
        }
    }
}

/// Self-tests of the sandbox's logind support (and of `run_isolated` for a test inside a
/// module, whose libtest path is `harness::…`).
mod harness {
    use super::*;

    #[test]
    fn logind_runs_with_the_configured_inhibit_delay_and_reboots_only_a_dummy() {
        support::sandbox::run_isolated_requiring(
            "logind_runs_with_the_configured_inhibit_delay_and_reboots_only_a_dummy",
            &["/lib/systemd/systemd-logind"],
            || {
                let sb = Sandbox::builder("logind")
                    .with_logind(true)
                    .inhibit_delay_max(Duration::from_millis(1500))
                    .build()
                    .expect("sandbox");
                assert!(sb.logind_pid().is_some());
                let out = sb.busctl(&[
                    "get-property",
                    "org.freedesktop.login1",
                    "/org/freedesktop/login1",
                    "org.freedesktop.login1.Manager",
                    "InhibitDelayMaxUSec",
                ]);
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t 1500000");

                // Reboot(false) goes through logind's real sequence and ends by starting the
                // dummy reboot.target on the sandbox manager.
                support::logind::reboot(&sb);
                let (s, ok) = sb.wait_for_state("reboot.target", SHORT, |s| s.is_active());
                assert!(ok, "{s:?}");
            },
        );
    }
}
