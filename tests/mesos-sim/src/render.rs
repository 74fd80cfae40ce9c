//! JSON answers of the simulated master and agent.

use std::fmt::Write as _;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::state::{machine_eq, schedule_machines, Bucket, Core, Framework, Link, Shared, Task};
use crate::ApiStyle;

/// Agent ids of the synthetic other agents are `FILLER_ID_PREFIX` + (1000 + index).
pub(crate) const FILLER_ID_PREFIX: &str = "a1b2c3d4-0000-4000-8000-000000000001-S";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn capabilities(style: ApiStyle) -> Vec<&'static str> {
    let mut v = vec![
        "MULTI_ROLE",
        "HIERARCHICAL_ROLE",
        "RESERVATION_REFINEMENT",
        "RESOURCE_PROVIDER",
        "RESIZE_VOLUME",
        "AGENT_OPERATION_FEEDBACK",
        "AGENT_DRAINING",
    ];
    if style == ApiStyle::V1_11 {
        v.push("TASK_RESOURCE_LIMITS");
    }
    // A capability from a Mesos newer than any client: must be tolerated.
    v.push("AGENT_FUTURE_CAPABILITY");
    v
}

fn filler_ip(index: usize) -> String {
    format!(
        "10.{}.{}.{}",
        1 + ((index >> 16) & 0x7f),
        (index >> 8) & 0xff,
        index & 0xff
    )
}

const FILLER_PORTS: &[(u32, u32)] = &[(1025, 2180), (2182, 3887), (8182, 32000)];

