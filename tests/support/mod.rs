//! Shared harness for the system tests: a real systemd manager (and optionally a real logind) on
//! a private bus, inside a private mount namespace. See `sandbox` for the entry points; `node`
//! runs the binary under test against the simulator, `daemon` holds a running daemon.
//!
//! Include it from an integration test with `mod support;`. Every test binary uses only part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod daemon;
pub mod daemon_node;
pub mod fake;
pub mod isolate;
pub mod logind;
pub mod node;
pub mod proc;
pub mod sandbox;
pub mod sim;
