//! The crate's layout, checked from its sources: which module may use which.
//!
//! - The modules' import graph has no cycle but `session` ↔ `request`.
//! - `info` and `transport` use nothing else of the crate; `error` only `info`.
//! - Only `proto/` names hyper.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file before its inline tests, without line comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    before_tests
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names following `crate::` in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| name.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .collect()
}

/// Top-level module → the top-level modules its code uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" {
            continue;
        }
        let deps = crate_paths(&code(&file));
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(deps.into_iter().filter(|d| *d != top));
    }
    graph
}

/// Whether `to` can be reached from `from` without taking the edge `skip`.
fn reaches(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
    skip: (&str, &str),
) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        for d in graph.get(&m).into_iter().flatten() {
            if (m.as_str(), d.as_str()) == skip || (d.as_str(), m.as_str()) == skip {
                continue;
            }
            if d == to {
                return true;
            }
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    false
}

#[test]
fn the_import_graph_has_no_cycle_but_session_and_request() {
    let graph = graph();
    assert!(graph.len() > 15, "modules found: {:?}", graph.keys());
    let mut cycles = Vec::new();
    for (m, deps) in &graph {
        for d in deps {
            // m uses d; a path back from d to m (not through the allowed pair) is a cycle.
            if reaches(&graph, d, m, ("session", "request")) {
                cycles.push(format!("{m} -> {d}"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "edges on a cycle: {cycles:?}\n{graph:#?}"
    );
}

#[test]
fn plain_data_modules_are_leaves() {
    let graph = graph();
    let uses = |m: &str| graph.get(m).cloned().unwrap_or_default();
    assert!(uses("info").is_empty(), "info uses {:?}", uses("info"));
    assert!(
        uses("transport").is_empty(),
        "transport uses {:?}",
        uses("transport")
    );
    let error: Vec<String> = uses("error").into_iter().collect();
    assert_eq!(error, ["info"]);
}

#[test]
fn only_proto_names_hyper() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let proto = src.join("proto");
    let named: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&proto))
        .filter(|f| code(f).contains("hyper::"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(named.is_empty(), "hyper named outside proto/: {named:?}");
}
