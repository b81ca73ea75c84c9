//! `@connections` calls for a connection another node of the cluster owns: forwarded to that
//! node's data plane over HTTP, authenticated with the cluster's secret.
//!
//! # Architecture
//! A connection id names its node's number (`registry.rs`). The node that receives the call
//! checks the caller (SigV4, IAM: `manage.rs`) and, when the id names another node, finds that
//! node's data plane in the directory the admin side republishes after each heartbeat (one
//! atomic load, no lock: [`ClusterLink::directory`]) and sends it the call through the worker's
//! upstream client (`upstream.rs`: pooled keep-alive connections, never blocking the worker),
//! bounded by [`FORWARD_TIMEOUT_MS`]. The call carries [`FORWARDED_HEADER`] (a MAC over method,
//! path, time and body keyed by the cluster's secret) and the API id (`x-apigw-api-id`); the
//! owner accepts it only with a valid MAC (403 otherwise) and never forwards it again. The
//! owner's answer is relayed as it is. An owner that is unknown, not live (stale heartbeat),
//! unreachable or too slow is AWS's `410 GoneException`: its connections are gone with it.
//!
//! [`ClusterLink::directory`]: crate::config::ClusterLink::directory

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use portico_shared::cluster::{forward_tag, verify_forward, FORWARDED_HEADER};
use portico_shared::limits::FORWARD_TIMEOUT_MS;

use super::manage::Answer;
use super::Core;
use crate::http1::parse::bytes;
use crate::http1::write;
use crate::upstream::Endpoint;

/// The error types an owner answers with, relayed as they are.
const ERROR_TYPES: [&str; 7] = [
    "GoneException",
    "LimitExceededException",
    "PayloadTooLargeException",
    "ForbiddenException",
    "AccessDeniedException",
    "NotFoundException",
    "BadRequestException",
];

fn gone() -> Answer {
    (410, "GoneException", String::new(), None)
}

/// Whether `tag` (the request's [`FORWARDED_HEADER`]) authenticates this call as forwarded by
/// another node of the cluster.
pub(super) fn verify(w: &Core<'_>, method: &str, path: &[u8], tag: &[u8], body: &[u8]) -> bool {
    let Some(link) = &w.cfg.cluster else {
        return false;
    };
    verify_forward(
        &link.secret,
        tag,
        method,
        path,
        body,
        portico_shared::clock::system_unix_secs(),
    )
}

/// Sends the call for connection `id_text` of API `api_id`, stage `stage`, to node `node`, and
/// returns its answer.
pub(super) async fn call(
    w: &Core<'_>,
    method: &http::Method,
    api_id: &str,
    stage: &str,
    id_text: &str,
    node: u8,
    payload: &[u8],
) -> Answer {
    let Some(link) = &w.cfg.cluster else {
        return gone();
    };
    let Some(owner) = link.directory.load().get(node).filter(|e| e.live) else {
        tracing::debug!(node, "@connections: the owner is unknown or not live");
        return gone();
    };
    let mut path = String::with_capacity(stage.len() + id_text.len() + 16);
    let _ = write!(path, "/{stage}/@connections/{id_text}");
    let tag = forward_tag(
        &link.secret,
        method.as_str(),
        path.as_bytes(),
        portico_shared::clock::system_unix_secs(),
        payload,
    );
    let mut call = w.take_call();
    call.clear();
    let out = &mut call.req;
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host = owner.data_addr.to_string();
    write::header(out, b"host", host.as_bytes());
    write::header(out, b"x-apigw-api-id", api_id.as_bytes());
    write::header(out, FORWARDED_HEADER.as_bytes(), tag.as_bytes());
    write::header_u64(out, b"content-length", payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    let now = Instant::now();
    let until = now + Duration::from_millis(FORWARD_TIMEOUT_MS);
    let to = Endpoint {
        addr: owner.data_addr,
        tls: None,
    };
    let idempotent = *method != http::Method::POST;
    let answer =
        match Box::pin(call.exchange_until(w.pool, to, false, idempotent, (now, until))).await {
            Some(Ok(r)) => {
                let error_type = call
                    .headers
                    .iter()
                    .find(|(n, _)| bytes(&call.resp, *n).eq_ignore_ascii_case(b"x-amzn-errortype"))
                    .and_then(|(_, v)| {
                        let v = bytes(&call.resp, *v);
                        ERROR_TYPES.into_iter().find(|t| t.as_bytes() == v)
                    })
                    .unwrap_or("");
                let body = call.body(&r);
                let json = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
                (r.status, error_type, String::new(), json)
            }
            Some(Err(e)) => {
                tracing::debug!(node, error = %e, "@connections: the owner is unreachable");
                gone()
            }
            None => {
                tracing::debug!(node, "@connections: the owner did not answer in time");
                gone()
            }
        };
    w.give_call(call);
    answer
}