fn write_scalar(out: &mut String, name: &str, value: f64, role: Option<&str>) {
    let _ = write!(
        out,
        r#"{{"name":"{name}","type":"SCALAR","scalar":{{"value":{value:.1}}}"#
    );
    match role {
        Some(r) => {
            let _ = write!(out, r#","allocation_info":{{"role":"{r}"}}}}"#);
        }
        None => out.push('}'),
    }
}

fn write_filler_resources(out: &mut String) {
    out.push('[');
    write_scalar(out, "cpus", 16.0, None);
    out.push(',');
    write_scalar(out, "mem", 63127.0, None);
    out.push(',');
    write_scalar(out, "disk", 204800.0, None);
    out.push_str(r#",{"name":"ports","type":"RANGES","ranges":{"range":["#);
    for (i, (b, e)) in FILLER_PORTS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, r#"{{"begin":{b},"end":{e}}}"#);
    }
    out.push_str(r#"]}}]"#);
}

/// Writes one realistic GET_AGENTS `agents[]` entry (about 1.6 KB) for synthetic agent
/// `index`: resources with cpus/mem/disk/ports ranges, attributes, a fault domain,
/// capabilities (including one unknown to clients); every 97th is draining and every 13th
/// is deactivated. Its id is `a1b2c3d4-0000-4000-8000-000000000001-S<1000 + index>`.
pub fn synthetic_agent_json(index: usize, out: &mut String) {
    synthetic_agent_json_styled(index, ApiStyle::V1_11, out);
}

pub(crate) fn synthetic_agent_json_styled(index: usize, style: ApiStyle, out: &mut String) {
    let ip = filler_ip(index);
    let draining = index % 97 == 3;
    let deactivated = draining || index % 13 == 5;
    let zone = ["a", "b", "c"][index % 3];
    let _ = write!(
        out,
        r#"{{"agent_info":{{"hostname":"{ip}","port":5051,"resources":"#
    );
    write_filler_resources(out);
    let _ = write!(
        out,
        r#","attributes":[{{"name":"rack","type":"TEXT","text":{{"value":"rack-{:02}"}}}},{{"name":"instance_type","type":"TEXT","text":{{"value":"m5.4xlarge"}}}}],"id":{{"value":"{FILLER_ID_PREFIX}{}"}},"domain":{{"fault_domain":{{"region":{{"name":"us-west-2"}},"zone":{{"name":"us-west-2{zone}"}}}}}}}}"#,
        index % 40,
        1000 + index
    );
    let _ = write!(
        out,
        r#","active":{},"deactivated":{deactivated},"version":"{}","pid":"slave(1)@{ip}:5051","registered_time":{{"nanoseconds":{}}},"total_resources":"#,
        !deactivated,
        style.version(),
        1_690_000_000_000_000_000i64 + (index as i64) * 1_000_000_007
    );
    write_filler_resources(out);
    out.push_str(r#","allocated_resources":["#);
    write_scalar(out, "cpus", 2.5, Some("slave_public"));
    out.push(',');
    write_scalar(out, "mem", 4096.0, Some("slave_public"));
    out.push_str(r#"],"capabilities":["#);
    for (i, c) in capabilities(style).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, r#"{{"type":"{c}"}}"#);
    }
    out.push(']');
    if draining {
        out.push_str(r#","drain_info":{"state":"DRAINING","config":{"max_grace_period":{"nanoseconds":600000000000},"mark_gone":false}},"estimated_drain_start_time":{"nanoseconds":1700000000000000000}"#);
    }
    out.push('}');
}

/// Writes one `/master/slaves` (v0 SlaveWriter) entry for synthetic agent `index`.
pub fn synthetic_slave_json(index: usize, out: &mut String) {
    synthetic_slave_json_styled(index, ApiStyle::V1_11, out);
}

pub(crate) fn synthetic_slave_json_styled(index: usize, style: ApiStyle, out: &mut String) {
    let ip = filler_ip(index);
    let draining = index % 97 == 3;
    let deactivated = draining || index % 13 == 5;
    let zone = ["a", "b", "c"][index % 3];
    let ports: Vec<String> = FILLER_PORTS
        .iter()
        .map(|(b, e)| format!("{b}-{e}"))
        .collect();
    let ports = format!("[{}]", ports.join(", "));
    let _ = write!(
        out,
        r#"{{"id":"{FILLER_ID_PREFIX}{}","hostname":"{ip}","port":5051,"attributes":{{"rack":"rack-{:02}","instance_type":"m5.4xlarge","public_ip":"false"}},"domain":{{"fault_domain":{{"region":{{"name":"us-west-2"}},"zone":{{"name":"us-west-2{zone}"}}}}}},"pid":"slave(1)@{ip}:5051","registered_time":{:.6},"resources":{{"disk":204800.0,"mem":63127.0,"gpus":0.0,"cpus":16.0,"ports":"{ports}"}},"used_resources":{{"disk":0.0,"mem":4096.0,"gpus":0.0,"cpus":2.5}},"offered_resources":{{"disk":0.0,"mem":0.0,"gpus":0.0,"cpus":0.0}},"reserved_resources":{{}},"unreserved_resources":{{"disk":204800.0,"mem":63127.0,"gpus":0.0,"cpus":16.0,"ports":"{ports}"}},"active":{},"deactivated":{deactivated},"version":"{}","capabilities":{}"#,
        1000 + index,
        index % 40,
        1_690_000_000.0 + index as f64 * 1.000000007,
        !deactivated,
        style.version(),
        serde_json::to_string(&capabilities(style)).unwrap_or_default()
    );
    if draining {
        out.push_str(r#","drain_info":{"state":"DRAINING","config":{"max_grace_period":{"nanoseconds":600000000000},"mark_gone":false}},"estimated_drain_start_time_seconds":1700000000.0"#);
    }
    out.push('}');
}

/// The index of a synthetic agent id.
pub(crate) fn filler_index(id: &str, count: usize) -> Option<usize> {
    let n: usize = id.strip_prefix(FILLER_ID_PREFIX)?.parse().ok()?;
    let i = n.checked_sub(1000)?;
    (i < count).then_some(i)
}

fn build_fillers(
    count: usize,
    style: ApiStyle,
    write: fn(usize, ApiStyle, &mut String),
) -> (Bytes, Bytes) {
    let split = count / 2;
    let mut before = String::with_capacity(split * 1700);
    for i in 0..split {
        if i > 0 {
            before.push(',');
        }
        write(i, style, &mut before);
    }
    let mut after = String::with_capacity((count - split) * 1700);
    for i in split..count {
        if i > split {
            after.push(',');
        }
        write(i, style, &mut after);
    }
    (Bytes::from(before), Bytes::from(after))
}

fn fillers_v1(sh: &Shared) -> &(Bytes, Bytes) {
    sh.fillers_v1
        .get_or_init(|| build_fillers(sh.filler_agents, sh.style, synthetic_agent_json_styled))
}

fn fillers_v0(sh: &Shared) -> &(Bytes, Bytes) {
    sh.fillers_v0
        .get_or_init(|| build_fillers(sh.filler_agents, sh.style, synthetic_slave_json_styled))
}

/// Joins `[before..., primary?, after...]` into a JSON array body between prefix and suffix.
fn join_entries(
    prefix: String,
    before: &Bytes,
    primary: Option<String>,
    after: &Bytes,
    suffix: String,
) -> Vec<Bytes> {
    let mut chunks = vec![Bytes::from(prefix)];
    let mut first = true;
    for part in [
        Some(before.clone()),
        primary.map(Bytes::from),
        Some(after.clone()),
    ]
    .into_iter()
    .flatten()
    {
        if part.is_empty() {
            continue;
        }
        if !first {
            chunks.push(Bytes::from_static(b","));
        }
        first = false;
        chunks.push(part);
    }
    chunks.push(Bytes::from(suffix));
    chunks
}

fn scalar(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": "*"})
}

fn agent_resources() -> Value {
    json!([
        scalar("cpus", 4.0),
        scalar("mem", 15360.0),
        scalar("disk", 51200.0),
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}, "role": "*"}
    ])
}

fn task_resources() -> Value {
    json!([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "allocation_info": {"role": "slave_public"}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 256.0}, "allocation_info": {"role": "slave_public"}}
    ])
}

fn agent_info(c: &Core, sh: &Shared) -> Value {
    json!({
        "hostname": c.hostname,
        "port": sh.agent_port,
        "id": {"value": c.agent_id},
        "resources": agent_resources(),
        "attributes": [
            {"name": "rack", "type": "TEXT", "text": {"value": "rack-07"}},
            {"name": "public_ip", "type": "TEXT", "text": {"value": "false"}}
        ],
        "domain": {"fault_domain": {"region": {"name": "us-west-2"}, "zone": {"name": "us-west-2a"}}}
    })
}

fn drain_info(c: &Core) -> Option<Value> {
    let d = c.drain.as_ref()?;
    let mut config = Map::new();
    if let Some(ns) = d.max_grace_ns {
        config.insert("max_grace_period".into(), json!({"nanoseconds": ns}));
    }
    config.insert("mark_gone".into(), json!(d.mark_gone));
    Some(json!({"state": d.state.name(), "config": config}))
}

fn live_allocation(c: &Core) -> (f64, f64) {
    let n = c
        .tasks
        .iter()
        .filter(|t| {
            matches!(
                t.bucket,
                Bucket::Launched | Bucket::Queued | Bucket::Pending
            )
        })
        .count() as f64;
    (0.5 * n, 256.0 * n)
}

/// The local agent's GET_AGENTS entry.
pub(crate) fn agent_entry_v1(c: &Core, sh: &Shared) -> Value {
    let mut m = Map::new();
    m.insert("agent_info".into(), agent_info(c, sh));
    m.insert("active".into(), json!(c.active()));
    m.insert("deactivated".into(), json!(c.deactivated));
    m.insert("version".into(), json!(sh.style.version()));
    m.insert(
        "pid".into(),
        json!(format!("slave(1)@127.0.0.1:{}", sh.agent_port)),
    );
    m.insert(
        "registered_time".into(),
        json!({"nanoseconds": c.registered_time_ns}),
    );
    if let Some(ns) = c.reregistered_time_ns {
        m.insert("reregistered_time".into(), json!({"nanoseconds": ns}));
    }
    m.insert("total_resources".into(), agent_resources());
    let (cpus, mem) = live_allocation(c);
    if cpus > 0.0 {
        m.insert(
            "allocated_resources".into(),
            json!([
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "allocation_info": {"role": "slave_public"}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "allocation_info": {"role": "slave_public"}}
            ]),
        );
    }
    let caps: Vec<Value> = capabilities(sh.style)
        .into_iter()
        .map(|t| json!({"type": t}))
        .collect();
    m.insert("capabilities".into(), Value::Array(caps));
    if let Some(di) = drain_info(c) {
        m.insert("drain_info".into(), di);
        if let Some(ns) = c.est_drain_start_ns {
            m.insert(
                "estimated_drain_start_time".into(),
                json!({"nanoseconds": ns}),
            );
        }
    }
    Value::Object(m)
}

