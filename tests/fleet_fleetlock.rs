//! The FleetLock backend against the in-repo fake server (`cloud_fakes::FakeFleetLock`), answering
//! as airlock and as poseidon/fleetlock.

use std::time::{Duration, Instant};

use cloud_fakes::{FakeFleetLock, Flavor};
use mesos_maint::exit::Exit;
use mesos_maint::fleet::fleetlock::FleetLockClient;
use mesos_maint::fleet::settings::parse_fleetlock_url;
use mesos_maint::fleet::wait::{take_slot_paced, Pacing};
use mesos_maint::fleet::{FleetError, FleetLock, Holder, Release, Take};

fn client(fake: &FakeFleetLock, group: &str) -> FleetLockClient {
    FleetLockClient::new(parse_fleetlock_url(&fake.url()).unwrap(), group)
        .unwrap()
        .with_release_patience(Duration::from_secs(2))
}

fn holder(id: &str) -> Holder {
    Holder::new(id, "agent", id, "reboot")
}

fn fast() -> Pacing {
    Pacing {
        first_pause: Duration::from_millis(50),
        max_pause: Duration::from_millis(100),
        unavailable_grace: Duration::from_secs(1),
        progress_every: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn airlock_take_and_release_send_the_protocol() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    fake.set_group("kafka-prod", 2);
    let c = client(&fake, "kafka-prod");
    assert_eq!(
        c.take(&holder("node-a")).await.unwrap(),
        Take::Granted { already: false }
    );
    // Recursive: asking again keeps the one slot.
    c.take(&holder("node-a")).await.unwrap();
    c.take(&holder("node-b")).await.unwrap();
    assert_eq!(fake.holders("kafka-prod"), ["node-a", "node-b"]);
    match c.take(&holder("node-c")).await.unwrap() {
        Take::Full {
            holders, detail, ..
        } => {
            assert!(holders.is_empty(), "FleetLock cannot list holders");
            assert!(detail.contains("500 failed_lock"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.release("node-a").await.unwrap(), Release::Released);
    assert_eq!(fake.holders("kafka-prod"), ["node-b"]);
    assert!(matches!(
        c.take(&holder("node-c")).await.unwrap(),
        Take::Granted { .. }
    ));
    for r in fake.requests() {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header.as_deref(), Some("true"));
        assert_eq!(r.group.as_deref(), Some("kafka-prod"));
        assert!(r.id.as_deref().is_some_and(|i| i.starts_with("node-")));
    }
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.first().map(String::as_str), Some("/v1/pre-reboot"));
    assert!(paths.iter().any(|p| p == "/v1/steady-state"));
    let status = c.status().await.unwrap();
    assert_eq!(status.holders, None);
    assert_eq!(status.max_unavailable, None);
}

#[test]
fn base_url_with_a_prefix_and_no_trailing_slash() {
    // A FleetLock server behind a path prefix: `…/fleetlock` is read as `…/fleetlock/`.
    let url = parse_fleetlock_url("http://127.0.0.1:1/fleetlock").unwrap();
    assert_eq!(
        url.join("v1/pre-reboot").unwrap().as_str(),
        "http://127.0.0.1:1/fleetlock/v1/pre-reboot"
    );
}

#[tokio::test]
async fn poseidon_lock_held_is_waited_on_then_granted() {
    let fake = FakeFleetLock::start(Flavor::Poseidon).await;
    let a = client(&fake, "default");
    let b = client(&fake, "default");
    a.take(&holder("node-a")).await.unwrap();
    match b.take(&holder("node-b")).await.unwrap() {
        Take::Full { detail, .. } => assert!(detail.contains("423 lock_held"), "{detail}"),
        other => panic!("{other:?}"),
    }
    let waiter = tokio::spawn(async move {
        let mut lines = Vec::new();
        let r = take_slot_paced(
            &b,
            &holder("node-b"),
            Duration::from_secs(10),
            fast(),
            |p| lines.push(p.line()),
        )
        .await;
        (r, lines)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.release("node-a").await.unwrap();
    let (r, lines) = waiter.await.unwrap();
    r.unwrap();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.contains("the FleetLock server said 423 lock_held")),
        "{lines:?}"
    );
    assert_eq!(fake.holders("default"), ["node-b"]);
}

#[tokio::test]
async fn no_slot_within_wait_is_exit_5() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    let a = client(&fake, "default");
    a.take(&holder("node-a")).await.unwrap();
    let t = Instant::now();
    let e = take_slot_paced(
        &a,
        &holder("node-b"),
        Duration::from_millis(600),
        fast(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, FleetError::Timeout { .. }), "{e}");
    assert_eq!(mesos_maint::exit::fleet_exit(&e), Exit::Policy);
    assert!(e.to_string().contains("failed_lock"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
    let e = take_slot_paced(&a, &holder("node-b"), Duration::ZERO, fast(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FleetError::Refused { .. }), "{e}");
}

#[tokio::test]
async fn retryable_and_config_statuses() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    let c = client(&fake, "default");
    // 409, 423 and 429 are "not now": retried by the wait loop.
    for status in [409, 423, 429] {
        fake.force_status(status, 2);
        let slot = take_slot_paced(&c, &holder("n1"), Duration::from_secs(5), fast(), |_| {})
            .await
            .unwrap();
        assert!(!slot.already);
        c.release("n1").await.unwrap();
    }
    // A group the server does not know: 400, a configuration error (exit 2), not retried.
    let wrong = client(&fake, "no-such-group");
    let before = fake.requests().len();
    let e = take_slot_paced(
        &wrong,
        &holder("n1"),
        Duration::from_secs(5),
        fast(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, FleetError::Config(_)), "{e}");
    assert_eq!(mesos_maint::exit::fleet_exit(&e), Exit::Usage);
    assert!(e.to_string().contains("unknown_group"), "{e}");
    assert_eq!(fake.requests().len(), before + 1);
    // 503: cannot ask (exit 3) once the grace is over.
    fake.force_status(503, 1000);
    let e = take_slot_paced(&c, &holder("n1"), Duration::from_secs(30), fast(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
    assert_eq!(mesos_maint::exit::fleet_exit(&e), Exit::Undetermined);
    // Release keeps trying within its patience, then says so.
    let e = c.release("n1").await.unwrap_err();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
}

#[tokio::test]
async fn server_gone_is_unavailable() {
    let fake = FakeFleetLock::start(Flavor::Airlock).await;
    let c = client(&fake, "default");
    drop(fake);
    let e = c.take(&holder("n1")).await.unwrap_err();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
}

/// The fake's own fidelity: what it refuses, as the real servers do.
#[tokio::test]
async fn fake_refuses_like_the_real_servers() {
    let fake = FakeFleetLock::start(Flavor::Poseidon).await;
    let http = reqwest::Client::new();
    let url = format!("{}v1/pre-reboot", fake.url());
    let body = serde_json::json!({"client_params": {"id": "n1", "group": "default"}});
    // No fleet-lock-protocol header.
    let r = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["kind"], "missing_header");
    // Header not "true".
    let r = http
        .post(&url)
        .header("fleet-lock-protocol", "yes")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Wrong method.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // Bad body.
    let r = http
        .post(&url)
        .header("fleet-lock-protocol", "true")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["kind"], "invalid_body");
    assert!(fake.holders("default").is_empty());
    let seen = fake.requests();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].header, None);
    assert_eq!(seen[0].id.as_deref(), Some("n1"));
    assert_eq!(seen[2].method, "GET");
}
