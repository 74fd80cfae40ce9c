//! mesos-maint: take a Mesos / DC/OS agent node out of the cluster safely and bring it back.
//!
//! One module per external system (`mesos`, `systemd`, `cloud`, `config`), the pure view of the
//! node (`node`), the drain workflow (`drain`), and the commands that tie them together
//! (`commands`).

pub mod budget;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod context;
pub mod daemon;
pub mod drain;
pub mod exit;
pub mod fleet;
pub mod health;
pub mod http_url;
pub mod local_work;
pub mod logging;
pub mod mesos;
pub mod node;
pub mod reactivation;
pub mod report;
pub mod state_file;
pub mod systemd;
pub mod wait;
