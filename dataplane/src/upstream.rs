//! Upstream HTTP/1.1 exchanges over a per-core keep-alive connection pool.
//!
//! # Architecture
//! 1. [`Pool`] keeps idle connections per upstream address, per worker (no sharing, no locks);
//!    the most recently used connection is reused first and connections idle past
//!    [`UPSTREAM_IDLE_TIMEOUT_MS`] are closed instead.
//! 2. [`UpstreamCall::exchange`] writes a prepared request, reads and frames the response
//!    (content-length, chunked, close-delimited, no-body), and returns the connection to the
//!    pool when it is clean. A reused connection that fails before any response byte is retried
//!    once on a fresh connection for idempotent methods (the upstream closed it while idle).
//!
//! 3. An [`Endpoint`] is an address and, for `https://`, the server name: TLS connections
//!    (rustls through `monoio-rustls`, see `tls.rs`) are pooled like plain ones, keyed by
//!    address and server name. Plain connections pay one enum branch per read and write.
//!
//! This is the data plane's one outbound HTTP/1.1 client: any caller (HTTP integrations, VPC
//! link pools, outbound AWS clients) serializes its request into [`UpstreamCall::req`] and calls
//! [`UpstreamCall::exchange_until`] with the end of the integration timeout (or
//! `integration::send`, which computes it).
//!
//! Invariant: the whole exchange is bounded by the integration timeout; a connection whose
//! exchange was abandoned is dropped, never pooled. The timer is pinned beside the exchange, which
//! is polled in place: neither is moved. (It is not kept with the reused buffers: a call object
//! passes between tasks, and monoio's timer keeps the first task's waker until it fires.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::buf::{IoBufMut, IoVecBufMut, Slice, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::ServerName;

use portico_shared::limits::{
    BUFFER_REUSE_MAX, BUFFER_REUSE_MAX_BYTES, UPSTREAM_BODY_MAX_BYTES, UPSTREAM_CONNECT_TIMEOUT_MS,
    UPSTREAM_HEADER_COUNT_MAX, UPSTREAM_HEADER_MAX_BYTES, UPSTREAM_IDLE_PER_HOST_MAX,
    UPSTREAM_IDLE_TIMEOUT_MS, UPSTREAM_PEEK_AFTER_IDLE_MS,
};

use crate::error::GatewayError;
use crate::http1::body::ChunkedDecoder;
use crate::http1::parse::{is_name, span_in, trim, Span};

/// Idle upstream connections of one worker.
pub struct Pool {
    idle: RefCell<HashMap<PoolKey, Vec<Idle>, foldhash::fast::FixedState>>,
    /// Runs the handshakes of `https://` endpoints.
    tls: TlsConnector,
}

/// Where an exchange goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    pub addr: SocketAddr,
    /// `https://`: the server name sent as SNI, which the certificate must name.
    pub tls: Option<&'a str>,
}

/// Pooled connections are interchangeable only for the same address and server name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PoolKey {
    addr: SocketAddr,
    /// 0: plain; else a hash of the server name.
    tls: u64,
}

/// One upstream connection.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls {
        stream: Box<ClientTlsStream<TcpStream>>,
        /// The TCP socket's descriptor, for the idle check (`monoio-rustls` hides the stream).
        fd: RawFd,
    },
}

#[derive(Debug)]
struct Idle {
    stream: Conn,
    since: Instant,
}

/// The buffers of one upstream exchange, reused across requests through the worker's buffer pool.
#[derive(Debug, Default)]
pub struct UpstreamCall {
    /// The serialized request (head and body).
    pub req: Vec<u8>,
    /// The response as read: head, then (unless chunked) the body.
    pub resp: Vec<u8>,
    /// The de-chunked body of a chunked response.
    pub dechunked: Vec<u8>,
    /// Response header spans into `resp`.
    pub headers: Vec<(Span, Span)>,
    /// The last exchange's time through [`crate::integration::send`], from sending to the
    /// response read (AWS's `IntegrationLatency`), µs.
    pub upstream_us: Option<u64>,
}

