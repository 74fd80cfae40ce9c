//! Black-box tests of the core commands: the built binary against the in-repo Mesos simulator.

#[path = "../common/mod.rs"]
mod common;
#[path = "../fleet_support/mod.rs"]
mod fleet_support;

mod activation;
mod aws;
mod budget;
mod check;
mod drain;
mod fleet;
mod maintenance;
mod transport;
mod usage;
