//! The connections of one worker, their outbound queues, and the inbox through which other
//! workers reach them.
//!
//! A connection id is 11 bytes in base64 (`TWegAcC4EowCHnA=`-like, as AWS): the owning worker,
//! a slot number, the owning node's number (0 on a node of its own; see `forward.rs`) and a
//! random nonce (so an id is not guessable from another). Another worker
//! posting to it sends the operation through the owner's inbox: a `std::sync::mpsc` queue
//! (lock-free for senders) plus one byte on a socket pair to wake the owner's inbox task, and
//! gets the result back the same way.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io::Write as _;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use monoio::io::AsyncReadRent;

use portico_shared::limits::WS_OUTBOUND_MAX_BYTES;
use portico_shared::snapshot::Stage;
use portico_shared::websocket::WsStage;
use portico_shared::Snapshot;

use super::frame::{self, Opcode};
use super::Host;
use crate::request_id::RequestId;

/// A decoded connection id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionId {
    pub worker: u8,
    pub slot: u32,
    /// The node that owns the connection (its number in the cluster; 0 on its own).
    pub node: u8,
    pub nonce: [u8; 5],
}

/// One open (or opening) connection. Lives on its worker only.
#[derive(Debug)]
pub struct Conn {
    pub id: ConnectionId,
    /// The connection's texts in one allocation (one, not six, per idle connection): the id
    /// as clients see it (base64), the API id, the stage name, the source IP, the user agent
    /// and the upgrade's Host without its port (events' `requestContext.domainName`: a custom
    /// domain's name when the connection came through one). `ends[i]` is where text `i` ends.
    texts: Box<str>,
    ends: [u32; 6],
    pub connected_at_ms: u64,
    last_active_ms: Cell<u64>,
    /// The `AWS_IAM` caller that signed the upgrade (`$connect` with `AWS_IAM`): events'
    /// `identity` carries it. `None` for anonymous connections (8 bytes each).
    pub iam: Option<Box<super::auth::IamCaller>>,
    /// The Lambda authorizer's grant (`$connect` with `CUSTOM`): events'
    /// `requestContext.authorizer` and `$context.authorizer.*`. Shared with the decision cache.
    pub authorizer: Option<std::rc::Rc<portico_shared::authorizer::Grant>>,
    /// Encoded frames waiting for the writer task, and their bytes.
    outbound: RefCell<VecDeque<Vec<u8>>>,
    queued_bytes: Cell<usize>,
    /// The socket's write half while no writer task runs. The writer runs only while there is
    /// something to write (it takes the next frame after each write, so it needs no wake-up);
    /// between bursts no task exists for it, so an idle connection holds one task, not two
    /// (issue 22).
    write_half: RefCell<Option<super::duplex::WriteHalf>>,
    write_timeout: Duration,
    /// This connection, for the writer task it starts.
    me: std::rc::Weak<Conn>,
    /// Set when the gateway closes the connection (`DeleteConnection`, a failed write, a drain).
    closing: Cell<bool>,
    /// The gateway is draining: close with 1001 "Going away" rather than 1000.
    going_away: Cell<bool>,
    reader: Notify,
    /// A close frame went out: nothing else may follow it.
    closed: Cell<bool>,
}

/// A one-task wake-up: `notify` wakes the task that registered last (it then checks the state
/// it waits on).
#[derive(Debug, Default)]
struct Notify {
    waker: RefCell<Option<Waker>>,
}

/// An `@connections` operation.
#[derive(Debug)]
pub enum Op {
    Post(Vec<u8>),
    Get,
    Delete,
}

/// Its result.
#[derive(Debug)]
pub enum OpResult {
    Done,
    Gone,
    /// The connection's outbound queue is full (a client that stops reading).
    Busy,
    Info {
        connected_at_ms: u64,
        last_active_ms: u64,
        source_ip: Box<str>,
        user_agent: Box<str>,
    },
}

/// What travels between workers.
#[derive(Debug)]
pub(super) enum Cross {
    Op {
        from: u8,
        token: u64,
        id: ConnectionId,
        op: Op,
    },
    Done {
        token: u64,
        result: OpResult,
    },
}

/// One worker as the others see it.
#[derive(Debug)]
pub struct Peer {
    tx: mpsc::Sender<Cross>,
    wake: std::os::unix::net::UnixStream,
    /// A wake-up byte is on its way: later senders need not write another.
    armed: AtomicBool,
}

