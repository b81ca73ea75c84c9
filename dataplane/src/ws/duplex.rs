//! An upgraded connection's socket as a reader half and a writer half, on plain TCP or on TLS
//! (`wss://`), so that the connection's read loop and its writer task run side by side.
//!
//! Plain TCP: both halves share the socket (`Rc<TcpStream>`) and use readiness waits with
//! receives and sends made at once (`sys::recv_now`, `sys::send_now`), so an idle connection
//! holds no read buffer while it waits (issue 22), and neither half needs the socket mutably. TLS cannot use `monoio_rustls`'s: its halves share one
//! stream whose read path may write (an alert after a bad record) while the writer task holds
//! the write buffer, which panics. Here the rustls session is shared through a `RefCell` that
//! is borrowed only between awaits (never across one), and each half owns its socket half and
//! its own ciphertext buffer: the reader decrypts what it read, the writer encrypts into its
//! buffer, then writes.
//!
//! Invariant: a `RefCell` borrow of the session never lives across an `.await` (clippy's
//! `await_holding_refcell_ref` is on).

use std::any::Any;
use std::cell::RefCell;
use std::io::{self, Read as _, Write as _};
use std::rc::Rc;

use monoio::io::Splitable;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf};
use monoio::net::TcpStream;
use monoio_rustls::ServerTlsStream;
use rustls::ServerConnection;

/// The reading half.
#[derive(Debug)]
pub(crate) enum ReadHalf {
    Tcp(Rc<TcpStream>),
    /// Boxed: a plain connection's read state stays small.
    Tls(Box<TlsRead>),
}

/// The writing half.
#[derive(Debug)]
pub(crate) enum WriteHalf {
    Tcp(Rc<TcpStream>),
    Tls(TlsWrite),
}

#[derive(Debug)]
pub(crate) struct TlsRead {
    tcp: OwnedReadHalf<TcpStream>,
    session: Rc<RefCell<ServerConnection>>,
    /// Ciphertext read and not yet given to rustls: `raw[pos..]`.
    raw: Vec<u8>,
    pos: usize,
}

#[derive(Debug)]
pub(crate) struct TlsWrite {
    tcp: OwnedWriteHalf<TcpStream>,
    session: Rc<RefCell<ServerConnection>>,
    /// Ciphertext of the frame being written (kept between writes).
    out: Vec<u8>,
}

/// Splits a downstream stream (plain TCP, or the TLS listener's stream) into its halves;
/// `None` for any other stream type (none exists).
pub(crate) fn split<S: Any>(stream: S) -> Option<(ReadHalf, WriteHalf)> {
    let mut slot = Some(stream);
    let any = &mut slot as &mut dyn Any;
    if let Some(tcp) = any
        .downcast_mut::<Option<TcpStream>>()
        .and_then(Option::take)
    {
        let tcp = Rc::new(tcp);
        return Some((ReadHalf::Tcp(Rc::clone(&tcp)), WriteHalf::Tcp(tcp)));
    }
    let tls = any
        .downcast_mut::<Option<ServerTlsStream<TcpStream>>>()
        .and_then(Option::take)?;
    // The upgrade request was the last thing the client sent before the 101 (RFC 6455 §4.1:
    // it waits for the answer), so no ciphertext is left in the stream's own read buffer.
    let (tcp, session) = tls.into_parts();
    let session = Rc::new(RefCell::new(session));
    let (rd, wr) = tcp.into_split();
    Some((
        ReadHalf::Tls(Box::new(TlsRead {
            tcp: rd,
            session: Rc::clone(&session),
            raw: Vec::new(),
            pos: 0,
        })),
        WriteHalf::Tls(TlsWrite {
            tcp: wr,
            session,
            out: Vec::new(),
        }),
    ))
}

// === impl ReadHalf ===

