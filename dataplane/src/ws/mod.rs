//! WebSocket APIs on the data plane: the upgrade, the message loop, `$connect`/`$disconnect`,
//! and the per-core connection registry that the `@connections` API ([`manage`]) reaches.
//!
//! # Architecture
//! 1. `conn::serve` asks [`classify`] about each request head: a request to a WebSocket API is
//!    either an upgrade ([`upgrade`]) or an `@connections` call ([`manage::serve`]).
//! 2. [`upgrade`] checks the RFC 6455 handshake, holds it while the `$connect` integration
//!    runs (a non-2xx answer refuses the upgrade with that status), then answers 101 and
//!    registers the connection on this worker's [`Registry`].
//! 3. The connection's task reads frames ([`frame::decode`]), assembles messages, selects a
//!    route by the API's route selection expression and invokes its integration
//!    ([`event::invoke`]); a writer task drains the connection's outbound queue (route
//!    responses, posts from `@connections`, pongs, close frames).
//! 4. When the connection ends, whoever closed it, it leaves the registry and `$disconnect` is
//!    invoked exactly once.
//!
//! Invariants: a connection lives on the worker that accepted it, and its id names that worker
//! (`ConnectionId`); another worker reaches it only through that worker's inbox (a lock-free
//! `mpsc` queue and a wake-up byte on a socket pair), never by touching its state. Every wait
//! is bounded: idle timeout, maximum duration, integration timeout, write timeout.

pub mod auth;
mod duplex;
pub mod event;
mod forward;
pub mod frame;
pub mod manage;
pub(crate) mod registry;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;

use portico_shared::limits::READ_BUF_BYTES;
use portico_shared::model::ProtocolType;
use portico_shared::snapshot::TraceLevel;
use portico_shared::websocket::WsStage;

use crate::buffers::Buffers;
use crate::config::DataPlaneConfig;
use crate::downstream::Downstream;
use crate::http1::parse::{bytes, trim};
use crate::http1::{RequestHead, Version};
use crate::observe::LocalStats;
use crate::request_id::RequestIds;
use crate::shutdown::Shutdown;
use crate::snapshots::Snapshots;
use crate::stages::authorize::lambda::DecisionCache;
use crate::upstream::{Calls, Pool, UpstreamCall};

pub use registry::{channels, serve_inbox, Conn, ConnectionId, Inbox, Peers, Registry};

use event::{Event, EventType};
use frame::Opcode;

/// What the WebSocket code uses of its worker's per-core state, borrowed from the worker (which
/// holds this core's [`Registry`] among that state) through [`Host`]: so `ws` does not import
/// `worker`, and imports between the two point one way. Field names are the worker's.
#[derive(Debug, Clone, Copy)]
pub struct Core<'w> {
    pub id: usize,
    pub cfg: &'w DataPlaneConfig,
    pub snapshots: &'w Snapshots,
    pub ids: &'w RequestIds,
    pub pool: &'w Pool,
    /// Lambda authorizer decisions of this core (`$connect`'s authorizer).
    pub authorizers: &'w DecisionCache,
    pub stats: &'w RefCell<LocalStats>,
    /// The worker's requests in flight; an open connection counts as one, so a drain waits for
    /// its `$disconnect`.
    pub in_flight: &'w Cell<usize>,
    pub shutdown: &'w Shutdown,
    /// This core's connections.
    pub ws: &'w Registry,
    pub bufs: &'w Buffers,
    pub calls: &'w Calls,
}

/// A worker as the WebSocket tasks own it (`Rc<impl Host>`): a connection after its upgrade, and
/// the inbox, run in tasks of their own. Generic rather than `Rc<Worker>` for the reason
/// [`Core`] gives; the one implementation is the worker's, so nothing is dispatched at run time.
pub trait Host: 'static {
    fn core(&self) -> Core<'_>;
}