/// Every worker's inbox address, shared by all.
pub type Peers = Arc<[Peer]>;

/// A worker's receiving end.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Cross>,
    wake: std::os::unix::net::UnixStream,
}

/// Per-worker connections.
#[derive(Debug)]
pub struct Registry {
    worker: u8,
    /// This node's number: ids it makes carry it.
    node: u8,
    conns: RefCell<HashMap<u32, Rc<Conn>, foldhash::fast::FixedState>>,
    next_slot: Cell<u32>,
    rng: Cell<u64>,
    peers: Peers,
    /// Cross-core operations this worker waits for, by token.
    waiting: RefCell<HashMap<u64, Rc<Reply>, foldhash::fast::FixedState>>,
    next_token: Cell<u64>,
    pub stats: super::event::WsStats,
}

#[derive(Debug, Default)]
struct Reply {
    result: RefCell<Option<OpResult>>,
    waker: RefCell<Option<Waker>>,
}

/// Creates the inboxes of `n` workers.
pub fn channels(n: usize) -> std::io::Result<(Peers, Vec<Inbox>)> {
    let mut peers = Vec::with_capacity(n);
    let mut inboxes = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::channel();
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        peers.push(Peer {
            tx,
            wake: a,
            armed: AtomicBool::new(false),
        });
        inboxes.push(Inbox { rx, wake: b });
    }
    Ok((peers.into(), inboxes))
}

// === impl Peer ===

impl Peer {
    fn send(&self, msg: Cross) {
        if self.tx.send(msg).is_ok() && !self.armed.swap(true, Ordering::AcqRel) {
            // Non-blocking: a full socket buffer means a wake-up is already pending.
            let _ = (&self.wake).write_all(&[1]);
        }
    }
}

/// Runs a worker's inbox: executes operations for its connections, completes its own waits.
pub async fn serve_inbox<H: Host>(host: Rc<H>, inbox: Inbox) {
    let w = &host.core();
    let Ok(mut wake) = monoio::net::UnixStream::from_std(inbox.wake) else {
        tracing::error!(worker = w.id, "WebSocket inbox could not be registered");
        return;
    };
    let me = &w.ws.peers[usize::from(w.ws.worker)];
    let mut buf = vec![0u8; 64];
    loop {
        let (res, b) = monoio::select! {
            r = wake.read(buf) => r,
            _ = w.shutdown.fired() => {
                w.ws.close_all();
                return;
            }
        };
        buf = b;
        if matches!(res, Ok(0) | Err(_)) {
            return;
        }
        me.armed.store(false, Ordering::Release);
        while let Ok(msg) = inbox.rx.try_recv() {
            match msg {
                Cross::Op {
                    from,
                    token,
                    id,
                    op,
                } => {
                    let result = w.ws.apply(id, op);
                    if let Some(p) = w.ws.peers.get(usize::from(from)) {
                        p.send(Cross::Done { token, result });
                    }
                }
                Cross::Done { token, result } => w.ws.complete(token, result),
            }
        }
    }
}

// === impl Registry ===

impl Registry {
    pub fn new(worker: usize, node: u8, peers: Peers, seed: u64) -> Registry {
        Registry {
            worker: u8::try_from(worker).unwrap_or(u8::MAX),
            node,
            conns: RefCell::default(),
            next_slot: Cell::new(1),
            rng: Cell::new(seed | 1),
            peers,
            waiting: RefCell::default(),
            next_token: Cell::new(1),
            stats: Default::default(),
        }
    }

