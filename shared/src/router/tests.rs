use super::*;

fn router(keys: &[&str]) -> Router {
    let mut b = RouterBuilder::new();
    for (i, k) in keys.iter().enumerate() {
        b.insert(k, i as u32).unwrap();
    }
    b.build()
}

/// `check(routes, request, expected route key or None, expected params)`.
fn check(keys: &[&str], method: &str, path: &str, expect: Option<&str>, params: &[(&str, &str)]) {
    let r = router(keys);
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let got = r.resolve(&m, path);
    match (got, expect) {
        (None, None) => {}
        (Some(g), Some(e)) => {
            assert_eq!(keys[g.route as usize], e, "{method} {path}");
            let got: Vec<(&str, &str)> = g
                .params
                .iter()
                .map(|p| (p.name, &path[Params::range(p)]))
                .collect();
            assert_eq!(got, params, "{method} {path}");
        }
        (g, e) => panic!(
            "{method} {path}: got {:?}, expected {e:?}",
            g.map(|g| keys[g.route as usize])
        ),
    }
}

const DOCS: &[&str] = &[
    "GET /pets/dog/1",
    "GET /pets/dog/{id}",
    "GET /pets/{proxy+}",
    "ANY /{proxy+}",
    "$default",
];

#[test]
fn aws_priority_example() {
    check(DOCS, "GET", "/pets/dog/1", Some("GET /pets/dog/1"), &[]);
    check(
        DOCS,
        "GET",
        "/pets/dog/2",
        Some("GET /pets/dog/{id}"),
        &[("id", "2")],
    );
    check(
        DOCS,
        "GET",
        "/pets/cat/2",
        Some("GET /pets/{proxy+}"),
        &[("proxy", "cat/2")],
    );
    check(
        DOCS,
        "POST",
        "/pets/dog/1",
        Some("ANY /{proxy+}"),
        &[("proxy", "pets/dog/1")],
    );
    check(DOCS, "GET", "/", Some("$default"), &[]);
    check(
        DOCS,
        "GET",
        "/pets",
        Some("ANY /{proxy+}"),
        &[("proxy", "pets")],
    );
}

#[test]
fn method_beats_any_and_backtracks() {
    let keys = &["GET /a/{x}", "ANY /a/b", "POST /a/b"];
    check(keys, "POST", "/a/b", Some("POST /a/b"), &[]);
    check(keys, "PUT", "/a/b", Some("ANY /a/b"), &[]);
    check(keys, "GET", "/a/b", Some("ANY /a/b"), &[]);
    check(keys, "GET", "/a/c", Some("GET /a/{x}"), &[("x", "c")]);
    check(keys, "DELETE", "/a/c", None, &[]);
    // Static path matches but no method there: backtrack to the parameter route.
    let keys = &["POST /a/b", "GET /a/{x}"];
    check(keys, "GET", "/a/b", Some("GET /a/{x}"), &[("x", "b")]);
}

#[test]
fn any_full_match_beats_any_greedy_match() {
    // The greedy route sits in a static subtree; the parameter route is a full match.
    let keys = &["GET /pets/{proxy+}", "GET /{kind}/dog"];
    check(
        keys,
        "GET",
        "/pets/dog",
        Some("GET /{kind}/dog"),
        &[("kind", "pets")],
    );
    check(
        keys,
        "GET",
        "/pets/cat",
        Some("GET /pets/{proxy+}"),
        &[("proxy", "cat")],
    );
}

#[test]
fn no_route_without_default() {
    let keys = &["GET /pets"];
    check(keys, "GET", "/pets", Some("GET /pets"), &[]);
    check(keys, "GET", "/pets/", None, &[]);
    check(keys, "GET", "/pet", None, &[]);
    check(keys, "GET", "/pets/1", None, &[]);
    check(keys, "POST", "/pets", None, &[]);
    check(keys, "GET", "", None, &[]);
    check(keys, "GET", "*", None, &[]);
}

#[test]
fn root_and_params() {
    let keys = &["GET /", "GET /{a}/{b}", "GET /{a}/x/{c+}"];
    check(keys, "GET", "/", Some("GET /"), &[]);
    check(
        keys,
        "GET",
        "/1/2",
        Some("GET /{a}/{b}"),
        &[("a", "1"), ("b", "2")],
    );
    check(
        keys,
        "GET",
        "/1/x/y/z",
        Some("GET /{a}/x/{c+}"),
        &[("a", "1"), ("c", "y/z")],
    );
    check(
        keys,
        "GET",
        "/1/x",
        Some("GET /{a}/{b}"),
        &[("a", "1"), ("b", "x")],
    );
    // A parameter never matches an empty segment; a greedy parameter never matches nothing.
    check(keys, "GET", "//2", None, &[]);
    check(keys, "GET", "/1/x/", None, &[]);
}

#[test]
fn greedy_at_root_needs_a_path() {
    let keys = &["ANY /{proxy+}"];
    check(keys, "GET", "/", None, &[]);
    check(keys, "GET", "/a", Some("ANY /{proxy+}"), &[("proxy", "a")]);
    check(
        keys,
        "GET",
        "/a/",
        Some("ANY /{proxy+}"),
        &[("proxy", "a/")],
    );
}

#[test]
fn catch_all_flag() {
    let r = router(DOCS);
    assert!(!r.resolve(&Method::GET, "/pets/dog/1").unwrap().catch_all);
    assert!(r.resolve(&Method::GET, "/pets/cat/1").unwrap().catch_all);
    assert!(r.resolve(&Method::GET, "/").unwrap().catch_all);
}

#[test]
fn too_deep_falls_to_default() {
    let deep = "/a".repeat(PATH_SEGMENTS_MAX + 1);
    check(
        &["ANY /{proxy+}", "$default"],
        "GET",
        &deep,
        Some("$default"),
        &[],
    );
    check(&["ANY /{proxy+}"], "GET", &deep, None, &[]);
}

#[test]
fn bad_route_keys() {
    for key in [
        "GET",
        "GET pets",
        "FETCH /pets",
        "get /pets",
        "GET /pets/",
        "GET /pets//x",
        "GET /{proxy+}/x",
        "GET /{}",
        "GET /a{b}",
        "GET /{a b}",
        "GET /a?b",
        "GET  /a",
    ] {
        assert!(RouteKey::parse(key).is_err(), "{key} should be refused");
    }
    let mut b = RouterBuilder::new();
    b.insert("GET /a", 0).unwrap();
    assert_eq!(
        b.insert("GET /a", 1),
        Err(RouteKeyError::Duplicate("GET /a".into()))
    );
    b.insert("GET /{x}", 2).unwrap();
    assert!(matches!(
        b.insert("GET /{y}/z", 3),
        Err(RouteKeyError::ParamConflict(..))
    ));
    b.insert("$default", 4).unwrap();
    assert!(b.insert("$default", 5).is_err());
}

#[test]
fn ten_thousand_routes() {
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("GET /svc{}/items/{{id}}/v{}", i % 100, i))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let r = router(&refs);
    assert_eq!(r.len(), 10_000);
    let m = r.resolve(&Method::GET, "/svc42/items/abc/v9942").unwrap();
    assert_eq!(refs[m.route as usize], "GET /svc42/items/{id}/v9942");
}
