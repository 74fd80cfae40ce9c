use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::mesos::testutil::{fast_settings, Canned, TestServer};
use crate::mesos::Transport;

fn agent(base: &Url) -> AgentClient {
    AgentClient::new(
        Arc::new(Transport::new(fast_settings()).unwrap()),
        base.clone(),
    )
}

async fn resolve_with_state(state: serde_json::Value) -> (Url, LeaderSource) {
    let srv = TestServer::fixed(Canned::json(&state)).await;
    resolve_master(None, &agent(&srv.url)).await
}

#[tokio::test]
async fn configured_wins_without_asking_the_agent() {
    let srv = TestServer::fixed(Canned::new(500, "")).await;
    let configured = Url::parse("https://m1:5050").unwrap();
    let (url, src) = resolve_master(Some(&configured), &agent(&srv.url)).await;
    assert_eq!((url, src), (configured, LeaderSource::Configured));
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn agent_flag_host_port() {
    let (url, src) =
        resolve_with_state(json!({"flags":{"master":"10.0.4.125:5050"},"master_hostname":"x"}))
            .await;
    assert_eq!(url.as_str(), "http://10.0.4.125:5050/");
    assert_eq!(src, LeaderSource::AgentView);
}

#[tokio::test]
async fn zookeeper_flag_falls_back_to_master_hostname() {
    let (url, src) = resolve_with_state(json!({
        "flags":{"master":"zk://zk-1.zk:2181,zk-2.zk:2181/mesos"},"master_hostname":"ip-10-0-4-125.ec2.internal"}))
    .await;
    assert_eq!(url.as_str(), "http://ip-10-0-4-125.ec2.internal:5050/");
    assert_eq!(src, LeaderSource::AgentView);
}

#[tokio::test]
async fn nothing_usable_gives_the_default() {
    let (url, src) = resolve_with_state(json!({"flags":{"master":"file:///etc/mesos/zk"}})).await;
    assert_eq!(
        (url.as_str(), src),
        ("http://leader.mesos:5050/", LeaderSource::DefaultDns)
    );
    let (_, src) = resolve_with_state(json!({"master_hostname":""})).await;
    assert_eq!(src, LeaderSource::DefaultDns);
}

#[tokio::test]
async fn agent_errors_fall_through() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let (url, src) = resolve_master(None, &agent(&base)).await;
    assert_eq!(
        (url.as_str(), src),
        ("http://leader.mesos:5050/", LeaderSource::DefaultDns)
    );
    let srv = TestServer::fixed(Canned::new(401, "")).await;
    let (_, src) = resolve_master(None, &agent(&srv.url)).await;
    assert_eq!(src, LeaderSource::DefaultDns);
}

#[test]
fn master_flag_forms() {
    let f = |s: &str| from_master_flag(s, "https").map(|u| u.to_string());
    assert_eq!(
        f("10.0.0.1:5050").as_deref(),
        Some("https://10.0.0.1:5050/")
    );
    assert_eq!(
        f("master.mesos").as_deref(),
        Some("https://master.mesos:5050/")
    );
    assert_eq!(f("http://m:5050").as_deref(), Some("http://m:5050/"));
    assert_eq!(f("[::1]:5050").as_deref(), Some("https://[::1]:5050/"));
    assert_eq!(f("zk://zk-1:2181/mesos"), None);
    assert_eq!(f("file:///etc/mesos/zk"), None);
    assert_eq!(f("m1:5050,m2:5050"), None);
    assert_eq!(f(""), None);
    assert_eq!(f("m:5050/path"), None);
}

#[test]
fn master_hostname_forms() {
    let f = |s: &str| from_master_hostname(s, "http").map(|u| u.to_string());
    assert_eq!(f("10.0.4.125").as_deref(), Some("http://10.0.4.125:5050/"));
    assert_eq!(f("fd00::1").as_deref(), Some("http://[fd00::1]:5050/"));
    assert_eq!(f(" "), None);
    assert_eq!(f("bad host"), None);
}
