//! `HTTP_PROXY` integrations.
//!
//! `HTTP_PROXY` (payload format 1.0): the downstream request is forwarded with its method (or
//! the integration's), the path built from the integration URI (parameters substituted, or the
//! request path appended for greedy and `$default` matches), the query string, the headers less
//! hop-by-hop ones, `X-Forwarded-For/Proto/Port`, and the body re-framed with Content-Length.
//! What the request puts into the path is normalized by `portico_shared::path` (400 when it
//! would climb above the integration URI's base).
//!
//! REST `HTTP_PROXY` integrations carry their header and query string `requestParameters` in
//! the same [`RequestMapping`] (compiled as overwrites by `portico_shared::rest`).
//!
//! HTTP API parameter mapping (`portico_shared::mapping`): `requestParameters` edit the
//! upstream request in [`build_request`] (headers, query string, path), `responseParameters`
//! are rendered by [`map_response`] before anything is written and applied by
//! [`write_response`] (headers, status). Values are read from the request as received; a value
//! with a control byte (CR, LF, NUL, ...) fails the request with 500 `Internal Server Error`
//! and is never sent. A value that renders empty is not sent (an `overwrite` then only removes).
//! Responses of APIs with CORS get the `access-control-*` lines of `portico_shared::cors` and lose
//! the upstream's own (as AWS).

use crate::text::write_ip;

use http::Method;

use portico_shared::cors::CorsPolicy;
use portico_shared::limits::INLINE_BODY_MAX_BYTES;
use portico_shared::limits::MAPPINGS_MAX;
use portico_shared::mapping::{self, Op, ParamOp, RequestMapping, ResponseMapping};
use portico_shared::snapshot::{HttpProxy, PathPart};
use portico_shared::template::Context;

use crate::deadline::Deadline;
use crate::error::GatewayError;
use crate::http1::parse::is_name;
use crate::http1::parse::{bytes, Span};
use crate::http1::write::{self, is_hop_by_hop};

use crate::integration::Upstreams;
use crate::request::Request;
use crate::request_id::RequestId;
use crate::respond::ConnectionHeader;
use crate::stages::resolve::Resolved;
use crate::upstream::{UpstreamCall, UpstreamResponse};

use super::{forward, upstream_method};

/// What the gateway changes in an upstream response it passes on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Edits<'a> {
    /// A REST API: REST's id headers instead of `apigw-requestid`.
    pub rest: bool,
    /// The API's CORS policy and the request's `Origin`.
    pub cors: Option<(&'a CorsPolicy, &'a [u8])>,
    /// The API has CORS: the upstream's `access-control-*` headers are dropped.
    pub drop_cors: bool,
    /// The response mapping of the upstream status, its rendered lines and status.
    pub mapping: Option<&'a ResponseMapping>,
    pub lines: &'a [u8],
    pub status: Option<u16>,
}

/// Forwards the request to the `HTTP_PROXY` upstream (request parameter mapping applied).
pub async fn invoke(
    w: &Upstreams<'_>,
    p: &HttpProxy,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    call: &mut UpstreamCall,
    deadline: &mut Deadline,
) -> Result<UpstreamResponse, GatewayError> {
    call.clear();
    let method = upstream_method(p.method.as_ref(), &req.head.method);
    match p.request_mapping.as_deref() {
        None => build_request(p, method, resolved, req, None, &mut call.req)?,
        Some(m) => {
            let cx = context(resolved, req);
            let mut scratch = w.bufs.take();
            let built = build_request(
                p,
                method,
                resolved,
                req,
                Some((m, &cx, &mut scratch)),
                &mut call.req,
            );
            built?;
        }
    }
    forward(w, call, p, method, Some(deadline)).await
}

/// What mapping values are rendered against (the REST template context serves both).
pub fn context<'a>(
    resolved: &'a Resolved<'a>,
    req: &'a Request<'a>,
) -> crate::integration::rest::RestContext<'a> {
    crate::integration::rest::RestContext {
        request_id: req.request_id,
        api: resolved.api,
        stage: Some(resolved.stage),
        route: Some(resolved.route),
        resolved: Some(resolved),
        head: req.head,
        buf: req.buf,
        headers: req.headers,
        peer: req.peer,
        key: None,
        error: None,
        body: req.body,
        response: None,
        missing_parameters: 0,
        caller: None,
        auth_message: "",
        grant: req.grant,
    }
}

