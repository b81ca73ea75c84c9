//! Tidy test: imports among the admin side's modules point one way. Every `crate::...` path in
//! a module's code (comments excluded) is an edge from its unit to the unit named; a unit is a
//! top-level module or folder (`catalog`, `publish`, `usage/`, `v1/`, `domains/` ...). Modules
//! within one folder may import each other; a circle across units fails. `lib.rs` (the router
//! and `AdminState`, which every handler is given) is the composition root and is not a unit.
//! Code after a module's first `#[cfg(test)]` (its unit tests) is not counted.
//!
//! Each domain keeps its own state and operations (`usage/`, `iam.rs`, `domains/`,
//! `vpc_link.rs`, `account.rs`); an operation is handed the `Publisher` (`publish.rs`) it
//! commits and publishes through and, where it reads another domain, a read-only view the
//! catalog lends. The catalog composes them, so no domain imports it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The unit of a module path's segments (`["usage", "ops"]` is `usage`).
fn unit(segments: &[&str]) -> Option<String> {
    segments.first().map(|s| (*s).to_string())
}

/// The unit a file under `src/` belongs to.
fn file_unit(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src");
    let mut segments: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    unit(&segments).expect("a module")
}

/// `crate::a::b::{...}` paths in `code`, as the unit each names.
fn imported_units(code: &str) -> BTreeSet<String> {
    let mut units = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let path: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            if let Some(u) = unit(&segments) {
                // A lower-case first segment is a module; `crate::Foo` would be a re-export.
                if u.starts_with(|c: char| c.is_ascii_lowercase()) {
                    units.insert(u);
                }
            }
            rest = after;
        }
    }
    units
}

/// The import graph among units (self-edges left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        if file
            .file_name()
            .is_some_and(|n| n == "main.rs" || n == "lib.rs")
        {
            continue;
        }
        let from = file_unit(&src, &file);
        let code = std::fs::read_to_string(&file).expect("a readable module");
        // Unit tests (at the end of a module, by convention) may reach anywhere.
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let edges = graph.entry(from.clone()).or_default();
        for to in imported_units(code) {
            if to != from {
                edges.insert(to);
            }
        }
    }
    graph
}

/// The circles of `graph`: its strongly connected components with more than one unit
/// (Tarjan's algorithm).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_checker_finds_circles_and_units() {
    let code = "use crate::usage::{ops, UsageState};\nuse crate::v1::x; // crate::catalog\nuse crate::AdminState;\n";
    let units: Vec<String> = imported_units(code).into_iter().collect();
    assert_eq!(units, ["usage", "v1"]);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(circles(&g), vec![vec!["a", "b", "c"]]);
}

/// The circle that remains: the API domains. The REST (`v1/`), HTTP and WebSocket (`v2/`,
/// `ws.rs`) operations and the OpenAPI import are still `impl Catalog` blocks, since they share
/// one id namespace, the auto-deploy and compile path, and the atomic import batch that the
/// catalog owns. A change may shrink it, never grow it: no new unit may join a circle, and no
/// new circle may form.
const KNOWN_CIRCLES: &[&[&str]] = &[&["catalog", "openapi", "v1", "v2", "ws"]];

/// Domains with their own state and operations: none of them may import the catalog (nor, so,
/// reach it through another unit).
const DOMAINS: &[&str] = &[
    "account", "domains", "iam", "usage", "vpc_link", "region", "publish", "patch", "page",
];

#[test]
fn imports_point_one_way_outside_the_known_circle() {
    let g = graph();
    for circle in circles(&g) {
        let known = KNOWN_CIRCLES
            .iter()
            .any(|k| circle.iter().all(|u| k.contains(&u.as_str())));
        let edges: Vec<String> = circle
            .iter()
            .flat_map(|from| {
                g[from]
                    .iter()
                    .filter(|to| circle.contains(to))
                    .map(move |to| format!("{from} -> {to}"))
            })
            .collect();
        assert!(
            known,
            "a new import circle among {circle:?}; its edges: {edges:#?}"
        );
    }
    for domain in DOMAINS {
        let reached = reachable(&g, domain);
        assert!(
            !reached.contains("catalog"),
            "{domain} reaches the catalog: {:?}",
            g[*domain]
        );
    }
}

/// Every unit `from` reaches through imports.
fn reachable(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(u) = todo.pop() {
        for v in g.get(&u).into_iter().flatten() {
            if seen.insert(v.clone()) {
                todo.push(v.clone());
            }
        }
    }
    seen
}