/// A worker's free [`UpstreamCall`]s: no allocation per request in steady state.
#[derive(Debug, Default)]
pub struct Calls(RefCell<Vec<UpstreamCall>>);

/// A framed upstream response; spans index into [`UpstreamCall::resp`].
#[derive(Debug, Clone, Copy)]
pub struct UpstreamResponse {
    pub status: u16,
    pub reason: Span,
    pub head_len: usize,
    pub body: ResponseBody,
    /// Names listed in the response's `Connection` header (hop-by-hop).
    pub connection_tokens: [Span; 8],
    pub connection_token_count: usize,
    /// The upstream answered HTTP/1.0 (keep-alive only on request).
    pub http10: bool,
}

/// Where a response body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body by rule (HEAD, 1xx, 204, 304).
    None,
    /// `resp[start..end]`.
    InResp(usize, usize),
    /// In [`UpstreamCall::dechunked`].
    Dechunked,
}

enum Failure {
    /// Nothing of a response arrived on a reused connection: may be retried.
    Stale,
    Fatal(GatewayError),
}

// === impl Pool ===

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.idle_count())
            .finish_non_exhaustive()
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new(crate::upstream_tls::client_config(None).expect("the built-in roots are valid"))
    }
}

impl Pool {
    /// An empty pool whose TLS connections use `tls`.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Pool {
        Pool {
            idle: RefCell::default(),
            tls: TlsConnector::from(tls),
        }
    }

    /// An idle connection to `key`. `check`: the request cannot be retried, so make sure the
    /// upstream has not closed the connection while it sat idle (one `MSG_PEEK`).
    fn take(&self, key: PoolKey, check: bool, now: Instant) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&key)?;
        let max_age = Duration::from_millis(UPSTREAM_IDLE_TIMEOUT_MS);
        while let Some(c) = list.pop() {
            let idle_for = now.saturating_duration_since(c.since);
            if idle_for >= max_age {
                continue;
            }
            // A connection idle for a while may have been closed by the upstream, or carry an
            // unsolicited response (a 408 before closing): peek before trusting it. Under load
            // connections are idle for far less, and the peek is skipped.
            let peek = check || idle_for >= Duration::from_millis(UPSTREAM_PEEK_AFTER_IDLE_MS);
            if !(peek && crate::sys::is_stale(&c.stream)) {
                return Some(c.stream);
            }
        }
        None
    }

    /// Closes idle connections past the idle timeout and forgets empty entries. Called by the
    /// worker's once-a-second housekeeping, so upstreams that left the configuration do not keep
    /// connections open.
    pub fn prune(&self) {
        let max_age = Duration::from_millis(UPSTREAM_IDLE_TIMEOUT_MS);
        let mut idle = self.idle.borrow_mut();
        idle.retain(|_, list| {
            list.retain(|c| c.since.elapsed() < max_age);
            !list.is_empty()
        });
    }

    /// `since`: when the exchange that used it began (one clock read an exchange: a connection
    /// then looks idle for as long as that exchange took more than it was, so it is peeked and
    /// expired a little early, never late).
    fn put(&self, key: PoolKey, stream: Conn, since: Instant) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(key).or_default();
        if list.len() >= UPSTREAM_IDLE_PER_HOST_MAX {
            // Drop the oldest: it is the likeliest to have been closed by the upstream.
            list.remove(0);
        }
        list.push(Idle { stream, since });
    }

    /// Idle connections held, for tests and stats.
    pub fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }
}

// === impl UpstreamCall ===

impl Calls {
    pub fn take(&self) -> UpstreamCall {
        self.0.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `call` for reuse, unless a large exchange grew it or enough are kept.
    pub fn give(&self, mut call: UpstreamCall) {
        if call.req.capacity() > BUFFER_REUSE_MAX_BYTES
            || call.resp.capacity() > BUFFER_REUSE_MAX_BYTES
            || call.dechunked.capacity() > BUFFER_REUSE_MAX_BYTES
        {
            return;
        }
        let mut calls = self.0.borrow_mut();
        if calls.len() < BUFFER_REUSE_MAX {
            call.clear();
            calls.push(call);
        }
    }
}

impl UpstreamCall {
    pub fn clear(&mut self) {
        self.req.clear();
        self.resp.clear();
        self.dechunked.clear();
        self.headers.clear();
        self.upstream_us = None;
    }

