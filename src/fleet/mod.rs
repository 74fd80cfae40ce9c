//! Fleet coordination: a cluster-wide budget of nodes out (design.md, "Fleet coordination").
//!
//! Every drain takes a **slot** in its **group** first and keeps it until the node is back; at
//! most `max_unavailable` slots per group are held at once. One trait, [`FleetLock`], and one file
//! per backend:
//!
//! - [`none`]: no coordination (the default; today's behaviour),
//! - [`zookeeper`]: the real lock, one persistent znode per group changed only by a versioned
//!   compare-and-set, in the ZooKeeper the cluster already runs (3.4-compatible requests only),
//! - [`fleetlock`]: the FleetLock protocol (coreos/airlock, what zincati speaks),
//! - [`master`]: a best-effort count of agents out, from one streamed GET_AGENTS.
//!
//! [`wait::take_slot`] waits up to `fleet.wait` for a slot (a ZooKeeper watch, otherwise bounded
//! backoff), naming the holders in its progress. [`settings`] parses the `[fleet]` keys.
//!
//! Taking and releasing are idempotent by holder id: a resumed drain or a retried lifecycle hook
//! finds its own slot instead of taking a second one, and releasing a slot not held is not an
//! error.
//!
//! Wiring (not done here): `config::Settings.fleet` holds the parsed `[fleet]` keys; [`open`]
//! builds the backend; the holder is [`Holder::new`] with [`FleetSettings::holder_id`], the agent
//! id from Resolve, the hostname and the trigger; `drain`/`reboot`/scale-in call
//! [`take_slot`] with `fleet.wait` (or `--fleet-wait`), spot and shutdown call
//! [`admit_never_refused`]; [`FleetError::exit`] gives the exit code (`exit::classify` does not
//! know `FleetError` yet); `fleet status` is [`FleetLock::groups`], `fleet release --id` is
//! [`FleetLock::release`].

pub mod fleetlock;
pub mod gone;
pub mod master;
pub mod none;
pub mod settings;
pub mod view;
pub mod wait;
pub mod zookeeper;

use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use gone::{GoneAgents, MasterGone};
pub use settings::{Backend, Digest, FleetSettings, ZkUrl};
pub use view::{FleetReport, SlotView};
pub use wait::{admit_never_refused, take_slot, take_slot_reaping, Admission, Slot, WaitProgress};

/// Who holds a slot: written into the lock (ZooKeeper) and shown by `fleet status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder id (`fleet.id`, default the hostname): what taking and releasing match on.
    pub id: String,
    /// The Mesos agent id at the time the slot was taken (may be empty when unknown).
    #[serde(default)]
    pub agent_id: String,
    #[serde(default)]
    pub hostname: String,
    /// What started the drain (`manual`, `reboot`, `shutdown`, `autoscaling`, `spot`, ...): kept as
    /// text so that a holder written by a newer version still reads.
    #[serde(default)]
    pub trigger: String,
    /// When the slot was taken (RFC 3339, UTC, seconds).
    #[serde(with = "rfc3339")]
    pub since: SystemTime,
}

impl Holder {
    /// A holder record stamped now.
    pub fn new(id: &str, agent_id: &str, hostname: &str, trigger: &str) -> Holder {
        Holder {
            id: id.to_string(),
            agent_id: agent_id.to_string(),
            hostname: hostname.to_string(),
            trigger: trigger.to_string(),
            since: SystemTime::now(),
        }
    }

    /// `id (agent …, trigger, since …)` for progress lines and refusals.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.agent_id.is_empty() {
            parts.push(format!("agent {}", self.agent_id));
        }
        if !self.hostname.is_empty() && self.hostname != self.id {
            parts.push(self.hostname.clone());
        }
        if !self.trigger.is_empty() {
            parts.push(self.trigger.clone());
        }
        parts.push(format!(
            "since {}",
            humantime::format_rfc3339_seconds(self.since)
        ));
        format!("{} ({})", self.id, parts.join(", "))
    }
}

