use std::time::Duration;

use serde_json::json;

use super::*;

#[test]
fn drain_agent_request_with_grace_period() {
    let v = Call::drain_agent("S1", Some(Duration::from_millis(90_500)), false);
    assert_eq!(
        v,
        json!({"type":"DRAIN_AGENT","drain_agent":{
            "agent_id":{"value":"S1"},
            "max_grace_period":{"seconds":90,"nanos":500_000_000},
            "mark_gone":false}})
    );
}

#[test]
fn drain_agent_request_whole_seconds_and_zero() {
    let v = Call::drain_agent("S1", Some(Duration::from_secs(600)), true);
    assert_eq!(v["drain_agent"]["max_grace_period"], json!({"seconds":600}));
    assert_eq!(v["drain_agent"]["mark_gone"], json!(true));
    // Some(0) is "kill at once" and must still be sent, as an object.
    let v = Call::drain_agent("S1", Some(Duration::ZERO), false);
    assert_eq!(v["drain_agent"]["max_grace_period"], json!({"seconds":0}));
}

#[test]
fn drain_agent_request_without_grace_period_omits_the_key() {
    let v = Call::drain_agent("S1", None, false);
    assert_eq!(
        v,
        json!({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"S1"},"mark_gone":false}})
    );
    assert!(!v.to_string().contains("max_grace_period"));
}

#[test]
fn agent_id_calls() {
    assert_eq!(
        Call::deactivate_agent("a-S2"),
        json!({"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"a-S2"}}})
    );
    assert_eq!(
        Call::reactivate_agent("a-S2"),
        json!({"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"a-S2"}}})
    );
    assert_eq!(
        Call::mark_agent_gone("a-S2"),
        json!({"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"a-S2"}}})
    );
    assert_eq!(Call::simple("GET_TASKS"), json!({"type":"GET_TASKS"}));
}

const BIG_NS: i64 = 1_566_970_849_683_100_928; // > 2^53: f64 would round it

#[test]
fn get_agents_1_11_style() {
    let body = format!(
        r#"{{"type":"GET_AGENTS","get_agents":{{
        "agents":[{{
          "agent_info":{{"hostname":"10.0.1.5","port":5051,"id":{{"value":"abc-S3"}},
                        "resources":[{{"name":"cpus","type":"SCALAR","scalar":{{"value":4.0}}}}],
                        "attributes":[],"domain":{{"fault_domain":{{"region":{{"name":"r"}}}}}}}},
          "active":false,"deactivated":true,"version":"1.11.0",
          "pid":"slave(1)@10.0.1.5:5051",
          "registered_time":{{"nanoseconds":{BIG_NS}}},
          "total_resources":[],"allocated_resources":[],"offered_resources":[],
          "capabilities":[{{"type":"MULTI_ROLE"}},{{"type":"AGENT_DRAINING"}},{{"type":"SOMETHING_NEW"}}],
          "resource_providers":[],
          "drain_info":{{"state":"DRAINING","config":{{"max_grace_period":{{"nanoseconds":600000000000}},"mark_gone":false}}}},
          "estimated_drain_start_time":{{"nanoseconds":{BIG_NS}}},
          "a_future_field":{{"x":[1,2,3]}}
        }}],
        "recovered_agents":[]}}}}"#
    );
    let r: MasterResponseWire = serde_json::from_str(&body).unwrap();
    assert_eq!(r.kind.as_deref(), Some("GET_AGENTS"));
    let ga = r.get_agents.unwrap();
    assert!(ga.recovered_agents.is_empty());
    let a = &ga.agents[0];
    assert_eq!(a.agent_info.id.as_ref().unwrap().value, "abc-S3");
    assert_eq!(a.agent_info.port, Some(5051));
    assert!(!a.active && a.deactivated);
    assert_eq!(a.registered_time.unwrap().nanoseconds, BIG_NS);
    assert_eq!(a.estimated_drain_start_time.unwrap().nanoseconds, BIG_NS);
    let d = a.drain_info.as_ref().unwrap();
    assert_eq!(d.state, "DRAINING");
    assert_eq!(
        d.config.max_grace_period.unwrap().nanoseconds,
        600_000_000_000
    );
}

#[test]
fn get_agents_1_9_style_and_empty() {
    // 1.9: empty arrays are left out, whole sub-message may be {}.
    let r: MasterResponseWire =
        serde_json::from_str(r#"{"type":"GET_AGENTS","get_agents":{}}"#).unwrap();
    let ga = r.get_agents.unwrap();
    assert!(ga.agents.is_empty() && ga.recovered_agents.is_empty());

    let r: MasterResponseWire = serde_json::from_str(
        r#"{"get_agents":{"recovered_agents":[{"hostname":"h","port":5051,"id":{"value":"R1"}}],
             "agents":[{"agent_info":{"hostname":"h2","port":5051,"id":{"value":"S9"}},
                        "active":true,"deactivated":false,
                        "drain_info":{"state":"SOME_FUTURE_STATE","config":{"mark_gone":true}}}]},
            "type":"GET_AGENTS"}"#,
    )
    .unwrap();
    let ga = r.get_agents.unwrap();
    assert_eq!(ga.recovered_agents[0].id.as_ref().unwrap().value, "R1");
    let d = ga.agents[0].drain_info.as_ref().unwrap();
    assert_eq!(d.state, "SOME_FUTURE_STATE");
    assert!(d.config.mark_gone);
    assert_eq!(d.config.max_grace_period, None);
}

#[test]
fn v0_slaves_plain_string_and_object_ids() {
    let r: SlavesV0Wire = serde_json::from_str(
        r#"{"slaves":[{"id":"S1","hostname":"10.0.1.5","port":5051,"attributes":{},
              "pid":"slave(1)@10.0.1.5:5051","registered_time":1566970849.68,
              "resources":{"cpus":4,"mem":1024,"ports":"[31000-32000]"},
              "active":false,"deactivated":true,"version":"1.9.0","capabilities":["MULTI_ROLE"],
              "drain_info":{"state":"DRAINED","config":{"mark_gone":false}},
              "estimated_drain_start_time_seconds":1566970849.0}],
            "recovered_slaves":[{"id":{"value":"S2"},"hostname":"h"}]}"#,
    )
    .unwrap();
    assert_eq!(r.slaves[0].id, FlexId("S1".into()));
    assert_eq!(r.slaves[0].drain_info.as_ref().unwrap().state, "DRAINED");
    assert_eq!(r.recovered_slaves[0].id, FlexId("S2".into()));
    let empty: SlavesV0Wire = serde_json::from_str("{}").unwrap();
    assert!(empty.slaves.is_empty());
}

