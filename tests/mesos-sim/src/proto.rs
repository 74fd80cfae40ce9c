//! A small imitation of stout's reflection-based JSON → protobuf parser
//! (`stout/protobuf.hpp`), for the few messages the simulator understands.
//!
//! Behaviour reproduced: keys are proto field names (unknown keys silently ignored, keys
//! visited in sorted order like `std::map`), `null` means unset, enums must be name strings
//! (unknown names in optional fields dropped), integers accept numbers or numeric strings,
//! a message field needs an object ("Not expecting a JSON string for field '…'"), a
//! non-repeated field refuses an array, and required fields are checked once at the top
//! ("Missing required fields: drain_agent.agent_id").

use serde_json::{Map, Number, Value};

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Bool,
    I64,
    I32,
    Enum(&'static [&'static str]),
    Msg(&'static [Field]),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    Opt,
    Req,
    Rep,
}

pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub label: Label,
}

const fn f(name: &'static str, kind: Kind, label: Label) -> Field {
    Field { name, kind, label }
}

use Kind::*;
use Label::*;

pub(crate) static MASTER_CALL_TYPES: &[&str] = &[
    "UNKNOWN",
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL",
    "LIST_FILES",
    "READ_FILE",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_OPERATIONS",
    "GET_TASKS",
    "GET_ROLES",
    "GET_WEIGHTS",
    "UPDATE_WEIGHTS",
    "GET_MASTER",
    "SUBSCRIBE",
    "RESERVE_RESOURCES",
    "UNRESERVE_RESOURCES",
    "CREATE_VOLUMES",
    "DESTROY_VOLUMES",
    "GROW_VOLUME",
    "SHRINK_VOLUME",
    "GET_MAINTENANCE_STATUS",
    "GET_MAINTENANCE_SCHEDULE",
    "UPDATE_MAINTENANCE_SCHEDULE",
    "START_MAINTENANCE",
    "STOP_MAINTENANCE",
    "DRAIN_AGENT",
    "DEACTIVATE_AGENT",
    "REACTIVATE_AGENT",
    "GET_QUOTA",
    "UPDATE_QUOTA",
    "SET_QUOTA",
    "REMOVE_QUOTA",
    "TEARDOWN",
    "MARK_AGENT_GONE",
];

pub(crate) static AGENT_CALL_TYPES: &[&str] = &[
    "UNKNOWN",
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL",
    "LIST_FILES",
    "READ_FILE",
    "GET_STATE",
    "GET_CONTAINERS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_OPERATIONS",
    "GET_TASKS",
    "GET_AGENT",
    "GET_RESOURCE_PROVIDERS",
    "LAUNCH_NESTED_CONTAINER",
    "WAIT_NESTED_CONTAINER",
    "KILL_NESTED_CONTAINER",
    "REMOVE_NESTED_CONTAINER",
    "LAUNCH_NESTED_CONTAINER_SESSION",
    "ATTACH_CONTAINER_INPUT",
    "ATTACH_CONTAINER_OUTPUT",
    "LAUNCH_CONTAINER",
    "WAIT_CONTAINER",
    "KILL_CONTAINER",
    "REMOVE_CONTAINER",
    "ADD_RESOURCE_PROVIDER_CONFIG",
    "UPDATE_RESOURCE_PROVIDER_CONFIG",
    "REMOVE_RESOURCE_PROVIDER_CONFIG",
    "MARK_RESOURCE_PROVIDER_GONE",
    "PRUNE_IMAGES",
];

static ID: &[Field] = &[f("value", Str, Req)];
static DURATION: &[Field] = &[f("seconds", I64, Opt), f("nanos", I32, Opt)];
static DURATION_INFO: &[Field] = &[f("nanoseconds", I64, Req)];
static MACHINE_ID: &[Field] = &[f("hostname", Str, Opt), f("ip", Str, Opt)];
static UNAVAILABILITY: &[Field] = &[
    f("start", Msg(DURATION_INFO), Req),
    f("duration", Msg(DURATION_INFO), Opt),
];
static WINDOW: &[Field] = &[
    f("machine_ids", Msg(MACHINE_ID), Rep),
    f("unavailability", Msg(UNAVAILABILITY), Req),
];
pub(crate) static SCHEDULE: &[Field] = &[f("windows", Msg(WINDOW), Rep)];
static DRAIN_AGENT: &[Field] = &[
    f("agent_id", Msg(ID), Req),
    f("max_grace_period", Msg(DURATION), Opt),
    f("mark_gone", Bool, Opt),
];
static AGENT_REF: &[Field] = &[f("agent_id", Msg(ID), Req)];
static UPDATE_SCHEDULE: &[Field] = &[f("schedule", Msg(SCHEDULE), Req)];
static MACHINES: &[Field] = &[f("machines", Msg(MACHINE_ID), Rep)];
static TEARDOWN: &[Field] = &[f("framework_id", Msg(ID), Req)];
static GET_METRICS: &[Field] = &[f("timeout", Msg(DURATION_INFO), Opt)];