/// The local agent's `/master/slaves` (SlaveWriter) entry.
pub(crate) fn slave_entry_v0(c: &Core, sh: &Shared) -> Value {
    let (cpus, mem) = live_allocation(c);
    let total = json!({"disk": 51200.0, "mem": 15360.0, "gpus": 0.0, "cpus": 4.0, "ports": "[31000-32000]"});
    let mut m = Map::new();
    m.insert("id".into(), json!(c.agent_id));
    m.insert("hostname".into(), json!(c.hostname));
    m.insert("port".into(), json!(sh.agent_port));
    m.insert(
        "attributes".into(),
        json!({"rack": "rack-07", "public_ip": "false"}),
    );
    m.insert(
        "domain".into(),
        json!({"fault_domain": {"region": {"name": "us-west-2"}, "zone": {"name": "us-west-2a"}}}),
    );
    m.insert(
        "pid".into(),
        json!(format!("slave(1)@127.0.0.1:{}", sh.agent_port)),
    );
    m.insert(
        "registered_time".into(),
        json!(c.registered_time_ns as f64 / 1e9),
    );
    if let Some(ns) = c.reregistered_time_ns {
        m.insert("reregistered_time".into(), json!(ns as f64 / 1e9));
    }
    m.insert("resources".into(), total.clone());
    m.insert(
        "used_resources".into(),
        json!({"disk": 0.0, "mem": mem, "gpus": 0.0, "cpus": cpus}),
    );
    m.insert(
        "offered_resources".into(),
        json!({"disk": 0.0, "mem": 0.0, "gpus": 0.0, "cpus": 0.0}),
    );
    m.insert("reserved_resources".into(), json!({}));
    m.insert("unreserved_resources".into(), total);
    m.insert("active".into(), json!(c.active()));
    m.insert("deactivated".into(), json!(c.deactivated));
    m.insert("version".into(), json!(sh.style.version()));
    m.insert("capabilities".into(), json!(capabilities(sh.style)));
    if let Some(di) = drain_info(c) {
        m.insert("drain_info".into(), di);
        if let Some(ns) = c.est_drain_start_ns {
            m.insert(
                "estimated_drain_start_time_seconds".into(),
                json!((ns / 1_000_000_000) as f64),
            );
        }
    }
    Value::Object(m)
}

