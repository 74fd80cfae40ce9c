//! A fake Docker Engine API on a unix socket: `GET /_ping` and `GET /info` (with
//! `LiveRestoreEnabled`), each of which can be told to hang (accept the connection, read the
//! request, never answer), the way a wedged dockerd behaves. Answers are HTTP/1.0 with a
//! `Content-Length`, and the connection is closed after each one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

#[derive(Default)]
struct Knobs {
    ping_hangs: AtomicBool,
    info_hangs: AtomicBool,
    live_restore: AtomicBool,
    pings: AtomicUsize,
    infos: AtomicUsize,
}

/// The fake; it listens until dropped (the socket file is removed then).
pub struct FakeDocker {
    path: PathBuf,
    knobs: Arc<Knobs>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDocker {
    /// Listen on `path` (replacing a stale socket file) on the current tokio runtime.
    pub fn start(path: &Path) -> std::io::Result<FakeDocker> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let knobs = Arc::new(Knobs::default());
        let task = tokio::spawn({
            let knobs = knobs.clone();
            async move {
                let mut conns = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    while conns.try_join_next().is_some() {}
                    conns.spawn(serve(stream, knobs.clone()));
                }
            }
        });
        Ok(FakeDocker {
            path: path.to_path_buf(),
            knobs,
            task,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `GET /_ping` hangs (true) or answers `OK` (false).
    pub fn set_ping_hangs(&self, on: bool) {
        self.knobs.ping_hangs.store(on, Ordering::SeqCst);
    }

    /// `GET /info` hangs (true) or answers (false).
    pub fn set_info_hangs(&self, on: bool) {
        self.knobs.info_hangs.store(on, Ordering::SeqCst);
    }

    /// What `GET /info` says in `LiveRestoreEnabled`.
    pub fn set_live_restore(&self, on: bool) {
        self.knobs.live_restore.store(on, Ordering::SeqCst);
    }

    /// `/_ping` requests received (answered or not).
    pub fn pings(&self) -> usize {
        self.knobs.pings.load(Ordering::SeqCst)
    }

    /// `/info` requests received (answered or not).
    pub fn infos(&self) -> usize {
        self.knobs.infos.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(mut stream: UnixStream, knobs: Arc<Knobs>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    // The API is also served under a version prefix (`/v1.41/_ping`).
    let path = match target.strip_prefix("/v") {
        Some(rest) => rest
            .find('/')
            .map_or(target.clone(), |i| rest[i..].to_string()),
        None => target.clone(),
    };
    let (hangs, status, ctype, body) = match path.as_str() {
        "/_ping" => {
            knobs.pings.fetch_add(1, Ordering::SeqCst);
            (
                knobs.ping_hangs.load(Ordering::SeqCst),
                "200 OK",
                "text/plain; charset=utf-8",
                "OK".to_string(),
            )
        }
        "/info" => {
            knobs.infos.fetch_add(1, Ordering::SeqCst);
            let live = knobs.live_restore.load(Ordering::SeqCst);
            (
                knobs.info_hangs.load(Ordering::SeqCst),
                "200 OK",
                "application/json",
                format!(
                    r#"{{"ID":"fake","Containers":3,"ServerVersion":"20.10.24","LiveRestoreEnabled":{live}}}"#
                ),
            )
        }
        _ => (
            false,
            "404 Not Found",
            "application/json",
            r#"{"message":"page not found"}"#.to_string(),
        ),
    };
    if hangs {
        // Keep the connection open and silent until the client gives up (or the fake stops).
        let _ = stream.read(&mut buf).await;
        std::future::pending::<()>().await;
    }
    let answer = format!(
        "HTTP/1.0 {status}\r\nApi-Version: 1.41\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}
