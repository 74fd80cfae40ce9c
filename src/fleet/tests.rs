use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::master::{agents_out_from_reader, AgentCensus, AgentOut, MasterCount};
use super::wait::{take_slot_paced, Pacing};
use super::*;

/// A scripted lock: answers `take` from a list, then grants.
struct Scripted {
    answers: Mutex<Vec<Result<Take, FleetError>>>,
    takes: Mutex<u32>,
}

impl Scripted {
    fn new(mut answers: Vec<Result<Take, FleetError>>) -> Scripted {
        answers.reverse();
        Scripted {
            answers: Mutex::new(answers),
            takes: Mutex::new(0),
        }
    }
}

impl FleetLock for Scripted {
    fn backend(&self) -> &'static str {
        "scripted"
    }
    fn group(&self) -> &str {
        "g"
    }
    fn take<'a>(&'a self, _h: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        *self.takes.lock().unwrap() += 1;
        let next = self
            .answers
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(Ok(Take::Granted { already: false }));
        Box::pin(async move { next })
    }
    fn release<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        Box::pin(async { Ok(Release::Released) })
    }
    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(async { Err(FleetError::Unavailable("n/a".into())) })
    }
}

fn full(ids: &[&str]) -> Result<Take, FleetError> {
    Ok(Take::Full {
        holders: ids
            .iter()
            .map(|i| Holder::new(i, "", i, "reboot"))
            .collect(),
        revision: 1,
        detail: "full".into(),
    })
}

fn fast() -> Pacing {
    Pacing {
        first_pause: Duration::from_millis(10),
        max_pause: Duration::from_millis(40),
        unavailable_grace: Duration::from_millis(200),
        progress_every: Duration::from_secs(60),
    }
}

