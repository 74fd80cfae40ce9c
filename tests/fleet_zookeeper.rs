//! The ZooKeeper fleet lock against a real ZooKeeper server (Debian's 3.8 package, started here on
//! 127.0.0.1 with a temporary data dir), held to the 3.4 request set by a proxy. Each test skips,
//! saying why, only when no JRE or ZooKeeper jar is installed (tests/run-all.sh installs them).

mod fleet_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_support::zk34_proxy::{request_types, Zk34Proxy};
use fleet_support::zk_server::start_or_skip;
use mesos_maint::fleet::settings::{Digest, ZkUrl};
use mesos_maint::fleet::wait::{take_slot_paced, Pacing};
use mesos_maint::fleet::zookeeper::{GroupDoc, ZkLock, ZkTimeouts};
use mesos_maint::fleet::{FleetError, FleetLock, Holder, Release, Take};
use zookeeper_client as zk;

fn timeouts() -> ZkTimeouts {
    ZkTimeouts {
        session: Duration::from_secs(6),
        connect: Duration::from_secs(5),
        request: Duration::from_secs(5),
        operation: Duration::from_secs(20),
    }
}

fn url(address: &str, chroot: &str) -> ZkUrl {
    ZkUrl::parse(&format!("zk://{address}{chroot}")).expect("valid zk url")
}

fn lock(address: &str, chroot: &str, group: &str, max: u32) -> ZkLock {
    ZkLock::new(url(address, chroot), group, max, None, timeouts())
}

fn holder(id: &str) -> Holder {
    Holder::new(
        id,
        &format!("agent-{id}"),
        &format!("{id}.example"),
        "reboot",
    )
}

/// A plain session (no chroot, no auth, 3.4 requests) to look at what the lock wrote.
async fn raw(address: &str) -> zk::Client {
    zk::Client::connector()
        .with_server_version(3, 4, 14)
        .with_session_timeout(Duration::from_secs(6))
        .connect(address)
        .await
        .expect("raw ZooKeeper session")
}

async fn holders_in(address: &str, path: &str) -> Vec<String> {
    let (data, _) = raw(address)
        .await
        .get_data(path)
        .await
        .expect("group znode");
    GroupDoc::parse(&data)
        .expect("holder list")
        .holders
        .into_iter()
        .map(|h| h.id)
        .collect()
}

