//! A fake Auto Scaling Query API endpoint for `RecordLifecycleActionHeartbeat` and
//! `CompleteLifecycleAction` addressed by instance id.
//!
//! Every request is authenticated the way AWS does: the `Authorization` header is parsed, the
//! access key must be one of the test credentials (with its session token, if it has one), the
//! scope must name this fake's region and `autoscaling` and the `x-amz-date` day, the time must
//! be within five minutes, and the signature is recomputed over the request as received
//! ([`crate::sigv4`]). Refusals are `403` with the AWS error codes (`MissingAuthenticationToken`,
//! `InvalidClientTokenId`, `SignatureDoesNotMatch`, `RequestExpired`). Lifecycle actions are
//! pending only after [`FakeAutoScaling::start_lifecycle_action`]; a heartbeat or completion
//! without one (or a second completion) is the real `ValidationError` "No active Lifecycle
//! Action found with instance ID …".

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::server::{serve, Req, Resp, Server};
use crate::sigv4::{self, Authorization};

pub const API_VERSION: &str = "2011-01-01";
pub const SERVICE: &str = "autoscaling";
pub const XMLNS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";
/// How far `x-amz-date` may be from the fake's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// Credentials the fake accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl TestCredentials {
    /// Long-term test keys (no session token).
    pub fn long_term() -> TestCredentials {
        TestCredentials {
            access_key_id: "AKIAFAKEFAKEFAKE0001".into(),
            secret_access_key: "fakeSecretKey/0001+notReallySecretAtAllxx".into(),
            session_token: None,
        }
    }

    /// Temporary test keys with a session token, as an instance profile hands out.
    pub fn session() -> TestCredentials {
        TestCredentials {
            access_key_id: "ASIAFAKEFAKEFAKE0002".into(),
            secret_access_key: "fakeSecretKey/0002+sessionCredentialsxxxx".into(),
            session_token: Some("FwoGZXIvYXdzEFAKEsessionTOKEN//0002==".into()),
        }
    }
}

/// One authenticated call, whatever its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub action: String,
    /// The form parameters other than `Action` and `Version`.
    pub params: BTreeMap<String, String>,
    pub access_key_id: String,
    /// `None`: succeeded; `Some(code)`: the error code answered.
    pub error: Option<String>,
    /// When the fake answered it (wall clock, to order it against other processes' records).
    pub at: SystemTime,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// A request refused before it was looked at (authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    group: String,
    hook: String,
    /// `Some(result)` once completed.
    completed: Option<String>,
    heartbeats: u32,
}

#[derive(Debug)]
struct State {
    region: String,
    credentials: Vec<TestCredentials>,
    /// By instance id.
    actions: BTreeMap<String, Action>,
    calls: Vec<Call>,
    rejections: Vec<Rejection>,
    fail_next: VecDeque<(u16, String, String)>,
    next_request: u64,
}

/// The fake; stops when dropped.
pub struct FakeAutoScaling {
    state: Arc<Mutex<State>>,
    server: Server,
}

impl FakeAutoScaling {
    /// Accepts requests signed for `region` with `creds`.
    pub async fn start(region: &str, creds: TestCredentials) -> FakeAutoScaling {
        let state = Arc::new(Mutex::new(State {
            region: region.to_string(),
            credentials: vec![creds],
            actions: BTreeMap::new(),
            calls: Vec::new(),
            rejections: Vec::new(),
            fail_next: VecDeque::new(),
            next_request: 1,
        }));
        let s = state.clone();
        let server = serve(Arc::new(move |req| handle(&s, req)))
            .await
            .expect("bind the fake Auto Scaling endpoint on loopback");
        FakeAutoScaling { state, server }
    }

    /// `http://127.0.0.1:<port>/`, for `aws.autoscaling_endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.server.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accept these credentials too.
    pub fn add_credentials(&self, creds: TestCredentials) {
        self.lock().credentials.push(creds);
    }

    /// The group put `instance_id` into `Terminating:Wait` for `hook`: a lifecycle action is
    /// pending (replacing any earlier one of that instance).
    pub fn start_lifecycle_action(&self, group: &str, hook: &str, instance_id: &str) {
        self.lock().actions.insert(
            instance_id.to_string(),
            Action {
                group: group.to_string(),
                hook: hook.to_string(),
                completed: None,
                heartbeats: 0,
            },
        );
    }

    /// The next authenticated call is answered with this error instead (then normal again).
    pub fn fail_next(&self, status: u16, code: &str, message: &str) {
        self.lock()
            .fail_next
            .push_back((status, code.to_string(), message.to_string()));
    }

    /// Every authenticated call, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Successful `CompleteLifecycleAction` calls.
    pub fn completions(&self) -> Vec<Call> {
        self.calls_of("CompleteLifecycleAction")
    }

    /// Successful `RecordLifecycleActionHeartbeat` calls.
    pub fn heartbeats(&self) -> Vec<Call> {
        self.calls_of("RecordLifecycleActionHeartbeat")
    }

    fn calls_of(&self, action: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.action == action && c.error.is_none())
            .cloned()
            .collect()
    }

    /// The result the instance's lifecycle action was completed with, if it was.
    pub fn completed_result(&self, instance_id: &str) -> Option<String> {
        self.lock()
            .actions
            .get(instance_id)
            .and_then(|a| a.completed.clone())
    }

    /// Requests refused by authentication.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock().rejections.clone()
    }
}

fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        escape(code),
        escape(message)
    )
}

