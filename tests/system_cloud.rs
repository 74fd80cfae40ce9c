//! System tests of the daemon's cloud termination handling (`[aws]`, `src/daemon/cloud.rs`): the
//! built `mesos-maint daemon` against the in-process Mesos simulator (`tests/mesos-sim`), the
//! loopback fakes of the instance metadata service and the Auto Scaling API (`tests/fakes`, which
//! recomputes every SigV4 signature with the test credentials), and a real systemd manager on a
//! private bus (`tests/support/sandbox.rs`) running fake agent, agent socket and docker units.
//! They need root and `unshare`; elsewhere they print a SKIP line and pass.
//!
//! What they observe, independently of the code under test: the simulator's request log (the
//! DRAIN_AGENT bodies) and state (gone, drain state), the Auto Scaling calls the fake accepted or
//! refused (in order, with the time each was answered), the metadata requests, the fake daemons'
//! record files (their SIGTERM time), unit states through `systemctl`, the marker and
//! `lifecycle.json` in the state dir, and the daemon's log.
//!
//! As in `system_daemon.rs`, the fake agent unit is wired to the simulator: starting it
//! (re)starts the simulated agent, stopping it stops the simulated agent.

mod support;

use std::fs;
use std::ops::Deref;
use std::time::{Duration, Instant, SystemTime};

use cloud_fakes::imds::{INSTANCE_ID, REGION};
use cloud_fakes::{Call, FakeAutoScaling, FakeFleetLock, FakeImds, Flavor, TestCredentials};
use mesos_maint::drain::{Stage, Trigger};
use mesos_sim::{AckMode, FrameworkSpec, Sim, SimConfig, TaskSpec};
use support::daemon::DaemonProcess;
use support::daemon_node::{free_port, metric, SimRun};
use support::node::{unique, Node};
use support::proc::wait_until;
use support::sandbox::{run_isolated, Sandbox};
use support::sim::{runtime, sim_node, AGENT, AGENT_SOCKET, DOCKER};

const NODE_UNITS: [&str; 3] = [DOCKER, AGENT_SOCKET, AGENT];

const GROUP: &str = "mesos-agents";
const HOOK: &str = "mesos-maint-drain";

/// `aws.poll_interval` in these tests.
const POLL: Duration = Duration::from_millis(200);
/// Long enough for several metadata polls.
const FEW_POLLS: Duration = Duration::from_millis(1500);
/// Upper bound for something the daemon does in well under a second normally.
const SOON: Duration = Duration::from_secs(15);
/// Upper bound for a whole (short) drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(40);

/// Lines of the daemon's log the tests wait for (`src/daemon/cloud.rs`, `run.rs`).
const RUNNING: &str = "mesos-maint daemon running";
const WATCHING: &str = "watching the Auto Scaling lifecycle of this instance";

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// The fake metadata service and Auto Scaling endpoint; the daemon signs with
/// [`TestCredentials::long_term`] from its environment.
struct Aws {
    imds: FakeImds,
    asg: FakeAutoScaling,
}

impl Aws {
    fn start(rt: &tokio::runtime::Runtime) -> Aws {
        rt.block_on(async {
            Aws {
                imds: FakeImds::start().await,
                asg: FakeAutoScaling::start(REGION, TestCredentials::long_term()).await,
            }
        })
    }

    /// The group put this instance into `Terminating:Wait`: the action is pending at the fake
    /// and the metadata says `Terminated`.
    fn scale_in(&self) {
        self.asg.start_lifecycle_action(GROUP, HOOK, INSTANCE_ID);
        self.imds.terminate();
    }

    fn calls_of(&self, action: &str) -> Vec<Call> {
        self.asg
            .calls()
            .into_iter()
            .filter(|c| c.action == action)
            .collect()
    }

    /// Every CompleteLifecycleAction attempt, accepted or not.
    fn completion_attempts(&self) -> Vec<Call> {
        self.calls_of("CompleteLifecycleAction")
    }

    /// Every RecordLifecycleActionHeartbeat attempt, accepted or not.
    fn heartbeat_attempts(&self) -> Vec<Call> {
        self.calls_of("RecordLifecycleActionHeartbeat")
    }

    /// Wait for the first accepted completion.
    fn wait_completion(&self, timeout: Duration) -> Option<Call> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.asg.completions().into_iter().next();
            found.is_some()
        });
        found
    }
}

/// A call addressed to this instance's lifecycle action, signed with the test keys.
fn assert_addressed(c: &Call) {
    assert_eq!(c.param("AutoScalingGroupName"), Some(GROUP), "{c:?}");
    assert_eq!(c.param("LifecycleHookName"), Some(HOOK), "{c:?}");
    assert_eq!(c.param("InstanceId"), Some(INSTANCE_ID), "{c:?}");
    assert_eq!(
        c.access_key_id,
        TestCredentials::long_term().access_key_id,
        "{c:?}"
    );
}

/// The usual node ([`sim_node`]) under a real systemd (no logind: the cloud watcher does not
/// need it, and the daemon runs without it).
fn node_sandbox(name: &str, sim: &Sim) -> Sandbox {
    sim_node(Sandbox::builder(name), sim)
}

fn assert_units(sb: &Sandbox, running: bool) {
    for u in NODE_UNITS {
        let s = sb.unit_state(u);
        if running {
            assert!(s.is_active(), "{u} should still run: {s:?}");
        } else {
            assert!(s.is_stopped(), "{u} should be stopped: {s:?}");
        }
    }
}

