//! One downstream connection: read a head → [`pipeline::handle`] → write → keep-alive.
//!
//! # Architecture
//! 1. Heads are read into the connection's buffer under the header-read timeout (slowloris) or,
//!    between requests, the idle timeout; pipelined requests already in the buffer are served
//!    without another read.
//! 2. Parse errors are answered (400/413/431/417) and, where framing is in doubt, the
//!    connection is closed: nothing of such a request reaches the pipeline.
//! 3. The buffer holds the head and a content-length body; its spans stay valid while the
//!    pipeline runs, because the buffer is only grown, never shifted, during a request.
//! 4. Every wait (idle, head read, body read, response write, lingering close) is bounded by the
//!    connection's one [`Deadline`], set once per phase; no I/O operation carries its own timer.

use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use monoio::buf::Slice;
use monoio::io::AsyncWriteRentExt;

use portico_shared::limits::{LINGER_MAX_BYTES, LINGER_MS, READ_BUF_BYTES};

use crate::deadline::Deadline;
use crate::downstream::{Downstream, Stream};
use crate::error::GatewayError;
use crate::http1::{parse_request, RequestHead};
use crate::pipeline::{self, Outcome};
use crate::respond::{self, ConnectionHeader};
use crate::upstream::read_more;
use crate::worker::Worker;
use crate::ws::Host as _;

/// Serves one connection until it closes.
///
/// Between requests the connection holds no buffer and its task only what it must remember
/// (the socket, the peer, its deadline): it waits for the socket to become readable, then
/// takes a read buffer and a header list from the worker's free lists and serves what
/// arrives in a future of its own, placed once per request in a block the worker reuses. An
/// idle keep-alive connection is about 0.9 KiB in all (`idleconns`).
pub async fn serve<S: Stream>(
    w: Rc<Worker>,
    stream: S,
    peer: SocketAddr,
    tls: Option<Box<crate::tls::TlsSession>>,
) {
    let mut d = Downstream {
        stream,
        peer,
        tls,
        buf: Vec::new(),
        headers: Vec::new(),
        write_timeout: w.cfg.limits.write_timeout,
        deadline: Deadline::after(w.cfg.limits.header_read_timeout),
    };
    let mut first = true;
    loop {
        if d.buf.is_empty() {
            // The phase is set: the header read's from the accept, else the idle wait's (by
            // `exchange`, from the end of the last request).
            if !d.await_bytes(&w).await {
                break;
            }
        }
        // Out of the task, once per request (about 2.7 KiB, back when the response is
        // written): inline, the pipeline's state would size every connection's task, idle ones
        // included (rustc lays an awaited future out twice, the value and the awaitee: 12.9 KiB
        // once). In a block of the worker's `Boxes`, reused whole (`sys::Boxes` says why not
        // `Box`).
        let next = w.boxes.pin(exchange(&w, &mut d, first)).await;
        first = false;
        match next {
            Next::Again => {}
            Next::Close => break,
            Next::Upgrade(head) => {
                // The handshake runs here, in a block of its own; the connection then lives in a
                // task sized for a WebSocket connection, which keeps the buffers.
                let host = Rc::clone(&w);
                w.boxes.pin(crate::ws::upgrade(host, d, head)).await;
                return;
            }
        }
        if d.buf.is_empty() {
            // Idle: the buffers go back to the worker (a large one is freed there).
            w.bufs.give(std::mem::take(&mut d.buf));
            w.spans.give(std::mem::take(&mut d.headers));
        }
    }
    w.bufs.give(std::mem::take(&mut d.buf));
    w.spans.give(std::mem::take(&mut d.headers));
}

/// What the connection does after a request.
enum Next {
    /// Serve the next request (buffered already, or after the next bytes).
    Again,
    Close,
    /// A WebSocket upgrade takes the connection over.
    Upgrade(RequestHead),
}

