use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn defaults_without_any_fragment() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(w.is_empty());
    assert_eq!(s.agent.as_str(), "http://127.0.0.1:5051/");
    assert_eq!(s.master, None);
    assert_eq!(s.drain.deadline, Some(Duration::from_secs(3600)));
    assert_eq!(s.drain.max_grace_period, None);
    assert_eq!(s.units.agent.len(), 4);
}

#[test]
fn layering_file_env_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let usr = tmp.path().join("usr");
    let etc = tmp.path().join("etc");
    write(
        &usr,
        "50.toml",
        "master = \"http://m1:5050\"\nagent = \"http://a1:5051\"\n[drain]\ndeadline = \"10m\"\nmax_grace_period = \"90s\"\n",
    );
    write(&etc, "60.toml", "[drain]\ndeadline = \"1h30m\"\n");
    let env = [
        ("MESOS_MAINT_AGENT", "http://a2:5051"),
        ("MESOS_MAINT_MASTER", "http://m2:5050"),
    ];
    let over = Overrides {
        master: Some(Url::parse("http://m3:5050").unwrap()),
        ..Default::default()
    };
    let (s, _) = load_from(&[&usr, &etc], &env, &over).unwrap();
    assert_eq!(s.master.unwrap().as_str(), "http://m3:5050/");
    assert_eq!(s.agent.as_str(), "http://a2:5051/");
    assert_eq!(s.drain.deadline, Some(Duration::from_secs(5400)));
    assert_eq!(s.drain.max_grace_period, Some(Duration::from_secs(90)));
}

#[test]
fn empty_environment_values_count_as_unset() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "50.toml", "master = \"http://m1:5050\"\n");
    let env = [("MESOS_MAINT_MASTER", ""), ("MESOS_MAINT_STATE_DIR", "")];
    let (s, _) = load_from(&[tmp.path()], &env, &Overrides::default()).unwrap();
    assert_eq!(s.master.unwrap().as_str(), "http://m1:5050/");
    assert_eq!(
        s.state_dir,
        std::path::PathBuf::from("/var/lib/mesos-maint")
    );
}

#[test]
fn wrong_type_names_key_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "x.toml", "[drain]\ndeadline = 5\n");
    let err = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("drain.deadline = 5"), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn malformed_duration_and_url_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "[drain]\nmax_grace_period = \"10mins please\"\n",
    );
    assert!(load_from(&[tmp.path()], &[], &Overrides::default()).is_err());
    let tmp2 = tempfile::tempdir().unwrap();
    let err = load_from(
        &[tmp2.path()],
        &[("MESOS_MAINT_MASTER", "leader.mesos:5050")],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("MESOS_MAINT_MASTER"), "{err}");
    assert!(err.contains("leader.mesos:5050"), "{err}");
}

#[test]
fn toml_syntax_error_is_one_line_with_line_number() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "x.toml", "master = \"http://x\"\n[drain\n");
    let msg = load_from(&[tmp.path()], &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 2"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn unknown_keys_warn() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "colour = \"blue\"\n[drain]\ndeadlin = \"1m\"\n",
    );
    let (_, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w.iter().any(|m| m.contains("drain.deadlin")));
}

#[test]
fn signal_and_units() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "[units]\nagent = [\"mesos-agent.service\"]\ndocker_signal = \"SIGUSR1\"\nstop_docker = false\n",
    );
    let (s, _) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert_eq!(s.units.agent, vec!["mesos-agent.service".to_string()]);
    assert_eq!(
        s.units.docker_signal,
        Some(nix::sys::signal::Signal::SIGUSR1)
    );
    assert!(!s.units.stop_docker);
    let tmp2 = tempfile::tempdir().unwrap();
    write(
        tmp2.path(),
        "x.toml",
        "[units]\ndocker_signal = \"SIGNOPE\"\n",
    );
    assert!(load_from(&[tmp2.path()], &[], &Overrides::default()).is_err());
}

#[test]
fn secret_without_principal_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "[auth]\nsecret_file = \"/etc/mesos-maint/secret\"\n",
    );
    assert!(load_from(&[tmp.path()], &[], &Overrides::default()).is_err());
}

#[test]
fn aws_is_off_by_default_with_documented_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, _) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(!s.aws.enabled);
    assert_eq!(s.aws.imds_endpoint.as_str(), "http://169.254.169.254/");
    assert_eq!(s.aws.autoscaling_endpoint, None);
    assert_eq!(s.aws.poll_interval, Duration::from_secs(5));
    assert_eq!(s.aws.heartbeat_interval, Duration::from_secs(60));
    assert_eq!(s.aws.stuck_after, Duration::from_secs(600));
    assert_eq!(
        s.aws.on_stuck,
        crate::cloud::aws::LifecycleActionResult::Continue
    );
    assert!(s.aws.spot);
}

