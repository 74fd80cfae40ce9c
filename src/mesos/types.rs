//! Serde wire types of the operator API (v1 JSON as stout writes and parses it, plus the few v0
//! endpoints we read).
//!
//! Requests: proto field names (snake_case), enums as name strings, `google.protobuf.Duration` as
//! `{"seconds","nanos"}`. Responses: every repeated field and every object that may come back as
//! `{}` is defaulted (Mesos 1.9 leaves empty arrays out, 1.10+ writes them), unknown fields are
//! ignored, enum values are kept as strings so that a newer master's names do not break parsing,
//! int64 nanoseconds stay integers (they exceed 2^53).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Requests

/// `master::Call.Type` / `agent::Call.Type` names used by this tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallType {
    DrainAgent,
    DeactivateAgent,
    ReactivateAgent,
    MarkAgentGone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRef {
    pub value: String,
}

impl IdRef {
    fn new(id: &str) -> IdRef {
        IdRef {
            value: id.to_string(),
        }
    }
}

/// `google.protobuf.Duration` as stout parses it. Zero nanos are left out, as the DC/OS CLI does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProtoDuration {
    pub seconds: i64,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub nanos: i32,
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

impl From<Duration> for ProtoDuration {
    fn from(d: Duration) -> ProtoDuration {
        ProtoDuration {
            // A grace period beyond i64 seconds is nonsense; saturate rather than wrap negative.
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos() as i32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct DrainAgentBody {
    agent_id: IdRef,
    /// Absent means "each task's own kill policy"; `{"seconds":0}` would mean "kill at once".
    #[serde(skip_serializing_if = "Option::is_none")]
    max_grace_period: Option<ProtoDuration>,
    mark_gone: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct AgentIdBody {
    agent_id: IdRef,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct CallBody<B> {
    #[serde(rename = "type")]
    kind: CallType,
    #[serde(flatten)]
    body: B,
}

#[derive(Serialize)]
struct DrainAgentCall {
    drain_agent: DrainAgentBody,
}
#[derive(Serialize)]
struct DeactivateAgentCall {
    deactivate_agent: AgentIdBody,
}
#[derive(Serialize)]
struct ReactivateAgentCall {
    reactivate_agent: AgentIdBody,
}
#[derive(Serialize)]
struct MarkAgentGoneCall {
    mark_agent_gone: AgentIdBody,
}

/// Request bodies for `POST /api/v1`.
pub struct Call;

impl Call {
    /// A call without a sub-message, e.g. `Call::simple("GET_TASKS")`.
    pub fn simple(kind: &str) -> Value {
        serde_json::json!({ "type": kind })
    }

    pub fn drain_agent(agent_id: &str, max_grace: Option<Duration>, mark_gone: bool) -> Value {
        to_value(&CallBody {
            kind: CallType::DrainAgent,
            body: DrainAgentCall {
                drain_agent: DrainAgentBody {
                    agent_id: IdRef::new(agent_id),
                    max_grace_period: max_grace.map(ProtoDuration::from),
                    mark_gone,
                },
            },
        })
    }

    pub fn deactivate_agent(agent_id: &str) -> Value {
        let deactivate_agent = AgentIdBody {
            agent_id: IdRef::new(agent_id),
        };
        to_value(&CallBody {
            kind: CallType::DeactivateAgent,
            body: DeactivateAgentCall { deactivate_agent },
        })
    }

    pub fn reactivate_agent(agent_id: &str) -> Value {
        let reactivate_agent = AgentIdBody {
            agent_id: IdRef::new(agent_id),
        };
        to_value(&CallBody {
            kind: CallType::ReactivateAgent,
            body: ReactivateAgentCall { reactivate_agent },
        })
    }

    pub fn mark_agent_gone(agent_id: &str) -> Value {
        let mark_agent_gone = AgentIdBody {
            agent_id: IdRef::new(agent_id),
        };
        to_value(&CallBody {
            kind: CallType::MarkAgentGone,
            body: MarkAgentGoneCall { mark_agent_gone },
        })
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // Plain structs of strings, ints and bools cannot fail to serialise.
    serde_json::to_value(v).expect("request types always serialise")
}

// ---------------------------------------------------------------------------------------------
// Shared response pieces

/// `{"value": "..."}` (AgentID, FrameworkID, TaskID, OperationID, UUID with a base64 value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct IdValue {
    pub value: String,
}

/// `DurationInfo` / `TimeInfo`: `{"nanoseconds": <int64>}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Nanos {
    pub nanoseconds: i64,
}

/// An id that v1 writes as `{"value":"…"}` and v0 `SlaveWriter` as a plain string; accept both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlexId(pub String);

impl<'de> Deserialize<'de> for FlexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FlexId, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Plain(String),
            Wrapped(IdValue),
        }
        Ok(match Either::deserialize(d)? {
            Either::Plain(s) => FlexId(s),
            Either::Wrapped(v) => FlexId(v.value),
        })
    }
}

/// `AgentInfo` (master GET_AGENTS `agent_info`, `recovered_agents[]`, agent GET_AGENT).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentInfoWire {
    pub hostname: String,
    /// int32 on the wire; kept wide so an odd value is rejected later, not here.
    pub port: Option<i64>,
    pub id: Option<IdValue>,
}

