//! System tests of `mesos-maint daemon` (and `mesos-maint reboot`): the built binary against the
//! in-process Mesos simulator (`tests/mesos-sim`), a real systemd manager and a real
//! systemd-logind on a private bus (see `tests/support/sandbox.rs`), with fake agent, agent
//! socket and docker units whose `reboot.target` is a harmless dummy. They need root and
//! `unshare`; elsewhere they print a SKIP line and pass.
//!
//! What they observe, independently of the code under test: `ListInhibitors` through `busctl`
//! (and once through `mesos_maint::systemd::Logind`), unit states sampled with `systemctl` while
//! the test runs (systemd unloads stopped units, so states are sampled rather than read back),
//! `reboot.target`'s `ActiveEnterTimestampMonotonic`, the simulator's request log, the fake
//! daemons' record files, the `NOTIFY_SOCKET` datagrams, the metrics endpoint, the process's
//! exit status and its log.
//!
//! As in `system_drain.rs`, the fake agent unit is wired to the simulator: starting it (re)starts
//! the simulated agent, stopping it stops the simulated agent.
//!
//! The fixture (simulator clocks, the daemon's node, notification socket and metrics, logind's
//! list of locks) is `tests/support/daemon_node.rs`, shared with `system_cloud.rs` and the
//! footprint measurement (`daemon_footprint.rs`).

mod support;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mesos_maint::drain::{DrainOptions, Marker, Stage, Trigger};
use mesos_sim::{Sim, SimConfig, TaskSpec};
use nix::sys::signal::Signal;
use support::daemon_node::*;
use support::logind;
use support::node::Node;
use support::proc::wait_until;
use support::sandbox::{run_isolated_requiring, Sandbox};
use support::sim::{never_ack_config, runtime, sim_node, AGENT, AGENT_SOCKET, DOCKER};

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// `ActiveEnterTimestampMonotonic` of `unit` (µs), 0 when it never became active (or was
/// unloaded).
fn active_enter_us(sb: &Sandbox, unit: &str) -> u64 {
    let out = sb.systemctl(&[
        "show",
        "--property=ActiveEnterTimestampMonotonic",
        "--",
        unit,
    ]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .strip_prefix("ActiveEnterTimestampMonotonic=")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The time (µs, CLOCK_MONOTONIC) of the first `event` in a fake service's record.
fn record_time_us(sb: &Sandbox, service: &str, event: &str, offset: i128) -> Option<u64> {
    sb.record_time(service, event, 0)
        .map(|secs| ((secs * 1e6) as i128 - offset) as u64)
}

// ---------------------------------------------------------------------------------------------
// Sampling while a shutdown runs
// ---------------------------------------------------------------------------------------------

/// One look at the node: unit states, the daemon's delay lock, DRAIN_AGENT calls so far.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    /// ActiveState per unit, in the order of `SAMPLED_UNITS`.
    states: Vec<String>,
    lock_listed: bool,
    drain_calls: usize,
}

const SAMPLED_UNITS: [&str; 4] = [AGENT_SOCKET, AGENT, DOCKER, REBOOT_TARGET];

impl Sample {
    fn state(&self, unit: &str) -> &str {
        let i = SAMPLED_UNITS.iter().position(|u| *u == unit).unwrap();
        &self.states[i]
    }
    fn active(&self, unit: &str) -> bool {
        self.state(unit) == "active"
    }
    fn stopped(&self, unit: &str) -> bool {
        matches!(self.state(unit), "inactive" | "failed")
    }
}

fn sample(sb: &Sandbox, sim: &Sim, pid: u32) -> Sample {
    let at = Instant::now();
    let mut args = vec!["show", "--property=Id,ActiveState", "--"];
    args.extend(SAMPLED_UNITS);
    let out = sb.systemctl(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut states = vec![String::new(); SAMPLED_UNITS.len()];
    let mut id = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Id=") {
            id = v.to_owned();
        } else if let Some(v) = line.strip_prefix("ActiveState=") {
            if let Some(i) = SAMPLED_UNITS.iter().position(|u| *u == id) {
                states[i] = v.to_owned();
            }
        }
    }
    Sample {
        at,
        states,
        lock_listed: delay_lock_of(sb, pid).is_some(),
        drain_calls: sim.count_calls("DRAIN_AGENT"),
    }
}

/// Sample every ~50 ms on a scoped thread while `body` runs; the samples.
fn sampling<R>(sb: &Sandbox, sim: &Sim, pid: u32, body: impl FnOnce() -> R) -> (R, Vec<Sample>) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                out.push(sample(sb, sim, pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            out.push(sample(sb, sim, pid));
            out
        });
        let r = body();
        stop.store(true, Ordering::Relaxed);
        (r, sampler.join().expect("sampler"))
    })
}

fn first_active(samples: &[Sample], unit: &str) -> Option<usize> {
    samples.iter().position(|s| s.active(unit))
}

// ---------------------------------------------------------------------------------------------
// The lock, READY/STATUS, metrics, SIGTERM
// ---------------------------------------------------------------------------------------------

