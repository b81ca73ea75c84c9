//! The request pipeline, written down once:
//!
//! ```text
//! preflight (cors.rs: HTTP APIs with CORS answer OPTIONS preflights here)
//!   → resolve (stages/resolve.rs) → authorize (stages/authorize/: jwt.rs, HTTP API JWT
//!     authorizers; lambda.rs, Lambda authorizers; iam.rs, AWS_IAM routes, whose body is read
//!     first, and REST resource policies)
//!   → admit (stages/admit.rs: API key, throttles, quota)
//!   → cache lookup (stages/cache.rs: a REST cache hit is answered after validation)
//!   → read body (downstream.rs) → validate (stages/validate.rs: REST request validators)
//!   → invoke (integration/: one arm per kind in `integration::invoke`)
//!   → map response (integration::map_response) → respond (+ CORS lines)
//!   → cache store → execution log → access log (`Answer::written`) → observe
//! ```
//!
//! Later stages slot in here, in this order, and nowhere else.
//! Stages take explicit inputs and return `Result<_, GatewayError>`; only the body read, the
//! Lambda authorizer, `integration::invoke` and a cache miss waiting for another request's fetch
//! of the same key (`cache::lookup`, bounded by the integration timeout) await.

use std::time::Instant;

use portico_shared::gateway_response::ResponseType;
use portico_shared::model::ProtocolType;
use portico_shared::snapshot::{Api, Integration, Route, Stage, TraceLevel};
use portico_shared::Snapshot;

use crate::buffers::Buf;
use crate::downstream::{BodyLoc, Downstream, Stream};
use crate::error::{AuthorizerError, GatewayError};
use crate::http1::RequestHead;
use crate::integration::lambda;
use crate::integration::rest::{self, RestContext};
use crate::integration::{self, Invocation, Reply};
use crate::request::Request;
use crate::request_id::RequestId;
use crate::respond::{self, ConnectionHeader};
use crate::stages::admit::{self, Admitted};
use crate::stages::authorize::{iam, jwt, lambda as lambda_auth};
use crate::stages::cache;
use crate::stages::resolve::{self, Miss, Resolved};
use crate::stages::validate;
use crate::upstream::{ResponseBody, UpstreamCall};
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
    pub(crate) error: Option<GatewayError>,
    /// A cached method's request: `Some(true)` answered from the cache, `Some(false)` a miss.
    pub(crate) cache_hit: Option<bool>,
}

impl Outcome<'_> {
    fn new(keep_alive: bool) -> Self {
        Outcome {
            status: 0,
            keep_alive,
            consumed: None,
            tail: None,
            started: Instant::now(),
            integration_us: None,
            route: None,
            error: None,
            cache_hit: None,
        }
    }
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
    /// An IAM refusal's message; `String::new` does not allocate, a refusal does.
    auth_message: String,
}

impl<'s> Scope<'s> {
    /// No route matched: the API and stage found, if any, and why.
    fn missed(&mut self, miss: Miss<'s>) -> GatewayError {
        self.api = miss.api;
        self.stage = miss.stage;
        miss.error
    }
}

/// A Lambda authorizer's `usageIdentifierKey` (REST `AUTHORIZER` API keys).
fn usage_key(grant: Option<&portico_shared::authorizer::Grant>) -> Option<&[u8]> {
    grant?.usage_identifier_key.as_deref().map(str::as_bytes)
}