/// Reads one request head and serves it: pipeline, response, keep-alive decision.
async fn exchange<S: Stream>(w: &Rc<Worker>, d: &mut Downstream<S>, first: bool) -> Next {
    let head = match d.read_head(w, first).await {
        Ok(Some(h)) => h,
        Ok(None) => return Next::Close,
        Err(e) => {
            let mut out = w.bufs.take();
            respond::write_error(
                &e,
                w.ids.next(),
                ConnectionHeader::Close,
                false,
                None,
                &mut out,
            );
            // Best effort within the write timeout; the connection closes either way.
            d.deadline.set_after(d.write_timeout);
            let written = {
                let write = pin!(d.stream.write_all(std::mem::take(&mut *out)));
                d.deadline.within(write).await
            };
            if let Some((_, written)) = written {
                *out = written;
            }
            {
                let mut stats = w.stats.borrow_mut();
                stats.counters.bad_requests += 1;
                stats.mark();
            }
            d.linger().await;
            return Next::Close;
        }
    };
    // WebSocket APIs: an upgrade takes the connection over; `@connections` is answered here.
    match crate::ws::classify(&w.cfg, &w.snapshots, &head, &d.buf, d.tls.as_deref()) {
        crate::ws::Kind::Http => {}
        crate::ws::Kind::Upgrade => return Next::Upgrade(head),
        crate::ws::Kind::Manage => {
            // Boxed: rare, and its timers would align (and size) every request's box.
            let served = Box::pin(crate::ws::manage::serve(&w.core(), d, &head)).await;
            return match served {
                Some(consumed) if !w.shutdown.is_fired() => {
                    d.buf.drain(..consumed);
                    d.deadline.set_after(w.cfg.limits.idle_timeout);
                    Next::Again
                }
                _ => Next::Close,
            };
        }
    }
    w.in_flight.set(w.in_flight.get() + 1);
    let mut out = w.bufs.take();
    let mut call = w.take_call();
    let mut body = w.bufs.take();
    let snapshot = w.snapshot();
    let outcome = pipeline::handle(w, &snapshot, d, &head, &mut out, &mut call, &mut body).await;
    let written = d.write(&mut out, &mut call, &outcome).await;
    let ended = pipeline::observe(w, &outcome, written.is_ok());
    drop((out, body));
    w.give_call(call);
    w.in_flight.set(w.in_flight.get() - 1);
    let Some(consumed) = outcome.consumed else {
        // The request's body was never read: let the client finish sending it so the
        // response is not destroyed by a reset.
        if written.is_ok() {
            d.linger().await;
        }
        return Next::Close;
    };
    if written.is_err() || !outcome.keep_alive || w.shutdown.is_fired() {
        return Next::Close;
    }
    d.buf.drain(..consumed);
    // Until the next request's first bytes (the end's clock reading serves again).
    d.deadline.set(ended + w.cfg.limits.idle_timeout);
    Next::Again
}

// === impl Downstream ===

impl<S: Stream> Downstream<S> {
    /// Waits, within the current phase, until the socket has bytes, holding no buffer while
    /// it waits; then takes the worker's buffers and receives what arrived. A TLS stream's
    /// plaintext may already sit in its session, so it takes the buffers and reads through the
    /// session (an idle TLS connection holds its read buffer, not a request's future).
    /// `false`: the phase ended, the client closed, or the socket failed.
    ///
    /// The wait is a poll on the ring (io_uring), or monoio's readiness confirmed by a `poll(2)`
    /// (epoll: its readiness flags are cleared only by its own operations, and `recv_now` is not
    /// one, so a relaxed wait would return at once on a stale flag). On epoll that is one system
    /// call more per request than a receive held pending, the price of not holding a buffer.
    async fn await_bytes(&mut self, w: &Worker) -> bool {
        loop {
            if let Some(tcp) = self.stream.plain() {
                let ready = {
                    let readable = pin!(tcp.readable(crate::sys::uring()));
                    self.deadline.within(readable).await
                };
                if !matches!(ready, Some(Ok(()))) {
                    return false;
                }
            }
            if self.buf.capacity() == 0 {
                self.buf = w.bufs.lend();
            }
            if self.headers.capacity() == 0 {
                self.headers = w.spans.lend();
            }
            let Some(tcp) = self.stream.plain() else {
                let got = {
                    let read = pin!(read_more(&mut self.stream, &mut self.buf, READ_BUF_BYTES));
                    self.deadline.within(read).await
                };
                return matches!(got, Some(Ok(n)) if n > 0);
            };
            if self.buf.capacity() - self.buf.len() < READ_BUF_BYTES {
                self.buf.reserve(READ_BUF_BYTES);
            }
            match crate::sys::recv_now(tcp, &mut self.buf) {
                Ok(Some(0)) | Err(_) => return false,
                Ok(Some(_)) => return true,
                Ok(None) => {
                    // A wake-up without bytes: wait again without the buffers.
                    w.bufs.give(std::mem::take(&mut self.buf));
                    w.spans.give(std::mem::take(&mut self.headers));
                }
            }
        }
    }

