use super::*;

#[test]
fn regional_endpoints() {
    assert_eq!(
        regional_endpoint("eu-west-1").unwrap().as_str(),
        "https://autoscaling.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        regional_endpoint("cn-north-1").unwrap().as_str(),
        "https://autoscaling.cn-north-1.amazonaws.com.cn/"
    );
    assert!(regional_endpoint("").is_err());
    assert!(regional_endpoint("eu-west-1.evil.example/x").is_err());
}

#[test]
fn form_body_is_the_query_protocol() {
    let body = form_body(
        "CompleteLifecycleAction",
        &[
            ("AutoScalingGroupName", "agents group"),
            ("LifecycleActionResult", "CONTINUE"),
        ],
    );
    assert_eq!(
        body,
        "Action=CompleteLifecycleAction&Version=2011-01-01&AutoScalingGroupName=agents+group&LifecycleActionResult=CONTINUE"
    );
}

#[test]
fn error_documents_map_to_kinds() {
    let xml = r#"<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error>
    <Type>Sender</Type>
    <Code>ValidationError</Code>
    <Message>No active Lifecycle Action found with instance ID i-0123</Message>
  </Error>
  <RequestId>abc</RequestId>
</ErrorResponse>"#;
    let (code, message) = parse_error(xml).unwrap();
    assert_eq!(code, "ValidationError");
    assert_eq!(
        ApiErrorKind::from_code(&code, &message),
        ApiErrorKind::NoActiveLifecycleAction
    );
    assert_eq!(
        parse_error(
            "<Error><Code>Throttling</Code><Message>Rate &amp; limit &lt;1&gt;</Message></Error>"
        ),
        Some(("Throttling".into(), "Rate & limit <1>".into()))
    );
    assert_eq!(parse_error("<html>502 Bad Gateway</html>"), None);
    for (code, kind) in [
        ("ValidationError", ApiErrorKind::Validation),
        ("SignatureDoesNotMatch", ApiErrorKind::SignatureDoesNotMatch),
        ("InvalidClientTokenId", ApiErrorKind::InvalidClientTokenId),
        (
            "UnrecognizedClientException",
            ApiErrorKind::InvalidClientTokenId,
        ),
        ("ExpiredToken", ApiErrorKind::ExpiredToken),
        ("AccessDenied", ApiErrorKind::AccessDenied),
        ("Throttling", ApiErrorKind::Throttling),
        ("ResourceContention", ApiErrorKind::ResourceContention),
        ("Weird", ApiErrorKind::Other("Weird".into())),
    ] {
        assert_eq!(ApiErrorKind::from_code(code, "x"), kind);
    }
}

#[cfg(not(feature = "aws"))]
#[test]
fn without_the_feature_the_client_is_refused() {
    let chain = Arc::new(CredentialsChain::new(None, None));
    let err = AutoScaling::new(
        Url::parse("http://127.0.0.1:1/").unwrap(),
        "us-east-1",
        chain,
    )
    .unwrap_err();
    assert!(matches!(err, AwsError::Unsupported));
}

#[cfg(feature = "aws")]
mod against_the_fake {
    use super::*;

    use crate::cloud::aws::credentials::CredentialSource;
    use crate::cloud::aws::Imds;
    use cloud_fakes::imds::{INSTANCE_ID, REGION, ROLE};
    use cloud_fakes::{FakeAutoScaling, FakeImds, TestCredentials};

    const GROUP: &str = "mesos-agents";
    const HOOK: &str = "drain-before-terminate";

    fn target() -> LifecycleTarget {
        LifecycleTarget {
            auto_scaling_group: GROUP.into(),
            lifecycle_hook: HOOK.into(),
            instance_id: INSTANCE_ID.into(),
        }
    }

    fn creds_of(t: &TestCredentials) -> Credentials {
        Credentials {
            access_key_id: t.access_key_id.clone(),
            secret_access_key: t.secret_access_key.clone(),
            session_token: t.session_token.clone(),
            expires: None,
            source: CredentialSource::Environment,
        }
    }

    fn client(fake: &FakeAutoScaling, region: &str, creds: Credentials) -> AutoScaling {
        let chain = Arc::new(CredentialsChain::new(Some(creds), None));
        AutoScaling::new(Url::parse(&fake.url()).unwrap(), region, chain).unwrap()
    }

    async fn fake() -> FakeAutoScaling {
        let fake = FakeAutoScaling::start(REGION, TestCredentials::long_term()).await;
        fake.start_lifecycle_action(GROUP, HOOK, INSTANCE_ID);
        fake
    }

