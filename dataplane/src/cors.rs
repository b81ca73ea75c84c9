//! Pipeline stage `preflight` (HTTP APIs with `corsConfiguration`), and the CORS lines of every
//! other response of such an API.
//!
//! # Architecture
//! 1. `pipeline::handle` calls [`preflight`] first, before route selection: an `OPTIONS` request
//!    with `Origin` and `Access-Control-Request-Method` to an API with CORS is answered here
//!    (204, the `access-control-*` lines when allowed, none when not), so it never reaches
//!    admission (API keys, throttles, quotas) or an upstream, whether or not a route matches.
//! 2. For any other request, [`actual`] gives the policy and the `Origin` to add to the
//!    response (integration or gateway error) by `integration::write_response`/`respond::write_error`.
//!
//! Invariants: an API without CORS costs one branch on an `Option` (and only `OPTIONS` requests
//! look further); nothing here allocates: the policy's constant lines are precompiled bytes.

use http::Method;

use portico_shared::cors::CorsPolicy;
use portico_shared::snapshot::Api;
use portico_shared::Snapshot;

use crate::http1::parse::HeaderSpans;
use crate::http1::RequestHead;
use crate::request::header;
use crate::stages::resolve;

/// A preflight to answer: the API's policy and the request's CORS headers.
#[derive(Debug, Clone, Copy)]
pub struct Preflight<'s, 'b> {
    pub policy: &'s CorsPolicy,
    pub origin: &'b [u8],
    pub method: &'b [u8],
    /// `Access-Control-Request-Headers`, when sent.
    pub headers: Option<&'b [u8]>,
}

/// A preflight of an API with CORS, if `head` is one.
pub fn preflight<'s, 'b>(
    snapshot: &'s Snapshot,
    domain: &str,
    head: &RequestHead,
    buf: &'b [u8],
    headers: &HeaderSpans,
    tls: Option<&crate::tls::TlsSession>,
) -> Option<Preflight<'s, 'b>> {
    if head.method != Method::OPTIONS {
        return None;
    }
    let origin = header(buf, headers, b"origin")?;
    let method = header(buf, headers, b"access-control-request-method")?;
    let (api, _) = resolve::select_api(snapshot, domain, head, buf, tls).ok()?;
    Some(Preflight {
        policy: api.cors.as_deref()?,
        origin,
        method,
        headers: header(buf, headers, b"access-control-request-headers"),
    })
}

/// The policy and `Origin` an actual response of `api` answers with, when both exist.
pub fn actual<'s, 'b>(
    api: Option<&'s Api>,
    buf: &'b [u8],
    headers: &HeaderSpans,
) -> Option<(&'s CorsPolicy, &'b [u8])> {
    let policy = api?.cors.as_deref()?;
    Some((policy, header(buf, headers, b"origin")?))
}
