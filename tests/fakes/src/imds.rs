//! A fake EC2 instance metadata service with IMDSv2 required (`HttpTokens=required`).
//!
//! - `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` between 1 and 21600
//!   (else 400) and no `X-Forwarded-For` (else 403, as the real one); it answers a new token and
//!   echoes the TTL granted.
//! - `GET /latest/meta-data/<path>` needs a live token in `X-aws-ec2-metadata-token` (else 401)
//!   and answers the value set for `<path>`, or 404.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::server::{serve, Req, Resp, Server};
use crate::TestCredentials;

pub const TOKEN_PATH: &str = "/latest/api/token";
pub const METADATA_PREFIX: &str = "/latest/meta-data/";
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
pub const MAX_TTL_SECS: u64 = 21_600;

pub const INSTANCE_ID: &str = "i-0f00dfeedc0ffee01";
pub const REGION: &str = "us-east-1";
pub const ROLE: &str = "mesos-maint-test-role";

/// One request the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdsRequest {
    pub method: String,
    pub path: String,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Debug)]
struct State {
    values: BTreeMap<String, String>,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    /// Grant at most this TTL (`None`: what is asked).
    max_grant: Option<u64>,
    /// Refuse every token, even fresh ones.
    refuse_tokens: bool,
    log: Vec<ImdsRequest>,
}

/// The fake; stops when dropped.
pub struct FakeImds {
    state: Arc<Mutex<State>>,
    server: Server,
}

impl FakeImds {
    /// Serves `instance-id` [`INSTANCE_ID`], `placement/region` [`REGION`] and
    /// `autoscaling/target-lifecycle-state` `InService`; no spot notice, no instance profile.
    pub async fn start() -> FakeImds {
        let mut values = BTreeMap::new();
        values.insert("instance-id".into(), INSTANCE_ID.into());
        values.insert("placement/region".into(), REGION.into());
        values.insert(
            "autoscaling/target-lifecycle-state".into(),
            "InService".into(),
        );
        let state = Arc::new(Mutex::new(State {
            values,
            tokens: HashMap::new(),
            next_token: 1,
            max_grant: None,
            refuse_tokens: false,
            log: Vec::new(),
        }));
        let s = state.clone();
        let server = serve(Arc::new(move |req| handle(&s, req)))
            .await
            .expect("bind the fake IMDS on loopback");
        FakeImds { state, server }
    }

    /// `http://127.0.0.1:<port>`, for `aws.imds_endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Set (or with `None` remove) the value served at `/latest/meta-data/<path>`.
    pub fn set(&self, path: &str, value: Option<&str>) {
        let mut st = self.lock();
        match value {
            Some(v) => st.values.insert(path.to_string(), v.to_string()),
            None => st.values.remove(path),
        };
    }

    /// `autoscaling/target-lifecycle-state` (`None`: 404, not in a group).
    pub fn set_target_lifecycle_state(&self, state: Option<&str>) {
        self.set("autoscaling/target-lifecycle-state", state);
    }

    /// The group starts terminating this instance.
    pub fn terminate(&self) {
        self.set_target_lifecycle_state(Some("Terminated"));
    }

    /// `spot/instance-action`: `{"action": …, "time": …}` or, with `None`, 404.
    pub fn set_spot_instance_action(&self, notice: Option<(&str, SystemTime)>) {
        let body = notice.map(|(action, time)| {
            serde_json::json!({
                "action": action,
                "time": humantime::format_rfc3339_seconds(time).to_string(),
            })
            .to_string()
        });
        self.set("spot/instance-action", body.as_deref());
    }

    /// An instance profile with role `role` whose credentials expire at `expiration`.
    pub fn set_instance_profile(
        &self,
        role: &str,
        creds: &TestCredentials,
        expiration: SystemTime,
    ) {
        let doc = serde_json::json!({
            "Code": "Success",
            "LastUpdated": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "Type": "AWS-HMAC",
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token.clone().unwrap_or_default(),
            "Expiration": humantime::format_rfc3339_seconds(expiration).to_string(),
        });
        let mut st = self.lock();
        st.values
            .insert("iam/security-credentials/".into(), format!("{role}\n"));
        st.values
            .insert(format!("iam/security-credentials/{role}"), doc.to_string());
    }

    /// Every outstanding token stops being valid (as after the service restarted).
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Refuse every token, including new ones (`false` to stop).
    pub fn refuse_tokens(&self, refuse: bool) {
        self.lock().refuse_tokens = refuse;
    }

    /// Grant tokens of at most `secs` whatever is asked (`None`: what is asked).
    pub fn cap_token_ttl(&self, secs: Option<u64>) {
        self.lock().max_grant = secs;
    }

    /// Tokens handed out so far.
    pub fn tokens_issued(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.method == "PUT" && r.status == 200)
            .count()
    }

    /// GETs of `/latest/meta-data/<path>` answered with `status`.
    pub fn gets(&self, path: &str, status: u16) -> usize {
        let full = format!("{METADATA_PREFIX}{path}");
        self.lock()
            .log
            .iter()
            .filter(|r| r.method == "GET" && r.path == full && r.status == status)
            .count()
    }

    pub fn requests(&self) -> Vec<ImdsRequest> {
        self.lock().log.clone()
    }
}

fn handle(state: &Mutex<State>, req: Req) -> Resp {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let resp = respond(&mut st, &req);
    st.log.push(ImdsRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        status: resp.status,
    });
    resp
}

fn respond(st: &mut State, req: &Req) -> Resp {
    if req.path == TOKEN_PATH {
        if req.method != "PUT" {
            return Resp::new(405, "");
        }
        if req.header("x-forwarded-for").is_some() {
            return Resp::new(403, "");
        }
        let Some(ttl) = req
            .header(TTL_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| (1..=MAX_TTL_SECS).contains(t))
        else {
            return Resp::new(400, "");
        };
        let granted = st.max_grant.map_or(ttl, |m| m.min(ttl));
        let token = format!("fake-imds-token-{:06}", st.next_token);
        st.next_token += 1;
        st.tokens
            .insert(token.clone(), Instant::now() + Duration::from_secs(granted));
        return Resp::new(200, token).with_header(TTL_HEADER, granted.to_string());
    }
    let Some(item) = req.path.strip_prefix(METADATA_PREFIX) else {
        return Resp::new(404, "");
    };
    if req.method != "GET" {
        return Resp::new(405, "");
    }
    let live = req
        .header(TOKEN_HEADER)
        .and_then(|t| st.tokens.get(t.trim()))
        .is_some_and(|expires| Instant::now() < *expires);
    if !live || st.refuse_tokens {
        return Resp::new(401, "");
    }
    match st.values.get(item) {
        Some(v) => Resp::new(200, v.clone()),
        None => Resp::new(404, ""),
    }
}
