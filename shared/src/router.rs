//! Route selection with HTTP API semantics, compiled once per stage into an immutable segment trie.
//!
//! # Architecture
//! 1. [`RouterBuilder::insert`] parses route keys (`GET /pets/{id}`, `ANY /{proxy+}`, `$default`)
//!    into a trie of path segments; each node has static children (hashed), at most one `{param}`
//!    child and at most one greedy `{name+}` terminal.
//! 2. [`Router::resolve`] walks the trie depth first in AWS's priority order: first for a full
//!    match (a static segment beats a `{param}`), and only if there is none, a second time for a
//!    greedy `{proxy+}` (deeper greedy routes beat shallower ones); `$default` catches the rest. At a node, an exact method beats `ANY`; a node whose
//!    path matches but whose methods do not is backtracked over, as AWS does.
//!
//! Invariant: a lookup does not allocate. Segments and captured parameters live in fixed arrays
//! bounded by [`PATH_SEGMENTS_MAX`] and [`PATH_PARAMS_MAX`].

use std::collections::HashMap;
use std::ops::Range;

use http::Method;

use crate::limits::{PATH_PARAMS_MAX, PATH_SEGMENTS_MAX};
use crate::model::DEFAULT_ROUTE;

/// Index of a route in the caller's route table.
pub type RouteIndex = u32;

type Hasher = foldhash::fast::FixedState;

/// A compiled, immutable router.
#[derive(Debug, Clone)]
pub struct Router {
    nodes: Vec<Node>,
    default_route: Option<RouteIndex>,
    len: usize,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Literal segment → child node.
    statics: HashMap<Box<str>, u32, Hasher>,
    /// `{name}` child: (parameter name, child node).
    param: Option<(Box<str>, u32)>,
    /// `{name+}`: matches one or more remaining segments.
    greedy: Option<(Box<str>, Methods)>,
    /// Routes ending exactly at this node.
    methods: Methods,
}

#[derive(Debug, Clone, Default)]
struct Methods {
    exact: Vec<(Method, RouteIndex)>,
    any: Option<RouteIndex>,
}

/// Why a route key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteKeyError {
    #[error("route key '{0}' must be '$default' or 'METHOD /path'")]
    Syntax(String),
    #[error("route key '{0}' has an invalid HTTP method")]
    Method(String),
    #[error("route key '{0}' has an invalid path: {1}")]
    Path(String, &'static str),
    #[error("route key '{0}' is defined twice")]
    Duplicate(String),
    #[error("route key '{0}' names parameter '{1}' where another route names '{2}'")]
    ParamConflict(String, String, String),
}

/// A captured path parameter: its name (borrowed from the router) and the byte range of its raw
/// (still percent-encoded) value in the request path.
#[derive(Debug, Clone, Copy)]
pub struct Param<'r> {
    pub name: &'r str,
    pub value: (u32, u32),
}

/// Parameters captured by one lookup, on the stack: per parameter, the trie node whose
/// `{name}` (or `{name+}`) it is and its value's range, 12 bytes rather than a name's 24, since
/// a match is copied along with every resolved request.
#[derive(Clone, Copy)]
pub struct Params<'r> {
    nodes: &'r [Node],
    /// (node index, `GREEDY` set for a `{name+}`; value start; value end).
    items: [(u32, u32, u32); PATH_PARAMS_MAX],
    len: usize,
}

/// Marks a [`Params`] item whose name is the node's greedy `{name+}`.
const GREEDY: u32 = 1 << 31;

/// The result of a successful lookup.
#[derive(Debug, Clone, Copy)]
pub struct Match<'r> {
    pub route: RouteIndex,
    pub params: Params<'r>,
    /// True for a greedy or `$default` match: HTTP proxies then append the whole request path.
    pub catch_all: bool,
}

/// Builds a [`Router`].
#[derive(Debug, Default)]
pub struct RouterBuilder {
    nodes: Vec<Node>,
    default_route: Option<RouteIndex>,
    len: usize,
}

/// A parsed route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    Default,
    /// `None` method = `ANY`.
    Path {
        method: Option<Method>,
        path: String,
    },
}

// === impl RouteKey ===

impl RouteKey {
    /// Parses `$default` or `METHOD /path`, checking the path's syntax as AWS does.
    pub fn parse(key: &str) -> Result<RouteKey, RouteKeyError> {
        if key == DEFAULT_ROUTE {
            return Ok(RouteKey::Default);
        }
        let (method, path) = key
            .split_once(' ')
            .ok_or_else(|| RouteKeyError::Syntax(key.into()))?;
        let method = match method {
            "ANY" => None,
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" => Some(
                Method::from_bytes(method.as_bytes())
                    .map_err(|_| RouteKeyError::Method(key.into()))?,
            ),
            _ => return Err(RouteKeyError::Method(key.into())),
        };
        check_path(path).map_err(|why| RouteKeyError::Path(key.into(), why))?;
        Ok(RouteKey::Path {
            method,
            path: path.into(),
        })
    }
}

fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("it must start with '/'");
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err("it must not end with '/'");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#')
    {
        return Err("it contains whitespace, control characters, '?' or '#'");
    }
    let segments: Vec<&str> = if path == "/" {
        Vec::new()
    } else {
        path[1..].split('/').collect()
    };
    if segments.len() > PATH_SEGMENTS_MAX {
        return Err("it has too many segments");
    }
    let mut params = 0;
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            return Err("it has an empty segment");
        }
        let braces = seg.contains('{') || seg.contains('}');
        if !braces {
            continue;
        }
        if !(seg.starts_with('{') && seg.ends_with('}')) || seg.len() < 3 {
            return Err("a parameter must be a whole segment '{name}'");
        }
        let inner = &seg[1..seg.len() - 1];
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(n) => (n, true),
            None => (inner, false),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err("a parameter name must be letters, digits, '_', '-' or '.'");
        }
        if greedy && i + 1 != segments.len() {
            return Err("a greedy parameter '{name+}' must be the last segment");
        }
        params += 1;
        if params > PATH_PARAMS_MAX {
            return Err("it has too many parameters");
        }
    }
    Ok(())
}

// === impl RouterBuilder ===

impl RouterBuilder {
    pub fn new() -> RouterBuilder {
        RouterBuilder {
            nodes: vec![Node::default()],
            default_route: None,
            len: 0,
        }
    }

    /// Adds a route; `route` is the caller's index for it.
    pub fn insert(&mut self, key: &str, route: RouteIndex) -> Result<(), RouteKeyError> {
        let (method, path) = match RouteKey::parse(key)? {
            RouteKey::Default => {
                if self.default_route.is_some() {
                    return Err(RouteKeyError::Duplicate(key.into()));
                }
                self.default_route = Some(route);
                self.len += 1;
                return Ok(());
            }
            RouteKey::Path { method, path } => (method, path),
        };
        let mut node = 0usize;
        let segments: Vec<&str> = if path == "/" {
            Vec::new()
        } else {
            path[1..].split('/').collect()
        };
        let mut target: Option<&mut Methods> = None;
        let count = segments.len();
        for (i, seg) in segments.into_iter().enumerate() {
            if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if let Some(name) = inner.strip_suffix('+') {
                    debug_assert_eq!(i + 1, count, "checked by check_path");
                    let slot = &mut self.nodes[node].greedy;
                    match slot {
                        Some((existing, _)) if **existing != *name => {
                            return Err(RouteKeyError::ParamConflict(
                                key.into(),
                                name.into(),
                                existing.to_string(),
                            ));
                        }
                        Some(_) => {}
                        None => *slot = Some((name.into(), Methods::default())),
                    }
                    target = self.nodes[node].greedy.as_mut().map(|(_, m)| m);
                    break;
                }
                let next = self.nodes.len() as u32;
                match &self.nodes[node].param {
                    Some((existing, child)) => {
                        if **existing != *inner {
                            return Err(RouteKeyError::ParamConflict(
                                key.into(),
                                inner.into(),
                                existing.to_string(),
                            ));
                        }
                        node = *child as usize;
                    }
                    None => {
                        self.nodes[node].param = Some((inner.into(), next));
                        self.nodes.push(Node::default());
                        node = next as usize;
                    }
                }
            } else {
                let next = self.nodes.len() as u32;
                match self.nodes[node].statics.get(seg) {
                    Some(child) => node = *child as usize,
                    None => {
                        self.nodes[node].statics.insert(seg.into(), next);
                        self.nodes.push(Node::default());
                        node = next as usize;
                    }
                }
            }
        }
        let methods = match target {
            Some(m) => m,
            None => &mut self.nodes[node].methods,
        };
        match method {
            None => {
                if methods.any.is_some() {
                    return Err(RouteKeyError::Duplicate(key.into()));
                }
                methods.any = Some(route);
            }
            Some(m) => {
                if methods.exact.iter().any(|(e, _)| *e == m) {
                    return Err(RouteKeyError::Duplicate(key.into()));
                }
                methods.exact.push((m, route));
            }
        }
        self.len += 1;
        Ok(())
    }

    pub fn build(self) -> Router {
        Router {
            nodes: self.nodes,
            default_route: self.default_route,
            len: self.len,
        }
    }
}

// === impl Router ===

