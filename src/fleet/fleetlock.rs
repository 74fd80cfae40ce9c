//! `backend = "fleetlock"`: the FleetLock protocol (coreos/airlock; what zincati speaks).
//!
//! - take: `POST <url>v1/pre-reboot`, release: `POST <url>v1/steady-state`;
//! - header `fleet-lock-protocol: true`, body `{"client_params":{"id":"<id>","group":"<group>"}}`;
//! - 200 is granted or released; errors carry `{"kind": …, "value": …}`.
//!
//! 409, 423, 429 and 500 mean "not now" (airlock answers 500 `failed_lock` while the slots are
//! full, poseidon/fleetlock 423 `lock_held`): the wait loop tries again within `fleet.wait`. Any
//! other 4xx is a configuration error (exit 2); other 5xx and transport errors are "cannot ask"
//! (exit 3). The server decides the number of slots and cannot list holders.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use super::settings::FleetSettings;
use super::{FleetError, FleetLock, GroupStatus, Holder, Release, Take};

pub const PROTOCOL_HEADER: &str = "fleet-lock-protocol";
pub const PRE_REBOOT: &str = "v1/pre-reboot";
pub const STEADY_STATE: &str = "v1/steady-state";

/// Statuses that mean "not now, ask again".
pub const RETRY_STATUSES: [u16; 4] = [409, 423, 429, 500];

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a release keeps asking a server that answers "not now" or cannot be reached.
pub const RELEASE_PATIENCE: Duration = Duration::from_secs(60);

pub struct FleetLockClient {
    base: Url,
    group: String,
    http: reqwest::Client,
    release_patience: Duration,
}

/// The FleetLock error body.
#[derive(Debug, Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
}

enum Answer {
    Ok,
    /// "Not now" (409/423/429/500), with the server's words.
    NotNow(String),
}

impl FleetLockClient {
    pub fn from_settings(s: &FleetSettings) -> Result<FleetLockClient, FleetError> {
        let base = s.fleetlock_url.clone().ok_or_else(|| {
            FleetError::Config("fleet.backend = \"fleetlock\" needs fleet.fleetlock_url".into())
        })?;
        FleetLockClient::new(base, &s.group)
    }

    pub fn new(base: Url, group: &str) -> Result<FleetLockClient, FleetError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FleetError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(FleetLockClient {
            base,
            group: group.to_string(),
            http,
            release_patience: RELEASE_PATIENCE,
        })
    }

    /// How long [`FleetLock::release`] keeps trying (tests shorten it).
    pub fn with_release_patience(mut self, d: Duration) -> Self {
        self.release_patience = d;
        self
    }

    async fn post(&self, op: &str, id: &str) -> Result<Answer, FleetError> {
        let url = self
            .base
            .join(op)
            .map_err(|e| FleetError::Config(format!("fleet.fleetlock_url {}: {e}", self.base)))?;
        let body = serde_json::json!({
            "client_params": { "id": id, "group": self.group }
        });
        let resp = self
            .http
            .post(url.clone())
            .header(PROTOCOL_HEADER, "true")
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                FleetError::Unavailable(format!("FleetLock server {url}: {}", error_chain(&e)))
            })?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(Answer::Ok);
        }
        let text = resp.text().await.unwrap_or_default();
        let err: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
        let words = if err.kind.is_empty() && err.value.is_empty() {
            let t: String = text.trim().chars().take(200).collect();
            format!("{status} {t}")
        } else {
            format!("{status} {}: {}", err.kind, err.value)
        };
        if RETRY_STATUSES.contains(&status) {
            Ok(Answer::NotNow(words))
        } else if (400..500).contains(&status) {
            Err(FleetError::Config(format!(
                "FleetLock server {url} refused the request ({words}); check fleet.fleetlock_url, fleet.group and fleet.id"
            )))
        } else {
            Err(FleetError::Unavailable(format!(
                "FleetLock server {url} answered {words}"
            )))
        }
    }
}

impl FleetLock for FleetLockClient {
    fn backend(&self) -> &'static str {
        "fleetlock"
    }

    fn group(&self) -> &str {
        &self.group
    }

    fn take<'a>(&'a self, holder: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        Box::pin(async move {
            match self.post(PRE_REBOOT, &holder.id).await? {
                // Recursive: a holder asking again is granted again; the protocol cannot tell.
                Answer::Ok => Ok(Take::Granted { already: false }),
                Answer::NotNow(words) => Ok(Take::Full {
                    holders: Vec::new(),
                    revision: 0,
                    detail: format!("the FleetLock server said {words}"),
                }),
            }
        })
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + self.release_patience;
            let mut pause = Duration::from_millis(500);
            loop {
                let last = match self.post(STEADY_STATE, id).await {
                    // Unlock-if-held: the protocol does not say whether a slot was held.
                    Ok(Answer::Ok) => return Ok(Release::Released),
                    Ok(Answer::NotNow(words)) => words,
                    Err(FleetError::Unavailable(e)) => e,
                    Err(e) => return Err(e),
                };
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(FleetError::Unavailable(format!(
                        "FleetLock server did not release the slot of {id} within {}: {last}",
                        humantime::format_duration(self.release_patience)
                    )));
                }
                tokio::time::sleep(pause.min(deadline - now)).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        })
    }

    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(async move {
            Ok(GroupStatus {
                backend: "fleetlock",
                group: self.group.clone(),
                max_unavailable: None,
                holders: None,
            })
        })
    }
}

/// An error with its causes, on one line (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}
