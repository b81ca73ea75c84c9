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
use std::path::Path;

#[path = "../../tests/tidy/import_graph.rs"]
mod import_graph;
use import_graph::circles;

/// The unit of a module path's segments (`["usage", "ops"]` is `usage`).
fn unit(segments: &[&str]) -> Option<String> {
    segments.first().map(|s| (*s).to_string())
}

/// The admin side's import graph.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    import_graph::graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), unit)
}

fn imported_units(code: &str) -> BTreeSet<String> {
    import_graph::imported_units(code, unit)
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