/// Handles one request whose head is parsed; writes the response head (and small body) into
/// `out`. The stage list, top to bottom; each stage returns `Result<_, GatewayError>`.
pub async fn handle<'s, S: Stream>(
    w: &Worker,
    snapshot: &'s Snapshot,
    d: &mut Downstream<S>,
    head: &RequestHead,
    out: &mut Vec<u8>,
    call: &mut UpstreamCall,
    body: &mut Vec<u8>,
) -> Outcome<'s> {
    let request_id = w.ids.next();
    let mut outcome = Outcome::new(head.keep_alive && !w.shutdown.is_fired());
    let mut scope = Scope::default();
    let (mut plan, mut flight) = (None, None);
    let port = w.listener_port(d.tls.is_some());
    let up = w.upstreams();

    if preflight(w, snapshot, d, head, request_id, &mut outcome, out) {
        return outcome;
    }
    let result = async {
        let tls = d.tls.as_deref();
        let r = resolve::resolve(snapshot, &w.cfg.domain, head, &d.buf, tls, &w.rng)
            .map_err(|miss| scope.missed(miss))?;
        // Kept once, in the scope (432 bytes): the stages borrow it from there.
        let resolved = &*scope.resolved.insert(r);
        (scope.api, scope.stage) = (Some(resolved.api), Some(resolved.stage));
        outcome.route = Some((resolved.api, resolved.stage, resolved.route));
        if let Some(a) = resolved.route.auth.as_deref() {
            jwt::authorize(a, &w.tokens, &d.buf, &d.headers, jwt::now_s())?;
        }
        if let Some(a) = resolved.route.lambda_auth.as_deref() {
            let req = request(d, head, port, request_id, None, &[]);
            // Boxed, like the other paths whose futures pin a timer (see `integration::forward`).
            let authorized = lambda_auth::authorize(&w.authorizers, &up, snapshot, a, resolved, &req, call);
            let grant = Box::pin(authorized).await;
            call.clear();
            scope.grant = Some(grant?);
        }
        // AWS_IAM and resource policies: the body first when the signature covers it (routes
        // without either pay one branch and read their body where they always did).
        let mut early_body = None;
        if iam::applies(resolved) {
            if resolved.route.aws_iam {
                early_body = Some(d.read_body(&w.cfg.limits, head, body).await?);
            }
            let signed = early_body.map_or(&[][..], |(loc, _)| loc.slice(&d.buf, body));
            let req = request(d, head, port, request_id, None, signed);
            let message = &mut scope.auth_message;
            scope.caller = iam::authorize(snapshot, resolved, &req, jwt::now_s(), message)?;
        }
        let integration = resolved.integration()?;
        let (buf, headers, now_ns) = (&d.buf, &d.headers, w.cfg.mono_ns(outcome.started));
        let usage_key = usage_key(scope.grant.as_deref());
        scope.admitted = admit::admit(&w.admit, snapshot, resolved, buf, headers, usage_key, now_ns)?;
        plan = {
            let req = request(d, head, port, request_id, None, &[]);
            let may_invalidate = || may_invalidate(snapshot, resolved, &req, scope.caller);
            cache::plan(&w.bufs, resolved, &req, may_invalidate)?
        };
        let cached = match &plan {
            Some(p) => cache::lookup(&w.responses, p, integration, &mut flight).await,
            None => None,
        };
        let (loc, consumed) = match early_body {
            Some(read) => read,
            None => d.read_body(&w.cfg.limits, head, body).await?,
        };
        (outcome.consumed, scope.body) = (Some(consumed), Some(loc));
        // Built from the connection's fields: its timer is lent to the integration below.
        let (buf, tls, grant) = (&d.buf, d.tls.as_deref(), scope.grant.as_deref());
        let body = loc.slice(buf, body);
        let (headers, peer) = (&d.headers, d.peer);
        #[rustfmt::skip]
        let req = Request { head, buf, headers, body, peer, local_port: port, tls, request_id, grant };
        // validate: REST methods with a request validator only; one branch for the others.
        if let Some(v) = resolved.validation() {
            validate::validate(v, &req, resolved, &mut w.bufs.take())?;
        }
        // A cache hit is answered once the request is valid (AWS validates before the cache).
        if let Some(c) = cached {
            return Ok(Reply::Cached(c));
        }
        let inv = Invocation {
            integration,
            resolved,
            req: &req,
            key: scope.admitted.key,
            caller: scope.caller,
        };
        integration::invoke(&up, &inv, call, &mut d.deadline, &mut outcome.integration_us).await
    }
    .await;

    // Decided now, not at the start: a drain that began meanwhile closes the connection.
    outcome.keep_alive &= !w.shutdown.is_fired();
    #[rustfmt::skip]
    let answer = Answer { w, head, request_id, d, call, body, scope: &scope };
    answer.write(result, &mut outcome, plan.as_ref(), out);
    answer.written(&outcome, plan, flight, out);
    outcome
}

