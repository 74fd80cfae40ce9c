//! The daemon's footprint (ignored; `tests/bench-daemon.sh` runs it, docs/benchmarks.md
//! "Daemon"): idle RSS/CPU of `mesos-maint daemon` with the delay lock held, with the node
//! health checks off and at two intervals (`MEASURE_HEALTH_INTERVALS`, default `0s 60s 5s`),
//! and RSS during a shutdown drain against a master listing 10 000 filler agents (filter
//! honoured and ignored).
//! A measurement, not a test: its own target, on the daemon's fixture (`tests/support`).

mod support;

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloud_fakes::FakeDocker;

use mesos_sim::SimConfig;
use nix::sys::signal::Signal;
use support::daemon_node::{
    busy_config, delay_lock_of, node_sandbox, DaemonNode, SimRun, LOGIND, REBOOT_TARGET, SOON,
};
use support::logind;
use support::proc::wait_until;
use support::sandbox::run_isolated_requiring;
use support::sim::runtime;

/// The values (KiB) of `fields` (`VmRSS`, `RssAnon`, ...) in `/proc/<pid>/status`, 0 for a
/// missing one.
fn status_kib<const N: usize>(pid: u32, fields: [&str; N]) -> [u64; N] {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    fields.map(|name| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    })
}

/// `(VmRSS, VmHWM)` in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let [rss, hwm] = status_kib(pid, ["VmRSS", "VmHWM"]);
    (rss, hwm)
}

/// `(RssAnon, RssFile)` in KiB: heap and stacks vs mapped binary and libraries.
fn rss_split_kib(pid: u32) -> (u64, u64) {
    let [anon, file] = status_kib(pid, ["RssAnon", "RssFile"]);
    (anon, file)
}

/// CPU time of every thread in ns (`/proc/<pid>/task/*/schedstat`, first field): much finer
/// than the 10 ms ticks of `stat`.
fn cpu_ns(pid: u32) -> u64 {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// The names of the process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// utime + stime in clock ticks, and the thread count.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = &text[text.rfind(')').map_or(0, |i| i + 1)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3: utime is field 14, stime 15, num_threads 20.
    let n = |i: usize| f.get(i - 3).and_then(|v| v.parse().ok()).unwrap_or(0);
    (n(14) + n(15), n(20))
}

