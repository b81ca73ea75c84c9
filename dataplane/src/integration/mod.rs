//! Pipeline stage `invoke`: call the route's integration. Enum dispatch, one arm per kind, in
//! [`invoke`]: `HTTP_PROXY` ([`http_proxy`]), REST `HTTP` with mapping templates ([`http`]),
//! `MOCK` ([`mock`]), Lambda proxy ([`lambda`]) and AWS service integrations ([`aws`]); and the
//! upstream exchange they share ([`send`], [`forward`], VPC link pools).

pub mod aws;
pub mod http;
pub mod http_proxy;
pub mod lambda;
pub mod mock;
pub mod rest;

pub use http_proxy::{
    build_request, context, map_response, normalize as normalize_path, write_response, Edits,
};

use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ::http::Method;

use portico_shared::iam::AccessKey;
use portico_shared::keys::KeyEntry;
use portico_shared::limits::VPC_LINK_CONNECT_ATTEMPTS_MAX;
use portico_shared::limits::{ROLE_WAIT_PAUSE_MAX_MS, ROLE_WAIT_PAUSE_MIN_MS};
use portico_shared::snapshot::{HttpProxy, Integration, MappedResponse};
use portico_shared::vpc_link::TargetPool;

use crate::buffers::Buffers;
use crate::config::DataPlaneConfig;
use crate::deadline::Deadline;
use crate::error::GatewayError;
use crate::request::Request;
use crate::stages::cache::Cached;
use crate::stages::resolve::Resolved;
use crate::upstream::Pool;
use crate::upstream::{Endpoint, UpstreamCall, UpstreamResponse};
use lambda::LambdaReply;

/// What the integrations use of their worker: its upstream connection pool, its id (VPC link
/// pools count in-flight requests per worker), its configuration (the VPC link clock) and its
/// free buffers. Borrowed from the worker per request; nothing else of the worker is reachable.
#[derive(Debug, Clone, Copy)]
pub struct Upstreams<'w> {
    pub id: usize,
    pub cfg: &'w DataPlaneConfig,
    pub pool: &'w Pool,
    pub bufs: &'w Buffers,
}

