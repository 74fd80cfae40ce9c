//! AWS: the instance metadata service (IMDSv2, [`imds`]), credentials from the environment or the
//! instance profile ([`credentials`]), the Auto Scaling lifecycle-action calls signed with
//! Signature Version 4 ([`autoscaling`]), and the pure decisions the daemon takes on a
//! termination lifecycle hook or a spot interruption notice ([`lifecycle`]).
//!
//! Only the signing needs the `aws` cargo feature; without it the types and the metadata client
//! still build, and [`autoscaling::AutoScaling::new`] answers [`AwsError::Unsupported`].

pub mod autoscaling;
pub mod credentials;
pub mod error;
pub mod imds;
pub mod lifecycle;

pub use autoscaling::{AutoScaling, LifecycleTarget};
pub use credentials::{CredentialSource, Credentials, CredentialsChain};
pub use error::{ApiErrorKind, AwsError};
pub use imds::{Imds, SpotAction, SpotNotice, TargetLifecycleState};

/// Whether this binary can sign Auto Scaling calls (the `aws` cargo feature).
pub const SUPPORTED: bool = cfg!(feature = "aws");

/// The `LifecycleActionResult` of `CompleteLifecycleAction`. For a termination hook both let the
/// instance terminate; `Abandon` also cancels the group's other lifecycle hooks still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleActionResult {
    Continue,
    Abandon,
}

impl LifecycleActionResult {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleActionResult::Continue => "CONTINUE",
            LifecycleActionResult::Abandon => "ABANDON",
        }
    }

    /// `CONTINUE` or `ABANDON`, any case.
    pub fn parse(s: &str) -> Option<LifecycleActionResult> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CONTINUE" => Some(LifecycleActionResult::Continue),
            "ABANDON" => Some(LifecycleActionResult::Abandon),
            _ => None,
        }
    }
}

impl std::fmt::Display for LifecycleActionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where this instance's lifecycle action is: the `[aws]` keys the clients are built from
/// (`config` fills it; this module does not read the configuration itself).
#[derive(Debug, Clone)]
pub struct AwsTarget {
    pub imds_endpoint: url::Url,
    /// `None`: `https://autoscaling.<region>.amazonaws.com/` for the instance's region.
    pub autoscaling_endpoint: Option<url::Url>,
    /// Required; `None` is reported as `aws.auto_scaling_group is not set`.
    pub auto_scaling_group: Option<String>,
    /// Required; `None` is reported as `aws.lifecycle_hook is not set`.
    pub lifecycle_hook: Option<String>,
}

/// Everything the daemon needs for one instance, built from `[aws]` and the metadata service.
#[derive(Debug)]
pub struct AwsClients {
    pub imds: std::sync::Arc<Imds>,
    pub autoscaling: AutoScaling,
    /// The configured group and hook, and this instance's id.
    pub target: LifecycleTarget,
    pub region: String,
}

impl AwsClients {
    /// Credentials from this process's environment, else the instance profile.
    pub async fn connect(settings: &AwsTarget) -> Result<AwsClients, AwsError> {
        let env = Credentials::from_env(std::env::vars())?;
        AwsClients::connect_with(settings, env).await
    }

    /// With `env` standing for the environment's credentials (tests inject theirs): reads the
    /// instance id and region (IMDSv2), picks the regional endpoint unless
    /// `aws.autoscaling_endpoint` overrides it.
    pub async fn connect_with(
        settings: &AwsTarget,
        env: Option<Credentials>,
    ) -> Result<AwsClients, AwsError> {
        let missing = |key: &str| AwsError::Malformed {
            what: "configuration".into(),
            detail: format!("{key} is not set"),
        };
        let group = settings
            .auto_scaling_group
            .clone()
            .ok_or_else(|| missing("aws.auto_scaling_group"))?;
        let hook = settings
            .lifecycle_hook
            .clone()
            .ok_or_else(|| missing("aws.lifecycle_hook"))?;
        let imds = std::sync::Arc::new(Imds::new(&settings.imds_endpoint)?);
        let instance_id = imds.instance_id().await?;
        let region = imds.region().await?;
        let endpoint = match &settings.autoscaling_endpoint {
            Some(url) => url.clone(),
            None => autoscaling::regional_endpoint(&region)?,
        };
        let chain = std::sync::Arc::new(CredentialsChain::new(env, Some(imds.clone())));
        let autoscaling = AutoScaling::new(endpoint, region.clone(), chain)?;
        Ok(AwsClients {
            imds,
            autoscaling,
            target: LifecycleTarget {
                auto_scaling_group: group,
                lifecycle_hook: hook,
                instance_id,
            },
            region,
        })
    }
}

/// Read a response body up to `max` bytes; a longer one is an error rather than a memory hog.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
    what: &str,
    timeout: std::time::Duration,
) -> Result<String, AwsError> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| AwsError::transport(what, &e, timeout))?
    {
        if buf.len() + chunk.len() > max {
            return Err(AwsError::Malformed {
                what: what.to_string(),
                detail: format!("body larger than {max} bytes"),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| AwsError::Malformed {
        what: what.to_string(),
        detail: "body is not UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn clients_from_settings_and_the_metadata_service() {
        use cloud_fakes::imds::{INSTANCE_ID, REGION, ROLE};
        use cloud_fakes::{FakeAutoScaling, FakeImds, TestCredentials};
        use std::time::{Duration, SystemTime};

        let imds = FakeImds::start().await;
        let session = TestCredentials::session();
        imds.set_instance_profile(
            ROLE,
            &session,
            SystemTime::now() + Duration::from_secs(3600),
        );
        let asg = FakeAutoScaling::start(REGION, session).await;
        asg.start_lifecycle_action("agents", "drain", INSTANCE_ID);
        let settings = AwsTarget {
            imds_endpoint: url::Url::parse(&imds.url()).unwrap(),
            autoscaling_endpoint: Some(url::Url::parse(&asg.url()).unwrap()),
            lifecycle_hook: Some("drain".into()),
            auto_scaling_group: Some("agents".into()),
        };
        let clients = AwsClients::connect_with(&settings, None).await.unwrap();
        assert_eq!(clients.region, REGION);
        assert_eq!(clients.target.instance_id, INSTANCE_ID);
        clients
            .autoscaling
            .record_heartbeat(&clients.target)
            .await
            .unwrap();
        clients
            .autoscaling
            .complete(&clients.target, LifecycleActionResult::Continue)
            .await
            .unwrap();
        assert_eq!(
            asg.completed_result(INSTANCE_ID).as_deref(),
            Some("CONTINUE")
        );
        assert_eq!(imds.tokens_issued(), 1);

        // Without the override: the regional endpoint.
        let regional = AwsTarget {
            autoscaling_endpoint: None,
            ..settings
        };
        let clients = AwsClients::connect_with(&regional, None).await.unwrap();
        assert_eq!(
            clients.autoscaling.endpoint().as_str(),
            "https://autoscaling.us-east-1.amazonaws.com/"
        );
    }

    #[test]
    fn lifecycle_result_round_trip() {
        for r in [
            LifecycleActionResult::Continue,
            LifecycleActionResult::Abandon,
        ] {
            assert_eq!(LifecycleActionResult::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            LifecycleActionResult::parse(" abandon "),
            Some(LifecycleActionResult::Abandon)
        );
        assert_eq!(LifecycleActionResult::parse("DEFAULT"), None);
    }
}
