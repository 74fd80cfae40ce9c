//! `[aws]`: a missing hook or group is a configuration error (exit 2) and `status` shows the
//! lifecycle state and the spot notice read from a fake instance metadata service.

use std::time::{Duration, SystemTime};

use cloud_fakes::imds::INSTANCE_ID;
use cloud_fakes::FakeImds;
use mesos_sim::Sim;

use crate::common::{busy_config, json, Run};

#[tokio::test(flavor = "multi_thread")]
async fn enabled_without_hook_or_group_exits_2_naming_the_keys() {
    let run = Run::new();
    let file = run.config_file("[aws]\nenabled = true\nauto_scaling_group = \"agents\"\n");
    let (code, _, err) = run.run(&["status", "--config", &file]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("aws.lifecycle_hook"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_lifecycle_state_and_spot_notice() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let imds = FakeImds::start().await;
    let run = Run::new();
    let file = run.config_file(
        &format!(
            "[aws]\nenabled = true\nimds_endpoint = \"{}\"\nlifecycle_hook = \"drain\"\nauto_scaling_group = \"agents\"\n",
            imds.url()
        ),
    );
    let (code, out, err) = run
        .run_against(&sim, &["status", "--output", "json", "--config", &file])
        .await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["aws"]["instance_id"], INSTANCE_ID);
    assert_eq!(v["aws"]["target_lifecycle_state"], "InService");
    assert_eq!(v["aws"]["auto_scaling_group"], "agents");
    assert!(v["aws"]["spot_instance_action"].is_null());

    imds.terminate();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    imds.set_spot_instance_action(Some(("terminate", at)));
    let (code, out, err) = run.run_against(&sim, &["status", "--config", &file]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "aws lifecycle:  Terminated (instance {INSTANCE_ID}, group agents, hook drain)"
        )),
        "{out}"
    );
    assert!(
        out.contains("spot notice:    terminate at 2027-01-15T08:00:00Z"),
        "{out}"
    );

    // Unreadable metadata is reported, and does not change the exit code.
    drop(imds);
    let (code, out, _) = run
        .run_against(&sim, &["status", "--output", "json", "--config", &file])
        .await;
    assert_eq!(code, 0);
    let v = json(&out);
    assert!(v["aws"]["target_lifecycle_state"].is_null());
    let errors = v["errors"].to_string();
    assert!(errors.contains("aws: "), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_aws_key_in_the_report_when_disabled() {
    let sim = Sim::start(busy_config()).await.unwrap();
    let run = Run::new();
    let (code, out, _) = run.run_against(&sim, &["status", "--output", "json"]).await;
    assert_eq!(code, 0);
    assert!(json(&out).get("aws").is_none());
}
