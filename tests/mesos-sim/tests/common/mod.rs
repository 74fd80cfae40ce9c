//! A tiny HTTP/1.1 client over a plain TcpStream (no reqwest), for the simulator's tests.

#![allow(dead_code)]

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Resp> {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(authority).await?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    Ok(parse(&raw))
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16)
                .expect("hex size");
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");

/// POST /api/v1 with Content-Type: application/json.
pub async fn call(base: &str, body: &str) -> Resp {
    request(base, "POST", "/api/v1", &[JSON], Some(body))
        .await
        .expect("request")
}

pub async fn call_with(base: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    request(base, "POST", "/api/v1", headers, Some(body))
        .await
        .expect("request")
}

pub async fn get(base: &str, path: &str) -> Resp {
    request(base, "GET", path, &[], None)
        .await
        .expect("request")
}

pub async fn post(base: &str, path: &str) -> Resp {
    request(base, "POST", path, &[], None)
        .await
        .expect("request")
}

pub fn drain_body(id: &str, extra: &str) -> String {
    format!(r#"{{"type":"DRAIN_AGENT","drain_agent":{{"agent_id":{{"value":"{id}"}}{extra}}}}}"#)
}

pub fn agent_call(t: &str, id: &str) -> String {
    let key = t.to_ascii_lowercase();
    format!(r#"{{"type":"{t}","{key}":{{"agent_id":{{"value":"{id}"}}}}}}"#)
}

/// The GET_AGENTS entry of `id`, if listed.
pub async fn agent_entry(master: &str, id: &str) -> Option<Value> {
    let r = call(master, r#"{"type":"GET_AGENTS"}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    v["get_agents"]["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|a| a["agent_info"]["id"]["value"] == id)
}
