//! The EC2 instance metadata service, IMDSv2 only: a session token from `PUT /latest/api/token`
//! (TTL in a request header), sent with every `GET /latest/meta-data/…`, reused until shortly
//! before it expires, fetched anew once when the service answers 401.

use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::{read_capped, AwsError};

/// Link-local address of the metadata service on every EC2 instance.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
pub const TOKEN_PATH: &str = "/latest/api/token";
pub const METADATA_PREFIX: &str = "/latest/meta-data/";
/// Request header carrying the session token.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Request header asking for a token lifetime, in seconds (1 to 21600).
pub const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Six hours, the longest the service grants: one token PUT per six hours of polling.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(21_600);
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// A token is replaced this long before it expires (at most half its lifetime), so a request
/// never leaves with a token that runs out on the way.
pub const TOKEN_REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// The service is on the instance itself: anything slower than this is not going to answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Metadata values are short; credentials JSON is about 1.5 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `autoscaling/target-lifecycle-state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetLifecycleState {
    InService,
    /// The group is terminating this instance (scale-in, health check, instance refresh…).
    Terminated,
    /// `Standby`, `Detached`, `Warmed:*` and whatever AWS adds later.
    Other(String),
}

impl TargetLifecycleState {
    pub fn parse(s: &str) -> TargetLifecycleState {
        match s.trim() {
            "InService" => TargetLifecycleState::InService,
            "Terminated" => TargetLifecycleState::Terminated,
            other => TargetLifecycleState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TargetLifecycleState::InService => "InService",
            TargetLifecycleState::Terminated => "Terminated",
            TargetLifecycleState::Other(s) => s,
        }
    }
}

impl std::fmt::Display for TargetLifecycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `action` of a spot interruption notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpotAction {
    Terminate,
    Stop,
    Hibernate,
    Other(String),
}

impl SpotAction {
    pub fn as_str(&self) -> &str {
        match self {
            SpotAction::Terminate => "terminate",
            SpotAction::Stop => "stop",
            SpotAction::Hibernate => "hibernate",
            SpotAction::Other(s) => s,
        }
    }
}

/// `spot/instance-action`: what EC2 will do to this spot instance, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotNotice {
    pub action: SpotAction,
    /// When the action happens (UTC on the wire).
    pub time: SystemTime,
}

impl std::fmt::Display for SpotNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}",
            self.action.as_str(),
            humantime::format_rfc3339_seconds(self.time)
        )
    }
}

impl SpotNotice {
    /// Parse `{"action": "terminate", "time": "2026-05-01T08:22:00Z"}`.
    pub fn parse(body: &str) -> Result<SpotNotice, AwsError> {
        #[derive(Deserialize)]
        struct Wire {
            action: String,
            time: String,
        }
        let malformed = |detail: String| AwsError::Malformed {
            what: "instance metadata spot/instance-action".into(),
            detail,
        };
        let wire: Wire = serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
        let time = humantime::parse_rfc3339_weak(wire.time.trim())
            .map_err(|e| malformed(format!("time {:?}: {e}", wire.time)))?;
        let action = match wire.action.as_str() {
            "terminate" => SpotAction::Terminate,
            "stop" => SpotAction::Stop,
            "hibernate" => SpotAction::Hibernate,
            other => SpotAction::Other(other.to_string()),
        };
        Ok(SpotNotice { action, time })
    }
}

#[derive(Debug)]
struct Token {
    value: String,
    /// Expiry (counted from before the PUT left, so it errs early) less the refresh margin.
    refresh_at: Instant,
}

/// IMDSv2 client. Cheap to share behind an `Arc`; the token is shared by all callers.
#[derive(Debug)]
pub struct Imds {
    http: reqwest::Client,
    base: Url,
    ttl: Duration,
    token: Mutex<Option<Token>>,
}

impl Imds {
    /// A client for `endpoint` (normally [`DEFAULT_ENDPOINT`]). Never goes through a proxy.
    pub fn new(endpoint: &Url) -> Result<Imds, AwsError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("mesos-maint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AwsError::transport("instance metadata client", &e, REQUEST_TIMEOUT))?;
        Ok(Imds {
            http,
            base: endpoint.clone(),
            ttl: DEFAULT_TOKEN_TTL,
            token: Mutex::new(None),
        })
    }

