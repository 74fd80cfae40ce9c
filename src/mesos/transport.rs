//! HTTP transport for the operator API: one reqwest client, authentication, redirects followed by
//! hand, bounded 503 retries and body size caps.
//!
//! Redirects are followed here and not by reqwest because reqwest drops `Authorization` when a
//! redirect crosses hosts, and a non-leading master always redirects to another host (with a
//! scheme-relative `Location`). 301, 302, 307 and 308 are all replayed with the same method, body
//! and headers (Mesos only sends 307; a proxy upgrading http to https may send 301/302, and a POST
//! turned into a GET would be meaningless for `/api/v1`). 303 is reported as an error. A redirect
//! from https to http is refused so that credentials never leave over plain text.
//!
//! 503 (no leader elected, master or agent still recovering, "already being transitioned") is
//! retried with exponential backoff until `RetryPolicy::max_elapsed`. Connection errors are *not*
//! retried: a `check` must answer quickly when the local agent is down, and callers that poll
//! already have their own loop and deadline.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use url::Url;

use super::error::{reason_text, MesosError};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A filtered answer is a few KiB; a full GET_AGENTS of a big cluster is streamed, never buffered.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_millis(200);
pub const DEFAULT_RETRY_MAX_INTERVAL: Duration = Duration::from_secs(5);
/// A master failover (election plus registry recovery) normally completes well within a minute.
pub const DEFAULT_RETRY_MAX_ELAPSED: Duration = Duration::from_secs(60);
/// Error reasons are one short line; no need to read a large error page to report it.
const MAX_ERROR_BODY_BYTES: usize = 4096;
/// Mesos compares the header with `==`; any parameter (`; charset=utf-8`) gets 415.
const JSON: &str = "application/json";

/// How requests authenticate. `Debug` never prints the secret or token.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// HTTP basic (plain Mesos `--authenticate_http_readwrite`).
    Basic {
        principal: String,
        secret: String,
    },
    /// DC/OS: `Authorization: token=<jwt>`.
    Token(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { principal, .. } => f
                .debug_struct("Basic")
                .field("principal", principal)
                .field("secret", &"<redacted>")
                .finish(),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

impl Auth {
    /// Basic credentials. Mesos splits the decoded credential on *every* `:` and wants exactly two
    /// parts, so a `:` in the principal or secret can never authenticate: refuse it up front.
    pub fn basic(principal: &str, secret: &str) -> Result<Auth, MesosError> {
        let secret = strip_one_newline(secret);
        if principal.is_empty() {
            return Err(MesosError::Config(
                "the basic-auth principal is empty".into(),
            ));
        }
        if principal.contains(':') {
            return Err(MesosError::Config(format!(
                "the basic-auth principal {principal:?} contains ':', which Mesos can never authenticate"
            )));
        }
        if secret.is_empty() {
            return Err(MesosError::Config("the basic-auth secret is empty".into()));
        }
        if secret.contains(':') {
            return Err(MesosError::Config(
                "the basic-auth secret contains ':'; Mesos splits credentials on every ':' and can never authenticate it"
                    .into(),
            ));
        }
        Ok(Auth::Basic {
            principal: principal.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Basic credentials with the secret read from a file that must not be world-readable.
    pub fn basic_from_file(principal: &str, path: &Path) -> Result<Auth, MesosError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            MesosError::Config(format!("cannot read secret file {}: {e}", path.display()))
        })?;
        let mode = meta.permissions().mode();
        if mode & 0o004 != 0 {
            return Err(MesosError::Config(format!(
                "secret file {} is readable by everyone (mode {:o}); run chmod o-rwx on it",
                path.display(),
                mode & 0o7777
            )));
        }
        let secret = read_text_file(path, "secret")?;
        Auth::basic(principal, &secret).map_err(|e| match e {
            MesosError::Config(msg) => {
                MesosError::Config(format!("{msg} (from {})", path.display()))
            }
            other => other,
        })
    }

    /// A DC/OS authentication token read from a file (surrounding whitespace trimmed).
    pub fn token_from_file(path: &Path) -> Result<Auth, MesosError> {
        let token = read_text_file(path, "token")?;
        let token = token.trim();
        if token.is_empty() {
            return Err(MesosError::Config(format!(
                "token file {} is empty",
                path.display()
            )));
        }
        Ok(Auth::Token(token.to_string()))
    }

    fn header(&self) -> Result<Option<HeaderValue>, MesosError> {
        let raw = match self {
            Auth::None => return Ok(None),
            Auth::Basic { principal, secret } => {
                let cred = base64::engine::general_purpose::STANDARD
                    .encode(format!("{principal}:{secret}"));
                format!("Basic {cred}")
            }
            Auth::Token(token) => format!("token={token}"),
        };
        let mut value = HeaderValue::from_str(&raw).map_err(|_| {
            MesosError::Config(
                "the token contains characters that cannot be sent in an HTTP header".into(),
            )
        })?;
        // Keeps the value out of reqwest/hyper debug output.
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

fn strip_one_newline(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .unwrap_or(s)
}

fn read_text_file(path: &Path, what: &str) -> Result<String, MesosError> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| {
            MesosError::Config(format!("cannot read {what} file {}: {e}", path.display()))
        })?;
    Ok(text)
}

/// Backoff for 503 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max_interval: Duration,
    /// Total time budget of one call, retries included; zero means a single attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: DEFAULT_RETRY_INITIAL,
            max_interval: DEFAULT_RETRY_MAX_INTERVAL,
            max_elapsed: DEFAULT_RETRY_MAX_ELAPSED,
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter (50–100 % of the nominal delay) so that many nodes
    /// waiting out the same failover do not hit the new leader in lockstep.
    fn delay(&self, attempt: u32) -> Duration {
        let nominal = self
            .initial
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_interval);
        let frac = f64::from(jitter_seed() % 1000) / 1000.0;
        nominal.mul_f64(0.5 + 0.5 * frac)
    }
}

