//! Tidy test: imports among the data plane's modules point one way. Every `crate::...` path in
//! a module's code (comments excluded) is an edge from its unit to the unit named; a unit is a
//! top-level module (`conn`, `pipeline`, the `ws/` and `http1/` folders, the `integration/`
//! folder), or one stage under `stages/` (`stages::resolve`, the `stages::authorize` folder).
//! Modules within one unit's folder may import each other; a circle across units fails.
//! Code after a module's first `#[cfg(test)]` (its unit tests) is not counted.

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

/// The unit of a module path's segments (`["stages", "authorize", "jwt"]`).
fn unit(segments: &[&str]) -> Option<String> {
    match segments {
        ["stages", stage, ..] => Some(format!("stages::{stage}")),
        [first, ..] => Some((*first).to_string()),
        [] => None,
    }
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
            // `crate::stages::{admit, cache}` names the stages by a group.
            if segments == ["stages"] {
                let group = after[path.len()..].trim_start_matches('{');
                for name in group.split([',', '}']).map(str::trim) {
                    let name = name.split("::").next().unwrap_or_default();
                    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        units.insert(format!("stages::{name}"));
                    }
                }
            } else if let Some(u) = unit(&segments) {
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
    let code = "use crate::stages::{admit, cache::Plan};\nuse crate::ws::x; // crate::conn\n";
    let units: Vec<String> = imported_units(code).into_iter().collect();
    assert_eq!(units, ["stages::admit", "stages::cache", "ws"]);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(circles(&g), vec![vec!["a", "b", "c"]]);
}

/// No circle at all: the connection layer's was the last (issue 19). `conn` holds the loop and
/// imports `pipeline` and `ws`; both take the connection's `downstream::Downstream`, the
/// pipeline takes the `worker::Worker`, and `ws` takes only the `ws::Core` the worker lends it;
/// `runtime` starts the workers and their connections.
#[test]
fn imports_point_one_way() {
    let g = graph();
    let found: Vec<String> = circles(&g)
        .iter()
        .map(|circle| {
            let edges: Vec<String> = circle
                .iter()
                .flat_map(|from| {
                    g[from]
                        .iter()
                        .filter(|to| circle.contains(to))
                        .map(move |to| format!("{from} -> {to}"))
                })
                .collect();
            format!("{circle:?}, its edges: {edges:?}")
        })
        .collect();
    assert!(found.is_empty(), "import circles: {found:#?}");
    // Units that must stay leaves or near-leaves: what they import is all below them.
    for (unit, allowed) in [
        ("http1", &[][..]),
        ("buffers", &[][..]),
        ("text", &[][..]),
        ("request_id", &[][..]),
        ("deadline", &[][..]),
        ("error", &["http1"][..]),
        ("config", &["upstream_tls"][..]),
        (
            "downstream",
            &["config", "deadline", "error", "http1", "tls", "upstream"][..],
        ),
        ("stages::resolve", &["error", "http1", "tls"][..]),
        (
            "stages::admit",
            &["error", "http1", "request", "stages::resolve"][..],
        ),
    ] {
        let extra: Vec<&String> = g[unit]
            .iter()
            .filter(|u| !allowed.contains(&u.as_str()))
            .collect();
        assert!(extra.is_empty(), "{unit} now imports {extra:?}");
    }
}