    /// Reads until a full head is buffered. `Ok(None)`: the connection ended (EOF, timeout).
    async fn read_head(
        &mut self,
        w: &Worker,
        first: bool,
    ) -> Result<Option<RequestHead>, GatewayError> {
        let limits = &w.cfg.limits;
        // Whether the head-read phase runs: from the first request's accept, or from a later
        // request's first bytes; before that, each read waits up to the idle timeout.
        let mut reading_head = first;
        // Parse only when new bytes could have completed a line: a client dribbling a head byte
        // by byte must not make us re-parse the whole head on every byte.
        let mut parse = !self.buf.is_empty();
        loop {
            if parse {
                let parsed = parse_request(
                    &self.buf,
                    limits.max_header_bytes,
                    limits.max_header_count,
                    &mut self.headers,
                )?;
                if let Some(head) = parsed {
                    return Ok(Some(head));
                }
                self.start_head_read(&mut reading_head, limits.header_read_timeout);
            }
            if !reading_head {
                self.deadline.set_after(limits.idle_timeout);
            }
            let want =
                (limits.max_header_bytes - self.buf.len().min(limits.max_header_bytes)).max(1);
            let got = {
                let read = pin!(read_more(
                    &mut self.stream,
                    &mut self.buf,
                    want.min(READ_BUF_BYTES)
                ));
                self.deadline.within(read).await
            };
            match got {
                Some(Ok(0)) | Some(Err(_)) | None => return Ok(None),
                Some(Ok(n)) => {
                    let new = &self.buf[self.buf.len() - n..];
                    parse = memchr::memchr(b'\n', new).is_some()
                        || memchr::memchr(0, new).is_some()
                        || self.buf.len() >= limits.max_header_bytes;
                    if !parse {
                        self.start_head_read(&mut reading_head, limits.header_read_timeout);
                    }
                }
            }
        }
    }

    /// The head-read phase starts (once per head): the head must be complete within `limit`.
    fn start_head_read(&mut self, reading_head: &mut bool, limit: Duration) {
        if !*reading_head {
            *reading_head = true;
            self.deadline.set_after(limit);
        }
    }

    /// A lingering close (RFC 9112 §9.6): half-close, then read and drop what the client still
    /// sends, bounded in bytes and time. Closing with unread data would make the kernel send a
    /// reset, and the client would lose the error response it has not read yet.
    async fn linger(&mut self) {
        let _ = self.stream.shutdown().await;
        self.deadline.set_after(Duration::from_millis(LINGER_MS));
        let mut drained = 0usize;
        self.buf.clear();
        while drained < LINGER_MAX_BYTES {
            let got = {
                let read = pin!(read_more(&mut self.stream, &mut self.buf, READ_BUF_BYTES));
                self.deadline.within(read).await
            };
            match got {
                Some(Ok(n)) if n > 0 => {
                    drained += n;
                    self.buf.clear();
                }
                _ => return,
            }
        }
    }

    /// Writes the response: `out`, then a large upstream body from `call` if there is one.
    async fn write(
        &mut self,
        out: &mut Vec<u8>,
        call: &mut crate::upstream::UpstreamCall,
        outcome: &Outcome<'_>,
    ) -> std::io::Result<()> {
        // A client that stops reading is cut off after the write timeout: it must not hold its
        // buffers (up to twice the body limit) forever. A timed-out write closes the connection.
        let timed_out = || std::io::Error::from(std::io::ErrorKind::TimedOut);
        // The phase starts when the first write waits (a response the socket takes whole, the
        // common case, reads no clock).
        let (write_timeout, mut phase_started) = (self.write_timeout, false);
        let mut start_phase = |d: &mut Deadline| {
            if !std::mem::replace(&mut phase_started, true) {
                d.set_after(write_timeout);
            }
        };
        let owned = std::mem::take(out);
        // Plain TCP: the response goes out now rather than when the worker next enters the
        // kernel (after the other ready tasks); the ring takes what the socket does not.
        let sent = match self.stream.plain() {
            Some(s) => crate::sys::send_now(s, &owned),
            None => Ok(0),
        };
        match sent {
            Ok(n) if n == owned.len() => *out = owned,
            Ok(n) => {
                let len = owned.len();
                start_phase(&mut self.deadline);
                let written = {
                    let write = pin!(self.stream.write_all(Slice::new(owned, n, len)));
                    self.deadline.within(write).await
                };
                let (res, rest) = written.ok_or_else(timed_out)?;
                *out = rest.into_inner();
                res?;
            }
            Err(e) => {
                *out = owned;
                return Err(e);
            }
        }
        if let Some(tail) = outcome.tail {
            let (vec, (s, e)) = match tail {
                pipeline::Tail::Resp(s, e) => (std::mem::take(&mut call.resp), (s, e)),
                pipeline::Tail::Dechunked => {
                    let v = std::mem::take(&mut call.dechunked);
                    let len = v.len();
                    (v, (0, len))
                }
            };
            start_phase(&mut self.deadline);
            let written = {
                let write = pin!(self.stream.write_all(Slice::new(vec, s, e)));
                self.deadline.within(write).await
            };
            let (res, slice) = written.ok_or_else(timed_out)?;
            let vec = slice.into_inner();
            match tail {
                pipeline::Tail::Resp(..) => call.resp = vec,
                pipeline::Tail::Dechunked => call.dechunked = vec,
            }
            res?;
        }
        Ok(())
    }
}
