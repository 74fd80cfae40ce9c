use super::*;

use cloud_fakes::imds::ROLE;
use cloud_fakes::{FakeImds, TestCredentials};
use url::Url;

fn imds(fake: &FakeImds) -> Arc<Imds> {
    Arc::new(Imds::new(&Url::parse(&fake.url()).unwrap()).unwrap())
}

#[test]
fn environment_keys_with_and_without_session_token() {
    let c = Credentials::from_env([
        ("PATH", "/usr/bin"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "tok"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(c.access_key_id, "AKIAEXAMPLE");
    assert_eq!(c.secret_access_key, "secret");
    assert_eq!(c.session_token.as_deref(), Some("tok"));
    assert_eq!(c.expires, None);
    assert_eq!(c.source, CredentialSource::Environment);

    let c = Credentials::from_env([
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", ""),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(c.session_token, None);

    assert_eq!(Credentials::from_env([("HOME", "/root")]).unwrap(), None);
    assert_eq!(
        Credentials::from_env([("AWS_ACCESS_KEY_ID", " ")]).unwrap(),
        None
    );
}

#[test]
fn half_set_environment_is_an_error() {
    let err = Credentials::from_env([("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")]).unwrap_err();
    assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    let err = Credentials::from_env([("AWS_SECRET_ACCESS_KEY", "x")]).unwrap_err();
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}

#[test]
fn debug_never_shows_the_secret() {
    let c = Credentials::from_env([
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ("AWS_SESSION_TOKEN", "very-token"),
    ])
    .unwrap()
    .unwrap();
    let text = format!("{c:?}");
    assert!(text.contains("AKIAEXAMPLE"));
    assert!(
        !text.contains("very-secret") && !text.contains("very-token"),
        "{text}"
    );
}

#[tokio::test]
async fn environment_wins_and_metadata_is_not_asked() {
    let fake = FakeImds::start().await;
    let env = Credentials::from_env([
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ])
    .unwrap();
    let chain = CredentialsChain::new(env, Some(imds(&fake)));
    let c = chain.get().await.unwrap();
    assert_eq!(c.source, CredentialSource::Environment);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn instance_profile_credentials_are_cached_until_near_expiry() {
    let fake = FakeImds::start().await;
    let creds = TestCredentials::session();
    fake.set_instance_profile(ROLE, &creds, SystemTime::now() + Duration::from_secs(3600));
    let chain = CredentialsChain::new(None, Some(imds(&fake)));
    let c = chain.get().await.unwrap();
    assert_eq!(c.access_key_id, creds.access_key_id);
    assert_eq!(c.secret_access_key, creds.secret_access_key);
    assert_eq!(c.session_token, creds.session_token);
    assert_eq!(
        c.source,
        CredentialSource::InstanceProfile {
            role: ROLE.to_string()
        }
    );
    assert!(c.expires.is_some());
    chain.get().await.unwrap();
    let doc = format!("iam/security-credentials/{ROLE}");
    assert_eq!(fake.gets(&doc, 200), 1, "cached");

    chain.invalidate().await;
    chain.get().await.unwrap();
    assert_eq!(fake.gets(&doc, 200), 2, "fetched again after invalidate");
}

#[tokio::test]
async fn credentials_inside_the_refresh_margin_are_fetched_again() {
    let fake = FakeImds::start().await;
    let creds = TestCredentials::session();
    // Two minutes left: inside the five-minute margin, still usable.
    fake.set_instance_profile(ROLE, &creds, SystemTime::now() + Duration::from_secs(120));
    let chain = CredentialsChain::new(None, Some(imds(&fake)));
    chain.get().await.unwrap();
    // The rotated ones EC2 publishes before expiry are picked up.
    let rotated = TestCredentials {
        access_key_id: "ASIAROTATEDROTATED03".into(),
        ..TestCredentials::session()
    };
    fake.set_instance_profile(
        ROLE,
        &rotated,
        SystemTime::now() + Duration::from_secs(3600),
    );
    let c = chain.get().await.unwrap();
    assert_eq!(c.access_key_id, "ASIAROTATEDROTATED03");
    assert_eq!(
        fake.gets(&format!("iam/security-credentials/{ROLE}"), 200),
        2
    );
}

#[tokio::test]
async fn no_instance_profile_and_no_environment_is_a_clear_error() {
    let fake = FakeImds::start().await;
    let chain = CredentialsChain::new(None, Some(imds(&fake)));
    let err = chain.get().await.unwrap_err();
    assert!(matches!(err, AwsError::NoCredentials(_)), "{err}");
    assert!(err.to_string().contains("no instance profile"), "{err}");
    let chain = CredentialsChain::new(None, None);
    assert!(matches!(
        chain.get().await.unwrap_err(),
        AwsError::NoCredentials(_)
    ));
}

#[tokio::test]
async fn expired_or_failed_profile_documents_are_errors() {
    let fake = FakeImds::start().await;
    fake.set_instance_profile(
        ROLE,
        &TestCredentials::session(),
        SystemTime::now() - Duration::from_secs(10),
    );
    let chain = CredentialsChain::new(None, Some(imds(&fake)));
    let err = chain.get().await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    let err = Credentials::from_instance_profile(
        ROLE,
        r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"denied"}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("AssumeRoleUnauthorizedAccess: denied"),
        "{err}"
    );
    assert!(Credentials::from_instance_profile(ROLE, "not json").is_err());
    assert!(Credentials::from_instance_profile(ROLE, r#"{"Code":"Success"}"#).is_err());
}

#[test]
fn instance_profile_document_parses() {
    let c = Credentials::from_instance_profile(
        "r",
        r#"{"Code":"Success","LastUpdated":"2026-05-01T08:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2026-05-01T14:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(c.access_key_id, "ASIA1");
    assert_eq!(c.session_token.as_deref(), Some("t"));
    let exp = c.expires.unwrap();
    assert_eq!(
        humantime::format_rfc3339_seconds(exp).to_string(),
        "2026-05-01T14:00:00Z"
    );
    assert!(c.fresh_at(exp - Duration::from_secs(301)));
    assert!(!c.fresh_at(exp - Duration::from_secs(299)));
}
