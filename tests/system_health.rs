//! System tests of `mesos-maint health [--repair]`: the built binary against a real systemd
//! manager on a private bus (`tests/support/sandbox.rs`), the in-process Mesos simulator as
//! master and agent, a fake Docker API on a unix socket (`cloud_fakes::FakeDocker`) and, for
//! the disk check, a small tmpfs mounted in the test's private mount namespace. Each check is
//! made to fail for its own cause; every repair and every refusal is exercised. They need root
//! and `unshare`; elsewhere they print a SKIP line and pass.
//!
//! The fake agent unit is tied to the simulator (`sim_tied_agent`): restarting the unit stops
//! and starts the simulated agent, which re-registers and answers `/health` again.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cloud_fakes::FakeDocker;
use mesos_sim::{AckMode, FrameworkSpec, Sim, SimConfig, TaskSpec};
use serde_json::Value;
use support::fake::FakeService;
use support::node::{json_check as check, Node, Ran};
use support::proc::wait_until;
use support::sandbox::{run_isolated, Sandbox};
use support::sim::{runtime, sim_tied_agent, AGENT, DOCKER};

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// One node: the simulator, the fake Docker API, the sandbox and the node's files.
struct HealthNode {
    sim: Sim,
    docker: Arc<FakeDocker>,
    sb: Sandbox,
    node: Node,
    work_dir: PathBuf,
}

/// What differs between the tests' nodes.
#[derive(Default)]
struct Setup {
    sim: SimConfig,
    /// The agent unit; `None`: the fake agent tied to the simulator.
    agent: Option<FakeService>,
    /// Contents of daemon.json; `None`: no file.
    daemon_json: Option<&'static str>,
    /// Options of the tmpfs mounted on the work dir (e.g. `size=1m`); `None`: an empty 16 MiB one.
    tmpfs: Option<&'static str>,
}

/// A framework with three running tasks (three containers a Docker restart would kill).
fn busy() -> SimConfig {
    SimConfig {
        frameworks: vec![
            FrameworkSpec::new("fw-marathon", "marathon", AckMode::Never)
                .task(TaskSpec::new("web-1", Duration::from_millis(100)))
                .task(TaskSpec::new("web-2", Duration::from_millis(100)))
                .task(TaskSpec::new("web-3", Duration::from_millis(100))),
        ],
        unknown_enum_task: false,
        ..SimConfig::default()
    }
}

fn node(name: &str, rt: &tokio::runtime::Runtime, setup: Setup) -> HealthNode {
    let node = Node::new("", "");
    let work_dir = node.dir.path().join("work");
    std::fs::create_dir_all(&work_dir).unwrap();
    // Always a tmpfs of a known size: on the host's disk the disk check would judge whatever
    // else fills it (a CI machine short of space failed every "healthy" test that way).
    let opts = setup.tmpfs.unwrap_or("size=16m");
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(&work_dir)
        .status()
        .expect("mount");
    assert!(st.success(), "mount tmpfs on {}", work_dir.display());
    let sim = rt
        .block_on(Sim::start(SimConfig {
            agent_work_dir: work_dir.display().to_string(),
            ..setup.sim
        }))
        .expect("simulator");
    let socket = node.dir.path().join("docker.sock");
    let docker = {
        let _guard = rt.enter();
        Arc::new(FakeDocker::start(&socket).expect("fake docker"))
    };
    let daemon_json = node.dir.path().join("daemon.json");
    if let Some(text) = setup.daemon_json {
        std::fs::write(&daemon_json, text).unwrap();
    }
    std::fs::write(
        node.config(),
        node.config_text(
            "",
            &format!(
                "\n[health]\ndocker_socket = \"{}\"\ndocker_config = \"{}\"\n",
                socket.display(),
                daemon_json.display()
            ),
        ),
    )
    .unwrap();
    let agent = setup
        .agent
        .unwrap_or_else(|| sim_tied_agent(AGENT, &sim.master_url()));
    let sb = Sandbox::builder(name)
        .service(agent)
        .service(FakeService::docker())
        .start(DOCKER)
        .start(AGENT)
        .build()
        .expect("sandbox");
    HealthNode {
        sim,
        docker,
        sb,
        node,
        work_dir,
    }
}