/// The wall-clock time of the first `event` (`SIGTERM`, …) in a fake daemon's record.
fn record_time(sb: &Sandbox, service: &str, event: &str) -> Option<SystemTime> {
    sb.record_time(service, event, 0)
        .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A node whose configuration has `[aws]` pointed at the fakes.
struct CloudNode {
    node: Node,
}

impl Deref for CloudNode {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

/// The endpoints and extra configuration of one node.
struct Conf<'a> {
    imds: String,
    autoscaling: String,
    heartbeat: &'a str,
    stuck: &'a str,
    /// Extra lines for `[aws]` (e.g. `on_stuck`).
    aws: &'a str,
    /// Extra lines for `[drain]` (e.g. `max_grace_period`).
    drain: &'a str,
}

impl<'a> Conf<'a> {
    fn of(aws: &Aws) -> Conf<'a> {
        Conf {
            imds: aws.imds.url(),
            autoscaling: aws.asg.url(),
            heartbeat: "1s",
            stuck: "3s",
            aws: "",
            drain: "",
        }
    }
}

impl CloudNode {
    fn new(conf: &Conf) -> CloudNode {
        let aws = format!(
            "\n[aws]\nenabled = true\nimds_endpoint = \"{}\"\nautoscaling_endpoint = \"{}\"\n\
             lifecycle_hook = \"{HOOK}\"\nauto_scaling_group = \"{GROUP}\"\n\
             poll_interval = \"{}ms\"\nheartbeat_interval = \"{}\"\nstuck_after = \"{}\"\n{}",
            conf.imds,
            conf.autoscaling,
            POLL.as_millis(),
            conf.heartbeat,
            conf.stuck,
            conf.aws,
        );
        CloudNode {
            node: Node::new(conf.drain, &aws),
        }
    }

    /// `<state_dir>/lifecycle.json`, parsed.
    fn lifecycle_record(&self) -> Option<serde_json::Value> {
        let text = fs::read_to_string(self.state_dir().join("lifecycle.json")).ok()?;
        Some(serde_json::from_str(&text).expect("lifecycle.json is JSON"))
    }

    /// Start `mesos-maint daemon` on the sandbox's bus with the test credentials in its
    /// environment (and no other AWS settings or proxies); returns once its loop runs.
    fn daemon(&self, sb: &Sandbox, sim: &Sim) -> DaemonProcess {
        let log = self.dir.path().join(format!("daemon-{}.log", unique()));
        let mut cmd = self.command(Some(sb), sim, &["daemon"]);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.to_ascii_lowercase().ends_with("_proxy") {
                cmd.env_remove(k);
            }
        }
        let creds = TestCredentials::long_term();
        cmd.env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key);
        let mut d = DaemonProcess::spawn(&mut cmd, log);
        assert!(
            d.wait_log(RUNNING, SOON),
            "the daemon loop did not start:\n{}",
            d.log_text()
        );
        assert!(d.is_running());
        d
    }

    /// [`Self::daemon`], returning once it watches this instance's lifecycle (its id read from
    /// the metadata).
    fn watching_daemon(&self, sb: &Sandbox, sim: &Sim) -> DaemonProcess {
        let d = self.daemon(sb, sim);
        assert!(d.wait_log(WATCHING, SOON), "{}", d.log_text());
        d
    }
}

/// Wait until the daemon's drain is under way: DRAIN_AGENT sent, the marker at `AwaitDrained`.
fn wait_drain_sent(sim: &Sim, node: &Node, d: &DaemonProcess) {
    assert!(
        wait_until(SOON, || sim.count_calls("DRAIN_AGENT") == 1
            && node
                .marker()
                .is_some_and(|m| m.stage == Stage::AwaitDrained)),
        "{}",
        d.log_text()
    );
}

fn frameworks(tasks: &[(&str, Duration)], acks: AckMode, name: &str) -> SimConfig {
    let mut fw = FrameworkSpec::new(format!("fw-{name}"), name, acks);
    for (id, grace) in tasks {
        fw = fw.task(TaskSpec::new(*id, *grace));
    }
    SimConfig {
        frameworks: vec![fw],
        ..SimConfig::default()
    }
}

/// Tasks that die within a second, acknowledged at once: a drain of about a second.
fn quick_config() -> SimConfig {
    let ms = Duration::from_millis;
    frameworks(
        &[("web-1", ms(800)), ("web-2", ms(400))],
        AckMode::After(ms(20)),
        "marathon",
    )
}

/// The agent's drain: DRAIN_AGENT with mark_gone, the agent gone from the master.
fn assert_decommissioned(sr: &SimRun) -> serde_json::Value {
    let bodies = sr.drain_bodies();
    assert_eq!(bodies.len(), 1, "exactly one DRAIN_AGENT: {bodies:?}");
    let body = bodies[0]["drain_agent"].clone();
    assert_eq!(body["mark_gone"], true, "{body}");
    assert!(
        sr.sim.is_gone(),
        "the agent is not gone: {}",
        sr.sim.state_json()
    );
    body
}

// ---------------------------------------------------------------------------------------------
// Scale-in
// ---------------------------------------------------------------------------------------------

