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
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use portico_shared::limits::{LINGER_MAX_BYTES, LINGER_MS, READ_BUF_BYTES};

use crate::deadline::Deadline;
use crate::error::GatewayError;
use crate::http1::body::ChunkedDecoder;
use crate::http1::parse::HeaderSpans;
use crate::http1::{parse_request, BodyKind, RequestHead, Version};
use crate::pipeline::{self, Outcome};
use crate::respond::{self, ConnectionHeader};
use crate::upstream::read_more;
use crate::worker::Worker;

/// A downstream byte stream: plain TCP, or TLS over TCP (`tls.rs`). The connection code is
/// generic over it, so the plain path is compiled as before, with no dispatch.
pub trait Stream: AsyncReadRent + AsyncWriteRent + 'static {
    /// The socket, when bytes written to the stream reach it unchanged (plain TCP): a response
    /// is then sent straight into it (`sys::send_now`) instead of through the ring.
    fn plain(&self) -> Option<&TcpStream> {
        None
    }
}

impl Stream for TcpStream {
    fn plain(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl Stream for monoio_rustls::ServerTlsStream<TcpStream> {}

/// The downstream side of one connection, as the pipeline may use it.
#[derive(Debug)]
pub struct Downstream<S = TcpStream> {
    pub stream: S,
    pub peer: SocketAddr,
    /// The TLS session's facts (domain, client certificate); `None` on the plain listener.
    pub tls: Option<Box<crate::tls::TlsSession>>,
    /// Read buffer: the current request's head starts at 0.
    pub buf: Vec<u8>,
    pub headers: HeaderSpans,
    /// Bound on writing a whole response (a client that stops reading).
    pub write_timeout: std::time::Duration,
    /// The end of the current phase (idle, head, body, write) and the connection's one timer.
    pub deadline: Deadline,
}

/// Where a request body ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLoc {
    /// `buf[start..end]`.
    InBuf(usize, usize),
    /// De-chunked into the body buffer the caller passed.
    Decoded,
}

impl BodyLoc {
    /// The body's bytes: in the connection buffer `buf`, or in `decoded`.
    pub fn slice<'a>(self, buf: &'a [u8], decoded: &'a [u8]) -> &'a [u8] {
        match self {
            BodyLoc::InBuf(s, e) => &buf[s..e],
            BodyLoc::Decoded => decoded,
        }
    }
}

/// Serves one connection until it closes.
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
        buf: Vec::with_capacity(READ_BUF_BYTES),
        headers: Vec::new(),
        write_timeout: w.cfg.limits.write_timeout,
        deadline: Deadline::after(w.cfg.limits.header_read_timeout),
    };
    let mut first = true;
    loop {
        let head = match d.read_head(&w, first).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
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
                return;
            }
        };
        first = false;
        // WebSocket APIs: an upgrade takes the connection over; `@connections` is answered here.
        match crate::ws::classify(&w, &head, &d.buf, d.tls.as_deref()) {
            crate::ws::Kind::Http => {}
            crate::ws::Kind::Upgrade => {
                // Its own task: this one's future (sized for the HTTP pipeline) is freed, and
                // an idle WebSocket connection holds only what it needs.
                monoio::spawn(crate::ws::upgrade(w, d, head));
                return;
            }
            crate::ws::Kind::Manage => match crate::ws::manage::serve(&w, &mut d, &head).await {
                Some(consumed) if !w.shutdown.is_fired() => {
                    d.buf.drain(..consumed);
                    continue;
                }
                _ => return,
            },
        }
        w.in_flight.set(w.in_flight.get() + 1);
        let mut out = w.bufs.take();
        let mut call = w.take_call();
        let mut body = w.bufs.take();
        let snapshot = w.snapshot();
        // Boxed, once per request (3.5 KiB, freed when the response is written): inline, the
        // pipeline's state would size every connection's task, idle ones included, and rustc
        // lays an awaited future out twice (the value and the awaitee), so an idle keep-alive
        // connection's task was 12.9 KiB. Boxed, it is 2.4 KiB (ARCHITECTURE.md).
        let outcome = Box::pin(pipeline::handle(
            &w, &snapshot, &mut d, &head, &mut out, &mut call, &mut body,
        ))
        .await;
        let written = d.write(&mut out, &mut call, &outcome).await;
        pipeline::observe(&w, &outcome, written.is_ok());
        drop((out, body));
        w.give_call(call);
        w.in_flight.set(w.in_flight.get() - 1);
        let Some(consumed) = outcome.consumed else {
            // The request's body was never read: let the client finish sending it so the
            // response is not destroyed by a reset.
            if written.is_ok() {
                d.linger().await;
            }
            return;
        };
        if written.is_err() || !outcome.keep_alive || w.shutdown.is_fired() {
            return;
        }
        d.buf.drain(..consumed);
        if d.buf.is_empty() && d.buf.capacity() > 4 * READ_BUF_BYTES {
            // A large request grew the buffer: give the memory back while idle.
            d.buf = Vec::with_capacity(READ_BUF_BYTES);
        }
    }
}

