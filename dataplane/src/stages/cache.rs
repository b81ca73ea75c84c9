//! Pipeline stage `cache`: the REST response cache, one shard per stage cache per core.
//!
//! # Architecture
//! 1. [`plan`] (after admission, so throttles and quotas apply to hits as on AWS) decides
//!    whether a request uses the cache: its method has a [`MethodCache`] in this snapshot and
//!    the request is not HEAD. It builds the key into a reused buffer: the stage cache id (which
//!    carries the flush generation), the method's scope (cache namespace or resource path), the
//!    HTTP method and the values of the cache key parameters. `Cache-Control: max-age=0` asks
//!    for a refresh; it is allowed when `requireAuthorizationForCacheControl` is off or the
//!    `AWS_IAM` caller holds `execute-api:InvalidateCache` on the method, and otherwise the
//!    method's `unauthorizedCacheControlHeaderStrategy` applies.
//! 2. [`Caches::begin`] looks the key up in this worker's shard of the stage (expired entries are
//!    dropped on the way). A miss makes the request the key's *leader* ([`Flight`]) unless
//!    another request of this core already fetches it: then it waits for that one, at most the
//!    integration timeout ([`wait`]). A leader whose response is not cacheable (or that fails,
//!    or is dropped) hands its waiters nothing: each of them then goes upstream itself, so a
//!    waiter never gets another caller's error and never waits twice.
//! 3. After the integration, [`Caches::store`] keeps 2xx responses of at most
//!    [`CACHE_RESPONSE_MAX_BYTES`]: status line and end-to-end headers (no framing, connection
//!    or request id headers) and the body, in one allocation. [`write_hit`] writes a hit with
//!    fresh request ids, this connection's `Connection` header and `Content-Length` framing.
//! 4. Housekeeping ([`Caches::housekeep`]) drops the shards of stage caches no longer in the
//!    snapshot (a flushed, disabled or deleted stage) and reports bytes and entries.
//!
//! Invariants: no locks (the shards are `quick_cache::unsync` caches in a `RefCell` of this
//! worker, never borrowed across an await); a shard's bytes stay under its bound (the stage's
//! `cacheClusterSize`, or the test override, divided by the worker count); a hit allocates
//! nothing beyond growing the output buffer for its body (a reference count is bumped).
//!
//! Why `quick_cache`: its `unsync::Cache` is a plain single-threaded structure (no atomics, no
//! locks, no background threads), weighs entries in bytes, and evicts with an S3-FIFO-like
//! policy that a scan of one-off keys cannot flush; it is small and actively maintained.
//! `moka`'s `unsync` cache is deprecated upstream and pulls in more.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use portico_shared::cache::{KeyParameter, MethodCache, StageCache, UnauthorizedStrategy};
use portico_shared::limits::{CACHE_ENTRY_OVERHEAD_BYTES, CACHE_RESPONSE_MAX_BYTES};
use portico_shared::snapshot::Integration;

use crate::buffers::Buffers;
use crate::config::DataPlaneConfig;
use crate::error::GatewayError;
use crate::http1::parse::{bytes, trim};
use crate::http1::write;
use crate::request::{self, Request};
use crate::request_id::RequestId;
use crate::respond::ConnectionHeader;
use crate::stages::resolve::Resolved;

/// The `Warning` AWS documents for `SUCCEED_WITH_RESPONSE_HEADER`.
pub const IGNORED_WARNING: &[u8] =
    b"199 - \"Cache-control headers were ignored because the caller was unauthorized.\"";

/// A stored response.
#[derive(Debug)]
pub struct Cached {
    /// Status line and headers (each line with its CRLF), then the body.
    data: Box<[u8]>,
    head_len: usize,
    status: u16,
    expires: Instant,
}

/// Entries weigh their key, their data and [`CACHE_ENTRY_OVERHEAD_BYTES`].
#[derive(Debug, Clone, Copy, Default)]
struct Weigh;

type Shard = quick_cache::unsync::Cache<Box<[u8]>, Rc<Cached>, Weigh, foldhash::fast::RandomState>;

/// One worker's caches: a shard per stage cache id, and the keys being fetched.
#[derive(Debug, Default)]
pub struct Caches {
    shards: RefCell<HashMap<u64, Shard, foldhash::fast::RandomState>>,
    /// Keys a request of this core is fetching (request coalescing).
    flights: RefCell<HashMap<Box<[u8]>, Rc<Flight>, foldhash::fast::RandomState>>,
}

