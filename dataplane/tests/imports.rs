//! Tidy test: imports among the data plane's modules point one way. Every `crate::...` path in
//! a module's code (comments excluded) is an edge from its unit to the unit named; a unit is a
//! top-level module (`conn`, `pipeline`, the `ws/` and `http1/` folders, the `integration/`
//! folder), or one stage under `stages/` (`stages::resolve`, the `stages::authorize` folder).
//! Modules within one unit's folder may import each other; a circle across units fails.
//! Code after a module's first `#[cfg(test)]` (its unit tests) is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[path = "../../tests/tidy/import_graph.rs"]
mod import_graph;
use import_graph::circles;

/// The unit of a module path's segments (`["stages", "authorize", "jwt"]`).
fn unit(segments: &[&str]) -> Option<String> {
    match segments {
        ["stages", stage, ..] => Some(format!("stages::{stage}")),
        [first, ..] => Some((*first).to_string()),
        [] => None,
    }
}

/// The data plane's import graph.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    import_graph::graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), unit)
}

fn imported_units(code: &str) -> BTreeSet<String> {
    import_graph::imported_units(code, unit)
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
        ("request_id", &["text"][..]),
        ("deadline", &[][..]),
        ("sys", &[][..]),
        ("error", &["http1"][..]),
        ("config", &["upstream_tls"][..]),
        (
            "downstream",
            &["config", "deadline", "error", "http1", "tls", "upstream"][..],
        ),
        (
            "stages::resolve",
            &["error", "http1", "sys", "text", "tls"][..],
        ),
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
