//! The long-running service (`mesos-maint daemon`) and its building blocks.
//!
//! - [`metrics`]: the Prometheus text exporter on `daemon.metrics_listen`.

pub mod boot;
pub mod cloud;
pub mod metrics;
pub mod policy;
pub mod run;
pub mod running;
pub mod shutdown;
pub mod sink;
