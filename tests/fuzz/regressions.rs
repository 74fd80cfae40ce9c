//! Inputs the fuzz campaigns found, kept as plain tests (docs/reliability.md lists them).

use mesos_maint::mesos::scan::{find_agent, find_agent_serde};
use mesos_maint::mesos::AgentLookup;

use crate::wire::check_scan;

const OTHER: &str = r#"{"agent_info":{"hostname":"h","id":{"value":"other-S1"}},"active":true,"deactivated":false}"#;

fn body(agents: &str) -> Vec<u8> {
    format!(r#"{{"type":"GET_AGENTS","get_agents":{{"agents":[{agents}],"recovered_agents":[]}}}}"#)
        .into_bytes()
}

/// Found by `get_agents_scan_matches_the_serde_reference`: a syntax error inside another agent's
/// entry ("expected `:`"). The splitter skipped the entry without parsing it and answered
/// "absent", which a decommission reads as "gone": a damaged answer taken for a finished drain.
#[test]
fn a_broken_entry_of_another_agent_is_an_error_not_absent() {
    let broken = OTHER.replace(r#""active":true"#, r#""active" true"#);
    let bytes = body(&broken);
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
    check_scan(&bytes, "mine-S7", vec![7]);
    // A number that is not one, and a literal cut short: the same.
    for bad in [r#""active":1.2.3"#, r#""active":tru"#] {
        let bytes = body(&OTHER.replace(r#""active":true"#, bad));
        assert!(find_agent(&bytes[..], "mine-S7").is_err(), "{bad}");
        check_scan(&bytes, "mine-S7", vec![64]);
    }
}

/// Found by `get_agents_scan_matches_on_tree_edits`: an entry that is an array. serde decodes a
/// struct from a JSON array, so the reference took `[]` for an empty agent while the splitter
/// refused it. Both refuse now.
#[test]
fn an_entry_that_is_not_an_object_is_refused_by_both() {
    let bytes = body(&format!("{OTHER},[]"));
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
}

/// Found by `get_agents_scan_matches_on_tree_edits`: `"active": null` in another agent's entry.
/// The reference decoded every entry into typed fields and failed; the splitter never decoded
/// it. The shared rule: only the entry asked for is typed, every entry must be valid JSON.
#[test]
fn a_wrong_type_in_another_agents_entry_does_not_hide_this_one() {
    let other = OTHER.replace(r#""active":true"#, r#""active":null"#);
    let mine = r#"{"agent_info":{"hostname":"me","id":{"value":"mine-S7"}},"active":true,"deactivated":true,"drain_info":{"state":"DRAINED","config":{"mark_gone":false}}}"#;
    let bytes = body(&format!("{other},{mine}"));
    let found = find_agent(&bytes[..], "mine-S7").unwrap();
    assert!(
        matches!(&found, AgentLookup::Registered(a) if a.deactivated),
        "{found:?}"
    );
    check_scan(&bytes, "mine-S7", vec![3, 50]);
    // Ours with a wrong type is still an error for both.
    let bytes = body(&mine.replace(r#""deactivated":true"#, r#""deactivated":"yes""#));
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
}

/// Found by the 5,000-case campaign after the fixes above: a byte that is not UTF-8 in the
/// `"type"` string. serde does not check UTF-8 in a value it ignores, so the reference found
/// the agent; the splitter's new check of skipped values refused it. The rule now: UTF-8 is
/// checked in `agents[]`/`recovered_agents[]` entries (both parse them), not in ignored values.
#[test]
fn an_ignored_value_is_checked_as_serde_checks_it() {
    let mine = r#"{"agent_info":{"hostname":"me","id":{"value":"mine-S7"}},"active":true}"#;
    let mut bytes = body(mine);
    let at = bytes.windows(10).position(|w| w == b"GET_AGENTS").unwrap();
    bytes.insert(at, 0x80);
    check_scan(&bytes, "mine-S7", vec![5]);
    assert!(matches!(
        find_agent(&bytes[..], "mine-S7"),
        Ok(AgentLookup::Registered(_))
    ));
    // Inside an entry the same byte is an error for both.
    let mut bytes = body(&format!("{OTHER},{mine}"));
    let at = bytes.windows(5).position(|w| w == b"other").unwrap();
    bytes.insert(at, 0x80);
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
}

/// Found by the next 5,000-case campaign: a byte that is not UTF-8 in the `recovered_agents`
/// key. serde reads keys as strings and failed; the splitter compared the raw bytes, saw an
/// unknown key, skipped it and answered "absent". Keys are checked for UTF-8 now.
#[test]
fn a_key_that_is_not_utf8_is_an_error_for_both() {
    let mut bytes = body(OTHER);
    let at = bytes
        .windows(16)
        .position(|w| w == b"recovered_agents")
        .unwrap();
    bytes.insert(at, 0x80);
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
}

/// Found by the first 100,000-case campaign: a control character in a key. serde refuses it in
/// any string; the splitter skipped the "unknown" key and answered absent.
#[test]
fn a_control_character_in_a_key_is_an_error_for_both() {
    let mut bytes = body(OTHER);
    let at = bytes
        .windows(16)
        .position(|w| w == b"recovered_agents")
        .unwrap();
    bytes.insert(at, 0x01);
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
}

/// Found by the first 100,000-case campaign (`master_slaves_tree_edits`): `"drain_info":
/// ["DRAINED"]`. serde reads a struct from an array too, so the agent was DRAINED without the
/// master having said so, and `check` could have called the node safe.
#[test]
fn a_drain_info_that_is_not_an_object_is_not_drained() {
    use mesos_maint::mesos::master::decode_slaves;
    let url = url::Url::parse("http://m:5050/").unwrap();
    let slaves = br#"{"slaves":[{"id":"mine-S7","hostname":"h","active":false,"deactivated":true,"drain_info":["DRAINED"]}],"recovered_slaves":[]}"#;
    assert!(decode_slaves(&url, slaves, "mine-S7").is_err());
    let mine =
        r#"{"agent_info":{"hostname":"me","id":{"value":"mine-S7"}},"drain_info":["DRAINED"]}"#;
    let bytes = body(mine);
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
}

/// Found by the first 100,000-case campaign: an instance profile document that is a bare JSON
/// string. serde's message quotes the value ("invalid type: string \"<secret>\""), and the
/// error was logged. The error now says only where the document went wrong.
#[test]
fn a_malformed_credentials_document_is_not_quoted_in_the_error() {
    use mesos_maint::cloud::aws::Credentials;
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let err = Credentials::from_instance_profile("role", &format!("\"{secret}\"")).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(secret), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

/// Found by the second 100,000-case campaign: `16.1e3090` in another agent's entry. Valid JSON
/// grammar, beyond f64: the reference's `Value` refuses it, the splitter's grammar check does not.
/// Accepted as the one documented difference; in the entry asked for it fails both.
#[test]
fn a_number_beyond_f64_fails_only_where_it_is_decoded() {
    let other = OTHER.replace(r#""active":true"#, r#""active":true,"cpus":16.1e3090"#);
    let mine = r#"{"agent_info":{"hostname":"me","id":{"value":"mine-S7"}},"active":true}"#;
    let bytes = body(&format!("{other},{mine}"));
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
    assert!(matches!(
        find_agent(&bytes[..], "mine-S7"),
        Ok(AgentLookup::Registered(_))
    ));
    check_scan(&bytes, "mine-S7", vec![9]);
    let bytes = body(&mine.replace(r#""active":true"#, r#""active":true,"cpus":1e999"#));
    assert!(find_agent(&bytes[..], "mine-S7").is_err());
    assert!(find_agent_serde(&bytes[..], "mine-S7").is_err());
}

/// Found by the third 100,000-case campaign: a TOML multi-line string as a value
/// (`ca_file = """` ... `"""`). The error quoted it verbatim, so the "one line naming the
/// offending value" took three lines. Line breaks in quoted values are escaped now.
#[test]
fn a_multi_line_config_value_is_named_on_one_line() {
    use mesos_maint::config::{load_from, Overrides};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("50-local.toml"),
        "[auth]\nca_file = \"\"\"\n\nrelative/ca.crt\"\"\"\n",
    )
    .unwrap();
    let err = load_from(&[dir.path()], &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(
        err.contains("auth.ca_file") && err.contains("relative/ca.crt"),
        "{err}"
    );
}
