//! HTTP API parameter mapping (`requestParameters`, `responseParameters` of an integration),
//! compiled once per publish.
//!
//! # Architecture
//! 1. The control plane validates the maps with [`RequestMapping::compile`] and
//!    [`ResponseMappings::compile`] (keys, values, reserved headers; every problem at once) and
//!    stores the result in the `HttpProxy` integration of the snapshot.
//! 2. The data plane renders each value against the request (and, for responses, the upstream
//!    response) with [`Value::render`] into a per-worker scratch buffer, checks it with
//!    [`is_clean`], then edits the upstream request (`integration::build_request`) or the
//!    downstream response (`integration::write_response`).
//!
//! Values: `$request.header.NAME`, `$request.querystring.NAME`, `$request.path.NAME`,
//! `$request.path`, `$context.NAME`, `$stageVariables.NAME`, `$response.header.NAME` (responses
//! only), static text, and `${...}` to combine them (`${request.path.id}-x`), as AWS.
//! `$request.body.*` and `$response.body.*` are refused (not supported yet).
//!
//! Invariants: sources are read from the request as received, never from an earlier mapping's
//! result; a rendered value with CR, LF, NUL or another control byte is never sent (the request
//! fails with 500, as a mapping failure does on AWS); rendering never allocates.

use std::collections::BTreeMap;

use crate::limits::{MAPPINGS_MAX, MAPPING_VALUE_MAX_CHARS};
use crate::template::{Context, ContextVar};

/// What a mapping does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Adds the value after the existing ones.
    Append,
    /// Replaces every existing value (a value that renders empty only removes).
    Overwrite,
    Remove,
}

/// One piece of a value expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(Box<str>),
    /// `$request.header.NAME` (lowercase).
    Header(Box<str>),
    /// `$request.querystring.NAME`.
    Query(Box<str>),
    /// `$request.path.NAME`.
    PathParam(Box<str>),
    /// `$request.path`: the path without the stage.
    Path,
    Context(ContextVar),
    /// `$context.authorizer.KEY` (`claims.NAME` for JWT claims).
    Authorizer(Box<str>),
    StageVariable(Box<str>),
    /// `$response.header.NAME` (lowercase).
    ResponseHeader(Box<str>),
}

/// A compiled value expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Value {
    parts: Vec<Part>,
}

/// One header or query string mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamOp {
    pub op: Op,
    /// Header names lowercase; query string names as written (they are case-sensitive).
    pub name: Box<str>,
    pub value: Value,
}

/// `requestParameters`, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMapping {
    pub headers: Vec<ParamOp>,
    pub query: Vec<ParamOp>,
    /// `overwrite:path`.
    pub path: Option<Value>,
}

/// One status code's `responseParameters`, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMapping {
    pub headers: Vec<ParamOp>,
    /// `overwrite:statuscode`.
    pub status: Option<Value>,
}

/// `responseParameters`, compiled: (status code, mapping) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMappings {
    by_status: Vec<(u16, ResponseMapping)>,
}

/// Headers that cannot be mapped (AWS's reserved list).
const RESERVED: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-location",
    "forwarded",
    "keep-alive",
    "origin",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
    // Portico sets these itself on every upstream request and downstream response.
    "host",
    "x-forwarded-port",
];

/// Whether a rendered value may be sent: no control bytes (CR, LF, NUL and the others) but tab.
pub fn is_clean(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Whether `name` (lowercase) is a header mapping may not touch.
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED.contains(&name)
        || name.starts_with("access-control-")
        || name.starts_with("apigw-")
        || name.starts_with("x-amz-")
        || name.starts_with("x-amzn-")
}

// === impl Value ===