/// Builds the execution log of a finished request and ships it (a test invocation's goes back
/// in the response head instead).
fn trace_request<S>(
    scope: &Scope<'_>,
    outcome: &Outcome<'_>,
    head: &RequestHead,
    d: &Downstream<S>,
    body: &[u8],
    request_id: RequestId,
    out: &mut Vec<u8>,
) {
    use crate::http1::parse::bytes;
    let (Some(r), Some(api), Some(stage)) = (scope.resolved.as_ref(), scope.api, scope.stage)
    else {
        return;
    };
    let Some(m) = r.route.rest.as_ref() else {
        return;
    };
    let t = m.trace;
    let id = request_id.uuid();
    let id = std::str::from_utf8(&id).unwrap_or("-");
    let route_path = r.route_path(&d.buf);
    let params: Vec<(&str, &str)> = r
        .matched
        .params
        .iter()
        .map(|p| {
            let range = portico_shared::router::Params::range(p);
            (p.name, route_path.get(range).unwrap_or(""))
        })
        .collect();
    let headers: Vec<(&[u8], &[u8])> = if t.data {
        d.headers
            .iter()
            .map(|&(n, v)| (bytes(&d.buf, n), bytes(&d.buf, v)))
            .collect()
    } else {
        Vec::new()
    };
    let request_body = scope.body.map_or(&[][..], |loc| loc.slice(&d.buf, body));
    let f = crate::trace::Finished {
        level: t.level,
        data: t.data,
        request_id: id,
        api_id: &api.id,
        stage: &stage.name,
        method: &m.http_method,
        resource_path: &m.resource_path,
        path_params: &params,
        query: bytes(&d.buf, head.query),
        headers: &headers,
        request_body,
        route: r.route,
        principal: scope
            .grant
            .as_deref()
            .and_then(|g| g.principal_id.as_deref()),
        error: outcome.error,
        status: outcome.status,
        integration_us: outcome.integration_us,
        response: out,
    };
    if let Some(log) = crate::trace::record(&f) {
        // Only test invocations capture: the log goes back to the admin side in the head.
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let mut line = format!("\r\n{}: ", crate::trace::TEST_INVOKE_LOG_HEADER).into_bytes();
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(log.as_bytes());
            line.extend_from_slice(encoded.as_bytes());
            out.splice(end..end, line);
        }
    }
}