/// How one request uses the cache.
#[derive(Debug)]
pub struct Plan<'s, 'w> {
    pub stage: StageCache,
    pub method: &'s MethodCache,
    /// The key, in a buffer from the worker's free list.
    pub key: crate::buffers::Buf<'w>,
    /// `Cache-Control: max-age=0`, allowed: skip the lookup, store the fresh response.
    pub refresh: bool,
    /// The invalidation was ignored under `SUCCEED_WITH_RESPONSE_HEADER`: add the warning.
    pub warn: bool,
}

/// What the lookup found.
#[derive(Debug)]
pub enum Begin<'w> {
    Hit(Rc<Cached>),
    /// A miss: this request fetches the key; its waiters learn the result through the guard.
    Lead(FlightGuard<'w>),
    /// A miss another request of this core is already fetching.
    Wait(Rc<Flight>),
    /// A miss that neither leads nor waits (a refresh).
    Miss,
}

/// One fetch in progress and the requests waiting for it.
#[derive(Debug, Default)]
pub struct Flight {
    /// `Some(result)` once the leader finished; `Some(None)`: nothing cacheable came back.
    result: RefCell<Option<Option<Rc<Cached>>>>,
    wakers: RefCell<Vec<Waker>>,
}

/// Held by a leader; finishing or dropping it wakes the waiters and forgets the flight.
#[derive(Debug)]
pub struct FlightGuard<'w> {
    caches: &'w Caches,
    key: Box<[u8]>,
    flight: Rc<Flight>,
}

// === impl Cached ===

impl Cached {
    pub fn status(&self) -> u16 {
        self.status
    }

    fn body(&self) -> &[u8] {
        &self.data[self.head_len..]
    }
}

impl quick_cache::Weighter<Box<[u8]>, Rc<Cached>> for Weigh {
    fn weight(&self, key: &Box<[u8]>, val: &Rc<Cached>) -> u64 {
        (key.len() + val.data.len()) as u64 + CACHE_ENTRY_OVERHEAD_BYTES
    }
}

// === impl Caches ===

impl Caches {
    /// Looks `plan`'s key up; on a miss, leads or joins the key's fetch.
    pub fn begin(&self, plan: &Plan<'_, '_>, now: Instant) -> Begin<'_> {
        if plan.refresh {
            return Begin::Miss;
        }
        {
            let mut shards = self.shards.borrow_mut();
            if let Some(shard) = shards.get_mut(&plan.stage.id) {
                match shard.get(plan.key.as_slice()) {
                    Some(c) if c.expires > now => return Begin::Hit(Rc::clone(c)),
                    Some(_) => {
                        shard.remove(plan.key.as_slice());
                    }
                    None => {}
                }
            }
        }
        let mut flights = self.flights.borrow_mut();
        if let Some(f) = flights.get(plan.key.as_slice()) {
            return Begin::Wait(Rc::clone(f));
        }
        let key: Box<[u8]> = plan.key.as_slice().into();
        let flight = Rc::new(Flight::default());
        flights.insert(key.clone(), Rc::clone(&flight));
        Begin::Lead(FlightGuard {
            caches: self,
            key,
            flight,
        })
    }

    /// Stores a response written into `out` (head, and the body unless `tail` holds it) if it
    /// is cacheable. Returns what was stored.
    pub fn store(
        &self,
        plan: &Plan<'_, '_>,
        capacity_bytes: u64,
        status: u16,
        out: &[u8],
        tail: Option<&[u8]>,
        now: Instant,
    ) -> Option<Rc<Cached>> {
        if !(200..300).contains(&status) {
            return None;
        }
        let head_end = memchr::memmem::find(out, b"\r\n\r\n")? + 2;
        let body = match tail {
            Some(t) => t,
            None => &out[head_end + 2..],
        };
        if body.len() > CACHE_RESPONSE_MAX_BYTES {
            return None;
        }
        let mut data = Vec::with_capacity(head_end + body.len());
        let mut lines = out[..head_end].split_inclusive(|&b| b == b'\n');
        data.extend_from_slice(lines.next()?);
        for line in lines {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            if !is_per_response(name) {
                data.extend_from_slice(line);
            }
        }
        let head_len = data.len();
        data.extend_from_slice(body);
        let cached = Rc::new(Cached {
            data: data.into_boxed_slice(),
            head_len,
            status,
            expires: now + Duration::from_secs(u64::from(plan.method.ttl_s)),
        });
        let mut shards = self.shards.borrow_mut();
        let shard = shards.entry(plan.stage.id).or_insert_with(|| {
            Shard::with(
                1024,
                capacity_bytes,
                Weigh,
                foldhash::fast::RandomState::default(),
                Default::default(),
            )
        });
        if shard.capacity() != capacity_bytes {
            shard.set_capacity(capacity_bytes);
        }
        let key: Box<[u8]> = plan.key.as_slice().into();
        if quick_cache::Weighter::weight(&Weigh, &key, &cached) > capacity_bytes {
            return None;
        }
        shard.insert(key, Rc::clone(&cached));
        Some(cached)
    }

    /// Drops the shards of stage caches not in `live`; returns (bytes, entries) held.
    pub fn housekeep(&self, live: &HashSet<u64>) -> (u64, u64) {
        let mut shards = self.shards.borrow_mut();
        shards.retain(|id, _| live.contains(id));
        shards
            .values()
            .fold((0, 0), |(b, n), s| (b + s.weight(), n + s.len() as u64))
    }
}

