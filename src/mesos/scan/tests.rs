use std::io::Read;

use super::*;
use crate::mesos::types::DrainState;

/// One `agents[]` entry shaped like Mesos 1.11 writes it, about 1.6 KB.
pub(crate) fn agent_json(i: usize, drain: Option<&str>) -> String {
    let drain = drain
        .map(|state| {
            format!(
                r#","drain_info":{{"state":"{state}","config":{{"max_grace_period":{{"nanoseconds":600000000000}},"mark_gone":false}}}},"estimated_drain_start_time":{{"nanoseconds":1566970849000000000}}"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"{{"agent_info":{{"hostname":"10.0.{a}.{b}","port":5051,"id":{{"value":"f1b3c2d4-0000-4a5b-9c8d-0123456789ab-S{i}"}},"resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":8.0}}}},{{"name":"mem","type":"SCALAR","scalar":{{"value":31744.0}}}},{{"name":"ports","type":"RANGES","ranges":{{"range":[{{"begin":1025,"end":2180}},{{"begin":2182,"end":3887}}]}}}}],"attributes":[{{"name":"rack","type":"TEXT","text":{{"value":"r{a} \"quoted\" {{not:a:brace}}"}}}}],"domain":{{"fault_domain":{{"region":{{"name":"us-east-1"}},"zone":{{"name":"us-east-1a"}}}}}}}},"active":true,"deactivated":false,"version":"1.11.0","pid":"slave(1)@10.0.{a}.{b}:5051","registered_time":{{"nanoseconds":1566970849683100928}},"total_resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":8.0}},"role":"*"}},{{"name":"mem","type":"SCALAR","scalar":{{"value":31744.0}}}},{{"name":"disk","type":"SCALAR","scalar":{{"value":204800.0}}}}],"allocated_resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":2.5}},"allocation_info":{{"role":"slave_public"}}}}],"offered_resources":[],"capabilities":[{{"type":"MULTI_ROLE"}},{{"type":"HIERARCHICAL_ROLE"}},{{"type":"RESERVATION_REFINEMENT"}},{{"type":"RESOURCE_PROVIDER"}},{{"type":"RESIZE_VOLUME"}},{{"type":"AGENT_OPERATION_FEEDBACK"}},{{"type":"AGENT_DRAINING"}},{{"type":"TASK_RESOURCE_LIMITS"}}],"resource_providers":[{{"resource_provider_info":{{"id":{{"value":"rp-{i}"}},"type":"org.apache.mesos.rp.local.storage","name":"lvm","default_reservations":[]}},"total_resources":[]}}],"notes":"padding with é [[[ {{{{ and more text to bring this entry to a realistic size for the benchmark ........................................................................................................................................................................................................................"{drain}}}"#,
        a = i / 250 % 256,
        b = i % 250,
    )
}

/// A whole GET_AGENTS body with `n` agents; `drained` gets a DRAINED drain_info.
pub(crate) fn get_agents_body(n: usize, drained: Option<usize>, recovered: &[&str]) -> String {
    let agents: Vec<String> = (0..n)
        .map(|i| agent_json(i, (Some(i) == drained).then_some("DRAINED")))
        .collect();
    let recovered: Vec<String> = recovered
        .iter()
        .map(|id| {
            format!(r#"{{"hostname":"h","port":5051,"id":{{"value":"{id}"}},"resources":[]}}"#)
        })
        .collect();
    format!(
        r#"{{"type":"GET_AGENTS","get_agents":{{"agents":[{}],"recovered_agents":[{}]}}}}"#,
        agents.join(","),
        recovered.join(",")
    )
}

fn id(i: usize) -> String {
    format!("f1b3c2d4-0000-4a5b-9c8d-0123456789ab-S{i}")
}

/// Reads in small, odd-sized pieces to shake out buffer-boundary bugs.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.step = self.step % 97 + 13;
        Ok(n)
    }
}

fn both(body: &str, agent_id: &str) -> AgentLookup {
    let a = find_agent(body.as_bytes(), agent_id).unwrap();
    let b = find_agent_in_slice(body.as_bytes(), agent_id).unwrap();
    let c = find_agent(
        Trickle {
            data: body.as_bytes(),
            step: 1,
        },
        agent_id,
    )
    .unwrap();
    let d = find_agent_serde(body.as_bytes(), agent_id).unwrap();
    let e = find_agent_serde(
        Trickle {
            data: body.as_bytes(),
            step: 1,
        },
        agent_id,
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
    assert_eq!(a, e);
    a
}

#[test]
fn finds_first_middle_last() {
    let body = get_agents_body(500, Some(250), &[]);
    for i in [0, 250, 499] {
        match both(&body, &id(i)) {
            AgentLookup::Registered(a) => {
                assert_eq!(a.id, id(i));
                assert_eq!(a.hostname, format!("10.0.{}.{}", i / 250, i % 250));
                assert_eq!(
                    a.pid.as_deref(),
                    Some(format!("slave(1)@10.0.{}.{}:5051", i / 250, i % 250).as_str())
                );
                assert!(a.active && !a.deactivated);
                if i == 250 {
                    let d = a.drain.unwrap();
                    assert_eq!(d.state, DrainState::Drained);
                    assert_eq!(d.max_grace_period_ns, Some(600_000_000_000));
                    assert!(!d.mark_gone);
                } else {
                    assert_eq!(a.drain, None);
                }
            }
            other => panic!("{i}: {other:?}"),
        }
    }
}

#[test]
fn absent_and_prefix_ids_do_not_match() {
    let body = get_agents_body(300, None, &[]);
    assert_eq!(both(&body, &id(300)), AgentLookup::Absent);
    // "…-S1" is a prefix of "…-S10", "…-S100": only the exact id counts.
    assert!(matches!(both(&body, &id(1)), AgentLookup::Registered(a) if a.id == id(1)));
    assert_eq!(both(&body, "f1b3c2d4"), AgentLookup::Absent);
    assert_eq!(both(&body, ""), AgentLookup::Absent);
}

#[test]
fn recovered_agents_are_reported() {
    let body = get_agents_body(50, None, &["R-1", &id(7)]);
    assert_eq!(both(&body, "R-1"), AgentLookup::Recovered);
    // Registered wins over recovered.
    assert!(matches!(both(&body, &id(7)), AgentLookup::Registered(_)));
}

#[test]
fn key_order_and_1_9_shapes() {
    let entry = agent_json(3, Some("DRAINING"));
    // recovered first, get_agents before type, agents absent or empty.
    let body = format!(
        r#" {{ "get_agents" : {{ "recovered_agents" : [ {{"id":{{"value":"R"}}}} ] , "agents" : [ {entry} ] , "extra":{{"a":[1,{{"b":"]"}}]}} }} , "type" : "GET_AGENTS" }} "#
    );
    assert!(
        matches!(both(&body, &id(3)), AgentLookup::Registered(a) if a.drain.as_ref().unwrap().state == DrainState::Draining)
    );
    assert_eq!(both(&body, "R"), AgentLookup::Recovered);
    assert_eq!(
        both(r#"{"type":"GET_AGENTS","get_agents":{}}"#, "x"),
        AgentLookup::Absent
    );
    assert_eq!(
        both(
            r#"{"type":"GET_AGENTS","get_agents":{"agents":[],"recovered_agents":[]}}"#,
            "x"
        ),
        AgentLookup::Absent
    );
}

#[test]
fn escaped_ids_are_compared_decoded() {
    let body = r#"{"get_agents":{"agents":[{"agent_info":{"hostname":"h","id":{"value":"a\u002DS1"}}},{"agent_info":{"hostname":"h2","id":{"value":"a\"S2"}}}]}}"#;
    assert!(matches!(both(body, "a-S1"), AgentLookup::Registered(a) if a.hostname == "h"));
    assert!(matches!(both(body, "a\"S2"), AgentLookup::Registered(a) if a.hostname == "h2"));
}

#[test]
fn unknown_drain_state_and_missing_fields() {
    let body = r#"{"get_agents":{"agents":[{"agent_info":{"id":{"value":"S1"}},"drain_info":{"state":"NEW_STATE","config":{"mark_gone":true}}}]}}"#;
    match both(body, "S1") {
        AgentLookup::Registered(a) => {
            assert_eq!(a.hostname, "");
            assert_eq!(a.pid, None);
            assert!(!a.active && !a.deactivated);
            let d = a.drain.unwrap();
            assert_eq!(d.state, DrainState::Other("NEW_STATE".into()));
            assert!(d.mark_gone);
            assert_eq!(d.max_grace_period_ns, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_bodies_are_errors() {
    for bad in [
        "",
        "[]",
        r#"{"type":"GET_AGENTS"}"#,
        r#"{"get_agents":{"agents":[{"agent_info":{}}"#,
        r#"{"get_agents":{"agents":[]}} trailing"#,
        r#"{"get_agents":{"agents":{}}}"#,
        r#"{"get_agents":{"agents":[1,2]}}"#,
        r#"{"get_agents":{"agents":[{"a":[}]}}"#,
        r#"{"get_agents":{"agents":[{"a":1},]}}"#,
        r#"{"get_agents":{"agents":[{"a":"unterminated}]}}"#,
        r#"{"get_agents":{"agents":[]},}"#,
        r#"{"get_agents" {"agents":[]}}"#,
        r#"{"get_agents":{"agents":[],"x":}}"#,
        r#"{"get_agents":{"recovered_agents":["S1"]}}"#,
    ] {
        assert!(
            find_agent(bad.as_bytes(), "S1").is_err(),
            "accepted {bad:?}"
        );
        assert!(
            find_agent_in_slice(bad.as_bytes(), "S1").is_err(),
            "accepted {bad:?}"
        );
        assert!(
            find_agent_serde(bad.as_bytes(), "S1").is_err(),
            "accepted {bad:?}"
        );
    }
    assert!(matches!(
        find_agent(r#"{"type":"GET_AGENTS"}"#.as_bytes(), "S1"),
        Err(ScanError::MissingGetAgents)
    ));
}

#[test]
fn truncated_stream_is_an_error() {
    let body = get_agents_body(20, None, &[]);
    for end in [body.len() - 10, body.len() - 30, body.len() / 2, 1] {
        let cut = &body.as_bytes()[..end];
        assert!(find_agent(cut, &id(99)).is_err());
        assert!(find_agent_serde(cut, &id(99)).is_err());
    }
    // Cut inside the last element.
    let cut = &body.as_bytes()[..body.len() - 100];
    assert!(find_agent(cut, &id(19)).is_err());
    assert!(find_agent_serde(cut, &id(19)).is_err());
    // The stream stops at the match: what follows it is never read.
    let cut = &body.as_bytes()[..body.len() / 2];
    assert!(matches!(
        find_agent(cut, &id(0)),
        Ok(AgentLookup::Registered(_))
    ));
}

#[test]
fn read_errors_are_io_errors() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("connection reset"))
        }
    }
    assert!(matches!(find_agent(Failing, "S1"), Err(ScanError::Io(_))));
}

#[test]
fn memory_stays_at_one_chunk_plus_one_element() {
    let body = get_agents_body(2_000, None, &["R"]);
    let (found, buf) = splitter::find_measuring(body.as_bytes(), "absent");
    let lookup = found.and_then(|f| f.into_lookup());
    assert!(matches!(lookup, Ok(AgentLookup::Absent)), "{lookup:?}");
    assert_eq!(buf, splitter::CHUNK_BYTES, "{} bytes of input", body.len());
    // One element bigger than a chunk makes the buffer grow to hold it, and no more.
    let huge = format!(
        r#"{{"agent_info":{{"hostname":"h","id":{{"value":"BIG"}}}},"pad":"{}"}}"#,
        "x".repeat(3 * splitter::CHUNK_BYTES)
    );
    let body = format!(
        r#"{{"get_agents":{{"agents":[{},{huge},{}]}}}}"#,
        agent_json(1, None),
        agent_json(2, None)
    );
    let (found, buf) = splitter::find_measuring(body.as_bytes(), "BIG");
    assert!(
        matches!(found.unwrap().into_lookup(), Ok(AgentLookup::Registered(a)) if a.hostname == "h")
    );
    assert!(buf <= 8 * splitter::CHUNK_BYTES, "{buf}");
    assert_eq!(
        both(&body, &id(2)),
        find_agent_in_slice(body.as_bytes(), &id(2)).unwrap()
    );
}

/// `cargo test --release --lib mesos::scan::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput() {
    let n = 50_000;
    let body = get_agents_body(n, Some(n / 2), &[]);
    eprintln!("body: {} bytes, {} per agent", body.len(), body.len() / n);
    let last = id(n - 1);
    let mid = id(n / 2);
    let mb = body.len() as f64 / 1e6;
    let best = |f: &dyn Fn() -> bool| {
        (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                assert!(f());
                t.elapsed()
            })
            .min()
            .unwrap()
    };
    let base = best(&|| {
        let v: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap();
        v["get_agents"]["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["agent_info"]["id"]["value"] == last.as_str())
    });
    eprintln!(
        "from_slice::<Value>: {:?} ({:.0} MB/s)",
        base,
        mb / base.as_secs_f64()
    );
    let registered =
        |r: Result<AgentLookup, ScanError>| matches!(r, Ok(AgentLookup::Registered(_)));
    let runs: [(&str, &dyn Fn() -> bool); 6] = [
        ("find_agent_in_slice, last", &|| {
            registered(find_agent_in_slice(body.as_bytes(), &last))
        }),
        ("find_agent, last", &|| {
            registered(find_agent(body.as_bytes(), &last))
        }),
        ("find_agent, middle", &|| {
            registered(find_agent(body.as_bytes(), &mid))
        }),
        ("find_agent, absent", &|| {
            matches!(
                find_agent(body.as_bytes(), "absent"),
                Ok(AgentLookup::Absent)
            )
        }),
        ("find_agent, trickled, last", &|| {
            registered(find_agent(
                Trickle {
                    data: body.as_bytes(),
                    step: 1,
                },
                &last,
            ))
        }),
        ("find_agent_serde, last", &|| {
            registered(find_agent_serde(body.as_bytes(), &last))
        }),
    ];
    for (name, f) in runs {
        let e = best(f);
        eprintln!(
            "{name}: {e:?} ({:.0} MB/s, {:.1}x)",
            mb / e.as_secs_f64(),
            base.as_secs_f64() / e.as_secs_f64()
        );
    }
}