impl Value {
    /// Parses a value expression; `response` selects which side's sources are allowed.
    pub fn parse(text: &str, response: bool) -> Result<Value, String> {
        if text.chars().count() > MAPPING_VALUE_MAX_CHARS {
            return Err(format!(
                "a value must be at most {MAPPING_VALUE_MAX_CHARS} characters long"
            ));
        }
        if !is_clean(text.as_bytes()) {
            return Err("a value must not contain control characters".into());
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (expr, tail) = if let Some(b) = after.strip_prefix('{') {
                let Some(end) = b.find('}') else {
                    return Err(format!("'${{' without a closing '}}' in '{text}'"));
                };
                (&b[..end], &b[end + 1..])
            } else {
                let word = |from: usize| {
                    after[from..]
                        .bytes()
                        .position(|c| !(c.is_ascii_alphanumeric() || b"._-".contains(&c)))
                        .map_or(after.len(), |i| from + i)
                };
                let mut end = word(0);
                // `$context.authorizer.claims['cognito:groups']`: the brackets belong to it.
                while after.starts_with("context.authorizer") && after[end..].starts_with('[') {
                    match after[end..].find(']') {
                        Some(i) => end = word(end + i + 1),
                        None => return Err(format!("'[' without a closing ']' in '{text}'")),
                    }
                }
                (&after[..end], &after[end..])
            };
            match parse_source(expr, response)? {
                Some(part) => {
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit).into()));
                    }
                    parts.push(part);
                    rest = tail;
                }
                None => {
                    lit.push('$');
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Literal(lit.into()));
        }
        Ok(Value { parts })
    }

    /// A REST `requestParameters` source as a value (`None`: not a request-side source).
    pub fn from_source(s: &crate::template::Source) -> Option<Value> {
        use crate::template::Source;
        let part = match s {
            Source::Literal(t) => Part::Literal(t.clone()),
            Source::Context(v) => Part::Context(*v),
            Source::StageVariable(n) => Part::StageVariable(n.clone()),
            Source::RequestHeader(n) => Part::Header(n.clone()),
            Source::RequestQuery(n) => Part::Query(n.clone()),
            Source::RequestPath(n) => Part::PathParam(n.clone()),
            Source::Authorizer(k) => Part::Authorizer(k.clone()),
            Source::ResponseHeader(_) | Source::Body => return None,
        };
        Some(Value { parts: vec![part] })
    }

    /// Appends the value; a missing source appends nothing. `route_path` is `$request.path`.
    pub fn render(&self, cx: &dyn Context, route_path: &[u8], out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Header(n) => out.extend_from_slice(cx.request_header(n).unwrap_or_default()),
                // Query string values are mapped decoded, as AWS; a decoded CR or LF is then
                // refused by [`is_clean`].
                Part::Query(n) => {
                    crate::percent::decode_into(cx.request_query(n).unwrap_or_default(), out)
                }
                Part::PathParam(n) => out.extend_from_slice(cx.request_path(n).unwrap_or_default()),
                Part::Path => out.extend_from_slice(route_path),
                Part::Context(v) => cx.context(*v, out),
                Part::Authorizer(key) => {
                    if let Some(v) = cx.authorizer(key) {
                        out.extend_from_slice(v.as_bytes());
                    }
                }
                Part::StageVariable(n) => {
                    out.extend_from_slice(cx.stage_variable(n).unwrap_or_default().as_bytes())
                }
                Part::ResponseHeader(n) => {
                    out.extend_from_slice(cx.response_header(n).unwrap_or_default())
                }
            }
        }
    }

    /// The text, when the value has no variable part.
    pub fn as_static(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }
}

