//! A tiny HTTP/1.1 server for unit tests: answers each request with whatever the handler returns
//! and records the raw request (method, target, headers, body). One request per connection.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Header names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Leave out Content-Length and end the body by closing the connection.
    pub no_length: bool,
}

impl Canned {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Canned {
        Canned {
            status,
            headers: Vec::new(),
            body: body.into(),
            no_length: false,
        }
    }

    pub fn json(body: &serde_json::Value) -> Canned {
        Canned::new(200, body.to_string()).header("Content-Type", "application/json")
    }

    pub fn redirect(status: u16, location: &str) -> Canned {
        Canned::new(status, "").header("Location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn without_length(mut self) -> Canned {
        self.no_length = true;
        self
    }
}

type Handler = dyn Fn(usize, &Recorded) -> Canned + Send + Sync;

pub struct TestServer {
    pub url: Url,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// `handler(n, request)` gets the 0-based index of the request on this server.
    pub async fn start(
        handler: impl Fn(usize, &Recorded) -> Canned + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let log = task_log.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(req.clone());
                        log.len() - 1
                    };
                    let canned = handler(n, &req);
                    let _ = sock.write_all(&render(&canned)).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TestServer {
            url: Url::parse(&format!("http://{addr}")).unwrap(),
            log,
            task,
        }
    }

    /// Always the same answer.
    pub async fn fixed(canned: Canned) -> TestServer {
        TestServer::start(move |_, _| canned.clone()).await
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn port(&self) -> u16 {
        self.url.port().unwrap()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

fn render(c: &Canned) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", c.status);
    for (n, v) in &c.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !c.no_length {
        out.push_str(&format!("Content-Length: {}\r\n", c.body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&c.body);
    bytes
}

/// Settings for tests: short retry budget so a 503 test takes well under a second.
pub fn fast_settings() -> crate::mesos::TransportSettings {
    crate::mesos::TransportSettings {
        retry: crate::mesos::RetryPolicy {
            initial: std::time::Duration::from_millis(10),
            max_interval: std::time::Duration::from_millis(40),
            max_elapsed: std::time::Duration::from_millis(300),
        },
        ..Default::default()
    }
}
