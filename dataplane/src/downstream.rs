//! The downstream side of a connection as the layers above the socket see it: the byte stream
//! (plain or TLS), the read buffer with the current request, and reading a request's body.
//!
//! Both the HTTP pipeline and the WebSocket code use it; the connection loop (`conn.rs`) that
//! owns it imports them, so it lives here, below all three, and imports point one way.

use std::net::SocketAddr;
use std::pin::pin;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::config::Limits;
use crate::deadline::Deadline;
use crate::error::GatewayError;
use crate::http1::body::ChunkedDecoder;
use crate::http1::parse::HeaderSpans;
use crate::http1::{BodyKind, RequestHead, Version};
use crate::upstream::read_more;

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

// === impl Downstream ===

impl<S: Stream> Downstream<S> {
    /// Reads the body of `head` (sending `100 Continue` first when asked). Returns where it is
    /// and how many buffer bytes the request used.
    pub async fn read_body(
        &mut self,
        limits: &Limits,
        head: &RequestHead,
        decoded: &mut Vec<u8>,
    ) -> Result<(BodyLoc, usize), GatewayError> {
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
}
