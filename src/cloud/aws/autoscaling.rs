//! The two Auto Scaling calls of a termination lifecycle hook, `RecordLifecycleActionHeartbeat`
//! and `CompleteLifecycleAction`, addressed by instance id (no lifecycle action token). AWS Query
//! protocol: a form-encoded POST signed with Signature Version 4 (service `autoscaling`); errors
//! come back as `<ErrorResponse><Error><Code>…</Code><Message>…</Message></Error>`.
//!
//! The instance profile needs `autoscaling:RecordLifecycleActionHeartbeat` and
//! `autoscaling:CompleteLifecycleAction` on the group.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use url::Url;

use super::{read_capped, ApiErrorKind, AwsError, Credentials, CredentialsChain};
use super::{LifecycleActionResult, SUPPORTED};

pub const API_VERSION: &str = "2011-01-01";
/// The SigV4 signing name (the `<service>` of the credential scope).
pub const SIGNING_NAME: &str = "autoscaling";
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Lifecycle calls are tiny; a regional endpoint that has not answered by then will not.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `https://autoscaling.<region>.amazonaws.com/` (`.amazonaws.com.cn` in the China regions).
pub fn regional_endpoint(region: &str) -> Result<Url, AwsError> {
    let ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(AwsError::Malformed {
            what: "region".into(),
            detail: format!("{region:?} is not a region name"),
        });
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Url::parse(&format!("https://autoscaling.{region}.{suffix}/")).map_err(|e| {
        AwsError::Malformed {
            what: "region".into(),
            detail: e.to_string(),
        }
    })
}

/// Whose lifecycle action: the group, its termination hook, and this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleTarget {
    pub auto_scaling_group: String,
    pub lifecycle_hook: String,
    pub instance_id: String,
}

/// Auto Scaling client for one region and endpoint.
#[derive(Debug)]
pub struct AutoScaling {
    http: reqwest::Client,
    endpoint: Url,
    region: String,
    credentials: Arc<CredentialsChain>,
}

impl AutoScaling {
    /// `endpoint`: [`regional_endpoint`] normally, a loopback fake in tests. Fails with
    /// [`AwsError::Unsupported`] in a build without the `aws` feature.
    pub fn new(
        endpoint: Url,
        region: impl Into<String>,
        credentials: Arc<CredentialsChain>,
    ) -> Result<AutoScaling, AwsError> {
        if !SUPPORTED {
            return Err(AwsError::Unsupported);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("mesos-maint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AwsError::transport("Auto Scaling client", &e, REQUEST_TIMEOUT))?;
        Ok(AutoScaling {
            http,
            endpoint,
            region: region.into(),
            credentials,
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `RecordLifecycleActionHeartbeat`: restart the hook's heartbeat timeout.
    pub async fn record_heartbeat(&self, target: &LifecycleTarget) -> Result<(), AwsError> {
        self.call(
            "RecordLifecycleActionHeartbeat",
            &[
                ("AutoScalingGroupName", &target.auto_scaling_group),
                ("LifecycleHookName", &target.lifecycle_hook),
                ("InstanceId", &target.instance_id),
            ],
        )
        .await
    }

    /// `CompleteLifecycleAction`: let the termination go on. A second call for the same action
    /// fails with [`ApiErrorKind::NoActiveLifecycleAction`].
    pub async fn complete(
        &self,
        target: &LifecycleTarget,
        result: LifecycleActionResult,
    ) -> Result<(), AwsError> {
        self.call(
            "CompleteLifecycleAction",
            &[
                ("AutoScalingGroupName", &target.auto_scaling_group),
                ("LifecycleHookName", &target.lifecycle_hook),
                ("InstanceId", &target.instance_id),
                ("LifecycleActionResult", result.as_str()),
            ],
        )
        .await
    }

    /// One call; with instance-profile credentials that the API calls expired, fetch new ones
    /// and try once more.
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<(), AwsError> {
        let body = form_body(action, params);
        match self.call_once(action, &body).await {
            Err(AwsError::Api {
                kind: ApiErrorKind::ExpiredToken,
                ..
            }) => {
                tracing::info!("AWS credentials expired; fetching new ones for {action}");
                self.credentials.invalidate().await;
                self.call_once(action, &body).await
            }
            other => other,
        }
    }

    async fn call_once(&self, action: &str, body: &str) -> Result<(), AwsError> {
        let creds = self.credentials.get().await?;
        let signed = sign(
            &self.endpoint,
            &self.region,
            &creds,
            body,
            SystemTime::now(),
        )
        .map_err(|detail| AwsError::Signing {
            action: action.to_string(),
            detail,
        })?;
        let mut req = self
            .http
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body.to_string());
        for (name, value) in &signed {
            req = req.header(name.as_str(), value.as_str());
        }
        let what = format!("Auto Scaling {action}");
        let resp = req
            .send()
            .await
            .map_err(|e| AwsError::transport(&what, &e, REQUEST_TIMEOUT))?;
        let status = resp.status();
        let text = read_capped(resp, MAX_BODY_BYTES, &what, REQUEST_TIMEOUT).await?;
        if status.is_success() {
            tracing::debug!("{what}: done");
            return Ok(());
        }
        let (kind, message) = match parse_error(&text) {
            Some((code, message)) => (ApiErrorKind::from_code(&code, &message), message),
            None => (
                ApiErrorKind::Other(format!("HTTP {}", status.as_u16())),
                text.chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
                    .to_string(),
            ),
        };
        Err(AwsError::Api {
            action: action.to_string(),
            status: status.as_u16(),
            kind,
            message,
        })
    }
}

/// `Action=…&Version=2011-01-01&<params>`, form-encoded.
pub fn form_body(action: &str, params: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action);
    form.append_pair("Version", API_VERSION);
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

/// The `<Code>` and `<Message>` of a Query-protocol error body (`None`: not such a body).
pub fn parse_error(body: &str) -> Option<(String, String)> {
    let code = xml_text(body, "Code")?;
    let message = xml_text(body, "Message").unwrap_or_default();
    Some((code, message))
}

/// The unescaped text of the first `<tag>…</tag>` (the error documents are flat and tiny; no
/// attributes on these elements, no CDATA).
fn xml_text(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&close)?;
    let raw = body[start..end].trim();
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The headers SigV4 adds to a form POST to `endpoint` (`x-amz-date`, `authorization`,
/// `x-amz-security-token` with session credentials). The `content-type` and `host` the request
/// will carry are signed too.
#[cfg(feature = "aws")]
pub fn sign(
    endpoint: &Url,
    region: &str,
    creds: &Credentials,
    body: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;

    let identity: Identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        creds.expires,
        "mesos-maint",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = [("content-type", CONTENT_TYPE)];
    let signable = SignableRequest::new(
        "POST",
        endpoint.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = http_request::sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Without the `aws` feature nothing is signed ([`AutoScaling::new`] refuses before this).
#[cfg(not(feature = "aws"))]
pub fn sign(
    _endpoint: &Url,
    _region: &str,
    _creds: &Credentials,
    _body: &str,
    _time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    Err(AwsError::Unsupported.to_string())
}

#[cfg(test)]
mod tests;