    /// A new connection (not yet reachable: `insert` makes it so once the upgrade is done).
    pub fn allocate(
        &self,
        api_id: &str,
        stage: &str,
        ip: IpAddr,
        user_agent: &[u8],
        domain: &[u8],
        now_ms: u64,
    ) -> Conn {
        let slot = self.next_slot.get();
        self.next_slot.set(slot.wrapping_add(1).max(1));
        // xorshift64*: ids need to be unpredictable to other clients, not cryptographic.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        let id = ConnectionId {
            worker: self.worker,
            slot,
            node: self.node,
            nonce: [r[0], r[1], r[2], r[3], r[4]],
        };
        let mut texts = String::new();
        let mut ends = [0u32; 6];
        let parts: [&dyn std::fmt::Display; 6] = [
            &id.encode(),
            &api_id,
            &stage,
            &ip.to_canonical(),
            &String::from_utf8_lossy(user_agent),
            &String::from_utf8_lossy(domain),
        ];
        for (end, part) in ends.iter_mut().zip(parts) {
            use std::fmt::Write as _;
            let _ = write!(texts, "{part}");
            // Bounded by the head size limit (a user agent or host), far below 4 GiB.
            *end = u32::try_from(texts.len()).unwrap_or(u32::MAX);
        }
        Conn {
            id,
            texts: texts.into_boxed_str(),
            ends,
            connected_at_ms: now_ms,
            last_active_ms: Cell::new(now_ms),
            iam: None,
            authorizer: None,
            outbound: RefCell::default(),
            queued_bytes: Cell::new(0),
            write_half: RefCell::new(None),
            write_timeout: Duration::ZERO,
            me: std::rc::Weak::new(),
            closing: Cell::new(false),
            going_away: Cell::new(false),
            reader: Notify::default(),
            closed: Cell::new(false),
        }
    }

    /// A drain: every connection closes with 1001 (each then runs its `$disconnect`). One
    /// waiter on the shutdown signal per worker, not one per connection.
    fn close_all(&self) {
        for conn in self.conns.borrow().values() {
            conn.go_away();
        }
    }

    pub fn insert(&self, conn: Rc<Conn>) {
        self.conns.borrow_mut().insert(conn.id.slot, conn);
    }

    pub fn remove(&self, conn: &Conn) {
        self.conns.borrow_mut().remove(&conn.id.slot);
    }

    /// This node's number (the `node` of the ids it makes).
    pub fn node(&self) -> u8 {
        self.node
    }

    pub fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: ConnectionId) -> Option<Rc<Conn>> {
        self.conns
            .borrow()
            .get(&id.slot)
            .filter(|c| c.id == id)
            .cloned()
    }

    /// Runs `op` on a connection of this worker.
    fn apply(&self, id: ConnectionId, op: Op) -> OpResult {
        let Some(conn) = self.get(id) else {
            return OpResult::Gone;
        };
        match op {
            Op::Post(data) => {
                if conn.queued_bytes.get() + data.len() > WS_OUTBOUND_MAX_BYTES {
                    return OpResult::Busy;
                }
                let opcode = if std::str::from_utf8(&data).is_ok() {
                    Opcode::Text
                } else {
                    Opcode::Binary
                };
                conn.send(opcode, &data);
                // A message either way keeps the connection from the idle timeout.
                conn.touch(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                );
                OpResult::Done
            }
            Op::Get => OpResult::Info {
                connected_at_ms: conn.connected_at_ms,
                last_active_ms: conn.last_active_ms.get(),
                source_ip: conn.source_ip().into(),
                user_agent: conn.user_agent().into(),
            },
            Op::Delete => {
                conn.closing.set(true);
                conn.reader.notify();
                OpResult::Done
            }
        }
    }

    /// Runs `op` on the connection `id`, on whichever worker owns it.
    pub async fn call(&self, id: ConnectionId, op: Op) -> OpResult {
        if id.worker == self.worker {
            return self.apply(id, op);
        }
        let Some(peer) = self.peers.get(usize::from(id.worker)) else {
            return OpResult::Gone;
        };
        let token = self.next_token.get();
        self.next_token.set(token.wrapping_add(1));
        let reply = Rc::new(Reply::default());
        self.waiting.borrow_mut().insert(token, Rc::clone(&reply));
        peer.send(Cross::Op {
            from: self.worker,
            token,
            id,
            op,
        });
        let wait = poll_fn(|cx| match reply.result.borrow_mut().take() {
            Some(r) => Poll::Ready(r),
            None => {
                *reply.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        // The owner answers within its next turn; a stuck one must not hold the caller.
        let r = monoio::time::timeout(Duration::from_secs(5), wait).await;
        self.waiting.borrow_mut().remove(&token);
        r.unwrap_or(OpResult::Gone)
    }

    fn complete(&self, token: u64, result: OpResult) {
        if let Some(r) = self.waiting.borrow_mut().remove(&token) {
            *r.result.borrow_mut() = Some(result);
            if let Some(w) = r.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

// === impl Conn ===

impl Conn {
    /// The stage this connection belongs to, in `snapshot` (gone if the API or stage was
    /// deleted).
    pub fn stage<'s>(&self, snapshot: &'s Snapshot) -> Option<(&'s Stage, &'s WsStage)> {
        snapshot
            .api(self.api_id())?
            .stages()
            .find(|s| *s.name == *self.stage_name())
            .and_then(|s| Some((s, s.websocket.as_deref()?)))
    }

    fn text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.texts
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// The id as clients see it (base64).
    pub fn text_id(&self) -> &str {
        self.text(0)
    }

    pub fn api_id(&self) -> &str {
        self.text(1)
    }

    pub fn stage_name(&self) -> &str {
        self.text(2)
    }

    pub fn source_ip(&self) -> &str {
        self.text(3)
    }

    pub fn user_agent(&self) -> &str {
        self.text(4)
    }

    /// The upgrade's Host without its port (a custom domain's name when the connection came
    /// through one).
    pub fn domain(&self) -> &str {
        self.text(5)
    }

    /// The connection after the 101: its write half, parked until there is a frame to write.
    pub(super) fn start(
        mut self,
        wr: super::duplex::WriteHalf,
        write_timeout: Duration,
    ) -> Rc<Conn> {
        self.write_timeout = write_timeout;
        *self.write_half.get_mut() = Some(wr);
        Rc::new_cyclic(|me| {
            self.me = me.clone();
            self
        })
    }

    /// Starts the writer task for what was queued unless it runs (a write half that is
    /// neither parked nor running failed: nothing more goes out).
    fn wake_writer(&self) {
        let parked = self.write_half.borrow_mut().take();
        match (parked, self.me.upgrade()) {
            (Some(wr), Some(me)) => {
                monoio::spawn(write_loop(me, wr));
            }
            (Some(wr), None) => *self.write_half.borrow_mut() = Some(wr),
            (None, _) => {}
        }
    }

    /// Closes the connection with 1001 "Going away" (the gateway is draining).
    pub fn go_away(&self) {
        self.going_away.set(true);
        self.closing.set(true);
        self.reader.notify();
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_active_ms.set(now_ms);
    }

    /// How long the connection has been idle at `now_ms`.
    pub fn idle_for(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.last_active_ms.get()))
    }

    /// Queues one frame for the writer.
    pub fn send(&self, opcode: Opcode, payload: &[u8]) {
        if self.closed.get() {
            return;
        }
        let mut f = Vec::with_capacity(payload.len() + 10);
        frame::encode(opcode, payload, &mut f);
        self.queued_bytes.set(self.queued_bytes.get() + f.len());
        self.outbound.borrow_mut().push_back(f);
        self.wake_writer();
    }

    pub fn send_close(&self, code: u16, reason: &str) {
        if self.closed.get() {
            return;
        }
        let mut f = Vec::with_capacity(128);
        frame::encode_close(code, reason, &mut f);
        self.outbound.borrow_mut().push_back(f);
        self.closed.set(true);
        self.wake_writer();
    }

    /// The gateway ends the connection with `code`: sends the close frame, returns what
    /// `$disconnect` reports.
    pub fn fail(&self, code: u16, reason: &'static str) -> (u16, &'static str) {
        self.send_close(code, reason);
        (code, reason)
    }

    /// `DeleteConnection`, a failed write or a drain closed it.
    pub fn closed_by_gateway(&self) -> (u16, &'static str) {
        if self.going_away.get() {
            self.fail(1001, "Going away")
        } else {
            self.fail(1000, "Connection closed by the gateway")
        }
    }

    /// After the read loop: let the writer flush the close frame and stop.
    pub fn close(&self, _code: u16, _reason: &str) {
        self.closed.set(true);
        self.closing.set(true);
        self.wake_writer();
    }

    /// Polls `op` (pinned by the caller) until it completes (`Some(Some(_))`), the deadline's
    /// phase ends (`Some(None)`) or the gateway closes the connection (`None`). One poll
    /// function, not a `select!` of three futures: the read loop's state is part of every idle
    /// connection.
    pub fn within<'a, F: std::future::Future>(
        &'a self,
        deadline: &'a mut crate::deadline::Deadline,
        mut op: std::pin::Pin<&'a mut F>,
    ) -> impl std::future::Future<Output = Option<Option<F::Output>>> + 'a {
        poll_fn(move |cx| {
            if self.closing.get() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(out) = op.as_mut().poll(cx) {
                return Poll::Ready(Some(Some(out)));
            }
            if deadline.poll_expired(cx).is_ready() {
                return Poll::Ready(Some(None));
            }
            self.reader.register(cx.waker());
            Poll::Pending
        })
    }

    /// The frame AWS sends for a message it cannot route or whose integration failed.
    pub fn error_frame(&self, message: &str, request_id: RequestId) {
        let text = format!(
            "{{\"message\": \"{message}\", \"connectionId\":\"{}\", \"requestId\":\"{}\"}}",
            self.text_id(),
            String::from_utf8_lossy(request_id.as_bytes())
        );
        self.send(Opcode::Text, text.as_bytes());
    }
}

