//! Maintenance primitives (API reference 6.6): machines, not agents. A `MachineID` matches the
//! master's own only with both the hostname (case-insensitive) and the IP of the agent's pid, so
//! this module builds it from those two and compares the same way.
//!
//! UPDATE_MAINTENANCE_SCHEDULE replaces the one cluster-wide schedule, so the schedule is edited
//! as JSON: other machines' windows go back exactly as they came, unknown fields included.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::error::MesosError;
use super::master::MasterClient;
use super::transport::shown;

/// This machine as the master names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MachineId {
    pub hostname: String,
    pub ip: String,
}

impl MachineId {
    /// From `AgentInfo.hostname` and the agent's pid (`slave(1)@10.0.1.5:5051`).
    pub fn from_pid(hostname: &str, pid: &str) -> Option<MachineId> {
        let (_, addr) = pid.rsplit_once('@')?;
        let (ip, _port) = addr.rsplit_once(':')?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<std::net::IpAddr>().ok()?;
        (!hostname.is_empty()).then(|| MachineId {
            hostname: hostname.to_string(),
            ip: ip.to_string(),
        })
    }

    /// Mesos' `operator==`: both fields present, hostname case-insensitive, IP exact.
    pub fn matches(&self, v: &Value) -> bool {
        let host = v.get("hostname").and_then(Value::as_str);
        let ip = v.get("ip").and_then(Value::as_str);
        host.is_some_and(|h| h.eq_ignore_ascii_case(&self.hostname)) && ip == Some(&self.ip)
    }

    fn to_value(&self) -> Value {
        json!({"hostname": self.hostname, "ip": self.ip})
    }
}

impl std::fmt::Display for MachineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.hostname, self.ip)
    }
}

/// `MachineInfo.Mode`. Not the DrainState DRAINING of DRAIN_AGENT: this one is about inverse
/// offers to frameworks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    Up,
    Draining,
    Down,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Up => "UP",
            Mode::Draining => "DRAINING",
            Mode::Down => "DOWN",
        })
    }
}

/// One unavailability of this machine, in int64 nanoseconds as the master writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start_unix_nanos: i64,
    /// `None`: no end.
    pub duration_nanos: Option<i64>,
}

/// A framework's answer to the inverse offer for this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InverseOffer {
    pub framework_id: String,
    pub status: String,
}

/// The machine a refusal names: `Machine '<json>' ...`.
pub fn named_machine(message: &str) -> Option<Value> {
    let rest = &message[message.find("Machine '")? + "Machine '".len()..];
    serde_json::from_str(&rest[..rest.find("' ")?]).ok()
}

/// The windows of `schedule` that list `me`.
pub fn windows_of(schedule: &Value, me: &MachineId) -> Vec<Window> {
    windows(schedule)
        .iter()
        .filter(|w| machine_ids(w).iter().any(|m| me.matches(m)))
        .map(|w| Window {
            start_unix_nanos: w
                .pointer("/unavailability/start/nanoseconds")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            duration_nanos: w
                .pointer("/unavailability/duration/nanoseconds")
                .and_then(Value::as_i64),
        })
        .collect()
}

/// `schedule` with `me` taken out of every window; windows left without machines are dropped
/// (the master refuses an empty one).
pub fn without_machine(schedule: &Value, me: &MachineId) -> Value {
    let mut out = schedule.as_object().cloned().unwrap_or_default();
    let kept: Vec<Value> = windows(schedule)
        .iter()
        .filter_map(|w| {
            let ids: Vec<Value> = machine_ids(w)
                .iter()
                .filter(|m| !me.matches(m))
                .cloned()
                .collect();
            if ids.is_empty() {
                return None;
            }
            let mut w = w.as_object().cloned().unwrap_or_default();
            w.insert("machine_ids".into(), Value::Array(ids));
            Some(Value::Object(w))
        })
        .collect();
    if kept.is_empty() {
        out.remove("windows");
    } else {
        out.insert("windows".into(), Value::Array(kept));
    }
    Value::Object(out)
}