/// Renders every value of `ops` into `scratch`, recording where each is; a value with a
/// control byte fails the request.
fn render_all(
    ops: &[ParamOp],
    cx: &dyn Context,
    route_path: &[u8],
    scratch: &mut Vec<u8>,
    at: &mut [(u32, u32)],
) -> Result<(), GatewayError> {
    for (op, slot) in ops.iter().zip(at.iter_mut()) {
        let start = scratch.len();
        if op.op != Op::Remove {
            op.value.render(cx, route_path, scratch);
        }
        if !mapping::is_clean(&scratch[start..]) {
            return Err(GatewayError::ApiConfiguration);
        }
        *slot = (start as u32, scratch.len() as u32);
    }
    Ok(())
}

/// Appends `v` (decoded) as a query component: percent-escapes what may not appear raw.
fn push_query_value(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        if b.is_ascii_graphic() && !matches!(b, b'&' | b'#' | b'+' | b'%') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Renders the response mapping for upstream status `status`, if the integration has one:
/// its header lines go to `scratch`, the new status is returned. A control byte in a value, or
/// a status outside 200..=599, fails the request (500).
pub fn map_response<'s>(
    p: &'s HttpProxy,
    status: u16,
    cx: &dyn Context,
    scratch: &mut Vec<u8>,
) -> Result<Option<(&'s ResponseMapping, Option<u16>)>, GatewayError> {
    let Some(m) = p.response_mapping.as_deref().and_then(|r| r.get(status)) else {
        return Ok(None);
    };
    for op in m.headers.iter().filter(|o| o.op != Op::Remove) {
        let start = scratch.len();
        scratch.extend_from_slice(op.name.as_bytes());
        scratch.extend_from_slice(b": ");
        let value = scratch.len();
        op.value.render(cx, b"", scratch);
        if !mapping::is_clean(&scratch[value..]) {
            return Err(GatewayError::ApiConfiguration);
        }
        if scratch.len() == value {
            scratch.truncate(start);
        } else {
            scratch.extend_from_slice(b"\r\n");
        }
    }
    let status = match &m.status {
        None => None,
        Some(v) => {
            let start = scratch.len();
            v.render(cx, b"", scratch);
            let parsed = std::str::from_utf8(&scratch[start..])
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
                .filter(|s| (200..=599).contains(s));
            scratch.truncate(start);
            Some(parsed.ok_or(GatewayError::ApiConfiguration)?)
        }
    };
    Ok(Some((m, status)))
}

