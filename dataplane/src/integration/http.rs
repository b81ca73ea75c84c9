//! REST `HTTP` integrations (non-proxy): the request is built from the method's mapping
//! templates (`rest::build_http_request`), sent like an `HTTP_PROXY` request, and the upstream
//! status selects the integration response the answer is rendered from.

use portico_shared::snapshot::HttpMapped;

use crate::deadline::Deadline;
use crate::error::GatewayError;
use crate::integration::rest;
use crate::integration::Upstreams;
use crate::upstream::UpstreamCall;

use super::{context, forward, upstream_method, Invocation, Reply};

/// Builds and sends the mapped request; `integration_us` receives the upstream's time.
pub async fn invoke<'s, 'w>(
    w: &Upstreams<'w>,
    h: &'s HttpMapped,
    inv: &Invocation<'_, 's>,
    call: &mut UpstreamCall,
    deadline: &mut Deadline,
    integration_us: &mut Option<u64>,
) -> Result<Reply<'s, 'w>, GatewayError> {
    let req = inv.req;
    let mut cx = context(inv.resolved, req);
    cx.key = inv.key;
    cx.caller = inv.caller;
    call.clear();
    let method = upstream_method(h.target.method.as_ref(), &req.head.method);
    // REST `AWS` integrations with a `credentials` role: STS's first answer, within the timeout.
    if let Some(aws) = &h.aws {
        super::credentials_ready(&aws.target.signer, h.target.timeout_ms).await;
    }
    rest::build_http_request(h, method, &cx, &mut call.req, &mut w.bufs.take())?;
    let r = forward(w, call, &h.target, method, Some(deadline)).await;
    *integration_us = call.upstream_us;
    let r = r?;
    let m = h
        .response_for(r.status)
        .ok_or(GatewayError::ApiConfiguration)?;
    Ok(Reply::Mapped(Some(r), m))
}
