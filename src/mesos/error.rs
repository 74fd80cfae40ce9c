//! The one error type of the Mesos client. Callers branch on the variant (auth vs. unreachable vs.
//! a refusal with a status code), so each failure class has its own variant.

/// Error bodies from Mesos are short plain-text reasons; anything longer is noise in a one-line message.
pub(crate) const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum MesosError {
    /// Connection refused, DNS failure, TLS failure or timeout.
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// 401 or 403.
    #[error("{url} refused the request: HTTP {status} (check the principal, secret or token and the ACLs)")]
    AuthRefused { url: String, status: u16 },
    /// 503 ("No leader elected", "not finished recovery", ...) still after all retries.
    #[error("no usable leading master at {url}: {detail}")]
    NoLeader { url: String, detail: String },
    /// Any other non-2xx answer; `body` is the trimmed plain-text reason.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("too many redirects starting at {url}")]
    TooManyRedirects { url: String },
    #[error("answer from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// The answer arrived but was not what the API promises.
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
    /// Local configuration problem (CA file, secret or token file, ...).
    #[error("{0}")]
    Config(String),
}

impl MesosError {
    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            MesosError::AuthRefused { status, .. } | MesosError::Status { status, .. } => {
                Some(*status)
            }
            MesosError::NoLeader { .. } => Some(503),
            _ => None,
        }
    }

    /// DRAIN_AGENT refused because the agent's machine is in a maintenance schedule (400).
    pub fn is_in_maintenance_schedule(&self) -> bool {
        self.is_400_containing("is part of a maintenance schedule")
    }

    /// START/STOP_MAINTENANCE on a machine missing from the schedule.
    pub fn is_not_in_maintenance_schedule(&self) -> bool {
        self.is_400_containing("is not part of a maintenance schedule")
    }

    /// START_MAINTENANCE on a machine that is DOWN already.
    pub fn is_not_in_draining_mode(&self) -> bool {
        self.is_400_containing("not in DRAINING mode")
    }

    /// STOP_MAINTENANCE on a machine that is not DOWN (scheduled only).
    pub fn is_not_in_down_mode(&self) -> bool {
        self.is_400_containing("not in DOWN mode")
    }

    /// UPDATE_MAINTENANCE_SCHEDULE leaving out a machine that is DOWN.
    pub fn is_down_machine_left_out(&self) -> bool {
        self.is_400_containing("is deactivated and cannot be removed")
    }

    /// REACTIVATE_AGENT on an agent that is not deactivated (400): already active, or unknown.
    pub fn is_not_deactivated(&self) -> bool {
        self.is_400_containing("not deactivated")
    }

    /// REACTIVATE_AGENT refused while the agent is still DRAINING (400, MESOS-10096).
    pub fn is_still_draining(&self) -> bool {
        self.is_400_containing("DRAINING")
    }

    /// REACTIVATE_AGENT on an agent that is not currently registered: 409, yet the master has
    /// saved the reactivation.
    pub fn is_saved_while_unregistered(&self) -> bool {
        self.status() == Some(409)
    }

    fn is_400_containing(&self, needle: &str) -> bool {
        self.status() == Some(400) && self.body().is_some_and(|b| b.contains(needle))
    }

    /// The plain-text reason of a non-2xx answer (e.g. "Unknown agent").
    pub fn body(&self) -> Option<&str> {
        match self {
            MesosError::Status { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// Trims a plain-text error body to one short line (Mesos reasons end with a newline at most).
pub(crate) fn reason_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_REASON_CHARS {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(MAX_REASON_CHARS).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_one_trimmed_line() {
        assert_eq!(reason_text(b"Unknown agent\n"), "Unknown agent");
        assert_eq!(reason_text(b"  a\nb  "), "a b");
        let long = "x".repeat(500);
        let r = reason_text(long.as_bytes());
        assert_eq!(r.chars().count(), MAX_REASON_CHARS + 1);
        // never splits a multi-byte character
        let wide = "é".repeat(300);
        assert!(reason_text(wide.as_bytes()).ends_with('…'));
    }

    #[test]
    fn accessors() {
        let e = MesosError::Status {
            url: "http://m:5050/api/v1".into(),
            status: 400,
            body: "Unknown agent".into(),
        };
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.body(), Some("Unknown agent"));
        assert_eq!(
            e.to_string(),
            "http://m:5050/api/v1 answered HTTP 400: Unknown agent"
        );
        let e = MesosError::AuthRefused {
            url: "u".into(),
            status: 401,
        };
        assert_eq!(e.status(), Some(401));
        assert_eq!(e.body(), None);
        assert_eq!(MesosError::Config("x".into()).status(), None);
    }
}