/// Serializes the upstream request into `out`, with the integration's request parameter
/// mapping when given (`scratch` holds the rendered values).
pub fn build_request(
    p: &HttpProxy,
    method: &Method,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    mapped: Option<(&RequestMapping, &dyn Context, &mut Vec<u8>)>,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let route_path = resolved.route_path(req.buf);
    // Rendered before anything is decided: (header values, query values, path) in `scratch`.
    // Zeroed only when a mapping applies (800 bytes a plain proxied request does not need).
    let mut at: Option<(RenderedAt, RenderedAt)> = None;
    let mut path_at = None;
    let mapped = match mapped {
        None => None,
        Some((m, cx, scratch)) => {
            let (header_at, query_at) = at.insert(([(0, 0); MAPPINGS_MAX], [(0, 0); MAPPINGS_MAX]));
            scratch.clear();
            render_all(&m.headers, cx, route_path.as_bytes(), scratch, header_at)?;
            render_all(&m.query, cx, route_path.as_bytes(), scratch, query_at)?;
            if let Some(v) = &m.path {
                let start = scratch.len();
                v.render(cx, route_path.as_bytes(), scratch);
                if !mapping::is_clean(&scratch[start..]) {
                    return Err(GatewayError::ApiConfiguration);
                }
                path_at = Some((start, scratch.len()));
            }
            Some((m, &scratch[..]))
        }
    };
    let path_start = out.len();
    if let (Some((_, scratch)), Some((s, e))) = (mapped, path_at) {
        if scratch.get(s) != Some(&b'/') {
            out.push(b'/');
        }
        push_path(out, &scratch[s..e]);
        normalize(out, path_start)?;
    } else {
        build_path(p, resolved, route_path, path_start, out)?;
    }
    if out.len() == path_start {
        out.push(b'/');
    }
    let query = bytes(req.buf, req.head.query);
    match mapped {
        Some((m, scratch)) if !m.query.is_empty() => {
            let mark = out.len();
            out.push(b'?');
            out.extend_from_slice(p.query.as_bytes());
            for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
                if !m.drops_query(name) {
                    if out.len() > mark + 1 {
                        out.push(b'&');
                    }
                    out.extend_from_slice(pair);
                }
            }
            let query_at = at.as_ref().map_or(&[][..], |a| &a.1[..]);
            for (op, &(s, e)) in m.query.iter().zip(query_at) {
                if op.op == Op::Remove || s == e {
                    continue;
                }
                if out.len() > mark + 1 {
                    out.push(b'&');
                }
                push_query_value(out, op.name.as_bytes());
                out.push(b'=');
                push_query_value(out, &scratch[s as usize..e as usize]);
            }
            if out.len() == mark + 1 {
                out.pop();
            }
        }
        _ => {
            if !p.query.is_empty() || !query.is_empty() {
                out.push(b'?');
                out.extend_from_slice(p.query.as_bytes());
                if !p.query.is_empty() && !query.is_empty() {
                    out.push(b'&');
                }
                out.extend_from_slice(query);
            }
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write::header(out, b"host", p.host_header.as_bytes());
    let tokens = &req.head.connection_tokens[..req.head.connection_token_count];
    let mut forwarded_for = false;
    let mut traced = false;
    let mut lines = write::Lines::new(out, req.buf);
    for &(name, value) in req.headers {
        let n = bytes(req.buf, name);
        if skip_request_header(n) || is_named_in(req.buf, tokens, n) {
            continue;
        }
        traced |= is_name(n, b"x-amzn-trace-id");
        if is_name(n, b"x-forwarded-for") {
            forwarded_for = true;
            continue;
        }
        // AWS drops an `Authorization` header that carries a SigV4 signature.
        if is_name(n, b"authorization")
            && bytes(req.buf, value).starts_with(portico_shared::sigv4::ALGORITHM.as_bytes())
        {
            continue;
        }
        if mapped.is_some_and(|(m, _)| m.drops_header(n)) {
            continue;
        }
        lines.push(name, value);
    }
    drop(lines);
    if let Some((m, scratch)) = mapped {
        let header_at = at.as_ref().map_or(&[][..], |a| &a.0[..]);
        for (op, &(s, e)) in m.headers.iter().zip(header_at) {
            if op.op != Op::Remove && s != e {
                write::header(out, op.name.as_bytes(), &scratch[s as usize..e as usize]);
            }
        }
    }
    // X-Ray: the client's trace header is forwarded as sent; a request without one gets one.
    if !traced {
        out.extend_from_slice(b"x-amzn-trace-id: Root=");
        out.extend_from_slice(&req.request_id.trace_root());
        out.extend_from_slice(b"\r\n");
    }
    finish_request(method, req, forwarded_for, out);
    Ok(())
}

/// Where each mapping's rendered value sits in the scratch buffer: `(start, end)`.
type RenderedAt = [(u32, u32); MAPPINGS_MAX];

/// Appends a mapped path, escaping what may not appear raw in a request target.
fn push_path(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        if b.is_ascii_graphic() && !matches!(b, b'?' | b'#') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// The upstream path from the integration URI's template and the matched route. What comes
/// from the request (each parameter's value, the appended request path) is normalized by
/// [`portico_shared::path`]: it never climbs above the integration URI's path before it.
fn build_path(
    p: &HttpProxy,
    resolved: &Resolved<'_>,
    route_path: &str,
    path_start: usize,
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    for part in &p.path {
        match part {
            PathPart::Literal(s) => out.extend_from_slice(s.as_bytes()),
            PathPart::Param(name) => {
                if let Some(v) = resolved.matched.params.get(route_path, name) {
                    let start = out.len();
                    out.extend_from_slice(v.as_bytes());
                    normalize(out, start)?;
                }
            }
        }
    }
    if p.append_request_path && resolved.matched.catch_all {
        if out.last() == Some(&b'/') && out.len() > path_start {
            out.pop();
        }
        let start = out.len();
        out.extend_from_slice(route_path.as_bytes());
        normalize(out, start)?;
    }
    Ok(())
}

/// Normalizes the request-supplied path in `out[start..]`; a refused one is 400.
pub fn normalize(out: &mut Vec<u8>, start: usize) -> Result<(), GatewayError> {
    portico_shared::path::normalize_tail(out, start)
        .map_err(|e| GatewayError::BadRequest(crate::http1::ParseError::Malformed(e.as_str())))
}

/// `X-Forwarded-*`, the framing and the body.
fn finish_request(method: &Method, req: &Request<'_>, forwarded_for: bool, out: &mut Vec<u8>) {
    // One X-Forwarded-For: every value the client sent, in order, then the peer's address.
    out.extend_from_slice(b"x-forwarded-for: ");
    if forwarded_for {
        for &(name, value) in req.headers {
            if bytes(req.buf, name).eq_ignore_ascii_case(b"x-forwarded-for") {
                out.extend_from_slice(bytes(req.buf, value));
                out.extend_from_slice(b", ");
            }
        }
    }
    write_ip(out, req.peer.ip());
    out.extend_from_slice(b"\r\n");
    match req.tls {
        None => write::header(out, b"x-forwarded-proto", b"http"),
        Some(tls) => {
            write::header(out, b"x-forwarded-proto", b"https");
            if let Some(cert) = &tls.client_cert {
                cert.write_headers(out);
            }
        }
    }
    write::header_u64(out, b"x-forwarded-port", u64::from(req.local_port));
    let has_framing = !matches!(req.head.body, crate::http1::BodyKind::None);
    if !req.body.is_empty()
        || has_framing
        || matches!(*method, Method::POST | Method::PUT | Method::PATCH)
    {
        write::header_u64(out, b"content-length", req.body.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.body);
}

/// Request headers the gateway replaces or never forwards (`x-apigw-api-id` is Portico's own
/// addressing header: it chose the API and means nothing to the upstream).
fn skip_request_header(name: &[u8]) -> bool {
    is_hop_by_hop(name)
        || match name.len() {
            4 => is_name(name, b"host"),
            6 => is_name(name, b"expect"),
            14 => is_name(name, b"content-length") || is_name(name, b"x-apigw-api-id"),
            16 => is_name(name, b"x-forwarded-port"),
            17 => is_name(name, b"x-forwarded-proto"),
            _ => crate::tls::is_client_cert_header(name),
        }
}

/// Whether a `Connection` option (arbitrary token text, hence the full comparison) names the
/// header `name`. Most messages list none.
#[inline]
fn is_named_in(buf: &[u8], tokens: &[Span], name: &[u8]) -> bool {
    !tokens.is_empty()
        && tokens
            .iter()
            .any(|t| crate::text::eq_ignore_case(bytes(buf, *t), name))
}

/// Writes the downstream response head (and the body, when small) for an upstream response.
/// Returns whether the body still has to be written from `call` (see [`UpstreamCall::body`]).
pub fn write_response(
    call: &UpstreamCall,
    r: &UpstreamResponse,
    request_id: RequestId,
    connection: ConnectionHeader,
    downstream_head: bool,
    edits: &Edits<'_>,
    out: &mut Vec<u8>,
) -> bool {
    let reason = bytes(&call.resp, r.reason);
    match edits.status {
        Some(s) if s != r.status => write::status_line(out, s, write::reason(s)),
        _ => write::status_line(
            out,
            r.status,
            if reason.is_empty() {
                write::reason(r.status)
            } else {
                reason
            },
        ),
    }
    // 1xx, 204 and 304 never carry a body, whatever the method.
    let by_rule = r.status < 200 || r.status == 204 || r.status == 304;
    // The upstream answered a HEAD (the integration's method may differ from the client's).
    let upstream_headless = matches!(r.body, crate::upstream::ResponseBody::None) && !by_rule;
    // The upstream's Content-Length describes a body nobody sends: keep it for a 304, and for a
    // HEAD answered by a HEAD. Otherwise the gateway frames the body it has.
    let keep_upstream_length =
        (by_rule && r.status != 204) || (upstream_headless && downstream_head);
    let mut lines = write::Lines::new(out, &call.resp);
    for &(name, value) in &call.headers {
        let n = bytes(&call.resp, name);
        if is_hop_by_hop(n) || is_named_in(&call.resp, r.connection_tokens(), n) {
            continue;
        }
        if is_name(n, b"content-length") && !keep_upstream_length {
            continue;
        }
        if (edits.drop_cors && crate::respond::is_cors_header(n))
            || edits.mapping.is_some_and(|m| m.drops_header(n))
        {
            continue;
        }
        lines.push(name, value);
    }
    drop(lines);
    out.extend_from_slice(edits.lines);
    if let Some((policy, origin)) = edits.cors {
        policy.write_actual(origin, out);
    }
    if edits.rest {
        crate::respond::write_id_headers(out, request_id);
    } else {
        write::header(out, b"apigw-requestid", request_id.as_bytes());
    }
    connection.write(out);
    let body = call.body(r);
    if !by_rule && !keep_upstream_length {
        write::header_u64(out, b"content-length", body.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    if downstream_head || by_rule || body.len() <= INLINE_BODY_MAX_BYTES {
        if !downstream_head && !by_rule {
            out.extend_from_slice(body);
        }
        false
    } else {
        true
    }
}