/// `[AgentInfo]` of the local agent while it is only "recovered" (after a failover).
fn recovered(c: &Core, sh: &Shared) -> Option<String> {
    (c.known() && c.link == Link::Recovered).then(|| agent_info(c, sh).to_string())
}

/// `render` of the first agent (`c`, already locked by the caller with the master's state)
/// and then of each other local agent, each locked in turn; the `Some`s joined with commas,
/// `None` when there are none.
fn each_local(
    c: &Core,
    sh: &Shared,
    render: impl Fn(&Core, &Shared) -> Option<String>,
) -> Option<String> {
    let mut parts: Vec<String> = render(c, sh).into_iter().collect();
    for x in sh.extra_agents() {
        parts.extend(render(&x.lock(), x));
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// GET_AGENTS body, as chunks (the synthetic agents are cached).
pub(crate) fn get_agents(c: &Core, sh: &Shared) -> Vec<Bytes> {
    let (before, after) = fillers_v1(sh);
    let primary = each_local(c, sh, |c, sh| {
        c.listed().then(|| agent_entry_v1(c, sh).to_string())
    });
    let rec = each_local(c, sh, recovered);
    let any = primary.is_some() || !before.is_empty() || !after.is_empty();
    match (sh.style, any) {
        (ApiStyle::V1_11, _) | (ApiStyle::V1_9, true) => {
            let suffix = match (&rec, sh.style) {
                (Some(r), _) => format!(r#"],"recovered_agents":[{r}]}}}}"#),
                (None, ApiStyle::V1_11) => r#"],"recovered_agents":[]}}"#.to_owned(),
                (None, ApiStyle::V1_9) => "]}}".to_owned(),
            };
            join_entries(
                r#"{"type":"GET_AGENTS","get_agents":{"agents":["#.into(),
                before,
                primary,
                after,
                suffix,
            )
        }
        (ApiStyle::V1_9, false) => {
            let body = match rec {
                Some(r) => {
                    format!(r#"{{"type":"GET_AGENTS","get_agents":{{"recovered_agents":[{r}]}}}}"#)
                }
                None => r#"{"type":"GET_AGENTS","get_agents":{}}"#.to_owned(),
            };
            vec![Bytes::from(body)]
        }
    }
}

/// `/master/slaves[?slave_id=]` body.
pub(crate) fn slaves(c: &Core, sh: &Shared, filter: Option<&str>) -> Vec<Bytes> {
    let filter = filter.filter(|_| !c.ignore_slave_id_filter);
    let wanted = |c: &Core| filter.is_none_or(|id| id == c.agent_id);
    let primary = each_local(c, sh, |c, sh| {
        (c.listed() && wanted(c)).then(|| slave_entry_v0(c, sh).to_string())
    });
    let rec = each_local(c, sh, |c, sh| recovered(c, sh).filter(|_| wanted(c)));
    let suffix = format!(r#"],"recovered_slaves":[{}]}}"#, rec.unwrap_or_default());
    match filter {
        None => {
            let (before, after) = fillers_v0(sh);
            join_entries(r#"{"slaves":["#.into(), before, primary, after, suffix)
        }
        Some(id) => {
            let mut entry = None;
            if primary.is_some() {
                entry = primary;
            } else if let Some(i) = filler_index(id, sh.filler_agents) {
                let mut s = String::new();
                synthetic_slave_json_styled(i, sh.style, &mut s);
                entry = Some(s);
            }
            let empty = Bytes::new();
            join_entries(r#"{"slaves":["#.into(), &empty, entry, &empty, suffix)
        }
    }
}

/// `/master/state` body (minimal).
pub(crate) fn master_state(c: &Core, sh: &Shared) -> Vec<Bytes> {
    let (mut listed, mut local_active, mut unreachable) = (0, 0, 0);
    let mut rec: Vec<Value> = Vec::new();
    let mut count = |c: &Core, sh: &Shared| {
        listed += c.listed() as usize;
        local_active += (c.listed() && c.active()) as usize;
        unreachable += (c.known() && c.link == Link::Unreachable) as usize;
        if c.known() && c.link == Link::Recovered {
            rec.push(agent_info(c, sh));
        }
    };
    count(c, sh);
    for x in sh.extra_agents() {
        count(&x.lock(), x);
    }
    let filler_deactivated = (0..sh.filler_agents)
        .filter(|i| i % 97 == 3 || i % 13 == 5)
        .count();
    let active = local_active + sh.filler_agents - filler_deactivated;
    let head = json!({
        "version": sh.style.version(),
        "id": sh.master_id,
        "pid": format!("master@127.0.0.1:{}", sh.leader_port),
        "hostname": "127.0.0.1",
        "leader": format!("master@127.0.0.1:{}", sh.leader_port),
        "leader_info": master_info(sh),
        "activated_slaves": active,
        "deactivated_slaves": listed + sh.filler_agents - active,
        "unreachable_slaves": unreachable,
        "frameworks": master_frameworks_v0(c, sh),
        "recovered_slaves": rec,
    })
    .to_string();
    // Splice "slaves":[...] into the object.
    let prefix = format!("{},\"slaves\":[", &head[..head.len() - 1]);
    let (before, after) = fillers_v0(sh);
    let primary = each_local(c, sh, |c, sh| {
        c.listed().then(|| slave_entry_v0(c, sh).to_string())
    });
    join_entries(prefix, before, primary, after, "]}".to_owned())
}

/// The frameworks of every local agent, each once (the first agent's first).
fn all_frameworks(c: &Core, sh: &Shared) -> Vec<Framework> {
    let mut all = c.frameworks.clone();
    for x in sh.extra_agents() {
        for f in &x.lock().frameworks {
            if !all.iter().any(|a| a.id == f.id) {
                all.push(f.clone());
            }
        }
    }
    all
}

fn master_frameworks_v0(c: &Core, sh: &Shared) -> Value {
    let list: Vec<Value> = all_frameworks(c, sh)
        .iter()
        .filter(|f| !f.torn_down)
        .map(|f| json!({"id": f.id, "name": f.name, "active": true, "connected": true, "role": "slave_public"}))
        .collect();
    Value::Array(list)
}

pub(crate) fn master_info(sh: &Shared) -> Value {
    json!({
        "id": sh.master_id,
        "ip": 16777343u32,
        "port": sh.leader_port,
        "pid": format!("master@127.0.0.1:{}", sh.leader_port),
        "hostname": "127.0.0.1",
        "version": sh.style.version(),
        "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": sh.leader_port},
        "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {"type": "QUOTA_V2"}]
    })
}

fn framework_info(c: &Core, id: &str, name: &str) -> Value {
    json!({
        "user": "root",
        "name": name,
        "id": {"value": id},
        "failover_timeout": 604800.0,
        "checkpoint": true,
        "hostname": c.hostname,
        "principal": name,
        "roles": ["slave_public"],
        "capabilities": [{"type": "PARTITION_AWARE"}, {"type": "TASK_KILLING_STATE"}, {"type": "MULTI_ROLE"}]
    })
}

/// Master GET_FRAMEWORKS.
pub(crate) fn master_get_frameworks(c: &Core, sh: &Shared) -> Value {
    let style = sh.style;
    let mut active = Vec::new();
    let mut completed = Vec::new();
    for f in &all_frameworks(c, sh) {
        let entry = json!({
            "framework_info": framework_info(c, &f.id, &f.name),
            "active": !f.torn_down,
            "connected": !f.torn_down,
            "recovered": false,
            "registered_time": {"nanoseconds": c.registered_time_ns + 60_000_000_000},
        });
        if f.torn_down {
            completed.push(entry);
        } else {
            active.push(entry);
        }
    }
    let mut m = Map::new();
    put_array(&mut m, "frameworks", active, style == ApiStyle::V1_11);
    put_array(
        &mut m,
        "completed_frameworks",
        completed,
        style == ApiStyle::V1_11,
    );
    put_array(
        &mut m,
        "recovered_frameworks",
        vec![],
        style == ApiStyle::V1_11,
    );
    json!({"type": "GET_FRAMEWORKS", "get_frameworks": m})
}

fn put_array(m: &mut Map<String, Value>, key: &str, v: Vec<Value>, always: bool) {
    if always || !v.is_empty() {
        m.insert(key.into(), Value::Array(v));
    }
}

// -------------------------------------------------------------------- agent

fn agent_drain_fields(c: &Core, m: &mut Map<String, Value>, v1: bool) {
    let Some(d) = &c.agent_drain else { return };
    let mut config = Map::new();
    if let Some(ns) = d.max_grace_ns {
        config.insert("max_grace_period".into(), json!({"nanoseconds": ns}));
    }
    config.insert("mark_gone".into(), json!(d.mark_gone));
    m.insert("drain_config".into(), Value::Object(config));
    if let Some(ns) = d.est_ns {
        if v1 {
            m.insert(
                "estimated_drain_start_time".into(),
                json!({"nanoseconds": ns}),
            );
        } else {
            m.insert(
                "estimated_drain_start_time_seconds".into(),
                json!((ns / 1_000_000_000) as f64),
            );
        }
    }
}

pub(crate) fn agent_get_agent(c: &Core, sh: &Shared) -> Value {
    let mut m = Map::new();
    m.insert("agent_info".into(), agent_info(c, sh));
    agent_drain_fields(c, &mut m, true);
    json!({"type": "GET_AGENT", "get_agent": m})
}

fn status_v1(c: &Core, t: &Task, s: &crate::state::Status) -> Value {
    let mut m = Map::new();
    m.insert("task_id".into(), json!({"value": t.id}));
    m.insert("state".into(), json!(s.state));
    if let Some(msg) = s.message {
        m.insert("message".into(), json!(msg));
    }
    m.insert("source".into(), json!(s.source));
    if let Some(r) = s.reason {
        m.insert("reason".into(), json!(r));
    }
    m.insert("agent_id".into(), json!({"value": c.agent_id}));
    m.insert("executor_id".into(), json!({"value": t.id}));
    m.insert("timestamp".into(), json!(s.timestamp));
    m.insert("uuid".into(), json!(b64(&s.uuid)));
    m.insert(
        "container_status".into(),
        json!({"container_id": {"value": format!("{:08x}-sim", t.uid)}, "network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": "127.0.0.1"}]}]}),
    );
    Value::Object(m)
}

pub(crate) fn task_v1(c: &Core, t: &Task) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(t.name));
    m.insert("task_id".into(), json!({"value": t.id}));
    m.insert("framework_id".into(), json!({"value": t.framework_id}));
    m.insert("executor_id".into(), json!({"value": t.id}));
    m.insert("agent_id".into(), json!({"value": c.agent_id}));
    m.insert("state".into(), json!(t.state));
    m.insert("resources".into(), task_resources());
    if !t.statuses.is_empty() {
        let st: Vec<Value> = t.statuses.iter().map(|s| status_v1(c, t, s)).collect();
        m.insert("statuses".into(), Value::Array(st));
        let last = t.statuses.last().expect("non-empty");
        m.insert("status_update_state".into(), json!(last.state));
        m.insert("status_update_uuid".into(), json!(b64(&last.uuid)));
    }
    m.insert(
        "kill_policy".into(),
        json!({"grace_period": {"nanoseconds": t.kill_grace.as_nanos() as i64}}),
    );
    m.insert("user".into(), json!("nobody"));
    let mut labels = vec![json!({"key": "owner", "value": "sim"})];
    labels.extend(t.labels.iter().map(|(k, v)| json!({"key": k, "value": v})));
    m.insert("labels".into(), json!({ "labels": labels }));
    // A field from a newer Mesos: clients must ignore it.
    m.insert(
        "x_future_field".into(),
        json!({"nested": {"n": 1}, "note": "unknown to clients"}),
    );
    Value::Object(m)
}

