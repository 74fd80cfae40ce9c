//! Test support for fleet coordination: a real ZooKeeper server and a 3.4 request-type proxy.

#![allow(dead_code)]

pub mod zk34_proxy;
pub mod zk_server;