/// Queues the access log line of a request (see `access_log.rs`): never waits.
fn access_log<S>(
    log: &portico_shared::access_log::AccessLog,
    d: &Downstream<S>,
    head: &RequestHead,
    request_id: RequestId,
    scope: &Scope<'_>,
    outcome: &Outcome<'_>,
    out: &[u8],
) {
    use crate::http1::parse::bytes;
    use crate::request::header;
    // Gathered only when the line has room in the worker's queue.
    crate::access_log::record(log, || {
        let elapsed_ms = outcome.started.elapsed().as_millis() as u64;
        let route = scope.resolved.as_ref().map(|r| r.route);
        let rest = route.and_then(|r| r.rest.as_ref());
        let integrated = outcome.integration_us.is_some() && outcome.error.is_none();
        crate::access_log::Entry {
            request_id: Some(request_id),
            rest: scope.api.is_some_and(|a| a.protocol == ProtocolType::Rest),
            started_ms: crate::access_log::now_ms().saturating_sub(elapsed_ms),
            method: head.method.as_str().as_bytes(),
            path: bytes(&d.buf, head.path),
            protocol: match head.version {
                crate::http1::Version::Http10 => b"HTTP/1.0",
                crate::http1::Version::Http11 => b"HTTP/1.1",
            },
            source_ip: Some(d.peer.ip()),
            user_agent: header(&d.buf, &d.headers, b"user-agent"),
            host: head.host.map(|h| bytes(&d.buf, h)),
            api_id: scope.api.map_or("", |a| &a.id),
            stage: scope.stage.map_or("", |s| &s.name),
            route_key: route.map(|r| &*r.route_key),
            resource_path: rest.map(|r| &*r.resource_path),
            resource_id: rest.map(|r| &*r.resource_id),
            status: outcome.status,
            response_length: crate::access_log::content_length(out),
            response_latency_ms: elapsed_ms,
            integration_latency_ms: outcome.integration_us.map(|us| us / 1000),
            integration_status: integrated.then_some(outcome.status),
            error: outcome.error,
            auth_message: &scope.auth_message,
            api_key_id: scope.admitted.key.map(|k| &*k.id),
            api_key: scope
                .admitted
                .key
                .and_then(|_| header(&d.buf, &d.headers, b"x-api-key")),
            caller: scope.caller,
            principal_id: scope
                .grant
                .as_deref()
                .and_then(|g| g.principal_id.as_deref()),
            trace_header: header(&d.buf, &d.headers, b"x-amzn-trace-id"),
            ..Default::default()
        }
    });
}

/// A CORS preflight is answered by the gateway: never admitted, never forwarded. Whether this
/// request was one (its answer is then in `out`).
fn preflight<S>(
    w: &Worker,
    snapshot: &Snapshot,
    d: &Downstream<S>,
    head: &RequestHead,
    request_id: RequestId,
    outcome: &mut Outcome<'_>,
    out: &mut Vec<u8>,
) -> bool {
    let (domain, tls) = (&w.cfg.domain, d.tls.as_deref());
    let Some(p) = crate::cors::preflight(snapshot, domain, head, &d.buf, &d.headers, tls) else {
        return false;
    };
    outcome.consumed = skip_unread_body(head, d.buf.len());
    outcome.keep_alive &= outcome.consumed.is_some();
    outcome.status = 204;
    let connection = ConnectionHeader::new(outcome.keep_alive, head.version);
    respond::write_preflight(&p, request_id, connection, out);
    true
}

/// The request as the stages see it, body `body` once read.
fn request<'a, S>(
    d: &'a Downstream<S>,
    head: &'a RequestHead,
    local_port: u16,
    request_id: RequestId,
    grant: Option<&'a portico_shared::authorizer::Grant>,
    body: &'a [u8],
) -> Request<'a> {
    Request {
        head,
        buf: &d.buf,
        headers: &d.headers,
        body,
        peer: d.peer,
        local_port,
        tls: d.tls.as_deref(),
        request_id,
        grant,
    }
}

/// Whether the `AWS_IAM` caller may refresh a cached entry (`Cache-Control: max-age=0`).
fn may_invalidate(
    snapshot: &Snapshot,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    caller: Option<&portico_shared::iam::AccessKey>,
) -> bool {
    caller.is_some_and(|k| iam::allows(snapshot, resolved, req, k, INVALIDATE_CACHE))
}

/// Writes the answer to a request: the integration's (mapped), the cache's, or the refusal.
struct Answer<'a, 's, S> {
    w: &'a Worker,
    head: &'a RequestHead,
    request_id: RequestId,
    d: &'a Downstream<S>,
    call: &'a UpstreamCall,
    body: &'a [u8],
    scope: &'a Scope<'s>,
}