#[test]
fn daemon_holds_the_delay_lock_while_the_agent_has_tasks_and_exits_0_on_sigterm() {
    run_isolated_requiring(
        "daemon_holds_the_delay_lock_while_the_agent_has_tasks_and_exits_0_on_sigterm",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(300)));
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-lock", sim, Some(Duration::from_secs(20)));
            let node = DaemonNode::new();
            let mut d = node.daemon(&sb, sim);
            let pid = d.pid();

            // The delay lock on shutdown, held by the daemon's process, as logind lists it.
            assert!(
                wait_until(SOON, || delay_lock_of(&sb, pid).is_some()),
                "no delay lock listed: {:?}\n{}",
                listed_locks(&sb),
                d.log_text()
            );
            let lock = delay_lock_of(&sb, pid).unwrap();
            assert_eq!(lock.what, "shutdown", "{lock:?}");
            assert_eq!(lock.who, WHO);
            assert_eq!(lock.uid, 0);
            assert!(lock.why.contains("Draining the Mesos agent"), "{lock:?}");
            // Exactly one lock (no block lock unless configured).
            assert_eq!(listed_locks(&sb).len(), 1, "{:?}", listed_locks(&sb));
            // The library's view agrees.
            rt.block_on(async {
                let logind = mesos_maint::systemd::Logind::connect_to(&sb.bus_address())
                    .await
                    .expect("logind");
                let ours: Vec<_> = logind
                    .list_inhibitors()
                    .await
                    .expect("ListInhibitors")
                    .into_iter()
                    .filter(|i| i.who == WHO)
                    .collect();
                assert_eq!(ours.len(), 1, "{ours:?}");
                assert_eq!(ours[0].pid, pid);
                assert!(ours[0].has_mode(mesos_maint::systemd::InhibitMode::Delay));
                assert!(ours[0].covers("shutdown"));
            });

            // sd_notify: READY came first, then a STATUS naming the lock.
            assert!(
                d.notify.wait_for(SOON, |m| m.starts_with("STATUS=")
                    && m.contains("delay lock")),
                "{:?}",
                d.notify.messages()
            );
            let status = d.notify.last_status().unwrap();
            assert!(status.contains("node has work"), "{status}");

            // Metrics from the endpoint.
            let body = d.metrics();
            assert_eq!(metric(&body, "mesos_maint_up"), Some(1.0), "{body}");
            assert_eq!(
                metric(&body, "mesos_maint_inhibitor_held{mode=\"delay\"}"),
                Some(1.0),
                "{body}"
            );
            assert_eq!(
                metric(&body, "mesos_maint_inhibitor_held{mode=\"block\"}"),
                Some(0.0),
                "{body}"
            );
            assert_eq!(metric(&body, "mesos_maint_tasks_left"), Some(3.0), "{body}");
            assert!(body.contains("mesos_maint_build_info"), "{body}");

            // Nothing was drained: the daemon only asks the local agent while idle.
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 0);
            assert!(
                sim.requests()
                    .iter()
                    .all(|r| r.server == mesos_sim::Server::Agent),
                "the idle daemon asked the master: {:?}",
                sim.requests()
                    .iter()
                    .filter(|r| r.server != mesos_sim::Server::Agent)
                    .map(|r| &r.path)
                    .collect::<Vec<_>>()
            );

            // SIGTERM: exit 0, STOPPING=1, the lock gone, the units untouched.
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0), "{}", d.log_text());
            assert!(
                d.notify
                    .wait_for(Duration::from_secs(2), |m| m == "STOPPING=1"),
                "{:?}",
                d.notify.messages()
            );
            assert!(
                wait_until(SOON, || listed_locks(&sb).is_empty()),
                "{:?}",
                listed_locks(&sb)
            );
            for u in [DOCKER, AGENT_SOCKET, AGENT] {
                assert!(sb.unit_state(u).is_active(), "{u}");
            }
            assert!(node.marker().is_none(), "no drain, no marker");

            // SIGINT ends it the same way.
            let mut d = node.daemon(&sb, sim);
            assert!(wait_until(SOON, || delay_lock_of(&sb, d.pid()).is_some()));
            d.signal(Signal::SIGINT);
            assert_eq!(d.wait_exit(SOON), Some(0), "{}", d.log_text());
            assert!(wait_until(SOON, || listed_locks(&sb).is_empty()));
        },
    );
}