/// `request.header.x` → a part; `None` for text that is not an expression (a literal `$`).
fn parse_source(expr: &str, response: bool) -> Result<Option<Part>, String> {
    let named = |prefix: &str| -> Result<Option<Box<str>>, String> {
        match expr.strip_prefix(prefix) {
            None => Ok(None),
            Some("") => Err(format!("'${expr}' needs a name")),
            Some(n) => Ok(Some(n.into())),
        }
    };
    let side = |ok: bool| -> Result<(), String> {
        if ok {
            Ok(())
        } else if response {
            Err(format!("'${expr}': response parameters take $response.header.NAME, $context.NAME, $stageVariables.NAME or static values"))
        } else {
            Err(format!("'${expr}': request parameters take $request.header.NAME, $request.querystring.NAME, $request.path(.NAME), $context.NAME, $stageVariables.NAME or static values"))
        }
    };
    if expr.starts_with("request.body") || expr.starts_with("response.body") {
        return Err(format!(
            "'${expr}': body mapping expressions are not supported yet"
        ));
    }
    if let Some(n) = named("request.header.")? {
        side(!response)?;
        return Ok(Some(Part::Header(n.to_ascii_lowercase().into())));
    }
    if let Some(n) = named("request.querystring.")? {
        side(!response)?;
        return Ok(Some(Part::Query(n)));
    }
    if let Some(n) = named("request.path.")? {
        side(!response)?;
        return Ok(Some(Part::PathParam(n)));
    }
    if expr == "request.path" {
        side(!response)?;
        return Ok(Some(Part::Path));
    }
    if let Some(n) = named("response.header.")? {
        side(response)?;
        return Ok(Some(Part::ResponseHeader(n.to_ascii_lowercase().into())));
    }
    if let Some(n) = named("context.authorizer.")? {
        return crate::authorizer::authorizer_key(&n).map(|k| Some(Part::Authorizer(k)));
    }
    if let Some(n) = named("context.")? {
        return Ok(Some(Part::Context(ContextVar::parse(&n))));
    }
    if let Some(n) = named("stageVariables.")? {
        return Ok(Some(Part::StageVariable(n)));
    }
    if expr.starts_with("request") || expr.starts_with("response") {
        side(false)?;
    }
    Ok(None)
}

/// `append|overwrite|remove:header.NAME` etc. → (op, kind, name).
fn parse_key(key: &str) -> Result<(Op, &str, &str), String> {
    let (op, target) = key.split_once(':').ok_or_else(|| {
        format!("Invalid mapping key '{key}': use append|overwrite|remove:header.NAME, append|overwrite|remove:querystring.NAME or overwrite:path")
    })?;
    let op = match op {
        "append" => Op::Append,
        "overwrite" => Op::Overwrite,
        "remove" => Op::Remove,
        _ => {
            return Err(format!(
                "Invalid mapping key '{key}': the operation is append, overwrite or remove"
            ))
        }
    };
    let (kind, name) = target.split_once('.').unwrap_or((target, ""));
    Ok((op, kind, name))
}

fn header_op(
    key: &str,
    op: Op,
    name: &str,
    value: &str,
    response: bool,
) -> Result<ParamOp, String> {
    let lower = name.to_ascii_lowercase();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!(
            "Invalid mapping key '{key}': '{name}' is not a header name"
        ));
    }
    if is_reserved_header(&lower) {
        return Err(format!(
            "Invalid mapping key '{key}': header {name} is reserved and cannot be mapped"
        ));
    }
    let value = match op {
        Op::Remove => Value::default(),
        _ => {
            Value::parse(value, response).map_err(|e| format!("Invalid value for '{key}': {e}"))?
        }
    };
    Ok(ParamOp {
        op,
        name: lower.into(),
        value,
    })
}

// === impl RequestMapping ===