    /// [`UpstreamCall::exchange`], abandoned at `until`: `None` when that came first (the
    /// connection is dropped). `now`: as in `exchange`.
    pub async fn exchange_until(
        &mut self,
        pool: &Pool,
        to: Endpoint<'_>,
        head_only: bool,
        idempotent: bool,
        (now, until): (Instant, Instant),
    ) -> Option<Result<UpstreamResponse, GatewayError>> {
        let mut timer = pin!(monoio::time::sleep_until(monoio::time::Instant::from_std(
            until
        )));
        let mut exchange = pin!(self.exchange(pool, to, head_only, idempotent, now));
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(r) = exchange.as_mut().poll(cx) {
                return std::task::Poll::Ready(Some(r));
            }
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    /// Sends `self.req` to `to` and reads the response. `head_only`: the request was HEAD.
    /// `now`: the caller's clock reading as the exchange starts (the pool's idle ages use it).
    pub async fn exchange(
        &mut self,
        pool: &Pool,
        to: Endpoint<'_>,
        head_only: bool,
        idempotent: bool,
        now: Instant,
    ) -> Result<UpstreamResponse, GatewayError> {
        let key = PoolKey {
            addr: to.addr,
            tls: to.tls.map_or(0, |name| {
                foldhash::fast::FixedState::with_seed(0x0074_6c73).hash_one(name) | 1
            }),
        };
        for attempt in 0..2 {
            // A retry always uses a fresh connection: the other idle ones may be as stale.
            let pooled = if attempt == 0 {
                pool.take(key, !idempotent, now)
            } else {
                None
            };
            let (mut stream, reused) = match pooled {
                Some(s) => (s, true),
                // Boxed: connecting (and a TLS handshake) is the cold path, and its large
                // future would otherwise be part of every exchange's.
                None => (Box::pin(connect(pool, to)).await?, false),
            };
            match self.attempt(&mut stream, reused, head_only).await {
                Ok((resp, reusable)) => {
                    if reusable {
                        pool.put(key, stream, now);
                    }
                    return Ok(resp);
                }
                Err(Failure::Stale) if idempotent && attempt == 0 => continue,
                Err(Failure::Stale) => {
                    return Err(GatewayError::UpstreamConnect(
                        "connection closed before a response",
                    ))
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        Err(GatewayError::UpstreamConnect(
            "connection closed before a response",
        ))
    }

    async fn attempt(
        &mut self,
        stream: &mut Conn,
        reused: bool,
        head_only: bool,
    ) -> Result<(UpstreamResponse, bool), Failure> {
        self.resp.clear();
        self.dechunked.clear();
        let req = std::mem::take(&mut self.req);
        // Plain TCP: straight into the socket (it has room for a request head almost always);
        // the ring takes whatever is left.
        let sent = match stream {
            Conn::Plain(s) => crate::sys::send_now(s, &req),
            Conn::Tls { .. } => Ok(0),
        };
        let res = match sent {
            Ok(n) if n == req.len() => {
                self.req = req;
                Ok(())
            }
            Ok(n) => {
                let len = req.len();
                let (res, rest) = stream.write_all(Slice::new(req, n, len)).await;
                self.req = rest.into_inner();
                res.map(drop)
            }
            Err(e) => {
                self.req = req;
                Err(e)
            }
        };
        if res.is_err() {
            return Err(if reused {
                Failure::Stale
            } else {
                Failure::Fatal(GatewayError::UpstreamConnect("write failed"))
            });
        }
        // Head.
        let (mut response, framing) = loop {
            // Nothing to parse before the first read.
            let parsed = if self.resp.is_empty() {
                None
            } else {
                self.parse_head(head_only)?
            };
            match parsed {
                Some((r, _)) if (100..200).contains(&r.status) && r.status != 101 => {
                    // Interim response: drop it and read the final one.
                    self.resp.drain(..r.head_len);
                    continue;
                }
                Some(final_head) => break final_head,
                None => {}
            }
            if self.resp.len() >= UPSTREAM_HEADER_MAX_BYTES {
                return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                    "response head too large",
                )));
            }
            let n = read_more(stream, &mut self.resp, 4096).await;
            match n {
                Ok(0) | Err(_) if self.resp.is_empty() && reused => return Err(Failure::Stale),
                Ok(0) => {
                    return Err(Failure::Fatal(GatewayError::UpstreamConnect(
                        "connection closed before a response",
                    )))
                }
                Err(_) => {
                    return Err(Failure::Fatal(GatewayError::UpstreamConnect(
                        "connection reset",
                    )))
                }
                Ok(_) => {}
            }
        };
        let framing = framing.map_err(|why| Failure::Fatal(GatewayError::UpstreamProtocol(why)))?;
        let head_len = response.head_len;
        let mut reusable = framing.keep_alive;
        match framing.kind {
            Framing::None => {
                response.body = ResponseBody::None;
                reusable &= self.resp.len() == head_len;
            }
            Framing::Length(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > UPSTREAM_BODY_MAX_BYTES {
                    return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                        "response body too large",
                    )));
                }
                let want = head_len + n;
                while self.resp.len() < want {
                    let missing = want - self.resp.len();
                    match read_more(stream, &mut self.resp, missing).await {
                        Ok(0) => {
                            return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                                "response body truncated",
                            )))
                        }
                        Err(_) => {
                            return Err(Failure::Fatal(GatewayError::UpstreamConnect(
                                "connection reset",
                            )))
                        }
                        Ok(_) => {}
                    }
                }
                reusable &= self.resp.len() == want;
                response.body = ResponseBody::InResp(head_len, want);
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::new(UPSTREAM_BODY_MAX_BYTES);
                let mut pos = head_len;
                loop {
                    let used = decoder
                        .decode(&self.resp[pos..], &mut self.dechunked)
                        .map_err(|_| {
                            Failure::Fatal(GatewayError::UpstreamProtocol("invalid chunked body"))
                        })?;
                    pos += used;
                    if decoder.is_done() {
                        break;
                    }
                    // Everything after the head has been decoded: drop it so a long body is not
                    // held twice (the header spans stay valid).
                    self.resp.truncate(head_len);
                    pos = head_len;
                    match read_more(stream, &mut self.resp, 16 * 1024).await {
                        Ok(0) => {
                            return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                                "chunked body truncated",
                            )))
                        }
                        Err(_) => {
                            return Err(Failure::Fatal(GatewayError::UpstreamConnect(
                                "connection reset",
                            )))
                        }
                        Ok(_) => {}
                    }
                }
                reusable &= pos == self.resp.len();
                response.body = ResponseBody::Dechunked;
            }
            Framing::Close => {
                loop {
                    if self.resp.len() - head_len > UPSTREAM_BODY_MAX_BYTES {
                        return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                            "response body too large",
                        )));
                    }
                    match read_more(stream, &mut self.resp, 16 * 1024).await {
                        Ok(0) => break,
                        Err(_) => {
                            return Err(Failure::Fatal(GatewayError::UpstreamConnect(
                                "connection reset",
                            )))
                        }
                        Ok(_) => {}
                    }
                }
                reusable = false;
                response.body = ResponseBody::InResp(head_len, self.resp.len());
            }
        }
        Ok((response, reusable))
    }

    /// Parses the response head in `resp` and decides its framing in the same pass over the
    /// headers. The framing is a `Result` the caller raises only for a final response: an
    /// interim (1xx) one is dropped whatever it says.
    fn parse_head(
        &mut self,
        head_only: bool,
    ) -> Result<Option<(UpstreamResponse, FrameOrWhy)>, Failure> {
        let mut storage = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() };
            UPSTREAM_HEADER_COUNT_MAX];
        let mut r = httparse::Response::new(&mut []);
        let head_len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut r,
            &self.resp,
            &mut storage,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => {
                return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                    "invalid response head",
                )))
            }
        };
        let base = self.resp.as_ptr() as usize;
        let len = self.resp.len();
        let span = |s: &[u8]| -> Span { span_in(base, len, s) };
        let status = r
            .code
            .ok_or(Failure::Fatal(GatewayError::UpstreamProtocol("no status")))?;
        if !(100..=599).contains(&status) || status == 101 {
            // 101 would switch protocols on a pooled connection nobody asked to upgrade.
            return Err(Failure::Fatal(GatewayError::UpstreamProtocol(
                "unexpected status",
            )));
        }
        let reason = span(r.reason.unwrap_or("").as_bytes());
        self.headers.clear();
        let mut out = UpstreamResponse {
            status,
            reason,
            head_len,
            body: ResponseBody::None,
            connection_tokens: [(0, 0); 8],
            connection_token_count: 0,
            http10: r.version == Some(0),
        };
        let mut facts = FramingFacts::default();
        for h in r.headers.iter() {
            let (name, value) = (span(h.name.as_bytes()), span(h.value));
            self.headers.push((name, value));
            // Only three names matter to framing: compare lengths first, bytes after.
            let name = h.name.as_bytes();
            match name.len() {
                10 if is_name(name, b"connection") => {
                    for token in h.value.split(|&b| b == b',') {
                        let token = trim(token);
                        let close = crate::text::eq_ignore_case(token, b"close");
                        let keep_alive = crate::text::eq_ignore_case(token, b"keep-alive");
                        facts.close |= close;
                        facts.keep_alive_token |= keep_alive;
                        // `close` and `keep-alive` name no header to drop (`Keep-Alive` is
                        // hop-by-hop anyway): the list stays empty for the usual response.
                        if !token.is_empty()
                            && !close
                            && !keep_alive
                            && out.connection_token_count < out.connection_tokens.len()
                        {
                            out.connection_tokens[out.connection_token_count] = span(token);
                            out.connection_token_count += 1;
                        }
                    }
                }
                14 if is_name(name, b"content-length") => match parse_decimal(trim(h.value)) {
                    None => facts.bad = Some("invalid Content-Length"),
                    Some(n) if facts.length.is_some_and(|l| l != n) => {
                        facts.bad = Some("conflicting Content-Length")
                    }
                    Some(n) => facts.length = Some(n),
                },
                17 if is_name(name, b"transfer-encoding") => {
                    facts.te = true;
                    let last = trim(h.value)
                        .rsplit(|&b| b == b',')
                        .next()
                        .map(trim)
                        .unwrap_or_default();
                    facts.chunked = last.eq_ignore_ascii_case(b"chunked");
                }
                _ => {}
            }
        }
        let frame = facts.frame(status, out.http10, head_only);
        Ok(Some((out, frame)))
    }

    /// The response body bytes.
    pub fn body(&self, r: &UpstreamResponse) -> &[u8] {
        match r.body {
            ResponseBody::None => &[],
            ResponseBody::InResp(s, e) => &self.resp[s..e],
            ResponseBody::Dechunked => &self.dechunked,
        }
    }
}

