//! Disruption budgets (design.md "Disruption budgets"): a drain never takes the last healthy
//! instances of an application.
//!
//! Pure parts: [`spec`] (budget values), [`settings`] (`[budget]`), [`workloads`] (local tasks
//! to Marathon apps and SDK services), [`rule`] (required, healthy elsewhere, in flight,
//! impossible). I/O: [`marathon`] and [`sdk`] (the sources, one request per local workload),
//! [`intents`] (ZooKeeper, one compare-and-set with the decision), [`round`] (one evaluation)
//! and [`wait`] (the Budget stage's bounded wait and the per-trigger rules).

pub mod intents;
pub mod marathon;
pub mod round;
pub mod rule;
pub mod sdk;
pub mod settings;
pub mod spec;
pub mod wait;
pub mod workloads;

use std::time::Duration;

pub use round::{plan, Planned, Round, Sources};
pub use rule::Verdict;
pub use settings::{BudgetSettings, Unknown};
pub use wait::{BudgetError, BudgetRule, Passage};
pub use workloads::{Workload, WorkloadId};

/// Each Marathon or SDK scheduler request's bound.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A source (Marathon, an SDK scheduler, the master's GET_AGENTS) that could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);
