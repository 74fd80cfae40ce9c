//! The long-running service (`mesos-maint daemon`) and its building blocks.
//!
//! - [`metrics`]: the Prometheus text exporter on `daemon.metrics_listen`.
//! - [`notify`]: `sd_notify` (READY, STATUS, STOPPING, WATCHDOG).

pub mod boot;
pub mod cloud;
pub mod metrics;
pub mod notify;
pub mod observer;
pub mod policy;
pub mod run;
pub mod shutdown;
