//! Benchmark: find one agent in a full GET_AGENTS answer, this project's streaming scan against a
//! naive `serde_json::Value` parse.
//!
//! ```sh
//! cargo bench --bench get_agents_scan                           # 1,000 / 10,000 / 50,000 agents
//! cargo bench --bench get_agents_scan -- --sizes 50000 --no-jq  # one size, no jq reference row
//! ```
//!
//! The parent writes a GET_AGENTS body of `n` simulator agents (`mesos_sim::synthetic_agent_json`,
//! about 1.6 KB each, as in real captures) to a file; the wanted agent is the **last** entry, so
//! the scan cannot stop early (its worst case). Every (method, size) case then runs in a child
//! process (this binary, re-executed), and the parent reads that child's `ru_maxrss` from
//! `wait4`. A `baseline` child that only does the setup (arguments, opening the file) gives the
//! floor that is subtracted. Children also report the peak of live heap bytes from a counting
//! global allocator, measured from just before the first repetition.
//!
//! Methods:
//! * `scan`: `mesos_maint::mesos::scan::find_agent` over a `std::fs::File` (the body is streamed
//!   through `io::Read`, never held whole in memory), as the client does with the HTTP body.
//! * `scan-serde`: `scan::find_agent_serde` (`serde_json::from_reader` with typed visitors), the
//!   reference implementation the splitter replaced; for information.
//! * `naive`: `std::fs::read` the body, `serde_json::from_slice::<serde_json::Value>`, pick the
//!   agent out of `get_agents.agents`. Dropping the tree is left out of the timing.
//! * `jq` (if installed): `jq -c '.get_agents.agents[] | select(.agent_info.id.value == $id)'`,
//!   one run, for comparison with the figure quoted in the issue.
//!
//! Throughput is body bytes (MB = 10^6 bytes) over wall time of one repetition, median of the
//! repetitions. Memory is MiB (2^20 bytes).

// A counting global allocator and wait4 for a child's peak RSS: measurement needs FFI.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use mesos_maint::mesos::scan;
use mesos_maint::mesos::AgentLookup;

/// Live and peak heap bytes of this process.
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const CHILD_ENV: &str = "GET_AGENTS_SCAN_CHILD";
const MIB: f64 = 1024.0 * 1024.0;
const MB: f64 = 1_000_000.0;

const METHODS: &[&str] = &["scan", "scan-serde", "naive"];

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let mut sizes = vec![1_000usize, 10_000, 50_000];
    let mut jq = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sizes" => {
                let v = args.next().expect("--sizes N,N,...");
                sizes = v
                    .split(',')
                    .map(|s| s.trim().parse().expect("--sizes takes numbers"))
                    .collect();
            }
            "--no-jq" => jq = false,
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            other => panic!("unknown argument {other:?} (known: --sizes N,N,..., --no-jq)"),
        }
    }
    let jq = jq && Command::new("jq").arg("--version").output().is_ok();

    let dir = tempfile::tempdir().expect("temp dir");
    println!("get_agents_scan: wanted agent = last entry (the scan reads the whole body)");
    println!("peak RSS = child ru_maxrss - baseline child ru_maxrss; heap = peak live heap bytes");
    println!();
    let mut rows = Vec::new();
    let mut baselines = Vec::new();
    for &n in &sizes {
        let path = dir.path().join(format!("get_agents-{n}.json"));
        let (bytes, id, host) = write_body(&path, n);
        let base = run_child("baseline", &path, &id, 1);
        baselines.push((n, base.maxrss_kib));
        let reps = reps_for(bytes);
        for &method in METHODS {
            let r = run_child(method, &path, &id, reps);
            assert_eq!(r.found, host, "{method} found another agent");
            rows.push(Row::new(n, bytes, method, &r, &base));
        }
        if jq {
            if let Some(r) = run_jq(&path, &id) {
                assert_eq!(r.found, host, "jq found another agent");
                rows.push(Row::new(n, bytes, "jq", &r, &Measured::default()));
            }
        }
        std::fs::remove_file(&path).ok();
    }
    print_table(&rows);
    for (n, kib) in baselines {
        println!(
            "baseline child ru_maxrss at {n} agents: {:.2} MiB",
            kib as f64 / 1024.0
        );
    }
    println!();
    print_goals(&rows);
}

/// Enough repetitions for a stable median on small bodies, few on the big ones.
fn reps_for(bytes: u64) -> usize {
    ((300_000_000 / bytes.max(1)) as usize).clamp(3, 40)
}

