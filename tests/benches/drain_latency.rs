//! Benchmark against the in-repo simulator: what one drain state poll costs on the wire, how soon
//! `drain` exits once the master declares DRAINED, and how many requests a drained node makes.
//!
//! ```sh
//! cargo bench --bench drain_latency                         # 30 drains + the variants
//! cargo bench --bench drain_latency -- --runs 50 --variant-runs 0
//! ```
//!
//! 1. Poll bytes: a `Sim` with 1,000 and 50,000 other agents; the agent is looked up the way the
//!    client does (`MasterClient::agent` over a `Transport`), the request log shows which URL it
//!    used, and the same URL is fetched again with a plain HTTP/1.1 GET on a TCP socket to count
//!    the bytes the master sends (status line, headers and body as on the wire). The unfiltered
//!    `/master/slaves` and GET_AGENTS answers are counted the same way for comparison, and the
//!    time of one lookup is measured with the filter and with the GET_AGENTS fallback.
//! 2. DRAINED -> exit: the release `mesos-maint drain --no-stop` (`CARGO_BIN_EXE_mesos-maint`,
//!    built by `cargo bench`) runs against a fresh `Sim` per run (50,000 other agents, two
//!    frameworks with 4 tasks of 100–250 ms grace acknowledged after 50 ms), default settings.
//!    `Sim::set_on_drained` gives the instant DRAINED was declared; the end is when `wait` on the
//!    child returns. Requests per drained node come from the simulator's request log.
//! 3. Variants (fewer runs): `--master` pointing at a non-leading master (one 307 first), and a
//!    master that ignores the `slave_id` filter (every poll falls back to a GET_AGENTS scan).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_maint::mesos::{AgentLookup, MasterClient, Transport, TransportSettings};
use mesos_sim::{AckMode, FrameworkSpec, LoggedRequest, Server, Sim, SimConfig, TaskSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_mesos-maint");
const FILLERS: usize = 50_000;

struct Opts {
    runs: usize,
    long_runs: usize,
    variant_runs: usize,
}

fn main() {
    let mut opts = Opts {
        runs: 30,
        long_runs: 30,
        variant_runs: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} takes a number"))
        };
        match a.as_str() {
            "--runs" => opts.runs = num("--runs"),
            "--long-runs" => opts.long_runs = num("--long-runs"),
            "--variant-runs" => opts.variant_runs = num("--variant-runs"),
            "--bench" => {}
            other => panic!(
                "unknown argument {other:?} (known: --runs N, --long-runs N, --variant-runs N)"
            ),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        poll_bytes().await;
        let quick = drains(
            "quick kills (grace 0.1–0.3 s)",
            opts.runs,
            Mode::Leader,
            Kill::Quick,
        )
        .await;
        let slow = drains(
            "slower kills (grace 0.5–4 s)",
            opts.runs,
            Mode::Leader,
            Kill::Slow,
        )
        .await;
        let long = drains(
            "long kills (one grace of 5–10 s for all)",
            opts.long_runs,
            Mode::Leader,
            Kill::Long,
        )
        .await;
        print_latency(&[&quick, &slow, &long]);
        print_requests(&quick);
        print_requests(&slow);
        print_requests(&long);
        if opts.variant_runs > 0 {
            let via = drains(
                "quick, --master = non-leading master",
                opts.variant_runs,
                Mode::Follower,
                Kill::Quick,
            )
            .await;
            let fallback = drains(
                "quick, master ignores slave_id (GET_AGENTS fallback)",
                opts.variant_runs,
                Mode::Unfiltered,
                Kill::Quick,
            )
            .await;
            print_latency(&[&via, &fallback]);
            print_requests(&via);
            print_requests(&fallback);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 1. Bytes per poll

async fn poll_bytes() {
    println!("## Bytes per drain state poll\n");
    println!("| other agents | request | wire bytes (headers + body) | JSON body bytes |");
    println!("|---:|---|---:|---:|");
    let mut timings = Vec::new();
    for n in [1_000usize, FILLERS] {
        let sim = Sim::start(SimConfig {
            filler_agents: n,
            ..drain_config(0, Kill::Quick)
        })
        .await
        .unwrap();
        let id = sim.agent_id();
        let client = master_client(&sim.master_url());
        sim.reset_log();
        match client.agent(&id).await.expect("filtered lookup") {
            AgentLookup::Registered(a) => assert_eq!(a.id, id),
            other => panic!("filtered lookup: {other:?}"),
        }
        let log = sim.requests();
        assert_eq!(log.len(), 1, "one request per lookup: {:?}", paths(&log));
        let path = log[0].path.clone();
        assert!(
            path.starts_with("/master/slaves?slave_id=") && log[0].status == 200,
            "{path} {}",
            log[0].status
        );
        let filtered = raw_http(sim.master_port(), "GET", &path, None).await;
        let doc: serde_json::Value = serde_json::from_slice(&filtered.body).unwrap();
        assert_eq!(doc["slaves"].as_array().map(Vec::len), Some(1));
        assert_eq!(doc["slaves"][0]["id"], id.as_str());
        println!(
            "| {n} | `GET {}` (what the client sends) | {} | {} |",
            path.replace(&id, "<id>"),
            filtered.wire,
            filtered.body.len()
        );
        let all = raw_http(sim.master_port(), "GET", "/master/slaves", None).await;
        println!(
            "| {n} | `GET /master/slaves` (no filter) | {} | {} |",
            all.wire,
            all.body.len()
        );
        let get_agents = raw_http(
            sim.master_port(),
            "POST",
            "/api/v1",
            Some(r#"{"type":"GET_AGENTS"}"#),
        )
        .await;
        println!(
            "| {n} | `POST /api/v1` GET_AGENTS (fallback) | {} | {} |",
            get_agents.wire,
            get_agents.body.len()
        );

        // Time of one lookup: filtered, then with the master ignoring the filter.
        let filtered_ms = time_lookups(&client, &id, 50).await;
        sim.set_ignore_slave_id_filter(true);
        let fallback_client = master_client(&sim.master_url());
        // The first lookup discovers that the filter is ignored; later ones go straight to
        // GET_AGENTS.
        fallback_client.agent(&id).await.expect("fallback lookup");
        let fallback_ms = time_lookups(&fallback_client, &id, 5).await;
        timings.push((n, filtered_ms, fallback_ms));
    }
    println!();
    println!("| other agents | lookup, filtered (median of 50) | lookup, GET_AGENTS fallback (median of 5) |");
    println!("|---:|---:|---:|");
    for (n, f, u) in timings {
        println!("| {n} | {f:.2} ms | {u:.1} ms |");
    }
    println!();
}

fn master_client(url: &str) -> MasterClient {
    let transport = Transport::new(TransportSettings::default()).unwrap();
    MasterClient::new(Arc::new(transport), url.parse().unwrap())
}

async fn time_lookups(client: &MasterClient, id: &str, n: usize) -> f64 {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        match client.agent(id).await.expect("lookup") {
            AgentLookup::Registered(_) => {}
            other => panic!("lookup: {other:?}"),
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ms[ms.len() / 2]
}

struct RawAnswer {
    /// Every byte received on the socket.
    wire: usize,
    /// The decoded body.
    body: Vec<u8>,
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`), counting what comes back.
async fn raw_http(port: u16, method: &str, path: &str, body: Option<&str>) -> RawAnswer {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers")
        + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&raw[split..])
    } else {
        raw[split..].to_vec()
    };
    RawAnswer {
        wire: raw.len(),
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let line = std::str::from_utf8(&data[..eol]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn paths(log: &[LoggedRequest]) -> Vec<&str> {
    log.iter().map(|r| r.path.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// 2. DRAINED -> exit, requests per drained node

#[derive(Clone, Copy)]
enum Kill {
    /// Kill grace periods of 100–300 ms.
    Quick,
    /// Kill grace periods of 0.5–4 s: the poll interval has time to grow while tasks run.
    Slow,
    /// One kill grace period of 5–10 s for every task (frameworks usually give their tasks the
    /// same kill policy): all die together after the poll interval has reached its maximum.
    Long,
}

/// Two frameworks with two tasks each, acknowledging after 20–100 ms. Grace periods and ack delays
/// are drawn per run (fixed seed) so that DRAINED falls at varying points of the poll cycle.
fn drain_config(run: u64, kill: Kill) -> SimConfig {
    let mut rng = SplitMix(0x6d65_736f_735f_6d74 ^ run);
    let (lo, hi) = match kill {
        Kill::Quick => (100, 300),
        Kill::Slow => (500, 4000),
        Kill::Long => (5000, 10000),
    };
    let shared = rng.between(lo, hi);
    let mut task = |id: &str| {
        let grace = match kill {
            Kill::Long => shared,
            _ => rng.between(lo, hi),
        };
        TaskSpec::new(id, Duration::from_millis(grace))
    };
    let (t1, t2, t3, t4) = (task("web-1"), task("web-2"), task("node-1"), task("node-2"));
    let ack1 = AckMode::After(Duration::from_millis(rng.between(20, 100)));
    let ack2 = AckMode::After(Duration::from_millis(rng.between(20, 100)));
    SimConfig {
        frameworks: vec![
            FrameworkSpec::new("fw-marathon", "marathon", ack1)
                .task(t1)
                .task(t2),
            FrameworkSpec::new("fw-cassandra", "cassandra", ack2)
                .task(t3)
                .task(t4),
        ],
        ..SimConfig::default()
    }
}

/// Small deterministic generator (SplitMix64), enough to spread timings.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Leader,
    Follower,
    Unfiltered,
}

struct Series {
    name: &'static str,
    /// DRAINED declared -> `drain` exited, ms.
    latency_ms: Vec<f64>,
    /// Start -> exit, ms.
    total_ms: Vec<f64>,
    /// Per run: request counts by key.
    requests: Vec<BTreeMap<String, usize>>,
}

async fn drains(name: &'static str, runs: usize, mode: Mode, kill: Kill) -> Series {
    let mut s = Series {
        name,
        latency_ms: Vec::new(),
        total_ms: Vec::new(),
        requests: Vec::new(),
    };
    let scratch = tempfile::tempdir().unwrap();
    for run in 0..runs {
        let sim = Sim::start(SimConfig {
            filler_agents: FILLERS,
            ignore_slave_id_filter: mode == Mode::Unfiltered,
            ..drain_config(run as u64, kill)
        })
        .await
        .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        sim.set_on_drained(tx);
        let dir = scratch.path().join(format!("{run}"));
        let (whole, exited_at) = one_drain(&sim, &dir, mode).await;
        let drained_at = rx.try_recv().expect("the simulator declared DRAINED");
        assert!(exited_at >= drained_at);
        s.latency_ms
            .push((exited_at - drained_at).as_secs_f64() * 1000.0);
        s.total_ms.push(whole.as_secs_f64() * 1000.0);
        s.requests.push(count_requests(&sim.requests()));
    }
    s
}

/// Runs one `drain --no-stop`; returns (start -> exit, the instant `wait` returned).
async fn one_drain(sim: &Sim, dir: &Path, mode: Mode) -> (Duration, Instant) {
    std::fs::create_dir_all(dir).unwrap();
    // Keep the host's hooks out of the measurement.
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[drain]\nhooks_dir = \"{}\"\n",
            dir.join("hooks.d").display()
        ),
    )
    .unwrap();
    let master = match mode {
        Mode::Follower => sim.follower_url(),
        _ => sim.master_url(),
    };
    let stdout = std::fs::File::create(dir.join("stdout")).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["drain", "--no-stop", "--master", &master, "--agent"])
        .arg(sim.agent_url())
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/mesos-maint-bench-bus",
        )
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("MESOS_MAINT_") {
            cmd.env_remove(k);
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn mesos-maint");
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("drain finished within 120 s")
        .unwrap();
    let exited = Instant::now();
    if !status.success() {
        panic!(
            "drain failed ({status}):\n{}\n{}",
            std::fs::read_to_string(dir.join("stdout")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
        );
    }
    assert_eq!(sim.drain_state().as_deref(), Some("DRAINED"));
    (exited - started, exited)
}

/// `server METHOD endpoint [call type]`, the query reduced to whether it filters by slave_id.
fn count_requests(log: &[LoggedRequest]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in log {
        let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        let server = match r.server {
            Server::Leader => "leader",
            Server::Follower => "follower",
            Server::Agent => "agent",
        };
        let mut key = format!("{server} {} {path}", r.method);
        if query.contains("slave_id=") {
            key.push_str("?slave_id=");
        }
        if let Some(t) = r.call_type() {
            key.push(' ');
            key.push_str(&t);
        }
        if r.status != 200 {
            key.push_str(&format!(" -> {}", r.status));
        }
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn print_latency(series: &[&Series]) {
    println!("## DRAINED declared -> `drain` exited ({FILLERS} other agents)\n");
    println!("| series | runs | min | median | p90 | max | whole drain, median |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for s in series.iter().filter(|s| !s.latency_ms.is_empty()) {
        let l = sorted(&s.latency_ms);
        let t = sorted(&s.total_ms);
        println!(
            "| {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            s.name,
            l.len(),
            l[0],
            pct(&l, 50.0),
            pct(&l, 90.0),
            l[l.len() - 1],
            pct(&t, 50.0)
        );
    }
    println!();
    for s in series.iter().filter(|s| !s.latency_ms.is_empty()) {
        let median = pct(&sorted(&s.latency_ms), 50.0);
        println!(
            "goal median DRAINED -> exit < 300 ms, {}: {median:.0} ms -> {}",
            s.name,
            if median < 300.0 { "MET" } else { "NOT MET" }
        );
    }
    println!();
}

fn print_requests(s: &Series) {
    if s.requests.is_empty() {
        return;
    }
    println!(
        "## Requests per drained node: {} ({} runs)\n",
        s.name,
        s.requests.len()
    );
    println!("| server, request | min | median | max |");
    println!("|---|---:|---:|---:|");
    let mut keys: Vec<&String> = s.requests.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let row = |name: &str, counts: Vec<f64>| {
        let c = sorted(&counts);
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} |",
            c[0],
            pct(&c, 50.0),
            c[c.len() - 1]
        );
    };
    for k in &keys {
        row(
            &format!("`{k}`"),
            s.requests
                .iter()
                .map(|m| *m.get(*k).unwrap_or(&0) as f64)
                .collect(),
        );
    }
    let total = |pred: &dyn Fn(&str) -> bool| -> Vec<f64> {
        s.requests
            .iter()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| pred(k))
                    .map(|(_, v)| *v as f64)
                    .sum()
            })
            .collect()
    };
    row(
        "**master total** (leader + follower)",
        total(&|k| !k.starts_with("agent ")),
    );
    row("**local agent total**", total(&|k| k.starts_with("agent ")));
    println!();
}
