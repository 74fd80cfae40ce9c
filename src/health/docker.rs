//! `docker`: `docker.service` is active and the Docker API answers `GET /_ping` on its unix
//! socket; and the tiny client behind it (`/_ping`, `/info`'s `LiveRestoreEnabled`), with
//! `daemon.json` as the fallback for live-restore when the API does not answer.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use super::{Check, CHECK_TIMEOUT, DOCKER};
use crate::systemd::Systemd;

/// Answers larger than this are cut off (`/info` is a few KiB).
const MAX_ANSWER: u64 = 1024 * 1024;

pub struct DockerCheck {
    pub check: Check,
    pub active: bool,
    /// Active, but the API did not answer in time.
    pub hung: bool,
}

pub async fn check(systemd: Option<&Systemd>, unit: &str, socket: &Path) -> DockerCheck {
    let outcome = |check, active, hung| DockerCheck {
        check,
        active,
        hung,
    };
    let Some(systemd) = systemd else {
        return outcome(
            Check::cannot_run(DOCKER, "systemd cannot be reached over D-Bus"),
            false,
            false,
        );
    };
    let state = match tokio::time::timeout(CHECK_TIMEOUT, systemd.unit_state(unit)).await {
        Err(_) => {
            return outcome(
                Check::cannot_run(
                    DOCKER,
                    format!("systemd did not answer within {CHECK_TIMEOUT:?}"),
                ),
                false,
                false,
            )
        }
        Ok(Err(e)) => return outcome(Check::cannot_run(DOCKER, e.to_string()), false, false),
        Ok(Ok(state)) => state,
    };
    if state.load_state == "not-found" {
        return outcome(
            Check::skip(DOCKER, format!("{unit} is not installed")),
            false,
            false,
        );
    }
    if !state.is_active() {
        return outcome(
            Check::fail(
                DOCKER,
                format!("{unit} is {} ({})", state.active_state, state.sub_state),
            ),
            false,
            false,
        );
    }
    let shown = socket.display();
    match get(socket, "/_ping", CHECK_TIMEOUT).await {
        Ok((200, _)) => outcome(
            Check::pass(DOCKER, format!("{unit} is active; {shown} answered /_ping")),
            true,
            false,
        ),
        Ok((status, _)) => outcome(
            Check::fail(DOCKER, format!("GET /_ping on {shown} answered {status}")),
            true,
            false,
        ),
        Err(DockerError::Timeout) => outcome(
            Check::fail(
                DOCKER,
                format!(
                    "{unit} is active but {shown} did not answer /_ping within {}s",
                    CHECK_TIMEOUT.as_secs()
                ),
            ),
            true,
            true,
        ),
        Err(e) => outcome(
            Check::fail(DOCKER, format!("GET /_ping on {shown}: {e}")),
            true,
            false,
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no answer in time")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unreadable answer: {0}")]
    Protocol(String),
}

/// `GET path` over the unix socket (HTTP/1.0: the daemon closes the connection after the
/// answer, so no chunked body); the status and the body, within `timeout`.
pub async fn get(
    socket: &Path,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), DockerError> {
    let exchange = async {
        let mut stream = UnixStream::connect(socket).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
            .await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await?;
        parse_answer(&answer)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| DockerError::Timeout)?
}

/// Status code and body of a whole HTTP/1.x answer.
pub fn parse_answer(answer: &[u8]) -> Result<(u16, Vec<u8>), DockerError> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| DockerError::Protocol("no end of headers".into()))?;
    let head = std::str::from_utf8(&answer[..end])
        .map_err(|_| DockerError::Protocol("headers are not text".into()))?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| DockerError::Protocol(format!("bad status line {status_line:?}")))?,
        _ => {
            return Err(DockerError::Protocol(format!(
                "bad status line {status_line:?}"
            )))
        }
    };
    Ok((status, answer[end + 4..].to_vec()))
}

/// `LiveRestoreEnabled` from `GET /info`.
pub async fn live_restore_from_api(socket: &Path, timeout: Duration) -> Result<bool, DockerError> {
    let (status, body) = get(socket, "/info", timeout).await?;
    if status != 200 {
        return Err(DockerError::Protocol(format!(
            "GET /info answered {status}"
        )));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| DockerError::Protocol(e.to_string()))?;
    Ok(v.get("LiveRestoreEnabled")
        .and_then(serde_json::Value::as_bool)
        == Some(true))
}

/// `live-restore` from `daemon.json`: `Some(false)` when the file is missing (Docker's default),
/// `None` when it cannot be read or parsed.
pub fn live_restore_from_config(path: &Path) -> Option<bool> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| tracing::warn!("{}: {e}", path.display()))
                .ok()?;
            Some(v.get("live-restore").and_then(serde_json::Value::as_bool) == Some(true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(e) => {
            tracing::warn!("{}: {e}", path.display());
            None
        }
    }
}

/// Live-restore as the API says when it answers, else as `daemon.json` says.
pub async fn live_restore(socket: &Path, config: &Path) -> Option<bool> {
    match live_restore_from_api(socket, CHECK_TIMEOUT).await {
        Ok(on) => Some(on),
        Err(e) => {
            tracing::debug!("GET /info: {e}; reading {}", config.display());
            live_restore_from_config(config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let (s, b) =
            parse_answer(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nOK").unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"OK"[..]));
        assert!(parse_answer(b"HTTP/1.0 200 OK\r\n").is_err());
        assert!(parse_answer(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn daemon_json_live_restore() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        assert_eq!(
            live_restore_from_config(&p),
            Some(false),
            "missing: Docker's default"
        );
        std::fs::write(&p, r#"{"live-restore": true, "log-driver": "journald"}"#).unwrap();
        assert_eq!(live_restore_from_config(&p), Some(true));
        std::fs::write(&p, r#"{"log-driver": "journald"}"#).unwrap();
        assert_eq!(live_restore_from_config(&p), Some(false));
        std::fs::write(&p, "{").unwrap();
        assert_eq!(live_restore_from_config(&p), None);
    }
}
