//! One file per command; each turns validated settings into calls on the external-system modules
//! and returns the exit code it decided on (errors are classified in `exit::classify`).

pub mod deactivate;
pub mod drain;
pub mod fleet;
pub mod generate;
pub mod health;
pub mod maintenance;
pub mod observe;
pub mod reactivate;
pub mod reboot;
pub mod self_test;
pub mod status;