impl RequestMapping {
    /// Compiles `requestParameters`; `None` when empty.
    pub fn compile(map: &BTreeMap<String, String>) -> Result<Option<RequestMapping>, Vec<String>> {
        let mut problems = Vec::new();
        if map.len() > MAPPINGS_MAX {
            problems.push(format!(
                "requestParameters must have at most {MAPPINGS_MAX} entries"
            ));
        }
        let mut m = RequestMapping::default();
        for (key, value) in map {
            let r = parse_key(key).and_then(|(op, kind, name)| match kind {
                "header" => header_op(key, op, name, value, false).map(|p| m.headers.push(p)),
                "querystring" => {
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_graphic() && !b"&=#?+%".contains(&b))
                    {
                        return Err(format!(
                            "Invalid mapping key '{key}': '{name}' is not a query string name"
                        ));
                    }
                    let value = match op {
                        Op::Remove => Value::default(),
                        _ => Value::parse(value, false)
                            .map_err(|e| format!("Invalid value for '{key}': {e}"))?,
                    };
                    m.query.push(ParamOp {
                        op,
                        name: name.into(),
                        value,
                    });
                    Ok(())
                }
                "path" if name.is_empty() && op == Op::Overwrite => {
                    m.path = Some(
                        Value::parse(value, false)
                            .map_err(|e| format!("Invalid value for '{key}': {e}"))?,
                    );
                    Ok(())
                }
                "path" => Err(format!(
                    "Invalid mapping key '{key}': the path can only be overwritten (overwrite:path)"
                )),
                _ => Err(format!(
                    "Invalid mapping key '{key}': the target is header.NAME, querystring.NAME or path"
                )),
            });
            if let Err(e) = r {
                problems.push(e);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok((!map.is_empty()).then_some(m))
    }

    /// Whether downstream header `name` (any case) is overwritten or removed.
    pub fn drops_header(&self, name: &[u8]) -> bool {
        drops(&self.headers, name, true)
    }

    /// Whether downstream query parameter `name` is overwritten or removed.
    pub fn drops_query(&self, name: &[u8]) -> bool {
        drops(&self.query, name, false)
    }
}

fn drops(ops: &[ParamOp], name: &[u8], fold_case: bool) -> bool {
    ops.iter().any(|o| {
        o.op != Op::Append
            && if fold_case {
                o.name.as_bytes().eq_ignore_ascii_case(name)
            } else {
                o.name.as_bytes() == name
            }
    })
}

// === impl ResponseMappings ===

impl ResponseMappings {
    /// Compiles `responseParameters`; `None` when empty.
    pub fn compile(
        map: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Option<ResponseMappings>, Vec<String>> {
        let mut problems = Vec::new();
        let mut out = ResponseMappings::default();
        for (status, params) in map {
            let code = match status.parse::<u16>() {
                Ok(c @ 200..=599) if status.len() == 3 => c,
                _ => {
                    problems.push(format!(
                        "Invalid responseParameters key '{status}': use a status code from 200 to 599"
                    ));
                    continue;
                }
            };
            if params.len() > MAPPINGS_MAX {
                problems.push(format!(
                    "responseParameters[{status}] must have at most {MAPPINGS_MAX} entries"
                ));
            }
            let mut m = ResponseMapping::default();
            for (key, value) in params {
                let r = parse_key(key).and_then(|(op, kind, name)| match kind {
                    "header" => header_op(key, op, name, value, true).map(|p| m.headers.push(p)),
                    "statuscode" if name.is_empty() && op == Op::Overwrite => {
                        let v = Value::parse(value, true)
                            .map_err(|e| format!("Invalid value for '{key}': {e}"))?;
                        if let Some(s) = v.as_static() {
                            if !matches!(s.trim().parse::<u16>(), Ok(200..=599)) {
                                return Err(format!(
                                    "Invalid value for '{key}': '{s}' is not a status code from 200 to 599"
                                ));
                            }
                        }
                        m.status = Some(v);
                        Ok(())
                    }
                    _ => Err(format!(
                        "Invalid responseParameters key '{key}': use append|overwrite|remove:header.NAME or overwrite:statuscode"
                    )),
                });
                if let Err(e) = r {
                    problems.push(format!("responseParameters[{status}]: {e}"));
                }
            }
            out.by_status.push((code, m));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok((!out.by_status.is_empty()).then_some(out))
    }

    /// The mapping for upstream status `status`.
    pub fn get(&self, status: u16) -> Option<&ResponseMapping> {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, m)| m)
    }
}

// === impl ResponseMapping ===

impl ResponseMapping {
    /// Whether upstream header `name` (any case) is overwritten or removed.
    pub fn drops_header(&self, name: &[u8]) -> bool {
        drops(&self.headers, name, true)
    }
}

/// Whether `name` may be the target of an `integration.request.header.NAME` (a header token:
/// RFC 9110 `tchar`s) or `integration.request.querystring.NAME` (printable, none of `&=#?+%`)
/// mapping. REST and WebSocket integrations check their targets with it.
pub fn valid_target_name(header: bool, name: &str) -> bool {
    !name.is_empty()
        && if header {
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        } else {
            name.bytes()
                .all(|b| b.is_ascii_graphic() && !b"&=#?+%".contains(&b))
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cx;

    impl Context for Cx {
        fn context(&self, var: ContextVar, out: &mut Vec<u8>) {
            if var == ContextVar::RequestId {
                out.extend_from_slice(b"rid");
            }
        }
        fn stage_variable(&self, name: &str) -> Option<&str> {
            (name == "v").then_some("V")
        }
        fn request_header(&self, name: &str) -> Option<&[u8]> {
            (name == "x-h").then_some(b"H")
        }
        fn request_query(&self, name: &str) -> Option<&[u8]> {
            (name == "q").then_some(b"Q")
        }
        fn request_path(&self, name: &str) -> Option<&[u8]> {
            (name == "id").then_some(b"7")
        }
        fn authorizer(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
            (key == "claims.cognito:groups").then_some("admins".into())
        }
    }

    fn render(v: &str) -> String {
        let mut out = Vec::new();
        Value::parse(v, false)
            .unwrap()
            .render(&Cx, b"/p/7", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values() {
        assert_eq!(render("$request.header.X-H"), "H");
        assert_eq!(render("${request.path.id}-x"), "7-x");
        assert_eq!(render("$request.path"), "/p/7");
        assert_eq!(
            render("a ${request.querystring.q} ${context.requestId} $stageVariables.v"),
            "a Q rid V"
        );
        assert_eq!(
            render("g=$context.authorizer.claims['cognito:groups'];"),
            "g=admins;"
        );
        assert_eq!(
            render("${context.authorizer.claims[\"cognito:groups\"]}-x"),
            "admins-x"
        );
        assert!(Value::parse("$context.authorizer.claims['x", false).is_err());
        assert_eq!(render("cost $5"), "cost $5");
        assert_eq!(render("$request.header.missing"), "");
        assert!(Value::parse("$request.body.a", false)
            .unwrap_err()
            .contains("not supported"));
        assert!(Value::parse("$response.header.a", false).is_err());
        assert!(Value::parse("$request.header.a", true).is_err());
        assert!(Value::parse("${request.path", false).is_err());
        assert!(Value::parse("$request.nope", false).is_err());
    }

    #[test]
    fn keys() {
        let map: BTreeMap<String, String> = [
            ("append:header.X-A", "1"),
            ("overwrite:querystring.q", "$request.path.id"),
            ("remove:header.x-b", "''"),
            ("overwrite:path", "/new/$request.path.id"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = RequestMapping::compile(&map).unwrap().unwrap();
        assert_eq!(m.headers.len(), 2);
        assert!(m.drops_header(b"X-B") && !m.drops_header(b"x-a"));
        assert!(m.drops_query(b"q") && !m.drops_query(b"Q"));
        let bad: BTreeMap<String, String> = [
            ("append:header.Authorization", "x"),
            ("overwrite:header.x-amz-date", "x"),
            ("append:path", "x"),
            ("insert:header.a", "x"),
            ("append:cookie.a", "x"),
            ("append:header.a", "$request.body.x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(RequestMapping::compile(&bad).unwrap_err().len(), 6);
        let resp: BTreeMap<String, BTreeMap<String, String>> = [(
            "404".to_string(),
            [("overwrite:statuscode".to_string(), "200".to_string())].into(),
        )]
        .into();
        let r = ResponseMappings::compile(&resp).unwrap().unwrap();
        assert!(r.get(404).unwrap().status.is_some() && r.get(200).is_none());
        let bad: BTreeMap<String, BTreeMap<String, String>> = [
            ("99".to_string(), BTreeMap::new()),
            (
                "200".to_string(),
                [("overwrite:statuscode".to_string(), "700".to_string())].into(),
            ),
        ]
        .into();
        assert_eq!(ResponseMappings::compile(&bad).unwrap_err().len(), 2);
        assert!(!is_clean(b"a\r\nb") && !is_clean(b"\0") && is_clean(b"a\tb"));
    }
}