#[test]
fn idle_agent_gets_no_lock_and_the_lock_follows_the_work() {
    run_isolated_requiring(
        "idle_agent_gets_no_lock_and_the_lock_follows_the_work",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, SimConfig::default());
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-idle", sim, None);
            let node = DaemonNode::new();
            let mut d = node.daemon(&sb, sim);
            assert!(
                d.notify.wait_for(SOON, |m| m.starts_with("STATUS=")
                    && m.contains("node idle")),
                "{:?}",
                d.notify.messages()
            );
            assert!(listed_locks(&sb).is_empty(), "{:?}", listed_locks(&sb));
            assert_eq!(
                d.metric("mesos_maint_inhibitor_held{mode=\"delay\"}"),
                Some(0.0)
            );
            // Work arrives: the lock is taken at the next look (every 10 s).
            sim.add_task(
                "fw-late",
                TaskSpec::new("late-1", Duration::from_millis(100)),
            );
            assert!(
                wait_until(Duration::from_secs(25), || delay_lock_of(&sb, d.pid())
                    .is_some()),
                "{}",
                d.log_text()
            );
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Shutdown: drain within the delay, stop the units, release, then reboot.target
// ---------------------------------------------------------------------------------------------

#[test]
fn logind_reboot_drains_stops_the_units_and_only_then_starts_reboot_target() {
    run_isolated_requiring(
        "logind_reboot_drains_stops_the_units_and_only_then_starts_reboot_target",
        &[LOGIND],
        || {
            let delay_max = Duration::from_secs(20);
            let rt = runtime();
            // Tasks take 1.5 s to die: the drain takes visibly long.
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(1500)));
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-shutdown", sim, Some(delay_max));
            let node = DaemonNode::new();
            // A 2 s watchdog (WatchdogSec=2): WATCHDOG=1 every second, also while draining.
            let mut d = node.daemon_with_env(&sb, sim, &[("WATCHDOG_USEC", "2000000")]);
            let pid = d.pid();
            assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));
            let offset = wall_minus_mono_us();

            let asked = Instant::now();
            let asked_us = mono_us();
            let (reboot_seen, samples) = sampling(&sb, sim, pid, || {
                logind::reboot(&sb);
                let (s, ok) =
                    sb.wait_for_state(REBOOT_TARGET, Duration::from_secs(40), |s| s.is_active());
                assert!(ok, "reboot.target never started: {s:?}\n{}", d.log_text());
                Instant::now()
            });
            let took = reboot_seen - asked;
            eprintln!(
                "reboot.target active {took:?} after Reboot; {} samples",
                samples.len()
            );

            // The master got exactly one DRAIN_AGENT, and the drain finished there.
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "{}", d.log_text());
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
            // logind went ahead because the lock was released, well before InhibitDelayMaxSec.
            assert!(
                took < delay_max - Duration::from_secs(5),
                "took {took:?}: the lock was not released after the drain"
            );

            // Sampled order: while reboot.target was down the node drained; whenever it was
            // up, the drain had been asked, the units were stopped and the lock was gone.
            let first = first_active(&samples, REBOOT_TARGET).expect("sampled reboot.target");
            assert!(first > 0);
            for s in &samples[first..] {
                assert!(s.drain_calls == 1, "{s:?}");
                for u in [AGENT_SOCKET, AGENT, DOCKER] {
                    assert!(
                        s.stopped(u),
                        "{u} not stopped while reboot.target up: {s:?}"
                    );
                }
                assert!(!s.lock_listed, "lock still listed at reboot.target: {s:?}");
            }
            let held = samples[..first]
                .iter()
                .filter(|s| s.drain_calls == 1 && s.active(AGENT))
                .count();
            assert!(
                held > 0,
                "no sample caught the agent draining while reboot.target waited: {:?}",
                &samples[..first]
            );
            assert!(samples[..first].iter().all(|s| !s.active(REBOOT_TARGET)));

            // The same order on the clocks: DRAIN_AGENT, the agent's and docker's SIGTERM, the
            // socket's stop, then reboot.target's activation.
            let reboot_at = active_enter_us(&sb, REBOOT_TARGET);
            assert!(reboot_at > asked_us, "{reboot_at} vs {asked_us}");
            let drain_at = sr.call_time_upper_us("DRAIN_AGENT").expect("DRAIN_AGENT");
            let agent_term = record_time_us(&sb, AGENT, "SIGTERM", offset).expect("agent stop");
            let docker_term = record_time_us(&sb, DOCKER, "SIGTERM", offset).expect("docker stop");
            eprintln!(
                "after Reboot: DRAIN_AGENT <= {:.3}s, agent SIGTERM {:.3}s, docker SIGTERM \
                 {:.3}s, reboot.target active {:.3}s",
                (drain_at as f64 - asked_us as f64) / 1e6,
                (agent_term as f64 - asked_us as f64) / 1e6,
                (docker_term as f64 - asked_us as f64) / 1e6,
                (reboot_at as f64 - asked_us as f64) / 1e6
            );
            assert!(drain_at < agent_term, "DRAIN_AGENT after the agent stop");
            assert!(agent_term <= docker_term, "docker stopped before the agent");
            assert!(
                docker_term < reboot_at,
                "reboot.target before docker stopped"
            );
            // The drain took the tasks' grace period: DRAIN_AGENT came well before the reboot.
            assert!(reboot_at - drain_at > 1_000_000, "{drain_at} {reboot_at}");

            // The marker: our shutdown drain, done, all unit actions recorded.
            let m = node.marker().expect("marker");
            assert_eq!(m.trigger, Trigger::Shutdown);
            assert_eq!(m.stage, Stage::Done);
            assert!(!m.policy.decommission);
            assert_eq!(
                m.actions,
                [
                    "stop dcos-mesos-slave.socket",
                    "stop dcos-mesos-slave.service",
                    "stop docker.service"
                ]
            );

            // Metrics and STATUS tell the story.
            let body = d.metrics();
            assert_eq!(
                metric(&body, "mesos_maint_last_outcome{outcome=\"done\"}"),
                Some(1.0),
                "{body}"
            );
            assert_eq!(
                metric(&body, "mesos_maint_inhibitor_held{mode=\"delay\"}"),
                Some(0.0),
                "{body}"
            );
            let secs = metric(&body, "mesos_maint_drain_duration_seconds").expect("duration");
            assert!(secs > 1.0 && secs < took.as_secs_f64(), "{secs} {took:?}");
            let statuses: Vec<_> = d
                .notify
                .messages()
                .into_iter()
                .filter(|m| m.starts_with("STATUS="))
                .collect();
            assert!(
                statuses.iter().any(|s| s.contains("shutdown drain")),
                "{statuses:?}"
            );
            assert!(
                statuses
                    .iter()
                    .any(|s| s.contains("drain") && s.contains("released")),
                "{statuses:?}"
            );

            // The watchdog was fed all along, the drain included: never a gap of WatchdogSec.
            let pings: Vec<Instant> = d
                .notify
                .timed()
                .into_iter()
                .filter(|(_, m)| m == "WATCHDOG=1")
                .map(|(t, _)| t)
                .collect();
            let drain_pings = pings
                .iter()
                .filter(|t| **t > asked && **t < reboot_seen)
                .count();
            let max_gap = pings
                .windows(2)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or_default();
            eprintln!(
                "{} WATCHDOG=1 ({drain_pings} during the drain), largest gap {max_gap:?}",
                pings.len()
            );
            assert!(drain_pings >= 1, "no WATCHDOG=1 while draining");
            // systemd would have killed the daemon at a 2 s gap: that is the line, and the
            // 1 s between pings the margin for a loaded machine.
            assert!(max_gap < Duration::from_secs(2), "{max_gap:?}");

            // PrepareForShutdown(false) follows the dummy reboot.target: the daemon keeps
            // running (no work: the agent is stopped, so no lock is taken again).
            assert!(d.wait_log("shutdown cancelled", SOON), "{}", d.log_text());
            assert!(d.is_running());
            assert!(listed_locks(&sb).is_empty(), "{:?}", listed_locks(&sb));

            // SIGTERM keeps the marker.
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0), "{}", d.log_text());
            assert_eq!(node.marker().expect("marker kept"), m);
        },
    );
}

