//! Shared harness for the system tests: a real systemd manager (and optionally a real logind) on
//! a private bus, inside a private mount namespace. See `sandbox` for the entry points.
//!
//! Include it from an integration test with `mod support;`. Every test binary uses only part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod fake;
pub mod proc;
pub mod sandbox;
pub mod sim;