#[cfg(feature = "aws")]
#[test]
fn aws_table_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "[aws]\nenabled = true\nimds_endpoint = \"http://127.0.0.1:8111\"\nautoscaling_endpoint = \"http://127.0.0.1:8112/\"\nlifecycle_hook = \"drain\"\nauto_scaling_group = \"agents\"\npoll_interval = \"2s\"\nheartbeat_interval = \"30s\"\nstuck_after = \"15m\"\non_stuck = \"abandon\"\nspot = false\n",
    );
    let (s, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert!(s.aws.enabled);
    assert_eq!(s.aws.imds_endpoint.as_str(), "http://127.0.0.1:8111/");
    assert_eq!(
        s.aws.autoscaling_endpoint.unwrap().as_str(),
        "http://127.0.0.1:8112/"
    );
    assert_eq!(s.aws.lifecycle_hook.as_deref(), Some("drain"));
    assert_eq!(s.aws.auto_scaling_group.as_deref(), Some("agents"));
    assert_eq!(s.aws.poll_interval, Duration::from_secs(2));
    assert_eq!(s.aws.heartbeat_interval, Duration::from_secs(30));
    assert_eq!(s.aws.stuck_after, Duration::from_secs(900));
    assert_eq!(
        s.aws.on_stuck,
        crate::cloud::aws::LifecycleActionResult::Abandon
    );
    assert!(!s.aws.spot);
}

#[cfg(feature = "aws")]
#[test]
fn aws_enabled_needs_hook_and_group() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "x.toml", "[aws]\nenabled = true\n");
    let err = load_from(&[tmp.path()], &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("aws.lifecycle_hook and aws.auto_scaling_group"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    let tmp2 = tempfile::tempdir().unwrap();
    write(
        tmp2.path(),
        "x.toml",
        "[aws]\nenabled = true\nauto_scaling_group = \"agents\"\n",
    );
    let err = load_from(&[tmp2.path()], &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs aws.lifecycle_hook "), "{err}");
    assert!(!err.contains("aws.auto_scaling_group"), "{err}");
    // Not enabled: the names may be missing.
    let tmp3 = tempfile::tempdir().unwrap();
    write(tmp3.path(), "x.toml", "[aws]\nenabled = false\n");
    assert!(load_from(&[tmp3.path()], &[], &Overrides::default()).is_ok());
}

#[cfg(not(feature = "aws"))]
#[test]
fn aws_enabled_without_the_feature_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "[aws]\nenabled = true\nlifecycle_hook = \"drain\"\nauto_scaling_group = \"agents\"\n",
    );
    let err = load_from(&[tmp.path()], &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("without AWS support"), "{err}");
}

#[test]
fn aws_values_are_checked() {
    for (text, needle) in [
        ("[aws]\non_stuck = \"DEFAULT\"\n", "CONTINUE\" or \"ABANDON"),
        ("[aws]\npoll_interval = \"0s\"\n", "above zero"),
        ("[aws]\nlifecycle_hook = \"\"\n", "aws.lifecycle_hook"),
        (
            "[aws]\nauto_scaling_group = \" agents\"\n",
            "aws.auto_scaling_group",
        ),
        (
            "[aws]\nimds_endpoint = \"169.254.169.254\"\n",
            "aws.imds_endpoint",
        ),
        ("[aws]\nspot = \"yes\"\n", "aws.spot"),
        ("aws = true\n", "expected a table"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "x.toml", text);
        let err = load_from(&[tmp.path()], &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[cfg(feature = "aws")]
#[test]
fn aws_heartbeat_must_be_shorter_than_stuck_after() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "x.toml",
        "[aws]\nenabled = true\nlifecycle_hook = \"drain\"\nauto_scaling_group = \"agents\"\nheartbeat_interval = \"10m\"\n",
    );
    let err = load_from(&[tmp.path()], &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("aws.heartbeat_interval (10m)"), "{err}");
}

#[test]
fn aws_unknown_key_warns() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "x.toml", "[aws]\nlifecycle_hooks = \"x\"\n");
    let (_, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(w.iter().any(|m| m.contains("aws.lifecycle_hooks")), "{w:?}");
}

#[test]
fn watch_config_from_settings_defaults() {
    let c = AwsSettings::default().watch_config();
    assert_eq!(c.heartbeat_interval, Duration::from_secs(60));
    assert_eq!(c.stuck_after, Duration::from_secs(600));
    assert_eq!(
        c.on_stuck,
        crate::cloud::aws::LifecycleActionResult::Continue
    );
}