/// A final response's framing, or why it cannot be framed (raised only for a final response).
type FrameOrWhy = Result<Frame, &'static str>;

/// What the response's headers say about its framing, gathered while they are parsed.
#[derive(Default)]
struct FramingFacts {
    close: bool,
    keep_alive_token: bool,
    length: Option<u64>,
    te: bool,
    chunked: bool,
    /// An invalid or conflicting Content-Length (the first one seen).
    bad: Option<&'static str>,
}

impl FramingFacts {
    fn frame(&self, status: u16, http10: bool, head_only: bool) -> Result<Frame, &'static str> {
        if let Some(bad) = self.bad {
            return Err(bad);
        }
        let keep_alive = if http10 {
            self.keep_alive_token && !self.close
        } else {
            !self.close
        };
        let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
        let kind = if no_body {
            Framing::None
        } else if self.te && self.length.is_some() {
            return Err("Content-Length with Transfer-Encoding");
        } else if self.te {
            if !self.chunked {
                // A body in a transfer coding the client was never told about (gzip without
                // chunked) cannot be passed on faithfully.
                return Err("unsupported Transfer-Encoding");
            }
            Framing::Chunked
        } else if let Some(n) = self.length {
            Framing::Length(n)
        } else {
            Framing::Close
        };
        Ok(Frame { kind, keep_alive })
    }
}

