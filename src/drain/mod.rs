//! The drain workflow: a pure state machine (`machine`), the marker that makes it resumable
//! (`marker`), and the executor that performs each stage's I/O (`executor`).

pub mod executor;
pub mod hooks;
pub mod identity;
pub mod lock;
pub mod machine;
pub mod marker;
pub mod pace;
pub mod plan;
pub mod progress;
pub mod units;

use std::time::Duration;

use crate::exit::Exit;

pub use executor::{run, DrainDeps, DrainRequest, Outcome};
pub use machine::{Policy, Stage};
pub use marker::{current_boot_id, Marker, MarkerStore, Trigger};

/// Why a drain did not reach Done; each maps to one documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("deadline of {} exceeded; still holding the drain: {}", humantime::format_duration(*.deadline), .holders.join("; "))]
    DeadlineExceeded {
        deadline: Duration,
        holders: Vec<String>,
    },
    #[error("pre-drain hook refused: {0}")]
    HookRefused(String),
    #[error("{0}")]
    Busy(String),
    #[error("the master refused the drain: {0}")]
    Refused(String),
    #[error("{0}")]
    Undetermined(String),
    #[error("{0}")]
    Config(String),
    #[error("state dir: {0}")]
    State(String),
}

impl DrainError {
    pub fn exit(&self) -> Exit {
        match self {
            DrainError::DeadlineExceeded { .. } => Exit::Deadline,
            DrainError::HookRefused(_) | DrainError::Busy(_) | DrainError::Refused(_) => {
                Exit::Policy
            }
            DrainError::Undetermined(_) => Exit::Undetermined,
            DrainError::Config(_) => Exit::Usage,
            DrainError::State(_) => Exit::Internal,
        }
    }
}
