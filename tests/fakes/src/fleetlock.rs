//! A fake FleetLock server (the protocol of coreos/airlock, which zincati speaks).
//!
//! - `POST /v1/pre-reboot` takes a slot (recursive: a holder asking again keeps its slot),
//!   `POST /v1/steady-state` gives it back (unlock-if-held: 200 either way);
//! - the header `fleet-lock-protocol: true` is required (else 400 `missing_header`);
//! - the body is `{"client_params":{"id":…,"group":…}}` (else 400 `invalid_body`); a group the
//!   server does not know is 400 `unknown_group`;
//! - errors are `{"kind":…,"value":…}`.
//!
//! As [`Flavor::Airlock`], a full group answers 500 `failed_lock`; as [`Flavor::Poseidon`]
//! (poseidon/fleetlock, the Kubernetes one), 423 `lock_held`. A method other than POST is 405,
//! another path 404. Every request is recorded with the id and group it carried.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::server::{serve, Req, Resp, Server};

pub const PRE_REBOOT: &str = "/v1/pre-reboot";
pub const STEADY_STATE: &str = "/v1/steady-state";
pub const HEADER: &str = "fleet-lock-protocol";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// coreos/airlock: 500 `failed_lock` while the slots are full.
    Airlock,
    /// poseidon/fleetlock: 423 `lock_held` while the slots are full.
    Poseidon,
}

/// One request the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetLockRequest {
    pub method: String,
    pub path: String,
    /// The `fleet-lock-protocol` header as sent (`None`: absent).
    pub header: Option<String>,
    pub id: Option<String>,
    pub group: Option<String>,
    pub status: u16,
}

#[derive(Debug)]
struct State {
    flavor: Flavor,
    /// group -> (slots, holders in order)
    groups: BTreeMap<String, (usize, Vec<String>)>,
    /// Answer the next `n` lock/unlock requests with this status instead (e.g. 503, 429).
    forced: Option<(u16, usize)>,
    log: Vec<FleetLockRequest>,
}

/// The fake; stops when dropped.
pub struct FakeFleetLock {
    state: Arc<Mutex<State>>,
    server: Server,
}

impl FakeFleetLock {
    /// Knows the group `default` with one slot; add groups with [`FakeFleetLock::set_group`].
    pub async fn start(flavor: Flavor) -> FakeFleetLock {
        let mut groups = BTreeMap::new();
        groups.insert("default".to_string(), (1, Vec::new()));
        let state = Arc::new(Mutex::new(State {
            flavor,
            groups,
            forced: None,
            log: Vec::new(),
        }));
        let s = state.clone();
        let server = serve(Arc::new(move |req| handle(&s, req)))
            .await
            .expect("bind the fake FleetLock server on loopback");
        FakeFleetLock { state, server }
    }

    /// `http://127.0.0.1:<port>/`, for `fleet.fleetlock_url`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.server.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Configure a group with `slots` slots (its holders are kept).
    pub fn set_group(&self, group: &str, slots: usize) {
        self.lock()
            .groups
            .entry(group.to_string())
            .or_insert((slots, Vec::new()))
            .0 = slots;
    }

    /// The holders of `group`, in the order they took their slots.
    pub fn holders(&self, group: &str) -> Vec<String> {
        self.lock()
            .groups
            .get(group)
            .map(|(_, h)| h.clone())
            .unwrap_or_default()
    }

    /// `id` takes a slot of `group` behind the protocol's back (another node holding it),
    /// even over the group's slots.
    pub fn hold(&self, group: &str, id: &str) {
        let mut st = self.lock();
        let g = st
            .groups
            .entry(group.to_string())
            .or_insert((1, Vec::new()));
        if !g.1.iter().any(|h| h == id) {
            g.1.push(id.to_string());
        }
    }

    /// Gives `id`'s slot of `group` back behind the protocol's back.
    pub fn unhold(&self, group: &str, id: &str) {
        if let Some(g) = self.lock().groups.get_mut(group) {
            g.1.retain(|h| h != id);
        }
    }

    /// Answer the next `n` protocol requests with `status` (and a matching error body).
    pub fn force_status(&self, status: u16, n: usize) {
        self.lock().forced = Some((status, n));
    }

    pub fn requests(&self) -> Vec<FleetLockRequest> {
        self.lock().log.clone()
    }
}

fn error(status: u16, kind: &str, value: &str) -> Resp {
    Resp::new(
        status,
        serde_json::json!({ "kind": kind, "value": value }).to_string(),
    )
    .with_header("content-type", "application/json")
}

fn handle(state: &Arc<Mutex<State>>, req: Req) -> Resp {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let body: Option<serde_json::Value> = serde_json::from_slice(&req.body).ok();
    let param = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get("client_params"))
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let (id, group) = (param("id"), param("group"));
    let header = req.header(HEADER).map(str::to_string);
    let resp = answer(
        &mut st,
        &req,
        header.as_deref(),
        id.as_deref(),
        group.as_deref(),
    );
    st.log.push(FleetLockRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        header,
        id,
        group,
        status: resp.status,
    });
    resp
}

fn answer(
    st: &mut State,
    req: &Req,
    header: Option<&str>,
    id: Option<&str>,
    group: Option<&str>,
) -> Resp {
    let lock = match req.path.as_str() {
        PRE_REBOOT => true,
        STEADY_STATE => false,
        _ => return error(404, "not_found", "unknown path"),
    };
    if req.method != "POST" {
        return error(405, "method_not_allowed", "only POST is allowed")
            .with_header("allow", "POST");
    }
    if header != Some("true") {
        return error(
            400,
            "missing_header",
            "fleet-lock-protocol header must be set to true",
        );
    }
    let (Some(id), Some(group)) = (id, group) else {
        return error(
            400,
            "invalid_body",
            "client_params.id and .group are required",
        );
    };
    if id.is_empty() {
        return error(400, "invalid_body", "empty client_params.id");
    }
    if let Some((status, n)) = st.forced {
        st.forced = (n > 1).then_some((status, n - 1));
        return error(status, "forced", "forced by the test");
    }
    let flavor = st.flavor;
    let Some((slots, holders)) = st.groups.get_mut(group) else {
        return error(
            400,
            "unknown_group",
            &format!("group {group} is not configured"),
        );
    };
    if !lock {
        holders.retain(|h| h != id);
        return Resp::new(200, "");
    }
    if holders.iter().any(|h| h == id) {
        return Resp::new(200, "");
    }
    if holders.len() >= *slots {
        return match flavor {
            Flavor::Airlock => error(
                500,
                "failed_lock",
                &format!("semaphore full ({} of {slots} held)", holders.len()),
            ),
            Flavor::Poseidon => error(423, "lock_held", "the reboot lock is held"),
        };
    }
    holders.push(id.to_string());
    Resp::new(200, "")
}
