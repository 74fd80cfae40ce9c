//! Mesos operator API client (master and agent): wire types, transport, leader handling.
//!
//! `transport` speaks HTTP (auth, hand-followed redirects, 503 retries, size caps); `types` holds the
//! serde wire shapes; `master` and `agent` turn calls into small typed answers; `scan` finds one
//! agent in a huge GET_AGENTS stream without building the document; `leader` picks the master URL.

pub mod agent;
pub mod error;
pub mod leader;
pub mod maintenance;
pub mod master;
pub mod scan;
pub mod transport;
pub mod types;

#[cfg(test)]
pub(crate) mod testutil;

pub use agent::{AgentClient, AgentInfo, AgentState, FrameworkName, Operation, Task, TaskBuckets};
pub use error::MesosError;
pub use master::MasterClient;
pub use transport::{Auth, RetryPolicy, Transport, TransportSettings};
pub use types::{AgentLookup, DrainInfo, DrainState, MasterAgent};