/// The writer task: drains the outbound queue, then parks the write half in the connection and
/// ends; ends for good (the half dropped) once the connection is closed and flushed, or a write
/// failed.
async fn write_loop(conn: Rc<Conn>, mut wr: super::duplex::WriteHalf) {
    let timeout = conn.write_timeout;
    let mut deadline: Option<crate::deadline::Deadline> = None;
    loop {
        let next = conn.outbound.borrow_mut().pop_front();
        match next {
            Some(f) => {
                conn.queued_bytes
                    .set(conn.queued_bytes.get().saturating_sub(f.len()));
                let is_close = f.first() == Some(&0x88);
                let deadline = match &mut deadline {
                    Some(d) => {
                        d.set_after(timeout);
                        d
                    }
                    None => deadline.insert(crate::deadline::Deadline::after(timeout)),
                };
                let written = {
                    let write = std::pin::pin!(wr.write_all(f));
                    deadline.within(write).await
                };
                match written {
                    Some(Ok(())) => {}
                    _ => {
                        conn.closing.set(true);
                        conn.reader.notify();
                        return;
                    }
                }
                if is_close {
                    wr.shutdown().await;
                    return;
                }
            }
            None if conn.closed.get() && conn.closing.get() => return,
            None => {
                // Idle: the queue's memory goes too.
                *conn.outbound.borrow_mut() = VecDeque::new();
                *conn.write_half.borrow_mut() = Some(wr);
                return;
            }
        }
    }
}