impl Router {
    /// Number of routes, `$default` included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Selects the route for `method` and `path` (the path after any stage prefix, without the
    /// query string). `None`: no route, which HTTP APIs answer 404.
    pub fn resolve<'r>(&'r self, method: &Method, path: &str) -> Option<Match<'r>> {
        let mut segs = [(0u32, 0u32); PATH_SEGMENTS_MAX];
        let mut n = 0;
        let bytes = path.as_bytes();
        if bytes.first() == Some(&b'/') && bytes.len() > 1 {
            let mut start = 1usize;
            loop {
                let end = memchr_slash(bytes, start);
                if n == PATH_SEGMENTS_MAX {
                    // Deeper than any route can be: only `$default` can match.
                    return self.default_match();
                }
                segs[n] = (start as u32, end as u32);
                n += 1;
                if end == bytes.len() {
                    break;
                }
                start = end + 1;
            }
        } else if bytes.first() != Some(&b'/') {
            return self.default_match();
        }
        // AWS's priority: any full match (static or `{param}`) beats any greedy match, so the
        // first walk ignores greedy routes and the second takes the first greedy one found
        // (deepest first, static branches before parameters).
        for greedy in [false, true] {
            let mut params = Params::new(&self.nodes);
            if let Some((route, catch_all)) =
                self.walk(0, path, &segs[..n], method, &mut params, greedy)
            {
                return Some(Match {
                    route,
                    params,
                    catch_all,
                });
            }
        }
        self.default_match()
    }

    fn default_match(&self) -> Option<Match<'_>> {
        self.default_route.map(|route| Match {
            route,
            params: Params::new(&self.nodes),
            catch_all: true,
        })
    }

    fn walk<'r>(
        &'r self,
        node: usize,
        path: &str,
        segs: &[(u32, u32)],
        method: &Method,
        params: &mut Params<'r>,
        greedy: bool,
    ) -> Option<(RouteIndex, bool)> {
        let n = &self.nodes[node];
        let Some((&(start, end), rest)) = segs.split_first() else {
            return if greedy {
                None
            } else {
                n.methods.select(method).map(|r| (r, false))
            };
        };
        let seg = &path[start as usize..end as usize];
        if let Some(&child) = n.statics.get(seg) {
            if let Some(found) = self.walk(child as usize, path, rest, method, params, greedy) {
                return Some(found);
            }
        }
        if !seg.is_empty() {
            if let Some((_, child)) = &n.param {
                let mark = params.len;
                if params.push(node as u32, (start, end)) {
                    if let Some(found) =
                        self.walk(*child as usize, path, rest, method, params, greedy)
                    {
                        return Some(found);
                    }
                }
                params.len = mark;
            }
        }
        if let Some((_, methods)) = n.greedy.as_ref().filter(|_| greedy) {
            let last = segs.last().map_or(end, |s| s.1);
            if last > start {
                if let Some(route) = methods.select(method) {
                    if params.push(node as u32 | GREEDY, (start, last)) {
                        return Some((route, true));
                    }
                }
            }
        }
        None
    }
}

fn memchr_slash(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(bytes.len(), |p| from + p)
}

// === impl Methods ===

impl Methods {
    fn select(&self, method: &Method) -> Option<RouteIndex> {
        self.exact
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| *r)
            .or(self.any)
    }
}

// === impl Params ===

impl std::fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'r> Params<'r> {
    fn new(nodes: &'r [Node]) -> Params<'r> {
        Params {
            nodes,
            items: [(0, 0, 0); PATH_PARAMS_MAX],
            len: 0,
        }
    }

    /// Adds the value `value` of node `node`'s parameter (`GREEDY` set: its `{name+}`).
    fn push(&mut self, node: u32, value: (u32, u32)) -> bool {
        if self.len == PATH_PARAMS_MAX {
            return false;
        }
        self.items[self.len] = (node, value.0, value.1);
        self.len += 1;
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = Param<'r>> + '_ {
        self.items[..self.len]
            .iter()
            .map(|&(node, start, end)| Param {
                name: self.name(node),
                value: (start, end),
            })
    }

    /// The name of node `node`'s parameter (never "": items only name nodes that have one).
    fn name(&self, node: u32) -> &'r str {
        let n = self.nodes.get((node & !GREEDY) as usize);
        let name = if node & GREEDY != 0 {
            n.and_then(|n| n.greedy.as_ref()).map(|(name, _)| name)
        } else {
            n.and_then(|n| n.param.as_ref()).map(|(name, _)| name)
        };
        name.map_or("", |name| &**name)
    }

    /// The raw value of parameter `name` within `path`.
    pub fn get<'p>(&self, path: &'p str, name: &str) -> Option<&'p str> {
        self.iter()
            .find(|p| p.name == name)
            .map(|p| &path[p.value.0 as usize..p.value.1 as usize])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn range(p: Param<'_>) -> Range<usize> {
        p.value.0 as usize..p.value.1 as usize
    }
}

#[cfg(test)]
mod tests;