pub(crate) fn agent_get_tasks(c: &Core, style: ApiStyle) -> Value {
    let mut buckets: [(&str, Bucket, Vec<Value>); 5] = [
        ("pending_tasks", Bucket::Pending, vec![]),
        ("queued_tasks", Bucket::Queued, vec![]),
        ("launched_tasks", Bucket::Launched, vec![]),
        ("terminated_tasks", Bucket::Terminated, vec![]),
        ("completed_tasks", Bucket::Completed, vec![]),
    ];
    for t in &c.tasks {
        if let Some(b) = buckets.iter_mut().find(|b| b.1 == t.bucket) {
            b.2.push(task_v1(c, t));
        }
    }
    let mut m = Map::new();
    for (key, _, list) in buckets {
        put_array(&mut m, key, list, style == ApiStyle::V1_11);
    }
    json!({"type": "GET_TASKS", "get_tasks": m})
}

pub(crate) fn agent_get_operations(c: &Core) -> Value {
    let mut m = Map::new();
    if let Some(op) = &c.operation {
        let mut o = Map::new();
        if let Some(fw) = &op.framework_id {
            o.insert("framework_id".into(), json!({"value": fw}));
        }
        o.insert("agent_id".into(), json!({"value": c.agent_id}));
        o.insert(
            "info".into(),
            json!({"type": "RESERVE", "id": {"value": op.id}, "reserve": {"resources": [
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 10240.0},
                 "reservations": [{"type": "DYNAMIC", "role": "slave_public", "principal": "sim"}]}
            ]}}),
        );
        let status = json!({
            "operation_id": {"value": op.id},
            "state": "OPERATION_PENDING",
            "uuid": {"value": b64(&op.status_uuid)},
            "agent_id": {"value": c.agent_id},
        });
        o.insert("latest_status".into(), status.clone());
        o.insert("statuses".into(), json!([status]));
        o.insert("uuid".into(), json!({"value": b64(&op.uuid)}));
        let _ = op.timestamp;
        m.insert("operations".into(), json!([Value::Object(o)]));
    }
    json!({"type": "GET_OPERATIONS", "get_operations": m})
}