#[test]
fn scale_in_decommissions_stops_the_units_then_completes_continue_once() {
    run_isolated(
        "scale_in_decommissions_stops_the_units_then_completes_continue_once",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-scale-in", sim);
            let node = CloudNode::new(&Conf::of(&aws));
            let mut d = node.watching_daemon(&sb, sim);

            // InService: polled, nothing done.
            std::thread::sleep(FEW_POLLS);
            let polls = aws.imds.gets("autoscaling/target-lifecycle-state", 200);
            assert!(
                polls >= 4,
                "only {polls} lifecycle-state reads in {FEW_POLLS:?}"
            );
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
            assert!(aws.asg.calls().is_empty(), "{:?}", aws.asg.calls());
            assert!(node.marker().is_none());

            let asked = SystemTime::now();
            aws.scale_in();
            let done = aws
                .wait_completion(DRAIN_TIMEOUT)
                .unwrap_or_else(|| panic!("no completion:\n{}", d.log_text()));
            eprintln!(
                "CompleteLifecycleAction {:.2}s after the scale-in",
                secs_between(asked, done.at)
            );
            assert_eq!(done.param("LifecycleActionResult"), Some("CONTINUE"));
            assert_addressed(&done);
            assert_eq!(
                aws.asg.completed_result(INSTANCE_ID).as_deref(),
                Some("CONTINUE")
            );
            assert!(
                aws.asg.rejections().is_empty(),
                "{:?}",
                aws.asg.rejections()
            );

            // Decommissioned: one DRAIN_AGENT with mark_gone (no grace cap configured), gone,
            // the units stopped.
            assert_decommissioned(&sr);
            assert!(
                sr.drain_bodies()[0]["drain_agent"]
                    .get("max_grace_period")
                    .is_none(),
                "no grace cap configured: {:?}",
                sr.drain_bodies()
            );
            assert_units(&sb, false);

            // In that order: DRAIN_AGENT, the agent's and docker's stop, then the completion.
            let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
            let agent_term = record_time(&sb, AGENT, "SIGTERM").unwrap_or_else(|| {
                panic!(
                    "agent SIGTERM not recorded: {:?}",
                    fs::read_to_string(sb.record_path(AGENT))
                )
            });
            let docker_term = record_time(&sb, DOCKER, "SIGTERM").unwrap_or_else(|| {
                panic!(
                    "docker SIGTERM not recorded: {:?}",
                    fs::read_to_string(sb.record_path(DOCKER))
                )
            });
            eprintln!(
                "after the scale-in: DRAIN_AGENT <= {:.3}s, agent SIGTERM {:.3}s, docker \
                 SIGTERM {:.3}s, CompleteLifecycleAction {:.3}s",
                secs_between(asked, drain_at),
                secs_between(asked, agent_term),
                secs_between(asked, docker_term),
                secs_between(asked, done.at)
            );
            assert!(drain_at < agent_term, "agent stopped before DRAIN_AGENT");
            assert!(agent_term <= docker_term, "docker stopped before the agent");
            assert!(docker_term < done.at, "completed before the units stopped");
            // Heartbeats, if the drain lasted long enough for one, came before it.
            let calls = aws.asg.calls();
            assert_eq!(
                calls.last().map(|c| c.action.as_str()),
                Some("CompleteLifecycleAction")
            );
            for hb in aws.heartbeat_attempts() {
                assert_eq!(hb.error, None, "{hb:?}");
                assert_addressed(&hb);
            }

            // The marker and the record.
            let m = node.marker().expect("marker");
            assert_eq!(m.trigger, Trigger::Autoscaling);
            assert_eq!(m.stage, Stage::Done);
            assert!(m.policy.decommission && m.policy.stop_units && !m.policy.force);
            let rec = node.lifecycle_record().expect("lifecycle.json");
            assert_eq!(rec["instance_id"], INSTANCE_ID, "{rec}");
            assert_eq!(rec["completed"], "CONTINUE", "{rec}");

            // Still Terminated in the metadata: polled on, nothing more sent.
            let calls_before = aws.asg.calls().len();
            let polls_before = aws.imds.gets("autoscaling/target-lifecycle-state", 200)
                + aws.imds.gets("spot/instance-action", 404);
            std::thread::sleep(FEW_POLLS);
            assert!(d.is_running());
            assert!(
                aws.imds.gets("autoscaling/target-lifecycle-state", 200)
                    + aws.imds.gets("spot/instance-action", 404)
                    > polls_before,
                "the metadata is not polled any more"
            );
            assert_eq!(aws.asg.calls().len(), calls_before, "{:?}", aws.asg.calls());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);

            // A restarted daemon finds the completion in lifecycle.json: no drain, no call.
            assert_eq!(d.stop(SOON), Some(0), "{}", d.log_text());
            let d2 = node.daemon(&sb, sim);
            assert!(
                d2.wait_log("completed (CONTINUE) before; nothing more to do", SOON),
                "{}",
                d2.log_text()
            );
            std::thread::sleep(FEW_POLLS);
            assert_eq!(aws.asg.calls().len(), calls_before, "{:?}", aws.asg.calls());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(node.marker().expect("marker"), m);
            assert_units(&sb, false);
        },
    );
}

#[test]
fn heartbeats_are_sent_while_the_drain_progresses() {
    run_isolated("heartbeats_are_sent_while_the_drain_progresses", || {
        let rt = runtime();
        // One task dies each second: progress every second, never 3 s (stuck_after) without.
        let s = Duration::from_secs;
        let sr = SimRun::start(
            &rt,
            frameworks(
                &[("a", s(1)), ("b", s(2)), ("c", s(3)), ("d", s(4))],
                AckMode::After(Duration::from_millis(20)),
                "marathon",
            ),
        );
        let sim = &sr.sim;
        let aws = Aws::start(&rt);
        let sb = node_sandbox("cloud-heartbeats", sim);
        let node = CloudNode::new(&Conf {
            aws: "on_stuck = \"ABANDON\"",
            ..Conf::of(&aws)
        });
        let d = node.watching_daemon(&sb, sim);

        let asked = SystemTime::now();
        aws.scale_in();
        let done = aws
            .wait_completion(DRAIN_TIMEOUT)
            .unwrap_or_else(|| panic!("no completion:\n{}", d.log_text()));
        assert_eq!(done.param("LifecycleActionResult"), Some("CONTINUE"));
        assert_decommissioned(&sr);
        assert_units(&sb, false);

        let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
        let beats = aws.heartbeat_attempts();
        let at: Vec<f64> = beats.iter().map(|c| secs_between(asked, c.at)).collect();
        eprintln!(
            "heartbeats at {at:.2?} s, DRAIN_AGENT <= {:.2}s, completion {:.2}s",
            secs_between(asked, drain_at),
            secs_between(asked, done.at)
        );
        assert!(!beats.is_empty(), "no heartbeat during a 4 s drain");
        for hb in &beats {
            assert_eq!(hb.error, None, "{hb:?}");
            assert_addressed(hb);
            assert!(hb.at > drain_at && hb.at < done.at, "{hb:?}");
        }
        // Not faster than heartbeat_interval (1 s).
        for w in beats.windows(2) {
            let gap = secs_between(w[0].at, w[1].at);
            assert!(gap > 0.9, "heartbeats {gap:.2}s apart");
        }
        assert_eq!(aws.completion_attempts().len(), 1);
        assert_eq!(
            aws.asg.calls().last().map(|c| c.action.as_str()),
            Some("CompleteLifecycleAction")
        );
        assert!(
            !d.log_text().contains("no progress for"),
            "{}",
            d.log_text()
        );
        assert!(d.log_count("lifecycle heartbeat sent") >= beats.len());
    });
}