#[test]
fn holder_json_round_trip_and_tolerance() {
    let h = Holder::new("node-1", "a1-S0", "node-1.example", "reboot");
    let text = serde_json::to_string(&h).unwrap();
    assert!(text.contains("\"since\":\""), "{text}");
    let back: Holder = serde_json::from_str(&text).unwrap();
    assert_eq!(back.id, "node-1");
    assert_eq!(
        back.since
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        h.since
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    // A record from a newer version: unknown fields and a new trigger still read.
    let newer: Holder = serde_json::from_str(
        r#"{"id":"n2","since":"2026-01-02T03:04:05Z","trigger":"kernel-update","extra":1}"#,
    )
    .unwrap();
    assert_eq!(newer.trigger, "kernel-update");
    assert!(newer
        .describe()
        .contains("n2 (kernel-update, since 2026-01-02T03:04:05Z)"));
}

#[tokio::test(start_paused = true)]
async fn wait_zero_is_one_attempt() {
    let lock = Scripted::new(vec![full(&["a"])]);
    let h = Holder::new("me", "", "me", "manual");
    let e = take_slot_paced(&lock, &h, Duration::ZERO, fast(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FleetError::Refused { .. }), "{e}");
    assert!(e.to_string().contains("held by a ("), "{e}");
    assert_eq!(*lock.takes.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn waits_until_a_slot_frees_and_names_holders() {
    let lock = Scripted::new(vec![full(&["a"]), full(&["a"]), full(&["b"])]);
    let h = Holder::new("me", "", "me", "manual");
    let mut lines = Vec::new();
    let slot = take_slot_paced(&lock, &h, Duration::from_secs(60), fast(), |p| {
        lines.push(p.line())
    })
    .await
    .unwrap();
    assert!(!slot.already);
    assert_eq!(*lock.takes.lock().unwrap(), 4);
    // Reported when the holders change, not on every attempt.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("group g") && lines[0].contains("held by a ("),
        "{lines:?}"
    );
    assert!(lines[1].contains("held by b ("), "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn gives_up_at_the_deadline_with_exit_5() {
    let lock = Scripted::new((0..1000).map(|_| full(&["a", "b"])).collect());
    let h = Holder::new("me", "", "me", "manual");
    let start = tokio::time::Instant::now();
    let e = take_slot_paced(&lock, &h, Duration::from_secs(2), fast(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FleetError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("held by a ("), "{e}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2100),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn unavailable_is_retried_for_a_bounded_time_only() {
    let lock = Scripted::new(
        (0..1000)
            .map(|_| Err(FleetError::Unavailable("zk down".into())))
            .collect(),
    );
    let h = Holder::new("me", "", "me", "manual");
    let start = tokio::time::Instant::now();
    let e = take_slot_paced(&lock, &h, Duration::from_secs(3600), fast(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e, FleetError::Unavailable("zk down".into()));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // A config error is never retried.
    let lock = Scripted::new(vec![Err(FleetError::Config("bad".into()))]);
    let e = take_slot_paced(&lock, &h, Duration::from_secs(3600), fast(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e, FleetError::Config("bad".into()));
    assert_eq!(*lock.takes.lock().unwrap(), 1);
}

struct Census(Vec<AgentOut>);

impl AgentCensus for Census {
    fn agents_out(&self) -> BoxFuture<'_, Result<Vec<AgentOut>, FleetError>> {
        let v = self.0.clone();
        Box::pin(async move { Ok(v) })
    }
}

fn out(id: &str, state: &str) -> AgentOut {
    AgentOut {
        id: id.into(),
        hostname: format!("{id}.example"),
        state: state.into(),
    }
}

#[tokio::test]
async fn master_count_excludes_this_agent() {
    let me = Holder::new("me", "S-me", "me", "reboot");
    let lock = MasterCount::new(Census(vec![out("S1", "DRAINING")]), 2);
    assert_eq!(
        lock.take(&me).await.unwrap(),
        Take::Granted { already: false }
    );
    let lock = MasterCount::new(
        Census(vec![out("S1", "DRAINING"), out("S2", "deactivated")]),
        2,
    );
    match lock.take(&me).await.unwrap() {
        Take::Full { holders, .. } => {
            assert_eq!(holders.len(), 2);
            assert_eq!(holders[1].agent_id, "S2");
            assert_eq!(holders[1].trigger, "deactivated");
        }
        other => panic!("{other:?}"),
    }
    // This agent already out (a resumed drain): its own slot, whatever the others.
    let lock = MasterCount::new(
        Census(vec![
            out("S1", "DRAINED"),
            out("S2", "DRAINED"),
            out("S-me", "DRAINING"),
        ]),
        1,
    );
    assert_eq!(
        lock.take(&me).await.unwrap(),
        Take::Granted { already: true }
    );
}

#[test]
fn get_agents_count_reads_drain_states_and_deactivation() {
    let body = serde_json::json!({
        "type": "GET_AGENTS",
        "get_agents": {
            "agents": [
                {"agent_info": {"id": {"value": "S0"}, "hostname": "h0", "resources": [{"name": "cpus"}]},
                 "active": true, "deactivated": false},
                {"agent_info": {"id": {"value": "S1"}, "hostname": "h1"}, "active": false,
                 "deactivated": true, "drain_info": {"state": "DRAINING", "config": {"mark_gone": false}}},
                {"agent_info": {"id": {"value": "S2"}, "hostname": "h2"}, "deactivated": true,
                 "drain_info": {"state": "DRAINED", "config": {}}},
                {"agent_info": {"id": {"value": "S3"}, "hostname": "h3"}, "deactivated": true},
                {"agent_info": {"id": {"value": "S4"}, "hostname": "h4"}, "deactivated": false,
                 "drain_info": {"state": "SOMETHING_NEW", "config": {}}}
            ],
            "recovered_agents": [{"id": {"value": "S9"}}]
        }
    })
    .to_string();
    let got = agents_out_from_reader(body.as_bytes()).unwrap();
    let states: Vec<(&str, &str)> = got
        .iter()
        .map(|a| (a.id.as_str(), a.state.as_str()))
        .collect();
    assert_eq!(
        states,
        [("S1", "DRAINING"), ("S2", "DRAINED"), ("S3", "deactivated")]
    );
    assert!(agents_out_from_reader(&b"{\"get_agents\": ["[..]).is_err());
}

#[test]
fn open_builds_each_backend_without_contacting_it() {
    let mut s = FleetSettings::default();
    assert_eq!(open(&s, None).unwrap().backend(), "none");
    s.backend = Backend::ZooKeeper;
    assert!(matches!(open(&s, None), Err(FleetError::Config(_))));
    s.zookeeper = Some(ZkUrl::parse("zk://127.0.0.1:1/x").unwrap());
    assert_eq!(open(&s, None).unwrap().backend(), "zookeeper");
    s.zookeeper_digest_file = Some("/nonexistent/zk-digest".into());
    assert!(matches!(open(&s, None), Err(FleetError::Config(_))));
    s.backend = Backend::FleetLock;
    s.fleetlock_url = Some(settings::parse_fleetlock_url("http://127.0.0.1:1/").unwrap());
    assert_eq!(open(&s, None).unwrap().backend(), "fleetlock");
    s.backend = Backend::Master;
    assert!(matches!(open(&s, None), Err(FleetError::Config(_))));
    let transport = std::sync::Arc::new(
        crate::mesos::Transport::new(crate::mesos::TransportSettings::default()).unwrap(),
    );
    let leader = url::Url::parse("http://127.0.0.1:1").unwrap();
    assert_eq!(
        open(&s, Some((transport, leader))).unwrap().backend(),
        "master"
    );
}

/// A lock that never answers.
struct Silent;

impl FleetLock for Silent {
    fn backend(&self) -> &'static str {
        "silent"
    }
    fn group(&self) -> &str {
        "g"
    }
    fn take<'a>(&'a self, _h: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        Box::pin(std::future::pending())
    }
    fn release<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        Box::pin(std::future::pending())
    }
    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn never_refused_drains_go_over_budget_instead_of_failing() {
    use super::wait::{admit_never_refused, Admission};
    let h = Holder::new("me", "", "me", "spot");
    let free = Scripted::new(vec![Ok(Take::Granted { already: false })]);
    assert!(matches!(
        admit_never_refused(&free, &h, Duration::from_secs(5)).await,
        Admission::Granted(_)
    ));
    let full = Scripted::new(vec![full(&["a"])]);
    match admit_never_refused(&full, &h, Duration::from_secs(5)).await {
        Admission::OverBudget(e @ FleetError::Refused { .. }) => {
            assert!(e.to_string().contains("held by a ("), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let down = Scripted::new(vec![Err(FleetError::Unavailable("zk down".into()))]);
    assert_eq!(
        admit_never_refused(&down, &h, Duration::from_secs(5)).await,
        Admission::OverBudget(FleetError::Unavailable("zk down".into()))
    );
    let start = tokio::time::Instant::now();
    match admit_never_refused(&Silent, &h, Duration::from_secs(5)).await {
        Admission::OverBudget(FleetError::Unavailable(m)) => {
            assert!(m.contains("within 5s"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

/// A lock with state: `max` slots, holders kept in memory, releases recorded.
struct MemLock {
    max: usize,
    holders: Mutex<Vec<Holder>>,
    released: Mutex<Vec<String>>,
}

impl FleetLock for MemLock {
    fn backend(&self) -> &'static str {
        "mem"
    }
    fn group(&self) -> &str {
        "g"
    }
    fn take<'a>(&'a self, h: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        let mut hs = self.holders.lock().unwrap();
        let answer = if hs.iter().any(|x| x.id == h.id) {
            Take::Granted { already: true }
        } else if hs.len() < self.max {
            hs.push(h.clone());
            Take::Granted { already: false }
        } else {
            Take::Full {
                holders: hs.clone(),
                revision: 1,
                detail: "full".into(),
            }
        };
        Box::pin(async move { Ok(answer) })
    }
    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        let mut hs = self.holders.lock().unwrap();
        let before = hs.len();
        hs.retain(|x| x.id != id);
        let r = if hs.len() < before {
            self.released.lock().unwrap().push(id.to_string());
            Release::Released
        } else {
            Release::NotHeld
        };
        Box::pin(async move { Ok(r) })
    }
    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(async { Err(FleetError::Unavailable("n/a".into())) })
    }
}

/// Says the agents in `gone` are gone (through the real decision, `gone::gone_holders`), and
/// counts the looks.
struct GoneList {
    gone: Vec<&'static str>,
    looks: Mutex<u32>,
}

impl GoneAgents for GoneList {
    fn gone<'a>(&'a self, holders: &'a [Holder]) -> BoxFuture<'a, Vec<Holder>> {
        *self.looks.lock().unwrap() += 1;
        let listed = holders
            .iter()
            .map(|h| h.agent_id.clone())
            .filter(|a| !self.gone.contains(&a.as_str()))
            .collect();
        let out = gone::gone_holders(holders, &listed);
        Box::pin(async move { out })
    }
}

#[tokio::test(start_paused = true)]
async fn a_holder_whose_decommissioned_agent_is_gone_is_released_by_the_waiter() {
    let lock = MemLock {
        max: 1,
        holders: Mutex::new(vec![Holder::new("old", "S1", "old", "autoscaling")]),
        released: Mutex::new(Vec::new()),
    };
    let gone = GoneList {
        gone: vec!["S1"],
        looks: Mutex::new(0),
    };
    let me = Holder::new("me", "S9", "me", "manual");
    let slot = wait::take_slot_with(&lock, &me, Duration::ZERO, fast(), Some(&gone), |_| {})
        .await
        .unwrap();
    assert!(!slot.already);
    assert_eq!(*lock.released.lock().unwrap(), ["old"]);
    assert_eq!(lock.holders.lock().unwrap()[0].id, "me");
    assert_eq!(*gone.looks.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn holders_that_are_not_gone_or_not_decommissions_keep_their_slot() {
    for (holder, gone_agents) in [
        // Its agent is listed (draining, say): not gone.
        (Holder::new("busy", "S1", "busy", "autoscaling"), vec![]),
        // A reboot's agent missing from the list is unreachable, not gone: it comes back.
        (
            Holder::new("rebooting", "S2", "rebooting", "reboot"),
            vec!["S2"],
        ),
    ] {
        let lock = MemLock {
            max: 1,
            holders: Mutex::new(vec![holder]),
            released: Mutex::new(Vec::new()),
        };
        let gone = GoneList {
            gone: gone_agents,
            looks: Mutex::new(0),
        };
        let me = Holder::new("me", "S9", "me", "manual");
        let e = wait::take_slot_with(
            &lock,
            &me,
            Duration::from_millis(500),
            fast(),
            Some(&gone),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(e, FleetError::Timeout { .. }), "{e}");
        assert!(lock.released.lock().unwrap().is_empty());
        // Asked once for the same holders, not on every attempt of the wait.
        assert!(*gone.looks.lock().unwrap() <= 1);
    }
}