#[test]
fn agent_get_tasks_both_styles() {
    let r: AgentResponseWire =
        serde_json::from_str(r#"{"type":"GET_TASKS","get_tasks":{}}"#).unwrap();
    assert_eq!(r.get_tasks.unwrap(), GetTasksWire::default());

    let r: AgentResponseWire = serde_json::from_str(
        r#"{"type":"GET_TASKS","get_tasks":{
          "pending_tasks":[],"queued_tasks":[],
          "launched_tasks":[{"name":"web","task_id":{"value":"web.1"},"framework_id":{"value":"F1"},
             "executor_id":{"value":"E"},"agent_id":{"value":"S1"},"state":"TASK_RUNNING",
             "resources":[],"statuses":[{"task_id":{"value":"web.1"},"state":"TASK_RUNNING",
               "uuid":"0RC72iyRTQefoUL0ClcL0g==","timestamp":1566970849.683,"source":"SOURCE_EXECUTOR"}],
             "status_update_state":"TASK_RUNNING","status_update_uuid":"0RC72iyRTQefoUL0ClcL0g==",
             "limits":{"cpus":{"value":2}},"labels":{"labels":[]}}],
          "terminated_tasks":[{"name":"x","task_id":{"value":"x.1"},"framework_id":{"value":"F2"},
             "state":"TASK_WEIRD_NEW"}],
          "completed_tasks":[]}}"#,
    )
    .unwrap();
    let t = r.get_tasks.unwrap();
    assert_eq!(t.launched_tasks[0].task_id.value, "web.1");
    assert_eq!(
        t.launched_tasks[0].status_update_uuid.as_deref(),
        Some("0RC72iyRTQefoUL0ClcL0g==")
    );
    assert_eq!(
        t.launched_tasks[0].statuses[0].uuid.as_deref(),
        Some("0RC72iyRTQefoUL0ClcL0g==")
    );
    assert_eq!(t.terminated_tasks[0].state, "TASK_WEIRD_NEW");
    assert_eq!(t.terminated_tasks[0].status_update_state, None);
}