#[test]
fn stuck_drain_stops_heartbeating_and_completes_with_on_stuck_naming_the_holder() {
    run_isolated(
        "stuck_drain_stops_heartbeating_and_completes_with_on_stuck_naming_the_holder",
        || {
            let rt = runtime();
            // The task dies at once, but its scheduler never acknowledges: DRAINING for good.
            let sr = SimRun::start(
                &rt,
                frameworks(
                    &[("zombie-1", Duration::from_millis(50))],
                    AckMode::Never,
                    "dead-scheduler",
                ),
            );
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-stuck", sim);
            let node = CloudNode::new(&Conf {
                aws: "on_stuck = \"ABANDON\"",
                ..Conf::of(&aws)
            });
            let mut d = node.watching_daemon(&sb, sim);

            // The first heartbeat fails (a throttled or failing endpoint): retried a second later,
            // and the stuck completion still comes on time.
            aws.asg
                .fail_next(500, "InternalFailure", "An internal error occurred.");
            let asked = SystemTime::now();
            aws.scale_in();
            let done = aws
                .wait_completion(DRAIN_TIMEOUT)
                .unwrap_or_else(|| panic!("no completion:\n{}", d.log_text()));
            let took = secs_between(asked, done.at);
            let beats = aws.heartbeat_attempts();
            let at: Vec<f64> = beats.iter().map(|c| secs_between(asked, c.at)).collect();
            eprintln!("heartbeats at {at:.2?} s, ABANDON at {took:.2}s");
            assert_eq!(done.param("LifecycleActionResult"), Some("ABANDON"));
            assert_addressed(&done);
            // Not before stuck_after (3 s) without progress, not much later either.
            assert!(
                (3.0..8.0).contains(&took),
                "completed {took:.2}s after the scale-in"
            );
            // Heartbeats while it still counted as progressing (within 3 s of the last
            // progress, the task's death), none after.
            assert_eq!(
                beats[0].error.as_deref(),
                Some("InternalFailure"),
                "{beats:?}"
            );
            let sent: Vec<&Call> = beats.iter().filter(|c| c.error.is_none()).collect();
            assert!(
                !sent.is_empty(),
                "the failed heartbeat was not retried: {beats:?}"
            );
            assert!(
                secs_between(beats[0].at, sent[0].at) > 0.8,
                "retried at once: {beats:?}"
            );
            assert!(beats.len() <= 4, "{at:?}");
            for hb in &beats {
                assert_addressed(hb);
                assert!(hb.at < done.at, "{hb:?}");
            }

            // The drain itself goes on (DRAINING, the units left running), and nothing more is
            // sent to Auto Scaling: no heartbeat, no second completion.
            let calls = aws.asg.calls().len();
            std::thread::sleep(Duration::from_secs(3));
            assert_eq!(aws.asg.calls().len(), calls, "{:?}", aws.asg.calls());
            assert_eq!(aws.completion_attempts().len(), 1);
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
            assert_units(&sb, true);
            assert!(d.is_running());
            let rec = node.lifecycle_record().expect("lifecycle.json");
            assert_eq!(rec["completed"], "ABANDON", "{rec}");

            // The log says what held the drain: the framework whose updates are not
            // acknowledged.
            let log = d.log_text();
            let line = log
                .lines()
                .find(|l| l.contains("completing the lifecycle action with ABANDON"))
                .unwrap_or_else(|| panic!("no stuck warning:\n{log}"));
            assert!(line.contains("WARN"), "{line}");
            assert!(line.contains("no progress"), "{line}");
            assert!(
                line.contains("dead-scheduler"),
                "the holder is not named: {line}"
            );

            assert_eq!(d.stop(SOON), Some(0), "{}", d.log_text());
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::AwaitDrained, "interrupted drain kept");
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Spot
// ---------------------------------------------------------------------------------------------

#[test]
fn spot_notice_drains_with_a_fitted_grace_cap_and_no_lifecycle_calls() {
    run_isolated(
        "spot_notice_drains_with_a_fitted_grace_cap_and_no_lifecycle_calls",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-spot", sim);
            let node = CloudNode::new(&Conf {
                drain: "max_grace_period = \"10m\"",
                ..Conf::of(&aws)
            });
            let d = node.watching_daemon(&sb, sim);

            let time = SystemTime::now() + Duration::from_secs(90);
            aws.imds.set_spot_instance_action(Some(("terminate", time)));
            assert!(
                wait_until(DRAIN_TIMEOUT, || node
                    .marker()
                    .is_some_and(|m| m.stage.is_terminal())),
                "the spot drain did not end:\n{}",
                d.log_text()
            );
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::Done, "{m:?}");
            assert_eq!(m.trigger, Trigger::Spot);
            assert!(m.policy.decommission && m.policy.force && m.policy.stop_units);

            // The configured 10 min cap is fitted into the ≤ 90 s left minus the 30 s margin.
            let body = assert_decommissioned(&sr);
            let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
            let left = time
                .duration_since(drain_at)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let grace = &body["max_grace_period"];
            let secs = grace["seconds"].as_u64().expect("max_grace_period sent");
            let total = secs as f64 + grace["nanos"].as_u64().unwrap_or(0) as f64 / 1e9;
            eprintln!(
                "spot: {left:.2}s left at DRAIN_AGENT, max_grace_period {grace} ({total:.2}s)"
            );
            assert!(secs <= 60, "grace cap {grace} exceeds 90 s - 30 s");
            assert!(
                total <= left - 30.0 + 1.0,
                "grace cap {total} vs {left:.2}s left"
            );
            assert!(secs >= 55, "grace cap {grace} far below the time left");
            let recorded = m.max_grace_period_secs.expect("grace cap in the marker");
            assert!((recorded - total).abs() < 0.01, "{recorded} vs {total}");
            assert_units(&sb, false);
            assert!(d.wait_log("spot drain done", SOON), "{}", d.log_text());

            // No lifecycle calls: there is no termination hook action for a spot notice.
            assert!(aws.asg.calls().is_empty(), "{:?}", aws.asg.calls());
            assert!(
                aws.asg.rejections().is_empty(),
                "{:?}",
                aws.asg.rejections()
            );
            let rec = node.lifecycle_record().expect("lifecycle.json");
            assert_eq!(rec["spot_acted"], true, "{rec}");
            assert!(rec["completed"].is_null(), "{rec}");

            // The notice stays in the metadata: acted on once.
            std::thread::sleep(FEW_POLLS);
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(
                d.log_count("spot interruption notice"),
                1,
                "{}",
                d.log_text()
            );
            assert!(aws.asg.calls().is_empty(), "{:?}", aws.asg.calls());
        },
    );
}