impl<'s, S> Answer<'_, 's, S> {
    fn write(
        &self,
        result: Result<Reply<'s, '_>, GatewayError>,
        outcome: &mut Outcome<'s>,
        plan: Option<&cache::Plan<'_, '_>>,
        out: &mut Vec<u8>,
    ) {
        let warn = plan.is_some_and(|p| p.warn);
        let (scope, call, head) = (self.scope, self.call, self.head);
        let rest_api = scope.api.filter(|a| a.protocol == ProtocolType::Rest);
        let head_only = head.method == http::Method::HEAD;
        if plan.is_some() {
            outcome.cache_hit = Some(matches!(result, Ok(Reply::Cached(_))));
        }
        // HTTP APIs: response parameter mapping, rendered before anything is written (a
        // failure is a clean 500), and the CORS lines of the API.
        let mut mapped_lines = Buf::default();
        let mut edits = integration::Edits {
            rest: rest_api.is_some(),
            cors: crate::cors::actual(scope.api, &self.d.buf, &self.d.headers),
            drop_cors: scope.api.is_some_and(|a| a.cors.is_some()),
            ..Default::default()
        };
        let result = result.and_then(|reply| {
            let (Reply::Upstream(r), Some(resolved), Some(api)) =
                (&reply, &scope.resolved, scope.api)
            else {
                return Ok(reply);
            };
            let Some(Integration::HttpProxy(p)) = resolved.route.integration.as_deref() else {
                return Ok(reply);
            };
            if p.response_mapping.is_none() {
                return Ok(reply);
            }
            // A buffer is taken only when a mapping applies.
            mapped_lines = self.w.bufs.take();
            let mut cx = self.rest_context(api, None);
            cx.response = Some((call, r));
            if let Some((m, status)) =
                integration::map_response(p, r.status, &cx, &mut mapped_lines)?
            {
                edits.mapping = Some(m);
                edits.status = status;
            }
            Ok(reply)
        });
        edits.lines = &mapped_lines;
        let connection = ConnectionHeader::new(outcome.keep_alive, head.version);
        match result {
            Ok(Reply::Cached(c)) => {
                outcome.status = c.status();
                cache::write_hit(&c, self.request_id, connection, warn, out);
            }
            Ok(Reply::Upstream(response)) => {
                outcome.status = edits.status.unwrap_or(response.status);
                let large = integration::write_response(
                    call,
                    &response,
                    self.request_id,
                    connection,
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
                lambda::write_reply(&reply, self.request_id, connection, head_only, &edits, out);
            }
            Ok(Reply::Mapped(response, m)) => {
                let api = rest_api.unwrap_or_else(|| unreachable!("mapped integrations are REST"));
                let mut cx = self.rest_context(api, None);
                if let Some(r) = &response {
                    cx.body = call.body(r);
                    cx.response = Some((call, r));
                }
                let scratch = &mut self.w.bufs.take();
                outcome.status = rest::write_mapped(m, &cx, connection, head_only, scratch, out);
            }
            Err(e) => self.write_refusal(e, rest_api, edits.cors, outcome, out),
        }
    }

    /// Writes the answer to a refused request (a gateway response).
    fn write_refusal(
        &self,
        e: GatewayError,
        rest_api: Option<&'s Api>,
        cors: Option<(&portico_shared::cors::CorsPolicy, &[u8])>,
        outcome: &mut Outcome<'s>,
        out: &mut Vec<u8>,
    ) {
        let head = self.head;
        if outcome.consumed.is_none() {
            outcome.consumed = skip_unread_body(head, self.d.buf.len());
        }
        if e.closes_connection() || outcome.consumed.is_none() {
            outcome.keep_alive = false;
        }
        let answer = respond::Answer {
            request_id: self.request_id,
            connection: ConnectionHeader::new(outcome.keep_alive, head.version),
            head_only: head.method == http::Method::HEAD,
            cors,
        };
        let customised = |t| {
            self.scope
                .stage
                .is_some_and(|s| s.gateway_responses.get(t).is_some())
        };
        outcome.error = Some(e);
        match (rest_api, e.response_type()) {
            // IAM refusals carry their own message and error type, unless customised.
            (_, Some(t)) if matches!(e, GatewayError::Iam(_)) && !customised(t) => {
                let GatewayError::Iam(denial) = e else {
                    unreachable!("matched above")
                };
                outcome.status = 403;
                let rest = rest_api.is_some();
                iam::write_denial(denial, &self.scope.auth_message, rest, &answer, out);
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
                let (id, connection, head_only) =
                    (answer.request_id, answer.connection, answer.head_only);
                rest::write_authorizer_error(a, id, connection, head_only, out);
            }
            (Some(api), Some(t)) => {
                let mut cx = self.rest_context(api, Some(t));
                cx.auth_message = &self.scope.auth_message;
                match e {
                    GatewayError::MissingParameters { missing } => cx.missing_parameters = missing,
                    GatewayError::InvalidBody => {
                        cx.body = self
                            .scope
                            .body
                            .map_or(&[][..], |loc| loc.slice(&self.d.buf, self.body))
                    }
                    _ => {}
                }
                let scratch = &mut self.w.bufs.take();
                let (connection, head_only) = (answer.connection, answer.head_only);
                outcome.status = rest::write_gateway_response(
                    t,
                    e.rest_status(),
                    &cx,
                    connection,
                    head_only,
                    scratch,
                    out,
                );
            }
            _ => {
                outcome.status = e.status();
                let (connection, head_only) = (answer.connection, answer.head_only);
                respond::write_error(&e, self.request_id, connection, head_only, cors, out);
            }
        }
    }

    /// What follows the written answer: the cache store, the execution log, the 5xx trace
    /// and the access log.
    fn written(
        &self,
        outcome: &Outcome<'s>,
        plan: Option<cache::Plan<'_, '_>>,
        flight: Option<cache::FlightGuard<'_>>,
        out: &mut Vec<u8>,
    ) {
        let (w, scope, call) = (self.w, self.scope, self.call);
        let (head, d, body, request_id) = (self.head, self.d, self.body, self.request_id);
        // Cache store: a cached method's fetched response, handed to the requests waiting for it.
        // (Not a hit, not a refusal.)
        if let Some(p) = plan.filter(|_| outcome.cache_hit != Some(true) && outcome.error.is_none())
        {
            let tail = outcome.tail.map(|t| match t {
                Tail::Resp(s, e) => &call.resp[s..e],
                Tail::Dechunked => &call.dechunked[..],
            });
            cache::store(&w.responses, &w.cfg, &p, flight, outcome.status, tail, out);
        }
        // Execution logs: methods with logging off pay this branch.
        if scope
            .resolved
            .as_ref()
            .and_then(|r| r.route.rest.as_ref())
            .is_some_and(|m| m.trace.level != TraceLevel::Off)
        {
            trace_request(scope, outcome, head, d, body, request_id, out);
        }
        if outcome.status >= 500 {
            if let Some(e) = &outcome.error {
                let route = outcome.route.map(|(_, _, r)| &*r.route_key);
                crate::trace::gateway_5xx(w.id, outcome.status, e, route);
            }
        }
        // Access log: rendered and queued for the writer thread; one branch for stages without.
        if let Some(log) = scope.stage.and_then(|s| s.access_log.as_deref()) {
            access_log(log, d, head, request_id, scope, outcome, out);
        }
    }

    fn rest_context<'x>(&'x self, api: &'x Api, error: Option<ResponseType>) -> RestContext<'x> {
        let scope = self.scope;
        RestContext {
            request_id: self.request_id,
            api,
            stage: scope.stage,
            route: scope.resolved.as_ref().map(|r| r.route),
            resolved: scope.resolved.as_ref(),
            head: self.head,
            buf: &self.d.buf,
            headers: &self.d.headers,
            peer: self.d.peer,
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
/// Returns the instant it took as the request's end, for the connection's next phase.
pub fn observe(w: &Worker, o: &Outcome<'_>, written: bool) -> Instant {
    let ended = Instant::now();
    let total_us = ended.saturating_duration_since(o.started).as_micros() as u64;
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
    ended
}
