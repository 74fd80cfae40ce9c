use super::*;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::systemd::InhibitMode;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Check the text format line by line: every sample belongs to a family declared by a TYPE
/// line before it, names and labels are well formed, values parse. Returns the samples as
/// `name{labels}` → value.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut typed = HashSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            assert!(
                typed.insert(name.to_owned()),
                "family declared twice: {name}"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample and value");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(!v.trim_end_matches('"').contains('\n'));
                }
            }
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line:?}")),
        };
        assert!(
            samples.insert(series.to_owned(), v).is_none(),
            "duplicate {series}"
        );
    }
    samples
}

#[test]
fn a_fresh_daemon_is_idle_with_nothing_held() {
    let m = Metrics::new();
    let s = parse_exposition(&m.render());
    assert_eq!(s["mesos_maint_up"], 1.0);
    assert_eq!(s["mesos_maint_drain_state{stage=\"Idle\"}"], 1.0);
    for stage in Stage::all() {
        assert_eq!(
            s[&format!("mesos_maint_drain_state{{stage=\"{}\"}}", stage.name())],
            0.0
        );
    }
    assert_eq!(s["mesos_maint_tasks_left"], 0.0);
    assert!(!s.contains_key("mesos_maint_drain_duration_seconds"));
    assert_eq!(s["mesos_maint_inhibitor_held{mode=\"delay\"}"], 0.0);
    assert_eq!(s["mesos_maint_inhibitor_held{mode=\"block\"}"], 0.0);
    for o in Outcome::ALL {
        assert_eq!(
            s[&format!("mesos_maint_last_outcome{{outcome=\"{}\"}}", o.as_str())],
            0.0
        );
    }
    for kind in ERROR_KINDS {
        assert_eq!(
            s[&format!("mesos_maint_errors_total{{kind=\"{kind}\"}}")],
            0.0
        );
    }
    assert_eq!(
        s[&format!(
            "mesos_maint_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )],
        1.0
    );
    let text = m.render();
    assert!(text.contains("# TYPE mesos_maint_errors_total counter\n"));
    assert!(text.contains("# TYPE mesos_maint_drain_state gauge\n"));
}

#[test]
fn updates_show_in_the_next_render() {
    let m = Metrics::new();
    m.set_drain_stage(Some(Stage::AwaitDrained));
    m.set_tasks_left(3);
    m.set_inhibitor_held(InhibitMode::Delay, true);
    m.inc_error("master");
    m.inc_error("master");
    m.inc_error("systemd");
    let s = parse_exposition(&m.render());
    assert_eq!(s["mesos_maint_drain_state{stage=\"AwaitDrained\"}"], 1.0);
    assert_eq!(s["mesos_maint_drain_state{stage=\"Idle\"}"], 0.0);
    let on: Vec<_> = s
        .iter()
        .filter(|(k, v)| k.starts_with("mesos_maint_drain_state{") && **v == 1.0)
        .collect();
    assert_eq!(on.len(), 1, "exactly one stage is current: {on:?}");
    assert_eq!(s["mesos_maint_tasks_left"], 3.0);
    assert_eq!(s["mesos_maint_inhibitor_held{mode=\"delay\"}"], 1.0);
    assert_eq!(s["mesos_maint_inhibitor_held{mode=\"block\"}"], 0.0);
    assert_eq!(s["mesos_maint_errors_total{kind=\"master\"}"], 2.0);
    assert_eq!(s["mesos_maint_errors_total{kind=\"systemd\"}"], 1.0);
    assert_eq!(m.errors("master"), 2);

    m.set_tasks_left(0);
    m.finish_drain(Outcome::Done, Duration::from_millis(812_500));
    m.set_inhibitor_held(InhibitMode::Delay, false);
    let s = parse_exposition(&m.render());
    assert_eq!(m.drain_stage(), None);
    assert_eq!(s["mesos_maint_drain_state{stage=\"Idle\"}"], 1.0);
    assert_eq!(s["mesos_maint_drain_duration_seconds"], 812.5);
    assert_eq!(s["mesos_maint_last_outcome{outcome=\"done\"}"], 1.0);
    assert_eq!(s["mesos_maint_last_outcome{outcome=\"failed\"}"], 0.0);
    assert_eq!(s["mesos_maint_inhibitor_held{mode=\"delay\"}"], 0.0);

    m.finish_drain(Outcome::DeadlineExceeded, Duration::from_secs(3600));
    let s = parse_exposition(&m.render());
    assert_eq!(s["mesos_maint_last_outcome{outcome=\"done\"}"], 0.0);
    assert_eq!(
        s["mesos_maint_last_outcome{outcome=\"deadline_exceeded\"}"],
        1.0
    );
    assert_eq!(s["mesos_maint_drain_duration_seconds"], 3600.0);
}

#[test]
fn health_checks_have_one_series_each_until_the_checks_are_turned_off() {
    let m = Metrics::new();
    assert!(
        !m.render().contains("mesos_maint_health_check{"),
        "no series before the first pass"
    );
    m.set_health_check(Some(("agent-api", false)));
    m.set_health_check(Some(("docker", true)));
    let s = parse_exposition(&m.render());
    assert_eq!(s["mesos_maint_health_check{check=\"agent-api\"}"], 0.0);
    assert_eq!(s["mesos_maint_health_check{check=\"docker\"}"], 1.0);
    m.set_health_check(Some(("agent-api", true)));
    let s = parse_exposition(&m.render());
    assert_eq!(s["mesos_maint_health_check{check=\"agent-api\"}"], 1.0);
    assert!(m
        .render()
        .contains("# TYPE mesos_maint_health_check gauge\n"));
    m.set_health_check(None);
    assert!(!m.render().contains("mesos_maint_health_check"));
}

#[test]
fn budget_waits_and_overrides_by_trigger() {
    let m = Metrics::new();
    m.budget("manual", false, Duration::from_millis(2500));
    let s = parse_exposition(&m.render());
    assert_eq!(s["mesos_maint_budget_wait_seconds"], 2.5);
    assert!(!s
        .keys()
        .any(|k| k.starts_with("mesos_maint_budget_overrides_total")));
    m.budget("spot", true, Duration::ZERO);
    m.budget("spot", true, Duration::ZERO);
    m.budget("shutdown", true, Duration::ZERO);
    let s = parse_exposition(&m.render());
    assert_eq!(
        s["mesos_maint_budget_overrides_total{trigger=\"spot\"}"],
        2.0
    );
    assert_eq!(
        s["mesos_maint_budget_overrides_total{trigger=\"shutdown\"}"],
        1.0
    );
    assert_eq!(s["mesos_maint_budget_wait_seconds"], 0.0);
}

#[test]
fn error_kinds_are_sanitised_and_bounded() {
    let m = Metrics::new();
    m.inc_error("Hook \"pre-drain\"\n");
    assert_eq!(m.errors("hook__pre_drain__"), 1);
    m.inc_error("");
    assert_eq!(m.errors("other"), 1);
    for i in 0..100 {
        m.inc_error(&format!("kind{i}"));
    }
    let s = parse_exposition(&m.render());
    let kinds = s
        .keys()
        .filter(|k| k.starts_with("mesos_maint_errors_total"))
        .count();
    assert!(kinds <= MAX_ERROR_KINDS + 1, "{kinds} kinds");
    let total: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("mesos_maint_errors_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 102.0, "no increment is lost");
}

/// What the hand-written encoder (before prometheus-client) served for a daemon that has seen
/// one drain: every line, HELP and TYPE included. Prometheus reads families by their TYPE and
/// samples by name and labels, so the order of series inside a family is free; everything else
/// must stay as it was.
fn exposition_before_the_crate() -> String {
    let mut out = String::new();
    out += "# HELP mesos_maint_up 1 while the daemon runs.\n# TYPE mesos_maint_up gauge\nmesos_maint_up 1\n";
    out += "# HELP mesos_maint_drain_state 1 for the current drain stage (Idle when no drain runs), 0 for the others.\n";
    out += "# TYPE mesos_maint_drain_state gauge\n";
    out += "mesos_maint_drain_state{stage=\"Idle\"} 0\n";
    for stage in [
        "Resolve",
        "Slot",
        "Budget",
        "PreHooks",
        "RequestDrain",
        "AwaitDrained",
        "VerifyLocal",
        "StopAgent",
        "StopDocker",
        "PostHooks",
        "Done",
        "DeadlineExceeded",
        "Failed",
    ] {
        let on = u8::from(stage == "AwaitDrained");
        out += &format!("mesos_maint_drain_state{{stage=\"{stage}\"}} {on}\n");
    }
    out += "# HELP mesos_maint_tasks_left Tasks still on the agent, as last observed.\n";
    out += "# TYPE mesos_maint_tasks_left gauge\nmesos_maint_tasks_left 3\n";
    out += "# HELP mesos_maint_drain_duration_seconds Duration of the last finished drain (absent before the first one).\n";
    out += "# TYPE mesos_maint_drain_duration_seconds gauge\nmesos_maint_drain_duration_seconds 812.5\n";
    out += "# HELP mesos_maint_inhibitor_held 1 while the daemon holds its logind inhibitor lock of this mode.\n";
    out += "# TYPE mesos_maint_inhibitor_held gauge\n";
    out += "mesos_maint_inhibitor_held{mode=\"delay\"} 1\nmesos_maint_inhibitor_held{mode=\"block\"} 0\n";
    out += "# HELP mesos_maint_last_outcome 1 for how the last drain ended, 0 for the other outcomes (all 0 before the first).\n";
    out += "# TYPE mesos_maint_last_outcome gauge\n";
    for (o, on) in [
        ("done", 1),
        ("deadline_exceeded", 0),
        ("failed", 0),
        ("refused", 0),
    ] {
        out += &format!("mesos_maint_last_outcome{{outcome=\"{o}\"}} {on}\n");
    }
    out += "# HELP mesos_maint_errors_total Errors seen by the daemon, by kind.\n";
    out += "# TYPE mesos_maint_errors_total counter\n";
    for kind in [
        "agent", "cloud", "config", "drain", "hook", "internal", "logind", "marker", "master",
        "systemd",
    ] {
        let n = u8::from(kind == "master") * 2;
        out += &format!("mesos_maint_errors_total{{kind=\"{kind}\"}} {n}\n");
    }
    out += "# HELP mesos_maint_build_info Always 1; the version of mesos-maint in a label.\n";
    out += "# TYPE mesos_maint_build_info gauge\n";
    out += &format!(
        "mesos_maint_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    );
    // Added with fleet coordination (issue 11), after the families above.
    out += "# HELP mesos_maint_fleet_slot_held 1 while a drain of this node holds a slot in the fleet's budget of nodes out.\n";
    out += "# TYPE mesos_maint_fleet_slot_held gauge\nmesos_maint_fleet_slot_held 0\n";
    out += "# HELP mesos_maint_fleet_wait_seconds_total Time drains of this node spent waiting for a fleet slot.\n";
    out += "# TYPE mesos_maint_fleet_wait_seconds_total counter\nmesos_maint_fleet_wait_seconds_total 0.0\n";
    out += "# HELP mesos_maint_fleet_over_budget_total Drains that went on without a fleet slot (spot notice, OS shutdown: never refused).\n";
    out += "# TYPE mesos_maint_fleet_over_budget_total counter\nmesos_maint_fleet_over_budget_total 0\n";
    // mesos_maint_health_check (issue 12) has no series before the first health pass, and
    // prometheus-client leaves a family without series out entirely.
    // Added with disruption budgets (issue 14).
    out += "# HELP mesos_maint_budget_wait_seconds Time the last drain of this node waited for the disruption budgets.\n";
    out += "# TYPE mesos_maint_budget_wait_seconds gauge\nmesos_maint_budget_wait_seconds 0.0\n";
    // mesos_maint_budget_overrides_total{trigger}: no series (and no lines) before the first.
    out
}

/// The families in order, each with its HELP, TYPE and the set of its sample lines.
fn families(text: &str) -> Vec<(String, String, BTreeSet<String>)> {
    let mut out: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") {
            out.push((line.to_owned(), String::new(), BTreeSet::new()));
        } else if line.starts_with("# TYPE ") {
            out.last_mut().expect("TYPE after HELP").1 = line.to_owned();
        } else {
            out.last_mut()
                .expect("sample after HELP")
                .2
                .insert(line.to_owned());
        }
    }
    out
}

// -- HTTP ---------------------------------------------------------------------------------

async fn start(timeout: Duration) -> (SocketAddr, Arc<Metrics>, tokio::task::JoinHandle<()>) {
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let m = metrics.clone();
    let task = tokio::spawn(async move {
        let _ = serve_with(listener, m, timeout).await;
    });
    (addr, metrics, task)
}

/// Send `request` raw and read the whole answer (the server closes after it).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes")
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_scrape_gets_the_current_metrics() {
    let (addr, metrics, task) = start(CONNECTION_TIMEOUT).await;
    metrics.set_tasks_left(7);
    metrics.set_drain_stage(Some(Stage::StopAgent));
    let resp = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], CONTENT_TYPE);
    let body = resp.text().await.unwrap();
    let s = parse_exposition(&body);
    assert_eq!(s["mesos_maint_tasks_left"], 7.0);
    assert_eq!(s["mesos_maint_drain_state{stage=\"StopAgent\"}"], 1.0);

    // A second scrape sees later updates; a query string is ignored.
    metrics.set_tasks_left(0);
    let body = client()
        .get(format!("http://{addr}/metrics?name[]=x"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(parse_exposition(&body)["mesos_maint_tasks_left"], 0.0);

    let head = client()
        .head(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let len: usize = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, metrics.render().len());
    task.abort();
}

/// The scrape test of issue 10: what Prometheus reads at /metrics is what the hand-written
/// encoder served (same families, names, types, HELP texts and samples).
#[tokio::test]
async fn a_scrape_reads_what_the_hand_written_encoder_served() {
    let (addr, m, task) = start(CONNECTION_TIMEOUT).await;
    m.set_tasks_left(3);
    m.set_inhibitor_held(InhibitMode::Delay, true);
    m.inc_error("master");
    m.inc_error("master");
    m.finish_drain(Outcome::Done, Duration::from_millis(812_500));
    m.set_drain_stage(Some(Stage::AwaitDrained));
    let resp = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = resp.text().await.unwrap();
    assert_eq!(
        families(&body),
        families(&exposition_before_the_crate()),
        "{body}"
    );
    task.abort();
}

#[tokio::test]
async fn other_paths_and_methods_are_refused() {
    let (addr, _metrics, task) = start(CONNECTION_TIMEOUT).await;
    let c = client();
    assert_eq!(
        c.get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("http://{addr}/metricsx"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let post = c
        .post(format!("http://{addr}/metrics"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    let bad = raw(addr, b"NONSENSE\r\n\r\n").await;
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    let bad = raw(addr, b"GET /metrics SPDY/3\r\n\r\n").await;
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    // A bare LF head is accepted too (hyper answers an HTTP/1.0 request in HTTP/1.0).
    let ok = raw(addr, b"GET /metrics HTTP/1.0\n\n").await;
    assert!(ok.starts_with("HTTP/1.0 200 OK\r\n"), "{ok}");
    assert!(ok.contains("\r\nConnection: close\r\n"), "{ok}");
    assert!(ok.contains("\r\n\r\n# HELP mesos_maint_up "), "{ok}");
    task.abort();
}

#[tokio::test]
async fn requests_are_bounded_in_size_and_time() {
    let (addr, _metrics, task) = start(Duration::from_millis(300)).await;
    // A head that never ends: cut at MAX_REQUEST_BYTES.
    let mut huge = b"GET /metrics HTTP/1.1\r\n".to_vec();
    while huge.len() < 3 * MAX_REQUEST_BYTES {
        huge.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may close before everything is written; that is the point.
    let _ = s.write_all(&huge).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");

    // A client that connects and says nothing is dropped after the timeout.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("closed by the server")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );

    // An incomplete head followed by EOF gets no metrics: hyper closes the connection without
    // an answer (the hand-written server sent a 400 first).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("closed by the server")
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 400 "), "{out}");
    task.abort();
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_until_slots_free_up() {
    let (addr, _metrics, task) = start(Duration::from_secs(30)).await;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept them all (each takes a slot while it waits for a request).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let _ = extra.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut out))
        .await
        .expect("the extra connection is closed at once");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    drop(idle);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = raw(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        if answer.starts_with("HTTP/1.1 200 ") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}

#[tokio::test]
async fn a_taken_address_is_an_error_naming_it() {
    let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = first.local_addr().unwrap();
    let err = serve(addr, Arc::new(Metrics::new())).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