#[test]
fn never_acknowledging_framework_releases_the_lock_at_the_deadline_and_the_reboot_proceeds() {
    run_isolated_requiring(
        "never_acknowledging_framework_releases_the_lock_at_the_deadline_and_the_reboot_proceeds",
        &[LOGIND],
        || {
            // shutdown_deadline(8 s) = 6 s: the daemon lets go 2 s before logind would.
            let delay_max = Duration::from_secs(8);
            let deadline = mesos_maint::daemon::policy::shutdown_deadline(delay_max);
            assert_eq!(deadline, Duration::from_secs(6));
            let rt = runtime();
            let sr = SimRun::start(&rt, never_ack_config());
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-deadline", sim, Some(delay_max));
            let node = DaemonNode::new();
            let mut d = node.daemon(&sb, sim);
            let pid = d.pid();
            assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));

            let asked = Instant::now();
            let (_, samples) = sampling(&sb, sim, pid, || {
                logind::reboot(&sb);
                let (s, ok) =
                    sb.wait_for_state(REBOOT_TARGET, Duration::from_secs(30), |s| s.is_active());
                assert!(ok, "reboot.target never started: {s:?}\n{}", d.log_text());
            });
            let first = first_active(&samples, REBOOT_TARGET).expect("sampled reboot.target");
            let waited = samples[first].at - asked;
            // Held until the deadline: the lock listed in every sample before it.
            let held_until = samples[..first]
                .iter()
                .take_while(|s| s.lock_listed)
                .last()
                .map(|s| s.at - asked)
                .unwrap_or_default();
            eprintln!(
                "lock listed until at least {held_until:?}, reboot.target active {waited:?} after \
                 Reboot (deadline {deadline:?}, InhibitDelayMaxSec {delay_max:?})"
            );
            assert!(
                held_until >= deadline - Duration::from_millis(500),
                "{held_until:?}"
            );
            // logind went ahead before its own InhibitDelayMaxSec ran out: the daemon let go.
            // (The daemon takes a new lock right after PrepareForShutdown(false), so the gap
            // without a lock may be too short to sample; logind's log has the release.)
            assert!(waited < delay_max, "logind timed out instead: {waited:?}");
            assert!(
                waited >= deadline - Duration::from_millis(500),
                "the lock went before the deadline: {waited:?}"
            );
            let logind_log = fs::read_to_string(sb.logind_log()).unwrap_or_default();
            assert!(
                logind_log
                    .lines()
                    .any(|l| l.starts_with("Inhibitor mesos-maint")
                        && l.contains(&format!("pid={pid} "))
                        && l.contains("mode=delay stopped")),
                "logind never saw the daemon's lock go"
            );
            assert!(samples[..first].iter().all(|s| !s.active(REBOOT_TARGET)));

            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINING"));
            assert!(
                d.log_text().contains("dead-scheduler"),
                "the holder is named:\n{}",
                d.log_text()
            );
            // Deadline without --force: the units are left to the shutdown itself.
            for u in [DOCKER, AGENT_SOCKET, AGENT] {
                assert!(sb.unit_state(u).is_active(), "{u}");
            }
            let m = node.marker().expect("marker");
            assert_eq!(m.stage, Stage::DeadlineExceeded);
            assert_eq!(m.trigger, Trigger::Shutdown);
            assert_eq!(
                d.metric("mesos_maint_last_outcome{outcome=\"deadline_exceeded\"}"),
                Some(1.0)
            );

            // The shutdown did not end this machine (the dummy reboot.target):
            // PrepareForShutdown(false), and the node still has work (unacknowledged tasks),
            // so the daemon takes its lock again, at once.
            assert!(d.wait_log("shutdown cancelled", SOON), "{}", d.log_text());
            let cancelled = Instant::now();
            assert!(
                wait_until(SOON, || delay_lock_of(&sb, pid).is_some()),
                "lock not taken again:\n{}",
                d.log_text()
            );
            eprintln!(
                "delay lock taken again {:?} after the cancellation was logged",
                cancelled.elapsed()
            );
            assert!(
                cancelled.elapsed() < Duration::from_secs(3),
                "re-taken only at the next poll"
            );
            assert_eq!(
                d.metric("mesos_maint_inhibitor_held{mode=\"delay\"}"),
                Some(1.0)
            );
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0), "{}", d.log_text());
        },
    );
}

#[test]
fn shutdown_during_a_stuck_manual_drain_keeps_it_manual() {
    run_isolated_requiring(
        "shutdown_during_a_stuck_manual_drain_keeps_it_manual",
        &[LOGIND],
        || {
            let delay_max = Duration::from_secs(5);
            let rt = runtime();
            let sr = SimRun::start(&rt, never_ack_config());
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-manual-stuck", sim, Some(delay_max));
            let node = DaemonNode::new();
            // An administrator drained by hand; a scheduler never acknowledges.
            let ran = node.run(&sb, sim, &["drain", "--deadline", "2s"]);
            assert_eq!(ran.code, 4, "{}", ran.context());
            let manual = node.marker().expect("marker");
            assert_eq!(
                (manual.trigger, manual.stage),
                (Trigger::Manual, Stage::DeadlineExceeded)
            );

            // The node still has (unacknowledged) work: the daemon holds its lock. The admin
            // reboots anyway; the daemon's shutdown drain continues the admin's drain.
            let mut d = node.daemon(&sb, sim);
            let pid = d.pid();
            assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));
            logind::reboot(&sb);
            let (s, ok) =
                sb.wait_for_state(REBOOT_TARGET, Duration::from_secs(30), |s| s.is_active());
            assert!(ok, "{s:?}\n{}", d.log_text());
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "not sent again");

            // After the boot this must not count as a drain the daemon made for a reboot.
            let m = node.marker().expect("marker");
            assert_eq!(
                m.trigger,
                Trigger::Manual,
                "the shutdown drain made the admin's drain its own: {m:?}\n{}",
                d.log_text()
            );
            assert!(
                d.log_text().contains("carrying on the Manual drain"),
                "{}",
                d.log_text()
            );
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
        },
    );
}