/// (active frameworks, completed frameworks) as the agent sees them.
fn agent_frameworks(c: &Core) -> (Vec<&crate::state::Framework>, Vec<&crate::state::Framework>) {
    let mut active = Vec::new();
    let mut completed = Vec::new();
    for f in &c.frameworks {
        let mine = c.tasks.iter().filter(|t| t.framework_id == f.id);
        let (mut any, mut live) = (false, false);
        for t in mine {
            any = true;
            live |= t.bucket.live();
        }
        if live {
            active.push(f);
        } else if any {
            completed.push(f);
        }
    }
    (active, completed)
}

pub(crate) fn agent_get_frameworks(c: &Core) -> Value {
    let (active, completed) = agent_frameworks(c);
    let mut m = Map::new();
    let conv = |fs: Vec<&crate::state::Framework>| -> Vec<Value> {
        fs.into_iter()
            .map(|f| json!({"framework_info": framework_info(c, &f.id, &f.name)}))
            .collect()
    };
    put_array(&mut m, "frameworks", conv(active), false);
    put_array(&mut m, "completed_frameworks", conv(completed), false);
    json!({"type": "GET_FRAMEWORKS", "get_frameworks": m})
}

fn task_v0(c: &Core, t: &Task) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| json!({"state": s.state, "timestamp": s.timestamp}))
        .collect();
    json!({
        "id": t.id,
        "name": t.name,
        "framework_id": t.framework_id,
        "executor_id": t.id,
        "slave_id": c.agent_id,
        "state": t.state,
        "resources": {"cpus": 0.5, "mem": 256.0, "disk": 0.0, "gpus": 0.0},
        "statuses": statuses,
    })
}

