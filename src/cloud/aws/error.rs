//! Errors of the AWS clients: one enum, each variant naming the endpoint or action it came from.

use std::time::Duration;

/// What went wrong talking to the instance metadata service or the Auto Scaling API.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The request never got an HTTP answer (connect refused, timeout, reset).
    #[error("{what}: {detail}")]
    Transport { what: String, detail: String },
    /// The metadata service answered with a status other than success, 401 or 404.
    #[error("instance metadata {path}: HTTP {status}")]
    ImdsStatus { path: String, status: u16 },
    /// A fresh token was refused too (the one retry after a 401 is spent).
    #[error("instance metadata {path}: token refused (HTTP 401) again after fetching a new one")]
    ImdsUnauthorized { path: String },
    /// An answer that does not have the documented shape.
    #[error("{what}: unexpected answer: {detail}")]
    Malformed { what: String, detail: String },
    /// Neither the environment nor an instance profile gave credentials.
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    /// The request could not be signed (bad region, header or credentials shape).
    #[error("cannot sign the {action} request: {detail}")]
    Signing { action: String, detail: String },
    /// The Auto Scaling API refused the call (its `<Error><Code>` and `<Message>`).
    #[error("Auto Scaling {action}: {kind} (HTTP {status}): {message}")]
    Api {
        action: String,
        status: u16,
        kind: ApiErrorKind,
        message: String,
    },
    /// This binary was built without the `aws` cargo feature.
    #[error("this mesos-maint was built without AWS support (cargo feature `aws`)")]
    Unsupported,
}

impl AwsError {
    pub(crate) fn transport(
        what: impl Into<String>,
        e: &reqwest::Error,
        timeout: Duration,
    ) -> Self {
        let detail = if e.is_timeout() {
            format!("timed out (limit {timeout:?})")
        } else if e.is_connect() {
            format!("cannot connect: {}", source_chain(e))
        } else {
            source_chain(e)
        };
        AwsError::Transport {
            what: what.into(),
            detail,
        }
    }

    /// The kind of an Auto Scaling refusal, if this is one.
    pub fn api_kind(&self) -> Option<&ApiErrorKind> {
        match self {
            AwsError::Api { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Worth trying again later unchanged: no answer, throttling, contention or a server error.
    pub fn is_transient(&self) -> bool {
        match self {
            AwsError::Transport { .. } => true,
            AwsError::ImdsStatus { status, .. } => *status >= 500 || *status == 429,
            AwsError::Api { status, kind, .. } => {
                *status >= 500
                    || matches!(
                        kind,
                        ApiErrorKind::Throttling | ApiErrorKind::ResourceContention
                    )
            }
            _ => false,
        }
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// The `<Code>` of an Auto Scaling error response, the ones the daemon acts on by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// `ValidationError` "No active Lifecycle Action found…": the action was already completed
    /// (by us before a restart, or by someone else) or timed out. Nothing left to complete.
    NoActiveLifecycleAction,
    /// Any other `ValidationError` (unknown hook or group, bad parameter).
    Validation,
    /// `SignatureDoesNotMatch`: wrong secret key or a request altered after signing.
    SignatureDoesNotMatch,
    /// `InvalidClientTokenId` / `UnrecognizedClientException`: unknown access key or session token.
    InvalidClientTokenId,
    /// `ExpiredToken`: the session credentials expired.
    ExpiredToken,
    /// `AccessDenied` / `AccessDeniedException`: the role lacks the `autoscaling:` permission.
    AccessDenied,
    /// `Throttling`.
    Throttling,
    /// `ResourceContention`.
    ResourceContention,
    /// Anything else, with its code.
    Other(String),
}

impl ApiErrorKind {
    pub fn from_code(code: &str, message: &str) -> ApiErrorKind {
        match code {
            "ValidationError" if message.starts_with("No active Lifecycle Action") => {
                ApiErrorKind::NoActiveLifecycleAction
            }
            "ValidationError" => ApiErrorKind::Validation,
            "SignatureDoesNotMatch" => ApiErrorKind::SignatureDoesNotMatch,
            "InvalidClientTokenId" | "UnrecognizedClientException" => {
                ApiErrorKind::InvalidClientTokenId
            }
            "ExpiredToken" | "ExpiredTokenException" => ApiErrorKind::ExpiredToken,
            "AccessDenied" | "AccessDeniedException" => ApiErrorKind::AccessDenied,
            "Throttling" | "ThrottlingException" => ApiErrorKind::Throttling,
            "ResourceContention" => ApiErrorKind::ResourceContention,
            other => ApiErrorKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for ApiErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ApiErrorKind::NoActiveLifecycleAction => "no active lifecycle action",
            ApiErrorKind::Validation => "ValidationError",
            ApiErrorKind::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ApiErrorKind::InvalidClientTokenId => "InvalidClientTokenId",
            ApiErrorKind::ExpiredToken => "ExpiredToken",
            ApiErrorKind::AccessDenied => "AccessDenied",
            ApiErrorKind::Throttling => "Throttling",
            ApiErrorKind::ResourceContention => "ResourceContention",
            ApiErrorKind::Other(code) => code,
        };
        f.write_str(s)
    }
}
