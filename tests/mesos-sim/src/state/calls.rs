//! The master's write calls on the model: DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT,
//! MARK_AGENT_GONE, the schedule update and machine up/down, each with the real master's
//! refusals (status and message as Mesos words them) and the registry write in the middle (the
//! state is checked again after it). `http.rs` only routes to these and encodes the answer.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{
    in_schedule, machine_eq, now_ns, schedule_machines, Core, DrainInfo, DrainState, Shared,
};
use crate::proto::agent_id_of;

/// A refusal: the HTTP status and the message the master answers with.
pub(crate) type Refusal = (u16, String);
/// Done, or refused.
pub(crate) type Answer = Result<(), Refusal>;

fn text(status: u16, message: impl Into<String>) -> Refusal {
    (status, message.into())
}

fn ok_empty() -> Answer {
    Ok(())
}

fn unknown_agent() -> Refusal {
    text(400, "Unknown agent")
}

async fn registry_write(sh: &Shared) {
    if !sh.registry_delay.is_zero() {
        tokio::time::sleep(sh.registry_delay).await;
    }
}

pub(crate) async fn drain_agent(sh: &Arc<Shared>, sub: &Value) -> Answer {
    let id = agent_id_of(sub);
    let cap = sub.get("max_grace_period").map(|d| {
        let s = d.get("seconds").and_then(Value::as_i64).unwrap_or(0);
        let n = d.get("nanos").and_then(Value::as_i64).unwrap_or(0);
        s.saturating_mul(1_000_000_000).saturating_add(n)
    });
    let mark_gone = sub
        .get("mark_gone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (schedule, forbid_drain) = {
        let m = sh.lock();
        (m.schedule.clone(), m.forbid_drain)
    };
    let ag = sh.agent_by_id(&id);
    {
        let c = ag.lock();
        let local = id == c.agent_id && c.known();
        if local && c.link.registered() {
            let m = c.machine();
            if c.in_window_knob || in_schedule(&schedule, &m) {
                return Err(text(
                    400,
                    format!("Agent {id} is part of a maintenance schedule under Machine {m}"),
                ));
            }
        }
        if forbid_drain {
            return Err(text(403, "403 Forbidden."));
        }
        if !local {
            return Err(unknown_agent());
        }
        if c.marking_gone {
            return Err(text(409, "Agent is currently being marked gone"));
        }
    }
    registry_write(sh).await;
    let mut c = ag.lock();
    if id != c.agent_id || !c.known() {
        return Err(unknown_agent());
    }
    if c.marking_gone {
        return Err(text(409, "Agent is currently being marked gone"));
    }
    c.drain = Some(DrainInfo {
        state: DrainState::Draining,
        max_grace_ns: cap,
        mark_gone,
    });
    c.drain_epoch += 1;
    c.deactivated = true;
    if c.link.registered() {
        c.est_drain_start_ns = Some(now_ns() / 1_000_000_000 * 1_000_000_000);
    }
    ag.deliver_drain(&mut c);
    ag.check_and_transition(&mut c);
    ok_empty()
}

pub(crate) async fn deactivate_agent(sh: &Arc<Shared>, sub: &Value) -> Answer {
    let id = agent_id_of(sub);
    let ag = sh.agent_by_id(&id);
    {
        let c = ag.lock();
        if id != c.agent_id || !c.known() {
            return Err(unknown_agent());
        }
    }
    registry_write(sh).await;
    let mut c = ag.lock();
    if id != c.agent_id || !c.known() {
        return Err(unknown_agent());
    }
    c.deactivated = true;
    ok_empty()
}

fn reactivate_refusal(c: &Core, id: &str) -> Option<Refusal> {
    if id != c.agent_id || !c.known() || !c.deactivated {
        return Some(text(400, "Agent is not deactivated"));
    }
    if c.drain
        .as_ref()
        .is_some_and(|d| d.state == DrainState::Draining)
    {
        return Some(text(400, "Agent is still in the DRAINING state"));
    }
    None
}

pub(crate) async fn reactivate_agent(sh: &Arc<Shared>, sub: &Value) -> Answer {
    let id = agent_id_of(sub);
    let ag = sh.agent_by_id(&id);
    if let Some(x) = reactivate_refusal(&ag.lock(), &id) {
        return Err(x);
    }
    registry_write(sh).await;
    let mut c = ag.lock();
    if let Some(x) = reactivate_refusal(&c, &id) {
        return Err(x);
    }
    // Saved before the registration check.
    c.drain = None;
    c.drain_epoch += 1;
    c.deactivated = false;
    c.est_drain_start_ns = None;
    if !c.link.registered() {
        return Err(text(409, "Agent removed while processing the call"));
    }
    ok_empty()
}