#[test]
fn spot_drain_interrupted_by_a_restart_resumes_without_a_second_drain_agent() {
    run_isolated(
        "spot_drain_interrupted_by_a_restart_resumes_without_a_second_drain_agent",
        || {
            let rt = runtime();
            let ms = Duration::from_millis;
            let sr = SimRun::start(
                &rt,
                frameworks(
                    &[("a", ms(1500)), ("b", ms(3000))],
                    AckMode::After(ms(20)),
                    "marathon",
                ),
            );
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-spot-restart", sim);
            let node = CloudNode::new(&Conf::of(&aws));
            let mut d = node.watching_daemon(&sb, sim);

            let time = SystemTime::now() + Duration::from_secs(100);
            aws.imds.set_spot_instance_action(Some(("stop", time)));
            wait_drain_sent(sim, &node, &d);
            std::thread::sleep(ms(500));
            d.kill_hard();
            assert_units(&sb, true);
            let rec = node.lifecycle_record().expect("lifecycle.json");
            assert_eq!(rec["spot_acted"], true, "{rec}");

            // The notice still stands: the new daemon finishes the interrupted drain.
            let d2 = node.daemon(&sb, sim);
            assert!(
                wait_until(DRAIN_TIMEOUT, || node
                    .marker()
                    .is_some_and(|m| m.stage.is_terminal())),
                "the spot drain was not resumed:\n{}",
                d2.log_text()
            );
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::Done, "{m:?}");
            assert_eq!(m.trigger, Trigger::Spot);
            assert!(
                d2.log_text().contains("resuming the interrupted drain"),
                "{}",
                d2.log_text()
            );
            assert_decommissioned(&sr);
            assert_units(&sb, false);
            std::thread::sleep(FEW_POLLS);
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert!(aws.asg.calls().is_empty(), "{:?}", aws.asg.calls());
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The metadata service misbehaving
// ---------------------------------------------------------------------------------------------

#[test]
fn imds_refusing_tokens_is_logged_and_retried_without_draining() {
    run_isolated(
        "imds_refusing_tokens_is_logged_and_retried_without_draining",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-imds-401", sim);
            let node = CloudNode::new(&Conf::of(&aws));
            aws.imds.refuse_tokens(true);
            let d = node.daemon(&sb, sim);

            // At start: the instance id cannot be read. Warned about, asked again soon (not
            // only every 30 s: a spot notice leaves two minutes).
            std::thread::sleep(Duration::from_secs(2));
            let warned = d.log_count("instance metadata not available");
            eprintln!(
                "{warned} connection attempts in 2 s, {} refused GETs",
                aws.imds.gets("instance-id", 401)
            );
            assert!(warned >= 3, "{warned} attempts in 2 s:\n{}", d.log_text());
            assert!(d.log_text().contains("WARN"), "{}", d.log_text());

            // Tokens again: the daemon connects.
            aws.imds.refuse_tokens(false);
            assert!(d.wait_log(WATCHING, SOON), "{}", d.log_text());

            // Refused again while the group terminates the instance: every poll fails, is
            // warned about, nothing is drained and nothing is sent to Auto Scaling.
            aws.imds.refuse_tokens(true);
            aws.scale_in();
            let before = d.log_count("cannot read the target lifecycle state");
            std::thread::sleep(FEW_POLLS);
            let failed = d.log_count("cannot read the target lifecycle state") - before;
            assert!(
                failed >= 3,
                "{failed} failed polls logged:\n{}",
                d.log_text()
            );
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
            assert!(aws.asg.calls().is_empty(), "{:?}", aws.asg.calls());
            assert_units(&sb, true);
            assert!(node.marker().is_none());

            // Once the metadata answers, the scale-in is seen and handled.
            aws.imds.refuse_tokens(false);
            let done = aws
                .wait_completion(DRAIN_TIMEOUT)
                .unwrap_or_else(|| panic!("no completion:\n{}", d.log_text()));
            assert_eq!(done.param("LifecycleActionResult"), Some("CONTINUE"));
            assert_decommissioned(&sr);
            assert_units(&sb, false);
        },
    );
}

#[test]
fn unreachable_imds_is_logged_and_retried_without_draining() {
    run_isolated(
        "unreachable_imds_is_logged_and_retried_without_draining",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            aws.asg.start_lifecycle_action(GROUP, HOOK, INSTANCE_ID);
            let sb = node_sandbox("cloud-imds-down", sim);
            // A port nobody listens on: connection refused.
            let closed = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let node = CloudNode::new(&Conf {
                imds: format!("http://127.0.0.1:{closed}"),
                ..Conf::of(&aws)
            });
            let mut d = node.daemon(&sb, sim);
            std::thread::sleep(Duration::from_secs(2));
            assert!(d.is_running(), "{}", d.log_text());
            let warned = d.log_count("instance metadata not available");
            assert!(warned >= 3, "{warned} attempts in 2 s:\n{}", d.log_text());
            let log = d.log_text();
            let line = log
                .lines()
                .find(|l| l.contains("instance metadata not available"))
                .unwrap();
            assert!(line.contains("WARN"), "{line}");
            assert!(line.contains("nothing drained"), "{line}");
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
            assert!(aws.asg.calls().is_empty(), "{:?}", aws.asg.calls());
            assert_units(&sb, true);
            assert!(node.marker().is_none());
            assert!(node.lifecycle_record().is_none());
            // The loop is not held up by the retries: SIGTERM ends it promptly.
            let asked = Instant::now();
            assert_eq!(d.stop(SOON), Some(0), "{}", d.log_text());
            assert!(
                asked.elapsed() < Duration::from_secs(3),
                "{:?}",
                asked.elapsed()
            );
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Restarts
// ---------------------------------------------------------------------------------------------

#[test]
fn daemon_killed_mid_drain_resumes_without_a_second_drain_or_completion() {
    run_isolated(
        "daemon_killed_mid_drain_resumes_without_a_second_drain_or_completion",
        || {
            let rt = runtime();
            let ms = Duration::from_millis;
            let sr = SimRun::start(
                &rt,
                frameworks(
                    &[("a", ms(1500)), ("b", ms(3000)), ("c", ms(4000))],
                    AckMode::After(ms(20)),
                    "marathon",
                ),
            );
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-restart", sim);
            let node = CloudNode::new(&Conf::of(&aws));
            let mut d = node.watching_daemon(&sb, sim);

            aws.scale_in();
            wait_drain_sent(sim, &node, &d);
            std::thread::sleep(ms(700));
            d.kill_hard();
            let first_log = d.log_text();
            assert!(aws.completion_attempts().is_empty(), "{first_log}");
            assert_eq!(node.marker().expect("marker").stage, Stage::AwaitDrained);
            assert_units(&sb, true);
            // Nothing completed on record (the record is written once there is something to
            // keep: a completion or a spot drain).
            let rec = node.lifecycle_record();
            assert!(
                rec.as_ref().is_none_or(|r| r["completed"].is_null()),
                "{rec:?}"
            );

            let d2 = node.daemon(&sb, sim);
            let done = aws
                .wait_completion(DRAIN_TIMEOUT)
                .unwrap_or_else(|| panic!("no completion:\n{}", d2.log_text()));
            assert_eq!(done.param("LifecycleActionResult"), Some("CONTINUE"));
            assert!(
                d2.log_text().contains("resuming the interrupted drain"),
                "{}",
                d2.log_text()
            );
            assert_decommissioned(&sr);
            assert_units(&sb, false);
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::Done);
            assert_eq!(m.trigger, Trigger::Autoscaling);

            std::thread::sleep(FEW_POLLS);
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(aws.completion_attempts().len(), 1, "{:?}", aws.asg.calls());
            assert!(
                aws.asg.calls().iter().all(|c| c.error.is_none()),
                "{:?}",
                aws.asg.calls()
            );
        },
    );
}

#[test]
fn a_drain_finished_before_a_restart_is_completed_with_continue_without_draining_again() {
    run_isolated(
        "a_drain_finished_before_a_restart_is_completed_with_continue_without_draining_again",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-finished", sim);
            // No heartbeat during the short drain: the first Auto Scaling call is the
            // completion, and it fails once.
            let node = CloudNode::new(&Conf {
                heartbeat: "30s",
                stuck: "60s",
                aws: "on_stuck = \"ABANDON\"",
                ..Conf::of(&aws)
            });
            let mut d = node.watching_daemon(&sb, sim);
            aws.asg
                .fail_next(500, "InternalFailure", "An internal error occurred.");
            aws.scale_in();
            assert!(
                wait_until(DRAIN_TIMEOUT, || !aws.completion_attempts().is_empty()),
                "{}",
                d.log_text()
            );
            // Killed before the retry (a second later).
            d.kill_hard();
            let first = aws.completion_attempts();
            assert_eq!(first.len(), 1, "{first:?}");
            assert_eq!(first[0].error.as_deref(), Some("InternalFailure"));
            assert_eq!(node.marker().expect("marker").stage, Stage::Done);
            assert_units(&sb, false);

            let d2 = node.daemon(&sb, sim);
            assert!(
                wait_until(SOON, || aws.asg.completions().len() == 1),
                "{}",
                d2.log_text()
            );
            let done = aws.asg.completions().remove(0);
            assert_eq!(
                done.param("LifecycleActionResult"),
                Some("CONTINUE"),
                "the finished drain is completed with CONTINUE, not on_stuck:\n{}",
                d2.log_text()
            );
            std::thread::sleep(FEW_POLLS);
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(aws.completion_attempts().len(), 2, "{:?}", aws.asg.calls());
            let rec = node.lifecycle_record().expect("lifecycle.json");
            assert_eq!(rec["completed"], "CONTINUE", "{rec}");
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Fleet coordination (design.md): a scale-in waits for a slot, a spot notice never does
// ---------------------------------------------------------------------------------------------

/// `[fleet]` through the FleetLock fake, this node's holder id `this-node`.
fn fleet_section(fake: &FakeFleetLock) -> String {
    format!(
        "\n[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"{}\"\nid = \"this-node\"\nwait = \"5m\"\n",
        fake.url()
    )
}

#[test]
fn a_scale_in_waiting_for_a_fleet_slot_keeps_heartbeating_then_drains() {
    run_isolated(
        "a_scale_in_waiting_for_a_fleet_slot_keeps_heartbeating_then_drains",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let fake = rt.block_on(FakeFleetLock::start(Flavor::Airlock));
            // The group's one slot is another node's.
            fake.hold("default", "other-node");
            let sb = node_sandbox("cloud-fleet-wait", sim);
            // Heartbeats every second, "stuck" after 3 s without progress.
            let extra = format!("on_stuck = \"ABANDON\"\n{}", fleet_section(&fake));
            let node = CloudNode::new(&Conf {
                aws: &extra,
                ..Conf::of(&aws)
            });
            let mut d = node.watching_daemon(&sb, sim);

            let asked = SystemTime::now();
            aws.scale_in();
            assert!(
                d.wait_log("waiting for a fleet slot in group default", SOON),
                "{}",
                d.log_text()
            );
            // Twice stuck_after of waiting: nothing drained, nothing completed, heartbeats on.
            std::thread::sleep(Duration::from_secs(6));
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0, "{}", d.log_text());
            assert!(
                aws.completion_attempts().is_empty(),
                "completed while waiting for a slot: {:?}\n{}",
                aws.asg.calls(),
                d.log_text()
            );
            let beats: Vec<Call> = aws
                .heartbeat_attempts()
                .into_iter()
                .filter(|c| c.error.is_none())
                .collect();
            assert!(
                beats.len() >= 4,
                "{} heartbeats in 6 s of waiting:\n{}",
                beats.len(),
                d.log_text()
            );
            assert_units(&sb, true);
            assert_eq!(fake.holders("default"), ["other-node"]);

            // The other node gives its slot back: this one takes it, drains and completes.
            fake.unhold("default", "other-node");
            let done = aws
                .wait_completion(Duration::from_secs(60))
                .unwrap_or_else(|| panic!("no completion:\n{}", d.log_text()));
            assert_eq!(done.param("LifecycleActionResult"), Some("CONTINUE"));
            assert_addressed(&done);
            assert_decommissioned(&sr);
            assert_units(&sb, false);
            let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
            let waited = aws
                .heartbeat_attempts()
                .iter()
                .filter(|c| c.error.is_none() && c.at < drain_at)
                .count();
            eprintln!(
                "DRAIN_AGENT {:.2}s after the scale-in, {waited} heartbeats before it",
                secs_between(asked, drain_at)
            );
            assert!(waited >= 4, "{waited}");
            let m = node.marker().expect("marker");
            let f = m.fleet.expect("slot recorded");
            assert_eq!(f.id, "this-node");
            assert!(!f.over_budget);
            // After the decommission the slot goes back (the instance is about to go).
            assert!(f.released, "{f:?}");
            assert!(fake.holders("default").is_empty());
            assert!(
                !d.log_text().contains("no progress for"),
                "{}",
                d.log_text()
            );
            assert_eq!(d.stop(SOON), Some(0), "{}", d.log_text());
        },
    );
}

#[test]
fn a_spot_notice_with_the_fleet_budget_full_drains_at_once_over_budget() {
    run_isolated(
        "a_spot_notice_with_the_fleet_budget_full_drains_at_once_over_budget",
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, quick_config());
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let fake = rt.block_on(FakeFleetLock::start(Flavor::Airlock));
            fake.hold("default", "other-node");
            let sb = node_sandbox("cloud-fleet-spot", sim);
            let metrics_port = free_port();
            let extra = format!(
                "{}\n[daemon]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n",
                fleet_section(&fake)
            );
            let node = CloudNode::new(&Conf {
                aws: &extra,
                ..Conf::of(&aws)
            });
            let d = node.watching_daemon(&sb, sim);

            let noticed = SystemTime::now();
            let time = noticed + Duration::from_secs(90);
            aws.imds.set_spot_instance_action(Some(("terminate", time)));
            assert!(
                wait_until(DRAIN_TIMEOUT, || node
                    .marker()
                    .is_some_and(|m| m.stage.is_terminal())),
                "the spot drain did not end:\n{}",
                d.log_text()
            );
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::Done, "{m:?}");
            assert_eq!(m.trigger, Trigger::Spot);
            assert_decommissioned(&sr);
            // Never refused, never waiting: DRAIN_AGENT within seconds of the notice.
            let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
            assert!(
                secs_between(noticed, drain_at) < 5.0,
                "DRAIN_AGENT {:.2}s after the notice",
                secs_between(noticed, drain_at)
            );
            // It asked once, was refused, and went over budget: logged, counted, recorded.
            let asked: Vec<_> = fake
                .requests()
                .into_iter()
                .filter(|r| r.id.as_deref() == Some("this-node"))
                .collect();
            assert!(
                asked
                    .iter()
                    .any(|r| r.path == cloud_fakes::fleetlock::PRE_REBOOT && r.status == 500),
                "{asked:?}"
            );
            assert_eq!(fake.holders("default"), ["other-node"]);
            let f = m.fleet.expect("the budget decision recorded");
            assert!(f.over_budget, "{f:?}");
            assert!(
                d.log_text().contains("over the fleet budget"),
                "{}",
                d.log_text()
            );
            let body = scrape(metrics_port);
            assert_eq!(
                metric(&body, "mesos_maint_fleet_over_budget_total"),
                Some(1.0),
                "{body}"
            );
            assert_eq!(
                metric(&body, "mesos_maint_fleet_slot_held"),
                Some(0.0),
                "{body}"
            );
            // No slot was taken, so none is given back.
            assert!(
                !asked
                    .iter()
                    .any(|r| r.path == cloud_fakes::fleetlock::STEADY_STATE),
                "{asked:?}"
            );
        },
    );
}

