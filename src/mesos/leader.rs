//! Which master to talk to. Any master will do (non-leaders answer 307 to the leader, which the
//! transport follows), so this only has to find *a* master, cheaply and without failing.

use serde::Serialize;
use url::Url;

use super::agent::AgentClient;

/// DC/OS's DNS name for the leading master.
pub const DEFAULT_LEADER: &str = "http://leader.mesos:5050";
pub const MASTER_PORT: u16 = 5050;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LeaderSource {
    /// `--master` / config.
    Configured,
    /// The local agent's `/state` (its `--master` flag or the master it is registered with).
    AgentView,
    /// [`DEFAULT_LEADER`].
    DefaultDns,
}

/// `configured` if given; else what the local agent knows; else [`DEFAULT_LEADER`]. Never fails:
/// agent errors just fall through (logged at debug).
pub async fn resolve_master(configured: Option<&Url>, agent: &AgentClient) -> (Url, LeaderSource) {
    if let Some(url) = configured {
        return (url.clone(), LeaderSource::Configured);
    }
    match agent.state().await {
        Ok(state) => {
            if let Some(url) = master_from_state(&state, agent.url().scheme()) {
                return (url, LeaderSource::AgentView);
            }
            tracing::debug!(?state, "the local agent names no usable master");
        }
        Err(e) => tracing::debug!("cannot ask the local agent for its master: {e}"),
    }
    let url = Url::parse(DEFAULT_LEADER).expect("DEFAULT_LEADER is a valid URL");
    (url, LeaderSource::DefaultDns)
}

/// The master the agent's `/state` names: its `--master` flag when that names one master
/// directly, else the master it is registered with; `scheme` is the agent's.
pub fn master_from_state(state: &super::agent::AgentState, scheme: &str) -> Option<Url> {
    let from_flag = state
        .master_flag
        .as_deref()
        .and_then(|f| from_master_flag(f, scheme));
    from_flag.or_else(|| {
        state
            .master_hostname
            .as_deref()
            .and_then(|h| from_master_hostname(h, scheme))
    })
}

/// The agent's `--master` flag when it names one master directly (`host:port`, or an explicit
/// http(s) URL); `zk://…` and `file://…` do not.
fn from_master_flag(flag: &str, scheme: &str) -> Option<Url> {
    let flag = flag.trim();
    if flag.is_empty() || flag.contains(',') {
        return None;
    }
    let url = if flag.contains("://") {
        Url::parse(flag)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))?
    } else {
        Url::parse(&format!("{scheme}://{flag}")).ok()?
    };
    if url.host_str().is_none_or(str::is_empty) || !matches!(url.path(), "" | "/") {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return None;
    }
    let mut root = url;
    if root.port().is_none() && !flag.contains("://") {
        root.set_port(Some(MASTER_PORT)).ok()?;
    }
    Some(root)
}

fn from_master_hostname(host: &str, scheme: &str) -> Option<Url> {
    let host = host.trim();
    if host.is_empty() {
        return None;
    }
    // An IPv6 literal needs brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let url = Url::parse(&format!("{scheme}://{host}:{MASTER_PORT}")).ok()?;
    url.host_str().is_some_and(|h| !h.is_empty()).then_some(url)
}

#[cfg(test)]
mod tests;
