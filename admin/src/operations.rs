//! AWS's `apigateway` and `apigatewayv2` operations as botocore models them, and what the admin
//! listener does with a request for one it does not serve.
//!
//! # Architecture
//! 1. [`OPERATIONS`] (`operations/table.rs`, generated once from botocore's service models by
//!    `operations/generate.py`) lists every operation: service, name, method, `requestUri`, and
//!    for `apigateway` the input members whose shape is an enum.
//! 2. [`find`] maps a method and path (and the query qualifier some `requestUri`s carry, such as
//!    `?mode=import`) to the operation an SDK meant. The admin router's fallbacks answer with it:
//!    an operation Portico does not serve is a 400 naming it ([`not_served`]), never a 404 an SDK
//!    cannot tell from a missing resource.
//! 3. [`validate_enums`] (a layer on the signed routes) checks an `apigateway` request's enum
//!    members before its handler runs and answers a violation as AWS's request validation does:
//!    400 `ValidationException`, "N validation error(s) detected: Value 'x' at
//!    'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: ...".
//!    `apigatewayv2` has no `ValidationException` shape; its handlers answer
//!    `BadRequestException`.
//! 4. `docs/operations.md` states each operation as served, served with differences, or refused;
//!    a test probes the router with every operation and fails when the two disagree.

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use portico_shared::limits::ADMIN_BODY_MAX_BYTES;

use crate::error::ApiError;

mod table;

pub(crate) use table::OPERATIONS;

/// Which AWS service an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// `apigateway`: REST APIs, API keys, usage plans, domain names.
    V1,
    /// `apigatewayv2`: HTTP and WebSocket APIs.
    V2,
}

/// Where an input member travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    Body,
    Uri,
    Query,
}

/// An input member whose shape is an enum.
#[derive(Debug)]
pub(crate) struct Enum {
    pub(crate) location: Location,
    /// Dotted member path; `[]` after a name is a list (`patchOperations[].op`,
    /// `endpointConfiguration.types[]`).
    pub(crate) path: &'static str,
    /// The name on the wire of a `Uri` or `Query` member (`response_type`).
    pub(crate) wire: &'static str,
    /// The allowed values, in the order AWS's message lists them.
    pub(crate) values: &'static [&'static str],
}

/// One operation of botocore's model.
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) service: Service,
    pub(crate) name: &'static str,
    pub(crate) method: &'static str,
    /// The model's `requestUri`: a path with `{member}` labels, maybe `?key=value`.
    pub(crate) uri: &'static str,
    pub(crate) enums: &'static [Enum],
}

// === impl Operation ===

impl Operation {
    /// The path part of the `requestUri`.
    pub(crate) fn path(&self) -> &'static str {
        self.uri.split_once('?').map_or(self.uri, |(p, _)| p)
    }

    /// The query qualifier of the `requestUri` (`mode=import`), if any.
    pub(crate) fn qualifier(&self) -> Option<&'static str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// How well `segments` (a request path split on `/`) match this operation's path: the
    /// count of literal segments, or `None` when they do not match.
    fn score(&self, segments: &[&str]) -> Option<usize> {
        let pattern: Vec<&str> = self.path().split('/').collect();
        let mut literal = 0;
        for (i, p) in pattern.iter().enumerate() {
            if p.starts_with('{') && p.ends_with("+}") {
                return (segments.len() > i && segments[i..].iter().all(|s| !s.is_empty()))
                    .then_some(literal);
            }
            let s = segments.get(i)?;
            if p.starts_with('{') {
                if s.is_empty() {
                    return None;
                }
            } else if p != s {
                return None;
            } else {
                literal += 1;
            }
        }
        (segments.len() == pattern.len()).then_some(literal)
    }

    /// The value of the path label `{name}` in `path` (which this operation matched).
    fn label<'a>(&self, path: &'a str, name: &str) -> Option<&'a str> {
        let want = format!("{{{name}}}");
        self.path()
            .split('/')
            .zip(path.split('/'))
            .find(|(p, _)| p.eq_ignore_ascii_case(&want))
            .map(|(_, s)| s)
    }

    /// The input shape's name in AWS's validation messages (`createRestApiInput`).
    fn input_name(&self) -> String {
        let mut chars = self.name.chars();
        let first = chars.next().map(|c| c.to_ascii_lowercase());
        first
            .into_iter()
            .chain(chars)
            .chain("Input".chars())
            .collect()
    }
}

/// The operation a request for `method path?query` names, if any: among operations with the
/// method whose path matches, the one with the most literal segments; an operation whose
/// `requestUri` carries a query qualifier matches only with it, and then wins.
pub(crate) fn find(method: &Method, path: &str, query: Option<&str>) -> Option<&'static Operation> {
    let segments: Vec<&str> = path.split('/').collect();
    let pairs: Vec<&str> = query.unwrap_or_default().split('&').collect();
    OPERATIONS
        .iter()
        .filter(|op| op.method == method.as_str())
        .filter_map(|op| {
            let qualified = match op.qualifier() {
                Some(q) if !pairs.contains(&q) => return None,
                Some(_) => 1,
                None => 0,
            };
            op.score(&segments).map(|s| ((qualified, s), op))
        })
        .max_by_key(|(score, _)| *score)
        .map(|(_, op)| op)
}

