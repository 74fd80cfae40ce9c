//! System tests of the daemon's periodic node health checks (design.md "Node health", last
//! paragraph): the built `mesos-maint daemon` with a short `health.interval`, against a real
//! systemd and logind on a private bus (`tests/support/sandbox.rs`), the in-process simulator
//! as master and agent (its `agent/health-hang` knob hangs the agent's `GET /health`), the fake
//! Docker API on a unix socket, and a small tmpfs as the agent's work dir (so the disk check
//! judges a known filesystem, not the host's disk).
//!
//! Observed independently of the code under test: the metrics endpoint, the `NOTIFY_SOCKET`
//! datagrams, the daemon's log, the fake agent unit's start records (systemd started it), the
//! simulator's request log and the state dir. They need root and `unshare`; elsewhere they
//! print a SKIP line and pass.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cloud_fakes::FakeDocker;
use mesos_sim::{Server, Sim, SimConfig};
use nix::sys::signal::Signal;
use support::daemon_node::{node_sandbox, Daemon, DaemonNode, SimRun, LOGIND, SOON};
use support::proc::wait_until;
use support::sandbox::{run_isolated_requiring, Sandbox};
use support::sim::{never_ack_config, runtime, AGENT};

const CHECKS: [&str; 5] = ["agent-unit", "agent-api", "registration", "docker", "disk"];

/// Long enough for several passes while the agent API hangs (each then takes the 5 s check
/// timeout) on a loaded machine.
const PASSES: Duration = Duration::from_secs(60);

/// One node for the daemon: the simulator, the fake Docker API, the sandbox, the daemon's files.
struct HealthDaemon {
    sr: SimRun,
    _docker: Arc<FakeDocker>,
    sb: Sandbox,
    node: DaemonNode,
    work_dir: PathBuf,
    socket: PathBuf,
}

impl HealthDaemon {
    fn new(name: &str, rt: &tokio::runtime::Runtime, sim: SimConfig, health: &str) -> Self {
        let node = DaemonNode::new();
        let work_dir = node.dir.path().join("work");
        std::fs::create_dir_all(&work_dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(&work_dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mount tmpfs on {}", work_dir.display());
        let sr = SimRun::start(
            rt,
            SimConfig {
                agent_work_dir: work_dir.display().to_string(),
                ..sim
            },
        );
        let socket = node.dir.path().join("docker.sock");
        let docker = {
            let _guard = rt.enter();
            Arc::new(FakeDocker::start(&socket).expect("fake docker"))
        };
        let sb = node_sandbox(name, &sr.sim, None);
        let h = HealthDaemon {
            sr,
            _docker: docker,
            sb,
            node,
            work_dir,
            socket,
        };
        h.configure(health);
        h
    }

    fn sim(&self) -> &Sim {
        &self.sr.sim
    }

    /// The `[health]` section: the fake Docker socket, then `lines`.
    fn configure(&self, lines: &str) {
        self.node.write_config(&format!(
            "[health]\ndocker_socket = \"{}\"\n{lines}\n",
            self.socket.display()
        ));
    }

    fn daemon(&self) -> Daemon {
        self.node.daemon(&self.sb, self.sim())
    }

    /// The agent unit's starts, as its fake service recorded them.
    fn agent_starts(&self) -> usize {
        self.sb
            .recorded(AGENT)
            .iter()
            .filter(|e| *e == "START")
            .count()
    }

    /// Passes so far: each asks the master for this agent once (the registration check).
    fn lookups(&self) -> usize {
        self.sim()
            .requests()
            .iter()
            .filter(|r| r.server == Server::Leader && r.path.starts_with("/master/slaves"))
            .count()
    }

    /// Wait for `n` more passes than now.
    fn passes(&self, n: usize, d: &Daemon) {
        let at = self.lookups();
        assert!(
            wait_until(PASSES, || self.lookups() >= at + n),
            "{n} more passes did not come: {} lookups\n{}",
            self.lookups(),
            d.log_text()
        );
    }

    /// `mesos-maint health <args>` run by hand on this node (plain text output).
    fn health(&self, args: &[&str]) -> support::node::Ran {
        let mut all = vec!["health"];
        all.extend_from_slice(args);
        self.node.run(&self.sb, self.sim(), &all)
    }
}

impl Drop for HealthDaemon {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.work_dir).status();
    }
}