/// `schedule` with `me` in exactly one window: its own, starting at `start_unix_nanos`.
pub fn with_window(schedule: &Value, me: &MachineId, window: Window) -> Value {
    let mut out = without_machine(schedule, me)
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut unavailability = Map::new();
    unavailability.insert(
        "start".into(),
        json!({"nanoseconds": window.start_unix_nanos}),
    );
    if let Some(d) = window.duration_nanos {
        unavailability.insert("duration".into(), json!({"nanoseconds": d}));
    }
    let mut ws = windows(&Value::Object(out.clone())).to_vec();
    ws.push(json!({"machine_ids": [me.to_value()], "unavailability": unavailability}));
    out.insert("windows".into(), Value::Array(ws));
    Value::Object(out)
}

/// This machine's mode in a `ClusterStatus`, with the inverse-offer answers while DRAINING.
pub fn mode_of(status: &Value, me: &MachineId) -> (Mode, Vec<InverseOffer>) {
    let list = |key: &str| {
        status
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if list("down_machines").iter().any(|m| me.matches(m)) {
        return (Mode::Down, Vec::new());
    }
    let draining = list("draining_machines");
    let Some(entry) = draining
        .iter()
        .find(|d| d.get("id").is_some_and(|m| me.matches(m)))
    else {
        return (Mode::Up, Vec::new());
    };
    let offers = entry
        .get("statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| InverseOffer {
            framework_id: s
                .pointer("/framework_id/value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            status: s
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("UNKNOWN")
                .to_string(),
        })
        .collect();
    (Mode::Draining, offers)
}

fn windows(schedule: &Value) -> &[Value] {
    schedule
        .get("windows")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn machine_ids(window: &Value) -> &[Value] {
    window
        .get("machine_ids")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl MasterClient {
    /// GET_MAINTENANCE_SCHEDULE: the whole cluster schedule (`{}` when empty).
    pub async fn maintenance_schedule(&self) -> Result<Value, MesosError> {
        self.read_field(
            "GET_MAINTENANCE_SCHEDULE",
            "/get_maintenance_schedule/schedule",
        )
        .await
    }

    /// GET_MAINTENANCE_STATUS: the `ClusterStatus` (`{}` when nothing is draining or down).
    pub async fn maintenance_status(&self) -> Result<Value, MesosError> {
        self.read_field("GET_MAINTENANCE_STATUS", "/get_maintenance_status/status")
            .await
    }

    /// UPDATE_MAINTENANCE_SCHEDULE: replaces the whole schedule (no compare-and-swap).
    pub async fn update_maintenance_schedule(&self, schedule: &Value) -> Result<(), MesosError> {
        self.write(&json!({
            "type": "UPDATE_MAINTENANCE_SCHEDULE",
            "update_maintenance_schedule": {"schedule": schedule},
        }))
        .await
    }

    /// START_MAINTENANCE: the machine goes DOWN and the master removes its agent at once.
    pub async fn start_maintenance(&self, me: &MachineId) -> Result<(), MesosError> {
        self.write(&json!({
            "type": "START_MAINTENANCE",
            "start_maintenance": {"machines": [me.to_value()]},
        }))
        .await
    }

    /// STOP_MAINTENANCE: the machine is UP again and leaves the schedule.
    pub async fn stop_maintenance(&self, me: &MachineId) -> Result<(), MesosError> {
        self.write(&json!({
            "type": "STOP_MAINTENANCE",
            "stop_maintenance": {"machines": [me.to_value()]},
        }))
        .await
    }

    async fn read_field(&self, kind: &str, pointer: &str) -> Result<Value, MesosError> {
        let (url, bytes) = self.read(&json!({ "type": kind })).await?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| MesosError::Decode {
            url: shown(&url),
            detail: e.to_string(),
        })?;
        // Mesos 1.9 leaves an empty message out altogether.
        Ok(v.pointer(pointer).cloned().unwrap_or_else(|| json!({})))
    }
}

#[cfg(test)]
mod tests;
