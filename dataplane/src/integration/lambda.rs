//! The Lambda proxy integration (`AWS_PROXY`): the request becomes API Gateway's event, the
//! function's answer becomes the response.
//!
//! # Architecture
//! 1. [`write_event`] writes the event JSON straight into a worker buffer, in payload format 1.0
//!    (REST, and HTTP APIs asking for it) or 2.0 (HTTP APIs), with AWS's keys and their AWS
//!    shapes: null collections in 1.0, omitted ones in 2.0, lowercased and comma-joined headers
//!    and `cookies` in 2.0, percent-decoded query and path parameters, the body base64-encoded
//!    when binary (REST: `binaryMediaTypes`; HTTP APIs: anything but text, JSON, XML and
//!    JavaScript).
//! 2. `lambda::invoke` calls the function.
//! 3. [`read_response`] parses the answer with simd-json (in a copy: simd-json parses in place)
//!    into a [`LambdaReply`]: status, header lines (`headers`, `multiValueHeaders` winning for a
//!    name in both, `cookies` as `Set-Cookie` lines), body (base64-decoded when flagged). In
//!    format 2.0 an answer without `statusCode` is the body itself (AWS's inferred response).
//!    Anything else is `GatewayError::LambdaMalformed` (REST 502, HTTP APIs 500).
//!
//! Invariants: no value from the function reaches the downstream head unchecked (CR, LF and
//! other control bytes make the answer malformed); hop-by-hop and framing headers of the
//! function are dropped (the gateway frames the body).

use std::borrow::Cow;

use base64::Engine as _;
use simd_json::{BorrowedValue as Value, StaticNode};

use portico_shared::jwt::RouteAuth;
use portico_shared::lambda::{
    is_binary_media_type, is_text_content_type, LambdaProxy, PayloadFormat,
};
use portico_shared::percent;

use std::time::Instant;

use crate::error::GatewayError;
use crate::http1::parse::{bytes, trim};
use crate::http1::write::{self, is_hop_by_hop};
use crate::integration::Upstreams;
use crate::request::{clf_time, clock_time, escape_json, json_string, month_name, Request};
use crate::stages::resolve::Resolved;
use crate::upstream::UpstreamCall;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the event carries beyond the request: who was admitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    /// REST: the API key's value and id (`identity.apiKey`, `identity.apiKeyId`).
    pub api_key: Option<(&'a [u8], &'a str)>,
    /// A mutual TLS client's verified certificate: `identity.clientCert` (1.0) and
    /// `authentication.clientCert` (2.0).
    pub client_cert: Option<&'a crate::tls::ClientCert>,
    /// A Lambda authorizer's grant: `requestContext.authorizer` (principal and context).
    pub authorizer: Option<&'a portico_shared::authorizer::Grant>,
}

/// The function's answer, ready to be written: `buf[..lines]` are header lines
/// (`name: value\r\n`), `buf[lines..]` the body.
#[derive(Debug, Default)]
pub struct LambdaReply<'w> {
    pub status: u16,
    pub buf: crate::buffers::Buf<'w>,
    pub lines: usize,
}

// === the event ===

/// What a function's event is written from.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub proxy: &'a LambdaProxy,
    pub resolved: &'a Resolved<'a>,
    pub req: &'a Request<'a>,
    pub caller: Caller<'a>,
    /// `requestTimeEpoch`.
    pub now_ms: u64,
}

/// Writes the event `e` into `out`.
pub fn write_event(e: &Event<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    match e.proxy.format {
        PayloadFormat::V1 => write_v1(e, out, scratch),
        PayloadFormat::V2 => write_v2(e, out, scratch),
    }
}

