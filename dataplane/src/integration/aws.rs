//! AWS service calls: HTTP API first-class integrations (`integrationSubtype`) and the SigV4
//! signature REST `AWS` integrations add (`rest::build_http_request`).
//!
//! A first-class integration's request is built from its action's members: each value rendered
//! from the request (`$request.header/querystring/body`, `$context`, `$stageVariables`, static)
//! into a JSON-protocol body (`X-Amz-Target`), or AppConfig's REST path. The service's answer is
//! passed on as it came (status, content type, body). Requests go through the worker's pooled
//! upstream client like any HTTP integration; the endpoint was resolved at compile time.
//!
//! Signing allocates (canonical request, signature strings): AWS calls are the one kind of
//! integration that does so on every request.

use http::Method;
use serde_json::Value as Json;

use portico_shared::aws::{Action, AwsService, AwsTarget, Kind, Param};
use portico_shared::sigv4;

use crate::error::GatewayError;
use crate::http1::write;
use crate::integration::Upstreams;
use crate::request::{json_string, Request};
use crate::stages::resolve::Resolved;
use crate::upstream::{UpstreamCall, UpstreamResponse};

/// Calls a first-class integration; the service's response is in `call`.
pub async fn invoke(
    w: &Upstreams<'_>,
    s: &AwsService,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    call: &mut UpstreamCall,
) -> Result<UpstreamResponse, GatewayError> {
    call.clear();
    // A role's first credentials may still be on their way from STS: wait, within the timeout.
    crate::integration::credentials_ready(&s.target.signer, s.timeout_ms).await;
    let mut body = w.bufs.take();
    let mut scratch = w.bufs.take();
    let built = build(s, resolved, req, &mut body, &mut scratch, &mut call.req);
    let method = built?;
    add_trace(req, &mut call.req);
    let endpoint = crate::upstream::Endpoint {
        addr: s.target.upstream,
        tls: s.target.https.then_some(&*s.target.host),
    };
    crate::integration::send(w, call, endpoint, method, s.timeout_ms, None).await
}

/// Adds the request's `X-Amzn-Trace-Id` (the client's, else the gateway's) to the head of the
/// serialized request in `out`: unsigned, as the AWS SDKs send it.
fn add_trace(req: &Request<'_>, out: &mut Vec<u8>) {
    let Some(end) = memchr::memmem::find(out, b"\r\n\r\n") else {
        return;
    };
    let trace = req.request_id.trace_header(req.header(b"x-amzn-trace-id"));
    let mut line = [0u8; 256];
    let value = trace.as_bytes();
    let name = b"x-amzn-trace-id: ";
    let len = name.len() + value.len() + 2;
    if len > line.len() {
        return;
    }
    line[..2].copy_from_slice(b"\r\n");
    line[2..2 + name.len()].copy_from_slice(name);
    line[2 + name.len()..len].copy_from_slice(value);
    out.splice(end..end, line[..len].iter().copied());
}