#[test]
fn health_keys_and_their_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, _) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert_eq!(s.health, HealthSettings::default());
    assert_eq!(s.health.interval, Duration::from_secs(60));
    assert_eq!(s.health.repair_interval, Duration::from_secs(600));
    assert_eq!(s.health.min_free_percent, 5.0);
    write(
        tmp.path(),
        "50.toml",
        "[health]\ninterval = \"0s\"\nauto_repair = true\ndocker_socket = \"/run/d.sock\"\ndocker_config = \"/etc/d.json\"\nmin_free = \"12.5%\"\nrepair_interval = \"30m\"\n",
    );
    let (s, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(s.health.interval, Duration::ZERO, "0 turns the checks off");
    assert!(s.health.auto_repair);
    assert_eq!(s.health.docker_socket, PathBuf::from("/run/d.sock"));
    assert_eq!(s.health.docker_config, PathBuf::from("/etc/d.json"));
    assert_eq!(s.health.min_free_percent, 12.5);
    assert_eq!(s.health.repair_interval, Duration::from_secs(1800));
    for (bad, key) in [
        ("min_free = \"5\"", "health.min_free"),
        ("min_free = \"150%\"", "health.min_free"),
        ("min_free = 5", "health.min_free"),
        ("interval = \"soon\"", "health.interval"),
        ("repair_interval = \"0s\"", "health.repair_interval"),
        ("auto_repair = \"yes\"", "health.auto_repair"),
        ("docker_socket = \"docker.sock\"", "health.docker_socket"),
    ] {
        write(tmp.path(), "50.toml", &format!("[health]\n{bad}\n"));
        let err = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(key) && !msg.contains('\n'), "{bad}: {msg}");
    }
}

#[test]
fn fleet_keys_load_through_config() {
    use crate::fleet::{settings, Backend, FleetSettings};
    let names: Vec<&str> = schema::FLEET.iter().map(|(k, _)| *k).collect();
    assert_eq!(names, settings::KEYS);

    let tmp = tempfile::tempdir().unwrap();
    let (s, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(w.is_empty());
    assert_eq!(s.fleet, FleetSettings::default());
    assert_eq!(s.fleet.backend, Backend::None);

    std::fs::write(
        tmp.path().join("50-fleet.toml"),
        "[fleet]\nbackend = \"zookeeper\"\ngroup = \"kafka-prod\"\nmax_unavailable = 2\nwait = \"10m\"\n\
         zookeeper = \"zk://zk-1.zk:2181,zk-2.zk:2181/mesos-maint\"\n\
         zookeeper_digest_file = \"/etc/mesos-maint/zk-digest\"\n",
    )
    .unwrap();
    let (s, w) = load_from(&[tmp.path()], &[], &Overrides::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(s.fleet.backend, Backend::ZooKeeper);
    assert_eq!(s.fleet.group, "kafka-prod");
    assert_eq!(s.fleet.max_unavailable, 2);
    assert_eq!(s.fleet.wait, Duration::from_secs(600));
    let zk = s.fleet.zookeeper.as_ref().unwrap();
    assert_eq!(zk.connect_string(), "zk-1.zk:2181,zk-2.zk:2181");
    assert_eq!(zk.chroot, "/mesos-maint");

    // Bad values: one line naming the key and the value (exit 2).
    for (text, want) in [
        (
            "[fleet]\ngroup = \"kafka prod\"\n",
            "fleet.group = \"kafka prod\"",
        ),
        (
            "[fleet]\nmax_unavailable = 0\n",
            "fleet.max_unavailable = 0",
        ),
        ("[fleet]\nbackend = \"etcd\"\n", "fleet.backend = \"etcd\""),
        ("[fleet]\nzookeeper = \"zk://h:2181/\"\n", "fleet.zookeeper"),
        ("[fleet]\nbackend = \"fleetlock\"\n", "fleet.fleetlock_url"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("50.toml"), text).unwrap();
        let e = load_from(&[dir.path()], &[], &Overrides::default()).unwrap_err();
        assert!(
            matches!(e, ConfigError::Value { .. } | ConfigError::Invalid(_)),
            "{e}"
        );
        assert!(e.to_string().contains(want), "{text}: {e}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
    // Unknown keys are warned about, as elsewhere.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("50.toml"), "[fleet]\nslots = 3\n").unwrap();
    let (_, w) = load_from(&[dir.path()], &[], &Overrides::default()).unwrap();
    assert!(w.iter().any(|w| w.contains("fleet.slots")), "{w:?}");
}