#[test]
fn agent_get_operations_empty_object_and_full() {
    let r: AgentResponseWire =
        serde_json::from_str(r#"{"type":"GET_OPERATIONS","get_operations":{}}"#).unwrap();
    assert!(r.get_operations.unwrap().operations.is_empty());

    let r: AgentResponseWire = serde_json::from_str(
        r#"{"type":"GET_OPERATIONS","get_operations":{"operations":[{
            "framework_id":{"value":"F1"},"agent_id":{"value":"S1"},
            "info":{"type":"CREATE_DISK","id":{"value":"op-1"},"create_disk":{}},
            "latest_status":{"operation_id":{"value":"op-1"},"state":"OPERATION_PENDING",
                             "uuid":{"value":"q83vEjRWeJCrze8SNFZ4kA=="},"converted_resources":[]},
            "statuses":[],"uuid":{"value":"AAECAwQFBgcICQoLDA0ODw=="}}]}}"#,
    )
    .unwrap();
    let op = &r.get_operations.unwrap().operations[0];
    assert_eq!(
        op.info.as_ref().unwrap().kind.as_deref(),
        Some("CREATE_DISK")
    );
    assert_eq!(
        op.latest_status.as_ref().unwrap().state.as_deref(),
        Some("OPERATION_PENDING")
    );
    assert_eq!(op.uuid.as_ref().unwrap().value, "AAECAwQFBgcICQoLDA0ODw==");
}

#[test]
fn agent_get_agent_with_drain_config() {
    let r: AgentResponseWire = serde_json::from_str(&format!(
        r#"{{"type":"GET_AGENT","get_agent":{{
          "agent_info":{{"hostname":"10.0.1.5","port":5051,"id":{{"value":"S1"}},"resources":[]}},
          "drain_config":{{"max_grace_period":{{"nanoseconds":600000000000}},"mark_gone":false}},
          "estimated_drain_start_time":{{"nanoseconds":{BIG_NS}}}}}}}"#
    ))
    .unwrap();
    let ga = r.get_agent.unwrap();
    assert_eq!(ga.agent_info.id.unwrap().value, "S1");
    assert_eq!(ga.estimated_drain_start_time.unwrap().nanoseconds, BIG_NS);
    // An agent without an id yet.
    let r: AgentResponseWire = serde_json::from_str(
        r#"{"type":"GET_AGENT","get_agent":{"agent_info":{"hostname":"h","port":5051}}}"#,
    )
    .unwrap();
    assert_eq!(r.get_agent.unwrap().agent_info.id, None);
}

#[test]
fn agent_state_v0() {
    let r: AgentStateV0Wire = serde_json::from_str(
        r#"{"version":"1.9.0","id":"S1","pid":"slave(1)@10.0.1.5:5051","hostname":"10.0.1.5",
            "capabilities":["MULTI_ROLE"],"master_hostname":"10.0.4.125",
            "flags":{"master":"zk://zk-1.zk:2181/mesos","port":"5051"},
            "frameworks":[{"executors":[{"tasks":[{"id":"t"}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(r.id.as_deref(), Some("S1"));
    assert_eq!(r.flags.master.as_deref(), Some("zk://zk-1.zk:2181/mesos"));
    let r: AgentStateV0Wire = serde_json::from_str("{}").unwrap();
    assert_eq!(r.flags.master, None);
}