/// Serializes the signed service request into `out`; returns its method.
fn build(
    s: &AwsService,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<&'static Method, GatewayError> {
    let cx = crate::integration::context(resolved, req);
    let route_path = resolved.route_path(req.buf);
    // The request body as JSON, parsed once if a member reads from it.
    let doc: Option<Json> = s
        .params
        .iter()
        .any(|(_, p)| matches!(p, Param::BodyPath(_)))
        .then(|| serde_json::from_slice(req.body).ok())
        .flatten();
    let render = |p: &Param, scratch: &mut Vec<u8>| {
        scratch.clear();
        match p {
            Param::Value(v) => v.render(&cx, route_path.as_bytes(), scratch),
            Param::Body => scratch.extend_from_slice(req.body),
            Param::BodyPath(steps) => {
                let mut found = Vec::new();
                if let Some(d) = &doc {
                    let many = portico_shared::vtl::select(d, steps, &mut found);
                    match (many, found.first()) {
                        (false, Some(Json::String(text))) => {
                            scratch.extend_from_slice(text.as_bytes())
                        }
                        (false, Some(Json::Null) | None) => {}
                        (false, Some(v)) => {
                            let _ = serde_json::to_writer(&mut *scratch, v);
                        }
                        (true, _) => {
                            let _ = serde_json::to_writer(&mut *scratch, &found);
                        }
                    }
                }
            }
        }
    };
    let Some((amz_target, content_type)) = s.action.json_target() else {
        // AppConfig-GetConfiguration: REST GET with the names in the path.
        let mut target = String::with_capacity(128);
        target.push_str(&s.target.base_path);
        let mut client_id = String::new();
        let mut version = String::new();
        for (m, p) in &s.params {
            render(p, scratch);
            let mut enc = String::new();
            sigv4::percent_encode(&mut enc, scratch, false);
            match m.name {
                "Application" => target.push_str(&format!("/applications/{enc}")),
                "Environment" => target.push_str(&format!("/environments/{enc}")),
                "Configuration" => target.push_str(&format!("/configurations/{enc}")),
                "ClientId" => client_id = enc,
                _ => version = enc,
            }
        }
        target.push_str("?client_id=");
        target.push_str(&client_id);
        if !version.is_empty() {
            target.push_str("&client_configuration_version=");
            target.push_str(&version);
        }
        write_head(&Method::GET, &s.target, &target, None, None, b"", out)?;
        return Ok(&Method::GET);
    };
    body.clear();
    let entries = s.action == Action::EventBridgePutEvents;
    body.extend_from_slice(if entries { b"{\"Entries\":[{" } else { b"{" });
    let mut first = true;
    for (m, p) in &s.params {
        render(p, scratch);
        if scratch.is_empty() {
            continue;
        }
        if !first {
            body.push(b',');
        }
        first = false;
        let name = m.name.as_bytes();
        body.push(b'"');
        if s.action.camel_case_members() {
            body.push(name[0].to_ascii_lowercase());
            body.extend_from_slice(&name[1..]);
        } else {
            body.extend_from_slice(name);
        }
        body.extend_from_slice(b"\":");
        let raw_json = |v: &[u8]| serde_json::from_slice::<Json>(v).is_ok();
        match m.kind {
            Kind::Int if std::str::from_utf8(scratch).is_ok_and(|t| t.parse::<i64>().is_ok()) => {
                body.extend_from_slice(scratch)
            }
            Kind::Json if raw_json(scratch) && scratch.first() == Some(&b'{') => {
                body.extend_from_slice(scratch)
            }
            Kind::List if raw_json(scratch) && scratch.first() == Some(&b'[') => {
                body.extend_from_slice(scratch)
            }
            Kind::List => {
                body.push(b'[');
                json_string(body, scratch);
                body.push(b']');
            }
            Kind::Blob => {
                let encoded = portico_shared::vtl::base64_encode(scratch);
                json_string(body, encoded.as_bytes());
            }
            _ => json_string(body, scratch),
        }
    }
    body.extend_from_slice(if entries { b"}]}" } else { b"}" });
    let mut target = String::from(&*s.target.base_path);
    target.push('/');
    write_head(
        &Method::POST,
        &s.target,
        &target,
        Some(content_type),
        Some(amz_target),
        body,
        out,
    )?;
    out.extend_from_slice(body);
    Ok(&Method::POST)
}

/// The request line and every header of a signed request, up to and including the blank line.
fn write_head(
    method: &Method,
    t: &AwsTarget,
    target: &str,
    content_type: Option<&str>,
    amz_target: Option<&str>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write::header(out, b"host", t.host_header.as_bytes());
    if let Some(ct) = content_type {
        write::header(out, b"content-type", ct.as_bytes());
    }
    if let Some(a) = amz_target {
        write::header(out, b"x-amz-target", a.as_bytes());
    }
    write_signature(
        t,
        method.as_str(),
        target,
        content_type,
        amz_target,
        body,
        out,
    )?;
    write::header_u64(out, b"content-length", body.len() as u64);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Signs a request to `t` and writes the signature's headers (`x-amz-date`,
/// `x-amz-content-sha256`, `x-amz-security-token`, `authorization`). The signed headers are
/// `host`, `content-type` and `x-amz-target` (when sent).
///
/// With an integration `credentials` role, its temporary credentials as last assumed (one
/// atomic load; callers first wait for STS's first answer with
/// `integration::credentials_ready`); none by then, nothing is sent and the request fails
/// with `ApiConfiguration` (500, as AWS answers a role it cannot assume).
pub fn write_signature(
    t: &AwsTarget,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    amz_target: Option<&str>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let Some(credentials) = t
        .signer
        .load()
        .map_err(|_| GatewayError::ApiConfiguration)?
    else {
        // Compilation gives every AWS target credentials (a deployment without is refused).
        return Err(GatewayError::ApiConfiguration);
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(&str, &str)> = vec![("host", &t.host_header)];
    if let Some(ct) = content_type {
        headers.push(("content-type", ct));
    }
    if let Some(a) = amz_target {
        headers.push(("x-amz-target", a));
    }
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sig = sigv4::sign(
        &credentials,
        &t.region,
        &t.service,
        now_s,
        method,
        path,
        query,
        &headers,
        body,
    );
    write::header(out, b"x-amz-date", sig.amz_date.as_bytes());
    write::header(out, b"x-amz-content-sha256", sig.content_sha256.as_bytes());
    if let Some(token) = &credentials.session_token {
        write::header(out, b"x-amz-security-token", token.as_bytes());
    }
    write::header(out, b"authorization", sig.authorization.as_bytes());
    Ok(())
}