/// `DrainConfig`: the response side uses `DurationInfo`, not `google.protobuf.Duration`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DrainConfigWire {
    pub max_grace_period: Option<Nanos>,
    pub mark_gone: bool,
}

/// `DrainInfo`: `state` is a `DrainState` name kept as a string. Only a JSON object is one:
/// serde would also read a struct from an array, and `["DRAINED"]` would then say DRAINED
/// (found by tests/fuzz).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrainInfoWire {
    pub state: String,
    pub config: DrainConfigWire,
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct DrainInfoFields {
    state: String,
    config: DrainConfigWire,
}

impl<'de> Deserialize<'de> for DrainInfoWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DrainInfoWire, D::Error> {
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = DrainInfoWire;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a drain_info object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<DrainInfoWire, A::Error> {
                let f = DrainInfoFields::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(DrainInfoWire {
                    state: f.state,
                    config: f.config,
                })
            }
        }
        d.deserialize_map(ObjectOnly)
    }
}

// ---------------------------------------------------------------------------------------------
// Master responses

/// One `get_agents.agents[]` entry (only the fields this tool uses).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentEntryWire {
    pub agent_info: AgentInfoWire,
    pub active: bool,
    pub deactivated: bool,
    pub version: Option<String>,
    pub pid: Option<String>,
    pub registered_time: Option<Nanos>,
    pub drain_info: Option<DrainInfoWire>,
    pub estimated_drain_start_time: Option<Nanos>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GetAgentsWire {
    pub agents: Vec<AgentEntryWire>,
    pub recovered_agents: Vec<AgentInfoWire>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MasterResponseWire {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub get_agents: Option<GetAgentsWire>,
}

/// v0 `SlaveWriter` entry from `GET /master/slaves` (`id` is a plain string there).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SlaveV0Wire {
    pub id: FlexId,
    pub hostname: String,
    pub pid: Option<String>,
    pub active: bool,
    pub deactivated: bool,
    pub drain_info: Option<DrainInfoWire>,
}

/// v0 `GET /master/slaves` answer. `recovered_slaves` are protobuf-JSON `SlaveInfo`s, whose `id`
/// is an object; `FlexId` takes either form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SlavesV0Wire {
    pub slaves: Vec<SlaveV0Wire>,
    pub recovered_slaves: Vec<RecoveredSlaveV0Wire>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecoveredSlaveV0Wire {
    pub id: FlexId,
    pub hostname: String,
}

