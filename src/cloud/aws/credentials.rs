//! AWS credentials, from the standard chain as far as a node daemon needs it: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`), else the
//! instance profile through IMDSv2 (`iam/security-credentials/<role>`), cached until
//! [`REFRESH_BEFORE`] its expiry.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::Mutex;

use super::{AwsError, Imds};

pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// EC2 publishes the next instance-profile credentials at least five minutes before the current
/// ones expire; from then on the cache asks again.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// The metadata path listing the instance profile's role (one name per line).
pub const ROLE_PATH: &str = "iam/security-credentials/";

/// Where credentials came from (logged, never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    InstanceProfile { role: String },
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Environment => f.write_str("environment"),
            CredentialSource::InstanceProfile { role } => write!(f, "instance profile role {role}"),
        }
    }
}

/// One set of credentials. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// `None`: does not expire (long-term keys from the environment).
    pub expires: Option<SystemTime>,
    pub source: CredentialSource,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    /// Still good at `now` for at least [`REFRESH_BEFORE`].
    pub fn fresh_at(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|e| now + REFRESH_BEFORE < e)
    }

    /// From an environment (any iterator of pairs, so tests inject theirs). `Ok(None)` when
    /// neither key variable is set; one without the other is an error rather than a silent
    /// fall-through to another identity.
    pub fn from_env<K, V>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Option<Credentials>, AwsError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let (mut id, mut secret, mut token) = (None, None, None);
        for (k, v) in vars {
            let v = v.as_ref().trim();
            if v.is_empty() {
                continue;
            }
            match k.as_ref() {
                ENV_ACCESS_KEY_ID => id = Some(v.to_string()),
                ENV_SECRET_ACCESS_KEY => secret = Some(v.to_string()),
                ENV_SESSION_TOKEN => token = Some(v.to_string()),
                _ => {}
            }
        }
        match (id, secret) {
            (None, None) => Ok(None),
            (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: token,
                expires: None,
                source: CredentialSource::Environment,
            })),
            (Some(_), None) => Err(AwsError::NoCredentials(format!(
                "{ENV_ACCESS_KEY_ID} is set but {ENV_SECRET_ACCESS_KEY} is not"
            ))),
            (None, Some(_)) => Err(AwsError::NoCredentials(format!(
                "{ENV_SECRET_ACCESS_KEY} is set but {ENV_ACCESS_KEY_ID} is not"
            ))),
        }
    }

    /// Parse the instance profile document of `iam/security-credentials/<role>`.
    pub fn from_instance_profile(role: &str, body: &str) -> Result<Credentials, AwsError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Wire {
            code: Option<String>,
            message: Option<String>,
            access_key_id: Option<String>,
            secret_access_key: Option<String>,
            token: Option<String>,
            expiration: Option<String>,
        }
        let what = format!("instance metadata {ROLE_PATH}{role}");
        let malformed = |detail: String| AwsError::Malformed {
            what: what.clone(),
            detail,
        };
        // Not serde's message: it quotes the offending value, which may be the secret itself.
        let w: Wire = serde_json::from_str(body).map_err(|e| {
            malformed(format!(
                "not the expected JSON document ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if let Some(code) = w.code.as_deref().filter(|c| *c != "Success") {
            return Err(AwsError::NoCredentials(format!(
                "instance profile role {role}: {code}{}",
                w.message.map(|m| format!(": {m}")).unwrap_or_default()
            )));
        }
        let (Some(access_key_id), Some(secret_access_key)) = (w.access_key_id, w.secret_access_key)
        else {
            return Err(malformed(
                "no AccessKeyId/SecretAccessKey in the document".into(),
            ));
        };
        let expires = match w.expiration {
            Some(e) => Some(
                humantime::parse_rfc3339_weak(e.trim())
                    .map_err(|err| malformed(format!("Expiration {e:?}: {err}")))?,
            ),
            None => None,
        };
        Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: w.token.filter(|t| !t.is_empty()),
            expires,
            source: CredentialSource::InstanceProfile {
                role: role.to_string(),
            },
        })
    }
}

/// Environment first, then the instance profile; instance-profile credentials are cached.
#[derive(Debug)]
pub struct CredentialsChain {
    env: Option<Credentials>,
    imds: Option<Arc<Imds>>,
    cache: Mutex<Option<Credentials>>,
}

impl CredentialsChain {
    /// `env`: what [`Credentials::from_env`] found; `imds`: where to ask for the instance profile.
    pub fn new(env: Option<Credentials>, imds: Option<Arc<Imds>>) -> CredentialsChain {
        CredentialsChain {
            env,
            imds,
            cache: Mutex::new(None),
        }
    }

    /// Current credentials: the environment's, else cached instance-profile ones while they
    /// have more than [`REFRESH_BEFORE`] left, else freshly fetched ones.
    pub async fn get(&self) -> Result<Credentials, AwsError> {
        if let Some(c) = &self.env {
            return Ok(c.clone());
        }
        let Some(imds) = &self.imds else {
            return Err(AwsError::NoCredentials(format!(
                "{ENV_ACCESS_KEY_ID}/{ENV_SECRET_ACCESS_KEY} are not set and there is no instance metadata to ask"
            )));
        };
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| c.fresh_at(SystemTime::now())) {
            return Ok(c.clone());
        }
        let roles = imds.get(ROLE_PATH).await?.ok_or_else(|| {
            AwsError::NoCredentials(format!(
                "{ENV_ACCESS_KEY_ID}/{ENV_SECRET_ACCESS_KEY} are not set and the instance has no instance profile"
            ))
        })?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| AwsError::NoCredentials("the instance profile lists no role".into()))?
            .to_string();
        let body = imds
            .get(&format!("{ROLE_PATH}{role}"))
            .await?
            .ok_or_else(|| {
                AwsError::NoCredentials(format!(
                    "instance profile role {role} has no credentials document"
                ))
            })?;
        let creds = Credentials::from_instance_profile(&role, &body)?;
        if creds.expires.is_some_and(|e| e <= SystemTime::now()) {
            return Err(AwsError::NoCredentials(format!(
                "the instance profile credentials of role {role} have already expired"
            )));
        }
        tracing::debug!(
            "AWS credentials from the {} (access key {})",
            creds.source,
            creds.access_key_id
        );
        *cache = Some(creds.clone());
        Ok(creds)
    }

    /// Drop cached credentials (after the API said they expired).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }
}

#[cfg(test)]
mod tests;
