use serde_json::json;

use super::*;

fn me() -> MachineId {
    MachineId::from_pid("Node-7.example", "slave(1)@10.0.1.5:5051").unwrap()
}

#[test]
fn machine_id_comes_from_the_pid_and_needs_both_fields() {
    assert_eq!(
        me(),
        MachineId {
            hostname: "Node-7.example".into(),
            ip: "10.0.1.5".into()
        }
    );
    assert_eq!(
        MachineId::from_pid("h", "slave(1)@[fd00::5]:5051")
            .unwrap()
            .ip,
        "fd00::5"
    );
    assert!(MachineId::from_pid("", "slave(1)@10.0.1.5:5051").is_none());
    assert!(MachineId::from_pid("h", "slave(1)@node7:5051").is_none());
    assert!(MachineId::from_pid("h", "garbage").is_none());
}

#[test]
fn matching_is_mesos_equality() {
    let m = me();
    assert!(m.matches(&json!({"hostname": "node-7.EXAMPLE", "ip": "10.0.1.5"})));
    assert!(!m.matches(&json!({"hostname": "node-7.example"})));
    assert!(!m.matches(&json!({"ip": "10.0.1.5"})));
    assert!(!m.matches(&json!({"hostname": "node-7.example", "ip": "10.0.1.6"})));
}

fn schedule() -> Value {
    json!({"windows": [
        {"machine_ids": [{"hostname": "other", "ip": "10.0.0.9"}, {"hostname": "node-7.example", "ip": "10.0.1.5"}],
         "unavailability": {"start": {"nanoseconds": 1_700_000_000_000_000_000i64}, "duration": {"nanoseconds": 3_600_000_000_000i64}},
         "future_field": 1},
        {"machine_ids": [{"hostname": "Node-7.example", "ip": "10.0.1.5"}],
         "unavailability": {"start": {"nanoseconds": 1_800_000_000_000_000_001i64}}}
    ]})
}

#[test]
fn windows_of_this_machine_keep_int64_nanoseconds() {
    assert_eq!(
        windows_of(&schedule(), &me()),
        vec![
            Window {
                start_unix_nanos: 1_700_000_000_000_000_000,
                duration_nanos: Some(3_600_000_000_000)
            },
            Window {
                start_unix_nanos: 1_800_000_000_000_000_001,
                duration_nanos: None
            },
        ]
    );
    assert!(windows_of(&json!({}), &me()).is_empty());
}

#[test]
fn removing_this_machine_keeps_the_others_exactly() {
    let out = without_machine(&schedule(), &me());
    assert_eq!(
        out,
        json!({"windows": [
            {"machine_ids": [{"hostname": "other", "ip": "10.0.0.9"}],
             "unavailability": {"start": {"nanoseconds": 1_700_000_000_000_000_000i64}, "duration": {"nanoseconds": 3_600_000_000_000i64}},
             "future_field": 1}
        ]})
    );
    let alone =
        json!({"windows": [{"machine_ids": [{"hostname": "node-7.example", "ip": "10.0.1.5"}]}]});
    assert_eq!(without_machine(&alone, &me()), json!({}));
}

#[test]
fn adding_a_window_replaces_this_machines_own() {
    let w = Window {
        start_unix_nanos: 42,
        duration_nanos: Some(7),
    };
    let out = with_window(&schedule(), &me(), w);
    assert_eq!(windows_of(&out, &me()), vec![w]);
    let ws = out["windows"].as_array().unwrap();
    assert_eq!(ws.len(), 2);
    assert_eq!(
        ws[0]["machine_ids"],
        json!([{"hostname": "other", "ip": "10.0.0.9"}])
    );
    assert_eq!(
        ws[1],
        json!({"machine_ids": [{"hostname": "Node-7.example", "ip": "10.0.1.5"}],
               "unavailability": {"start": {"nanoseconds": 42}, "duration": {"nanoseconds": 7}}})
    );
    let open_ended = with_window(
        &json!({}),
        &me(),
        Window {
            start_unix_nanos: 1,
            duration_nanos: None,
        },
    );
    assert!(open_ended["windows"][0]["unavailability"]
        .get("duration")
        .is_none());
}

#[test]
fn mode_comes_from_the_cluster_status() {
    let m = me();
    assert_eq!(mode_of(&json!({}), &m), (Mode::Up, vec![]));
    let draining = json!({"draining_machines": [{"id": {"hostname": "node-7.example", "ip": "10.0.1.5"},
        "statuses": [{"status": "ACCEPT", "framework_id": {"value": "fw-1"}, "timestamp": {"nanoseconds": 1}}]}]});
    assert_eq!(
        mode_of(&draining, &m),
        (
            Mode::Draining,
            vec![InverseOffer {
                framework_id: "fw-1".into(),
                status: "ACCEPT".into()
            }]
        )
    );
    let down = json!({"down_machines": [{"hostname": "node-7.example", "ip": "10.0.1.5"}]});
    assert_eq!(mode_of(&down, &m).0, Mode::Down);
    let other = json!({"down_machines": [{"hostname": "node-7.example", "ip": "10.0.1.6"}]});
    assert_eq!(mode_of(&other, &m).0, Mode::Up);
}

#[test]
fn a_refusal_names_its_machine() {
    let body = r#"Machine '{"hostname":"other","ip":"10.0.0.9"}' is deactivated and cannot be removed from the schedule"#;
    assert_eq!(
        named_machine(body),
        Some(json!({"hostname": "other", "ip": "10.0.0.9"}))
    );
    assert!(!me().matches(&named_machine(body).unwrap()));
    assert_eq!(named_machine("Unavailability 'duration' is negative"), None);
}
