//! The import graph of one crate's modules, for the layering tests of `dataplane` and `admin`
//! (`dataplane/tests/imports.rs`, `admin/tests/imports.rs`, which include this file with
//! `#[path]`) and the source walk of `shared/tests/tidy.rs`. Every `crate::...` path in a
//! module's code (comments and unit tests after the first `#[cfg(test)]` excluded) is an edge
//! from its unit to the unit named; what a unit is, each crate says ([`Unit`]). `lib.rs` and
//! `main.rs` are composition roots, not units.

#![allow(dead_code)] // each includer uses a part

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's rule for the unit a module path's segments belong to (`None` for no segments).
pub(crate) type Unit = fn(&[&str]) -> Option<String>;

/// Every `.rs` file under `dir`.
pub(crate) fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The unit a file under `src/` belongs to.
pub(crate) fn file_unit(src: &Path, file: &Path, unit: Unit) -> String {
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
pub(crate) fn imported_units(code: &str, unit: Unit) -> BTreeSet<String> {
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
            // `crate::stages::{admit, cache}` names units by a group where the crate's rule
            // makes each member of that folder a unit of its own.
            if let [folder] = segments[..] {
                if unit(&[folder, "_"]) != unit(&[folder]) {
                    let group = after[path.len()..].trim_start_matches('{');
                    for name in group.split([',', '}']).map(str::trim) {
                        let name = name.split("::").next().unwrap_or_default();
                        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                        {
                            units.extend(unit(&[folder, name]));
                        }
                    }
                    rest = after;
                    continue;
                }
            }
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

/// The import graph among the units of the crate whose sources are in `src` (self-edges left
/// out).
pub(crate) fn graph(src: &Path, unit: Unit) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        if file
            .file_name()
            .is_some_and(|n| n == "main.rs" || n == "lib.rs")
        {
            continue;
        }
        let from = file_unit(src, &file, unit);
        let code = std::fs::read_to_string(&file).expect("a readable module");
        // Unit tests (at the end of a module, by convention) may reach anywhere.
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let edges = graph.entry(from.clone()).or_default();
        for to in imported_units(code, unit) {
            if to != from {
                edges.insert(to);
            }
        }
    }
    graph
}

/// The circles of `graph`: its strongly connected components with more than one unit
/// (Tarjan's algorithm).
pub(crate) fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
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