/// Agent `GET /state` (v0).
pub(crate) fn agent_state_v0(c: &Core, sh: &Shared) -> Value {
    let (active, completed) = agent_frameworks(c);
    let fw_v0 = |f: &crate::state::Framework, live: bool| -> Value {
        let mut executors = Vec::new();
        let mut completed_executors = Vec::new();
        for t in c.tasks.iter().filter(|t| t.framework_id == f.id) {
            let (tasks, queued, done) = match t.bucket {
                Bucket::Queued | Bucket::Pending => (vec![], vec![task_v0(c, t)], vec![]),
                Bucket::Launched | Bucket::Terminated => (vec![task_v0(c, t)], vec![], vec![]),
                Bucket::Completed => (vec![], vec![], vec![task_v0(c, t)]),
            };
            let e = json!({"id": t.id, "name": format!("Command Executor (Task: {})", t.id),
                           "framework_id": f.id, "tasks": tasks, "queued_tasks": queued,
                           "completed_tasks": done});
            if t.bucket.live() {
                executors.push(e);
            } else {
                completed_executors.push(e);
            }
        }
        let _ = live;
        json!({"id": f.id, "name": f.name, "user": "root", "role": "slave_public",
               "executors": executors, "completed_executors": completed_executors})
    };
    let mut m = Map::new();
    m.insert("version".into(), json!(sh.style.version()));
    m.insert("id".into(), json!(c.agent_id));
    m.insert(
        "pid".into(),
        json!(format!("slave(1)@127.0.0.1:{}", sh.agent_port)),
    );
    m.insert("hostname".into(), json!(c.hostname));
    m.insert("capabilities".into(), json!(capabilities(sh.style)));
    m.insert(
        "start_time".into(),
        json!(c.registered_time_ns as f64 / 1e9 - 5.0),
    );
    if c.known() {
        m.insert("master_hostname".into(), json!("127.0.0.1"));
    }
    m.insert(
        "flags".into(),
        json!({
            "master": sh.agent_master_flag,
            "port": sh.agent_port.to_string(),
            "hostname": c.hostname,
            "work_dir": sh.agent_work_dir,
            "authenticate_http_readwrite": (sh.auth != crate::SimAuth::None).to_string(),
        }),
    );
    agent_drain_fields(c, &mut m, false);
    m.insert(
        "attributes".into(),
        json!({"rack": "rack-07", "public_ip": "false"}),
    );
    m.insert(
        "resources".into(),
        json!({"disk": 51200.0, "mem": 15360.0, "gpus": 0.0, "cpus": 4.0, "ports": "[31000-32000]"}),
    );
    m.insert(
        "frameworks".into(),
        Value::Array(active.iter().map(|f| fw_v0(f, true)).collect()),
    );
    m.insert(
        "completed_frameworks".into(),
        Value::Array(completed.iter().map(|f| fw_v0(f, false)).collect()),
    );
    Value::Object(m)
}