// ---------------------------------------------------------------------------------------------
// After a (simulated) new boot
// ---------------------------------------------------------------------------------------------

/// Drain the node for real (units stopped, DRAINED on the master), then replace the marker
/// by one from another boot with `trigger` (and `decommission`).
fn drained_node_from_an_earlier_boot(
    node: &Node,
    sb: &Sandbox,
    sim: &Sim,
    trigger: Trigger,
    decommission: bool,
) -> Marker {
    let ran = node.run(sb, sim, &["drain", "--deadline", "60s"]);
    assert_eq!(ran.code, 0, "{}", ran.context());
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
    assert!(sim.is_deactivated());
    for u in [DOCKER, AGENT_SOCKET, AGENT] {
        assert!(sb.unit_state(u).is_stopped(), "{u}");
    }
    let drained = node.marker().expect("marker of the drain");
    let mut m = Marker::new(
        &sim.agent_id(),
        trigger,
        DrainOptions {
            decommission,
            stop_units: true,
            stop_docker: true,
            force: false,
        },
        &sim.master_url(),
        Some("seeded by the test".into()),
        None,
        None,
    );
    m.stage = Stage::Done;
    m.actions = drained.actions.clone();
    m.boot_id = "00000000-0000-4000-8000-00000000b007".into();
    let current = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_ne!(m.boot_id, current.trim());
    node.markers().save(&mut m).expect("seed the marker");
    node.marker().expect("seeded")
}

/// What the boot does: docker, the agent socket, the agent.
fn boot_units(sb: &Sandbox) {
    for u in [DOCKER, AGENT_SOCKET, AGENT] {
        sb.start_unit(u);
    }
}

#[test]
fn after_a_new_boot_the_daemon_reactivates_an_agent_it_drained_for_a_reboot() {
    run_isolated_requiring(
        "after_a_new_boot_the_daemon_reactivates_an_agent_it_drained_for_a_reboot",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(100)));
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-boot", sim, None);
            let node = DaemonNode::new();
            let seeded = drained_node_from_an_earlier_boot(&node, &sb, sim, Trigger::Reboot, false);

            // The daemon starts before the agent (early in the boot): it waits.
            let mut d = node.daemon(&sb, sim);
            assert!(
                d.wait_log("reactivating it once it is back", SOON),
                "{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 0, "agent still down");
            assert_eq!(node.marker().as_ref(), Some(&seeded));

            boot_units(&sb);
            assert!(
                wait_until(Duration::from_secs(40), || sim
                    .count_calls("REACTIVATE_AGENT")
                    == 1),
                "no REACTIVATE_AGENT:\n{}",
                d.log_text()
            );
            assert!(
                wait_until(SOON, || node.marker().is_none()),
                "marker not cleared:\n{}",
                d.log_text()
            );
            assert!(!sim.is_deactivated(), "{}", sim.state_json());
            assert!(
                d.wait_log("reactivated the agent after the reboot", SOON),
                "{}",
                d.log_text()
            );
            // Reactivated once, after the agent was registered again.
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 1);
            let reactivate = sim
                .requests()
                .into_iter()
                .find(|r| r.call_type().as_deref() == Some("REACTIVATE_AGENT"))
                .unwrap();
            assert_eq!(reactivate.status, 200, "{reactivate:?}");
            assert!(reactivate.body.contains(&seeded.agent_id), "{reactivate:?}");
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
        },
    );
}

/// A node whose daemon (with `extra` configuration) is started, then logind reboots it: the
/// shutdown drain must run to its end within logind's 30 s delay, with exactly one DRAIN_AGENT.
/// Returns what the caller still inspects; the simulator, sandbox and node dir (the daemon's log
/// and state) live as long as the caller keeps them.
fn shutdown_drain(
    rt: &tokio::runtime::Runtime,
    cfg: SimConfig,
    name: &str,
    extra: &str,
) -> (SimRun, Sandbox, DaemonNode, Daemon, Marker) {
    let sr = SimRun::start(rt, cfg);
    let sim = &sr.sim;
    let sb = node_sandbox(name, sim, Some(Duration::from_secs(30)));
    let node = DaemonNode::new();
    fs::write(node.config(), node.config_text("") + extra).unwrap();
    let d = node.daemon(&sb, sim);
    let pid = d.pid();
    assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));

    logind::reboot(&sb);
    let (s, ok) = sb.wait_for_state(REBOOT_TARGET, Duration::from_secs(40), |s| s.is_active());
    assert!(ok, "reboot.target never started: {s:?}\n{}", d.log_text());
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "{}", d.log_text());
    let m = node.marker().expect("marker");
    assert_eq!(m.trigger, Trigger::Shutdown);
    assert_eq!(m.stage, Stage::Done);
    (sr, sb, node, d, m)
}

