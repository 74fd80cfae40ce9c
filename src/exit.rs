//! The documented exit codes, and the one place that maps an error to one of them.

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::drain::DrainError;
use crate::fleet::FleetError;
use crate::mesos::MesosError;
use crate::systemd::SystemdError;

/// Exit codes of the command-line contract (design.md). Scripts depend on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// done / safe
    Ok = 0,
    /// `check`: not safe (work running or drain in progress)
    NotSafe = 1,
    /// usage or configuration error
    Usage = 2,
    /// master or agent unreachable, authentication refused, unexpected answer
    Undetermined = 3,
    /// deadline exceeded
    Deadline = 4,
    /// refused by policy (lock not granted, maintenance window, ...)
    Policy = 5,
    /// internal error
    Internal = 70,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// The code a drain previewed by `--dry-run` would end with at its first blocker.
impl From<crate::drain::plan::BlockerKind> for Exit {
    fn from(kind: crate::drain::plan::BlockerKind) -> Exit {
        use crate::drain::plan::BlockerKind;
        match kind {
            BlockerKind::Undetermined => Exit::Undetermined,
            BlockerKind::Config => Exit::Usage,
            BlockerKind::Policy => Exit::Policy,
        }
    }
}

/// An error that already knows its exit code (raised where the decision is made).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Undetermined(String),
    #[error("{0}")]
    Policy(String),
}

/// Walk the error chain and pick the documented exit code for the first error that has one.
pub fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Refusal>() {
            return match e {
                Refusal::Usage(_) => Exit::Usage,
                Refusal::Undetermined(_) => Exit::Undetermined,
                Refusal::Policy(_) => Exit::Policy,
            };
        }
        if cause.downcast_ref::<ConfigError>().is_some() {
            return Exit::Usage;
        }
        if let Some(e) = cause.downcast_ref::<DrainError>() {
            return drain_exit(e);
        }
        if let Some(e) = cause.downcast_ref::<FleetError>() {
            return fleet_exit(e);
        }
        if let Some(e) = cause.downcast_ref::<MesosError>() {
            return match e {
                MesosError::Config(_) => Exit::Usage,
                _ => Exit::Undetermined,
            };
        }
        if cause.downcast_ref::<SystemdError>().is_some() {
            return Exit::Undetermined;
        }
    }
    Exit::Internal
}

/// The drain's errors under the command-line contract.
fn drain_exit(e: &DrainError) -> Exit {
    match e {
        DrainError::DeadlineExceeded { .. } => Exit::Deadline,
        DrainError::HookRefused(_) | DrainError::Busy(_) | DrainError::Refused(_) => Exit::Policy,
        DrainError::Undetermined(_) => Exit::Undetermined,
        DrainError::Config(_) => Exit::Usage,
        DrainError::State(_) => Exit::Internal,
        DrainError::Fleet(f) => fleet_exit(f),
        DrainError::Budget(b) => budget_exit(b),
    }
}

/// A budget that refused (at once or after the wait) is a policy refusal; a source that could
/// not be asked is undetermined; a malformed budget is a configuration error.
pub fn budget_exit(e: &crate::budget::BudgetError) -> Exit {
    use crate::budget::BudgetError as B;
    match e {
        B::Impossible(_) | B::Timeout { .. } => Exit::Policy,
        B::Unknown { .. } => Exit::Undetermined,
        B::Config(_) => Exit::Usage,
    }
}

/// No slot in time (or none free and not waiting) is a policy refusal; a fleet lock that
/// cannot be asked is undetermined; a wrong `[fleet]` is a configuration error.
pub fn fleet_exit(e: &FleetError) -> Exit {
    match e {
        FleetError::Refused { .. } | FleetError::Timeout { .. } => Exit::Policy,
        FleetError::Unavailable(_) => Exit::Undetermined,
        FleetError::Config(_) => Exit::Usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_errors_are_undetermined_even_behind_context() {
        let errors = [
            SystemdError::AccessDenied {
                detail: "stopping x.service: Access denied".into(),
            },
            SystemdError::BusUnavailable {
                address: "unix:path=/nonexistent".into(),
                detail: "No such file or directory".into(),
            },
            SystemdError::JobFailed {
                unit: "x.service".into(),
                action: "stop",
                result: "failed".into(),
            },
        ];
        for e in errors {
            let err = anyhow::Error::from(e).context("cannot reach systemd over D-Bus");
            assert_eq!(classify(&err), Exit::Undetermined, "{err:#}");
        }
    }

    #[test]
    fn drain_errors_keep_their_codes() {
        let cases = [
            (
                DrainError::Config("no agent unit found".into()),
                Exit::Usage,
            ),
            (DrainError::Undetermined("x".into()), Exit::Undetermined),
            (
                DrainError::DeadlineExceeded {
                    deadline: std::time::Duration::from_secs(2),
                    holders: vec![],
                },
                Exit::Deadline,
            ),
            (DrainError::Busy("x".into()), Exit::Policy),
        ];
        for (e, want) in cases {
            assert_eq!(classify(&anyhow::Error::from(e)), want);
        }
        assert_eq!(
            classify(&anyhow::Error::from(Refusal::Usage("x".into()))),
            Exit::Usage
        );
        assert_eq!(classify(&anyhow::anyhow!("plain")), Exit::Internal);
    }

    #[test]
    fn fleet_errors_exit_5_3_or_2() {
        let refused = FleetError::Refused {
            group: "g".into(),
            holders: "x".into(),
        };
        assert_eq!(fleet_exit(&refused), Exit::Policy);
        let timeout = FleetError::Timeout {
            group: "g".into(),
            waited: std::time::Duration::from_secs(60),
            holders: "held by a".into(),
        };
        assert_eq!(fleet_exit(&timeout), Exit::Policy);
        assert!(timeout.to_string().contains("within 1m"), "{timeout}");
        assert_eq!(
            fleet_exit(&FleetError::Unavailable("x".into())),
            Exit::Undetermined
        );
        assert_eq!(fleet_exit(&FleetError::Config("x".into())), Exit::Usage);
    }
}