/// Names holders for a message: `a (…), b (…)`, or `unknown holders` when the backend cannot say.
pub fn describe_holders(holders: &[Holder]) -> String {
    if holders.is_empty() {
        return "holders unknown".into();
    }
    holders
        .iter()
        .map(Holder::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `since` fields as RFC 3339 seconds, readable in `zkCli get` (also the budget intents').
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_seconds(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

/// The answer to one attempt at taking a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// The slot is ours. `already` when this holder id held it before (a resumed drain).
    Granted { already: bool },
    /// Every slot is held. `holders` as far as the backend can tell (FleetLock cannot);
    /// `revision` identifies what was seen, for [`FleetLock::changed`].
    Full {
        holders: Vec<Holder>,
        revision: i64,
        detail: String,
    },
}

/// The answer to releasing a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    Released,
    /// This holder id held no slot (already released): not an error.
    NotHeld,
}

/// What `fleet status` shows for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    pub backend: &'static str,
    pub group: String,
    /// `None` where the backend does not know (FleetLock: the server decides).
    pub max_unavailable: Option<u32>,
    /// `None` where the backend cannot list them (FleetLock).
    pub holders: Option<Vec<Holder>>,
}

/// A fleet backend. Object safe (boxed futures) so the backend is picked at run time from
/// `fleet.backend`.
pub trait FleetLock: Send + Sync {
    /// `none`, `master`, `zookeeper` or `fleetlock`.
    fn backend(&self) -> &'static str;

    /// This node's group.
    fn group(&self) -> &str;

    /// One attempt at taking a slot for `holder` (no waiting: see [`wait::take_slot`]).
    /// Idempotent: a holder id that already holds a slot gets `Granted { already: true }`.
    fn take<'a>(&'a self, holder: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>>;

    /// Gives the slot of holder `id` back. Idempotent: `NotHeld` when it holds none.
    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>>;

    /// The group's slots and holders.
    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>>;

    /// Every group the backend knows, for `fleet status` (default: this node's group only;
    /// ZooKeeper lists the groups under its chroot).
    fn groups(&self) -> BoxFuture<'_, Result<Vec<GroupStatus>, FleetError>> {
        Box::pin(async move { Ok(vec![self.status().await?]) })
    }

    /// The ZooKeeper lock behind this backend, for the disruption budgets' intents (recorded in
    /// the same ensemble, same session); `None` for the other backends, which have no store.
    fn zookeeper(&self) -> Option<&zookeeper::ZkLock> {
        None
    }

    /// Resolves when the slots may have changed since `revision` was seen, or after at most `max`.
    /// The default waits `max` (polling backends); ZooKeeper sets a watch instead.
    fn changed(&self, revision: i64, max: Duration) -> BoxFuture<'_, Result<(), FleetError>> {
        let _ = revision;
        Box::pin(async move {
            tokio::time::sleep(max).await;
            Ok(())
        })
    }
}

/// Fleet errors, each with the exit code class of the command-line contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// No slot now and no waiting asked for (`wait = 0s`): exit 5.
    #[error("fleet: no slot free in group {group} ({holders}); not waiting (fleet.wait = 0s)")]
    Refused { group: String, holders: String },
    /// No slot within `fleet.wait`: exit 5.
    #[error(
        "fleet: no slot free in group {group} within {} ({holders})",
        humantime::format_duration(*waited)
    )]
    Timeout {
        group: String,
        waited: Duration,
        holders: String,
    },
    /// The lock service cannot be asked or gave an answer that cannot be trusted: exit 3.
    #[error("fleet: {0}")]
    Unavailable(String),
    /// A configuration problem (bad URL, digest file, a 4xx from a FleetLock server): exit 2.
    #[error("fleet: {0}")]
    Config(String),
}

/// The lock `settings` name. `master` is the master to count agents on (the leader's URL and
/// the transport of the drain's `MasterClient`); only the master backend uses it, and it is a
/// configuration error for that backend to lack it. Nothing is contacted here: sessions and
/// requests start with the first call.
pub fn open(
    settings: &FleetSettings,
    master: Option<(std::sync::Arc<crate::mesos::Transport>, url::Url)>,
) -> Result<Box<dyn FleetLock>, FleetError> {
    settings.validate().map_err(FleetError::Config)?;
    Ok(match settings.backend {
        Backend::None => Box::new(none::NoLock::new(&settings.group)),
        Backend::ZooKeeper => Box::new(zookeeper::ZkLock::from_settings(settings)?),
        Backend::FleetLock => Box::new(fleetlock::FleetLockClient::from_settings(settings)?),
        Backend::Master => {
            let (transport, leader) = master.ok_or_else(|| {
                FleetError::Config("the master backend needs the master to ask".into())
            })?;
            Box::new(master::MasterCount::new(
                master::MasterCensus::new(transport, leader),
                settings.max_unavailable,
            ))
        }
    })
}

/// This machine's hostname: the default holder id.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