/// design.md "Fleet coordination": an OS shutdown already under way is never refused. With the
/// group's one slot held by another node, the shutdown drain goes on at once, over budget:
/// logged, counted in `mesos_maint_fleet_over_budget_total`, recorded in the marker.
#[test]
fn a_shutdown_with_the_fleet_budget_full_drains_over_budget() {
    run_isolated_requiring(
        "a_shutdown_with_the_fleet_budget_full_drains_over_budget",
        &[LOGIND],
        || {
            let rt = runtime();
            let fake = rt.block_on(cloud_fakes::FakeFleetLock::start(
                cloud_fakes::Flavor::Airlock,
            ));
            fake.hold("default", "other-node");
            let fleet = format!(
                "\n[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"{}\"\nid = \"this-node\"\nwait = \"10m\"\n",
                fake.url()
            );
            let (_sr, _sb, _node, d, m) = shutdown_drain(
                &rt,
                busy_config(Duration::from_millis(200)),
                "daemon-shutdown-fleet",
                &fleet,
            );
            let f = m.fleet.expect("the budget decision recorded");
            assert!(f.over_budget, "{f:?}");
            assert!(
                d.log_text().contains("over the fleet budget"),
                "{}",
                d.log_text()
            );
            // It asked (refused: the slot is the other node's) and did not take it anyway.
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
            let body = d.metrics();
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
        },
    );
}

/// design.md "Disruption budgets": an OS shutdown under way never waits for a budget. This node
/// holds the only instance of `/prod/api` and `min_available = 1` can never allow the drain; the
/// shutdown drain still goes on at once (reboot.target is reached within logind's delay, not
/// after `budget.wait`): Marathon asked once, the override logged, recorded in the marker and
/// counted by trigger.
#[test]
fn a_shutdown_with_a_budget_that_refuses_drains_at_once_and_counts_the_override() {
    run_isolated_requiring(
        "a_shutdown_with_a_budget_that_refuses_drains_at_once_and_counts_the_override",
        &[LOGIND],
        || {
            use mesos_sim::marathon::{task_id, FakeMarathon, MarathonApp};
            let rt = runtime();
            let task = task_id("/prod/api");
            let cfg = SimConfig {
                frameworks: vec![mesos_sim::FrameworkSpec::new(
                    "fw-marathon",
                    "marathon",
                    mesos_sim::AckMode::After(Duration::from_millis(20)),
                )
                .task(TaskSpec::new(task.as_str(), Duration::from_millis(300)))],
                ..SimConfig::default()
            };
            let marathon = rt.block_on(FakeMarathon::start(mesos_sim::SimAuth::None));
            marathon.put_app(MarathonApp::new("/prod/api", 1));
            let budget = format!(
                "\n[budget]\nmarathon = \"{}\"\nwait = \"30m\"\n[budget.app.\"/prod/api\"]\nmin_available = 1\n",
                marathon.url()
            );
            let (_sr, _sb, _node, d, m) =
                shutdown_drain(&rt, cfg, "daemon-shutdown-budget", &budget);
            let b = m.budget.expect("the budget decision recorded");
            assert!(
                b.overridden
                    .as_deref()
                    .is_some_and(|w| w.contains("/prod/api")),
                "{b:?}"
            );
            // Evaluated once, never waited.
            assert_eq!(marathon.app_requests("/prod/api"), 1);
            assert!(
                d.log_text()
                    .contains("disruption budgets overridden (shutdown drain)"),
                "{}",
                d.log_text()
            );
            let body = d.metrics();
            assert_eq!(
                metric(
                    &body,
                    "mesos_maint_budget_overrides_total{trigger=\"shutdown\"}"
                ),
                Some(1.0),
                "{body}"
            );
        },
    );
}

/// design.md "Fleet coordination": a drain for a reboot keeps its slot until the daemon has
/// reactivated the agent after the boot, and then gives it back. Meanwhile the daemon (started,
/// then restarted, while the node holds the slot) shows it in `mesos_maint_fleet_slot_held`.
#[test]
fn after_a_new_boot_the_daemon_gives_the_fleet_slot_back_once_the_agent_is_reactivated() {
    run_isolated_requiring(
        "after_a_new_boot_the_daemon_gives_the_fleet_slot_back_once_the_agent_is_reactivated",
        &[LOGIND],
        || {
            let rt = runtime();
            let fake = rt.block_on(cloud_fakes::FakeFleetLock::start(
                cloud_fakes::Flavor::Airlock,
            ));
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(100)));
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-boot-fleet", sim, None);
            let node = DaemonNode::new();
            let fleet = format!(
                "\n[fleet]\nbackend = \"fleetlock\"\nfleetlock_url = \"{}\"\nid = \"this-node\"\nwait = \"10s\"\n",
                fake.url()
            );
            fs::write(node.config(), node.config_text("") + &fleet).unwrap();
            // The drain (a real one, through the fake) took the slot; the seeded marker of
            // "the earlier boot" records it as that drain did.
            let mut m = drained_node_from_an_earlier_boot(&node, &sb, sim, Trigger::Reboot, false);
            assert_eq!(fake.holders("default"), ["this-node"]);
            m.fleet = Some(mesos_maint::drain::marker::FleetMark {
                backend: "fleetlock".into(),
                group: "default".into(),
                id: "this-node".into(),
                over_budget: false,
                released: false,
                taken_at: 1,
            });
            node.markers().save(&mut m).expect("seed the marker");

            // Early in the boot the agent is not up yet: the slot is held, the gauge says so,
            // also in a daemon restarted meanwhile.
            let mut d = node.daemon(&sb, sim);
            assert!(
                d.wait_log("reactivating it once it is back", SOON),
                "{}",
                d.log_text()
            );
            assert_eq!(d.metric("mesos_maint_fleet_slot_held"), Some(1.0));
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
            let mut d = node.daemon(&sb, sim);
            assert_eq!(d.metric("mesos_maint_fleet_slot_held"), Some(1.0));
            std::thread::sleep(Duration::from_secs(1));
            assert_eq!(fake.holders("default"), ["this-node"], "released too early");

            boot_units(&sb);
            assert!(
                wait_until(Duration::from_secs(40), || fake
                    .holders("default")
                    .is_empty()),
                "the slot was not given back:\n{}",
                d.log_text()
            );
            // Given back after the reactivation, not before.
            let reactivated = sim
                .requests()
                .into_iter()
                .find(|r| r.call_type().as_deref() == Some("REACTIVATE_AGENT") && r.status == 200)
                .expect("REACTIVATE_AGENT accepted");
            assert!(!sim.is_deactivated(), "{}", sim.state_json());
            let steady: Vec<_> = fake
                .requests()
                .into_iter()
                .filter(|r| r.path == cloud_fakes::fleetlock::STEADY_STATE)
                .collect();
            assert_eq!(steady.len(), 1, "{steady:?}");
            assert_eq!(steady[0].id.as_deref(), Some("this-node"));
            assert_eq!(steady[0].status, 200);
            assert!(
                d.wait_log("fleet slot in group default given back", SOON),
                "{}",
                d.log_text()
            );
            assert!(reactivated.body.contains(&m.agent_id), "{reactivated:?}");
            assert!(
                wait_until(SOON, || d.metric("mesos_maint_fleet_slot_held")
                    == Some(0.0)),
                "{}",
                d.metrics()
            );
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
        },
    );
}

