//! Pipeline stage `invoke`: call the route's integration. Enum dispatch, one arm per kind.
//!
//! `HTTP_PROXY` (payload format 1.0): the downstream request is forwarded with its method (or
//! the integration's), the path built from the integration URI (parameters substituted, or the
//! request path appended for greedy and `$default` matches), the query string, the headers less
//! hop-by-hop ones, `X-Forwarded-For/Proto/Port`, and the body re-framed with Content-Length.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::Method;

use portico_shared::snapshot::{HttpProxy, Integration, PathPart};

use crate::error::GatewayError;
use crate::http1::parse::{bytes, HeaderSpans, Span};
use crate::http1::write::{self, is_hop_by_hop};
use crate::http1::RequestHead;
use crate::request_id::RequestId;
use crate::route::Resolved;
use crate::upstream::{UpstreamCall, UpstreamResponse};
use crate::worker::Worker;

/// The downstream request as the integration sees it.
#[derive(Debug)]
pub struct DownstreamRequest<'a> {
    pub head: &'a RequestHead,
    /// The connection's read buffer; the head's spans index into it.
    pub buf: &'a [u8],
    pub headers: &'a HeaderSpans,
    pub body: &'a [u8],
    pub peer: SocketAddr,
    pub local_port: u16,
}

/// Calls the integration; on success the response is in `call`.
pub async fn invoke(
    w: &Worker,
    integration: &Integration,
    resolved: &Resolved<'_>,
    req: &DownstreamRequest<'_>,
    call: &mut UpstreamCall,
) -> Result<UpstreamResponse, GatewayError> {
    match integration {
        Integration::HttpProxy(p) => http_proxy(w, p, resolved, req, call).await,
        // Answered by the pipeline, which maps their requests and responses (see
        // `pipeline::handle` and `rest.rs`).
        Integration::Mock(_) | Integration::Http(_) => Err(GatewayError::ApiConfiguration),
    }
}

/// The method sent upstream: the integration's, else the downstream one. An integration method
/// of HEAD for a client's GET would leave the client waiting for a body the upstream never
/// sends: only the client's HEAD asks the upstream for a HEAD.
pub fn upstream_method<'m>(configured: Option<&'m Method>, downstream: &'m Method) -> &'m Method {
    let method = configured.unwrap_or(downstream);
    if *method == Method::HEAD && *downstream != Method::HEAD {
        &Method::GET
    } else {
        method
    }
}

/// Sends `call.req` (already serialized) to `addr` with `method`'s retry rules, within
/// `timeout_ms`.
pub async fn send(
    w: &Worker,
    call: &mut UpstreamCall,
    addr: SocketAddr,
    method: &Method,
    timeout_ms: u32,
) -> Result<UpstreamResponse, GatewayError> {
    let head_only = *method == Method::HEAD;
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    let exchange = call.exchange(&w.pool, addr, head_only, idempotent);
    match monoio::time::timeout(Duration::from_millis(u64::from(timeout_ms)), exchange).await {
        Ok(r) => r,
        Err(_) => Err(GatewayError::UpstreamTimeout { timeout_ms }),
    }
}

async fn http_proxy(
    w: &Worker,
    p: &HttpProxy,
    resolved: &Resolved<'_>,
    req: &DownstreamRequest<'_>,
    call: &mut UpstreamCall,
) -> Result<UpstreamResponse, GatewayError> {
    call.clear();
    let method = upstream_method(p.method.as_ref(), &req.head.method);
    build_request(p, method, resolved, req, &mut call.req);
    send(w, call, p.upstream, method, p.timeout_ms).await
}

/// Serializes the upstream request into `out`.
pub fn build_request(
    p: &HttpProxy,
    method: &Method,
    resolved: &Resolved<'_>,
    req: &DownstreamRequest<'_>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let route_path = resolved.route_path(req.buf);
    let path_start = out.len();
    for part in &p.path {
        match part {
            PathPart::Literal(s) => out.extend_from_slice(s.as_bytes()),
            PathPart::Param(name) => {
                if let Some(v) = resolved.matched.params.get(route_path, name) {
                    out.extend_from_slice(v.as_bytes());
                }
            }
        }
    }
    if p.append_request_path && resolved.matched.catch_all {
        if out.last() == Some(&b'/') && out.len() > path_start {
            out.pop();
        }
        out.extend_from_slice(route_path.as_bytes());
    }
    if out.len() == path_start {
        out.push(b'/');
    }
    let query = bytes(req.buf, req.head.query);
    if !p.query.is_empty() || !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(p.query.as_bytes());
        if !p.query.is_empty() && !query.is_empty() {
            out.push(b'&');
        }
        out.extend_from_slice(query);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write::header(out, b"host", p.host_header.as_bytes());
    let tokens = &req.head.connection_tokens[..req.head.connection_token_count];
    let mut forwarded_for = false;
    for &(name, value) in req.headers {
        let n = bytes(req.buf, name);
        if skip_request_header(n) || is_named_in(req.buf, tokens, n) {
            continue;
        }
        if n.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for = true;
            continue;
        }
        write::header(out, n, bytes(req.buf, value));
    }
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
    write::header(out, b"x-forwarded-proto", b"http");
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

