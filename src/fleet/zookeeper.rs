//! `backend = "zookeeper"`: the real lock, in the ZooKeeper every Mesos / DC/OS cluster runs.
//!
//! One persistent znode per group, `<chroot>/<group>`, holds the holders as JSON
//! (`{"holders":[{id, agent_id, hostname, trigger, since}, …]}`). It is changed only by a
//! versioned `setData` (compare-and-set): read data and version, decide, write with the version
//! read; BadVersion means another node won the race, so read again. Two nodes racing for the last
//! slot cannot both win.
//!
//! ZooKeeper 3.4 (DC/OS ships 3.4.14) is the target: the client is told so
//! (`Connector::with_server_version(3, 4, 14)`), which makes it send `create` (1), never `create2`
//! (15); no TTL or container nodes are used. A one-shot data watch that has not fired is never
//! dropped while the session lives (the client would send `removeWatches` (18), which 3.4 lacks):
//! it is handed to a task that ends when the watch fires or the session closes.
//!
//! A lost connection after a write means an unknown outcome: the znode is read again and the
//! holder's id looked for, which is why taking and releasing are idempotent by id. Every call
//! is bounded ([`ZkTimeouts`]); an unreachable ensemble, a lost quorum or an expired session end
//! in [`FleetError::Unavailable`], never in a hang.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use zookeeper_client as zk;

use super::settings::{Digest, FleetSettings, ZkUrl};
use super::{FleetError, FleetLock, GroupStatus, Holder, Release, Take};

/// The child of the chroot under which disruption budgets record their intents; not a group.
pub const BUDGETS_ZNODE: &str = "budgets";

/// The ZooKeeper version the client speaks to: DC/OS's.
pub const SERVER_VERSION: (u32, u32, u32) = (3, 4, 14);

/// Bounds on every ZooKeeper interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZkTimeouts {
    /// Session timeout asked for (the server clamps it to [2, 20] x its tickTime).
    pub session: Duration,
    /// Establishing a session.
    pub connect: Duration,
    /// One request's answer.
    pub request: Duration,
    /// One whole take or release, reconnects and lost races included.
    pub operation: Duration,
}

impl Default for ZkTimeouts {
    fn default() -> Self {
        ZkTimeouts {
            session: Duration::from_secs(10),
            connect: Duration::from_secs(10),
            request: Duration::from_secs(10),
            operation: Duration::from_secs(30),
        }
    }
}

/// The group znode's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDoc {
    #[serde(default)]
    pub holders: Vec<Holder>,
}

impl GroupDoc {
    /// Empty data (a znode created by hand) is an empty group; anything else must be the JSON.
    pub fn parse(data: &[u8]) -> Result<GroupDoc, String> {
        if data.iter().all(u8::is_ascii_whitespace) {
            return Ok(GroupDoc::default());
        }
        serde_json::from_slice(data).map_err(|e| e.to_string())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("holders serialize")
    }

    pub fn holds(&self, id: &str) -> bool {
        self.holders.iter().any(|h| h.id == id)
    }
}

/// The ZooKeeper lock of one group.
pub struct ZkLock {
    url: ZkUrl,
    group: String,
    digest: Option<Digest>,
    timeouts: ZkTimeouts,
    shared: Arc<Shared>,
    /// The session, opened on first use and replaced after it expires.
    client: tokio::sync::Mutex<Option<zk::Client>>,
    /// A data watch set by `changed` and not fired yet: (version it was set at, fired flag).
    watch: std::sync::Mutex<Option<(i64, tokio::sync::watch::Receiver<bool>)>>,
}

/// What a [`ZkLock::compare_and_set`] decision does with the data it read.
pub enum Cas<T> {
    /// Leave it; the answer is `T`.
    Keep(T),
    /// Write these bytes over the version read; the answer, once written, is `T`.
    Write(Vec<u8>, T),
}

/// What one attempt against the znode concluded.
enum Step<T> {
    Done(T),
    /// Lost a race, lost the connection or the session: read again.
    Again,
}

impl ZkLock {
    pub fn from_settings(s: &FleetSettings) -> Result<ZkLock, FleetError> {
        let url = s.zookeeper.clone().ok_or_else(|| {
            FleetError::Config("fleet.backend = \"zookeeper\" needs fleet.zookeeper".into())
        })?;
        let digest = match &s.zookeeper_digest_file {
            Some(p) => Some(Digest::from_file(p)?),
            None => None,
        };
        Ok(ZkLock::new(
            url,
            &s.group,
            s.max_unavailable,
            digest,
            ZkTimeouts::default(),
        ))
    }