#[test]
fn after_a_new_boot_the_daemon_leaves_a_hand_drained_or_decommissioned_agent_alone() {
    run_isolated_requiring(
        "after_a_new_boot_the_daemon_leaves_a_hand_drained_or_decommissioned_agent_alone",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(100)));
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-boot-manual", sim, None);
            let node = DaemonNode::new();
            let seeded = drained_node_from_an_earlier_boot(&node, &sb, sim, Trigger::Manual, false);
            boot_units(&sb);
            assert!(sim
                .requests()
                .iter()
                .all(|r| r.call_type().as_deref() != Some("REACTIVATE_AGENT")));

            let mut d = node.daemon(&sb, sim);
            assert!(d.wait_log("drained by hand", SOON), "{}", d.log_text());
            // The agent is up and registered: a reactivation would come within a second or two.
            std::thread::sleep(Duration::from_secs(5));
            assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 0, "{}", d.log_text());
            assert!(sim.is_deactivated());
            assert_eq!(
                node.marker().as_ref(),
                Some(&seeded),
                "marker kept as it was"
            );
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));

            // The same for a decommission (a cloud scale-in).
            let mut m = seeded.clone();
            m.trigger = Trigger::Autoscaling;
            m.policy.decommission = true;
            node.markers().save(&mut m).unwrap();
            let m = node.marker().unwrap();
            let mut d = node.daemon(&sb, sim);
            assert!(d.wait_log("decommissioned", SOON), "{}", d.log_text());
            std::thread::sleep(Duration::from_secs(5));
            assert_eq!(sim.count_calls("REACTIVATE_AGENT"), 0, "{}", d.log_text());
            assert_eq!(node.marker().as_ref(), Some(&m));
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
        },
    );
}

// ---------------------------------------------------------------------------------------------
// SIGHUP
// ---------------------------------------------------------------------------------------------

#[test]
fn sighup_with_a_broken_config_keeps_the_daemon_running_and_a_good_one_applies() {
    run_isolated_requiring(
        "sighup_with_a_broken_config_keeps_the_daemon_running_and_a_good_one_applies",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(300)));
            let sim = &sr.sim;
            let sb = node_sandbox("daemon-sighup", sim, None);
            let node = DaemonNode::new();
            let mut d = node.daemon(&sb, sim);
            let pid = d.pid();
            assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));
            assert_eq!(
                d.metric("mesos_maint_errors_total{kind=\"config\"}"),
                Some(0.0)
            );

            fs::write(node.config(), "[daemon\nmetrics_listen = = nope\n").unwrap();
            d.signal(Signal::SIGHUP);
            assert!(
                d.wait_log("configuration reload failed", SOON),
                "{}",
                d.log_text()
            );
            let log = d.log_text();
            let line = log
                .lines()
                .find(|l| l.contains("configuration reload failed"))
                .unwrap();
            assert!(line.contains("ERROR"), "logged as an error: {line}");
            assert!(line.contains("config.toml"), "names the file: {line}");
            std::thread::sleep(Duration::from_millis(500));
            assert!(d.is_running(), "exited {:?}:\n{}", d.exit, d.log_text());
            assert_eq!(
                d.metric("mesos_maint_errors_total{kind=\"config\"}"),
                Some(1.0)
            );
            // Still serving, still holding the lock.
            assert!(delay_lock_of(&sb, pid).is_some());

            // A good configuration that turns the delay lock off: reloaded, and the lock goes.
            fs::write(node.config(), node.config_text("delay_inhibitor = false")).unwrap();
            d.signal(Signal::SIGHUP);
            assert!(
                d.wait_log("configuration reloaded", SOON),
                "{}",
                d.log_text()
            );
            assert!(
                wait_until(Duration::from_secs(25), || delay_lock_of(&sb, pid)
                    .is_none()),
                "{}",
                d.log_text()
            );
            assert!(d.is_running());
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0), "{}", d.log_text());
        },
    );
}

// ---------------------------------------------------------------------------------------------
// `mesos-maint reboot`
// ---------------------------------------------------------------------------------------------