/// The daemon's metrics text on `port`.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("metrics answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

// ---------------------------------------------------------------------------------------------
// Disruption budgets (design.md): a scale-in waits with heartbeats, then goes ahead at the end
// of its lifecycle budget; a spot notice never waits
// ---------------------------------------------------------------------------------------------

/// One instance of `/prod/api` on this node (its Marathon id) and a fake Marathon where that
/// instance is the app's only one: `min_available = 1` can never allow the drain.
fn lone_instance(
    rt: &tokio::runtime::Runtime,
) -> (SimConfig, mesos_sim::marathon::FakeMarathon, String) {
    use mesos_sim::marathon::{task_id, FakeMarathon, MarathonApp};
    let id = task_id("/prod/api");
    let cfg = frameworks(
        &[(id.as_str(), Duration::from_millis(300))],
        AckMode::After(Duration::from_millis(20)),
        "marathon",
    );
    let marathon = rt.block_on(FakeMarathon::start(mesos_sim::SimAuth::None));
    marathon.put_app(MarathonApp::new("/prod/api", 1));
    (cfg, marathon, id)
}

fn budget_section(marathon: &mesos_sim::marathon::FakeMarathon, wait: &str) -> String {
    format!(
        "\n[budget]\nmarathon = \"{}\"\nwait = \"{wait}\"\n[budget.app.\"/prod/api\"]\nmin_available = 1\n",
        marathon.url()
    )
}