// ---------------------------------------------------------------------------------------------
// Agent responses

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GetAgentWire {
    pub agent_info: AgentInfoWire,
    /// Not the drain state (only the master's `drain_info` is); kept for diagnostics.
    pub drain_config: Option<DrainConfigWire>,
    pub estimated_drain_start_time: Option<Nanos>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskStatusWire {
    pub state: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// base64 bytes.
    pub uuid: Option<String>,
    /// A proto `double` (seconds since the epoch), unlike the int64 `TimeInfo`s.
    pub timestamp: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskWire {
    pub name: String,
    pub task_id: IdValue,
    pub framework_id: IdValue,
    pub executor_id: Option<IdValue>,
    pub agent_id: Option<IdValue>,
    pub state: String,
    pub status_update_state: Option<String>,
    /// base64 bytes.
    pub status_update_uuid: Option<String>,
    pub statuses: Vec<TaskStatusWire>,
    /// `Labels{labels: [Label{key, value}]}`: Marathon copies an app's labels here.
    pub labels: Option<LabelsWire>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LabelsWire {
    pub labels: Vec<LabelWire>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LabelWire {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GetTasksWire {
    pub pending_tasks: Vec<TaskWire>,
    pub queued_tasks: Vec<TaskWire>,
    pub launched_tasks: Vec<TaskWire>,
    pub terminated_tasks: Vec<TaskWire>,
    pub completed_tasks: Vec<TaskWire>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OfferOperationWire {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<IdValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OperationStatusWire {
    pub operation_id: Option<IdValue>,
    pub state: Option<String>,
    pub message: Option<String>,
    /// `UUID{value: base64}`.
    pub uuid: Option<IdValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OperationWire {
    pub framework_id: Option<IdValue>,
    pub agent_id: Option<IdValue>,
    pub info: Option<OfferOperationWire>,
    pub latest_status: Option<OperationStatusWire>,
    pub statuses: Vec<OperationStatusWire>,
    pub uuid: Option<IdValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GetOperationsWire {
    pub operations: Vec<OperationWire>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FrameworkInfoWire {
    pub id: Option<IdValue>,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FrameworkWire {
    pub framework_info: FrameworkInfoWire,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GetFrameworksWire {
    pub frameworks: Vec<FrameworkWire>,
    pub completed_frameworks: Vec<FrameworkWire>,
}

/// Agent `POST /api/v1` answer; only the sub-message matching `type` is present.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentResponseWire {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub get_agent: Option<GetAgentWire>,
    pub get_tasks: Option<GetTasksWire>,
    pub get_operations: Option<GetOperationsWire>,
    pub get_frameworks: Option<GetFrameworksWire>,
}

/// Agent v0 `GET /state`, the few top-level keys we need (`frameworks` is skipped unparsed).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentStateV0Wire {
    pub id: Option<String>,
    pub pid: Option<String>,
    pub hostname: Option<String>,
    pub master_hostname: Option<String>,
    pub flags: AgentFlagsWire,
}

/// v0 flags are all written as strings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentFlagsWire {
    pub master: Option<String>,
    pub work_dir: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Typed answers: one agent as the master sees it. Here rather than in `master.rs` so that both
// the master client and the GET_AGENTS scan build them without importing each other.

/// `DrainInfo.state` as the master reports it; names a newer master adds are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DrainState {
    Draining,
    Drained,
    Other(String),
}

impl DrainState {
    pub fn from_wire(name: &str) -> DrainState {
        match name {
            "DRAINING" => DrainState::Draining,
            "DRAINED" => DrainState::Drained,
            other => DrainState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            DrainState::Draining => "DRAINING",
            DrainState::Drained => "DRAINED",
            DrainState::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrainInfo {
    pub state: DrainState,
    pub mark_gone: bool,
    /// From the response-side `DurationInfo`; `None` when the drain has no cap.
    pub max_grace_period_ns: Option<i64>,
}

impl From<&DrainInfoWire> for DrainInfo {
    fn from(w: &DrainInfoWire) -> DrainInfo {
        DrainInfo {
            state: DrainState::from_wire(&w.state),
            mark_gone: w.config.mark_gone,
            max_grace_period_ns: w.config.max_grace_period.map(|d| d.nanoseconds),
        }
    }
}

/// One registered agent as the master sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MasterAgent {
    pub id: String,
    pub hostname: String,
    /// `slave(1)@<ip>:<port>`; the IP is what maintenance MachineIDs need.
    pub pid: Option<String>,
    /// Connected and not deactivated.
    pub active: bool,
    pub deactivated: bool,
    pub drain: Option<DrainInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AgentLookup {
    Registered(MasterAgent),
    /// Known from the registry after a master failover but not re-registered yet (no drain info).
    Recovered,
    /// In neither list: gone, unreachable, removed or unknown. Not "drained"; the caller decides.
    Absent,
}

#[cfg(test)]
mod tests;
