//! What the instance metadata service and the Auto Scaling API send.

use mesos_maint::cloud::aws::autoscaling::parse_error;
use mesos_maint::cloud::aws::{ApiErrorKind, Credentials, SpotNotice, TargetLifecycleState};
use proptest::prelude::*;

use crate::mutate::{config, corpus, mutated};

const SECRET: &str = "fuzzSECRETfuzzSECRETfuzzSECRETfuzzSECR";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEFUZZTOKEN";

proptest! {
    #![proptest_config(config())]

    /// `autoscaling/target-lifecycle-state`: only the exact word starts a decommission.
    #[test]
    fn only_terminated_means_terminated(body in "(\\PC|\\s){0,24}", word in prop_oneof![
        Just("Terminated"), Just("terminated"), Just("Terminated\n"), Just(" Terminated "),
        Just("Terminating"), Just("Terminated:Wait"), Just("InService"), Just("Warmed:Terminated"),
    ]) {
        for text in [body.as_str(), word] {
            let parsed = TargetLifecycleState::parse(text);
            prop_assert_eq!(
                parsed == TargetLifecycleState::Terminated,
                text.trim() == "Terminated",
                "{:?}", text
            );
        }
    }

    /// `spot/instance-action`: a notice only from a whole document with an action and a time.
    #[test]
    fn spot_notices_parse_or_fail_cleanly(bytes in mutated(corpus("imds-spot"), 6)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(n) = SpotNotice::parse(&text) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("parsed, so JSON");
            prop_assert!(v["action"].is_string() && v["time"].is_string(), "{}", text);
            let _ = n.to_string();
        }
    }

    /// The instance profile's credentials: never a panic, and no error repeats the secret.
    #[test]
    fn instance_profile_errors_never_show_the_secret(bytes in mutated(corpus("imds-credentials"), 6)) {
        let text = String::from_utf8_lossy(&bytes);
        match Credentials::from_instance_profile("role", &text) {
            Ok(c) => {
                // The key id is shown on purpose; a mutation may have spliced secret text into it.
                let shown = format!("{c:?}").replace(&c.access_key_id, "<key id>");
                for hidden in [Some(c.secret_access_key.as_str()), c.session_token.as_deref()] {
                    if let Some(h) = hidden.filter(|h| h.len() >= 8) {
                        prop_assert!(!shown.contains(h), "{}", shown);
                    }
                }
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(&SECRET[..16]), "{}", shown);
                prop_assert!(!shown.contains(&TOKEN[..16]), "{}", shown);
            }
        }
    }

    /// Auto Scaling Query-protocol error bodies: a code only from a `<Code>` element, and the
    /// kind that decides a retry comes from the code alone.
    #[test]
    fn autoscaling_error_bodies(bytes in mutated(corpus("autoscaling-error"), 8)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Some((code, message)) = parse_error(&text) {
            prop_assert!(text.contains("<Code>"), "{}", text);
            let kind = ApiErrorKind::from_code(&code, &message);
            if matches!(kind, ApiErrorKind::NoActiveLifecycleAction) {
                prop_assert_eq!(code.as_str(), "ValidationError");
            }
        }
    }
}