impl Core<'_> {
    /// The current snapshot (see `Worker::snapshot`).
    #[allow(clippy::redundant_allocation)]
    pub fn snapshot(&self) -> Rc<std::sync::Arc<portico_shared::Snapshot>> {
        self.snapshots.get()
    }

    /// What the integrations may use of this worker (see `Worker::upstreams`).
    pub fn upstreams(&self) -> crate::integration::Upstreams<'_> {
        crate::integration::Upstreams {
            id: self.id,
            cfg: self.cfg,
            pool: self.pool,
            bufs: self.bufs,
        }
    }

    pub fn take_call(&self) -> UpstreamCall {
        self.calls.take()
    }

    pub fn give_call(&self, call: UpstreamCall) {
        self.calls.give(call)
    }
}

/// What a request to the data plane is, as far as WebSocket APIs are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not a WebSocket API: the HTTP pipeline serves it.
    Http,
    /// A request to a WebSocket API's stage: an upgrade (or refused as one).
    Upgrade,
    /// `/{stage}/@connections/{id}`.
    Manage,
}

/// Where a WebSocket API's stage is in a request: the stage name and the path below it.
pub(crate) fn stage_of<'s, 'p>(
    api: &'s portico_shared::snapshot::Api,
    path: &'p str,
) -> Option<(&'s portico_shared::snapshot::Stage, &'s WsStage, &'p str)> {
    let (stage, rest) = api.select_stage(path)?;
    Some((stage, stage.websocket.as_deref()?, rest))
}

/// The WebSocket API stage a request addresses, and the path below it: by the execute-api
/// host name (`/{stage}/...`), or by a custom domain's API mapping (the mapping's stage, the
/// path below its key) on either listener.
#[allow(clippy::type_complexity)]
pub(crate) fn target<'s, 'b>(
    snapshot: &'s portico_shared::Snapshot,
    domain: &str,
    head: &RequestHead,
    buf: &'b [u8],
    tls: Option<&crate::tls::TlsSession>,
) -> Option<(
    &'s portico_shared::snapshot::Api,
    &'s portico_shared::snapshot::Stage,
    &'s WsStage,
    &'b str,
)> {
    let (api, mapping) =
        crate::stages::resolve::select_api(snapshot, domain, head, buf, tls).ok()?;
    if api.protocol != ProtocolType::Websocket {
        return None;
    }
    let (stage, ws, rest) = match mapping {
        None => stage_of(api, std::str::from_utf8(bytes(buf, head.path)).ok()?)?,
        Some((m, rest)) => match m.stage.as_deref() {
            Some(name) => {
                let stage = api.stage(name)?;
                (stage, stage.websocket.as_deref()?, rest)
            }
            None => stage_of(api, rest)?,
        },
    };
    Some((api, stage, ws, rest))
}

/// Whether `head` is for a WebSocket API, and how. Synchronous; reads the snapshot only.
///
/// Costs an ordinary request two scans of bytes already parsed: only a request that asks for an
/// upgrade (`Connection: upgrade`) or names `connections` in its path goes on to API lookup. A
/// plain request to a WebSocket stage reaches the HTTP pipeline, which answers 404 (a WebSocket
/// stage has no HTTP routes), as does a request for a stage that does not exist.
pub fn classify(
    cfg: &DataPlaneConfig,
    snapshots: &Snapshots,
    head: &RequestHead,
    buf: &[u8],
    tls: Option<&crate::tls::TlsSession>,
) -> Kind {
    let upgrade = head.connection_tokens[..head.connection_token_count]
        .iter()
        .any(|t| bytes(buf, *t).eq_ignore_ascii_case(b"upgrade"));
    // `@connections` paths hold `@` or its escape `%40`: one byte scan rules most paths out.
    let path = bytes(buf, head.path);
    if !upgrade
        && (memchr::memchr2(b'@', b'%', path).is_none()
            || memchr::memmem::find(path, b"connections/").is_none())
    {
        return Kind::Http;
    }
    let snapshot = snapshots.get();
    match target(&snapshot, &cfg.domain, head, buf, tls) {
        None => Kind::Http,
        Some((_, _, _, rest)) if manage::is_connections_path(rest) => Kind::Manage,
        Some(_) => Kind::Upgrade,
    }
}