    #[tokio::test]
    async fn heartbeat_then_complete_once() {
        let fake = fake().await;
        let asg = client(&fake, REGION, creds_of(&TestCredentials::long_term()));
        asg.record_heartbeat(&target()).await.unwrap();
        asg.record_heartbeat(&target()).await.unwrap();
        asg.complete(&target(), LifecycleActionResult::Continue)
            .await
            .unwrap();
        assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
        assert_eq!(fake.heartbeats().len(), 2);
        let done = fake.completions();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].param("AutoScalingGroupName"), Some(GROUP));
        assert_eq!(done[0].param("LifecycleHookName"), Some(HOOK));
        assert_eq!(done[0].param("InstanceId"), Some(INSTANCE_ID));
        assert_eq!(done[0].param("LifecycleActionResult"), Some("CONTINUE"));
        assert_eq!(done[0].param("LifecycleActionToken"), None);
        assert_eq!(
            fake.completed_result(INSTANCE_ID).as_deref(),
            Some("CONTINUE")
        );

        // A second completion (or heartbeat) finds no active action.
        let err = asg
            .complete(&target(), LifecycleActionResult::Abandon)
            .await
            .unwrap_err();
        assert_eq!(
            err.api_kind(),
            Some(&ApiErrorKind::NoActiveLifecycleAction),
            "{err}"
        );
        assert!(!err.is_transient());
        let err = asg.record_heartbeat(&target()).await.unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::NoActiveLifecycleAction));
        assert_eq!(fake.completions().len(), 1);
    }

    #[tokio::test]
    async fn instance_profile_session_credentials_are_accepted() {
        let fake = fake().await;
        let session = TestCredentials::session();
        fake.add_credentials(session.clone());
        let imds_fake = FakeImds::start().await;
        imds_fake.set_instance_profile(
            ROLE,
            &session,
            SystemTime::now() + Duration::from_secs(3600),
        );
        let imds = Arc::new(Imds::new(&Url::parse(&imds_fake.url()).unwrap()).unwrap());
        let region = imds.region().await.unwrap();
        let chain = Arc::new(CredentialsChain::new(None, Some(imds)));
        let asg = AutoScaling::new(Url::parse(&fake.url()).unwrap(), region, chain).unwrap();
        asg.complete(&target(), LifecycleActionResult::Abandon)
            .await
            .unwrap();
        let done = fake.completions();
        assert_eq!(done[0].access_key_id, session.access_key_id);
        assert_eq!(done[0].param("LifecycleActionResult"), Some("ABANDON"));
    }

    #[tokio::test]
    async fn wrong_secret_is_signature_does_not_match() {
        let fake = fake().await;
        let mut creds = creds_of(&TestCredentials::long_term());
        creds.secret_access_key.push('x');
        let err = client(&fake, REGION, creds)
            .record_heartbeat(&target())
            .await
            .unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::SignatureDoesNotMatch));
        assert!(matches!(err, AwsError::Api { status: 403, .. }), "{err}");
        assert!(fake.calls().is_empty());
        assert_eq!(fake.rejections()[0].code, "SignatureDoesNotMatch");
    }

    #[tokio::test]
    async fn unknown_key_or_missing_session_token_is_invalid_client_token_id() {
        let fake = fake().await;
        let mut creds = creds_of(&TestCredentials::long_term());
        creds.access_key_id = "AKIANOTKNOWN00000000".into();
        let err = client(&fake, REGION, creds)
            .record_heartbeat(&target())
            .await
            .unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::InvalidClientTokenId));

        let session = TestCredentials::session();
        fake.add_credentials(session.clone());
        let mut creds = creds_of(&session);
        creds.session_token = None;
        let err = client(&fake, REGION, creds)
            .record_heartbeat(&target())
            .await
            .unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::InvalidClientTokenId));
        assert!(fake.calls().is_empty());
    }

    #[tokio::test]
    async fn wrong_region_in_the_scope_is_refused() {
        let fake = fake().await;
        let err = client(&fake, "eu-west-1", creds_of(&TestCredentials::long_term()))
            .record_heartbeat(&target())
            .await
            .unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::SignatureDoesNotMatch));
    }

    #[tokio::test]
    async fn a_request_changed_after_signing_is_refused() {
        let fake = fake().await;
        let url = Url::parse(&fake.url()).unwrap();
        let creds = creds_of(&TestCredentials::long_term());
        let signed_body = form_body(
            "CompleteLifecycleAction",
            &[
                ("AutoScalingGroupName", GROUP),
                ("LifecycleHookName", HOOK),
                ("InstanceId", INSTANCE_ID),
                ("LifecycleActionResult", "ABANDON"),
            ],
        );
        let headers = sign(&url, REGION, &creds, &signed_body, SystemTime::now()).unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let send = |body: String, headers: Vec<(String, String)>| {
            let mut req = http
                .post(url.clone())
                .header("content-type", CONTENT_TYPE)
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send()
        };
        // Same signature, body switched to CONTINUE.
        let tampered = signed_body.replace("ABANDON", "CONTINUE");
        let resp = send(tampered, headers.clone()).await.unwrap();
        assert_eq!(resp.status(), 403);
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{text}"
        );
        // One hex digit of the signature flipped.
        let flipped: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                if k == "authorization" {
                    let last = if v.ends_with('0') { '1' } else { '0' };
                    (k.clone(), format!("{}{last}", &v[..v.len() - 1]))
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        assert_eq!(
            send(signed_body.clone(), flipped).await.unwrap().status(),
            403
        );
        // No signature at all.
        assert_eq!(
            send(signed_body.clone(), Vec::new())
                .await
                .unwrap()
                .status(),
            403
        );
        // A signature from 20 minutes ago.
        let old = sign(
            &url,
            REGION,
            &creds,
            &signed_body,
            SystemTime::now() - Duration::from_secs(1200),
        )
        .unwrap();
        assert_eq!(send(signed_body.clone(), old).await.unwrap().status(), 403);
        let codes: Vec<String> = fake.rejections().into_iter().map(|r| r.code).collect();
        assert_eq!(
            codes,
            [
                "SignatureDoesNotMatch",
                "SignatureDoesNotMatch",
                "MissingAuthenticationToken",
                "RequestExpired"
            ]
        );
        assert!(fake.calls().is_empty());
        assert_eq!(fake.completed_result(INSTANCE_ID), None);
        // And the untouched request goes through.
        assert_eq!(send(signed_body, headers).await.unwrap().status(), 200);
        assert_eq!(
            fake.completed_result(INSTANCE_ID).as_deref(),
            Some("ABANDON")
        );
    }

    #[tokio::test]
    async fn api_errors_are_typed() {
        let fake = fake().await;
        let asg = client(&fake, REGION, creds_of(&TestCredentials::long_term()));
        fake.fail_next(400, "Throttling", "Rate exceeded");
        let err = asg.record_heartbeat(&target()).await.unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::Throttling));
        assert!(err.is_transient());
        assert!(err.to_string().contains("Rate exceeded"), "{err}");

        fake.fail_next(
            403,
            "AccessDenied",
            "User is not authorized to perform: autoscaling:CompleteLifecycleAction",
        );
        let err = asg
            .complete(&target(), LifecycleActionResult::Continue)
            .await
            .unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::AccessDenied));
        assert!(!err.is_transient());

        fake.fail_next(500, "InternalFailure", "oops");
        let err = asg.record_heartbeat(&target()).await.unwrap_err();
        assert_eq!(
            err.api_kind(),
            Some(&ApiErrorKind::Other("InternalFailure".into()))
        );
        assert!(err.is_transient());

        let wrong = LifecycleTarget {
            lifecycle_hook: "other-hook".into(),
            ..target()
        };
        let err = asg.record_heartbeat(&wrong).await.unwrap_err();
        assert_eq!(err.api_kind(), Some(&ApiErrorKind::NoActiveLifecycleAction));
    }

    #[tokio::test]
    async fn expired_token_gets_new_credentials_and_one_more_try() {
        let fake = fake().await;
        let asg = client(&fake, REGION, creds_of(&TestCredentials::long_term()));
        fake.fail_next(
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
        );
        asg.complete(&target(), LifecycleActionResult::Continue)
            .await
            .unwrap();
        let calls = fake.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].error.as_deref(), Some("ExpiredToken"));
        assert_eq!(calls[1].error, None);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let chain = Arc::new(CredentialsChain::new(
            Some(creds_of(&TestCredentials::long_term())),
            None,
        ));
        let asg = AutoScaling::new(
            Url::parse(&format!("http://{addr}/")).unwrap(),
            REGION,
            chain,
        )
        .unwrap();
        let err = asg.record_heartbeat(&target()).await.unwrap_err();
        assert!(matches!(err, AwsError::Transport { .. }), "{err}");
        assert!(err.is_transient());
    }
}