    /// Ask for tokens of this lifetime instead (clamped to 1 s … 6 h); tests use short ones.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Imds {
        self.ttl = ttl.clamp(Duration::from_secs(1), MAX_TOKEN_TTL);
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.base
    }

    /// `GET /latest/meta-data/<path>`: `Ok(None)` on 404 (the item does not exist here).
    pub async fn get(&self, path: &str) -> Result<Option<String>, AwsError> {
        let full = format!("{METADATA_PREFIX}{}", path.trim_start_matches('/'));
        let url = self.url(&full)?;
        let mut refreshed = false;
        loop {
            let token = self.token(refreshed).await?;
            let resp = self
                .http
                .get(url.clone())
                .header(TOKEN_HEADER, &token)
                .send()
                .await
                .map_err(|e| {
                    AwsError::transport(format!("instance metadata {path}"), &e, REQUEST_TIMEOUT)
                })?;
            match resp.status() {
                s if s.is_success() => {
                    let what = format!("instance metadata {path}");
                    return read_capped(resp, MAX_BODY_BYTES, &what, REQUEST_TIMEOUT)
                        .await
                        .map(Some);
                }
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::UNAUTHORIZED if !refreshed => {
                    tracing::debug!("instance metadata refused the token; fetching a new one");
                    refreshed = true;
                }
                StatusCode::UNAUTHORIZED => {
                    self.forget_token().await;
                    return Err(AwsError::ImdsUnauthorized {
                        path: path.to_string(),
                    });
                }
                s => {
                    return Err(AwsError::ImdsStatus {
                        path: path.to_string(),
                        status: s.as_u16(),
                    })
                }
            }
        }
    }

    /// Like [`get`](Self::get) for an item every instance has: 404 is an error.
    async fn get_required(&self, path: &str) -> Result<String, AwsError> {
        match self.get(path).await? {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            Some(_) => Err(AwsError::Malformed {
                what: format!("instance metadata {path}"),
                detail: "empty".into(),
            }),
            None => Err(AwsError::ImdsStatus {
                path: path.to_string(),
                status: 404,
            }),
        }
    }

    /// `instance-id`, e.g. `i-0123456789abcdef0`.
    pub async fn instance_id(&self) -> Result<String, AwsError> {
        self.get_required("instance-id").await
    }

    /// `placement/region`, e.g. `eu-west-1`.
    pub async fn region(&self) -> Result<String, AwsError> {
        self.get_required("placement/region").await
    }

    /// `autoscaling/target-lifecycle-state`; `None` when the instance is in no Auto Scaling group.
    pub async fn target_lifecycle_state(&self) -> Result<Option<TargetLifecycleState>, AwsError> {
        Ok(self
            .get("autoscaling/target-lifecycle-state")
            .await?
            .map(|s| TargetLifecycleState::parse(&s)))
    }

    /// `spot/instance-action`; `None` (404) means no interruption notice.
    pub async fn spot_instance_action(&self) -> Result<Option<SpotNotice>, AwsError> {
        match self.get("spot/instance-action").await? {
            Some(body) => SpotNotice::parse(&body).map(Some),
            None => Ok(None),
        }
    }

    fn url(&self, path: &str) -> Result<Url, AwsError> {
        self.base.join(path).map_err(|e| AwsError::Malformed {
            what: "instance metadata endpoint".into(),
            detail: format!("{}{path}: {e}", self.base),
        })
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// The cached token, or a new one when it is close to expiry or `force` is set.
    async fn token(&self, force: bool) -> Result<String, AwsError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if !force && Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        *guard = None;
        let started = Instant::now();
        let url = self.url(TOKEN_PATH)?;
        let resp = self
            .http
            .put(url)
            .header(TOKEN_TTL_HEADER, self.ttl.as_secs().to_string())
            .send()
            .await
            .map_err(|e| AwsError::transport("instance metadata token", &e, REQUEST_TIMEOUT))?;
        if !resp.status().is_success() {
            return Err(AwsError::ImdsStatus {
                path: "api/token".into(),
                status: resp.status().as_u16(),
            });
        }
        // The service may grant less than asked; believe the shorter of the two.
        let granted = resp
            .headers()
            .get(TOKEN_TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .map_or(self.ttl, |g| g.min(self.ttl));
        let value = read_capped(
            resp,
            MAX_BODY_BYTES,
            "instance metadata token",
            REQUEST_TIMEOUT,
        )
        .await?
        .trim()
        .to_string();
        if value.is_empty() {
            return Err(AwsError::Malformed {
                what: "instance metadata token".into(),
                detail: "empty".into(),
            });
        }
        *guard = Some(Token {
            value: value.clone(),
            refresh_at: started + granted - TOKEN_REFRESH_BEFORE.min(granted / 2),
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