// === impl Downstream ===

impl<S: Stream> Downstream<S> {
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

    /// Reads the body of `head` (sending `100 Continue` first when asked). Returns where it is
    /// and how many buffer bytes the request used.
    pub async fn read_body(
        &mut self,
        w: &Worker,
        head: &RequestHead,
        decoded: &mut Vec<u8>,
    ) -> Result<(BodyLoc, usize), GatewayError> {
        let limits = &w.cfg.limits;
        let start = head.head_len;
        if head.body == BodyKind::None {
            return Ok((BodyLoc::InBuf(start, start), start));
        }
        self.deadline.set_after(limits.body_read_timeout);
        match head.body {
            BodyKind::None => Ok((BodyLoc::InBuf(start, start), start)),
            BodyKind::Length(n) => {
                if n > limits.max_body_bytes as u64 {
                    return Err(GatewayError::BodyTooLarge);
                }
                let end = start + n as usize;
                if self.buf.len() < end {
                    self.continue_if_expected(head).await?;
                    self.buf.reserve_exact(end - self.buf.len());
                }
                while self.buf.len() < end {
                    let missing = end - self.buf.len();
                    self.read_body_bytes(missing).await?;
                }
                Ok((BodyLoc::InBuf(start, end), end))
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new(limits.max_body_bytes);
                let mut pos = start;
                let mut asked = false;
                loop {
                    let used = decoder
                        .decode(&self.buf[pos..], decoded)
                        .map_err(|e| match e {
                            crate::http1::body::ChunkError::TooLarge => GatewayError::BodyTooLarge,
                            _ => GatewayError::BadRequest(crate::http1::ParseError::Malformed(
                                "invalid chunked body",
                            )),
                        })?;
                    pos += used;
                    if decoder.is_done() {
                        return Ok((BodyLoc::Decoded, pos));
                    }
                    if !asked {
                        self.continue_if_expected(head).await?;
                        asked = true;
                    }
                    // Everything after the head has been decoded: drop it, so the raw body is
                    // never held beside the decoded one (the head's spans stay valid).
                    self.buf.truncate(start);
                    pos = start;
                    self.read_body_bytes(16 * 1024).await?;
                }
            }
        }
    }

    /// One read of body bytes within the body-read phase; end of stream or the phase's end
    /// leave the body truncated.
    async fn read_body_bytes(&mut self, want: usize) -> Result<(), GatewayError> {
        let got = {
            let read = pin!(read_more(&mut self.stream, &mut self.buf, want));
            self.deadline.within(read).await
        };
        match got {
            Some(Ok(n)) if n > 0 => Ok(()),
            _ => Err(GatewayError::BadRequest(
                crate::http1::ParseError::Malformed("body truncated"),
            )),
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

    async fn continue_if_expected(&mut self, head: &RequestHead) -> Result<(), GatewayError> {
        if head.expect_continue && head.version == Version::Http11 {
            let gone = || {
                GatewayError::BadRequest(crate::http1::ParseError::Malformed("client went away"))
            };
            // A write phase inside the body-read phase, which resumes after it.
            let body_read_ends = self.deadline.at();
            self.deadline.set_after(self.write_timeout);
            let written = {
                let write = pin!(self.stream.write_all(&b"HTTP/1.1 100 Continue\r\n\r\n"[..]));
                self.deadline.within(write).await
            };
            self.deadline.set(body_read_ends);
            let (res, _) = written.ok_or_else(gone)?;
            res.map_err(|_| gone())?;
        }
        Ok(())
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
        self.deadline.set_after(self.write_timeout);
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