// === impl Notify ===

impl Notify {
    fn notify(&self) {
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

// === impl ConnectionId ===

impl ConnectionId {
    fn bytes(&self) -> [u8; 11] {
        let mut b = [0u8; 11];
        b[0] = self.worker;
        b[1..5].copy_from_slice(&self.slot.to_le_bytes());
        b[5] = self.node;
        b[6..].copy_from_slice(&self.nonce);
        b
    }

    pub fn encode(&self) -> String {
        base64_encode(&self.bytes())
    }

    pub fn decode(text: &[u8]) -> Option<ConnectionId> {
        let b = base64_decode(text)?;
        let b: [u8; 11] = b.try_into().ok()?;
        Some(ConnectionId {
            worker: b[0],
            slot: u32::from_le_bytes([b[1], b[2], b[3], b[4]]),
            node: b[5],
            nonce: [b[6], b[7], b[8], b[9], b[10]],
        })
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding; `None` if malformed.
pub(super) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'=' if i >= 2 => {
                    pad += 1;
                    0
                }
                _ if pad > 0 => return None,
                _ => B64.iter().position(|&b| b == c)? as u32,
            };
            n = n << 6 | v;
        }
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub(super) fn accept_key(key: &[u8]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64_encode(ctx.finish().as_ref()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn ids_round_trip() {
        let id = ConnectionId {
            worker: 1,
            slot: 77,
            node: 9,
            nonce: [1, 2, 3, 4, 255],
        };
        let text = id.encode();
        assert_eq!(text.len(), 16);
        assert!(text.ends_with('='));
        assert_eq!(ConnectionId::decode(text.as_bytes()), Some(id));
        assert_eq!(ConnectionId::decode(b"not base64"), None);
        for n in 0..8 {
            let data: Vec<u8> = (0..n).collect();
            assert_eq!(base64_decode(base64_encode(&data).as_bytes()), Some(data));
        }
    }
}