#[test]
fn a_spot_notice_with_a_budget_that_refuses_drains_at_once_and_counts_the_override() {
    run_isolated(
        "a_spot_notice_with_a_budget_that_refuses_drains_at_once_and_counts_the_override",
        || {
            let rt = runtime();
            let (cfg, marathon, _) = lone_instance(&rt);
            let sr = SimRun::start(&rt, cfg);
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-budget-spot", sim);
            let metrics_port = free_port();
            let extra = format!(
                "{}\n[daemon]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n",
                budget_section(&marathon, "30m")
            );
            let node = CloudNode::new(&Conf {
                aws: &extra,
                ..Conf::of(&aws)
            });
            let d = node.watching_daemon(&sb, sim);

            let noticed = SystemTime::now();
            let time = noticed + Duration::from_secs(90);
            aws.imds.set_spot_instance_action(Some(("terminate", time)));
            assert!(
                wait_until(DRAIN_TIMEOUT, || node
                    .marker()
                    .is_some_and(|m| m.stage.is_terminal())),
                "the spot drain did not end:\n{}",
                d.log_text()
            );
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::Done, "{m:?}");
            assert_decommissioned(&sr);
            // It asked once (the verdict is logged), never waited.
            assert_eq!(marathon.app_requests("/prod/api"), 1);
            let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
            assert!(
                secs_between(noticed, drain_at) < 5.0,
                "DRAIN_AGENT {:.2}s after the notice",
                secs_between(noticed, drain_at)
            );
            let b = m.budget.expect("the budget decision recorded");
            assert!(
                b.overridden
                    .as_deref()
                    .is_some_and(|w| w.contains("/prod/api")),
                "{b:?}"
            );
            assert!(
                d.log_text()
                    .contains("disruption budgets overridden (spot drain)"),
                "{}",
                d.log_text()
            );
            let body = scrape(metrics_port);
            assert_eq!(
                metric(
                    &body,
                    "mesos_maint_budget_overrides_total{trigger=\"spot\"}"
                ),
                Some(1.0),
                "{body}"
            );
        },
    );
}