pub(crate) static MASTER_CALL: &[Field] = &[
    f("type", Enum(MASTER_CALL_TYPES), Opt),
    f("get_metrics", Msg(GET_METRICS), Opt),
    f("update_maintenance_schedule", Msg(UPDATE_SCHEDULE), Opt),
    f("start_maintenance", Msg(MACHINES), Opt),
    f("stop_maintenance", Msg(MACHINES), Opt),
    f("teardown", Msg(TEARDOWN), Opt),
    f("mark_agent_gone", Msg(AGENT_REF), Opt),
    f("drain_agent", Msg(DRAIN_AGENT), Opt),
    f("deactivate_agent", Msg(AGENT_REF), Opt),
    f("reactivate_agent", Msg(AGENT_REF), Opt),
];

pub(crate) static AGENT_CALL: &[Field] = &[
    f("type", Enum(AGENT_CALL_TYPES), Opt),
    f("get_metrics", Msg(GET_METRICS), Opt),
];

/// Parses a top-level message. The error is stout's detail (the caller prefixes
/// "Failed to convert JSON into Call protobuf: ").
pub(crate) fn parse(fields: &'static [Field], v: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(obj) = v else {
        return Err("Expecting a JSON object".into());
    };
    let msg = parse_object(fields, obj)?;
    let mut missing = Vec::new();
    missing_required(fields, &msg, "", &mut missing);
    if !missing.is_empty() {
        return Err(format!("Missing required fields: {}", missing.join(", ")));
    }
    Ok(msg)
}

fn parse_object(
    fields: &'static [Field],
    obj: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for k in keys {
        let Some(field) = fields.iter().find(|f| f.name == k.as_str()) else {
            continue; // unknown keys are silently ignored
        };
        visit(field, &obj[k], &mut out)?;
    }
    Ok(out)
}

fn set(field: &Field, out: &mut Map<String, Value>, v: Value) {
    if field.label == Rep {
        match out.get_mut(field.name) {
            Some(Value::Array(a)) => a.push(v),
            _ => {
                out.insert(field.name.to_owned(), Value::Array(vec![v]));
            }
        }
    } else {
        out.insert(field.name.to_owned(), v);
    }
}

fn not_expecting(what: &str, field: &Field) -> String {
    format!("Not expecting a JSON {what} for field '{}'", field.name)
}

fn visit(field: &Field, v: &Value, out: &mut Map<String, Value>) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Object(o) => match field.kind {
            Msg(sub) => {
                let m = parse_object(sub, o)?;
                set(field, out, Value::Object(m));
                Ok(())
            }
            _ => Err(not_expecting("object", field)),
        },
        Value::String(s) => match field.kind {
            Str => {
                set(field, out, Value::String(s.clone()));
                Ok(())
            }
            Enum(names) => {
                if names.contains(&s.as_str()) {
                    set(field, out, Value::String(s.clone()));
                    Ok(())
                } else if field.label == Req {
                    Err(format!("Failed to find enum for '{s}'"))
                } else {
                    Ok(()) // unknown name in an optional enum: dropped
                }
            }
            I64 | I32 => {
                let n: i64 = s.parse().map_err(|_| {
                    format!(
                        "Failed to convert '{s}' to number for field '{}'",
                        field.name
                    )
                })?;
                let n = if matches!(field.kind, I32) {
                    n as i32 as i64
                } else {
                    n
                };
                set(field, out, Value::Number(n.into()));
                Ok(())
            }
            Bool => match s.as_str() {
                "true" => {
                    set(field, out, Value::Bool(true));
                    Ok(())
                }
                "false" => {
                    set(field, out, Value::Bool(false));
                    Ok(())
                }
                _ => Err(format!(
                    "Failed to convert '{s}' to boolean for field '{}'",
                    field.name
                )),
            },
            Msg(_) => Err(not_expecting("string", field)),
        },
        Value::Number(n) => match field.kind {
            I64 => {
                set(field, out, Value::Number(int(n).into()));
                Ok(())
            }
            I32 => {
                set(field, out, Value::Number((int(n) as i32).into()));
                Ok(())
            }
            _ => Err(not_expecting("number", field)),
        },
        Value::Bool(b) => match field.kind {
            Bool => {
                set(field, out, Value::Bool(*b));
                Ok(())
            }
            _ => Err(not_expecting("boolean", field)),
        },
        Value::Array(items) => {
            if field.label != Rep {
                return Err(not_expecting("array", field));
            }
            for item in items {
                visit(field, item, out)?;
            }
            Ok(())
        }
    }
}