/// What an integration (or the response cache) answered.
#[derive(Debug)]
pub enum Reply<'s, 'w> {
    /// An `HTTP_PROXY` or AWS service integration's upstream response (in the call).
    Upstream(UpstreamResponse),
    /// A REST integration response: a `MOCK`'s, or the one an `HTTP` integration's upstream
    /// response selected (with that response).
    Mapped(Option<UpstreamResponse>, &'s MappedResponse),
    /// A response cache hit (or the result of another request's fetch of the same key).
    Cached(Rc<Cached>),
    /// A Lambda function's answer (`AWS_PROXY`), mapped.
    Lambda(LambdaReply<'w>),
}

/// What an integration is called with: the route's integration, the request (body read) and
/// who was admitted.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a, 's> {
    pub integration: &'s Integration,
    pub resolved: &'a Resolved<'s>,
    pub req: &'a Request<'a>,
    /// REST: the API key admitted (`$context.identity.apiKey`, Lambda's `identity.apiKey`).
    pub key: Option<&'s KeyEntry>,
    /// The `AWS_IAM` caller (`$context.identity.*`).
    pub caller: Option<&'s AccessKey>,
}

/// Calls the integration, whatever its kind; an upstream response is in `call`. `deadline`:
/// the downstream connection's timer (this runs on the connection's task). `integration_us`
/// receives the time spent calling the upstream or function.
pub async fn invoke<'s, 'w>(
    w: &Upstreams<'w>,
    inv: &Invocation<'_, 's>,
    call: &mut UpstreamCall,
    deadline: &mut Deadline,
    integration_us: &mut Option<u64>,
) -> Result<Reply<'s, 'w>, GatewayError> {
    let (resolved, req) = (inv.resolved, inv.req);
    match inv.integration {
        Integration::Mock(m) => mock::invoke(m),
        Integration::Http(h) => http::invoke(w, h, inv, call, deadline, integration_us).await,
        Integration::Lambda(l) => lambda::invoke(w, l, inv, call, integration_us).await,
        Integration::HttpProxy(p) => {
            let r = http_proxy::invoke(w, p, resolved, req, call, deadline).await;
            *integration_us = call.upstream_us;
            r.map(Reply::Upstream)
        }
        // Boxed: it pins a timer (see `forward`).
        Integration::AwsService(s) => {
            let r = Box::pin(crate::integration::aws::invoke(w, s, resolved, req, call)).await;
            *integration_us = call.upstream_us;
            r.map(Reply::Upstream)
        }
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

/// Sends `call.req` (already serialized) to `to` with `method`'s retry rules, within
/// `timeout_ms`. `deadline`: the downstream connection's timer, when this runs on the
/// connection's own task (the exchange is then one more phase of it, and touches no timer
/// wheel in steady state); `None` pins a timer for this exchange.
pub async fn send(
    w: &Upstreams<'_>,
    call: &mut UpstreamCall,
    to: Endpoint<'_>,
    method: &Method,
    timeout_ms: u32,
    deadline: Option<&mut Deadline>,
) -> Result<UpstreamResponse, GatewayError> {
    let (head_only, idempotent) = retry_rules(method);
    // One clock read for the deadline, the pool's idle ages and the upstream's time.
    let now = Instant::now();
    let until = now + Duration::from_millis(u64::from(timeout_ms));
    let done = match deadline {
        Some(d) => {
            d.set(until);
            let exchange = pin!(call.exchange(w.pool, to, head_only, idempotent, now));
            d.within(exchange).await
        }
        // Boxed: its pinned timer would align and size the connection's path too.
        None => {
            let exchange = call.exchange_until(w.pool, to, head_only, idempotent, (now, until));
            Box::pin(exchange).await
        }
    };
    call.upstream_us = Some(now.elapsed().as_micros() as u64);
    match done {
        Some(r) => r,
        None => Err(GatewayError::UpstreamTimeout { timeout_ms }),
    }
}

/// Sends `call.req` to `p`'s upstream: its address, or a target of its VPC link pool.
/// `deadline` as in [`send`].
pub async fn forward(
    w: &Upstreams<'_>,
    call: &mut UpstreamCall,
    p: &HttpProxy,
    method: &Method,
    deadline: Option<&mut Deadline>,
) -> Result<UpstreamResponse, GatewayError> {
    match &p.pool {
        None => {
            // One atomic load: the resolver (admin side) keeps the address fresh.
            let Some(addr) = p.upstream.addr() else {
                return Err(GatewayError::UpstreamUnresolved);
            };
            let to = Endpoint {
                addr,
                tls: p.tls.as_deref(),
            };
            send(w, call, to, method, p.timeout_ms, deadline).await
        }
        // Boxed, like every path whose future pins a timer (`exchange_until`): a timer entry is
        // cache-line aligned and large, and inline it would align and size every request's
        // pipeline future (which `conn::serve` boxes per request).
        Some(pool) => {
            Box::pin(balanced(
                w,
                call,
                pool,
                p.tls.as_deref(),
                method,
                p.timeout_ms,
            ))
            .await
        }
    }
}

/// Waits for an integration role's first credentials, at most `timeout_ms`: right after a
/// deployment the admin side's STS task may not have answered yet, and AWS does not fail a
/// request for that. False when they did not arrive in time (the caller then fails as before).
/// Fixed credentials, or a role already assumed, cost one atomic load and no await.
///
/// The wait is a timer on this worker's runtime (5 ms, doubling up to 50 ms), not a wake-up
/// from the admin thread: monoio is built without its `sync` feature, so a waker cannot be
/// woken from another thread. It only ever runs in the seconds after a role first appears.
pub async fn credentials_ready(signer: &portico_shared::lambda::Signer, timeout_ms: u32) -> bool {
    let portico_shared::lambda::Signer::Role(slot) = signer else {
        return true;
    };
    if slot.credentials.load().is_some() {
        return true;
    }
    // Boxed: the slow path's timer would otherwise align and size every caller's future.
    Box::pin(async {
        let until = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        let mut pause = Duration::from_millis(ROLE_WAIT_PAUSE_MIN_MS);
        while slot.credentials.load().is_none() {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            monoio::time::sleep(pause.min(until - now)).await;
            pause = (pause * 2).min(Duration::from_millis(ROLE_WAIT_PAUSE_MAX_MS));
        }
        true
    })
    .await
}

/// (HEAD: no response body; idempotent: a stale pooled connection may be retried).
fn retry_rules(method: &Method) -> (bool, bool) {
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    (*method == Method::HEAD, idempotent)
}

/// One exchange with a target of `pool`, all within `timeout_ms`: a target that cannot be
/// connected to is ejected and the next one tried (nothing was sent, so any method may move);
/// a target that resets, answers garbage or times out is ejected and the request fails.
async fn balanced(
    w: &Upstreams<'_>,
    call: &mut UpstreamCall,
    pool: &TargetPool,
    tls: Option<&str>,
    method: &Method,
    timeout_ms: u32,
) -> Result<UpstreamResponse, GatewayError> {
    let (head_only, idempotent) = retry_rules(method);
    // One deadline over every attempt.
    let started = Instant::now();
    let until = started + Duration::from_millis(u64::from(timeout_ms));
    let mut tried = 0u64;
    let mut last = GatewayError::NoHealthyTarget;
    for attempt in 0..=VPC_LINK_CONNECT_ATTEMPTS_MAX {
        let now = w.cfg.mono_ms(Instant::now());
        // Every target refused (or none is healthy): the pool is down, answered as such.
        let Some(i) = pool.pick(w.id, now, tried) else {
            return Err(GatewayError::NoHealthyTarget);
        };
        if attempt == VPC_LINK_CONNECT_ATTEMPTS_MAX {
            return Err(last);
        }
        tried |= 1 << i;
        let _in_flight = pool.begin(i, w.id);
        let to = Endpoint {
            addr: pool.targets[i].addr,
            tls,
        };
        let exchange = call.exchange_until(w.pool, to, head_only, idempotent, (started, until));
        let done = exchange.await;
        call.upstream_us = Some(started.elapsed().as_micros() as u64);
        match done {
            Some(Ok(r)) => return Ok(r),
            Some(Err(e)) => {
                pool.eject(i, w.cfg.mono_ms(Instant::now()));
                if !e.nothing_sent() {
                    return Err(e);
                }
                last = e;
            }
            None => {
                pool.eject(i, w.cfg.mono_ms(Instant::now()));
                return Err(GatewayError::UpstreamTimeout { timeout_ms });
            }
        }
    }
    Err(GatewayError::NoHealthyTarget)
}
