use super::*;

use cloud_fakes::imds::{INSTANCE_ID, REGION};
use cloud_fakes::FakeImds;

fn client(fake: &FakeImds) -> Imds {
    Imds::new(&Url::parse(&fake.url()).unwrap()).unwrap()
}

#[tokio::test]
async fn reads_instance_id_region_and_lifecycle_state_with_one_token() {
    let fake = FakeImds::start().await;
    let imds = client(&fake);
    assert_eq!(imds.instance_id().await.unwrap(), INSTANCE_ID);
    assert_eq!(imds.region().await.unwrap(), REGION);
    assert_eq!(
        imds.target_lifecycle_state().await.unwrap(),
        Some(TargetLifecycleState::InService)
    );
    fake.terminate();
    assert_eq!(
        imds.target_lifecycle_state().await.unwrap(),
        Some(TargetLifecycleState::Terminated)
    );
    assert_eq!(fake.tokens_issued(), 1, "{:?}", fake.requests());
    // Every GET carried the token: none was refused.
    assert!(fake.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn fake_refuses_requests_without_a_token() {
    let fake = FakeImds::start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http
        .get(format!("{}/latest/meta-data/instance-id", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A token PUT without the TTL header is refused too.
    let resp = http
        .put(format!("{}/latest/api/token", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires() {
    let fake = FakeImds::start().await;
    // A 4 s token is replaced after 2 s (half its lifetime, as the 60 s margin does not fit).
    let imds = client(&fake).with_token_ttl(Duration::from_secs(4));
    imds.instance_id().await.unwrap();
    imds.instance_id().await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    imds.instance_id().await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.gets("instance-id", 401), 0, "never sent a stale token");
}

#[tokio::test]
async fn a_shorter_granted_ttl_is_believed() {
    let fake = FakeImds::start().await;
    fake.cap_token_ttl(Some(2));
    let imds = client(&fake); // asks for 6 h
    imds.instance_id().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    imds.instance_id().await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.gets("instance-id", 401), 0);
}

#[tokio::test]
async fn refused_token_is_replaced_and_the_request_retried_once() {
    let fake = FakeImds::start().await;
    let imds = client(&fake);
    imds.instance_id().await.unwrap();
    fake.revoke_tokens();
    assert_eq!(imds.instance_id().await.unwrap(), INSTANCE_ID);
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.gets("instance-id", 401), 1);
    assert_eq!(fake.gets("instance-id", 200), 2);
}

#[tokio::test]
async fn a_second_401_is_an_error_without_more_retries() {
    let fake = FakeImds::start().await;
    let imds = client(&fake);
    fake.refuse_tokens(true);
    let err = imds.instance_id().await.unwrap_err();
    assert!(
        matches!(err, AwsError::ImdsUnauthorized { ref path } if path == "instance-id"),
        "{err}"
    );
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.gets("instance-id", 401), 2);
    // The refused token is not kept: the next call starts with a new one.
    fake.refuse_tokens(false);
    imds.instance_id().await.unwrap();
    assert_eq!(fake.tokens_issued(), 3);
}

#[tokio::test]
async fn spot_notice_404_means_none() {
    let fake = FakeImds::start().await;
    let imds = client(&fake);
    assert_eq!(imds.spot_instance_action().await.unwrap(), None);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    fake.set_spot_instance_action(Some(("terminate", at)));
    let notice = imds.spot_instance_action().await.unwrap().unwrap();
    assert_eq!(notice.action, SpotAction::Terminate);
    assert_eq!(notice.time, at);
    fake.set_spot_instance_action(None);
    assert_eq!(imds.spot_instance_action().await.unwrap(), None);
}

#[tokio::test]
async fn not_in_a_group_is_none_and_missing_instance_id_is_an_error() {
    let fake = FakeImds::start().await;
    let imds = client(&fake);
    fake.set_target_lifecycle_state(None);
    assert_eq!(imds.target_lifecycle_state().await.unwrap(), None);
    fake.set("instance-id", None);
    let err = imds.instance_id().await.unwrap_err();
    assert!(
        matches!(err, AwsError::ImdsStatus { status: 404, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_spot_notice_is_an_error() {
    let fake = FakeImds::start().await;
    let imds = client(&fake);
    fake.set("spot/instance-action", Some("{\"action\":\"terminate\"}"));
    let err = imds.spot_instance_action().await.unwrap_err();
    assert!(matches!(err, AwsError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn a_silent_endpoint_times_out() {
    // Accepted by the kernel, never answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let imds = Imds::new(&url).unwrap();
    let started = Instant::now();
    let err = imds.instance_id().await.unwrap_err();
    assert!(matches!(err, AwsError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(2));
    assert!(err.is_transient());
    drop(listener);
}

#[test]
fn spot_notice_parses_the_documented_shape() {
    let n = SpotNotice::parse(r#"{"action": "stop", "time": "2026-05-01T08:22:00Z"}"#).unwrap();
    assert_eq!(n.action, SpotAction::Stop);
    assert_eq!(
        humantime::format_rfc3339_seconds(n.time).to_string(),
        "2026-05-01T08:22:00Z"
    );
    let n = SpotNotice::parse(r#"{"action": "later", "time": "2026-05-01T08:22:00Z"}"#).unwrap();
    assert_eq!(n.action, SpotAction::Other("later".into()));
    assert!(SpotNotice::parse(r#"{"action": "stop", "time": "soon"}"#).is_err());
}

#[test]
fn lifecycle_state_names() {
    assert_eq!(
        TargetLifecycleState::parse("Terminated\n"),
        TargetLifecycleState::Terminated
    );
    assert_eq!(
        TargetLifecycleState::parse("Warmed:Stopped").as_str(),
        "Warmed:Stopped"
    );
}
