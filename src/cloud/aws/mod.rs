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
