//! The drain workflow: a pure state machine (`machine`), the marker that makes it resumable
//! (`marker`), and the executor that performs each stage's I/O (`executor`).

pub mod decide;
pub mod executor;
pub mod hooks;
pub mod identity;
pub mod lock;
pub mod machine;
pub mod marker;
pub mod pace;
pub mod plan;
pub mod progress;
pub mod request;
pub mod units;

#[cfg(test)]
mod agreement_tests;

use std::time::Duration;

pub use executor::{run, DrainDeps, Outcome};
pub use machine::{DrainOptions, Stage};
pub use marker::{current_boot_id, Marker, MarkerStore, Trigger};
pub use request::DrainRequest;

/// Why a drain did not reach Done; each maps to one documented exit code (`exit::classify`:
/// the command-line contract stays outside the drain).
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
    /// No fleet slot (exit 5), the fleet lock cannot be asked (3), or `[fleet]` is wrong (2).
    #[error(transparent)]
    Fleet(crate::fleet::FleetError),
    /// The disruption budgets refused (5), a source cannot be asked (3), or a budget is
    /// malformed (2).
    #[error(transparent)]
    Budget(crate::budget::BudgetError),
}