fn gauge(d: &Daemon, check: &str) -> Option<f64> {
    d.metric(&format!("mesos_maint_health_check{{check=\"{check}\"}}"))
}

fn all_healthy(d: &Daemon) -> bool {
    CHECKS.iter().all(|c| gauge(d, c) == Some(1.0))
}

fn status(d: &Daemon) -> String {
    d.notify.last_status().unwrap_or_default()
}

#[test]
fn the_daemon_exports_each_check_names_a_failing_one_in_status_and_logs_a_change_once() {
    run_isolated_requiring(
        "the_daemon_exports_each_check_names_a_failing_one_in_status_and_logs_a_change_once",
        &[LOGIND],
        || {
            let rt = runtime();
            let h = HealthDaemon::new("dh-gauges", &rt, SimConfig::default(), "interval = \"0s\"");
            let d = h.daemon();

            // interval 0: the checks are off. No series, no master lookup.
            std::thread::sleep(Duration::from_secs(3));
            assert!(
                !d.metrics().contains("mesos_maint_health_check{"),
                "{}",
                d.metrics()
            );
            assert_eq!(h.lookups(), 0, "no pass while the checks are off");

            // SIGHUP with a 1 s interval turns them on.
            h.configure("interval = \"1s\"");
            d.signal(Signal::SIGHUP);
            assert!(
                wait_until(SOON, || all_healthy(&d)),
                "{}\n{}",
                d.metrics(),
                d.log_text()
            );
            assert!(
                wait_until(SOON, || status(&d).contains("node")),
                "{:?}",
                d.notify.messages()
            );
            assert!(!status(&d).contains("health:"), "{}", status(&d));

            // The agent API hangs: its gauge reads 0, STATUS= names it, the others stay 1.
            h.sim().set_agent_health_hang(true);
            assert!(
                wait_until(PASSES, || gauge(&d, "agent-api") == Some(0.0)),
                "{}",
                d.log_text()
            );
            for c in ["agent-unit", "registration", "docker", "disk"] {
                assert_eq!(gauge(&d, c), Some(1.0), "{c}: {}", d.metrics());
            }
            assert!(
                wait_until(SOON, || status(&d).contains("health: agent-api failing")),
                "{:?}",
                d.notify.messages()
            );
            assert!(
                status(&d).contains("did not answer within 5s"),
                "{}",
                status(&d)
            );
            // Several passes later the failure is still logged once, and nothing is
            // repaired (auto_repair is off).
            h.passes(3, &d);
            assert_eq!(gauge(&d, "agent-api"), Some(0.0));
            assert_eq!(
                d.log_count("health check agent-api fails"),
                1,
                "{}",
                d.log_text()
            );
            assert_eq!(h.agent_starts(), 1, "auto_repair is off: no restart");
            assert_eq!(d.log_count("automatic repair"), 0, "{}", d.log_text());

            // It answers again: 1, STATUS= back to the daemon's own words, logged once.
            h.sim().set_agent_health_hang(false);
            assert!(
                wait_until(PASSES, || gauge(&d, "agent-api") == Some(1.0)),
                "{}",
                d.log_text()
            );
            assert!(
                wait_until(SOON, || !status(&d).contains("health:")),
                "{:?}",
                d.notify.messages()
            );
            h.passes(2, &d);
            assert_eq!(d.log_count("health check agent-api passes again"), 1);
            assert_eq!(d.log_count("health check agent-api fails"), 1);
        },
    );
}