#[test]
#[ignore = "measurement (about 90 s); run with tests/bench-daemon.sh"]
fn measure_daemon_footprint() {
    run_isolated_requiring("measure_daemon_footprint", &[LOGIND], || {
        let idle_secs: u64 = std::env::var("MEASURE_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60);
        let rt = runtime();
        // SAFETY: sysconf reads a constant of the system.
        #[allow(unsafe_code)]
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;

        // Idle: an agent with tasks, the delay lock held; the health checks at each interval.
        let intervals = std::env::var("MEASURE_HEALTH_INTERVALS").unwrap_or("0s 60s 5s".into());
        for interval in intervals.split_whitespace() {
            measure_idle(&rt, idle_secs, interval);
        }

        // A shutdown drain against a master listing 10 000 other agents: with the filtered
        // lookup (`/master/slaves?slave_id=`), and with a master that ignores the filter and
        // answers with every agent.
        for ignore_filter in [false, true] {
            measure_shutdown_drain(&rt, hz, ignore_filter);
        }
    });
}

/// Idle with `[health] interval = <interval>` ("0s": off), against a fake Docker API and a
/// work dir of its own, so every check has something real to answer.
fn measure_idle(rt: &tokio::runtime::Runtime, idle_secs: u64, interval: &str) {
    let node = DaemonNode::new();
    let work_dir = node.dir.path().join("work");
    fs::create_dir_all(&work_dir).unwrap();
    let socket = node.dir.path().join("docker.sock");
    let _docker = {
        let _guard = rt.enter();
        Arc::new(FakeDocker::start(&socket).expect("fake docker"))
    };
    node.write_config(&format!(
        "[health]\ninterval = \"{interval}\"\ndocker_socket = \"{}\"\n",
        socket.display()
    ));
    let sr = SimRun::start(
        rt,
        SimConfig {
            agent_work_dir: work_dir.display().to_string(),
            ..busy_config(Duration::from_millis(500))
        },
    );
    let sim = &sr.sim;
    let sb = node_sandbox("daemon-footprint", sim, Some(Duration::from_secs(30)));
    let mut d = node.daemon(&sb, sim);
    let pid = d.pid();
    assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));
    std::thread::sleep(Duration::from_secs(2));
    let (rss0, _) = rss_kib(pid);
    let (t0, threads) = cpu_ticks(pid);
    let ns0 = cpu_ns(pid);
    let start = Instant::now();
    let mut rss_max = rss0;
    while start.elapsed() < Duration::from_secs(idle_secs) {
        std::thread::sleep(Duration::from_secs(1));
        rss_max = rss_max.max(rss_kib(pid).0);
    }
    let (t1, _) = cpu_ticks(pid);
    let ns1 = cpu_ns(pid);
    let wall = start.elapsed().as_secs_f64();
    let (rss1, hwm) = rss_kib(pid);
    let (anon, file) = rss_split_kib(pid);
    let cpu_pct = (ns1 - ns0) as f64 / 1e9 / wall * 100.0;
    let requests = sim.requests();
    let polls = requests
        .iter()
        .filter(|r| r.call_type().as_deref() == Some("GET_TASKS"))
        .count();
    let passes = requests
        .iter()
        .filter(|r| r.path.starts_with("/master/slaves"))
        .count();
    let gauges = d
        .metrics()
        .lines()
        .filter(|l| l.starts_with("mesos_maint_health_check{"))
        .map(|l| l.trim_start_matches("mesos_maint_health_check").to_owned())
        .collect::<Vec<_>>();
    println!(
        "MEASURE idle, health.interval {interval}: {wall:.0} s, VmRSS {rss0} -> {rss1} KiB (max \
         {rss_max}, VmHWM {hwm}; RssAnon {anon}, RssFile {file}), CPU {:.1} ms = {cpu_pct:.4}% \
         ({} ticks), threads {threads} {:?}, GET_TASKS polls {polls}, health passes {passes} \
         {gauges:?}",
        (ns1 - ns0) as f64 / 1e6,
        t1 - t0,
        thread_names(pid)
    );
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(SOON), Some(0));
}

fn measure_shutdown_drain(rt: &tokio::runtime::Runtime, hz: f64, ignore_filter: bool) {
    let cfg = SimConfig {
        filler_agents: 10_000,
        ignore_slave_id_filter: ignore_filter,
        ..busy_config(Duration::from_millis(1500))
    };
    let sr = SimRun::start(rt, cfg);
    let sim = &sr.sim;
    let sb = node_sandbox("daemon-footprint-drain", sim, Some(Duration::from_secs(30)));
    let node = DaemonNode::new();
    let d = node.daemon(&sb, sim);
    let pid = d.pid();
    assert!(wait_until(SOON, || delay_lock_of(&sb, pid).is_some()));
    let (before, _) = rss_kib(pid);
    let (c0, _) = cpu_ticks(pid);
    let asked = Instant::now();
    logind::reboot(&sb);
    let mut peak = before;
    let mut max_threads = 0;
    let done = wait_until(Duration::from_secs(30), || {
        peak = peak.max(rss_kib(pid).0);
        max_threads = max_threads.max(cpu_ticks(pid).1);
        sb.unit_state(REBOOT_TARGET).is_active()
    });
    assert!(done, "{}", d.log_text());
    let took = asked.elapsed();
    let (after, hwm) = rss_kib(pid);
    let (c1, _) = cpu_ticks(pid);
    assert_eq!(sim.count_calls("DRAIN_AGENT"), 1, "{}", d.log_text());
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
    let master: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.server == mesos_sim::Server::Leader)
        .collect();
    println!(
        "MEASURE drain (10000 filler agents, master {} the slave_id filter): reboot.target after \
         {took:?}; VmRSS before {before} KiB, sampled peak {peak} KiB, after {after} KiB, VmHWM \
         {hwm} KiB; CPU {:.2} s; max threads {max_threads}; master requests {} ({})",
        if ignore_filter {
            "ignoring"
        } else {
            "honouring"
        },
        (c1 - c0) as f64 / hz,
        master.len(),
        master
            .iter()
            .map(|r| r.call_type().unwrap_or_else(|| r.path.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