/// Writes `{"type":"GET_AGENTS","get_agents":{"agents":[...],"recovered_agents":[]}}` agent by
/// agent; returns its size and the id and hostname of the last agent.
fn write_body(path: &Path, n: usize) -> (u64, String, String) {
    assert!(n > 0);
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create body file"));
    out.write_all(br#"{"type":"GET_AGENTS","get_agents":{"agents":["#)
        .unwrap();
    let mut entry = String::with_capacity(4096);
    for i in 0..n {
        entry.clear();
        if i > 0 {
            entry.push(',');
        }
        mesos_sim::synthetic_agent_json(i, &mut entry);
        out.write_all(entry.as_bytes()).unwrap();
    }
    out.write_all(br#"],"recovered_agents":[]}}"#).unwrap();
    out.flush().unwrap();
    drop(out);
    let last: serde_json::Value =
        serde_json::from_str(entry.trim_start_matches(',')).expect("synthetic agent is JSON");
    let id = last["agent_info"]["id"]["value"]
        .as_str()
        .expect("synthetic agent has an id")
        .to_string();
    let host = last["agent_info"]["hostname"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let bytes = std::fs::metadata(path).unwrap().len();
    (bytes, id, host)
}

#[derive(Default)]
struct Measured {
    /// Seconds of each repetition.
    secs: Vec<f64>,
    heap_peak: Option<usize>,
    maxrss_kib: i64,
    found: String,
}

fn run_child(method: &str, path: &Path, id: &str, reps: usize) -> Measured {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(exe);
    cmd.env(
        CHILD_ENV,
        format!("{method}\t{reps}\t{id}\t{}", path.display()),
    );
    let r = spawn_measured(cmd);
    if r.0 != 0 {
        panic!("child {method} failed:\n{}", r.1);
    }
    let mut m = Measured {
        maxrss_kib: r.2,
        ..Measured::default()
    };
    for field in r.1.split_whitespace() {
        if let Some(v) = field.strip_prefix("secs=") {
            m.secs = v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
        } else if let Some(v) = field.strip_prefix("heap_peak=") {
            m.heap_peak = Some(v.parse().unwrap());
        } else if let Some(v) = field.strip_prefix("found=") {
            m.found = v.to_string();
        }
    }
    m
}

/// Runs `cmd` with stdout piped; returns (exit status, stdout, ru_maxrss in KiB) of that child
/// alone (`wait4` on its pid, not RUSAGE_CHILDREN, which is the maximum over all children).
fn spawn_measured(mut cmd: Command) -> (i32, String, i64) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn child");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call with valid pointers to locals; the child is ours and not yet reaped
    // (std's `Child` is never waited on after this).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, out, usage.ru_maxrss)
}

fn run_jq(path: &Path, id: &str) -> Option<Measured> {
    let mut cmd = Command::new("jq");
    cmd.arg("-c")
        .arg("--arg")
        .arg("id")
        .arg(id)
        .arg(".get_agents.agents[] | select(.agent_info.id.value == $id) | .agent_info.hostname")
        .arg(path);
    let started = Instant::now();
    let (code, out, maxrss_kib) = spawn_measured(cmd);
    let secs = started.elapsed().as_secs_f64();
    if code != 0 {
        eprintln!("jq failed (exit {code}); no jq row");
        return None;
    }
    Some(Measured {
        secs: vec![secs],
        heap_peak: None,
        maxrss_kib,
        found: out.trim().trim_matches('"').to_string(),
    })
}

/// Child side: `<method>\t<reps>\t<id>\t<path>`; prints `secs=a,b,c heap_peak=N found=HOST`.
fn child(spec: &str) {
    let mut parts = spec.splitn(4, '\t');
    let method = parts.next().unwrap().to_string();
    let reps: usize = parts.next().unwrap().parse().unwrap();
    let id = parts.next().unwrap().to_string();
    let path = parts.next().unwrap().to_string();
    // Setup that every method shares: the file exists and can be opened.
    drop(std::fs::File::open(&path).expect("open body"));
    let heap_start = LIVE.load(Ordering::Relaxed);
    PEAK.store(heap_start, Ordering::Relaxed);
    let mut secs = Vec::new();
    let mut found = String::new();
    for _ in 0..reps {
        let t = Instant::now();
        let host = match method.as_str() {
            // Only the setup above: the floor of RSS that every method pays.
            "baseline" => break,
            "scan" => {
                let file = std::fs::File::open(&path).unwrap();
                hostname(scan::find_agent(file, &id).expect("scan"))
            }
            "scan-serde" => {
                let file = std::fs::File::open(&path).unwrap();
                hostname(scan::find_agent_serde(file, &id).expect("scan-serde"))
            }
            "naive" => {
                let body = std::fs::read(&path).unwrap();
                let doc: serde_json::Value = serde_json::from_slice(&body).expect("naive parse");
                let host = doc["get_agents"]["agents"]
                    .as_array()
                    .expect("agents array")
                    .iter()
                    .find(|a| a["agent_info"]["id"]["value"].as_str() == Some(id.as_str()))
                    .map(|a| {
                        a["agent_info"]["hostname"]
                            .as_str()
                            .unwrap_or("")
                            .to_string()
                    })
                    .expect("naive: agent not found");
                let elapsed = t.elapsed().as_secs_f64();
                // Freeing the tree is not counted as part of the answer.
                drop(doc);
                drop(body);
                secs.push(elapsed);
                found = host;
                continue;
            }
            other => panic!("unknown method {other}"),
        };
        secs.push(t.elapsed().as_secs_f64());
        found = host;
    }
    let heap_peak = PEAK.load(Ordering::Relaxed).saturating_sub(heap_start);
    let secs: Vec<String> = secs.iter().map(|s| format!("{s:.6}")).collect();
    println!(
        "secs={} heap_peak={heap_peak} found={found}",
        secs.join(",")
    );
}

fn hostname(lookup: AgentLookup) -> String {
    match lookup {
        AgentLookup::Registered(a) => a.hostname,
        other => panic!("agent not found: {other:?}"),
    }
}

struct Row {
    agents: usize,
    bytes: u64,
    method: &'static str,
    reps: usize,
    mbps_median: f64,
    mbps_min: f64,
    mbps_max: f64,
    /// Child maxrss minus the baseline child's (absolute for jq).
    rss_mib: f64,
    heap_mib: Option<f64>,
}

impl Row {
    fn new(agents: usize, bytes: u64, method: &'static str, m: &Measured, base: &Measured) -> Row {
        let mut mbps: Vec<f64> = m.secs.iter().map(|s| bytes as f64 / MB / s).collect();
        mbps.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Row {
            agents,
            bytes,
            method,
            reps: mbps.len(),
            mbps_median: median(&mbps),
            mbps_min: mbps[0],
            mbps_max: mbps[mbps.len() - 1],
            rss_mib: (m.maxrss_kib - base.maxrss_kib) as f64 / 1024.0,
            heap_mib: m.heap_peak.map(|h| h as f64 / MIB),
        }
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn naive_of(rows: &[Row], agents: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.agents == agents && r.method == "naive")
}

fn print_table(rows: &[Row]) {
    println!("| agents | body MB | method | MB/s (median) | MB/s (min–max, reps) | peak RSS MiB | peak heap MiB | throughput vs naive |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let ratio = naive_of(rows, r.agents)
            .map(|n| format!("{:.1}x", r.mbps_median / n.mbps_median))
            .unwrap_or_default();
        let heap = r
            .heap_mib
            .map(|h| format!("{h:.2}"))
            .unwrap_or_else(|| "–".into());
        let rss = if r.method == "jq" {
            format!("{:.1} (absolute)", r.rss_mib)
        } else {
            format!("{:.2}", r.rss_mib)
        };
        println!(
            "| {} | {:.1} | {} | {:.0} | {:.0}–{:.0}, {} | {} | {} | {} |",
            r.agents,
            r.bytes as f64 / MB,
            r.method,
            r.mbps_median,
            r.mbps_min,
            r.mbps_max,
            r.reps,
            rss,
            heap,
            ratio
        );
    }
    println!();
}

fn print_goals(rows: &[Row]) {
    for r in rows.iter().filter(|r| r.method == "scan") {
        if let Some(n) = naive_of(rows, r.agents) {
            let ratio = r.mbps_median / n.mbps_median;
            // Conservative: the scan's median against the naive parse's best repetition.
            let worst = r.mbps_median / n.mbps_max;
            println!(
                "goal throughput >= 3x naive at {} agents: {:.1}x (vs naive's best repetition {:.1}x) -> {}",
                r.agents,
                ratio,
                worst,
                if worst >= 3.0 { "MET" } else if ratio >= 3.0 { "MET on medians only" } else { "NOT MET" }
            );
        }
    }
    if let Some(r) = rows
        .iter()
        .find(|r| r.method == "scan" && r.agents == 50_000)
    {
        let peak = r.rss_mib.max(r.heap_mib.unwrap_or(0.0));
        println!(
            "goal peak memory < 32 MiB at 50,000 agents: RSS {:.2} MiB, heap {:.2} MiB -> {}",
            r.rss_mib,
            r.heap_mib.unwrap_or(0.0),
            if peak < 32.0 { "MET" } else { "NOT MET" }
        );
    }
}