// -------------------------------------------------------------------- maintenance

pub(crate) fn maintenance_status(c: &Core) -> Value {
    let mut draining = Vec::new();
    for m in schedule_machines(&c.schedule) {
        if !c.is_down(&m) && !draining.iter().any(|d: &Value| machine_eq(&d["id"], &m)) {
            draining.push(json!({"id": m}));
        }
    }
    let mut s = Map::new();
    if !draining.is_empty() {
        s.insert("draining_machines".into(), Value::Array(draining));
    }
    if !c.down.is_empty() {
        s.insert("down_machines".into(), Value::Array(c.down.clone()));
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_agent_is_about_1_6_kb_and_valid_json() {
        for i in [0usize, 3, 5, 12345] {
            let mut s = String::new();
            synthetic_agent_json(i, &mut s);
            let v: Value = serde_json::from_str(&s).expect("valid JSON");
            assert!((1450..=1900).contains(&s.len()), "len {} for {i}", s.len());
            assert_eq!(
                v["agent_info"]["id"]["value"],
                json!(format!("{FILLER_ID_PREFIX}{}", 1000 + i))
            );
            let mut s0 = String::new();
            synthetic_slave_json(i, &mut s0);
            let v0: Value = serde_json::from_str(&s0).expect("valid JSON");
            assert_eq!(v0["id"], v["agent_info"]["id"]["value"]);
        }
        assert_eq!(
            filler_index(&format!("{FILLER_ID_PREFIX}1005"), 10),
            Some(5)
        );
        assert_eq!(filler_index(&format!("{FILLER_ID_PREFIX}1005"), 5), None);
        assert_eq!(
            filler_index("a1b2c3d4-0000-4000-8000-000000000001-S7", 10),
            None
        );
    }
}
