use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::mesos::testutil::{fast_settings, Canned, TestServer};

fn transport(auth: Auth) -> Transport {
    Transport::new(TransportSettings {
        auth,
        ..fast_settings()
    })
    .unwrap()
}

#[tokio::test]
async fn call_posts_exact_json_content_type() {
    let srv = TestServer::fixed(Canned::json(&json!({"type":"GET_TASKS"}))).await;
    let t = transport(Auth::None);
    let body = json!({"type":"GET_TASKS"});
    let (url, bytes) = t.call(&srv.url, &body).await.unwrap();
    assert_eq!(url.path(), "/api/v1");
    assert_eq!(&bytes[..], br#"{"type":"GET_TASKS"}"#);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/api/v1");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.json(), body);
    assert_eq!(t.requests_sent(), 1);
}

#[tokio::test]
async fn empty_2xx_body_is_fine() {
    let srv = TestServer::fixed(Canned::new(200, "")).await;
    let (_, bytes) = transport(Auth::None)
        .call(&srv.url, &json!({"type":"X"}))
        .await
        .unwrap();
    assert!(bytes.is_empty());
    let srv = TestServer::fixed(Canned::new(202, "")).await;
    assert!(transport(Auth::None)
        .call(&srv.url, &json!({}))
        .await
        .is_ok());
}

#[tokio::test]
async fn base_path_prefix_is_kept() {
    let srv = TestServer::fixed(Canned::new(200, "{}")).await;
    let t = transport(Auth::None);
    let base = srv.url.join("/mesos/").unwrap();
    t.call(&base, &json!({})).await.unwrap();
    let base = srv.url.join("/mesos").unwrap();
    t.get(&base, "/master/slaves?slave_id=a%2Fb", None)
        .await
        .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs[0].target, "/mesos/api/v1");
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].target, "/mesos/master/slaves?slave_id=a%2Fb");
    assert_eq!(reqs[1].header("content-type"), None);
}

#[tokio::test]
async fn scheme_relative_307_replays_post_with_body_and_auth() {
    let leader = TestServer::fixed(Canned::new(200, "")).await;
    let location = format!("//127.0.0.1:{}/master/api/v1", leader.port());
    let follower = TestServer::fixed(Canned::redirect(307, &location)).await;
    let t = transport(Auth::basic("ops", "s3cret").unwrap());
    let body = crate::mesos::types::Call::drain_agent("S1", Some(Duration::from_secs(600)), false);
    let (url, _) = t.call(&follower.url, &body).await.unwrap();
    assert_eq!(
        url.as_str(),
        format!("http://127.0.0.1:{}/master/api/v1", leader.port())
    );

    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ops:s3cret")
    );
    let first = &follower.requests()[0];
    let replay = &leader.requests()[0];
    assert_eq!(replay.method, "POST");
    assert_eq!(replay.target, "/master/api/v1");
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.json(), body);
    assert_eq!(replay.header("content-type"), Some("application/json"));
    assert_eq!(first.header("authorization"), Some(expected_auth.as_str()));
    assert_eq!(replay.header("authorization"), Some(expected_auth.as_str()));
    assert_eq!(t.requests_sent(), 2);
}

#[tokio::test]
async fn get_redirect_keeps_query_and_token() {
    let leader = TestServer::fixed(Canned::new(200, "{}")).await;
    let port = leader.port();
    let follower = TestServer::start(move |_, r| {
        Canned::redirect(307, &format!("//127.0.0.1:{port}{}", r.target))
    })
    .await;
    let t = transport(Auth::Token("jwt.abc".into()));
    let (url, _) = t
        .get(&follower.url, "/master/slaves?slave_id=S1", None)
        .await
        .unwrap();
    assert_eq!(url.query(), Some("slave_id=S1"));
    let r = &leader.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/master/slaves?slave_id=S1");
    assert_eq!(r.header("authorization"), Some("token=jwt.abc"));
}

