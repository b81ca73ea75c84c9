//! Fuzzes `router::RouterBuilder` and `Router::resolve` against a naive reference matcher.
//!
//! Input: lines (lossy UTF-8). A line `>METHOD /path` is a request; any other line is a route key
//! (`GET /pets/{id}`, `ANY /{proxy+}`, `$default`, or garbage), inserted with its line's index.
//!
//! Beyond "no panic", each input checks:
//! 1. Building never panics, and `len()` counts the keys that were accepted.
//! 2. A route accepted without parameters is found by resolving its exact path with its method
//!    (`ANY` routes with a method no route names).
//! 3. For every request (those in the input, plus each accepted key's path with its parameters
//!    filled in), `resolve` returns exactly what AWS's priority picks among the accepted keys
//!    that match: any full match (static and `{param}` segments only) beats any greedy
//!    `{proxy+}` match; within each, at the first segment where two candidates differ, static
//!    beats `{param}` beats `{proxy+}` (so deeper greedy routes win); on the same path an exact
//!    method beats `ANY`; `$default` (or `None` without it) only when nothing matches. Captured
//!    parameters and `catch_all` agree with the reference. Refused keys never match.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use portico_shared::limits::PATH_SEGMENTS_MAX;
use portico_shared::router::{Params, RouteKey, RouteKeyError, Router, RouterBuilder};

/// Bounds on one input, so an iteration stays fast.
const KEYS_MAX: usize = 64;
const REQUESTS_MAX: usize = 16;

/// A method no route key can name: it only ever selects `ANY` routes.
const UNNAMED_METHOD: &[u8] = b"PURGE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Static,
    Param,
    Greedy,
}

/// An accepted route key, parsed for the reference matcher.
#[derive(Debug)]
struct Route {
    index: u32,
    /// `None` = ANY.
    method: Option<Method>,
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    Static(String),
    Param(String),
    Greedy(String),
}

/// What the reference expects a lookup to return.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    route: u32,
    params: Vec<(String, (u32, u32))>,
    catch_all: bool,
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut builder = RouterBuilder::new();
    let mut routes: Vec<Route> = Vec::new();
    let mut default_route: Option<u32> = None;
    let mut requests: Vec<(Method, String)> = Vec::new();
    let mut accepted = 0usize;
    for (i, line) in text.split('\n').enumerate().take(KEYS_MAX + REQUESTS_MAX) {
        if let Some(req) = line.strip_prefix('>') {
            if let Some((m, path)) = req.split_once(' ') {
                if let Ok(m) = Method::from_bytes(m.as_bytes()) {
                    requests.truncate(REQUESTS_MAX - 1);
                    requests.push((m, path.to_string()));
                }
            }
            continue;
        }
        let index = u32::try_from(i).expect("bounded by KEYS_MAX + REQUESTS_MAX");
        let parsed = RouteKey::parse(line);
        let inserted = builder.insert(line, index);
        let key = match (parsed, inserted) {
            (Ok(key), Ok(())) => key,
            // A key's own syntax is refused the same way by both.
            (Err(pe), Err(ie)) => {
                assert_eq!(pe, ie, "{line:?}");
                continue;
            }
            (Err(pe), Ok(())) => panic!("{line:?} inserted although parse refused it: {pe}"),
            // A well-formed key is refused only for what other keys already hold.
            (Ok(_), Err(ie)) => {
                let conflict = matches!(
                    ie,
                    RouteKeyError::Duplicate(_) | RouteKeyError::ParamConflict(..)
                );
                assert!(conflict, "{line:?}: {ie}");
                continue;
            }
        };
        accepted += 1;
        match key {
            RouteKey::Default => default_route = Some(index),
            RouteKey::Path { method, path } => routes.push(Route {
                index,
                method,
                segments: segments_of(&path),
            }),
        }
    }
    let router = builder.build();
    assert_eq!(router.len(), accepted);

    for route in &routes {
        let method = route.method.clone().unwrap_or_else(unnamed_method);
        let path = fill(&route.segments);
        let got = router.resolve(&method, &path);
        if route
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Static(_)))
        {
            let m = got.unwrap_or_else(|| panic!("static route {route:?} not found at {path}"));
            assert_eq!(m.route, route.index, "static route {route:?} at {path}");
            assert!(
                !m.catch_all && m.params.is_empty(),
                "static route {route:?} at {path}"
            );
        }
        check(&router, &routes, default_route, &method, &path);
    }
    for (method, path) in &requests {
        check(&router, &routes, default_route, method, path);
    }
});