/// Headers a stored response does not keep: framing, the connection's, and per-request ids.
fn is_per_response(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 9] = [
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"x-amzn-requestid",
        b"x-amz-apigw-id",
        b"apigw-requestid",
        b"warning",
        b"date",
    ];
    NAMES.iter().any(|n| name.eq_ignore_ascii_case(n))
}

// === impl FlightGuard ===

impl FlightGuard<'_> {
    /// Hands the leader's result to its waiters.
    pub fn finish(self, result: Option<Rc<Cached>>) {
        *self.flight.result.borrow_mut() = Some(result);
        // Drop wakes the waiters and forgets the flight.
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        {
            let mut result = self.flight.result.borrow_mut();
            if result.is_none() {
                *result = Some(None);
            }
        }
        self.caches.flights.borrow_mut().remove(&self.key);
        for w in self.flight.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

// === impl Flight ===

impl Future for &Flight {
    type Output = Option<Rc<Cached>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.result.borrow().as_ref() {
            return Poll::Ready(r.clone());
        }
        self.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Waits for a leader's result, at most `bound`. `None`: go upstream.
pub async fn wait(flight: Rc<Flight>, bound: Duration) -> Option<Rc<Cached>> {
    monoio::time::timeout(bound, &*flight).await.ok().flatten()
}

/// The lookup of a planned request: a hit (or another request's fetch of the same key, waited
/// for within the integration's timeout); on a miss this request may lead the fetch (`flight`).
pub async fn lookup<'w>(
    caches: &'w Caches,
    plan: &Plan<'_, '_>,
    integration: &Integration,
    flight: &mut Option<FlightGuard<'w>>,
) -> Option<Rc<Cached>> {
    match caches.begin(plan, Instant::now()) {
        Begin::Hit(c) => Some(c),
        // Boxed: it pins a timer.
        Begin::Wait(f) => Box::pin(wait(f, wait_bound(integration))).await,
        Begin::Lead(guard) => {
            *flight = Some(guard);
            None
        }
        Begin::Miss => None,
    }
}

/// Stores a cached method's fetched response with `status` (the head and small body in `out`,
/// a large body in `tail`) and hands it to the requests waiting for it; adds the
/// ignored-invalidation warning when the plan says so. Not called for a hit or a refusal.
pub fn store(
    caches: &Caches,
    cfg: &DataPlaneConfig,
    p: &Plan<'_, '_>,
    flight: Option<FlightGuard<'_>>,
    status: u16,
    tail: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    let bytes = shard_bytes(cfg, &p.stage);
    let stored = caches.store(p, bytes, status, out, tail, Instant::now());
    if let Some(guard) = flight {
        guard.finish(stored);
    }
    if p.warn {
        add_warning(out);
    }
}

/// A worker's share of a stage cache's bound (or of the test override).
pub fn shard_bytes(cfg: &DataPlaneConfig, stage: &StageCache) -> u64 {
    cfg.cache_capacity_bytes_override
        .unwrap_or(stage.capacity_bytes)
        / cfg.workers.max(1) as u64
}

/// How long a waiter waits for its leader: the integration's timeout.
pub fn wait_bound(integration: &Integration) -> Duration {
    Duration::from_millis(u64::from(match integration {
        Integration::HttpProxy(p) => p.timeout_ms,
        Integration::Http(h) => h.target.timeout_ms,
        Integration::AwsService(s) => s.timeout_ms,
        Integration::Mock(_) => 0,
        Integration::Lambda(l) => l.target.timeout_ms,
    }))
}

/// Decides how the request uses the cache (`None`: not at all), building its key into `key`
/// (a buffer from the worker's free list, handed back in the plan or returned on `None`).
pub fn plan<'s, 'w>(
    bufs: &'w Buffers,
    resolved: &Resolved<'s>,
    req: &Request<'_>,
    may_invalidate: impl FnOnce() -> bool,
) -> Result<Option<Plan<'s, 'w>>, GatewayError> {
    let (Some(stage), Some(rest)) = (resolved.stage.cache, &resolved.route.rest) else {
        return Ok(None);
    };
    let (head, buf, headers) = (req.head, req.buf, req.headers);
    let method = match &rest.caching {
        Some(m) if head.method != http::Method::HEAD => m,
        _ => return Ok(None),
    };
    let invalidate = headers.iter().any(|&(n, v)| {
        bytes(buf, n).eq_ignore_ascii_case(b"cache-control")
            && bytes(buf, v)
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(b"max-age=0"))
    });
    let (refresh, warn) = match (invalidate, method.require_authorization) {
        (false, _) => (false, false),
        (true, false) => (true, false),
        (true, true) if may_invalidate() => (true, false),
        (true, true) => match method.unauthorized {
            UnauthorizedStrategy::FailWith403 => return Err(GatewayError::CacheControlDenied),
            UnauthorizedStrategy::SucceedWithResponseHeader => (false, true),
            UnauthorizedStrategy::SucceedWithoutResponseHeader => (false, false),
        },
    };
    // Only cached methods take a buffer for the key; it returns to the worker with the plan.
    let mut key = bufs.take();
    key.extend_from_slice(&stage.id.to_le_bytes());
    key.extend_from_slice(&method.scope.to_le_bytes());
    key.extend_from_slice(head.method.as_str().as_bytes());
    key.push(0);
    let route_path = resolved.route_path(buf);
    for p in method.key_parameters.iter() {
        let value = match p {
            KeyParameter::Query(name) => request::query(bytes(buf, head.query), name.as_bytes()),
            KeyParameter::Header(name) => request::header(buf, headers, name.as_bytes()),
            KeyParameter::Path(name) => resolved
                .matched
                .params
                .get(route_path, name)
                .map(str::as_bytes),
        };
        // Length-prefixed, so no value can imitate another parameter's.
        match value {
            Some(v) => {
                key.push(1);
                key.extend_from_slice(&(v.len() as u32).to_le_bytes());
                key.extend_from_slice(v);
            }
            None => key.push(0),
        }
    }
    Ok(Some(Plan {
        stage,
        method,
        key,
        refresh,
        warn,
    }))
}