impl UpstreamResponse {
    /// Names listed in the response's `Connection` header.
    pub fn connection_tokens(&self) -> &[Span] {
        &self.connection_tokens[..self.connection_token_count]
    }
}

struct Frame {
    kind: Framing,
    keep_alive: bool,
}

enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// Why connecting failed (defined beside the error type that carries them).
pub use crate::error::{CONNECT_FAILED, CONNECT_TIMED_OUT};
/// The TLS handshake failed (untrusted or mismatched certificate, protocol error).
pub const TLS_HANDSHAKE_FAILED: &str = "TLS handshake failed";

async fn connect(pool: &Pool, to: Endpoint<'_>) -> Result<Conn, GatewayError> {
    let connect = TcpStream::connect_addr(to.addr);
    let limit = Duration::from_millis(UPSTREAM_CONNECT_TIMEOUT_MS);
    let tcp = match monoio::time::timeout(limit, connect).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            s
        }
        Ok(Err(_)) => return Err(GatewayError::UpstreamConnect(CONNECT_FAILED)),
        Err(_) => return Err(GatewayError::UpstreamConnect(CONNECT_TIMED_OUT)),
    };
    let Some(name) = to.tls else {
        return Ok(Conn::Plain(tcp));
    };
    let fd = tcp.as_raw_fd();
    let name = ServerName::try_from(name.to_string())
        .map_err(|_| GatewayError::UpstreamConnect(TLS_HANDSHAKE_FAILED))?;
    match monoio::time::timeout(limit, pool.tls.connect(name, tcp)).await {
        Ok(Ok(stream)) => Ok(Conn::Tls {
            stream: Box::new(stream),
            fd,
        }),
        Ok(Err(e)) => {
            tracing::debug!(upstream = %to.addr, error = %e, "upstream TLS handshake failed");
            Err(GatewayError::UpstreamConnect(TLS_HANDSHAKE_FAILED))
        }
        Err(_) => Err(GatewayError::UpstreamConnect(CONNECT_TIMED_OUT)),
    }
}