impl HealthNode {
    /// `mesos-maint --json health <args>` against the simulator.
    fn health(&self, args: &[&str]) -> (Ran, Value) {
        let mut all = vec!["--json", "health"];
        all.extend_from_slice(args);
        let ran = self.node.run(&self.sb, &self.sim, &all);
        let json = ran.json();
        (ran, json)
    }

    fn starts(&self, unit: &str) -> usize {
        self.sb
            .recorded(unit)
            .iter()
            .filter(|e| *e == "START")
            .count()
    }
}

impl Drop for HealthNode {
    fn drop(&mut self) {
        // A tmpfs on the work dir (if any) goes before the temp dir is removed.
        let _ = Command::new("umount").arg(&self.work_dir).status();
    }
}

/// The first repair is `action` of `unit` and its detail contains `says`.
fn assert_first_repair(report: &Value, unit: &str, action: &str, says: &str) {
    let r = repairs(report);
    assert!(!r.is_empty(), "no repair in {report:#}");
    assert_eq!((r[0].0.as_str(), r[0].1.as_str()), (unit, action), "{r:?}");
    assert!(r[0].2.contains(says), "{:?}", r[0]);
}

fn repairs(report: &Value) -> Vec<(String, String, String)> {
    report["repairs"]
        .as_array()
        .expect("repairs")
        .iter()
        .map(|r| {
            (
                r["unit"].as_str().unwrap_or("").to_owned(),
                r["action"].as_str().unwrap_or("").to_owned(),
                r["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn n_restarts(sb: &Sandbox, unit: &str) -> u32 {
    let out = sb.systemctl(&["show", "-p", "NRestarts", "--value", unit]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

#[test]
fn a_healthy_node_passes_every_check() {
    run_isolated("a_healthy_node_passes_every_check", || {
        let rt = runtime();
        let n = node("health_ok", &rt, Setup::default());
        let (ran, report) = n.health(&[]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_eq!(report["healthy"], true);
        assert!(
            report.get("repairs").is_none(),
            "no repairs without --repair"
        );
        let names: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["agent-unit", "agent-api", "registration", "docker", "disk"]
        );
        for name in names {
            assert_eq!(check(&report, name).0, "pass", "{report:#}");
        }
        assert!(n.docker.pings() >= 1);
        // --repair on a healthy node repairs nothing
        let (ran, report) = n.health(&["--repair"]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_eq!(report["repairs"], serde_json::json!([]));
        assert_eq!(n.starts(AGENT), 1);
        assert_eq!(n.starts(DOCKER), 1);
    });
}

#[test]
fn an_agent_unit_crashing_in_a_loop_fails_agent_unit() {
    run_isolated("an_agent_unit_crashing_in_a_loop_fails_agent_unit", || {
        let rt = runtime();
        let crashing = FakeService::new(AGENT)
            .exec_start("/bin/sh -c 'sleep 0.3; exit 1'")
            .service_directive("Restart=always")
            .service_directive("RestartSec=100ms")
            .unit_directive("StartLimitIntervalSec=0");
        let n = node(
            "health_loop",
            &rt,
            Setup {
                agent: Some(crashing),
                ..Setup::default()
            },
        );
        assert!(
            wait_until(Duration::from_secs(20), || n_restarts(&n.sb, AGENT) > 3),
            "NRestarts climbs"
        );
        let (ran, report) = n.health(&[]);
        assert_eq!(ran.code, 1, "{}", ran.context());
        assert_eq!(report["healthy"], false);
        let (status, detail) = check(&report, "agent-unit");
        assert_eq!(status, "fail", "{report:#}");
        assert!(detail.contains(AGENT), "{detail}");
        assert!(
            detail.contains("restarting in a loop") || detail.contains("automatic restarts"),
            "{detail}"
        );
        // the others still pass: each check fails for its own cause
        assert_eq!(check(&report, "agent-api").0, "pass");
        assert_eq!(check(&report, "docker").0, "pass");
    });
}

#[test]
fn a_nearly_full_work_dir_fails_disk() {
    run_isolated("a_nearly_full_work_dir_fails_disk", || {
        let rt = runtime();
        let n = node(
            "health_disk",
            &rt,
            Setup {
                tmpfs: Some("size=1m,nr_inodes=1000"),
                ..Setup::default()
            },
        );
        let (ran, _) = n.health(&[]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        let big = n.work_dir.join("filler");
        let st = Command::new("dd")
            .args(["if=/dev/zero", "bs=1k", "count=1000"])
            .arg(format!("of={}", big.display()))
            .status()
            .unwrap();
        assert!(st.success());
        let (ran, report) = n.health(&[]);
        assert_eq!(ran.code, 1, "{}", ran.context());
        let (status, detail) = check(&report, "disk");
        assert_eq!(status, "fail", "{report:#}");
        assert!(
            detail.contains(&n.work_dir.display().to_string()),
            "{detail}"
        );
        assert!(
            detail.contains("of its space free (minimum 5%)"),
            "{detail}"
        );
        // inodes: free the space, use up the inodes
        std::fs::remove_file(&big).unwrap();
        for i in 0..990 {
            std::fs::write(n.work_dir.join(format!("f{i}")), "").unwrap();
        }
        let (ran, report) = n.health(&[]);
        assert_eq!(ran.code, 1, "{}", ran.context());
        let (status, detail) = check(&report, "disk");
        assert_eq!(status, "fail");
        assert!(detail.contains("of its inodes free"), "{detail}");
    });
}

#[test]
fn registration_fails_when_the_master_lists_the_agent_unreachable_and_skips_without_a_master() {
    run_isolated(
        "registration_fails_when_the_master_lists_the_agent_unreachable_and_skips_without_a_master",
        || {
            let rt = runtime();
            let n = node("health_reg", &rt, Setup::default());
            // A master that cannot be asked: registration skips, the node stays healthy.
            let mut cmd = n.sb.command(support::node::BIN);
            support::node::scrub_env(&mut cmd);
            let out = cmd
                .args(["--json", "health", "--config"])
                .arg(n.node.config())
                .arg("--state-dir")
                .arg(n.node.state_dir())
                .args([
                    "--master",
                    "http://127.0.0.1:9",
                    "--agent",
                    &n.sim.agent_url(),
                ])
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(out.status.code(), Some(0), "{report:#}");
            assert_eq!(report["healthy"], true);
            let (status, detail) = check(&report, "registration");
            assert_eq!(status, "skip");
            assert!(detail.contains("master cannot be asked"), "{detail}");
            // The master marks the agent unreachable: it no longer lists it.
            n.sim.set_agent_reachable(false);
            let (ran, report) = n.health(&[]);
            assert_eq!(ran.code, 1, "{}", ran.context());
            let (status, detail) = check(&report, "registration");
            assert_eq!(status, "fail", "{report:#}");
            assert!(detail.contains("does not list agent"), "{detail}");
            assert!(
                detail.contains(&n.sim.agent_id()),
                "the id recorded while the agent answered: {detail}"
            );
            assert_eq!(check(&report, "agent-api").0, "fail");
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Agent repairs
// ---------------------------------------------------------------------------------------------

#[test]
fn a_hung_agent_api_is_restarted_by_repair_once_per_interval() {
    run_isolated(
        "a_hung_agent_api_is_restarted_by_repair_once_per_interval",
        || {
            let rt = runtime();
            let n = node("health_hang", &rt, Setup::default());
            n.sim.set_agent_health_hang(true);
            let (ran, report) = n.health(&[]);
            assert_eq!(ran.code, 1, "{}", ran.context());
            let (status, detail) = check(&report, "agent-api");
            assert_eq!(status, "fail");
            assert!(detail.contains("did not answer within 5s"), "{detail}");
            assert_eq!(n.starts(AGENT), 1, "a plain run repairs nothing");

            let (ran, report) = n.health(&["--repair"]);
            assert_eq!(ran.code, 0, "the repair helped: {}", ran.context());
            assert_eq!(report["healthy"], true, "the second pass: {report:#}");
            let r = repairs(&report);
            assert_eq!(r.len(), 1, "{r:?}");
            assert_eq!((r[0].0.as_str(), r[0].1.as_str()), (AGENT, "restarted"));
            assert!(r[0].2.contains("does not answer GET /health"), "{:?}", r[0]);
            assert_eq!(n.starts(AGENT), 2, "restarted once, through systemd");
            assert_eq!(check(&report, "agent-api").0, "pass");
            let record: Value = serde_json::from_str(
                &std::fs::read_to_string(n.node.state_dir().join("health.json")).unwrap(),
            )
            .unwrap();
            assert!(record["repaired_at"][AGENT].is_u64(), "{record:#}");

            // It hangs again at once: a second repair inside the interval is refused.
            n.sim.set_agent_health_hang(true);
            let (ran, report) = n.health(&["--repair"]);
            assert_eq!(ran.code, 5, "{}", ran.context());
            assert_first_repair(&report, AGENT, "refused", "the next is allowed at");
            assert_first_repair(&report, AGENT, "refused", "health.repair_interval");
            assert_eq!(n.starts(AGENT), 2, "not restarted again");
            assert_eq!(check(&report, "agent-api").0, "fail");
        },
    );
}

#[test]
fn a_disconnected_agent_is_restarted_by_repair() {
    run_isolated("a_disconnected_agent_is_restarted_by_repair", || {
        let rt = runtime();
        let n = node("health_disc", &rt, Setup::default());
        let (ran, _) = n.health(&[]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        // The agent process stops answering and the master sees it disconnected while the
        // unit stays active.
        n.sim.stop_agent();
        let (ran, report) = n.health(&[]);
        assert_eq!(ran.code, 1, "{}", ran.context());
        let (status, detail) = check(&report, "registration");
        assert_eq!(status, "fail", "{report:#}");
        assert!(detail.contains("disconnected"), "{detail}");
        assert_eq!(
            check(&report, "disk").0,
            "pass",
            "the work dir recorded while the agent answered: {report:#}"
        );
        let (ran, report) = n.health(&["--repair"]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_eq!(repairs(&report)[0].1, "restarted");
        assert_eq!(check(&report, "registration").0, "pass", "{report:#}");
        assert_eq!(n.starts(AGENT), 2);
    });
}

// ---------------------------------------------------------------------------------------------
// Docker repairs and refusals
// ---------------------------------------------------------------------------------------------

/// Clear the fake Docker API's hang once docker.service has started `starts` times (what a
/// restart of a real wedged dockerd does).
fn unhang_on_restart(n: &HealthNode, starts: usize) -> std::thread::JoinHandle<()> {
    let docker = n.docker.clone();
    let record = n.sb.record_path(DOCKER);
    std::thread::spawn(move || {
        let started = || {
            std::fs::read_to_string(&record)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("START"))
                .count()
                >= starts
        };
        if wait_until(Duration::from_secs(60), started) {
            docker.set_ping_hangs(false);
        }
    })
}

#[test]
fn a_hung_docker_running_tasks_without_live_restore_is_not_restarted() {
    run_isolated(
        "a_hung_docker_running_tasks_without_live_restore_is_not_restarted",
        || {
            let rt = runtime();
            let n = node(
                "health_dref",
                &rt,
                Setup {
                    sim: busy(),
                    daemon_json: Some(r#"{"log-driver": "journald"}"#),
                    ..Setup::default()
                },
            );
            n.docker.set_ping_hangs(true);
            n.docker.set_live_restore(false);
            let (ran, report) = n.health(&[]);
            assert_eq!(ran.code, 1, "{}", ran.context());
            let (status, detail) = check(&report, "docker");
            assert_eq!(status, "fail");
            assert!(
                detail.contains("did not answer /_ping within 5s"),
                "{detail}"
            );

            let (ran, report) = n.health(&["--repair"]);
            assert_eq!(ran.code, 5, "{}", ran.context());
            assert_first_repair(&report, DOCKER, "refused", "would kill 3 containers");
            assert!(
                n.docker.infos() >= 1,
                "live-restore asked through GET /info"
            );
            assert_eq!(n.starts(DOCKER), 1, "docker.service not restarted");
            assert_eq!(n.starts(AGENT), 1, "nor the agent");

            // /info hangs too, and daemon.json has no live-restore: still refused.
            n.docker.set_info_hangs(true);
            let (ran, report) = n.health(&["--repair"]);
            assert_eq!(ran.code, 5, "{}", ran.context());
            assert_eq!(repairs(&report)[0].1, "refused");
            assert_eq!(n.starts(DOCKER), 1);
        },
    );
}

#[test]
fn a_hung_docker_with_live_restore_is_restarted() {
    run_isolated("a_hung_docker_with_live_restore_is_restarted", || {
        let rt = runtime();
        let n = node(
            "health_dlive",
            &rt,
            Setup {
                sim: busy(),
                ..Setup::default()
            },
        );
        n.docker.set_ping_hangs(true);
        n.docker.set_live_restore(true);
        let watcher = unhang_on_restart(&n, 2);
        let (ran, report) = n.health(&["--repair"]);
        assert_eq!(ran.code, 0, "{}", ran.context());
        assert_first_repair(&report, DOCKER, "restarted", "live-restore");
        assert_eq!(n.starts(DOCKER), 2);
        assert_eq!(check(&report, "docker").0, "pass", "{report:#}");
        watcher.join().unwrap();
        // the sim's tasks are untouched (live-restore keeps the containers)
        assert_eq!(n.sim.task_counts().launched, 3);
    });
}

#[test]
fn a_hung_docker_uses_daemon_json_when_info_hangs_and_restarts_on_a_drained_agent() {
    run_isolated(
        "a_hung_docker_uses_daemon_json_when_info_hangs_and_restarts_on_a_drained_agent",
        || {
            let rt = runtime();
            // live-restore only in daemon.json, /info hangs
            let n = node(
                "health_djson",
                &rt,
                Setup {
                    sim: busy(),
                    daemon_json: Some(r#"{"live-restore": true}"#),
                    ..Setup::default()
                },
            );
            n.docker.set_ping_hangs(true);
            n.docker.set_info_hangs(true);
            let watcher = unhang_on_restart(&n, 2);
            let (ran, report) = n.health(&["--repair"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_eq!(repairs(&report)[0].1, "restarted");
            watcher.join().unwrap();
            drop(n);

            // no live-restore anywhere, but the agent runs nothing
            let n = node("health_ddrained", &rt, Setup::default());
            n.docker.set_ping_hangs(true);
            let watcher = unhang_on_restart(&n, 2);
            let (ran, report) = n.health(&["--repair"]);
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert_first_repair(&report, DOCKER, "restarted", "drained");
            watcher.join().unwrap();
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Benchmark (docs/benchmarks.md "Node health"; tests/bench-health.sh)
// ---------------------------------------------------------------------------------------------

/// Wall time and peak RSS of `health` on a healthy node, `MEASURE_RUNS` runs (default 20) of
/// the binary in `MESOS_MAINT_BENCH_BIN` (default: the test build), each under GNU
/// `/usr/bin/time` for its peak RSS. Prints `MEASURE` lines.
#[test]
#[ignore = "benchmark: run by tests/bench-health.sh"]
fn measure_health_run() {
    run_isolated("measure_health_run", || {
        let rt = runtime();
        let n = node("health_bench", &rt, Setup::default());
        let bin = std::env::var("MESOS_MAINT_BENCH_BIN").unwrap_or(support::node::BIN.to_string());
        let runs: usize = std::env::var("MEASURE_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let mut walls = Vec::new();
        let mut rss = Vec::new();
        let rss_file = n.node.dir.path().join("maxrss");
        for _ in 0..runs {
            // GNU time reports the child's peak RSS (wait4's ru_maxrss, KiB) into `rss_file`.
            let mut cmd = n.sb.command("/usr/bin/time");
            support::node::scrub_env(&mut cmd);
            cmd.args(["-f", "%M", "-o"])
                .arg(&rss_file)
                .arg(&bin)
                .args(["health", "--config"])
                .arg(n.node.config())
                .arg("--state-dir")
                .arg(n.node.state_dir())
                .args([
                    "--master",
                    &n.sim.master_url(),
                    "--agent",
                    &n.sim.agent_url(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let start = std::time::Instant::now();
            let status = cmd.status().expect("run health under /usr/bin/time");
            let wall = start.elapsed();
            assert!(status.success(), "health exited with {status}");
            let kib: f64 = std::fs::read_to_string(&rss_file)
                .unwrap()
                .trim()
                .parse()
                .expect("GNU time's %M");
            walls.push(wall.as_secs_f64() * 1000.0);
            rss.push(kib / 1024.0);
        }
        walls.sort_by(f64::total_cmp);
        rss.sort_by(f64::total_cmp);
        let median = |v: &[f64]| v[v.len() / 2];
        println!("MEASURE health binary {bin}");
        println!(
            "MEASURE health wall ms: min {:.1} median {:.1} max {:.1} ({runs} runs)",
            walls[0],
            median(&walls),
            walls[runs - 1]
        );
        println!(
            "MEASURE health peak RSS MiB: min {:.1} median {:.1} max {:.1}",
            rss[0],
            median(&rss),
            rss[runs - 1]
        );
    });
}