/// Writes a stored response with fresh request ids, `Content-Length` framing and this
/// connection's `Connection` header.
pub fn write_hit(
    c: &Cached,
    request_id: RequestId,
    connection: ConnectionHeader,
    warn: bool,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&c.data[..c.head_len]);
    crate::respond::write_id_headers(out, request_id);
    if warn {
        write::header(out, b"warning", IGNORED_WARNING);
    }
    connection.write(out);
    let body = c.body();
    if c.status != 204 {
        write::header_u64(out, b"content-length", body.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Adds the ignored-invalidation warning to a response already written into `out`.
pub fn add_warning(out: &mut Vec<u8>) {
    if let Some(end) = memchr::memmem::find(out, b"\r\n\r\n") {
        let mut line = Vec::with_capacity(IGNORED_WARNING.len() + 12);
        write::header(&mut line, b"warning", IGNORED_WARNING);
        out.splice(end + 2..end + 2, line);
    }
}

#[cfg(test)]
mod tests {
    use portico_shared::snapshot::{RestMethod, Route, Stage};

    use super::*;
    use crate::stages::testing;

    #[test]
    fn query_values_and_trim() {
        use crate::request::query as query_value;
        assert_eq!(query_value(b"a=1&q=x&q=y", b"q"), Some(&b"x"[..]));
        assert_eq!(query_value(b"a=1&q", b"q"), Some(&b""[..]));
        assert_eq!(query_value(b"qq=1", b"q"), None);
        assert_eq!(query_value(b"", b"q"), None);
        assert_eq!(trim(b"  max-age=0 "), b"max-age=0");
        assert_eq!(trim(b"   "), b"");
    }

    /// A REST `GET /pets/{id}` method cached by `method` on a stage whose cache is `stage`
    /// (`None`: caching off), for the request `raw`: what `f` makes of it.
    fn with_plan<T>(
        stage: Option<StageCache>,
        method: Option<MethodCache>,
        raw: &str,
        f: impl FnOnce(&Resolved<'_>, &Request<'_>) -> T,
    ) -> T {
        let snapshot = testing::snapshot(
            r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"ANY /pets/{id}",
                "target":"integrations/up"}],
              "integrations":[{"integrationId":"up","integrationType":"HTTP_PROXY",
                "integrationUri":"http://127.0.0.1:9"}],
              "stages":[{"stageName":"$default"}]}]}"#,
        );
        let buf = raw.as_bytes();
        let (head, headers) = testing::head(buf);
        let rng = std::cell::Cell::new(1);
        let domain = "execute-api.localhost";
        let resolved = crate::stages::resolve::resolve(&snapshot, domain, &head, buf, None, &rng)
            .map_err(|m| m.error)
            .expect("resolves");
        // The compiled HTTP API's stage and route, as a REST stage with a cache would be.
        let stage = Stage {
            name: "$default".into(),
            router: resolved.stage.router.clone(),
            routes: Vec::new(),
            variables: Default::default(),
            gateway_responses: Default::default(),
            cache: stage,
            websocket: None,
            canary: None,
            is_canary: false,
            access_log: None,
        };
        let route = Route {
            route_key: "GET /pets/{id}".into(),
            stats_key: 1,
            integration: None,
            throttle: None,
            rest: Some(RestMethod {
                resource_path: "/pets/{id}".into(),
                resource_id: "r1".into(),
                http_method: "GET".into(),
                plan_method_key: "/pets/{id}/GET".into(),
                api_key_required: false,
                caching: method,
                validation: None,
                trace: Default::default(),
            }),
            auth: None,
            lambda_auth: None,
            aws_iam: false,
        };
        let mut resolved = resolved;
        (resolved.stage, resolved.route) = (&stage, &route);
        f(&resolved, &testing::request(&head, buf, &headers, &[]))
    }

    const STAGE: StageCache = StageCache {
        id: 7,
        capacity_bytes: 1 << 20,
    };

    fn method(require_authorization: bool, unauthorized: UnauthorizedStrategy) -> MethodCache {
        MethodCache {
            ttl_s: 300,
            scope: 9,
            key_parameters: Box::new([
                KeyParameter::Query("q".into()),
                KeyParameter::Header("X-K".into()),
                KeyParameter::Path("id".into()),
            ]),
            require_authorization,
            unauthorized,
        }
    }

    /// The key `plan` writes: stage cache id, method scope, method, then each key parameter
    /// (1, length, value; or 0 when absent).
    fn key(method: &str, values: [Option<&str>; 3]) -> Vec<u8> {
        let mut k = [STAGE.id.to_le_bytes(), 9u64.to_le_bytes()].concat();
        k.extend_from_slice(method.as_bytes());
        k.push(0);
        for v in values {
            match v {
                Some(v) => {
                    k.push(1);
                    k.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    k.extend_from_slice(v.as_bytes());
                }
                None => k.push(0),
            }
        }
        k
    }

    #[test]
    fn plans_bypass_key_and_cache_control() {
        use UnauthorizedStrategy::*;
        let open = method(false, FailWith403);
        let all = [Some("1"), Some("k1"), Some("7")];
        // (stage cache, method cache, request line, header lines, caller may invalidate,
        // the plan: key, refresh, warn; `Ok(None)`: the cache is bypassed)
        type Want = Result<Option<(Vec<u8>, bool, bool)>, GatewayError>;
        type Case = (
            Option<StageCache>,
            MethodCache,
            &'static str,
            &'static str,
            bool,
            Want,
        );
        let cases: Vec<Case> = vec![
            (
                None,
                open.clone(),
                "GET /pets/7?q=1",
                "X-K: k1\r\n",
                false,
                Ok(None),
            ),
            (
                Some(STAGE),
                open.clone(),
                "HEAD /pets/7?q=1",
                "X-K: k1\r\n",
                false,
                Ok(None),
            ),
            (
                Some(STAGE),
                open.clone(),
                "GET /pets/7?q=1",
                "X-K: k1\r\n",
                false,
                Ok(Some((key("GET", all), false, false))),
            ),
            // Absent parameters are marked, not skipped: no value imitates another.
            (
                Some(STAGE),
                open.clone(),
                "GET /pets/7",
                "",
                false,
                Ok(Some((key("GET", [None, None, Some("7")]), false, false))),
            ),
            (
                Some(STAGE),
                open.clone(),
                "GET /pets/7?q=1&q=2",
                "x-k:  k1 \r\nX-K: k2\r\n",
                false,
                Ok(Some((key("GET", all), false, false))),
            ),
            // `Cache-Control: max-age=0` refreshes the entry, when the caller may.
            (
                Some(STAGE),
                open.clone(),
                "GET /pets/7?q=1",
                "X-K: k1\r\nCache-Control: no-cache, Max-Age=0\r\n",
                false,
                Ok(Some((key("GET", all), true, false))),
            ),
            (
                Some(STAGE),
                open.clone(),
                "GET /pets/7?q=1",
                "X-K: k1\r\nCache-Control: max-age=10\r\n",
                false,
                Ok(Some((key("GET", all), false, false))),
            ),
            (
                Some(STAGE),
                method(true, FailWith403),
                "GET /pets/7?q=1",
                "X-K: k1\r\nCache-Control: max-age=0\r\n",
                true,
                Ok(Some((key("GET", all), true, false))),
            ),
            (
                Some(STAGE),
                method(true, FailWith403),
                "GET /pets/7?q=1",
                "X-K: k1\r\nCache-Control: max-age=0\r\n",
                false,
                Err(GatewayError::CacheControlDenied),
            ),
            (
                Some(STAGE),
                method(true, SucceedWithResponseHeader),
                "GET /pets/7?q=1",
                "X-K: k1\r\nCache-Control: max-age=0\r\n",
                false,
                Ok(Some((key("GET", all), false, true))),
            ),
            (
                Some(STAGE),
                method(true, SucceedWithoutResponseHeader),
                "GET /pets/7?q=1",
                "X-K: k1\r\nCache-Control: max-age=0\r\n",
                false,
                Ok(Some((key("GET", all), false, false))),
            ),
        ];
        let bufs = crate::buffers::Buffers::default();
        for (stage, m, line, lines, may, want) in cases {
            let raw = format!("{line} HTTP/1.1\r\nHost: abc.execute-api.localhost\r\n{lines}\r\n");
            let got = with_plan(stage, Some(m), &raw, |resolved, req| {
                let plan = plan(&bufs, resolved, req, || may)?;
                Ok(plan.map(|p| (p.key.as_slice().to_vec(), p.refresh, p.warn)))
            });
            assert_eq!(got, want, "{raw:?}");
        }
        // A method without caching is bypassed too.
        let raw = "GET /pets/7 HTTP/1.1\r\nHost: abc.execute-api.localhost\r\n\r\n";
        let got = with_plan(Some(STAGE), None, raw, |r, req| {
            plan(&bufs, r, req, || false).map(|p| p.is_none())
        });
        assert_eq!(got, Ok(true));
    }

    #[test]
    fn stored_responses_live_for_the_methods_ttl() {
        let raw = "GET /pets/7?q=1 HTTP/1.1\r\nHost: abc.execute-api.localhost\r\n\r\n";
        let m = method(false, UnauthorizedStrategy::FailWith403);
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let response =
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Amzn-RequestId: r1\r\nX-A: 1\r\n\r\nok";
        // (status stored, when looked up, found)
        let cases = [
            (200, t0, true),
            (200, t0 + 299 * s, true),
            (200, t0 + 300 * s, false),
            (500, t0, false),
            (304, t0, false),
        ];
        for (status, at, found) in cases {
            let bufs = crate::buffers::Buffers::default();
            let caches = Caches::default();
            with_plan(Some(STAGE), Some(m.clone()), raw, |resolved, req| {
                let p = plan(&bufs, resolved, req, || false)
                    .expect("a plan")
                    .expect("cached");
                caches.store(&p, STAGE.capacity_bytes, status, response, None, t0);
                match caches.begin(&p, at) {
                    Begin::Hit(c) => {
                        assert!(found, "{status} at {:?}", at - t0);
                        // Per-response headers are not kept; the body is.
                        assert_eq!(&c.data[..c.head_len], b"HTTP/1.1 200 OK\r\nX-A: 1\r\n");
                        assert_eq!(c.body(), b"ok");
                    }
                    _ => assert!(!found, "{status} at {:?}", at - t0),
                }
            });
        }
    }

    #[test]
    fn per_response_headers_are_not_stored() {
        assert!(is_per_response(b"Content-Length"));
        assert!(is_per_response(b"X-Amzn-RequestId"));
        assert!(!is_per_response(b"content-type"));
    }
}