fn write_v1(e: &Event<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let (p, resolved, req, caller, now_ms) = (e.proxy, e.resolved, e.req, e.caller, e.now_ms);
    let route_path = resolved.route_path(req.buf);
    let rest = resolved.route.rest.as_ref();
    let resource: &str = match rest {
        Some(m) => &m.resource_path,
        None => route_key_path(&resolved.route.route_key),
    };
    out.push(b'{');
    if !p.rest {
        out.extend_from_slice(br#""version":"1.0","#);
    }
    key(out, "resource");
    json_string(out, resource.as_bytes());
    out.push(b',');
    key(out, "path");
    json_string(out, route_path.as_bytes());
    out.push(b',');
    key(out, "httpMethod");
    json_string(out, req.head.method.as_str().as_bytes());
    out.push(b',');
    key(out, "headers");
    write_headers_v1(req, false, out, scratch);
    out.push(b',');
    key(out, "multiValueHeaders");
    write_headers_v1(req, true, out, scratch);
    out.push(b',');
    let query = bytes(req.buf, req.head.query);
    key(out, "queryStringParameters");
    write_query(query, QueryShape::Last, out, scratch);
    out.push(b',');
    key(out, "multiValueQueryStringParameters");
    write_query(query, QueryShape::All, out, scratch);
    out.push(b',');
    key(out, "pathParameters");
    write_path_parameters(resolved, route_path, out, scratch);
    out.push(b',');
    key(out, "stageVariables");
    write_stage_variables(resolved, out);
    out.push(b',');
    key(out, "requestContext");
    out.push(b'{');
    common_context(p, resolved, req, out);
    if let Some(a) = resolved.route.auth.as_deref() {
        key(out, "authorizer");
        out.push(b'{');
        write_jwt(a, req, out, scratch);
        out.extend_from_slice(b"},");
    }
    if let Some(g) = caller.authorizer {
        // `{"principalId": ..., "integrationLatency": 0, ...context}`.
        key(out, "authorizer");
        out.push(b'{');
        key(out, "principalId");
        match &g.principal_id {
            Some(p) => json_string(out, p.as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","integrationLatency":0"#);
        let context = &g.context_json[1..];
        if context != "}" {
            out.push(b',');
        }
        out.extend_from_slice(context.as_bytes());
        out.push(b',');
    }
    key(out, "extendedRequestId");
    json_string(out, req.request_id.as_bytes());
    out.push(b',');
    key(out, "httpMethod");
    json_string(out, req.head.method.as_str().as_bytes());
    out.push(b',');
    key(out, "identity");
    out.extend_from_slice(br#"{"accessKey":null,"accountId":null,"apiKey":"#);
    match caller.api_key {
        Some((value, _)) => json_string(out, value),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","apiKeyId":"#);
    match caller.api_key {
        Some((_, id)) => json_string(out, id.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(cert) = caller.client_cert {
        out.extend_from_slice(br#","clientCert":"#);
        client_cert(out, cert);
    }
    out.extend_from_slice(
        br#","caller":null,"cognitoAuthenticationProvider":null,"cognitoAuthenticationType":null,"cognitoIdentityId":null,"cognitoIdentityPoolId":null,"principalOrgId":null,"sourceIp":"#,
    );
    source_ip(req, out);
    out.extend_from_slice(br#","user":null,"userAgent":"#);
    match req.header(b"user-agent") {
        Some(v) => json_string(out, v),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","userArn":null},"#);
    key(out, "path");
    json_string(out, bytes(req.buf, req.head.path));
    out.push(b',');
    key(out, "protocol");
    json_string(out, protocol(req));
    out.push(b',');
    key(out, "requestTime");
    out.push(b'"');
    clf_time(out, now_ms);
    out.push(b'"');
    out.push(b',');
    key(out, "requestTimeEpoch");
    out.extend_from_slice(itoa::Buffer::new().format(now_ms).as_bytes());
    out.push(b',');
    key(out, "resourceId");
    match rest {
        Some(m) => json_string(out, m.resource_id.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    key(out, "resourcePath");
    json_string(out, resource.as_bytes());
    out.extend_from_slice(b"},");
    write_body(p, req, true, out);
    out.push(b'}');
}

fn write_v2(e: &Event<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let (p, resolved, req, caller, now_ms) = (e.proxy, e.resolved, e.req, e.caller, e.now_ms);
    let route_path = resolved.route_path(req.buf);
    let query = bytes(req.buf, req.head.query);
    out.extend_from_slice(br#"{"version":"2.0","routeKey":"#);
    json_string(out, resolved.route.route_key.as_bytes());
    out.extend_from_slice(br#","rawPath":"#);
    json_string(out, route_path.as_bytes());
    out.extend_from_slice(br#","rawQueryString":"#);
    json_string(out, query);
    out.push(b',');
    // cookies: every `Cookie` header's pairs; the key is omitted when there are none.
    let mut first = true;
    for &(n, v) in req.headers {
        if !bytes(req.buf, n).eq_ignore_ascii_case(b"cookie") {
            continue;
        }
        for c in bytes(req.buf, v).split(|&b| b == b';') {
            let c = trim(c);
            if c.is_empty() {
                continue;
            }
            out.extend_from_slice(if first { br#""cookies":["# } else { b"," });
            first = false;
            json_string(out, c);
        }
    }
    if !first {
        out.extend_from_slice(b"],");
    }
    key(out, "headers");
    out.push(b'{');
    for (i, &(n, _)) in req.headers.iter().enumerate() {
        let name = bytes(req.buf, n);
        if dropped_header(req, name)
            || name.eq_ignore_ascii_case(b"cookie")
            || is_forwarded(name)
            || seen_before(req, i, name)
        {
            continue;
        }
        scratch.clear();
        scratch.extend(name.iter().map(u8::to_ascii_lowercase));
        json_string(out, scratch);
        out.push(b':');
        scratch.clear();
        for &(n2, v2) in &req.headers[i..] {
            if bytes(req.buf, n2).eq_ignore_ascii_case(name) {
                if !scratch.is_empty() {
                    scratch.push(b',');
                }
                scratch.extend_from_slice(bytes(req.buf, v2));
            }
        }
        json_string(out, scratch);
        out.push(b',');
    }
    write_forwarded(req, Shape::V2, out, scratch);
    out.extend_from_slice(b"},");
    if !query.is_empty() {
        key(out, "queryStringParameters");
        write_query(query, QueryShape::Joined, out, scratch);
        out.push(b',');
    }
    key(out, "requestContext");
    out.push(b'{');
    common_context(p, resolved, req, out);
    if let Some(a) = resolved.route.auth.as_deref() {
        out.extend_from_slice(br#""authorizer":{"jwt":{"#);
        write_jwt(a, req, out, scratch);
        out.extend_from_slice(b"}},");
    }
    if let Some(g) = caller.authorizer {
        out.extend_from_slice(br#""authorizer":{"lambda":"#);
        out.extend_from_slice(g.context_json.as_bytes());
        out.extend_from_slice(b"},");
    }
    if let Some(cert) = caller.client_cert {
        out.extend_from_slice(br#""authentication":{"clientCert":"#);
        client_cert(out, cert);
        out.extend_from_slice(b"},");
    }
    out.extend_from_slice(br#""http":{"method":"#);
    json_string(out, req.head.method.as_str().as_bytes());
    out.extend_from_slice(br#","path":"#);
    json_string(out, route_path.as_bytes());
    out.extend_from_slice(br#","protocol":"#);
    json_string(out, protocol(req));
    out.extend_from_slice(br#","sourceIp":"#);
    source_ip(req, out);
    out.extend_from_slice(br#","userAgent":"#);
    json_string(out, req.header(b"user-agent").unwrap_or_default());
    out.extend_from_slice(br#"},"routeKey":"#);
    json_string(out, resolved.route.route_key.as_bytes());
    out.extend_from_slice(br#","time":"#);
    out.push(b'"');
    clf_time(out, now_ms);
    out.push(b'"');
    out.extend_from_slice(br#","timeEpoch":"#);
    out.extend_from_slice(itoa::Buffer::new().format(now_ms).as_bytes());
    out.extend_from_slice(b"},");
    if !resolved.matched.params.is_empty() {
        key(out, "pathParameters");
        write_path_parameters(resolved, route_path, out, scratch);
        out.push(b',');
    }
    if !resolved.stage.variables.is_empty() {
        key(out, "stageVariables");
        write_stage_variables(resolved, out);
        out.push(b',');
    }
    write_body(p, req, false, out);
    out.push(b'}');
}

/// `accountId`, `apiId`, `domainName`, `domainPrefix`, `requestId`, `stage` (each followed by
/// a comma): the request context keys both formats share.
fn common_context(p: &LambdaProxy, resolved: &Resolved<'_>, req: &Request<'_>, out: &mut Vec<u8>) {
    key(out, "accountId");
    json_string(out, p.account_id.as_bytes());
    out.push(b',');
    key(out, "apiId");
    json_string(out, resolved.api.id.as_bytes());
    out.push(b',');
    let domain = domain_name(req);
    key(out, "domainName");
    json_string(out, domain);
    out.push(b',');
    key(out, "domainPrefix");
    json_string(out, domain.split(|&b| b == b'.').next().unwrap_or_default());
    out.push(b',');
    key(out, "requestId");
    // REST's request id is the UUID form (`x-amzn-RequestId`); HTTP APIs' the short one.
    if p.rest {
        json_string(out, &req.request_id.uuid());
    } else {
        json_string(out, req.request_id.as_bytes());
    }
    out.push(b',');
    key(out, "stage");
    json_string(out, resolved.stage.name.as_bytes());
    out.push(b',');
}

/// `"claims":{...},"scopes":[...]|null` of the route's JWT (already verified by `authorize`).
fn write_jwt(a: &RouteAuth, req: &Request<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let token = req
        .header(a.authorizer.header.as_bytes())
        .unwrap_or_default();
    let token = match token.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") => trim(&token[7..]),
        _ => token,
    };
    let payload = token.split(|&b| b == b'.').nth(1).unwrap_or_default();
    scratch.clear();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_vec(payload.strip_suffix(b"=").unwrap_or(payload), scratch)
        .is_ok();
    let claims = if decoded {
        simd_json::to_borrowed_value(scratch).ok()
    } else {
        None
    };
    let mut scopes: Option<Vec<Cow<'_, str>>> = None;
    out.extend_from_slice(br#""claims":{"#);
    if let Some(Value::Object(map)) = &claims {
        for (i, (k, v)) in map.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(out, k.as_bytes());
            out.push(b':');
            // AWS passes every claim as a string.
            match v {
                Value::String(s) => json_string(out, s.as_bytes()),
                Value::Static(StaticNode::Null) => out.extend_from_slice(b"null"),
                other => json_string(
                    out,
                    simd_json::to_string(other).unwrap_or_default().as_bytes(),
                ),
            }
            match (k.as_ref(), v) {
                ("scope", Value::String(s)) => {
                    scopes = Some(s.split_ascii_whitespace().map(Cow::Borrowed).collect())
                }
                ("scp", Value::Array(items)) => {
                    scopes = Some(
                        items
                            .iter()
                            .filter_map(|i| match i {
                                Value::String(s) => Some(Cow::Borrowed(s.as_ref())),
                                _ => None,
                            })
                            .collect(),
                    )
                }
                _ => {}
            }
        }
    }
    out.extend_from_slice(br#"},"scopes":"#);
    match scopes {
        Some(list) => {
            out.push(b'[');
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, s.as_bytes());
            }
            out.push(b']');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// `"body":...,"isBase64Encoded":...` (1.0: `"body":null` when empty; 2.0: no `body`).
fn write_body(p: &LambdaProxy, req: &Request<'_>, null_when_empty: bool, out: &mut Vec<u8>) {
    let body = req.body;
    if body.is_empty() {
        if null_when_empty {
            out.extend_from_slice(br#""body":null,"#);
        }
        out.extend_from_slice(br#""isBase64Encoded":false"#);
        return;
    }
    let content_type = req.header(b"content-type");
    let binary = if p.rest {
        content_type.is_some_and(|ct| is_binary_media_type(&p.binary_media_types, ct))
    } else {
        match content_type {
            Some(ct) => !is_text_content_type(ct),
            None => std::str::from_utf8(body).is_err(),
        }
    };
    out.extend_from_slice(br#""body":""#);
    if binary {
        let start = out.len();
        out.resize(
            start + base64::encoded_len(body.len(), true).unwrap_or(0),
            0,
        );
        let n = B64.encode_slice(body, &mut out[start..]).unwrap_or(0);
        out.truncate(start + n);
    } else {
        escape_json(out, body);
    }
    out.extend_from_slice(if binary {
        br#"","isBase64Encoded":true"#
    } else {
        br#"","isBase64Encoded":false"#
    });
}

/// 1.0's `headers` (`multi`: false, the last value per name) or `multiValueHeaders`.
fn write_headers_v1(req: &Request<'_>, multi: bool, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    out.push(b'{');
    for (i, &(n, _)) in req.headers.iter().enumerate() {
        let name = bytes(req.buf, n);
        if dropped_header(req, name) || is_forwarded(name) || seen_before(req, i, name) {
            continue;
        }
        json_string(out, name);
        out.push(b':');
        let mut values = req.headers[i..]
            .iter()
            .filter(|&&(n2, _)| bytes(req.buf, n2).eq_ignore_ascii_case(name))
            .map(|&(_, v)| bytes(req.buf, v));
        if multi {
            out.push(b'[');
            for (j, v) in values.enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                json_string(out, v);
            }
            out.push(b']');
        } else {
            json_string(out, values.next_back().unwrap_or_default());
        }
        out.push(b',');
    }
    let shape = if multi { Shape::V1Multi } else { Shape::V1 };
    write_forwarded(req, shape, out, scratch);
    out.push(b'}');
}

/// Which header map the forwarding headers go into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// 1.0 `headers`: names as AWS spells them.
    V1,
    /// 1.0 `multiValueHeaders`: one-value lists.
    V1Multi,
    /// 2.0 `headers`: lowercase names.
    V2,
}

/// `X-Forwarded-For` (the client's list, then the peer), `-Port` and `-Proto`, and
/// `X-Amzn-Trace-Id` when the client sent none, as API Gateway adds them to the event's headers.
fn write_forwarded(req: &Request<'_>, shape: Shape, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let names: [&[u8]; 3] = match shape {
        Shape::V2 => [
            b"x-forwarded-for",
            b"x-forwarded-port",
            b"x-forwarded-proto",
        ],
        Shape::V1 | Shape::V1Multi => [
            b"X-Forwarded-For",
            b"X-Forwarded-Port",
            b"X-Forwarded-Proto",
        ],
    };
    let multi = shape == Shape::V1Multi;
    use std::io::Write as _;
    scratch.clear();
    for &(n, v) in req.headers {
        if bytes(req.buf, n).eq_ignore_ascii_case(b"x-forwarded-for") {
            scratch.extend_from_slice(bytes(req.buf, v));
            scratch.extend_from_slice(b", ");
        }
    }
    let _ = write!(scratch, "{}", req.peer.ip());
    let split = scratch.len();
    scratch.extend_from_slice(itoa::Buffer::new().format(req.local_port).as_bytes());
    let values: [&[u8]; 3] = [&scratch[..split], &scratch[split..], b"http"];
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, name);
        out.push(b':');
        if multi {
            out.push(b'[');
        }
        json_string(out, value);
        if multi {
            out.push(b']');
        }
    }
    // X-Ray: the client's trace header is among its headers; a request without one gets the
    // gateway's, as AWS adds it.
    if req.header(b"x-amzn-trace-id").is_none() {
        out.push(b',');
        json_string(
            out,
            match shape {
                Shape::V2 => b"x-amzn-trace-id",
                Shape::V1 | Shape::V1Multi => b"X-Amzn-Trace-Id",
            },
        );
        out.push(b':');
        if multi {
            out.push(b'[');
        }
        json_string(out, req.request_id.trace_header(None).as_bytes());
        if multi {
            out.push(b']');
        }
    }
}

fn is_forwarded(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"x-forwarded-for")
        || name.eq_ignore_ascii_case(b"x-forwarded-port")
        || name.eq_ignore_ascii_case(b"x-forwarded-proto")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QueryShape {
    /// 1.0 `queryStringParameters`: the last value per name.
    Last,
    /// 1.0 `multiValueQueryStringParameters`: every value.
    All,
    /// 2.0 `queryStringParameters`: the values joined with commas.
    Joined,
}

/// The query parameters, percent-decoded; `null` when there are none.
fn write_query(query: &[u8], shape: QueryShape, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let pairs = || {
        query
            .split(|&b| b == b'&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &b""[..]),
            })
    };
    if pairs().next().is_none() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'{');
    let mut first = true;
    for (i, (name, _)) in pairs().enumerate() {
        if pairs().take(i).any(|(n, _)| percent::same_decoded(n, name)) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        decoded_string(out, name, scratch);
        out.push(b':');
        let values = pairs()
            .skip(i)
            .filter(|(n, _)| percent::same_decoded(n, name))
            .map(|(_, v)| v);
        match shape {
            QueryShape::Last => decoded_string(out, values.last().unwrap_or_default(), scratch),
            QueryShape::All => {
                out.push(b'[');
                for (j, v) in values.enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    decoded_string(out, v, scratch);
                }
                out.push(b']');
            }
            QueryShape::Joined => {
                scratch.clear();
                for (j, v) in values.enumerate() {
                    if j > 0 {
                        scratch.push(b',');
                    }
                    percent::decode_into(v, scratch);
                }
                json_string(out, scratch);
            }
        }
    }
    out.push(b'}');
}

fn write_path_parameters(
    resolved: &Resolved<'_>,
    route_path: &str,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    if resolved.matched.params.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'{');
    for (i, p) in resolved.matched.params.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, p.name.trim_end_matches('+').as_bytes());
        out.push(b':');
        let range = portico_shared::router::Params::range(p);
        decoded_string(
            out,
            route_path.as_bytes().get(range).unwrap_or_default(),
            scratch,
        );
    }
    out.push(b'}');
}

fn write_stage_variables(resolved: &Resolved<'_>, out: &mut Vec<u8>) {
    let vars = &resolved.stage.variables;
    if vars.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'{');
    for (i, (k, v)) in vars.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, k.as_bytes());
        out.push(b':');
        json_string(out, v.as_bytes());
    }
    out.push(b'}');
}

/// Headers that never reach the function: hop-by-hop ones and those `Connection` names.
fn dropped_header(req: &Request<'_>, name: &[u8]) -> bool {
    is_hop_by_hop(name)
        || name.eq_ignore_ascii_case(b"expect")
        || req.head.connection_tokens[..req.head.connection_token_count]
            .iter()
            .any(|t| bytes(req.buf, *t).eq_ignore_ascii_case(name))
}

fn seen_before(req: &Request<'_>, i: usize, name: &[u8]) -> bool {
    req.headers[..i]
        .iter()
        .any(|&(n, _)| bytes(req.buf, n).eq_ignore_ascii_case(name))
}

/// `$context.domainName`: the `Host` header without its port.
pub(crate) fn domain_name<'r>(req: &Request<'r>) -> &'r [u8] {
    host_name(req.head.host.map(|h| bytes(req.buf, h)).unwrap_or_default())
}

/// A Host value without its port (`[::1]:8080` keeps its brackets): events' `domainName`.
pub(crate) fn host_name(host: &[u8]) -> &[u8] {
    match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host.ends_with(b"]") => &host[..i],
        _ => host,
    }
}

pub(crate) fn protocol(req: &Request<'_>) -> &'static [u8] {
    match req.head.version {
        crate::http1::Version::Http10 => b"HTTP/1.0",
        crate::http1::Version::Http11 => b"HTTP/1.1",
    }
}

fn source_ip(req: &Request<'_>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    out.push(b'"');
    let _ = write!(out, "{}", req.peer.ip());
    out.push(b'"');
}

/// The path of a route key (`GET /pets/{id}` → `/pets/{id}`; `$default` stays).
fn route_key_path(route_key: &str) -> &str {
    route_key.split_once(' ').map_or(route_key, |(_, p)| p)
}

/// AWS's `clientCert` object: PEM, subject and issuer DNs, serial, and validity dates in
/// OpenSSL's form (`May 28 12:30:02 2019 GMT`).
fn client_cert(out: &mut Vec<u8>, cert: &crate::tls::ClientCert) {
    out.extend_from_slice(br#"{"clientCertPem":"#);
    json_string(out, cert.pem.as_bytes());
    out.extend_from_slice(br#","subjectDN":"#);
    json_string(out, cert.info.subject.as_bytes());
    out.extend_from_slice(br#","issuerDN":"#);
    json_string(out, cert.info.issuer.as_bytes());
    out.extend_from_slice(br#","serialNumber":"#);
    json_string(out, cert.info.serial.as_bytes());
    out.extend_from_slice(br#","validity":{"notBefore":"#);
    openssl_time(out, cert.info.not_before_s);
    out.extend_from_slice(br#","notAfter":"#);
    openssl_time(out, cert.info.not_after_s);
    out.extend_from_slice(b"}}");
}

/// `"May 28 12:30:02 2019 GMT"` (the day space-padded), as a JSON string; times before the
/// epoch are written as the epoch.
fn openssl_time(out: &mut Vec<u8>, unix_s: i64) {
    let s = u64::try_from(unix_s).unwrap_or(0);
    let (y, m, d) = portico_shared::quota::civil_from_days(s / 86_400);
    let t = s % 86_400;
    out.push(b'"');
    out.extend_from_slice(month_name(m));
    out.push(b' ');
    out.push(if d >= 10 { b'0' + (d / 10) as u8 } else { b' ' });
    out.push(b'0' + (d % 10) as u8);
    out.push(b' ');
    clock_time(out, t);
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(y).as_bytes());
    out.extend_from_slice(b" GMT\"");
}

fn key(out: &mut Vec<u8>, k: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

fn decoded_string(out: &mut Vec<u8>, v: &[u8], scratch: &mut Vec<u8>) {
    if !v.contains(&b'%') {
        return json_string(out, v);
    }
    scratch.clear();
    percent::decode_into(v, scratch);
    json_string(out, scratch);
}

// === the call ===

/// Calls the function with the request's event and maps its answer (`AWS_PROXY`);
/// `integration_us` receives the function's time.
pub async fn invoke<'s, 'w>(
    w: &Upstreams<'w>,
    l: &'s LambdaProxy,
    inv: &crate::integration::Invocation<'_, 's>,
    call: &mut UpstreamCall,
    integration_us: &mut Option<u64>,
) -> Result<crate::integration::Reply<'s, 'w>, GatewayError> {
    let req = inv.req;
    let mut event = w.bufs.take();
    let mut scratch = w.bufs.take();
    let caller = Caller {
        api_key: inv.key.map(|k| (k.value(), &*k.id)),
        client_cert: req.tls.and_then(|t| t.client_cert.as_ref()),
        authorizer: req.grant,
    };
    let e = Event {
        proxy: l,
        resolved: inv.resolved,
        req,
        caller,
        now_ms: crate::request::unix_ms(),
    };
    write_event(&e, &mut event, &mut scratch);
    let started = Instant::now();
    // Boxed: it pins a timer (see `integration::forward`).
    let trace = req.request_id.trace_header(req.header(b"x-amzn-trace-id"));
    let r = Box::pin(call::invoke(w, call, &l.target, &event, trace.as_bytes())).await;
    *integration_us = Some(started.elapsed().as_micros() as u64);
    drop(event);
    let r = r?;
    let mut reply = LambdaReply {
        buf: w.bufs.take(),
        ..Default::default()
    };
    let accept = first_accept(req.header(b"accept"));
    read_response(l, call.body(&r), accept, &mut scratch, &mut reply)?;
    Ok(crate::integration::Reply::Lambda(reply))
}

// === the response ===

/// Parses the function's answer (`payload`) into `reply`. `scratch` receives a copy for
/// simd-json to parse in place. `accept`: REST's first `Accept` media type (binary answers).
pub fn read_response(
    p: &LambdaProxy,
    payload: &[u8],
    accept: Option<&[u8]>,
    scratch: &mut Vec<u8>,
    reply: &mut LambdaReply<'_>,
) -> Result<(), GatewayError> {
    reply.buf.clear();
    scratch.clear();
    scratch.extend_from_slice(payload);
    let value = simd_json::to_borrowed_value(scratch).map_err(|_| GatewayError::LambdaMalformed)?;
    let object = match (&value, p.format) {
        (Value::Object(o), _) if o.contains_key("statusCode") => o,
        (Value::Object(o), PayloadFormat::V1) => o,
        (_, PayloadFormat::V1) => return Err(GatewayError::LambdaMalformed),
        // 2.0's inferred response: the answer is the body.
        (Value::String(s), PayloadFormat::V2) => {
            write::header(&mut reply.buf, b"content-type", b"application/json");
            reply.lines = reply.buf.len();
            reply.buf.extend_from_slice(s.as_bytes());
            reply.status = 200;
            return Ok(());
        }
        (_, PayloadFormat::V2) => {
            write::header(&mut reply.buf, b"content-type", b"application/json");
            reply.lines = reply.buf.len();
            reply.buf.extend_from_slice(payload);
            reply.status = 200;
            return Ok(());
        }
    };
    let mut status = 200u16;
    let mut body: Option<&str> = None;
    let mut base64 = false;
    for (k, v) in object.iter() {
        match (k.as_ref(), v) {
            ("statusCode", v) => {
                status = match v {
                    Value::Static(StaticNode::I64(n)) => u16::try_from(*n).unwrap_or(0),
                    Value::Static(StaticNode::U64(n)) => u16::try_from(*n).unwrap_or(0),
                    Value::String(s) => s.trim().parse().unwrap_or(0),
                    _ => 0,
                };
                if !(100..=599).contains(&status) {
                    return Err(GatewayError::LambdaMalformed);
                }
            }
            ("body", Value::String(s)) => body = Some(s),
            ("body", Value::Static(StaticNode::Null)) => {}
            ("isBase64Encoded", Value::Static(StaticNode::Bool(b))) => base64 = *b,
            ("isBase64Encoded", Value::Static(StaticNode::Null)) => {}
            (
                "headers" | "multiValueHeaders",
                Value::Object(_) | Value::Static(StaticNode::Null),
            ) => {}
            ("cookies", Value::Array(_) | Value::Static(StaticNode::Null))
                if p.format == PayloadFormat::V2 => {}
            _ => return Err(GatewayError::LambdaMalformed),
        }
    }
    let multi = match object.get("multiValueHeaders") {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    };
    let in_multi =
        |name: &str| multi.is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(name)));
    // Where the answer's content type is in `reply.buf`, once seen.
    let mut content_type: Option<(usize, usize)> = None;
    if let Some(Value::Object(h)) = object.get("headers") {
        for (name, v) in h.iter() {
            if in_multi(name) {
                continue;
            }
            let text;
            let value: &[u8] = match v {
                Value::String(s) => s.as_bytes(),
                Value::Static(StaticNode::Null) => continue,
                Value::Static(_) => {
                    text = simd_json::to_string(v).unwrap_or_default();
                    text.as_bytes()
                }
                _ => return Err(GatewayError::LambdaMalformed),
            };
            push_header(&mut reply.buf, name, value, &mut content_type)?;
        }
    }
    if let Some(m) = multi {
        for (name, v) in m.iter() {
            match v {
                Value::Array(items) => {
                    for item in items.iter() {
                        let Value::String(s) = item else {
                            return Err(GatewayError::LambdaMalformed);
                        };
                        push_header(&mut reply.buf, name, s.as_bytes(), &mut content_type)?;
                    }
                }
                Value::Static(StaticNode::Null) => {}
                _ => return Err(GatewayError::LambdaMalformed),
            }
        }
    }
    if let Some(Value::Array(cookies)) = object.get("cookies") {
        for c in cookies.iter() {
            let Value::String(s) = c else {
                return Err(GatewayError::LambdaMalformed);
            };
            push_header(
                &mut reply.buf,
                "set-cookie",
                s.as_bytes(),
                &mut content_type,
            )?;
        }
    }
    if content_type.is_none() {
        write::header(&mut reply.buf, b"content-type", b"application/json");
    }
    reply.lines = reply.buf.len();
    reply.status = status;
    let body = body.unwrap_or_default().as_bytes();
    // REST returns the decoded bytes only when the answer's type (or the first media type the
    // client accepts) is a binary media type; otherwise the base64 text as is.
    let decode = base64
        && (!p.rest
            || content_type.is_some_and(|(s, e)| {
                is_binary_media_type(&p.binary_media_types, &reply.buf[s..e])
            })
            || accept.is_some_and(|a| is_binary_media_type(&p.binary_media_types, a)));
    if decode {
        B64.decode_vec(body, &mut reply.buf)
            .map_err(|_| GatewayError::LambdaMalformed)?;
    } else {
        reply.buf.extend_from_slice(body);
    }
    Ok(())
}

fn push_header(
    out: &mut Vec<u8>,
    name: &str,
    value: &[u8],
    content_type: &mut Option<(usize, usize)>,
) -> Result<(), GatewayError> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !name_ok || value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(GatewayError::LambdaMalformed);
    }
    let n = name.as_bytes();
    if is_hop_by_hop(n) || n.eq_ignore_ascii_case(b"content-length") {
        return Ok(());
    }
    write::header(out, n, value);
    if n.eq_ignore_ascii_case(b"content-type") {
        let end = out.len() - 2;
        *content_type = Some((end - value.len(), end));
    }
    Ok(())
}

/// The first media type of an `Accept` header.
pub fn first_accept(req_accept: Option<&[u8]>) -> Option<&[u8]> {
    req_accept.map(|a| trim(a.split(|&b| b == b',').next().unwrap_or_default()))
}

/// Writes the downstream response for a function's answer: its status and header lines, the
/// gateway's (CORS, ids, connection, framing), then the body.
pub fn write_reply(
    reply: &LambdaReply<'_>,
    request_id: crate::request_id::RequestId,
    connection: crate::respond::ConnectionHeader,
    head_only: bool,
    edits: &crate::integration::Edits<'_>,
    out: &mut Vec<u8>,
) {
    let status = reply.status;
    write::status_line(out, status, write::reason(status));
    let lines = &reply.buf[..reply.lines];
    if edits.drop_cors {
        for line in lines.split_inclusive(|&b| b == b'\n') {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            if !crate::respond::is_cors_header(name) {
                out.extend_from_slice(line);
            }
        }
    } else {
        out.extend_from_slice(lines);
    }
    if let Some((policy, origin)) = edits.cors {
        policy.write_actual(origin, out);
    }
    if edits.rest {
        crate::respond::write_id_headers(out, request_id);
    } else {
        write::header(out, b"apigw-requestid", request_id.as_bytes());
    }
    connection.write(out);
    let body = &reply.buf[reply.lines..];
    let by_rule = status < 200 || status == 204 || status == 304;
    if !by_rule {
        write::header_u64(out, b"content-length", body.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    if !head_only && !by_rule {
        out.extend_from_slice(body);
    }
}

pub mod call;

#[cfg(test)]
mod tests;
