//! The long-running service (`mesos-maint daemon`) and its building blocks.
//!
//! - [`metrics`]: the Prometheus text exporter on `daemon.metrics_listen`.
//! - [`health`]: the periodic node health checks and their automatic repairs.

pub mod boot;
pub mod cloud;
pub mod health;
pub mod metrics;
pub mod policy;
pub mod run;
pub mod running;
pub mod shutdown;
pub mod sink;