#[test]
fn reboot_command_drains_stops_the_units_then_reboots_through_logind() {
    run_isolated_requiring(
        "reboot_command_drains_stops_the_units_then_reboots_through_logind",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(800)));
            let sim = &sr.sim;
            let sb = node_sandbox("reboot-cmd", sim, Some(Duration::from_secs(20)));
            let node = DaemonNode::new();
            let offset = wall_minus_mono_us();
            let asked_us = mono_us();

            let (ran, samples) = sampling(&sb, sim, 0, || node.run(&sb, sim, &["reboot"]));
            assert_eq!(ran.code, 0, "{}", ran.context());
            assert!(ran.stderr.contains("reboot requested"), "{}", ran.context());
            let (s, ok) = sb.wait_for_state(REBOOT_TARGET, SOON, |s| s.is_active());
            assert!(ok, "{s:?}");

            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1);
            assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
            for u in [DOCKER, AGENT_SOCKET, AGENT] {
                assert!(sb.unit_state(u).is_stopped(), "{u}");
            }
            // Sampled: reboot.target only ever up with the units down.
            for s in samples.iter().filter(|s| s.active(REBOOT_TARGET)) {
                for u in [AGENT_SOCKET, AGENT, DOCKER] {
                    assert!(s.stopped(u), "{u} up with reboot.target: {s:?}");
                }
            }
            assert!(samples
                .iter()
                .any(|s| s.drain_calls == 1 && s.active(AGENT)));
            // On the clocks.
            let reboot_at = active_enter_us(&sb, REBOOT_TARGET);
            let drain_at = sr.call_time_upper_us("DRAIN_AGENT").unwrap();
            let records = || {
                format!(
                    "agent record {:?}, docker record {:?}",
                    fs::read_to_string(sb.record_path(AGENT)),
                    fs::read_to_string(sb.record_path(DOCKER))
                )
            };
            let agent_term = record_time_us(&sb, AGENT, "SIGTERM", offset)
                .unwrap_or_else(|| panic!("no agent SIGTERM: {}", records()));
            let docker_term = record_time_us(&sb, DOCKER, "SIGTERM", offset)
                .unwrap_or_else(|| panic!("no docker SIGTERM: {}", records()));
            eprintln!(
                "after the start: DRAIN_AGENT <= {:.3}s, agent SIGTERM {:.3}s, docker SIGTERM \
                 {:.3}s, reboot.target {:.3}s",
                (drain_at as f64 - asked_us as f64) / 1e6,
                (agent_term as f64 - asked_us as f64) / 1e6,
                (docker_term as f64 - asked_us as f64) / 1e6,
                (reboot_at as f64 - asked_us as f64) / 1e6
            );
            assert!(drain_at < agent_term && agent_term <= docker_term);
            assert!(docker_term < reboot_at);

            let m = node.marker().expect("marker");
            assert_eq!((m.trigger, m.stage), (Trigger::Reboot, Stage::Done));
            assert!(!m.policy.decommission);
        },
    );
}

#[test]
fn reboot_command_with_the_daemon_running_reboots_without_waiting_for_the_daemon() {
    run_isolated_requiring(
        "reboot_command_with_the_daemon_running_reboots_without_waiting_for_the_daemon",
        &[LOGIND],
        || {
            // As deployed: the daemon holds its delay lock while the admin runs `reboot`.
            let delay_max = Duration::from_secs(20);
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(300)));
            let sim = &sr.sim;
            let sb = node_sandbox("reboot-cmd-daemon", sim, Some(delay_max));
            let node = DaemonNode::new();
            let mut d = node.daemon(&sb, sim);
            let pid = d.pid();
            assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));

            let ran = node.run(&sb, sim, &["reboot"]);
            let returned = Instant::now();
            assert_eq!(ran.code, 0, "{}", ran.context());
            let (s, ok) =
                sb.wait_for_state(REBOOT_TARGET, Duration::from_secs(30), |s| s.is_active());
            assert!(ok, "{s:?}\n{}", d.log_text());
            let waited = returned.elapsed();
            eprintln!(
                "reboot.target active {waited:?} after `reboot` returned; daemon log:\n{}",
                d.log_text()
            );
            // The node was drained and its units stopped already: the daemon has nothing to
            // hold the reboot for.
            assert!(
                waited < Duration::from_secs(5),
                "the daemon held the reboot for {waited:?}:\n{}",
                d.log_text()
            );
            assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "{}", d.log_text());
            let m = node.marker().expect("marker");
            assert_eq!(
                (m.trigger, m.stage),
                (Trigger::Reboot, Stage::Done),
                "{m:?}"
            );
            assert!(d.is_running(), "{}", d.log_text());
            // The daemon let go without a failed drain of its own (no error, no "failed").
            assert!(
                d.wait_log("finished and stopped the agent", SOON),
                "{}",
                d.log_text()
            );
            assert!(!d.log_text().contains("ERROR"), "{}", d.log_text());
            let body = d.metrics();
            assert_eq!(
                metric(&body, "mesos_maint_errors_total{kind=\"drain\"}"),
                Some(0.0),
                "{body}"
            );
            assert_eq!(
                metric(&body, "mesos_maint_last_outcome{outcome=\"failed\"}"),
                Some(0.0),
                "{body}"
            );
            d.signal(Signal::SIGTERM);
            assert_eq!(d.wait_exit(SOON), Some(0));
        },
    );
}

#[test]
fn reboot_command_without_logind_changes_nothing() {
    run_isolated_requiring(
        "reboot_command_without_logind_changes_nothing",
        &[LOGIND],
        || {
            let rt = runtime();
            let sr = SimRun::start(&rt, busy_config(Duration::from_millis(100)));
            let sim = &sr.sim;
            // A manager but no logind on the bus.
            let sb = sim_node(Sandbox::builder("reboot-no-logind"), sim);
            let node = DaemonNode::new();
            let ran = node.run(&sb, sim, &["reboot"]);
            assert_eq!(ran.code, 3, "{}", ran.context());
            assert!(ran.stderr.contains("logind"), "{}", ran.context());
            assert_eq!(
                sim.count_calls("DRAIN_AGENT"),
                0,
                "drained without a way to reboot"
            );
            for u in [DOCKER, AGENT_SOCKET, AGENT] {
                assert!(sb.unit_state(u).is_active(), "{u}");
            }
            assert!(node.marker().is_none());
        },
    );
}
