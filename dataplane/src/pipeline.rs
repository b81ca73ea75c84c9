//! The request pipeline, written down once:
//!
//! ```text
//! preflight (cors.rs: HTTP APIs with CORS answer OPTIONS preflights here)
//!   → resolve (route.rs) → authorize (auth.rs: HTTP API JWT authorizers; iam.rs: AWS_IAM
//!     routes, whose body is read first, and REST resource policies)
//!   → admit (admission.rs: API key, throttles, quota)
//!   → cache lookup (cache.rs: a REST cache hit is answered after validation)
//!   → read body (conn.rs) → validate (validate.rs: REST request validators)
//!   → invoke (integration.rs; a REST mock answers here; HTTP API request parameter mapping)
//!   → map response (integration::map_response) → respond (+ CORS lines) → cache store
//!   → observe
//! ```
//!
//! Later stages (authorize) slot in here, in this order, and nowhere else.
//! Stages take explicit inputs and return `Result<_, GatewayError>`; only the body read,
//! `integration::invoke` and a cache miss waiting for another request's fetch of the same key
//! (`cache::wait`, bounded by the integration timeout) await.

use std::time::Instant;

use portico_shared::gateway_response::ResponseType;
use portico_shared::model::ProtocolType;
use portico_shared::snapshot::{Api, Integration, MappedResponse, Route, Stage};
use portico_shared::Snapshot;

use crate::admission::{self, Admitted};
use crate::cache::{self, Begin, Cached};
use crate::conn::{BodyLoc, Downstream, Stream};
use crate::error::{AuthorizerError, GatewayError};
use crate::http1::RequestHead;
use crate::integration;
use crate::lambda_proxy::{self, LambdaReply};
use crate::request::{self, Request};
use crate::request_id::RequestId;
use crate::respond::{self, ConnectionHeader};
use crate::rest::{self, RestContext};
use crate::route::{self, Resolved};
use crate::upstream::{ResponseBody, UpstreamCall, UpstreamResponse};
use crate::validate;
use crate::worker::Worker;

/// The IAM action a `Cache-Control: max-age=0` request needs to refresh a cached entry.
const INVALIDATE_CACHE: &str = "execute-api:InvalidateCache";

/// A large upstream body still to be written after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    Resp(usize, usize),
    Dechunked,
}

/// What the connection needs to know once a request is handled.
#[derive(Debug)]
pub struct Outcome<'s> {
    pub status: u16,
    pub keep_alive: bool,
    /// Bytes of the connection buffer this request used; `None` when the request's framing is
    /// unknown (its body was not read), which closes the connection.
    pub consumed: Option<usize>,
    pub tail: Option<Tail>,
    started: Instant,
    integration_us: Option<u64>,
    /// What to record the request under, when a route matched.
    route: Option<(&'s Api, &'s Stage, &'s Route)>,
    error: Option<GatewayError>,
    /// A cached method's request: `Some(true)` answered from the cache, `Some(false)` a miss.
    cache_hit: Option<bool>,
}

/// How far a request got: what its response and stats are recorded against.
#[derive(Debug, Clone, Default)]
struct Scope<'s> {
    api: Option<&'s Api>,
    stage: Option<&'s Stage>,
    resolved: Option<Resolved<'s>>,
    admitted: Admitted<'s>,
    /// Where the body is, once read (for `$context.error.validationErrorString`).
    body: Option<BodyLoc>,
    /// The `AWS_IAM` caller (`$context.identity.*`).
    caller: Option<&'s portico_shared::iam::AccessKey>,
    /// A Lambda authorizer's grant (`requestContext.authorizer`, `usageIdentifierKey`).
    grant: Option<std::rc::Rc<portico_shared::authorizer::Grant>>,
}

/// What answered a request that was not refused.
enum Reply<'s> {
    Upstream(UpstreamResponse),
    /// A REST integration response: a `MOCK`'s, or the one an `HTTP` integration's upstream
    /// response selected (with that response).
    Mapped(Option<UpstreamResponse>, &'s MappedResponse),
    /// A response cache hit (or the result of another request's fetch of the same key).
    Cached(std::rc::Rc<Cached>),
    /// A Lambda function's answer (`AWS_PROXY`), mapped.
    Lambda(LambdaReply),
}