fn jitter_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct TransportSettings {
    pub auth: Auth,
    /// Extra trusted CAs (a PEM bundle, one or more certificates), on top of the system roots.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Whole exchange including the body (also for streamed bodies).
    pub request_timeout: Duration,
    /// Cap for buffered answers (`call`, `get`); streamed answers are not capped.
    pub max_body_bytes: u64,
    pub max_redirects: u32,
    pub retry: RetryPolicy,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            auth: Auth::None,
            ca_file: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            retry: RetryPolicy::default(),
        }
    }
}

/// One HTTP client shared by the master and agent clients. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    auth: Option<HeaderValue>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_body_bytes: u64,
    max_redirects: u32,
    retry: RetryPolicy,
    sent: AtomicU64,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("authenticated", &self.inner.auth.is_some())
            .field("requests_sent", &self.requests_sent())
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(settings: TransportSettings) -> Result<Transport, MesosError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("mesos-maint/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                MesosError::Config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| MesosError::Config(format!("bad CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(MesosError::Config(format!(
                    "CA file {} holds no PEM certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| MesosError::Config(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Transport {
            inner: Arc::new(Inner {
                client,
                auth: settings.auth.header()?,
                connect_timeout: settings.connect_timeout,
                request_timeout: settings.request_timeout,
                max_body_bytes: settings.max_body_bytes,
                max_redirects: settings.max_redirects,
                retry: settings.retry,
                sent: AtomicU64::new(0),
            }),
        })
    }

    /// `POST <base>/api/v1` with a JSON call; returns the URL that finally answered and the 2xx
    /// body (empty for the write calls).
    pub async fn call(
        &self,
        base: &Url,
        body: &serde_json::Value,
    ) -> Result<(Url, Bytes), MesosError> {
        let (url, resp) = self.exchange(base, "/api/v1", Some(encode(body))).await?;
        let bytes = self
            .read_capped(&url, resp, self.inner.max_body_bytes)
            .await?;
        Ok((url, bytes))
    }

    /// `GET <base><path_and_query>` (v0 endpoints), same auth, redirect and retry rules as `call`.
    /// `limit` caps the body below the transport's own cap (never above it).
    pub async fn get(
        &self,
        base: &Url,
        path_and_query: &str,
        limit: Option<u64>,
    ) -> Result<(Url, Bytes), MesosError> {
        let (url, resp) = self.exchange(base, path_and_query, None).await?;
        let limit = limit.map_or(self.inner.max_body_bytes, |l| {
            l.min(self.inner.max_body_bytes)
        });
        let bytes = self.read_capped(&url, resp, limit).await?;
        Ok((url, bytes))
    }

    /// Like `get`, also giving the 2xx status (an SDK scheduler's `/v1/health` tells 200 from
    /// 202-208).
    pub async fn get_with_status(
        &self,
        base: &Url,
        path_and_query: &str,
    ) -> Result<(u16, Bytes), MesosError> {
        let (url, resp) = self.exchange(base, path_and_query, None).await?;
        let status = resp.status().as_u16();
        let bytes = self
            .read_capped(&url, resp, self.inner.max_body_bytes)
            .await?;
        Ok((status, bytes))
    }

    /// Like `call`, but hands the 2xx body over as a blocking reader, without a size cap and
    /// without buffering it whole. The reader blocks on the runtime: use it from
    /// `tokio::task::spawn_blocking`, never on an async worker thread.
    pub async fn call_streaming(
        &self,
        base: &Url,
        body: &serde_json::Value,
    ) -> Result<(Url, Box<dyn Read + Send>), MesosError> {
        let (url, resp) = self.exchange(base, "/api/v1", Some(encode(body))).await?;
        let stream = Box::pin(resp.bytes_stream().map_err(std::io::Error::other));
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok((url, Box::new(tokio_util::io::SyncIoBridge::new(reader))))
    }

    /// HTTP requests actually sent (redirect hops and retries included), by every clone.
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// Sends the request, following redirects and retrying 503s; returns the 2xx response.
    async fn exchange(
        &self,
        base: &Url,
        path_and_query: &str,
        body: Option<Bytes>,
    ) -> Result<(Url, reqwest::Response), MesosError> {
        let first = endpoint(base, path_and_query)?;
        let retry = self.inner.retry;
        let started = Instant::now();
        let mut url = first.clone();
        let mut hops = 0u32;
        let mut attempt = 0u32;
        loop {
            let resp = self.send_once(&url, body.as_ref()).await?;
            let status = resp.status();
            if status.is_success() {
                return Ok((url, resp));
            }
            match status {
                StatusCode::MOVED_PERMANENTLY
                | StatusCode::FOUND
                | StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT => {
                    hops += 1;
                    if hops > self.inner.max_redirects {
                        return Err(MesosError::TooManyRedirects { url: shown(&first) });
                    }
                    let next = redirect_target(&url, &resp)?;
                    tracing::debug!(from = %shown(&url), to = %shown(&next), status = status.as_u16(), "following redirect");
                    url = next;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(MesosError::AuthRefused {
                        url: shown(&url),
                        status: status.as_u16(),
                    });
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    let reason = reason_text(&read_prefix(resp, MAX_ERROR_BODY_BYTES).await);
                    let elapsed = started.elapsed();
                    if elapsed >= retry.max_elapsed {
                        return Err(MesosError::NoLeader {
                            url: shown(&url),
                            detail: if reason.is_empty() {
                                "HTTP 503".to_string()
                            } else {
                                reason
                            },
                        });
                    }
                    let delay = retry.delay(attempt).min(retry.max_elapsed - elapsed);
                    tracing::info!(url = %shown(&url), %reason, retry_in = ?delay, "HTTP 503, retrying");
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    let reason = reason_text(&read_prefix(resp, MAX_ERROR_BODY_BYTES).await);
                    return Err(MesosError::Status {
                        url: shown(&url),
                        status: status.as_u16(),
                        body: reason,
                    });
                }
            }
        }
    }

    async fn send_once(
        &self,
        url: &Url,
        body: Option<&Bytes>,
    ) -> Result<reqwest::Response, MesosError> {
        let client = &self.inner.client;
        let mut req = match body {
            Some(b) => client
                .post(url.clone())
                .header(CONTENT_TYPE, JSON)
                .body(b.clone()),
            None => client.get(url.clone()),
        };
        req = req.header(ACCEPT, JSON);
        if let Some(auth) = &self.inner.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        self.inner.sent.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(method = if body.is_some() { "POST" } else { "GET" }, url = %shown(url), "sending");
        req.send().await.map_err(|e| self.unreachable(url, &e))
    }

    fn unreachable(&self, url: &Url, e: &reqwest::Error) -> MesosError {
        let detail = if e.is_timeout() && e.is_connect() {
            format!("connect timed out after {:?}", self.inner.connect_timeout)
        } else if e.is_timeout() {
            format!("timed out after {:?}", self.inner.request_timeout)
        } else {
            error_chain(e)
        };
        MesosError::Unreachable {
            url: shown(url),
            detail,
        }
    }

    /// Reads a 2xx body, refusing more than `limit` bytes (announced or actually sent).
    async fn read_capped(
        &self,
        url: &Url,
        mut resp: reqwest::Response,
        limit: u64,
    ) -> Result<Bytes, MesosError> {
        let too_large = || MesosError::TooLarge {
            url: shown(url),
            limit,
        };
        if resp.content_length().is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let hint = resp.content_length().unwrap_or(0).min(limit) as usize;
        let mut buf = BytesMut::with_capacity(hint);
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(url, &e))? {
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

fn encode(body: &serde_json::Value) -> Bytes {
    Bytes::from(body.to_string())
}

/// `<base>` + `path_and_query`, keeping any path prefix of the base (Admin Router's `/mesos`).
fn endpoint(base: &Url, path_and_query: &str) -> Result<Url, MesosError> {
    if !matches!(base.scheme(), "http" | "https") {
        return Err(MesosError::Config(format!(
            "unsupported URL scheme in {base} (expected http or https)"
        )));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(MesosError::Config(
            "credentials in a Mesos URL are not supported; configure [auth] instead".into(),
        ));
    }
    let mut root = base.clone();
    root.set_query(None);
    root.set_fragment(None);
    let joined = format!("{}{}", root.as_str().trim_end_matches('/'), path_and_query);
    Url::parse(&joined).map_err(|e| MesosError::Config(format!("bad URL {joined}: {e}")))
}

/// Resolves `Location` (scheme-relative `//host:port/path?query` from Mesos) against the URL
/// that answered, per RFC 3986.
fn redirect_target(from: &Url, resp: &reqwest::Response) -> Result<Url, MesosError> {
    let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
    resolve_location(from, resp.status().as_u16(), location)
}

fn resolve_location(from: &Url, status: u16, location: Option<&str>) -> Result<Url, MesosError> {
    let location = location.ok_or_else(|| MesosError::Decode {
        url: shown(from),
        detail: format!("HTTP {status} without a usable Location header"),
    })?;
    let next = from.join(location).map_err(|e| MesosError::Decode {
        url: shown(from),
        detail: format!("HTTP {status} with a bad Location {location:?}: {e}"),
    })?;
    if from.scheme() == "https" && next.scheme() != "https" {
        return Err(MesosError::Status {
            url: shown(from),
            status,
            body: format!(
                "refusing to follow a redirect from https to {}",
                shown(&next)
            ),
        });
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(MesosError::Decode {
            url: shown(from),
            detail: format!("redirect to a non-HTTP URL {}", shown(&next)),
        });
    }
    Ok(next)
}

/// The first bytes of an error body; the rest is dropped (the reason is one line anyway).
async fn read_prefix(mut resp: reqwest::Response, max: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk[..chunk.len().min(max - buf.len())]),
            _ => break,
        }
    }
    buf
}

/// A URL for messages and logs, without any password.
pub(crate) fn shown(url: &Url) -> String {
    if url.password().is_some() {
        let mut u = url.clone();
        let _ = u.set_password(None);
        u.to_string()
    } else {
        url.to_string()
    }
}

/// reqwest's own message is "error sending request for url (...)"; the causes say what happened.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests;