/// The first value of header `name` in the request (see [`crate::request::header`]).
fn header<'b, S>(d: &'b Downstream<S>, name: &str) -> Option<&'b [u8]> {
    crate::request::header(&d.buf, &d.headers, name.as_bytes())
}

fn has_token(value: Option<&[u8]>, token: &str) -> bool {
    value.is_some_and(|v| {
        v.split(|&b| b == b',')
            .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Answers a refused upgrade and closes.
pub(crate) async fn refuse<S: crate::downstream::Stream>(
    d: &mut Downstream<S>,
    status: u16,
    message: &str,
) {
    refuse_with(d, status, None, message).await;
}

/// Answers a refused upgrade (with AWS's `x-amzn-ErrorType` when given) and closes.
async fn refuse_with<S: crate::downstream::Stream>(
    d: &mut Downstream<S>,
    status: u16,
    error_type: Option<&str>,
    message: &str,
) {
    let mut out = Vec::with_capacity(128);
    let mut body = Vec::with_capacity(message.len() + 16);
    body.extend_from_slice(b"{\"message\":\"");
    crate::request::escape_json(&mut body, message.as_bytes());
    body.extend_from_slice(b"\"}");
    crate::http1::write::status_line(&mut out, status, crate::http1::write::reason(status));
    crate::http1::write::header(&mut out, b"content-type", b"application/json");
    if let Some(t) = error_type {
        crate::http1::write::header(&mut out, b"x-amzn-errortype", t.as_bytes());
    }
    crate::http1::write::header_u64(&mut out, b"content-length", body.len() as u64);
    crate::http1::write::header(&mut out, b"connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    let _ = monoio::time::timeout(d.write_timeout, d.stream.write_all(out)).await;
}

/// Serves a request to a WebSocket API stage: the handshake, `$connect`, then the connection
/// until it closes, then `$disconnect`.
pub async fn upgrade<S: crate::downstream::Stream, H: Host>(
    host: Rc<H>,
    mut d: Downstream<S>,
    head: RequestHead,
) {
    let core = host.core();
    let w = &core;
    let key = header(&d, "sec-websocket-key").map(<[u8]>::to_vec);
    let ok = head.method == http::Method::GET
        && head.version == Version::Http11
        && has_token(header(&d, "upgrade"), "websocket")
        && has_token(header(&d, "connection"), "upgrade");
    if !ok {
        return refuse(&mut d, 426, "Upgrade Required").await;
    }
    let Some(key) = key.filter(|k| registry::base64_decode(k).is_some_and(|k| k.len() == 16))
    else {
        return refuse(&mut d, 400, "Bad Request").await;
    };
    if header(&d, "sec-websocket-version") != Some(b"13") {
        return refuse(&mut d, 426, "Upgrade Required").await;
    }
    let snapshot = w.snapshot();
    let Some((api, stage, ws, _)) =
        target(&snapshot, &w.cfg.domain, &head, &d.buf, d.tls.as_deref())
            .filter(|(_, _, _, r)| *r == "/" || r.is_empty())
    else {
        return refuse(&mut d, 404, "Not Found").await;
    };
    let mut conn = w.ws.allocate(
        api.id.as_ref(),
        stage.name.as_ref(),
        d.peer.ip(),
        header(&d, "user-agent").unwrap_or_default(),
        crate::integration::lambda::host_name(
            head.host.map(|h| bytes(&d.buf, h)).unwrap_or_default(),
        ),
        w.cfg.now_ms(),
    );
    // Who may connect: decided before `$connect` is invoked. The `Conn` is not registered yet
    // (its id is in a Lambda authorizer's event); a refusal drops it.
    let connect_auth = match ws.route(ws.connect) {
        Some(route) => {
            let t = auth::Target {
                api_id: &api.id,
                stage: &stage.name,
                stage_variables: &stage.variables,
                route,
                conn: &conn,
            };
            auth::authorize(w, &snapshot, &t, &d, &head).await
        }
        None => Ok(auth::ConnectAuth::default()),
    };
    let connect_auth = match connect_auth {
        Ok(a) => a,
        Err(r) => {
            w.ws.stats.client_error(w);
            if let Some(route) = ws
                .route(ws.connect)
                .filter(|r| r.trace.level != TraceLevel::Off)
            {
                let id = w.ids.next();
                let refused = crate::trace::WsOutcome::Refused {
                    status: r.status,
                    message: &r.message,
                };
                crate::trace::ws_record(&crate::trace::WsFinished {
                    trace: route.trace,
                    route_key: Some(&route.route_key),
                    ..event::exec_log(&id, &conn, EventType::Connect, refused)
                });
            }
            return refuse_with(&mut d, r.status, Some(r.error_type), &r.message).await;
        }
    };
    conn.iam = connect_auth.iam;
    conn.authorizer = connect_auth.lambda;

    // `$connect`: the upgrade waits for it; a non-2xx answer refuses it with that status.
    let mut subprotocol = None;
    if let Some(route) = ws.route(ws.connect) {
        let request_id = w.ids.next();
        let ev = Event {
            kind: EventType::Connect,
            route_key: &route.route_key,
            conn: &conn,
            request_id,
            message_id: None,
            body: &[],
            binary: false,
            disconnect: None,
            handshake: Some((&d.buf, &d.headers, head.query)),
            stage_variables: &stage.variables,
        };
        let started = Instant::now();
        let answer = match &route.integration {
            // Boxed, here and for every event: the connection's long-lived future stays small,
            // and an integration call's state exists only while it runs.
            Some(i) => Box::pin(event::invoke(w, i, &ev)).await,
            None => Ok(event::Answer::empty(200)),
        };
        w.ws.stats.record(w, &ev, stage, route, &answer, started);
        match answer {
            Ok(a) if (200..300).contains(&a.status) => subprotocol = a.subprotocol,
            Ok(a) => {
                let reason = std::str::from_utf8(crate::http1::write::reason(a.status))
                    .unwrap_or("Forbidden");
                return refuse(&mut d, a.status, reason).await;
            }
            Err(_) => return refuse(&mut d, 500, "Internal server error").await,
        }
    }
    drop(snapshot);

    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ");
    out.extend_from_slice(&registry::accept_key(&key));
    out.extend_from_slice(b"\r\n");
    if let Some(p) = &subprotocol {
        crate::http1::write::header(&mut out, b"sec-websocket-protocol", p);
    }
    out.extend_from_slice(b"\r\n");
    let written = monoio::time::timeout(d.write_timeout, d.stream.write_all(out)).await;
    if !matches!(written, Ok((Ok(_), _))) {
        return;
    }
    drop(written);
    d.buf.drain(..head.head_len.min(d.buf.len()));
    // Nothing of the handshake outlives it: an idle connection holds its buffer, its `Conn` and
    // two small tasks.
    drop((key, subprotocol));
    let Downstream {
        stream,
        buf,
        headers,
        write_timeout,
        ..
    } = d;
    drop(headers);
    let Some((rd, wr)) = duplex::split(stream) else {
        return;
    };
    let conn = conn.start(wr, write_timeout);
    w.ws.insert(Rc::clone(&conn));
    // Counted in flight: a drain closes the connection (1001) and waits for its `$disconnect`.
    w.in_flight.set(w.in_flight.get() + 1);
    if w.shutdown.is_fired() {
        // The drain began during `$connect`, after the registry was closed.
        conn.go_away();
    }
    monoio::spawn(live(host, conn, rd, buf));
}

/// The connection after the 101, in its own task: nothing of the handshake (request head,
/// downstream state, the generic upgrade's future) stays in memory while it is idle.
async fn live<H: Host>(host: Rc<H>, conn: Rc<Conn>, rd: duplex::ReadHalf, buf: Vec<u8>) {
    let w = &host.core();
    let (code, reason) = read_loop(w, &conn, rd, buf).await;
    w.ws.remove(&conn);
    conn.close(code, reason);
    Box::pin(disconnect(w, &conn, code, reason)).await;
    w.in_flight.set(w.in_flight.get() - 1);
}

/// Invokes `$disconnect` once, after the connection closed.
async fn disconnect(w: &Core<'_>, conn: &Conn, code: u16, reason: &str) {
    let snapshot = w.snapshot();
    let Some((stage, ws)) = conn.stage(&snapshot) else {
        return;
    };
    let Some(route) = ws.route(ws.disconnect) else {
        return;
    };
    let Some(integration) = &route.integration else {
        return;
    };
    let ev = Event {
        kind: EventType::Disconnect,
        route_key: &route.route_key,
        conn,
        request_id: w.ids.next(),
        message_id: None,
        body: &[],
        binary: false,
        disconnect: Some((code, reason)),
        handshake: None,
        stage_variables: &stage.variables,
    };
    let started = Instant::now();
    let answer = event::invoke(w, integration, &ev).await;
    w.ws.stats.record(w, &ev, stage, route, &answer, started);
}

/// Reads `rd` until the connection ends; returns the close code and reason `$disconnect`
/// reports.
async fn read_loop(
    w: &Core<'_>,
    conn: &Rc<Conn>,
    mut rd: duplex::ReadHalf,
    mut buf: Vec<u8>,
) -> (u16, &'static str) {
    let limits = &w.cfg.ws;
    let opened = Instant::now();
    // One timer for the connection's life: each wait is bounded by the idle timeout and the
    // maximum duration, whichever comes first.
    let mut deadline = crate::deadline::Deadline::after(limits.idle_timeout);
    let mut message: Vec<u8> = Vec::new();
    let mut message_opcode: Option<Opcode> = None;
    // How much of a text message is known to be valid UTF-8: each byte is checked once.
    let mut utf8_checked = 0usize;
    loop {
        // Frames already buffered first; `pos` is where the next one starts (the buffer is
        // shifted once per read, not once per frame).
        let mut pos = 0usize;
        loop {
            let decoded = frame::decode(&mut buf[pos..], limits.frame_max_bytes);
            let f = match decoded {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return conn.fail(e.close_code(), "Protocol error"),
            };
            let payload = pos + f.payload.0..pos + f.payload.1;
            match f.opcode {
                Opcode::Ping => conn.send(Opcode::Pong, &buf[payload]),
                Opcode::Pong => {}
                Opcode::Close => return close_received(conn, &buf[payload]),
                Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                    match (f.opcode, message_opcode) {
                        (Opcode::Continuation, None) => {
                            return conn.fail(1002, "Continuation without a message")
                        }
                        (Opcode::Text | Opcode::Binary, Some(_)) => {
                            return conn.fail(1002, "New message inside a fragmented one")
                        }
                        (Opcode::Text | Opcode::Binary, None) => message_opcode = Some(f.opcode),
                        _ => {}
                    }
                    if message.len() + payload.len() > limits.message_max_bytes {
                        return conn.fail(1009, "Message too big");
                    }
                    if message.capacity() == 0 {
                        message = w.bufs.lend();
                    }
                    message.extend_from_slice(&buf[payload]);
                    if message_opcode == Some(Opcode::Text)
                        && !utf8_advance(&message, &mut utf8_checked, f.fin)
                    {
                        return conn.fail(1007, "Invalid UTF-8");
                    }
                }
            }
            pos += f.len;
            if f.fin && !f.opcode.is_control() {
                let binary = message_opcode == Some(Opcode::Binary);
                message_opcode = None;
                conn.touch(w.cfg.now_ms());
                Box::pin(on_message(w, conn, &message, binary)).await;
                message.clear();
                utf8_checked = 0;
                if message.capacity() > 64 * 1024 {
                    message = Vec::new();
                }
            }
        }
        buf.drain(..pos);
        let Some(wait) = time_left(opened.elapsed(), conn.idle_for(w.cfg.now_ms()), limits) else {
            return conn.fail(1001, "Going away");
        };
        deadline.set_after(wait);
        if buf.is_empty() && message_opcode.is_none() {
            // Idle: the buffers go back to the worker until bytes arrive.
            w.bufs.give(std::mem::take(&mut buf));
            w.bufs.give(std::mem::take(&mut message));
            let ready = {
                let readable = std::pin::pin!(rd.readable());
                conn.within(&mut deadline, readable).await
            };
            match ready {
                None => return conn.closed_by_gateway(),
                Some(None) => continue, // timed out: the checks above decide
                Some(Some(Err(_))) => return (1006, "Connection closed abnormally"),
                Some(Some(Ok(()))) => {}
            }
            buf = w.bufs.lend();
        }
        let read = {
            let reading = std::pin::pin!(read_into(&mut rd, &mut buf));
            conn.within(&mut deadline, reading).await
        };
        match read {
            None => return conn.closed_by_gateway(),
            Some(None) => {} // timed out: the checks above decide
            Some(Some(Ok(0) | Err(_))) => return (1006, "Connection closed abnormally"),
            Some(Some(Ok(_))) => {}
        }
    }
}

/// How long a connection open for `open_for` and idle for `idle_for` may wait for its next
/// bytes; `None`: the maximum duration or the idle timeout is reached (close with 1001). Pure,
/// so the limits are tested with any clock.
fn time_left(open_for: Duration, idle_for: Duration, limits: &WsLimits) -> Option<Duration> {
    let left = limits
        .max_duration
        .checked_sub(open_for)?
        .min(limits.idle_timeout.checked_sub(idle_for)?);
    (!left.is_zero()).then_some(left)
}

/// Whether `text` is valid UTF-8 so far (`fin`: it must be complete). `checked` is how much was
/// found valid before; only the rest is looked at (a character cut by a frame boundary is
/// looked at again, at most 3 bytes).
fn utf8_advance(text: &[u8], checked: &mut usize, fin: bool) -> bool {
    match std::str::from_utf8(&text[*checked..]) {
        Ok(_) => {
            *checked = text.len();
            true
        }
        Err(e) => {
            *checked += e.valid_up_to();
            !fin && e.error_len().is_none()
        }
    }
}

/// A close frame from the client: answer it (echoing a valid code) and end.
fn close_received(conn: &Conn, payload: &[u8]) -> (u16, &'static str) {
    match payload {
        [] => {
            conn.send_close(1000, "");
            (1005, "")
        }
        [_] => conn.fail(1002, "Protocol error"),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !frame::valid_close_code(code) {
                return conn.fail(1002, "Protocol error");
            }
            if std::str::from_utf8(reason).is_err() {
                return conn.fail(1007, "Invalid UTF-8");
            }
            conn.send_close(code, "");
            (code, "Client closed the connection")
        }
    }
}

/// Reads more into `buf`: 2 KiB of room at least, doubled only while a large frame arrives.
async fn read_into(rd: &mut duplex::ReadHalf, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.is_empty() && buf.capacity() > 64 * 1024 {
        *buf = Vec::with_capacity(READ_BUF_BYTES);
    }
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(buf.len().max(READ_BUF_BYTES));
    }
    rd.read_into(buf).await
}

/// One message from the client: select its route, invoke the integration, answer if the route
/// has a route response.
async fn on_message(w: &Core<'_>, conn: &Rc<Conn>, body: &[u8], binary: bool) {
    let snapshot = w.snapshot();
    let request_id = w.ids.next();
    let Some((stage, ws)) = conn.stage(&snapshot) else {
        conn.error_frame("Forbidden", request_id);
        return;
    };
    let api = snapshot.api(conn.api_id());
    let mut key = String::new();
    let selected = match api.and_then(|a| a.websocket.as_deref()) {
        Some(a) if !binary => {
            let json: Option<serde_json::Value> = if a.route_selection.needs_body() {
                serde_json::from_slice(body).ok()
            } else {
                None
            };
            a.route_selection
                .evaluate(json.as_ref(), &mut key)
                .then_some(key.as_str())
        }
        _ => None,
    };
    let Some((_, route)) = ws.select(selected) else {
        w.ws.stats.client_error(w);
        if ws.trace.level != TraceLevel::Off {
            let miss = crate::trace::WsOutcome::NoRoute { selected };
            crate::trace::ws_record(&crate::trace::WsFinished {
                trace: ws.trace,
                body,
                ..event::exec_log(&request_id, conn, EventType::Message, miss)
            });
        }
        conn.error_frame("Forbidden", request_id);
        return;
    };
    let Some(integration) = &route.integration else {
        if route.trace.level != TraceLevel::Off {
            crate::trace::ws_record(&crate::trace::WsFinished {
                trace: route.trace,
                route_key: Some(&route.route_key),
                body,
                ..event::exec_log(
                    &request_id,
                    conn,
                    EventType::Message,
                    crate::trace::WsOutcome::NoIntegration,
                )
            });
        }
        conn.error_frame("Internal server error", request_id);
        return;
    };
    let ev = Event {
        kind: EventType::Message,
        route_key: &route.route_key,
        conn,
        request_id,
        message_id: Some(request_id),
        body,
        binary,
        disconnect: None,
        handshake: None,
        stage_variables: &stage.variables,
    };
    let started = Instant::now();
    let answer = event::invoke(w, integration, &ev).await;
    w.ws.stats.record(w, &ev, stage, route, &answer, started);
    match answer {
        Ok(a) => {
            if route.route_response {
                let opcode = match a.opcode {
                    Some(o) => o,
                    None if std::str::from_utf8(&a.body).is_ok() => Opcode::Text,
                    None => Opcode::Binary,
                };
                conn.send(opcode, &a.body);
            }
        }
        Err(_) => conn.error_frame("Internal server error", request_id),
    }
}

pub use crate::config::WsLimits;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_duration_limits() {
        let limits = WsLimits::default(); // 10 min idle, 2 h at most
        let min = |m: u64| Duration::from_secs(m * 60);
        let table = [
            // open for, idle for, time left
            (min(0), min(0), Some(min(10))),
            (min(5), min(4), Some(min(6))),
            (min(30), min(10), None),
            (min(30), min(11), None),
            (min(115), min(1), Some(min(5))),
            (min(120), min(0), None),
            (min(121), min(0), None),
        ];
        for (open_for, idle_for, want) in table {
            assert_eq!(
                time_left(open_for, idle_for, &limits),
                want,
                "{open_for:?} {idle_for:?}"
            );
        }
    }

    #[test]
    fn utf8_prefixes() {
        let check = |t: &[u8], fin| utf8_advance(t, &mut 0, fin);
        assert!(check("héllo".as_bytes(), true));
        assert!(check(&"é".as_bytes()[..1], false));
        assert!(!check(&"é".as_bytes()[..1], true));
        assert!(!check(&[0xff], false));
        // Frame by frame: "aé" cut inside the é, then completed.
        let text = "aé".as_bytes();
        let mut checked = 0;
        assert!(utf8_advance(&text[..2], &mut checked, false));
        assert_eq!(checked, 1);
        assert!(utf8_advance(text, &mut checked, true));
        assert_eq!(checked, 3);
    }
}