fn int(n: &Number) -> i64 {
    if let Some(i) = n.as_i64() {
        i
    } else if let Some(u) = n.as_u64() {
        u as i64
    } else {
        n.as_f64().unwrap_or(0.0) as i64
    }
}

fn missing_required(
    fields: &'static [Field],
    msg: &Map<String, Value>,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for field in fields {
        let v = msg.get(field.name);
        if field.label == Req && v.is_none() {
            out.push(format!("{prefix}{}", field.name));
        }
        let Msg(sub) = field.kind else { continue };
        match (field.label, v) {
            (Rep, Some(Value::Array(items))) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(m) = item {
                        missing_required(sub, m, &format!("{prefix}{}[{i}].", field.name), out);
                    }
                }
            }
            (_, Some(Value::Object(m))) => {
                missing_required(sub, m, &format!("{prefix}{}.", field.name), out);
            }
            _ => {}
        }
    }
}

/// `agent_id.value` of a parsed sub-message.
pub(crate) fn agent_id_of(sub: &Value) -> String {
    sub.pointer("/agent_id/value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Result<Map<String, Value>, String> {
        parse(MASTER_CALL, &v)
    }

    #[test]
    fn string_duration_is_refused() {
        let e = p(json!({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"x"},"max_grace_period":"10mins"}}))
            .unwrap_err();
        assert_eq!(
            e,
            "Not expecting a JSON string for field 'max_grace_period'"
        );
    }

    #[test]
    fn number_type_is_refused() {
        assert_eq!(
            p(json!({"type": 37})).unwrap_err(),
            "Not expecting a JSON number for field 'type'"
        );
    }

    #[test]
    fn unknown_type_is_dropped_and_camel_case_ignored() {
        let m = p(json!({"type":"DRAIN_AGENTS"})).unwrap();
        assert!(m.get("type").is_none());
        let m = p(json!({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"x"},"maxGracePeriod":{"seconds":5}}}))
            .unwrap();
        assert!(m["drain_agent"].get("max_grace_period").is_none());
        let e =
            p(json!({"type":"DRAIN_AGENT","drain_agent":{"agentId":{"value":"x"}}})).unwrap_err();
        assert_eq!(e, "Missing required fields: drain_agent.agent_id");
    }

    #[test]
    fn integers_accept_numeric_strings() {
        let m = p(json!({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"x"},"max_grace_period":{"seconds":"600","nanos":5}}}))
            .unwrap();
        assert_eq!(m["drain_agent"]["max_grace_period"]["seconds"], json!(600));
        assert!(p(
            json!({"drain_agent":{"agent_id":{"value":"x"},"max_grace_period":{"seconds":"ten"}}})
        )
        .is_err());
    }

    #[test]
    fn nested_required_paths() {
        let e = p(json!({"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[{"machine_ids":[{"hostname":"a"}]}]}}}))
            .unwrap_err();
        assert_eq!(e, "Missing required fields: update_maintenance_schedule.schedule.windows[0].unavailability");
        assert_eq!(p(json!([1])).unwrap_err(), "Expecting a JSON object");
        assert_eq!(
            p(json!({"drain_agent":{"agent_id":["x"]}})).unwrap_err(),
            "Not expecting a JSON array for field 'agent_id'"
        );
    }
}