/// Why whole features are not served, by a word of their operations' names, so a Terraform apply
/// or a script stops with the reason (`docs/operations.md` says the same per operation). Only
/// apigatewayv2's model operations reach the fallback with "Model" in their name: v1's are served.
const FEATURE_REASONS: [(&str, &str); 5] = [
    (
        "ClientCertificate",
        "client certificates: Portico calls upstreams with its own TLS client settings (--upstream-ca-file)",
    ),
    ("Documentation", "API documentation parts and versions: no developer portal is generated"),
    ("Sdk", "SDK generation: no client SDK generator"),
    (
        "DomainNameAccessAssociation",
        "private custom domain names (domain name access associations): no private (VPC endpoint) APIs",
    ),
    ("Model", "apigatewayv2 models: WebSocket messages are not validated against models"),
];

/// The 400 for an operation Portico does not serve: it names the operation, then the feature's
/// reason where the whole feature is not served.
pub(crate) fn not_served(name: &str) -> ApiError {
    match FEATURE_REASONS.iter().find(|(word, _)| name.contains(word)) {
        Some((_, why)) => {
            ApiError::BadRequest(format!("{name} is not supported by Portico: {why}"))
        }
        None => ApiError::BadRequest(format!("{name} is not supported by Portico")),
    }
}

/// The admin router's fallback: the operation the request names, refused with a 400 naming it;
/// a request that names no operation of any service on the listener is
/// `UnknownOperationException`.
pub(crate) async fn fallback(req: Request) -> ApiError {
    let uri = req.uri();
    match find(req.method(), uri.path(), uri.query()) {
        Some(op) => not_served(op.name),
        None => ApiError::UnknownOperation(format!(
            "No operation of the admin API matches {} {}",
            req.method(),
            uri.path()
        )),
    }
}

/// A layer: an `apigateway` request whose enum members hold values the model does not allow is
/// answered `ValidationException` before its handler runs (module docs, step 3).
pub(crate) async fn validate_enums(req: Request, next: Next) -> Response {
    let Some(op) = find(req.method(), req.uri().path(), req.uri().query())
        .filter(|op| op.service == Service::V1 && !op.enums.is_empty())
    else {
        return next.run(req).await;
    };
    let mut problems = Vec::new();
    for e in op.enums.iter().filter(|e| e.location != Location::Body) {
        let value = match e.location {
            Location::Uri => op.label(req.uri().path(), e.wire).map(decode),
            _ => query_value(req.uri().query(), e.wire),
        };
        if let Some(v) = value.filter(|v| !e.values.contains(&v.as_str())) {
            problems.push(enum_problem(&format!("'{v}'"), e.path, e.values, false));
        }
    }
    let body_enums = op.enums.iter().any(|e| e.location == Location::Body);
    let req = if body_enums {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, ADMIN_BODY_MAX_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return ApiError::PayloadTooLarge("The request body is too large".into())
                    .into_response()
            }
        };
        if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
            let prefix = op.input_name();
            for e in op.enums.iter().filter(|e| e.location == Location::Body) {
                let segments: Vec<&str> = e.path.split('.').collect();
                check(&json, &segments, &prefix, e.values, &mut problems);
            }
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    if problems.is_empty() {
        return next.run(req).await;
    }
    let n = problems.len();
    ApiError::Validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        problems.join("; ")
    ))
    .into_response()
}

/// Walks `value` along `segments` and records each enum violation, with the member path as AWS
/// writes it (`patchOperations.2.member.op`).
fn check(value: &Value, segments: &[&str], at: &str, values: &[&str], out: &mut Vec<String>) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let (name, list) = match first.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (*first, false),
    };
    let Some(member) = value.get(name) else {
        return;
    };
    let at = format!("{at}.{name}");
    match (list, rest.is_empty()) {
        (false, true) => {
            if let Some(s) = member.as_str().filter(|s| !values.contains(s)) {
                out.push(enum_problem(&format!("'{s}'"), &at, values, false));
            }
        }
        (false, false) => check(member, rest, &at, values, out),
        (true, true) => {
            let items: Vec<&str> = member
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if items.iter().any(|s| !values.contains(s)) {
                out.push(enum_problem(
                    &format!("'[{}]'", items.join(", ")),
                    &at,
                    values,
                    true,
                ));
            }
        }
        (true, false) => {
            for (i, item) in member.as_array().into_iter().flatten().enumerate() {
                check(item, rest, &format!("{at}.{}.member", i + 1), values, out);
            }
        }
    }
}

/// One problem of AWS's request validation message.
fn enum_problem(value: &str, at: &str, values: &[&str], list: bool) -> String {
    let set = format!(
        "Member must satisfy enum value set: [{}]",
        values.join(", ")
    );
    if list {
        format!(
            "Value {value} at '{at}' failed to satisfy constraint: Member must satisfy constraint: [{set}]"
        )
    } else {
        format!("Value {value} at '{at}' failed to satisfy constraint: {set}")
    }
}

/// The decoded value of `key` in a query string.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

/// A percent-decoded path or query component (invalid UTF-8 replaced).
fn decode(s: &str) -> String {
    String::from_utf8_lossy(&portico_shared::sigv4::percent_decode(s)).into_owned()
}

#[cfg(test)]
mod tests;