/// Writes an IP address; IPv4 without the formatting machinery (it is on every request).
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(*o).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Request headers the gateway replaces or never forwards.
fn skip_request_header(name: &[u8]) -> bool {
    is_hop_by_hop(name)
        || name.eq_ignore_ascii_case(b"host")
        || name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"expect")
        || name.eq_ignore_ascii_case(b"x-forwarded-proto")
        || name.eq_ignore_ascii_case(b"x-forwarded-port")
}

fn is_named_in(buf: &[u8], tokens: &[Span], name: &[u8]) -> bool {
    tokens
        .iter()
        .any(|t| bytes(buf, *t).eq_ignore_ascii_case(name))
}

/// Bodies up to this size are copied behind the head so the response leaves in one write.
pub const INLINE_BODY_BYTES: usize = 64 * 1024;

/// Writes the downstream response head (and the body, when small) for an upstream response.
/// Returns whether the body still has to be written from `call` (see [`UpstreamCall::body`]).
pub fn write_response(
    call: &UpstreamCall,
    r: &UpstreamResponse,
    request_id: RequestId,
    rest: bool,
    connection: ConnectionHeader,
    downstream_head: bool,
    out: &mut Vec<u8>,
) -> bool {
    let reason = bytes(&call.resp, r.reason);
    write::status_line(
        out,
        r.status,
        if reason.is_empty() {
            write::reason(r.status)
        } else {
            reason
        },
    );
    // 1xx, 204 and 304 never carry a body, whatever the method.
    let by_rule = r.status < 200 || r.status == 204 || r.status == 304;
    // The upstream answered a HEAD (the integration's method may differ from the client's).
    let upstream_headless = matches!(r.body, crate::upstream::ResponseBody::None) && !by_rule;
    // The upstream's Content-Length describes a body nobody sends: keep it for a 304, and for a
    // HEAD answered by a HEAD. Otherwise the gateway frames the body it has.
    let keep_upstream_length =
        (by_rule && r.status != 204) || (upstream_headless && downstream_head);
    for &(name, value) in &call.headers {
        let n = bytes(&call.resp, name);
        if is_hop_by_hop(n) || is_named_in(&call.resp, r.connection_tokens(), n) {
            continue;
        }
        if n.eq_ignore_ascii_case(b"content-length") && !keep_upstream_length {
            continue;
        }
        write::header(out, n, bytes(&call.resp, value));
    }
    if rest {
        crate::rest::write_id_headers(out, request_id);
    } else {
        write::header(out, b"apigw-requestid", request_id.as_bytes());
    }
    connection.write(out);
    let body = call.body(r);
    if !by_rule && !keep_upstream_length {
        write::header_u64(out, b"content-length", body.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    if downstream_head || by_rule || body.len() <= INLINE_BODY_BYTES {
        if !downstream_head && !by_rule {
            out.extend_from_slice(body);
        }
        false
    } else {
        true
    }
}

/// Writes a gateway-generated JSON error response.
pub fn write_error(
    e: &GatewayError,
    request_id: RequestId,
    connection: ConnectionHeader,
    head_only: bool,
    out: &mut Vec<u8>,
) {
    let status = e.status();
    write::status_line(out, status, write::reason(status));
    write::header(out, b"content-type", b"application/json");
    let body = e.body();
    write::header_u64(out, b"content-length", body.len() as u64);
    write::header(out, b"apigw-requestid", request_id.as_bytes());
    connection.write(out);
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// The `Connection` header a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// HTTP/1.1 keep-alive: no header needed.
    Default,
    /// HTTP/1.0 client that asked for keep-alive.
    KeepAlive,
    Close,
}

impl ConnectionHeader {
    pub fn write(self, out: &mut Vec<u8>) {
        match self {
            ConnectionHeader::Default => {}
            ConnectionHeader::KeepAlive => write::header(out, b"connection", b"keep-alive"),
            ConnectionHeader::Close => write::header(out, b"connection", b"close"),
        }
    }
}