impl ReadHalf {
    /// Waits until the socket has bytes (plain TCP; a TLS half may have plaintext or
    /// ciphertext buffered already, so it is ready at once). Holds no buffer.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            // Relaxed only on io_uring (which always asks the kernel): on epoll, monoio then
            // confirms its readiness flags with a `poll(2)`, since `recv_now` never clears them.
            ReadHalf::Tcp(tcp) => tcp.readable(crate::sys::uring()).await,
            ReadHalf::Tls(_) => Ok(()),
        }
    }

    /// Reads more plaintext into `buf`'s spare capacity (at least one byte of it); `Ok(0)` at
    /// the end of the stream.
    pub(crate) async fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            ReadHalf::Tcp(tcp) => loop {
                if let Some(n) = crate::sys::recv_now(&**tcp, buf)? {
                    return Ok(n);
                }
                tcp.readable(crate::sys::uring()).await?;
            },
            // Boxed: an idle plain connection's read future stays as small as before.
            ReadHalf::Tls(t) => Box::pin(t.read_into(buf)).await,
        }
    }
}

impl TlsRead {
    async fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            {
                let mut s = self.session.borrow_mut();
                let len = buf.len();
                let spare = buf.capacity() - len;
                buf.resize(len + spare.max(1), 0);
                let read = s.reader().read(&mut buf[len..]);
                buf.truncate(len + *read.as_ref().unwrap_or(&0));
                match read {
                    Ok(n) => return Ok(n), // 0: the client's close_notify
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.pos < self.raw.len() {
                    let mut rest = &self.raw[self.pos..];
                    let n = s.read_tls(&mut rest)?;
                    self.pos += n;
                    s.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
            }
            let mut raw = std::mem::take(&mut self.raw);
            raw.clear();
            raw.reserve(WSS_READ_CHUNK_BYTES);
            let (res, raw) = self.tcp.read(raw).await;
            self.raw = raw;
            self.pos = 0;
            if res? == 0 {
                return Ok(0);
            }
        }
    }
}

// === impl WriteHalf ===

impl WriteHalf {
    /// Writes all of `data`.
    pub(crate) async fn write_all(&mut self, data: Vec<u8>) -> io::Result<()> {
        match self {
            WriteHalf::Tcp(tcp) => {
                let mut pos = 0;
                loop {
                    pos += crate::sys::send_now(&**tcp, &data[pos..])?;
                    if pos == data.len() {
                        return Ok(());
                    }
                    tcp.writable(crate::sys::uring()).await?;
                }
            }
            // Boxed: the writer task of a plain connection stays as small as before.
            WriteHalf::Tls(t) => Box::pin(t.write_all(data)).await,
        }
    }

    /// Ends the stream (TLS: after a close_notify alert).
    pub(crate) async fn shutdown(&mut self) {
        match self {
            WriteHalf::Tcp(tcp) => {
                let _ = crate::sys::shutdown_write(&**tcp);
            }
            WriteHalf::Tls(t) => Box::pin(t.shutdown()).await,
        }
    }
}

impl TlsWrite {
    async fn write_all(&mut self, data: Vec<u8>) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        {
            let mut s = self.session.borrow_mut();
            let mut pos = 0;
            while pos < data.len() {
                let n = s.writer().write(&data[pos..])?;
                pos += n;
                let mut flushed = false;
                while s.wants_write() {
                    s.write_tls(&mut out)?;
                    flushed = true;
                }
                if n == 0 && !flushed {
                    return Err(io::ErrorKind::WriteZero.into());
                }
            }
        }
        let (res, mut out) = self.tcp.write_all(out).await;
        if out.capacity() > 64 * 1024 {
            out = Vec::new();
        }
        self.out = out;
        res.map(drop)
    }

    async fn shutdown(&mut self) {
        let mut out = Vec::new();
        {
            let mut s = self.session.borrow_mut();
            s.send_close_notify();
            while s.wants_write() {
                if s.write_tls(&mut out).is_err() {
                    break;
                }
            }
        }
        let _ = self.tcp.write_all(out).await;
        let _ = self.tcp.shutdown().await;
    }
}
use portico_shared::limits::WSS_READ_CHUNK_BYTES;
