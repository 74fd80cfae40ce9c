//! The mutation engine: real captures (tests/fuzz/corpus) changed by byte-level edits (flips,
//! inserts, deletions, truncation, duplication, splices of another capture, JSON-significant
//! tokens) or, for the semantic checks, by replacing one node of the parsed JSON tree.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

/// Cases per target: `MM_FUZZ_CASES` (tests/fuzz.sh runs long campaigns with it), else a bound
/// that keeps CI's run of every target to seconds.
pub fn config() -> Config {
    let cases = std::env::var("MM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    Config {
        cases,
        // No files written into the source tree; what a campaign finds becomes a named
        // regression test instead (tests/fuzz/regressions.rs).
        failure_persistence: None,
        ..Config::default()
    }
}

pub fn corpus(prefix: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fuzz/corpus")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no capture named {prefix}* in {dir:?}");
    names
        .iter()
        .map(|p| std::fs::read(p).expect("readable capture"))
        .collect()
}

/// Tokens that change what a JSON document means, not only whether it parses.
const TOKENS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e309",
    "18446744073709551616",
    "-9223372036854775809",
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "\\",
    "\\u0000",
    "\\ud800",
    "\"\"",
    "{}",
    "[]",
    "\"DRAINED\"",
    "\"DRAINING\"",
    "\"UNKNOWN\"",
    "\"TASK_RUNNING\"",
    "\"TASK_FINISHED\"",
    "\"OPERATION_PENDING\"",
    "\"agents\"",
    "\"recovered_agents\"",
    "\"get_agents\"",
    "\"slaves\"",
    "\"recovered_slaves\"",
    "\"drain_info\"",
    "\"deactivated\"",
    "\"mark_gone\"",
    "\"value\"",
    "\"id\"",
    "\"agent_info\"",
    "\"nanoseconds\"",
    "é",
    "\u{feff}",
    "\n",
    " ",
];

#[derive(Debug, Clone)]
pub enum Edit {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Token {
        at: usize,
        token: usize,
        replace: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    Duplicate {
        at: usize,
        len: usize,
        to: usize,
    },
    Splice {
        at: usize,
        other: usize,
        from: usize,
        len: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Edit::Set { at, byte }),
        (at, proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (at, any::<usize>(), 0usize..6).prop_map(|(at, token, replace)| Edit::Token {
            at,
            token,
            replace
        }),
        (at, 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        at.prop_map(|at| Edit::Truncate { at }),
        (at, 1usize..256, any::<usize>()).prop_map(|(at, len, to)| Edit::Duplicate { at, len, to }),
        (at, any::<usize>(), any::<usize>(), 1usize..512).prop_map(|(at, other, from, len)| {
            Edit::Splice {
                at,
                other,
                from,
                len,
            }
        }),
    ]
}

/// A capture of `seeds` and up to `max` edits; positions wrap around the current length.
pub fn mutated(seeds: Vec<Vec<u8>>, max: usize) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (0..n, proptest::collection::vec(edit(), 0..=max))
        .prop_map(move |(i, edits)| apply(&seeds, i, &edits))
}

pub fn apply(seeds: &[Vec<u8>], seed: usize, edits: &[Edit]) -> Vec<u8> {
    let mut b = seeds[seed].clone();
    for e in edits {
        let len = b.len();
        let pos = |at: usize| if len == 0 { 0 } else { at % (len + 1) };
        match e {
            Edit::Flip { at, bit } if len > 0 => b[at % len] ^= 1 << bit,
            Edit::Set { at, byte } if len > 0 => b[at % len] = *byte,
            Edit::Insert { at, bytes } => {
                let p = pos(*at);
                b.splice(p..p, bytes.iter().copied());
            }
            Edit::Token { at, token, replace } => {
                let p = pos(*at);
                let end = (p + replace).min(len);
                b.splice(p..end, TOKENS[token % TOKENS.len()].bytes());
            }
            Edit::Delete { at, len: n } => {
                let p = pos(*at);
                let end = (p + n).min(len);
                b.drain(p..end);
            }
            Edit::Truncate { at } => b.truncate(pos(*at)),
            Edit::Duplicate { at, len: n, to } => {
                let p = pos(*at);
                let piece: Vec<u8> = b[p..(p + n).min(len)].to_vec();
                let t = pos(*to);
                b.splice(t..t, piece);
            }
            Edit::Splice {
                at,
                other,
                from,
                len: n,
            } => {
                let o = &seeds[other % seeds.len()];
                let f = if o.is_empty() { 0 } else { from % o.len() };
                let piece = o[f..(f + n).min(o.len())].to_vec();
                let p = pos(*at);
                b.splice(p..p, piece);
            }
            _ => {}
        }
    }
    b
}

/// Any JSON value, small.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9_ .:@/-]{0,12}".prop_map(Value::from),
        proptest::sample::select(vec![
            "DRAINED",
            "DRAINING",
            "UNKNOWN",
            "TASK_RUNNING",
            "TASK_KILLED",
            "OPERATION_PENDING",
            "UP",
            "DOWN",
            "",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every node's JSON pointer, the root included.
pub fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(c, format!("{at}/{key}"), out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    walk(c, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// A capture parsed, with one node (picked by `pick`) replaced by `with`, or removed when the
/// parent is an object and `remove` is set.
pub fn tree_mutated(seed: &Value, pick: usize, with: Value, remove: bool) -> Value {
    let mut v = seed.clone();
    let ptrs = pointers(&v);
    let p = &ptrs[pick % ptrs.len()];
    if remove {
        if let Some((parent, key)) = p.rsplit_once('/') {
            if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                m.remove(&key.replace("~1", "/").replace("~0", "~"));
                return v;
            }
        }
    }
    if let Some(node) = v.pointer_mut(p) {
        *node = with;
    }
    v
}
