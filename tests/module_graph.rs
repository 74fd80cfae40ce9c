//! The module graph of `src/` has no cycles: no top-level module imports one that imports it
//! back (directly or around a longer loop), and inside a directory module no child imports a
//! sibling that imports it back. Cycles are what made a command impossible to change without
//! the daemon (issue 10); this test keeps them out.
//!
//! Edges are read from the source text: `crate::<module>` paths (also inside `use crate::{..}`
//! groups) between top-level modules; `crate::<dir>::<child>` and `super::<child>` between
//! siblings. `main.rs` and `lib.rs` sit above everything and are left out. A plain text scan is
//! enough here: the code base writes its imports in these forms, and a false edge can only make
//! the test stricter.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc comments name modules in prose).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // "http://" in a string literal is not a comment.
            Some(i) if !l[..i].ends_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The first path segment after every `prefix` in `code`, including each item of a
/// `prefix{a, b::c, ..}` group.
fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        // `mycrate::x` or `self::super::x` are not ours.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        item_start = false;
                        if let Some(id) = ident_at(&group[j..]) {
                            out.insert(id.to_string());
                        }
                    }
                    _ => {}
                }
            }
        } else if let Some(id) = ident_at(rest) {
            out.insert(id.to_string());
        }
    }
    out
}

fn module_name(file_or_dir: &str) -> String {
    file_or_dir.trim_end_matches(".rs").to_string()
}

/// (top-level graph, per directory module the graph of its children)
fn graphs(src: &Path) -> (Graph, BTreeMap<String, Graph>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let tops: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| module_name(&e.unwrap().file_name().to_string_lossy()))
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let mut top = Graph::new();
    let mut inner: BTreeMap<String, Graph> = BTreeMap::new();
    for f in files {
        let rel: Vec<String> = f
            .strip_prefix(src)
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let me = module_name(&rel[0]);
        if !tops.contains(&me) {
            continue;
        }
        let text = code(&std::fs::read_to_string(&f).unwrap());
        let edges = top.entry(me.clone()).or_default();
        for t in targets(&text, "crate::") {
            if t != me && tops.contains(&t) {
                edges.insert(t);
            }
        }
        // Children of a directory module: src/<me>/<child>.rs or src/<me>/<child>/...
        if rel.len() >= 2 {
            let child = module_name(&rel[1]);
            if child == "mod" {
                continue;
            }
            let mut ts = targets(&text, &format!("crate::{me}::"));
            if rel.len() == 2 {
                ts.extend(targets(&text, "super::"));
            }
            let siblings = inner.entry(me.clone()).or_default();
            let edges = siblings.entry(child.clone()).or_default();
            for t in ts {
                let is_sibling = src.join(&me).join(format!("{t}.rs")).exists()
                    || src.join(&me).join(&t).join("mod.rs").exists();
                if t != child && is_sibling {
                    edges.insert(t);
                }
            }
        }
    }
    (top, inner)
}

/// A cycle of `g` as the list of its modules (first repeated at the end), if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        g: &Graph,
        n: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(n.to_string(), Mark::OnPath);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match marks.get(m).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let start = path.iter().position(|p| p == m).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(g, m, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in g.keys() {
        if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(g, n, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn top_level_modules_import_each_other_in_one_direction_only() {
    let (top, _) = graphs(&src_dir());
    assert!(top.len() > 10, "found the modules: {top:?}");
    if let Some(c) = find_cycle(&top) {
        panic!(
            "import cycle between top-level modules of src/: {}",
            c.join(" -> ")
        );
    }
}

#[test]
fn children_of_a_module_import_each_other_in_one_direction_only() {
    let (_, inner) = graphs(&src_dir());
    assert!(inner.contains_key("mesos") && inner.contains_key("drain"));
    for (parent, g) in &inner {
        if let Some(c) = find_cycle(g) {
            panic!("import cycle inside src/{parent}/: {}", c.join(" -> "));
        }
    }
}

/// The checker itself finds what it is meant to find.
#[test]
fn the_checker_sees_edges_and_cycles() {
    let t = targets(
        "use crate::{a::X, b, c::{d, e}};\nlet x = crate::f::g(); mycrate::h; self::super::i;",
        "crate::",
    );
    assert_eq!(
        t,
        ["a", "b", "c", "f"].map(String::from).into_iter().collect()
    );
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .into_iter()
        .fold(Graph::new(), |mut g, (x, y)| {
            g.entry(x.into()).or_default().insert(y.into());
            g
        });
    assert_eq!(find_cycle(&g).unwrap().join(" -> "), "a -> b -> c -> a");
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&acyclic), None);
}