#[test]
fn a_scale_in_held_by_a_budget_keeps_heartbeating_then_goes_ahead_at_the_end_of_its_budget() {
    run_isolated(
        "a_scale_in_held_by_a_budget_keeps_heartbeating_then_goes_ahead_at_the_end_of_its_budget",
        || {
            let rt = runtime();
            let (cfg, marathon, _) = lone_instance(&rt);
            let sr = SimRun::start(&rt, cfg);
            let sim = &sr.sim;
            let aws = Aws::start(&rt);
            let sb = node_sandbox("cloud-budget-scale-in", sim);
            // Heartbeats every second; its budget: min(budget.wait, stuck_after) = 4 s.
            let extra = budget_section(&marathon, "4s");
            let node = CloudNode::new(&Conf {
                aws: &extra,
                stuck: "20s",
                ..Conf::of(&aws)
            });
            let mut d = node.watching_daemon(&sb, sim);
            let asked = SystemTime::now();
            aws.scale_in();
            let done = aws
                .wait_completion(Duration::from_secs(60))
                .unwrap_or_else(|| panic!("no completion:\n{}", d.log_text()));
            assert_eq!(done.param("LifecycleActionResult"), Some("CONTINUE"));
            assert_decommissioned(&sr);
            let drain_at = sr.drain_time_upper().expect("DRAIN_AGENT time");
            let waited = secs_between(asked, drain_at);
            let beats = aws
                .heartbeat_attempts()
                .iter()
                .filter(|c| c.error.is_none() && c.at < drain_at)
                .count();
            eprintln!("DRAIN_AGENT {waited:.2}s after the scale-in, {beats} heartbeats before it");
            assert!(waited >= 4.0, "went ahead before its budget: {waited:.2}s");
            assert!(beats >= 3, "{beats} heartbeats while the budget held it");
            assert!(
                marathon.app_requests("/prod/api") >= 2,
                "asked again while waiting"
            );
            let m = node.marker().expect("marker");
            let b = m.budget.expect("recorded");
            assert!(b.overridden.is_some(), "{b:?}");
            assert!(b.waited_secs >= 4, "{b:?}");
            assert!(
                d.log_text()
                    .contains("disruption budgets overridden (autoscaling drain)"),
                "{}",
                d.log_text()
            );
            assert_eq!(d.stop(SOON), Some(0), "{}", d.log_text());
        },
    );
}