fn unnamed_method() -> Method {
    Method::from_bytes(UNNAMED_METHOD).expect("a valid extension method")
}

fn segments_of(path: &str) -> Vec<Segment> {
    if path == "/" {
        return Vec::new();
    }
    path[1..]
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => match inner.strip_suffix('+') {
                    Some(name) => Segment::Greedy(name.to_string()),
                    None => Segment::Param(inner.to_string()),
                },
                None => Segment::Static(seg.to_string()),
            },
        )
        .collect()
}

/// A request path that `segments` match, parameters filled in.
fn fill(segments: &[Segment]) -> String {
    if segments.is_empty() {
        return "/".to_string();
    }
    let mut path = String::new();
    for s in segments {
        path.push('/');
        path.push_str(match s {
            Segment::Static(lit) => lit,
            Segment::Param(_) => "v",
            Segment::Greedy(_) => "g/h",
        });
    }
    path
}

/// The request path's segments as byte ranges, split as the router splits them; `None` when only
/// `$default` can match (no leading '/', or deeper than any route can be).
fn request_segments(path: &str) -> Option<Vec<(u32, u32)>> {
    if !path.starts_with('/') {
        return None;
    }
    if path == "/" {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    let mut start = 1usize;
    for seg in path[1..].split('/') {
        out.push((start as u32, (start + seg.len()) as u32));
        start += seg.len() + 1;
    }
    (out.len() <= PATH_SEGMENTS_MAX).then_some(out)
}

/// Whether `route` matches; if so its kind sequence (the priority key) and captured params.
fn reference_match(
    route: &Route,
    method: &Method,
    path: &str,
    segs: &[(u32, u32)],
) -> Option<(Vec<Kind>, Vec<(String, (u32, u32))>, bool)> {
    if route.method.as_ref().is_some_and(|m| m != method) {
        return None;
    }
    let mut kinds = Vec::new();
    let mut params = Vec::new();
    for (i, s) in route.segments.iter().enumerate() {
        match s {
            Segment::Greedy(name) => {
                let start = segs.get(i)?.0;
                let end = segs.last()?.1;
                if end <= start {
                    return None;
                }
                kinds.push(Kind::Greedy);
                params.push((name.clone(), (start, end)));
                return Some((kinds, params, true));
            }
            Segment::Param(name) => {
                let (start, end) = *segs.get(i)?;
                if start == end {
                    return None;
                }
                kinds.push(Kind::Param);
                params.push((name.clone(), (start, end)));
            }
            Segment::Static(lit) => {
                let (start, end) = *segs.get(i)?;
                if path[start as usize..end as usize] != **lit {
                    return None;
                }
                kinds.push(Kind::Static);
            }
        }
    }
    (route.segments.len() == segs.len()).then_some((kinds, params, false))
}

fn expected(
    routes: &[Route],
    default_route: Option<u32>,
    method: &Method,
    path: &str,
) -> Option<Expected> {
    let fallback = default_route.map(|route| Expected {
        route,
        params: Vec::new(),
        catch_all: true,
    });
    let Some(segs) = request_segments(path) else {
        return fallback;
    };
    routes
        .iter()
        .filter_map(|r| {
            let (kinds, params, catch_all) = reference_match(r, method, path, &segs)?;
            // Full before greedy, then segment kinds in order, then exact method (0) before
            // ANY (1) on the same path.
            let rank = (catch_all, kinds, u8::from(r.method.is_none()));
            Some((
                rank,
                Expected {
                    route: r.index,
                    params,
                    catch_all,
                },
            ))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, e)| e)
        .or(fallback)
}

fn check(
    router: &Router,
    routes: &[Route],
    default_route: Option<u32>,
    method: &Method,
    path: &str,
) {
    let got = router.resolve(method, path).map(|m| Expected {
        route: m.route,
        params: m
            .params
            .iter()
            .map(|p| (p.name.to_string(), p.value))
            .collect(),
        catch_all: m.catch_all,
    });
    if let Some(m) = router.resolve(method, path) {
        for p in m.params.iter() {
            // Captured ranges index the request path.
            assert!(
                path.get(Params::range(p)).is_some(),
                "param {p:?} outside {path:?}"
            );
        }
    }
    let want = expected(routes, default_route, method, path);
    assert_eq!(got, want, "{method} {path:?} against {routes:#?}");
}