/// Handles one request whose head is parsed; writes the response head (and small body) into
/// `out`.
pub async fn handle<'s, S: Stream>(
    w: &Worker,
    snapshot: &'s Snapshot,
    d: &mut Downstream<S>,
    head: &RequestHead,
    out: &mut Vec<u8>,
    call: &mut UpstreamCall,
    body: &mut Vec<u8>,
) -> Outcome<'s> {
    let started = Instant::now();
    let request_id = w.ids.next();
    let mut outcome = Outcome {
        status: 0,
        keep_alive: head.keep_alive && !w.shutdown.is_fired(),
        consumed: None,
        tail: None,
        started,
        integration_us: None,
        route: None,
        error: None,
        cache_hit: None,
    };
    let connection = |keep_alive: bool| ConnectionHeader::new(keep_alive, head.version);
    let mut scope = Scope::default();
    let mut plan: Option<cache::Plan<'s>> = None;
    let mut flight = None;
    // An IAM refusal's message; `String::new` does not allocate, a refusal does.
    let mut auth_message = String::new();

    // A CORS preflight is answered by the gateway: never admitted, never forwarded.
    if let Some(p) = crate::cors::preflight(
        snapshot,
        &w.cfg.domain,
        head,
        &d.buf,
        &d.headers,
        d.tls.as_deref(),
    ) {
        outcome.consumed = skip_unread_body(head, d.buf.len());
        outcome.keep_alive &= outcome.consumed.is_some();
        outcome.status = 204;
        respond::write_preflight(&p, request_id, connection(outcome.keep_alive), out);
        return outcome;
    }
    let result = async {
        let resolved = match route::resolve(
            snapshot,
            &w.cfg.domain,
            head,
            &d.buf,
            d.tls.as_deref(),
            &w.rng,
        ) {
            Ok(r) => r,
            Err(miss) => {
                scope.api = miss.api;
                scope.stage = miss.stage;
                return Err(miss.error);
            }
        };
        scope.api = Some(resolved.api);
        scope.stage = Some(resolved.stage);
        scope.resolved = Some(resolved);
        outcome.route = Some((resolved.api, resolved.stage, resolved.route));
        if let Some(a) = resolved.route.auth.as_deref() {
            crate::auth::authorize(a, &w.tokens, &d.buf, &d.headers, crate::auth::now_s())?;
        }
        if let Some(a) = resolved.route.lambda_auth.as_deref() {
            let req = Request {
                head,
                buf: &d.buf,
                headers: &d.headers,
                body: &[],
                peer: d.peer,
                local_port: w.listener_port(d.tls.is_some()),
                tls: d.tls.as_deref(),
                request_id,
                grant: None,
            };
            // Boxed, like the other paths whose futures pin a timer (see `integration::forward`).
            let grant = Box::pin(crate::lambda_auth::authorize(
                w, snapshot, a, &resolved, &req, call,
            ))
            .await;
            call.clear();
            scope.grant = Some(grant?);
        }
        // AWS_IAM and resource policies: the body first when the signature covers it (routes
        // without either pay one branch and read their body where they always did).
        let mut early_body = None;
        if crate::iam::applies(&resolved) {
            if resolved.route.aws_iam {
                early_body = Some(d.read_body(w, head, body).await?);
            }
            let signed: &[u8] = match early_body {
                Some((BodyLoc::InBuf(s, e), _)) => &d.buf[s..e],
                Some((BodyLoc::Decoded, _)) => body,
                None => &[],
            };
            scope.caller = crate::iam::authorize(
                snapshot,
                &resolved,
                head,
                &d.buf,
                &d.headers,
                signed,
                d.peer,
                crate::auth::now_s(),
                &mut auth_message,
            )?;
        }
        let integration = resolved
            .route
            .integration
            .as_deref()
            .ok_or(GatewayError::NoIntegration)?;
        scope.admitted = admission::admit(
            w,
            snapshot,
            &resolved,
            &d.buf,
            &d.headers,
            scope
                .grant
                .as_deref()
                .and_then(|g| g.usage_identifier_key.as_deref())
                .map(str::as_bytes),
            w.cfg.mono_ns(started),
        )?;
        let mut cached = None;
        let caller = scope.caller;
        let may_invalidate = || {
            let peer = d.peer;
            caller.is_some_and(|k| {
                crate::iam::allows(snapshot, &resolved, head, &d.buf, peer, k, INVALIDATE_CACHE)
            })
        };
        if let Some(p) = cache::plan(w, &resolved, head, d, may_invalidate)? {
            match w.responses.begin(&p, Instant::now()) {
                Begin::Hit(c) => cached = Some(c),
                Begin::Wait(f) => {
                    cached = Box::pin(cache::wait(f, cache::wait_bound(integration))).await;
                }
                Begin::Lead(guard) => flight = Some(guard),
                Begin::Miss => {}
            }
            plan = Some(p);
        }
        let (loc, consumed) = match early_body {
            Some(read) => read,
            None => d.read_body(w, head, body).await?,
        };
        outcome.consumed = Some(consumed);
        scope.body = Some(loc);
        let req = Request {
            head,
            buf: &d.buf,
            headers: &d.headers,
            body: match loc {
                BodyLoc::InBuf(s, e) => &d.buf[s..e],
                BodyLoc::Decoded => body,
            },
            peer: d.peer,
            local_port: w.listener_port(d.tls.is_some()),
            tls: d.tls.as_deref(),
            request_id,
            grant: scope.grant.as_deref(),
        };
        // validate: REST methods with a request validator only; one branch for the others.
        if let Some(v) = resolved
            .route
            .rest
            .as_ref()
            .and_then(|r| r.validation.as_deref())
        {
            let mut scratch = w.take_buf();
            let checked = validate::validate(v, &req, &resolved, &mut scratch);
            w.give_buf(scratch);
            checked?;
        }
        // A cache hit is answered once the request is valid (AWS validates before the cache).
        if let Some(c) = cached {
            return Ok(Reply::Cached(c));
        }
        match integration {
            Integration::Mock(m) => {
                return m
                    .response
                    .as_ref()
                    .map(|m| Reply::Mapped(None, m))
                    .ok_or(GatewayError::ApiConfiguration);
            }
            Integration::Http(h) => {
                let mut cx = rest_context(&scope, resolved.api, request_id, head, d, None);
                cx.body = req.body;
                call.clear();
                let method = integration::upstream_method(h.target.method.as_ref(), &head.method);
                let mut scratch = w.take_buf();
                let built = rest::build_http_request(h, method, &cx, &mut call.req, &mut scratch);
                w.give_buf(scratch);
                built?;
                let integration_started = Instant::now();
                let r =
                    integration::forward(w, call, &h.target, method, Some(&mut d.deadline)).await;
                outcome.integration_us = Some(integration_started.elapsed().as_micros() as u64);
                let r = r?;
                let m = h
                    .response_for(r.status)
                    .ok_or(GatewayError::ApiConfiguration)?;
                return Ok(Reply::Mapped(Some(r), m));
            }
            Integration::Lambda(l) => {
                let mut event = w.take_buf();
                let mut scratch = w.take_buf();
                let caller = lambda_proxy::Caller {
                    api_key: scope.admitted.key.map(|k| (k.value(), &*k.id)),
                    client_cert: d.tls.as_deref().and_then(|t| t.client_cert.as_ref()),
                    authorizer: scope.grant.as_deref(),
                };
                lambda_proxy::write_event(
                    l,
                    &resolved,
                    &req,
                    caller,
                    request::unix_ms(),
                    &mut event,
                    &mut scratch,
                );
                let integration_started = Instant::now();
                let r = Box::pin(crate::lambda::invoke(w, call, &l.target, &event)).await;
                outcome.integration_us = Some(integration_started.elapsed().as_micros() as u64);
                w.give_buf(event);
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        w.give_buf(scratch);
                        return Err(e.into());
                    }
                };
                let mut reply = LambdaReply {
                    buf: w.take_buf(),
                    ..Default::default()
                };
                let accept = lambda_proxy::first_accept(req.header(b"accept"));
                let read =
                    lambda_proxy::read_response(l, call.body(&r), accept, &mut scratch, &mut reply);
                w.give_buf(scratch);
                if let Err(e) = read {
                    w.give_buf(reply.buf);
                    return Err(e);
                }
                return Ok(Reply::Lambda(reply));
            }
            Integration::HttpProxy(_) | Integration::AwsService(_) => {}
        }
        let integration_started = Instant::now();
        let r = integration::invoke(w, integration, &resolved, &req, call, &mut d.deadline).await;
        outcome.integration_us = Some(integration_started.elapsed().as_micros() as u64);
        r.map(Reply::Upstream)
    }
    .await;

    // Decided now, not at the start: a drain that began meanwhile closes the connection.
    outcome.keep_alive &= !w.shutdown.is_fired();
    let rest_api = scope.api.filter(|a| a.protocol == ProtocolType::Rest);
    let head_only = head.method == http::Method::HEAD;
    let hit = matches!(result, Ok(Reply::Cached(_)));
    // HTTP APIs: response parameter mapping, rendered before anything is written (a failure is
    // a clean 500), and the CORS lines of the API.
    // `Vec::new` does not allocate: a buffer is taken only when a mapping applies.
    let mut mapped_lines = Vec::new();
    let mut edits = integration::Edits {
        rest: rest_api.is_some(),
        cors: crate::cors::actual(scope.api, &d.buf, &d.headers),
        drop_cors: scope.api.is_some_and(|a| a.cors.is_some()),
        ..Default::default()
    };
    let result = result.and_then(|reply| {
        let (Reply::Upstream(r), Some(resolved), Some(api)) = (&reply, &scope.resolved, scope.api)
        else {
            return Ok(reply);
        };
        let Some(Integration::HttpProxy(p)) = resolved.route.integration.as_deref() else {
            return Ok(reply);
        };
        if p.response_mapping.is_none() {
            return Ok(reply);
        }
        mapped_lines = w.take_buf();
        let mut cx = rest_context(&scope, api, request_id, head, d, None);
        cx.response = Some((&*call, r));
        if let Some((m, status)) = integration::map_response(p, r.status, &cx, &mut mapped_lines)? {
            edits.mapping = Some(m);
            edits.status = status;
        }
        Ok(reply)
    });
    edits.lines = &mapped_lines;
    match result {
        Ok(Reply::Cached(c)) => {
            outcome.status = c.status();
            let warn = plan.as_ref().is_some_and(|p| p.warn);
            cache::write_hit(&c, request_id, connection(outcome.keep_alive), warn, out);
        }
        Ok(Reply::Upstream(response)) => {
            outcome.status = edits.status.unwrap_or(response.status);
            let large = integration::write_response(
                call,
                &response,
                request_id,
                connection(outcome.keep_alive),
                head_only,
                &edits,
                out,
            );
            if large {
                outcome.tail = Some(match response.body {
                    ResponseBody::InResp(s, e) => Tail::Resp(s, e),
                    ResponseBody::Dechunked => Tail::Dechunked,
                    ResponseBody::None => unreachable!("a large body exists"),
                });
            }
        }
        Ok(Reply::Lambda(reply)) => {
            outcome.status = reply.status;
            lambda_proxy::write_reply(
                &reply,
                request_id,
                connection(outcome.keep_alive),
                head_only,
                &edits,
                out,
            );
            w.give_buf(reply.buf);
        }
        Ok(Reply::Mapped(response, m)) => {
            let api = rest_api.unwrap_or_else(|| unreachable!("mapped integrations are REST"));
            let mut cx = rest_context(&scope, api, request_id, head, d, None);
            if let Some(r) = &response {
                cx.body = call.body(r);
                cx.response = Some((&*call, r));
            }
            let mut scratch = w.take_buf();
            outcome.status = rest::write_mapped(
                m,
                &cx,
                connection(outcome.keep_alive),
                head_only,
                &mut scratch,
                out,
            );
            w.give_buf(scratch);
        }
        Err(e) => {
            if outcome.consumed.is_none() {
                outcome.consumed = skip_unread_body(head, d.buf.len());
            }
            if e.closes_connection() || outcome.consumed.is_none() {
                outcome.keep_alive = false;
            }
            let customised = |t| {
                scope
                    .stage
                    .is_some_and(|s| s.gateway_responses.get(t).is_some())
            };
            match (rest_api, e.response_type()) {
                // IAM refusals carry their own message and error type, unless customised.
                (_, Some(t)) if matches!(e, GatewayError::Iam(_)) && !customised(t) => {
                    let GatewayError::Iam(denial) = e else {
                        unreachable!("matched above")
                    };
                    outcome.status = 403;
                    crate::iam::write_denial(
                        denial,
                        &auth_message,
                        rest_api.is_some(),
                        request_id,
                        connection(outcome.keep_alive),
                        head_only,
                        edits.cors,
                        out,
                    );
                }
                // REST Lambda authorizers' 403 and 500 carry AWS's own bodies and error types,
                // unless customised.
                (Some(_), Some(t))
                    if matches!(
                        e,
                        GatewayError::Authorizer(
                            AuthorizerError::Denied { .. }
                                | AuthorizerError::Failed
                                | AuthorizerError::Configuration
                        )
                    ) && !customised(t) =>
                {
                    let GatewayError::Authorizer(a) = e else {
                        unreachable!("matched above")
                    };
                    outcome.status = e.status();
                    rest::write_authorizer_error(
                        a,
                        request_id,
                        connection(outcome.keep_alive),
                        head_only,
                        out,
                    );
                }
                (Some(api), Some(t)) => {
                    let mut cx = rest_context(&scope, api, request_id, head, d, Some(t));
                    cx.auth_message = &auth_message;
                    match e {
                        GatewayError::MissingParameters { missing } => {
                            cx.missing_parameters = missing
                        }
                        GatewayError::InvalidBody => {
                            cx.body = match scope.body {
                                Some(BodyLoc::InBuf(s, e)) => &d.buf[s..e],
                                Some(BodyLoc::Decoded) => body,
                                None => &[],
                            }
                        }
                        _ => {}
                    }
                    let mut scratch = w.take_buf();
                    outcome.status = rest::write_gateway_response(
                        t,
                        e.rest_status(),
                        &cx,
                        connection(outcome.keep_alive),
                        head_only,
                        &mut scratch,
                        out,
                    );
                    w.give_buf(scratch);
                }
                _ => {
                    outcome.status = e.status();
                    respond::write_error(
                        &e,
                        request_id,
                        connection(outcome.keep_alive),
                        head_only,
                        edits.cors,
                        out,
                    );
                }
            }
            outcome.error = Some(e);
        }
    }
    w.give_buf(mapped_lines);
    // Cache store: a cached method's fetched response, handed to the requests waiting for it.
    if let Some(p) = plan {
        outcome.cache_hit = Some(hit);
        if !hit && outcome.error.is_none() {
            let tail = outcome.tail.map(|t| match t {
                Tail::Resp(s, e) => &call.resp[s..e],
                Tail::Dechunked => &call.dechunked[..],
            });
            let bytes = cache::shard_bytes(&w.cfg, &p.stage);
            let stored = w
                .responses
                .store(&p, bytes, outcome.status, out, tail, Instant::now());
            if let Some(guard) = flight.take() {
                guard.finish(stored);
            }
            if p.warn {
                cache::add_warning(out);
            }
        }
        w.give_buf(p.key);
    }
    drop(flight);
    outcome
}