#[test]
fn auto_repair_restarts_a_hung_agent_once_and_the_rate_limit_stops_a_second_restart() {
    run_isolated_requiring(
        "auto_repair_restarts_a_hung_agent_once_and_the_rate_limit_stops_a_second_restart",
        &[LOGIND],
        || {
            let rt = runtime();
            let h = HealthDaemon::new(
                "dh-repair",
                &rt,
                SimConfig::default(),
                "interval = \"1s\"\nauto_repair = true",
            );
            let d = h.daemon();
            assert!(wait_until(SOON, || all_healthy(&d)), "{}", d.log_text());
            assert_eq!(h.agent_starts(), 1);

            // Hung: restarted through systemd (the restart clears the simulator's hang).
            h.sim().set_agent_health_hang(true);
            assert!(
                wait_until(PASSES, || h.agent_starts() == 2),
                "{}",
                d.log_text()
            );
            assert!(
                wait_until(PASSES, || gauge(&d, "agent-api") == Some(1.0)),
                "{}",
                d.log_text()
            );
            assert_eq!(
                d.log_count("automatic repair: restarted dcos-mesos-slave.service"),
                1,
                "{}",
                d.log_text()
            );
            let record: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(h.node.state_dir().join("health.json")).unwrap(),
            )
            .unwrap();
            assert!(record["repaired_at"][AGENT].is_u64(), "{record:#}");

            // Hung again inside health.repair_interval (10 min): refused, not restarted.
            h.sim().set_agent_health_hang(true);
            assert!(
                wait_until(PASSES, || gauge(&d, "agent-api") == Some(0.0)),
                "{}",
                d.log_text()
            );
            assert!(
                d.wait_log("not restarting dcos-mesos-slave.service", PASSES),
                "{}",
                d.log_text()
            );
            h.passes(2, &d);
            assert_eq!(h.agent_starts(), 2, "one restart only\n{}", d.log_text());
            assert!(
                d.log_text().contains("health.repair_interval"),
                "{}",
                d.log_text()
            );
            assert_eq!(gauge(&d, "agent-api"), Some(0.0));
        },
    );
}

#[test]
fn no_repair_while_a_drain_runs_neither_automatic_nor_by_hand() {
    run_isolated_requiring(
        "no_repair_while_a_drain_runs_neither_automatic_nor_by_hand",
        &[LOGIND],
        || {
            let rt = runtime();
            // A scheduler that never acknowledges: the drain stays in AwaitDrained.
            let h = HealthDaemon::new(
                "dh-drain",
                &rt,
                never_ack_config(),
                "interval = \"1s\"\nauto_repair = true",
            );
            let d = h.daemon();
            assert!(wait_until(SOON, || all_healthy(&d)), "{}", d.log_text());

            // A drain by hand, running (it holds the drain lock).
            let drain = h.node.spawn(
                &mut h.node.command(Some(&h.sb), h.sim(), &["drain"]),
                "drain",
            );
            assert!(
                wait_until(SOON, || {
                    h.node
                        .markers()
                        .load()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.stage == mesos_maint::drain::Stage::AwaitDrained)
                }),
                "the drain did not reach AwaitDrained"
            );

            h.sim().set_agent_health_hang(true);
            assert!(
                wait_until(PASSES, || gauge(&d, "agent-api") == Some(0.0)),
                "{}",
                d.log_text()
            );
            assert!(
                d.wait_log("automatic repair skipped", SOON),
                "{}",
                d.log_text()
            );
            assert!(
                d.log_text().contains("holds the drain lock"),
                "{}",
                d.log_text()
            );
            h.passes(3, &d);
            assert_eq!(h.agent_starts(), 1, "not restarted\n{}", d.log_text());
            assert_eq!(
                d.log_count("automatic repair skipped"),
                1,
                "logged once while the reason stays\n{}",
                d.log_text()
            );

            // By hand: refused with exit 5 and one line, nothing restarted.
            let ran = h.health(&["--repair"]);
            assert_eq!(ran.code, 5, "{}", ran.context());
            assert!(ran.stdout.is_empty(), "{}", ran.context());
            let line = ran.stderr.trim();
            assert_eq!(line.lines().count(), 1, "{}", ran.context());
            assert!(line.contains("drain lock"), "{line}");
            // A plain check still runs during the drain (read-only): agent-api fails.
            let ran = h.health(&[]);
            assert_eq!(ran.code, 1, "{}", ran.context());
            assert!(
                ran.stdout.contains("not healthy: agent-api"),
                "{}",
                ran.context()
            );

            // The drain is killed mid-way: no lock, but its marker is not final (it would be
            // resumed). Still no repair.
            drain.kill();
            let ran = h.health(&["--repair"]);
            assert_eq!(ran.code, 5, "{}", ran.context());
            assert!(
                ran.stderr.contains("marker at stage AwaitDrained"),
                "{}",
                ran.context()
            );
            h.passes(2, &d);
            assert_eq!(h.agent_starts(), 1, "{}", d.log_text());
            assert!(
                d.log_text().contains("marker at stage AwaitDrained"),
                "the new reason is logged\n{}",
                d.log_text()
            );
        },
    );
}
