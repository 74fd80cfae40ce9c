//! mesos-maint: take a Mesos / DC/OS agent node out of the cluster safely and bring it back.
//!
//! One module per external system (`mesos`, `systemd`, `config`), the drain workflow in `drain`,
//! and the commands that tie them together in `commands`.

pub mod mesos;
pub mod systemd;