fn rest_context<'a, S>(
    scope: &'a Scope<'a>,
    api: &'a Api,
    request_id: RequestId,
    head: &'a RequestHead,
    d: &'a Downstream<S>,
    error: Option<ResponseType>,
) -> RestContext<'a> {
    RestContext {
        request_id,
        api,
        stage: scope.stage,
        route: scope.resolved.as_ref().map(|r| r.route),
        resolved: scope.resolved.as_ref(),
        head,
        buf: &d.buf,
        headers: &d.headers,
        peer: d.peer,
        key: scope.admitted.key,
        error,
        missing_parameters: 0,
        body: &[],
        response: None,
        caller: scope.caller,
        auth_message: "",
        grant: scope.grant.as_deref(),
    }
}

/// A request refused before its body was read keeps the connection only if the whole body is
/// already buffered (so the next request's start is known).
fn skip_unread_body(head: &RequestHead, buffered: usize) -> Option<usize> {
    match head.body {
        crate::http1::BodyKind::None => Some(head.head_len),
        crate::http1::BodyKind::Length(n) => {
            let end = head.head_len as u64 + n;
            (end <= buffered as u64).then_some(end as usize)
        }
        crate::http1::BodyKind::Chunked => None,
    }
}

/// Records the request's latency and status (always runs, like pingora's `logging` phase).
pub fn observe(w: &Worker, o: &Outcome<'_>, written: bool) {
    let total_us = o.started.elapsed().as_micros() as u64;
    let mut stats = w.stats.borrow_mut();
    stats.counters.requests += 1;
    match o.error {
        Some(GatewayError::NotFound | GatewayError::MissingAuthenticationToken) => {
            stats.counters.not_found += 1
        }
        Some(GatewayError::UpstreamTimeout { .. }) => stats.counters.upstream_timeouts += 1,
        Some(
            GatewayError::UpstreamConnect(_)
            | GatewayError::UpstreamProtocol(_)
            | GatewayError::LambdaInvoke(_)
            | GatewayError::LambdaFunction
            | GatewayError::LambdaMalformed,
        ) => stats.counters.upstream_errors += 1,
        Some(
            GatewayError::BadRequest(_)
            | GatewayError::BodyTooLarge
            | GatewayError::MissingParameters { .. }
            | GatewayError::InvalidBody,
        ) => stats.counters.bad_requests += 1,
        _ => {}
    }
    if !written {
        tracing::debug!(
            worker = w.id,
            "downstream went away before the response was written"
        );
    }
    match o.route {
        Some((api, stage, route)) => {
            stats.record_route(api, stage, route, o.status, total_us, o.integration_us);
            if let Some(hit) = o.cache_hit {
                stats.record_cache(route, hit);
            }
        }
        None => stats.mark(),
    }
}