// === impl Conn ===

// The TLS arms are boxed: a rustls stream's read and write futures are several hundred bytes,
// and inline they would size every request's pipeline future (boxed and copied once per
// request by `conn::serve`), plain upstreams included. An HTTPS upstream pays one allocation
// per read or write, next to the cost of the TLS record itself.
impl Conn {
    async fn write_all<T: monoio::buf::IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Plain(s) => s.write_all(buf).await,
            Conn::Tls { stream, .. } => Box::pin(stream.write_all(buf)).await,
        }
    }
}

impl AsyncReadRent for Conn {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls { stream, .. } => Box::pin(stream.read(buf)).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Conn::Plain(s) => s.readv(buf).await,
            Conn::Tls { stream, .. } => Box::pin(stream.readv(buf)).await,
        }
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Conn::Plain(s) => s.as_raw_fd(),
            Conn::Tls { fd, .. } => *fd,
        }
    }
}

/// Reads once into `buf`'s spare capacity, growing it by at least `want` (bounded) first.
pub async fn read_more<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    want: usize,
) -> std::io::Result<usize> {
    let spare = buf.capacity() - buf.len();
    if spare < want.min(64 * 1024) {
        buf.reserve(want.clamp(4096, 1024 * 1024));
    }
    let owned = std::mem::take(buf);
    let (len, cap) = (owned.len(), owned.capacity());
    let (res, slice) = stream.read(SliceMut::new(owned, len, cap)).await;
    *buf = slice.into_inner();
    res
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}