    pub fn new(
        url: ZkUrl,
        group: &str,
        max_unavailable: u32,
        digest: Option<Digest>,
        timeouts: ZkTimeouts,
    ) -> ZkLock {
        let acl = match &digest {
            Some(d) => vec![zk::Acl::new(
                zk::Permission::ALL,
                zk::AuthId::new("digest", &d.acl_id()),
            )],
            None => vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())],
        };
        let shared = Arc::new(Shared {
            path: format!("{}/{group}", url.chroot),
            max_unavailable: max_unavailable.max(1),
            acl,
            request: timeouts.request,
        });
        ZkLock {
            url,
            group: group.to_string(),
            digest,
            timeouts,
            shared,
            client: tokio::sync::Mutex::new(None),
            watch: std::sync::Mutex::new(None),
        }
    }

    /// The group znode's absolute path.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// The session, opened when there is none.
    async fn session(&self) -> Result<zk::Client, FleetError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            if !matches!(
                c.state(),
                zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
            ) {
                return Ok(c.clone());
            }
        }
        *slot = None;
        let (major, minor, patch) = SERVER_VERSION;
        let mut connector = zk::Client::connector()
            .with_server_version(major, minor, patch)
            .with_session_timeout(self.timeouts.session);
        if let Some(d) = &self.digest {
            connector = connector.with_auth("digest", &d.auth_bytes());
        }
        let servers = self.url.connect_string();
        let client =
            match tokio::time::timeout(self.timeouts.connect, connector.connect(&servers)).await {
                Ok(Ok(c)) => c,
                Ok(Err(zk::Error::AuthFailed)) => {
                    return Err(FleetError::Unavailable(format!(
                "ZooKeeper {servers} refused the digest credentials of fleet.zookeeper_digest_file"
            )))
                }
                Ok(Err(e)) => {
                    return Err(FleetError::Unavailable(format!(
                        "cannot open a ZooKeeper session with {servers}: {e}"
                    )))
                }
                Err(_) => {
                    return Err(FleetError::Unavailable(format!(
                    "no ZooKeeper session with {servers} within {} (servers down or no quorum?)",
                    humantime::format_duration(self.timeouts.connect)
                )))
                }
            };
        tracing::debug!(servers = %servers, session = ?client.session_id(), "ZooKeeper session open");
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Forget the session (after it expired or closed); the next call opens a new one.
    async fn drop_session(&self) {
        *self.client.lock().await = None;
        *self.watch.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Runs `attempt` until it is done, within [`ZkTimeouts::operation`]; lost races and lost
    /// connections are retried, an expired session is replaced.
    async fn retrying<T>(
        &self,
        what: &str,
        path: &str,
        mut attempt: impl FnMut(
            zk::Client,
            bool,
            Arc<AtomicBool>,
        ) -> BoxFuture<'static, Result<Step<T>, ZkCallError>>,
    ) -> Result<T, FleetError> {
        let deadline = Instant::now() + self.timeouts.operation;
        // A write whose answer was lost may have been applied. `writing` is set by the attempt
        // while its setData is in flight.
        let mut maybe_written = false;
        let writing = Arc::new(AtomicBool::new(false));
        let mut last = String::new();
        let mut pause = Duration::from_millis(5);
        loop {
            if Instant::now() >= deadline {
                return Err(FleetError::Unavailable(format!(
                    "{what} in ZooKeeper znode {path} did not finish within {}: {last}",
                    humantime::format_duration(self.timeouts.operation)
                )));
            }
            let client = match self.session().await {
                Ok(c) => c,
                Err(e) => {
                    // An ensemble that cannot be reached fails at once; retrying is the wait
                    // loop's business, with its own bounds.
                    return Err(e);
                }
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            writing.store(false, Ordering::SeqCst);
            let step =
                tokio::time::timeout(remaining, attempt(client, maybe_written, writing.clone()))
                    .await;
            let was_writing = writing.load(Ordering::SeqCst);
            match step {
                Ok(Ok(Step::Done(v))) => return Ok(v),
                Ok(Ok(Step::Again)) => {
                    // Lost a race: go again at once, with a small jittered pause once it
                    // keeps happening so that 20 racers do not stay in lockstep.
                    tokio::time::sleep(jitter(pause)).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Ok(Err(ZkCallError::Zk(e @ (zk::Error::ConnectionLoss | zk::Error::Timeout)))) => {
                    maybe_written |= was_writing;
                    last = format!("connection lost ({e})");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(ZkCallError::Zk(
                    e @ (zk::Error::SessionExpired | zk::Error::ClientClosed),
                ))) => {
                    maybe_written |= was_writing;
                    last = format!("session ended ({e})");
                    self.drop_session().await;
                }
                Ok(Err(ZkCallError::Zk(zk::Error::NoNode))) => {
                    // The group (or the chroot) was deleted between two requests: start over,
                    // which creates it again.
                    last = "the group znode disappeared".into();
                    tokio::time::sleep(jitter(pause)).await;
                }
                Ok(Err(ZkCallError::Zk(e @ (zk::Error::NoAuth | zk::Error::AuthFailed)))) => {
                    return Err(FleetError::Unavailable(format!(
                        "ZooKeeper refused {what} on {path} ({e}): its ACL does not grant this node; check fleet.zookeeper_digest_file"
                    )));
                }
                Ok(Err(ZkCallError::Zk(e))) => {
                    return Err(FleetError::Unavailable(format!(
                        "ZooKeeper {what} on {path}: {e}"
                    )));
                }
                Ok(Err(ZkCallError::TimedOut(msg))) => {
                    maybe_written |= was_writing;
                    // A session whose server stopped answering: start over with a new one.
                    self.drop_session().await;
                    last = msg;
                }
                Ok(Err(ZkCallError::Fatal(e))) => return Err(e),
                Err(_) => {
                    maybe_written |= was_writing;
                    last = "out of time".into();
                }
            }
        }
    }

    async fn take_once(&self, holder: &Holder) -> Result<Take, FleetError> {
        let this = self.shared();
        let holder = holder.clone();
        self.retrying(
            "taking a slot",
            &self.shared.path,
            move |client, maybe_written, writing| {
                let this = this.clone();
                let holder = holder.clone();
                Box::pin(async move {
                    let (mut doc, stat) = this.read(&client).await?;
                    if doc.holds(&holder.id) {
                        return Ok(Step::Done(Take::Granted {
                            already: !maybe_written,
                        }));
                    }
                    if doc.holders.len() >= this.max_unavailable as usize {
                        return Ok(Step::Done(Take::Full {
                            detail: format!(
                                "{} of {} slots held",
                                doc.holders.len(),
                                this.max_unavailable
                            ),
                            holders: doc.holders,
                            revision: stat.version as i64,
                        }));
                    }
                    doc.holders.push(holder);
                    writing.store(true, Ordering::SeqCst);
                    let written = this.write(&client, &doc, stat.version).await;
                    if !outcome_unknown(&written) {
                        // Answered: applied or not, the outcome is known.
                        writing.store(false, Ordering::SeqCst);
                    }
                    match written {
                        Ok(_) => Ok(Step::Done(Take::Granted { already: false })),
                        Err(ZkCallError::Zk(zk::Error::BadVersion)) => Ok(Step::Again),
                        Err(e) => Err(e),
                    }
                })
            },
        )
        .await
    }

    async fn release_once(&self, id: &str) -> Result<Release, FleetError> {
        let this = self.shared();
        let id = id.to_string();
        self.retrying("releasing a slot", &self.shared.path, move |client, maybe_written, writing| {
            let this = this.clone();
            let id = id.clone();
            Box::pin(async move {
                let (mut doc, stat) = match this.bounded("getData", client.get_data(&this.path)).await
                {
                    Err(ZkCallError::Zk(zk::Error::NoNode)) => {
                        return Ok(Step::Done(Release::NotHeld))
                    }
                    Err(e) => return Err(e),
                    Ok((data, stat)) => (
                        GroupDoc::parse(&data).map_err(|e| {
                            ZkCallError::Fatal(FleetError::Unavailable(format!(
                                "ZooKeeper znode {} does not hold a holder list ({e}); fix or delete it by hand",
                                this.path
                            )))
                        })?,
                        stat,
                    ),
                };
                if !doc.holds(&id) {
                    return Ok(Step::Done(if maybe_written {
                        Release::Released
                    } else {
                        Release::NotHeld
                    }));
                }
                doc.holders.retain(|h| h.id != id);
                writing.store(true, Ordering::SeqCst);
                let written = this.write(&client, &doc, stat.version).await;
                if !outcome_unknown(&written) {
                    // Answered: applied or not, the outcome is known.
                    writing.store(false, Ordering::SeqCst);
                }
                match written {
                    Ok(_) => Ok(Step::Done(Release::Released)),
                    Err(ZkCallError::Zk(zk::Error::BadVersion)) => Ok(Step::Again),
                    Err(e) => Err(e),
                }
            })
        })
        .await
    }

    async fn status_once(&self) -> Result<GroupStatus, FleetError> {
        let this = self.shared();
        let doc = self
            .retrying(
                "reading the slots",
                &self.shared.path,
                move |client, _, _| {
                    let this = this.clone();
                    Box::pin(async move {
                        match this.bounded("getData", client.get_data(&this.path)).await {
                            Err(ZkCallError::Zk(zk::Error::NoNode)) => {
                                Ok(Step::Done(GroupDoc::default()))
                            }
                            Err(e) => Err(e),
                            Ok((data, _)) => GroupDoc::parse(&data).map(Step::Done).map_err(|e| {
                                ZkCallError::Fatal(FleetError::Unavailable(format!(
                                    "ZooKeeper znode {} does not hold a holder list ({e})",
                                    this.path
                                )))
                            }),
                        }
                    })
                },
            )
            .await?;
        Ok(GroupStatus {
            backend: "zookeeper",
            group: self.group.clone(),
            max_unavailable: Some(self.shared.max_unavailable),
            holders: Some(doc.holders),
        })
    }

    /// Every group under the chroot, with its holders (this node's group first, also when it
    /// does not exist yet). Children that are not holder lists are skipped.
    async fn groups_once(&self) -> Result<Vec<GroupStatus>, FleetError> {
        let chroot = self.url.chroot.clone();
        let this = self.shared();
        let mine = self.group.clone();
        let docs = self
            .retrying(
                "listing the groups",
                &self.shared.path,
                move |client, _, _| {
                    let this = this.clone();
                    let chroot = chroot.clone();
                    let mine = mine.clone();
                    Box::pin(async move {
                        let mut names = match this
                            .bounded("getChildren", client.list_children(&chroot))
                            .await
                        {
                            Ok(n) => n,
                            Err(ZkCallError::Zk(zk::Error::NoNode)) => Vec::new(),
                            Err(e) => return Err(e),
                        };
                        names.sort();
                        // The budgets' intents live beside the groups (crate::budget::intents).
                        names.retain(|n| *n != mine && n != BUDGETS_ZNODE);
                        names.insert(0, mine);
                        let mut out = Vec::new();
                        for name in names {
                            let path = format!("{chroot}/{name}");
                            match this.bounded("getData", client.get_data(&path)).await {
                                Ok((data, _)) => {
                                    if let Ok(doc) = GroupDoc::parse(&data) {
                                        out.push((name, doc));
                                    }
                                }
                                Err(ZkCallError::Zk(zk::Error::NoNode)) => {
                                    out.push((name, GroupDoc::default()))
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        Ok(Step::Done(out))
                    })
                },
            )
            .await?;
        Ok(docs
            .into_iter()
            .map(|(group, doc)| GroupStatus {
                backend: "zookeeper",
                group,
                max_unavailable: Some(self.shared.max_unavailable),
                holders: Some(doc.holders),
            })
            .collect())
    }

    /// Waits for the group znode to change from `revision`, at most `max`: one data watch
    /// (a `getData` with watch) instead of polling.
    async fn changed_once(&self, revision: i64, max: Duration) -> Result<(), FleetError> {
        let pending = {
            let guard = self.watch.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .filter(|(v, rx)| *v == revision && !*rx.borrow())
                .map(|(_, rx)| rx.clone())
        };
        let mut rx = match pending {
            Some(rx) => rx,
            None => {
                let client = self.session().await?;
                let (_, stat, watcher) = match self
                    .shared
                    .bounded("getData", client.get_and_watch_data(&self.shared.path))
                    .await
                {
                    Ok(v) => v,
                    Err(ZkCallError::Zk(zk::Error::NoNode)) => return Ok(()),
                    Err(ZkCallError::Zk(zk::Error::SessionExpired | zk::Error::ClientClosed)) => {
                        self.drop_session().await;
                        return Ok(());
                    }
                    Err(e) => {
                        // A server that stopped answering: a new session next time.
                        if matches!(e, ZkCallError::TimedOut(_)) {
                            self.drop_session().await;
                        }
                        return Err(FleetError::Unavailable(e.to_string()));
                    }
                };
                let (tx, rx) = tokio::sync::watch::channel(false);
                // The watcher is never dropped unfired while the session lives (that would send
                // removeWatches, unknown to 3.4): this task owns it until it fires, or until the
                // session closes, which fires it too.
                tokio::spawn(async move {
                    let _event = watcher.changed().await;
                    let _ = tx.send(true);
                });
                if stat.version as i64 != revision {
                    return Ok(());
                }
                *self.watch.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((revision, rx.clone()));
                rx
            }
        };
        let _ = tokio::time::timeout(max, rx.wait_for(|fired| *fired)).await;
        Ok(())
    }

    /// A handle on another znode of the chroot, `<chroot>/<rel>`, with this lock's ACL and
    /// request bound.
    fn shared_at(&self, rel: &str) -> Arc<Shared> {
        Arc::new(Shared {
            path: format!("{}/{rel}", self.url.chroot),
            max_unavailable: self.shared.max_unavailable,
            acl: self.shared.acl.clone(),
            request: self.shared.request,
        })
    }

    /// One versioned compare-and-set on the JSON znode `<chroot>/<rel>` (created with its
    /// parents when missing, holding `{"holders":[]}`): `decide` sees its data and whether an
    /// earlier write of this call may have landed (an unknown outcome), and either keeps it or
    /// gives the new data, which is written only over the version read. BadVersion means another
    /// node changed it in between: read and decide again. The slot's loop, shared with the
    /// budgets' intents.
    pub async fn compare_and_set<T: Send + 'static>(
        &self,
        rel: &str,
        what: &str,
        decide: impl Fn(&[u8], bool) -> Result<Cas<T>, FleetError> + Send + Sync + 'static,
    ) -> Result<T, FleetError> {
        let this = self.shared_at(rel);
        let path = this.path.clone();
        let decide = Arc::new(decide);
        self.retrying(what, &path, move |client, maybe_written, writing| {
            let this = this.clone();
            let decide = decide.clone();
            Box::pin(async move {
                let (data, stat) = this.read_raw(&client).await?;
                let (bytes, value) =
                    match decide(&data, maybe_written).map_err(ZkCallError::Fatal)? {
                        Cas::Keep(v) => return Ok(Step::Done(v)),
                        Cas::Write(bytes, v) => (bytes, v),
                    };
                writing.store(true, Ordering::SeqCst);
                let written = this.write_raw(&client, &bytes, stat.version).await;
                if !outcome_unknown(&written) {
                    writing.store(false, Ordering::SeqCst);
                }
                match written {
                    Ok(_) => Ok(Step::Done(value)),
                    Err(ZkCallError::Zk(zk::Error::BadVersion)) => Ok(Step::Again),
                    Err(e) => Err(e),
                }
            })
        })
        .await
    }

    /// The data of `<chroot>/<rel>`, `None` when it does not exist.
    pub async fn read_znode(&self, rel: &str) -> Result<Option<Vec<u8>>, FleetError> {
        let this = self.shared_at(rel);
        let path = this.path.clone();
        self.retrying("reading", &path, move |client, _, _| {
            let this = this.clone();
            Box::pin(async move {
                match this.bounded("getData", client.get_data(&this.path)).await {
                    Ok((data, _)) => Ok(Step::Done(Some(data))),
                    Err(ZkCallError::Zk(zk::Error::NoNode)) => Ok(Step::Done(None)),
                    Err(e) => Err(e),
                }
            })
        })
        .await
    }

    /// The children of `<chroot>/<rel>` (none when it does not exist).
    pub async fn children(&self, rel: &str) -> Result<Vec<String>, FleetError> {
        let this = self.shared_at(rel);
        let path = this.path.clone();
        self.retrying("listing", &path, move |client, _, _| {
            let this = this.clone();
            Box::pin(async move {
                match this
                    .bounded("getChildren", client.list_children(&this.path))
                    .await
                {
                    Ok(mut n) => {
                        n.sort();
                        Ok(Step::Done(n))
                    }
                    Err(ZkCallError::Zk(zk::Error::NoNode)) => Ok(Step::Done(Vec::new())),
                    Err(e) => Err(e),
                }
            })
        })
        .await
    }

    /// A cheap handle for the `'static` retry closures.
    fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

/// What a retry attempt needs of the lock, owned.
struct Shared {
    path: String,
    max_unavailable: u32,
    acl: Vec<zk::Acl>,
    request: Duration,
}

impl Shared {
    async fn bounded<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, zk::Error>>,
    ) -> Result<T, ZkCallError> {
        match tokio::time::timeout(self.request, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ZkCallError::Zk(e)),
            Err(_) => Err(ZkCallError::TimedOut(format!(
                "ZooKeeper did not answer {what} {} within {} (quorum lost?)",
                self.path,
                humantime::format_duration(self.request)
            ))),
        }
    }

    async fn ensure_group(&self, client: &zk::Client) -> Result<(), ZkCallError> {
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&self.acl));
        let mut prefixes: Vec<&str> = self
            .path
            .match_indices('/')
            .skip(1)
            .map(|(i, _)| &self.path[..i])
            .collect();
        prefixes.push(&self.path);
        for p in prefixes {
            if self
                .bounded("exists", client.check_stat(p))
                .await?
                .is_some()
            {
                continue;
            }
            let data = if p == self.path {
                GroupDoc::default().to_bytes()
            } else {
                Vec::new()
            };
            match self
                .bounded("create", client.create(p, &data, &options))
                .await
            {
                Ok(_) => tracing::info!(path = p, "created ZooKeeper znode for the fleet lock"),
                Err(ZkCallError::Zk(zk::Error::NodeExists)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The znode's data and stat, creating it (and its parents) when missing.
    async fn read_raw(&self, client: &zk::Client) -> Result<(Vec<u8>, zk::Stat), ZkCallError> {
        match self.bounded("getData", client.get_data(&self.path)).await {
            Err(ZkCallError::Zk(zk::Error::NoNode)) => {
                self.ensure_group(client).await?;
                self.bounded("getData", client.get_data(&self.path)).await
            }
            other => other,
        }
    }

    async fn read(&self, client: &zk::Client) -> Result<(GroupDoc, zk::Stat), ZkCallError> {
        let (data, stat) = self.read_raw(client).await?;
        let doc = GroupDoc::parse(&data).map_err(|e| {
            ZkCallError::Fatal(FleetError::Unavailable(format!(
                "ZooKeeper znode {} does not hold a holder list ({e}); fix or delete it by hand",
                self.path
            )))
        })?;
        Ok((doc, stat))
    }

    async fn write(
        &self,
        client: &zk::Client,
        doc: &GroupDoc,
        version: i32,
    ) -> Result<zk::Stat, ZkCallError> {
        self.write_raw(client, &doc.to_bytes(), version).await
    }

    async fn write_raw(
        &self,
        client: &zk::Client,
        data: &[u8],
        version: i32,
    ) -> Result<zk::Stat, ZkCallError> {
        // The compare-and-set: only over the version that was read.
        self.bounded("setData", client.set_data(&self.path, data, Some(version)))
            .await
    }
}

enum ZkCallError {
    Zk(zk::Error),
    TimedOut(String),
    Fatal(FleetError),
}

impl std::fmt::Display for ZkCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZkCallError::Zk(e) => write!(f, "{e}"),
            ZkCallError::TimedOut(m) => f.write_str(m),
            ZkCallError::Fatal(e) => write!(f, "{e}"),
        }
    }
}

impl From<zk::Error> for ZkCallError {
    fn from(e: zk::Error) -> Self {
        ZkCallError::Zk(e)
    }
}

/// A write answered like this may or may not have been applied.
fn outcome_unknown<T>(r: &Result<T, ZkCallError>) -> bool {
    matches!(
        r,
        Err(ZkCallError::TimedOut(_))
            | Err(ZkCallError::Zk(
                zk::Error::ConnectionLoss
                    | zk::Error::Timeout
                    | zk::Error::SessionExpired
                    | zk::Error::ClientClosed
            ))
    )
}

/// `d` scaled by a factor in [0.5, 1.5) from the clock's nanoseconds (no rand dependency).
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.5 + f64::from(nanos % 1000) / 1000.0;
    d.mul_f64(factor)
}

impl FleetLock for ZkLock {
    fn backend(&self) -> &'static str {
        "zookeeper"
    }

    fn group(&self) -> &str {
        &self.group
    }

    fn take<'a>(&'a self, holder: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        Box::pin(self.take_once(holder))
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        Box::pin(self.release_once(id))
    }

    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(self.status_once())
    }

    fn groups(&self) -> BoxFuture<'_, Result<Vec<GroupStatus>, FleetError>> {
        Box::pin(self.groups_once())
    }

    fn changed(&self, revision: i64, max: Duration) -> BoxFuture<'_, Result<(), FleetError>> {
        Box::pin(self.changed_once(revision, max))
    }

    fn zookeeper(&self) -> Option<&ZkLock> {
        Some(self)
    }
}