fn ok_xml(action: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{XMLNS}\">\n  <{action}Result/>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn handle(state: &Mutex<State>, req: Req) -> Resp {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let request_id = format!("00000000-fake-4000-8000-{:012}", st.next_request);
    st.next_request += 1;
    let xml =
        |status: u16, body: String| Resp::new(status, body).with_header("content-type", "text/xml");
    if req.method != "POST" || req.path != "/" {
        return xml(
            400,
            error_xml("InvalidAction", "only POST / is served here", &request_id),
        );
    }
    let access_key_id = match authenticate(&st, &req) {
        Ok(k) => k,
        Err((code, detail)) => {
            st.rejections.push(Rejection {
                code: code.to_string(),
                detail: detail.clone(),
            });
            return xml(403, error_xml(code, &detail, &request_id));
        }
    };
    let mut params: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let action = params.remove("Action").unwrap_or_default();
    let version = params.remove("Version").unwrap_or_default();
    let outcome = if let Some((status, code, message)) = st.fail_next.pop_front() {
        Err((status, code, message))
    } else if version != API_VERSION {
        Err((
            400,
            "InvalidParameterValue".into(),
            format!("Version {version:?} is not {API_VERSION}"),
        ))
    } else {
        lifecycle_call(&mut st, &action, &params)
    };
    st.calls.push(Call {
        action: action.clone(),
        params,
        access_key_id,
        error: outcome.as_ref().err().map(|(_, code, _)| code.clone()),
        at: SystemTime::now(),
    });
    match outcome {
        Ok(()) => xml(200, ok_xml(&action, &request_id)),
        Err((status, code, message)) => xml(status, error_xml(&code, &message, &request_id)),
    }
}

type CallError = (u16, String, String);

fn validation(message: String) -> CallError {
    (400, "ValidationError".into(), message)
}

fn lifecycle_call(
    st: &mut State,
    action: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), CallError> {
    let complete = match action {
        "CompleteLifecycleAction" => true,
        "RecordLifecycleActionHeartbeat" => false,
        other => {
            return Err((
                400,
                "InvalidAction".into(),
                format!("The action {other} is not valid for this web service."),
            ))
        }
    };
    let required = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| {
                validation(format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    name[..1].to_lowercase() + &name[1..]
                ))
            })
    };
    let group = required("AutoScalingGroupName")?;
    let hook = required("LifecycleHookName")?;
    let instance = required("InstanceId")?;
    let result = if complete {
        let r = required("LifecycleActionResult")?;
        if r != "CONTINUE" && r != "ABANDON" {
            return Err(validation(format!(
                "LifecycleActionResult {r} is not CONTINUE or ABANDON"
            )));
        }
        Some(r)
    } else {
        None
    };
    let no_action = || {
        validation(format!(
            "No active Lifecycle Action found with instance ID {instance}"
        ))
    };
    let Some(a) = st.actions.get_mut(&instance) else {
        return Err(no_action());
    };
    if a.group != group || a.hook != hook || a.completed.is_some() {
        return Err(no_action());
    }
    match result {
        Some(r) => a.completed = Some(r),
        None => a.heartbeats += 1,
    }
    Ok(())
}

/// The access key id of a correctly signed request, or the AWS error code and message.
fn authenticate(st: &State, req: &Req) -> Result<String, (&'static str, String)> {
    let header = req.header("authorization").ok_or((
        "MissingAuthenticationToken",
        "Request is missing Authentication Token".to_string(),
    ))?;
    let auth = Authorization::parse(header).map_err(|e| ("IncompleteSignature", e))?;
    let creds = st
        .credentials
        .iter()
        .find(|c| c.access_key_id == auth.access_key_id)
        .ok_or((
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".to_string(),
        ))?;
    if creds.session_token.as_deref() != req.header("x-amz-security-token") {
        return Err((
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".to_string(),
        ));
    }
    if auth.region != st.region || auth.service != SERVICE {
        return Err((
            "SignatureDoesNotMatch",
            format!(
                "Credential should be scoped to a valid region and service {SERVICE}, not {}/{}",
                auth.region, auth.service
            ),
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err((
                "SignatureDoesNotMatch",
                format!("'{required}' must be a signed header"),
            ));
        }
    }
    let amz_date = req
        .header("x-amz-date")
        .ok_or(("IncompleteSignature", "no x-amz-date header".to_string()))?;
    if !amz_date.starts_with(&auth.date) {
        return Err((
            "SignatureDoesNotMatch",
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: {} != {amz_date}", auth.date),
        ));
    }
    let when = parse_amz_date(amz_date)
        .ok_or(("IncompleteSignature", format!("bad x-amz-date {amz_date}")))?;
    let now = SystemTime::now();
    let skew = now.duration_since(when).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err((
            "RequestExpired",
            format!("Request has expired: x-amz-date {amz_date} is {skew:?} from now"),
        ));
    }
    let expected = sigv4::expected_signature(
        &creds.secret_access_key,
        &auth,
        amz_date,
        &req.method,
        &req.path,
        &req.query,
        &req.headers,
        &sigv4::sha256_hex(&req.body),
    )
    .map_err(|e| ("SignatureDoesNotMatch", e))?;
    if expected != auth.signature {
        return Err((
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_string(),
        ));
    }
    Ok(auth.access_key_id)
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if !s.is_ascii() || s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    humantime::parse_rfc3339(&rfc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(t).to_string(),
            "2015-08-30T12:36:00Z"
        );
        assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
    }

    #[test]
    fn error_body_shape() {
        let x = error_xml("ValidationError", "a < b & c", "rid");
        assert!(x.contains("<Code>ValidationError</Code>"));
        assert!(x.contains("<Message>a &lt; b &amp; c</Message>"));
    }
}