fn ids(holders: &[Holder]) -> Vec<String> {
    holders.iter().map(|h| h.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_release_and_idempotence() {
    let Some(server) = start_or_skip("take_release_and_idempotence") else {
        return;
    };
    let addr = server.address();
    let a = lock(&addr, "/mesos-maint", "kafka-prod", 1);
    let b = lock(&addr, "/mesos-maint", "kafka-prod", 1);

    let t0 = Instant::now();
    assert_eq!(
        a.take(&holder("node-a")).await.unwrap(),
        Take::Granted { already: false }
    );
    eprintln!(
        "first take (session + chroot + group created): {:?}",
        t0.elapsed()
    );
    // A resumed drain asks again: the same slot, not a second one.
    assert_eq!(
        a.take(&holder("node-a")).await.unwrap(),
        Take::Granted { already: true }
    );
    // Another holder id through another session (a second node) gets the same answer too.
    assert_eq!(
        b.take(&holder("node-a")).await.unwrap(),
        Take::Granted { already: true }
    );
    match b.take(&holder("node-b")).await.unwrap() {
        Take::Full {
            holders, detail, ..
        } => {
            assert_eq!(ids(&holders), ["node-a"]);
            assert_eq!(holders[0].agent_id, "agent-node-a");
            assert_eq!(holders[0].trigger, "reboot");
            assert!(detail.contains("1 of 1"), "{detail}");
        }
        other => panic!("node-b got {other:?}"),
    }
    let status = b.status().await.unwrap();
    assert_eq!(status.max_unavailable, Some(1));
    assert_eq!(ids(status.holders.as_deref().unwrap()), ["node-a"]);
    assert_eq!(
        holders_in(&addr, "/mesos-maint/kafka-prod").await,
        ["node-a"]
    );

    assert_eq!(a.release("node-a").await.unwrap(), Release::Released);
    assert_eq!(a.release("node-a").await.unwrap(), Release::NotHeld);
    assert_eq!(
        b.take(&holder("node-b")).await.unwrap(),
        Take::Granted { already: false }
    );
    assert_eq!(
        holders_in(&addr, "/mesos-maint/kafka-prod").await,
        ["node-b"]
    );
    // Groups are independent.
    let other = lock(&addr, "/mesos-maint", "rack-2", 1);
    assert_eq!(
        other.take(&holder("node-a")).await.unwrap(),
        Take::Granted { already: false }
    );
    // Releasing in a group that does not exist yet is not an error.
    let empty = lock(&addr, "/mesos-maint", "never-used", 1);
    assert_eq!(empty.release("x").await.unwrap(), Release::NotHeld);
    // `fleet status`: every group under the chroot, this node's first (even before it exists).
    let groups = empty.groups().await.unwrap();
    let listed: Vec<(String, Vec<String>)> = groups
        .iter()
        .map(|g| (g.group.clone(), ids(g.holders.as_deref().unwrap())))
        .collect();
    assert_eq!(
        listed,
        [
            ("never-used".to_string(), vec![]),
            ("kafka-prod".to_string(), vec!["node-b".to_string()]),
            ("rack-2".to_string(), vec!["node-a".to_string()]),
        ]
    );

    // Latency of one take and one release on a warm session (loopback, one server).
    let mut takes = Vec::new();
    let mut releases = Vec::new();
    for i in 0..20 {
        let h = holder(&format!("bench-{i}"));
        let t = Instant::now();
        assert!(matches!(other.take(&h).await.unwrap(), Take::Full { .. }));
        takes.push(t.elapsed());
        let t = Instant::now();
        other.release(&h.id).await.unwrap();
        releases.push(t.elapsed());
    }
    let t = Instant::now();
    other.release("node-a").await.unwrap();
    let release_one = t.elapsed();
    let t = Instant::now();
    other.take(&holder("node-z")).await.unwrap();
    eprintln!(
        "warm: refused take median {:?}, no-op release median {:?}, granting take {:?}, releasing {:?}",
        median(&mut takes),
        median(&mut releases),
        t.elapsed(),
        release_one
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_unavailable_is_respected() {
    let Some(server) = start_or_skip("max_unavailable_is_respected") else {
        return;
    };
    let addr = server.address();
    let l = lock(&addr, "/mesos-maint", "web", 3);
    for id in ["n1", "n2", "n3"] {
        assert_eq!(
            l.take(&holder(id)).await.unwrap(),
            Take::Granted { already: false },
            "{id}"
        );
    }
    match l.take(&holder("n4")).await.unwrap() {
        Take::Full { holders, .. } => assert_eq!(ids(&holders), ["n1", "n2", "n3"]),
        other => panic!("n4 got {other:?}"),
    }
    l.release("n2").await.unwrap();
    assert_eq!(
        l.take(&holder("n4")).await.unwrap(),
        Take::Granted { already: false }
    );
    assert_eq!(
        holders_in(&addr, "/mesos-maint/web").await,
        ["n1", "n3", "n4"]
    );
    // An admin deletes the group znode (every slot given back at once): it is created again.
    raw(&addr)
        .await
        .delete("/mesos-maint/web", None)
        .await
        .unwrap();
    assert_eq!(
        l.take(&holder("n5")).await.unwrap(),
        Take::Granted { already: false }
    );
    assert_eq!(holders_in(&addr, "/mesos-maint/web").await, ["n5"]);
}

/// 20 nodes, each with its own session, race for 1 slot at the same instant: exactly one wins.
/// This is the test that fails when the compare-and-set is replaced by a plain write (several
/// win, and the znode keeps only the last writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_racers_one_slot_exactly_one_wins() {
    let Some(server) = start_or_skip("twenty_racers_one_slot_exactly_one_wins") else {
        return;
    };
    let addr = server.address();
    for round in 0..3 {
        let group = format!("race-{round}");
        let locks: Vec<Arc<ZkLock>> = (0..20)
            .map(|_| Arc::new(lock(&addr, "/mesos-maint", &group, 1)))
            .collect();
        // Sessions open (and the group created) before the start line.
        for l in &locks {
            l.status().await.unwrap();
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(locks.len()));
        let mut tasks = Vec::new();
        for (i, l) in locks.iter().enumerate() {
            let l = l.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let h = holder(&format!("racer-{i:02}"));
                (h.id.clone(), l.take(&h).await)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (id, answer) = t.await.unwrap();
            match answer.unwrap() {
                Take::Granted { already: false } => winners.push(id),
                Take::Full { holders, .. } => assert_eq!(holders.len(), 1),
                other => panic!("{id}: {other:?}"),
            }
        }
        let stored = holders_in(&addr, &format!("/mesos-maint/{group}")).await;
        assert_eq!(
            winners.len(),
            1,
            "round {round}: winners {winners:?}, znode {stored:?}"
        );
        assert_eq!(stored, winners, "round {round}");
    }
}

/// Several slots, racers taking and releasing in a loop: never more holders than slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_never_exceeds_the_budget() {
    let Some(server) = start_or_skip("churn_never_exceeds_the_budget") else {
        return;
    };
    let addr = server.address();
    let max = 3;
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let l = lock(&addr, "/mesos-maint", "churn", max);
        let (inside, peak) = (inside.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let h = holder(&format!("c{i}"));
            let mut got = 0;
            while got < 3 {
                if let Take::Granted { .. } = l.take(&h).await.unwrap() {
                    let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    l.release(&h.id).await.unwrap();
                    got += 1;
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    assert!(peak <= max as usize && peak >= 1, "peak {peak}");
    assert!(holders_in(&addr, "/mesos-maint/churn").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chroot_and_parents_are_created() {
    let Some(server) = start_or_skip("chroot_and_parents_are_created") else {
        return;
    };
    let addr = server.address();
    let z = raw(&addr).await;
    assert_eq!(z.check_stat("/ops").await.unwrap(), None);
    let l = lock(&addr, "/ops/dcos/mesos-maint", "kafka-1", 1);
    l.take(&holder("n1")).await.unwrap();
    for p in ["/ops", "/ops/dcos", "/ops/dcos/mesos-maint"] {
        let stat = z
            .check_stat(p)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{p}"));
        // Persistent, not ephemeral: the slot survives the holder's reboot.
        assert_eq!(stat.ephemeral_owner, 0, "{p}");
    }
    let (data, stat) = z.get_data("/ops/dcos/mesos-maint/kafka-1").await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    let doc = GroupDoc::parse(&data).unwrap();
    assert_eq!(ids(&doc.holders), ["n1"]);
    // The holder survives the session that took it.
    drop(l);
    drop(z);
    assert_eq!(
        holders_in(&addr, "/ops/dcos/mesos-maint/kafka-1").await,
        ["n1"]
    );
    // A chroot created beforehand by an admin (empty data) is used as it is.
    let z = raw(&addr).await;
    let acl = zk::Acls::anyone_all();
    z.create("/pre", b"", &zk::CreateMode::Persistent.with_acls(acl))
        .await
        .unwrap();
    z.create("/pre/g", b"", &zk::CreateMode::Persistent.with_acls(acl))
        .await
        .unwrap();
    let l = lock(&addr, "/pre", "g", 1);
    assert_eq!(
        l.take(&holder("n1")).await.unwrap(),
        Take::Granted { already: false }
    );
    // Data that is not a holder list is never overwritten.
    z.set_data("/pre/g", b"not json", None).await.unwrap();
    let e = l.take(&holder("n2")).await.unwrap_err();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("does not hold a holder list"), "{e}");
    assert_eq!(z.get_data("/pre/g").await.unwrap().0, b"not json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_keeps_others_out() {
    use std::os::unix::fs::PermissionsExt;
    let Some(server) = start_or_skip("digest_acl_keeps_others_out") else {
        return;
    };
    let addr = server.address();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zk-digest");
    std::fs::write(&file, "mesos-maint:s3cret-pw\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Digest::from_file(&file).unwrap_err();
    assert!(matches!(e, FleetError::Config(_)), "{e}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let digest = Digest::from_file(&file).unwrap();

    let l = ZkLock::new(
        url(&addr, "/secure"),
        "g",
        1,
        Some(digest.clone()),
        timeouts(),
    );
    assert_eq!(
        l.take(&holder("n1")).await.unwrap(),
        Take::Granted { already: false }
    );
    let z = raw(&addr).await;
    let authed = authed(&addr, &digest).await;
    for p in ["/secure", "/secure/g"] {
        // getACL needs READ or ADMIN on 3.6+: only the holder of the digest sees it.
        assert_eq!(
            z.get_acl(p).await.map(|_| ()),
            Err(zk::Error::NoAuth),
            "{p}"
        );
        let (acl, _) = authed.get_acl(p).await.unwrap();
        assert_eq!(acl.len(), 1, "{p}");
        assert_eq!(acl[0].scheme(), "digest", "{p}");
        assert_eq!(acl[0].id(), digest.acl_id(), "{p}");
    }
    // An unauthenticated client can neither write nor read the group.
    assert_eq!(
        z.set_data("/secure/g", b"{\"holders\":[]}", None).await,
        Err(zk::Error::NoAuth)
    );
    assert_eq!(
        z.get_data("/secure/g").await.map(|_| ()),
        Err(zk::Error::NoAuth)
    );
    assert_eq!(
        z.create(
            "/secure/x",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
        )
        .await
        .map(|_| ()),
        Err(zk::Error::NoAuth)
    );
    // A lock without the credentials gets a clear error, not a slot.
    let anonymous = lock(&addr, "/secure", "g", 5);
    let e = anonymous.take(&holder("n2")).await.unwrap_err();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("zookeeper_digest_file"), "{e}");
    // Wrong password: same.
    let wrong = ZkLock::new(
        url(&addr, "/secure"),
        "g",
        5,
        Some(Digest::parse("mesos-maint:wrong").unwrap()),
        timeouts(),
    );
    assert!(wrong.take(&holder("n2")).await.is_err());
    assert_eq!(holders_in_auth(&addr, &digest, "/secure/g").await, ["n1"]);
    // The password is never in an error or a Debug print.
    assert!(!format!("{digest:?} {e}").contains("s3cret-pw"));
}

async fn authed(address: &str, digest: &Digest) -> zk::Client {
    zk::Client::connector()
        .with_server_version(3, 4, 14)
        .with_auth("digest", &digest.auth_bytes())
        .connect(address)
        .await
        .unwrap()
}

async fn holders_in_auth(address: &str, digest: &Digest, path: &str) -> Vec<String> {
    let (data, _) = authed(address, digest).await.get_data(path).await.unwrap();
    ids(&GroupDoc::parse(&data).unwrap().holders)
}

/// A server that dies: bounded, clear errors (exit 3 class), never a hang; back in service once
/// it is back, with the slot data intact and a new session when the old one expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_gives_a_bounded_error_then_recovers() {
    let Some(mut server) = start_or_skip("killed_server_gives_a_bounded_error_then_recovers")
    else {
        return;
    };
    let addr = server.address();
    let short = ZkTimeouts {
        session: Duration::from_secs(2),
        connect: Duration::from_secs(3),
        request: Duration::from_secs(2),
        operation: Duration::from_secs(6),
    };
    let l = ZkLock::new(url(&addr, "/mesos-maint"), "g", 1, None, short);
    l.take(&holder("n1")).await.unwrap();
    server.stop();

    let t = Instant::now();
    let e = l.take(&holder("n2")).await.unwrap_err();
    let took = t.elapsed();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
    assert!(took < Duration::from_secs(12), "{took:?}: {e}");
    eprintln!("server down: take failed after {took:?}: {e}");
    let t = Instant::now();
    let e = l.release("n1").await.unwrap_err();
    assert!(took < Duration::from_secs(12), "{:?}: {e}", t.elapsed());
    // A fresh lock (a new process) with nothing listening: the connect bound.
    let fresh = ZkLock::new(url(&addr, "/mesos-maint"), "g", 1, None, short);
    let t = Instant::now();
    let e = fresh.status().await.unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "{:?}: {e}",
        t.elapsed()
    );
    assert!(e.to_string().contains(&addr), "{e}");

    // The wait loop gives up on an unreachable service within its grace, with exit 3.
    let pacing = Pacing {
        first_pause: Duration::from_millis(200),
        max_pause: Duration::from_secs(1),
        unavailable_grace: Duration::from_secs(3),
        progress_every: Duration::from_secs(60),
    };
    let t = Instant::now();
    let e = take_slot_paced(
        &fresh,
        &holder("n2"),
        Duration::from_secs(600),
        pacing,
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, FleetError::Unavailable(_)), "{e}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    // Back after the old session expired: new session, data intact, idempotent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.restart().unwrap();
    let t = Instant::now();
    let answer = loop {
        match l.take(&holder("n1")).await {
            Ok(a) => break a,
            Err(e) if t.elapsed() < Duration::from_secs(30) => {
                eprintln!("not back yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("not back after 30 s: {e}"),
        }
    };
    assert_eq!(answer, Take::Granted { already: true });
    match l.take(&holder("n2")).await.unwrap() {
        Take::Full { holders, .. } => assert_eq!(ids(&holders), ["n1"]),
        other => panic!("{other:?}"),
    }
}

/// Waiting with a watch: a waiter is woken by the release, not by polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiter_is_woken_by_the_release() {
    let Some(server) = start_or_skip("waiter_is_woken_by_the_release") else {
        return;
    };
    let addr = server.address();
    let a = lock(&addr, "/mesos-maint", "g", 1);
    let b = lock(&addr, "/mesos-maint", "g", 1);
    a.take(&holder("n1")).await.unwrap();
    // Long pauses: only the watch can wake the waiter in time.
    let pacing = Pacing {
        first_pause: Duration::from_secs(20),
        max_pause: Duration::from_secs(20),
        unavailable_grace: Duration::from_secs(5),
        progress_every: Duration::from_secs(60),
    };
    let waiter = tokio::spawn(async move {
        let mut lines = Vec::new();
        let t = Instant::now();
        let slot = take_slot_paced(&b, &holder("n2"), Duration::from_secs(60), pacing, |p| {
            lines.push(p.line())
        })
        .await;
        (slot, t.elapsed(), lines)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let released = Instant::now();
    a.release("n1").await.unwrap();
    let (slot, _, lines) = waiter.await.unwrap();
    let woke = released.elapsed();
    let slot = slot.unwrap();
    assert!(!slot.already);
    assert!(
        woke < Duration::from_secs(5),
        "woken {woke:?} after the release"
    );
    assert!(
        lines.first().is_some_and(|l| l.contains("held by n1 (")),
        "{lines:?}"
    );
    eprintln!("woken {woke:?} after the release; progress: {lines:?}");
}

/// Everything the lock does goes through a proxy that fails on any request type a 3.4 server
/// does not serve (create2, removeWatches, …).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_zookeeper_34_requests_are_sent() {
    let Some(server) = start_or_skip("only_zookeeper_34_requests_are_sent") else {
        return;
    };
    let proxy = Zk34Proxy::start(server.address()).await;
    let addr = proxy.address();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("digest");
    std::fs::write(&file, "u:p").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let digest = Digest::from_file(&file).unwrap();
    let a = ZkLock::new(url(&addr, "/x/y"), "g", 1, Some(digest.clone()), timeouts());
    let b = ZkLock::new(url(&addr, "/x/y"), "g", 1, Some(digest), timeouts());
    a.take(&holder("n1")).await.unwrap();
    a.take(&holder("n1")).await.unwrap();
    // A wait that times out with its watch unfired (the watch must not be removed while the
    // session lives), then one that is woken.
    let pacing = Pacing {
        first_pause: Duration::from_millis(300),
        max_pause: Duration::from_millis(300),
        unavailable_grace: Duration::from_secs(5),
        progress_every: Duration::from_secs(60),
    };
    let e = take_slot_paced(&b, &holder("n2"), Duration::from_secs(1), pacing, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FleetError::Timeout { .. }), "{e}");
    let waiter = tokio::spawn(async move {
        let r = take_slot_paced(&b, &holder("n2"), Duration::from_secs(20), pacing, |_| {}).await;
        (r, b)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.release("n1").await.unwrap();
    let (r, b) = waiter.await.unwrap();
    r.unwrap();
    b.status().await.unwrap();
    assert_eq!(b.groups().await.unwrap().len(), 1);
    b.release("n2").await.unwrap();
    drop(a);
    drop(b);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let types = proxy.types();
    assert_eq!(
        proxy.violations(),
        Vec::<i32>::new(),
        "request types {types:?}"
    );
    for t in [1, 3, 4, 5, 8, 100] {
        assert!(types.contains(&t), "type {t} never sent: {types:?}");
    }
    eprintln!("request types through the 3.4 proxy: {types:?}");

    // The proxy does catch what 3.4 lacks: a client not told the version sends create2 (15).
    let z = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(6))
        .connect(&addr)
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        z.create(
            "/newer",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        ),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "create2 went through: {r:?}");
    assert_eq!(proxy.violations(), [15]);
}

#[test]
fn proxy_parses_multi_sub_operations() {
    // xid 7, multi (14); check(13) "/a" v1; create2(15) "/b" data "" acl [] flags 0; end.
    let mut f = Vec::new();
    let int = |f: &mut Vec<u8>, v: i32| f.extend_from_slice(&v.to_be_bytes());
    let s = |f: &mut Vec<u8>, v: &[u8]| {
        f.extend_from_slice(&(v.len() as i32).to_be_bytes());
        f.extend_from_slice(v);
    };
    int(&mut f, 7);
    int(&mut f, 14);
    int(&mut f, 13);
    f.push(0);
    int(&mut f, -1);
    s(&mut f, b"/a");
    int(&mut f, 1);
    int(&mut f, 15);
    f.push(0);
    int(&mut f, -1);
    s(&mut f, b"/b");
    s(&mut f, b"");
    int(&mut f, 0);
    int(&mut f, 0);
    int(&mut f, -1);
    f.push(1);
    int(&mut f, -1);
    assert_eq!(request_types(&f), [14, 13, 15]);
    let mut ping = Vec::new();
    int(&mut ping, -2);
    int(&mut ping, 11);
    assert_eq!(request_types(&ping), [11]);
}

/// A connection lost right after the setData left (its answer never comes back): the outcome is
/// unknown, so the lock reads again and finds its own id instead of taking a second slot or
/// reporting a release that did not happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lost_after_a_write_reads_again() {
    let Some(server) = start_or_skip("connection_lost_after_a_write_reads_again") else {
        return;
    };
    let proxy = Zk34Proxy::start(server.address()).await;
    let l = lock(&proxy.address(), "/mesos-maint", "g", 2);
    l.status().await.unwrap();
    let connections = proxy.connections();

    proxy.cut_after(5);
    let answer = l.take(&holder("n1")).await.unwrap();
    assert_eq!(proxy.cuts(), 1);
    assert!(proxy.connections() > connections, "no reconnect");
    // Applied before the cut: found on the re-read and reported as newly taken, once.
    assert_eq!(answer, Take::Granted { already: false });
    assert_eq!(
        holders_in(&server.address(), "/mesos-maint/g").await,
        ["n1"]
    );

    proxy.cut_after(5);
    assert_eq!(l.release("n1").await.unwrap(), Release::Released);
    assert_eq!(proxy.cuts(), 2);
    assert!(holders_in(&server.address(), "/mesos-maint/g")
        .await
        .is_empty());
    // A plain take and release afterwards, on the same lock.
    assert_eq!(
        l.take(&holder("n1")).await.unwrap(),
        Take::Granted { already: false }
    );
    assert_eq!(
        l.take(&holder("n1")).await.unwrap(),
        Take::Granted { already: true }
    );
    assert_eq!(proxy.violations(), Vec::<i32>::new());
}