#[tokio::test]
async fn redirect_loop_is_capped() {
    let srv = TestServer::fixed(Canned::redirect(307, "/api/v1")).await;
    let t = transport(Auth::None);
    let err = t.call(&srv.url, &json!({})).await.unwrap_err();
    assert!(matches!(err, MesosError::TooManyRedirects { .. }), "{err}");
    assert_eq!(srv.requests().len() as u32, DEFAULT_MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn redirect_without_location_is_a_decode_error() {
    let srv = TestServer::fixed(Canned::new(307, "")).await;
    let err = transport(Auth::None)
        .call(&srv.url, &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, MesosError::Decode { .. }), "{err}");
}

#[tokio::test]
async fn see_other_is_not_followed() {
    let srv = TestServer::fixed(Canned::redirect(303, "/elsewhere")).await;
    let err = transport(Auth::None)
        .call(&srv.url, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(303));
}

#[tokio::test]
async fn no_leader_503_is_retried_then_gives_no_leader() {
    let srv = TestServer::fixed(Canned::new(503, "No leader elected")).await;
    let t = transport(Auth::None);
    let started = Instant::now();
    let err = t.call(&srv.url, &json!({})).await.unwrap_err();
    let took = started.elapsed();
    match &err {
        MesosError::NoLeader { detail, .. } => assert_eq!(detail, "No leader elected"),
        other => panic!("expected NoLeader, got {other}"),
    }
    assert!(
        srv.requests().len() >= 3,
        "retried {} times",
        srv.requests().len()
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn recovering_503_then_success() {
    let srv = TestServer::start(|n, _| {
        if n < 2 {
            Canned::new(503, "Master has not finished recovery\n")
        } else {
            Canned::new(200, "ok")
        }
    })
    .await;
    let (_, body) = transport(Auth::None)
        .call(&srv.url, &json!({}))
        .await
        .unwrap();
    assert_eq!(&body[..], b"ok");
    assert_eq!(srv.requests().len(), 3);
}

#[tokio::test]
async fn zero_budget_means_one_attempt() {
    let srv = TestServer::fixed(Canned::new(503, "")).await;
    let mut s = fast_settings();
    s.retry.max_elapsed = Duration::ZERO;
    let err = Transport::new(s)
        .unwrap()
        .call(&srv.url, &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, MesosError::NoLeader { .. }));
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn unauthorized_and_forbidden_are_auth_refused_without_retry() {
    for status in [401u16, 403] {
        let srv = TestServer::fixed(
            Canned::new(status, "")
                .header("WWW-Authenticate", "Basic realm=\"mesos-master-readwrite\""),
        )
        .await;
        let t = transport(Auth::basic("p", "s").unwrap());
        let err = t.call(&srv.url, &json!({})).await.unwrap_err();
        match err {
            MesosError::AuthRefused { status: s, .. } => assert_eq!(s, status),
            other => panic!("{other}"),
        }
        assert_eq!(srv.requests().len(), 1);
        assert!(!err_string(&t, &srv).await.contains("Basic cDpz"));
    }
}

async fn err_string(t: &Transport, srv: &TestServer) -> String {
    t.call(&srv.url, &json!({})).await.unwrap_err().to_string()
}

#[tokio::test]
async fn other_status_carries_trimmed_reason() {
    let srv = TestServer::fixed(Canned::new(400, "Unknown agent\n")).await;
    let err = transport(Auth::None)
        .call(&srv.url, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.body(), Some("Unknown agent"));
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn too_large_by_content_length_and_by_counting() {
    let mut s = fast_settings();
    s.max_body_bytes = 1000;
    let t = Transport::new(s).unwrap();
    let srv = TestServer::fixed(Canned::new(200, vec![b'x'; 1001])).await;
    let err = t.call(&srv.url, &json!({})).await.unwrap_err();
    assert!(
        matches!(err, MesosError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    let srv = TestServer::fixed(Canned::new(200, vec![b'x'; 5000]).without_length()).await;
    let err = t.get(&srv.url, "/state", None).await.unwrap_err();
    assert!(
        matches!(err, MesosError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    let srv = TestServer::fixed(Canned::new(200, vec![b'x'; 1000]).without_length()).await;
    assert_eq!(t.get(&srv.url, "/state", None).await.unwrap().1.len(), 1000);
    // A per-call limit tightens the cap, and never loosens it.
    let err = t.get(&srv.url, "/state", Some(999)).await.unwrap_err();
    assert!(
        matches!(err, MesosError::TooLarge { limit: 999, .. }),
        "{err}"
    );
    let srv = TestServer::fixed(Canned::new(200, vec![b'x'; 5000]).without_length()).await;
    let err = t.get(&srv.url, "/state", Some(10_000)).await.unwrap_err();
    assert!(
        matches!(err, MesosError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused_fails_fast_without_retry() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = transport(Auth::None);
    let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let started = Instant::now();
    let err = t.call(&base, &json!({})).await.unwrap_err();
    assert!(matches!(err, MesosError::Unreachable { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("cannot reach http://127.0.0.1:{port}/api/v1: ")));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(t.requests_sent(), 1);
}

#[tokio::test]
async fn silent_server_times_out_as_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let hold = tokio::spawn(async move {
        let mut socks = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            socks.push(s);
        }
    });
    let mut s = fast_settings();
    s.request_timeout = Duration::from_millis(200);
    let err = Transport::new(s)
        .unwrap()
        .call(&base, &json!({}))
        .await
        .unwrap_err();
    hold.abort();
    match err {
        MesosError::Unreachable { detail, .. } => {
            assert!(detail.contains("timed out after"), "{detail}")
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn streaming_call_reads_the_body_in_blocking_code() {
    let big: String = (0..10_000).map(|i| format!("{i},")).collect();
    let srv = TestServer::fixed(Canned::new(200, big.clone()).without_length()).await;
    let mut s = fast_settings();
    s.max_body_bytes = 10; // not applied to streams
    let t = Transport::new(s).unwrap();
    let (url, mut reader) = t
        .call_streaming(&srv.url, &json!({"type":"GET_AGENTS"}))
        .await
        .unwrap();
    assert_eq!(url.path(), "/api/v1");
    let text = tokio::task::spawn_blocking(move || {
        let mut s = String::new();
        reader.read_to_string(&mut s).unwrap();
        s
    })
    .await
    .unwrap();
    assert_eq!(text, big);
    assert_eq!(
        srv.requests()[0].header("content-type"),
        Some("application/json")
    );
}

#[tokio::test]
async fn streaming_call_reports_errors_before_the_body() {
    let srv = TestServer::fixed(Canned::new(401, "")).await;
    let t = transport(Auth::None);
    let err = t.call_streaming(&srv.url, &json!({})).await.err().unwrap();
    assert!(matches!(err, MesosError::AuthRefused { .. }));
}

#[test]
fn bad_urls_are_config_errors() {
    let base = Url::parse("zk://zk-1:2181/mesos").unwrap();
    assert!(matches!(
        endpoint(&base, "/api/v1"),
        Err(MesosError::Config(_))
    ));
    let base = Url::parse("http://u:pw@m:5050").unwrap();
    assert!(matches!(
        endpoint(&base, "/api/v1"),
        Err(MesosError::Config(_))
    ));
    let base = Url::parse("http://m:5050/?x=1").unwrap();
    assert_eq!(
        endpoint(&base, "/api/v1").unwrap().as_str(),
        "http://m:5050/api/v1"
    );
}

#[test]
fn basic_auth_rules() {
    assert!(matches!(Auth::basic("p", "a:b"), Err(MesosError::Config(m)) if m.contains("':'")));
    assert!(matches!(
        Auth::basic("p:q", "s"),
        Err(MesosError::Config(_))
    ));
    assert!(matches!(Auth::basic("", "s"), Err(MesosError::Config(_))));
    assert!(matches!(Auth::basic("p", "\n"), Err(MesosError::Config(_))));
    assert_eq!(
        Auth::basic("p", "secret\n").unwrap(),
        Auth::Basic {
            principal: "p".into(),
            secret: "secret".into()
        }
    );
    // Only one newline is stripped; anything else is part of the secret.
    assert_eq!(
        Auth::basic("p", "secret \r\n").unwrap(),
        Auth::Basic {
            principal: "p".into(),
            secret: "secret ".into()
        }
    );
}

#[test]
fn debug_never_prints_secrets() {
    let a = Auth::basic("ops", "hunter2").unwrap();
    let shown = format!("{a:?}");
    assert!(
        shown.contains("ops") && !shown.contains("hunter2"),
        "{shown}"
    );
    let shown = format!("{:?}", Auth::Token("eyJhbGciOi".into()));
    assert!(!shown.contains("eyJ"), "{shown}");
    let settings = TransportSettings {
        auth: Auth::Token("eyJhbGciOi".into()),
        ..Default::default()
    };
    assert!(!format!("{settings:?}").contains("eyJ"));
    let t = Transport::new(settings).unwrap();
    assert!(!format!("{t:?}").contains("eyJ"));
}

#[test]
fn secret_and_token_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::File::create(&secret)
        .unwrap()
        .write_all(b"pw-Secret.9\n")
        .unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Auth::basic_from_file("p", &secret).unwrap_err();
    assert!(err.to_string().contains("readable by everyone"), "{err}");
    // A secret with characters no temp dir name has: the path is part of the message.
    assert!(!err.to_string().contains("pw-Secret.9"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        Auth::basic_from_file("p", &secret).unwrap(),
        Auth::Basic {
            principal: "p".into(),
            secret: "pw-Secret.9".into()
        }
    );
    std::fs::write(&secret, "a:b\n").unwrap();
    let err = Auth::basic_from_file("p", &secret).unwrap_err();
    assert!(
        matches!(err, MesosError::Config(_)) && !err.to_string().contains("a:b"),
        "{err}"
    );
    assert!(matches!(
        Auth::basic_from_file("p", &dir.path().join("missing")),
        Err(MesosError::Config(_))
    ));

    let token = dir.path().join("token");
    std::fs::write(&token, "  eyJtok  \n").unwrap();
    assert_eq!(
        Auth::token_from_file(&token).unwrap(),
        Auth::Token("eyJtok".into())
    );
    std::fs::write(&token, "\n").unwrap();
    assert!(matches!(
        Auth::token_from_file(&token),
        Err(MesosError::Config(_))
    ));
}

#[test]
fn token_with_control_characters_is_a_config_error() {
    let settings = TransportSettings {
        auth: Auth::Token("a\nb".into()),
        ..Default::default()
    };
    assert!(matches!(
        Transport::new(settings),
        Err(MesosError::Config(_))
    ));
}

#[test]
fn bad_ca_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let settings = TransportSettings {
        ca_file: Some(ca),
        ..Default::default()
    };
    assert!(matches!(
        Transport::new(settings),
        Err(MesosError::Config(_))
    ));
    let settings = TransportSettings {
        ca_file: Some(dir.path().join("missing.crt")),
        ..Default::default()
    };
    assert!(matches!(
        Transport::new(settings),
        Err(MesosError::Config(_))
    ));
}

#[test]
fn backoff_grows_and_is_capped() {
    let p = RetryPolicy {
        initial: Duration::from_millis(200),
        max_interval: Duration::from_secs(5),
        max_elapsed: Duration::from_secs(60),
    };
    for attempt in 0..40 {
        let d = p.delay(attempt);
        let nominal = Duration::from_millis(200 * (1u64 << attempt.min(10))).min(p.max_interval);
        assert!(d <= nominal && d >= nominal / 2, "attempt {attempt}: {d:?}");
    }
}

#[test]
fn location_resolution() {
    let from = Url::parse("http://m2:5050/api/v1").unwrap();
    let to = |loc: &str| resolve_location(&from, 307, Some(loc)).map(|u| u.to_string());
    assert_eq!(
        to("//10.0.4.125:5050/master/api/v1").unwrap(),
        "http://10.0.4.125:5050/master/api/v1"
    );
    assert_eq!(
        to("//m1:5050/master/slaves?slave_id=S1").unwrap(),
        "http://m1:5050/master/slaves?slave_id=S1"
    );
    assert_eq!(
        to("/master/api/v1").unwrap(),
        "http://m2:5050/master/api/v1"
    );
    assert_eq!(
        to("https://m1:5050/api/v1").unwrap(),
        "https://m1:5050/api/v1"
    );
    assert!(matches!(to("ftp://m1/x"), Err(MesosError::Decode { .. })));
    assert!(matches!(
        resolve_location(&from, 307, None),
        Err(MesosError::Decode { .. })
    ));
    // Credentials never leave over plain text after a redirect.
    let secure = Url::parse("https://m2:5050/api/v1").unwrap();
    assert!(matches!(
        resolve_location(&secure, 307, Some("http://m1:5050/api/v1")),
        Err(MesosError::Status { status: 307, .. })
    ));
    assert_eq!(
        resolve_location(&secure, 307, Some("//m1:5050/master/api/v1"))
            .unwrap()
            .as_str(),
        "https://m1:5050/master/api/v1"
    );
}

/// Two self-signed CA certificates made for this test only.
const TWO_CA_BUNDLE: &str = "-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUMXB/6FLYalMASK19BpNMO1tv0powCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVbWVzb3MtbWFpbnQgdGVzdCBDQSAxMCAXDTI2MTEyMjA0Mjg1
NloYDzIxMjYxMDI5MDQyODU2WjAgMR4wHAYDVQQDDBVtZXNvcy1tYWludCB0ZXN0
IENBIDEwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAStRGJI6aI4t5rMI4YYgkqg
OKlUXub6t6CUPLDcgE3y/3AIIzD8IktUHLkc7jAwbO3gKfn221qGDh75/lJW6dtu
o1MwUTAdBgNVHQ4EFgQUdXskrmtPKSjEN4jEaRNBIMg0u68wHwYDVR0jBBgwFoAU
dXskrmtPKSjEN4jEaRNBIMg0u68wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiBlOixGla3p5vY2rLjCSEBOy7fJq63epw7Ezoq3Vc051QIhAPhPqVHi
WFWUd2DqHNvXcD4FFkfm7q2Lr09o2I87J4zK
-----END CERTIFICATE-----
-----BEGIN CERTIFICATE-----
MIIBljCCAT2gAwIBAgIULX+6jKEfYR0ePkDv/WyBuW+MWuswCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVbWVzb3MtbWFpbnQgdGVzdCBDQSAyMCAXDTI2MTEyMjA0Mjg1
NloYDzIxMjYxMDI5MDQyODU2WjAgMR4wHAYDVQQDDBVtZXNvcy1tYWludCB0ZXN0
IENBIDIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATsECXm9VFXGFhZPfHFlUqm
E1CwNeHFbNhGgTtp30NbtpYviEWeKUFl2mi2+GTJvRtfYNeTDILaK14Y17nf606S
o1MwUTAdBgNVHQ4EFgQU/a5FoDYLb+/fXdXn5/kTk7KZzaEwHwYDVR0jBBgwFoAU
/a5FoDYLb+/fXdXn5/kTk7KZzaEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNHADBEAiAbIoTMaacRXvxRD6drv9jkLmpKakC1juNwh5AU/XuocwIgZ79I6g9I
L3WcuFPwpka+97PVTY86IrGBh+GM8aFmyPE=
-----END CERTIFICATE-----
";

#[test]
fn ca_bundle_with_several_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca-bundle.crt");
    std::fs::write(&ca, TWO_CA_BUNDLE).unwrap();
    assert_eq!(
        reqwest::Certificate::from_pem_bundle(TWO_CA_BUNDLE.as_bytes())
            .unwrap()
            .len(),
        2
    );
    let settings = TransportSettings {
        ca_file: Some(ca),
        ..Default::default()
    };
    assert!(Transport::new(settings).is_ok());
}