pub(crate) async fn mark_agent_gone(sh: &Arc<Shared>, sub: &Value) -> Answer {
    let id = agent_id_of(sub);
    let ag = sh.agent_by_id(&id);
    {
        let mut c = ag.lock();
        if c.gone_ids.contains(&id) {
            return ok_empty();
        }
        if id != c.agent_id || !c.known() {
            return Err(text(404, format!("Agent '{id}' not found")));
        }
        if c.marking_gone {
            return Err(text(
                503,
                format!("Agent '{id}' is already being transitioned to gone"),
            ));
        }
        c.marking_gone = true;
    }
    registry_write(sh).await;
    let mut c = ag.lock();
    c.marking_gone = false;
    if id == c.agent_id && c.known() {
        ag.mark_gone_now(&mut c);
    }
    ok_empty()
}

fn machine_str(m: &Value) -> String {
    let mut o = Map::new();
    if let Some(h) = m.get("hostname") {
        o.insert("hostname".into(), h.clone());
    }
    if let Some(i) = m.get("ip") {
        o.insert("ip".into(), i.clone());
    }
    Value::Object(o).to_string()
}

fn validate_schedule(c: &Core, schedule: &Value) -> Result<(), String> {
    let mut seen: Vec<Value> = Vec::new();
    for w in schedule
        .get("windows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ms = w
            .get("machine_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if ms.is_empty() {
            return Err("List of machines in the maintenance window is empty".into());
        }
        if w.pointer("/unavailability/duration/nanoseconds")
            .and_then(Value::as_i64)
            .is_some_and(|d| d < 0)
        {
            return Err("Unavailability 'duration' is negative".into());
        }
        for m in ms {
            let h = m.get("hostname").and_then(Value::as_str).unwrap_or("");
            let ip = m.get("ip").and_then(Value::as_str);
            if h.is_empty() && ip.unwrap_or("").is_empty() {
                return Err("Both 'hostname' and 'ip' for a machine are empty".into());
            }
            if let Some(ip) = ip.filter(|s| !s.is_empty()) {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(format!("Failed to parse IP '{ip}'"));
                }
            }
            if seen.iter().any(|s| machine_eq(s, &m)) {
                return Err(format!(
                    "Machine '{}' appears more than once in the schedule",
                    machine_str(&m)
                ));
            }
            seen.push(m);
        }
    }
    for d in &c.down {
        if !seen.iter().any(|s| machine_eq(s, d)) {
            return Err(format!(
                "Machine '{}' is deactivated and cannot be removed from the schedule",
                machine_str(d)
            ));
        }
    }
    Ok(())
}

pub(crate) async fn update_schedule(sh: &Arc<Shared>, schedule: Value) -> Answer {
    if let Err(e) = validate_schedule(&sh.lock(), &schedule) {
        return Err(text(400, e));
    }
    registry_write(sh).await;
    sh.lock().schedule = schedule;
    ok_empty()
}

pub(crate) async fn machine_updown(sh: &Arc<Shared>, machines: Vec<Value>, down: bool) -> Answer {
    {
        let c = sh.lock();
        if machines.is_empty() {
            return Err(text(400, "List of machines is empty"));
        }
        for m in &machines {
            if !c.in_schedule(m) {
                return Err(text(
                    400,
                    format!(
                        "Machine '{}' is not part of a maintenance schedule",
                        machine_str(m)
                    ),
                ));
            }
            if down && c.is_down(m) {
                return Err(text(
                    400,
                    format!(
                        "Machine '{}' is not in DRAINING mode and cannot be brought down",
                        machine_str(m)
                    ),
                ));
            }
            if !down && !c.is_down(m) {
                return Err(text(
                    400,
                    format!(
                        "Machine '{}' is not in DOWN mode and cannot be brought up",
                        machine_str(m)
                    ),
                ));
            }
        }
    }
    registry_write(sh).await;
    if down {
        // Every local agent on a machine brought down is removed (the first one's state also
        // holds the master's, so it is locked on its own, never together with another's).
        for ag in sh.local_agents() {
            let mut c = ag.lock();
            let me = c.machine();
            if machines.iter().any(|m| machine_eq(m, &me)) && c.known() {
                ag.remove_agent(&mut c, "TASK_LOST", "REASON_AGENT_REMOVED");
            }
        }
    }
    let mut c = sh.lock();
    for m in machines {
        if down {
            if !c.is_down(&m) {
                c.down.push(m.clone());
            }
        } else {
            c.down.retain(|d| !machine_eq(d, &m));
            if let Some(ws) = c.schedule.get_mut("windows").and_then(Value::as_array_mut) {
                for w in ws.iter_mut() {
                    if let Some(ids) = w.get_mut("machine_ids").and_then(Value::as_array_mut) {
                        ids.retain(|x| !machine_eq(x, &m));
                    }
                }
                ws.retain(|w| {
                    w.get("machine_ids")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty())
                });
            }
        }
    }
    let _ = schedule_machines(&c.schedule);
    ok_empty()
}
