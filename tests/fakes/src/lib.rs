//! Loopback fakes of the AWS and Docker endpoints `mesos-maint` talks to, for tests (a test fixture, like
//! `tests/mesos-sim`):
//!
//! - [`FakeImds`]: the EC2 instance metadata service with IMDSv2 required (a token from
//!   `PUT /latest/api/token` with a TTL header, 401 without it), `target-lifecycle-state` and
//!   `spot/instance-action` switchable, an instance profile's credentials.
//! - [`FakeAutoScaling`]: the Auto Scaling Query API for the two lifecycle-action calls; it
//!   recomputes every request's Signature Version 4 with the test credentials ([`sigv4`], an
//!   implementation independent of the client's) and refuses bad ones as AWS does, keeps which
//!   lifecycle actions are pending, and records the calls.
//! - [`FakeDocker`]: the Docker Engine API on a unix socket (`/_ping`, `/info` with
//!   `LiveRestoreEnabled`), each able to hang like a wedged dockerd.
//! - [`FakeFleetLock`]: a FleetLock server (fleet coordination), answering as airlock or as
//!   poseidon/fleetlock.
//!
//! The HTTP fakes listen on `127.0.0.1:<ephemeral>` and stop when dropped.

pub mod autoscaling;
pub mod docker;
pub mod fleetlock;
pub mod imds;
mod server;
pub mod sigv4;

pub use autoscaling::{Call, FakeAutoScaling, Rejection, TestCredentials};
pub use docker::FakeDocker;
pub use fleetlock::{FakeFleetLock, Flavor, FleetLockRequest};
pub use imds::{FakeImds, ImdsRequest};
