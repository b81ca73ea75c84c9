//! A mock upstream on std threads: it records every request it received, byte for byte, and
//! answers as its [`Behaviour`] says.
//!
//! The record is the point: the framing tests assert that *nothing* reached the upstream, and the
//! proxy tests assert exactly what was forwarded.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::find;

/// How long a mock connection may sit idle before the mock closes it. Longer than any test, so
/// that the gateway's pooled upstream connections are not closed under it mid-test.
const MOCK_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Bound on a request head the mock buffers.
const MAX_HEAD_BYTES: usize = 1024 * 1024;

/// Bound on a request body the mock buffers.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What the mock does with each request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with a JSON description of the request (see [`echo_json`]).
    Echo,
    /// 200 with the request body as the response body.
    EchoBody,
    /// A fixed response, framed with `Content-Length` (headers added verbatim).
    Fixed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with the body sent chunked, one chunk per entry.
    Chunked {
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
    },
    /// 200 with `len` bytes of [`pattern`].
    Large { len: usize },
    /// Sleeps, then behaves as the inner behaviour.
    Delay(Duration, Box<Behaviour>),
    /// Reads the request, then closes without answering.
    CloseWithoutAnswer,
    /// Reads one byte of the request, waits for the rest to arrive, and closes with it unread:
    /// the kernel answers with RST.
    Reset,
    /// Reads the request, writes these bytes verbatim, then closes.
    Raw(Vec<u8>),
    /// Reads the request, writes these bytes verbatim, then closes with a reset (`SO_LINGER`
    /// 0): a keep-alive response followed by a reset leaves a pooled connection whose next
    /// write fails at once.
    RawThenReset(Vec<u8>),
}

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent (`/path?query`).
    pub target: String,
    pub path: String,
    /// The query string without `?` (empty when absent).
    pub query: String,
    pub version: String,
    /// Header lines in order, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
    /// Whether the body arrived chunked (the gateway should always send `Content-Length`).
    pub chunked: bool,
    /// The request head exactly as received.
    pub raw_head: Vec<u8>,
    /// Which mock connection (0, 1, ...) carried it.
    pub connection: usize,
}

/// A running mock upstream; stops accepting when dropped.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
    stop: AtomicBool,
    /// Every open connection (by id), so [`MockUpstream::kill`] can cut them; a connection's
    /// thread removes its entry when it ends, so the socket really closes.
    open: Mutex<Vec<(usize, TcpStream)>>,
}

// === impl Behaviour ===

impl Behaviour {
    /// A fixed response with no extra headers.
    pub fn fixed(status: u16, body: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::Fixed {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Sleeps `delay`, then behaves as `then`.
    pub fn delay(delay: Duration, then: Behaviour) -> Behaviour {
        Behaviour::Delay(delay, Box::new(then))
    }
}

// === impl Recorded ===

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::client::header_values(&self.headers, name)
            .into_iter()
            .next()
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        crate::client::header_values(&self.headers, name)
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn raw_head_text(&self) -> String {
        String::from_utf8_lossy(&self.raw_head).into_owned()
    }
}

// === impl MockUpstream ===

impl MockUpstream {
    /// Binds 127.0.0.1:0 and serves on background threads.
    pub fn start(behaviour: Behaviour) -> MockUpstream {
        MockUpstream::start_at("127.0.0.1:0".parse().expect("an address"), behaviour)
    }

    /// Binds `addr` (say, the address of a mock that was killed, to bring it back).
    pub fn start_at(addr: SocketAddr, behaviour: Behaviour) -> MockUpstream {
        let listener = TcpListener::bind(addr).expect("bind a mock upstream");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let state = Arc::new(State {
            behaviour: Mutex::new(behaviour),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let accept_state = Arc::clone(&state);
        thread::Builder::new()
            .name(format!("mock-upstream-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_state))
            .expect("spawn the mock upstream's accept thread");
        MockUpstream { addr, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as an integration URI's authority and the forwarded `Host` header.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Dies as a crashed process would: stops listening (connects are refused) and resets every
    /// open connection.
    pub fn kill(self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for (_, c) in lock(&self.state.open).drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Changes what the mock does from the next request on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.behaviour) = behaviour;
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.requests).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        lock(&self.state.requests).clear();
    }

    /// Waits until at least `n` requests were recorded; panics after `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "mock upstream {} saw {} request(s) within {timeout:?}, wanted {n}",
                self.addr,
                seen.len()
            );
            crate::sleep(Duration::from_millis(10));
        }
    }

    /// The only request received; panics unless exactly one arrived.
    pub fn single_request(&self) -> Recorded {
        let seen = self.requests();
        assert_eq!(
            seen.len(),
            1,
            "mock upstream expected exactly one request, got {seen:#?}"
        );
        seen.into_iter().next().expect("length checked above")
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop(listener: TcpListener, state: Arc<State>) {
    for stream in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let id = state.connections.fetch_add(1, Ordering::SeqCst);
        if let Ok(c) = stream.try_clone() {
            lock(&state.open).push((id, c));
        }
        let conn_state = Arc::clone(&state);
        let spawned = thread::Builder::new()
            .name(format!("mock-conn-{id}"))
            .spawn(move || {
                // A failed connection is the gateway's business; the mock just stops serving it.
                let _ = serve(stream, &conn_state, id);
                lock(&conn_state.open).retain(|(i, _)| *i != id);
            });
        if spawned.is_err() {
            return;
        }
    }
}

fn serve(mut stream: TcpStream, state: &State, connection: usize) -> io::Result<()> {
    stream.set_read_timeout(Some(MOCK_IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(MOCK_IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut buf = Vec::new();
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Behaviour::Reset = *lock(&state.behaviour) {
            return reset(stream);
        }
        let Some(req) = read_request(&mut stream, &mut buf, connection)? else {
            return Ok(());
        };
        // Read the behaviour only now: a pooled connection may have waited across a change.
        let behaviour = lock(&state.behaviour).clone();
        lock(&state.requests).push(req.clone());
        let close = !respond(&mut stream, &req, &behaviour)?;
        let client_close = req
            .header_all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"));
        if close || client_close || req.version == "HTTP/1.0" {
            return Ok(());
        }
    }
}

/// Waits for the first bytes of a request, then closes with data unread (RST).
fn reset(mut stream: TcpStream) -> io::Result<()> {
    let mut one = [0u8; 1];
    if stream.read(&mut one)? == 0 {
        return Ok(());
    }
    // Let the rest of the request land in the receive buffer, so the close discards data.
    crate::sleep(Duration::from_millis(50));
    drop(stream);
    Ok(())
}

/// Writes the response `behaviour` makes for `req`. Returns whether the connection stays open.
fn respond(stream: &mut TcpStream, req: &Recorded, behaviour: &Behaviour) -> io::Result<bool> {
    let head_only = req.method == "HEAD";
    match behaviour {
        Behaviour::Echo => {
            let body = echo_json(req).to_string().into_bytes();
            write_fixed(
                stream,
                200,
                &[("Content-Type", "application/json")],
                &body,
                head_only,
            )?;
        }
        Behaviour::EchoBody => {
            let ct = req
                .header("content-type")
                .unwrap_or("application/octet-stream")
                .to_string();
            write_fixed(stream, 200, &[("Content-Type", &ct)], &req.body, head_only)?;
        }
        Behaviour::Fixed {
            status,
            headers,
            body,
        } => {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            write_fixed(stream, *status, &headers, body, head_only)?;
        }
        Behaviour::Chunked { headers, chunks } => {
            let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n".to_vec();
            for (n, v) in headers {
                out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            stream.write_all(&out)?;
            if !head_only {
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    stream.write_all(format!("{:x};ext=1\r\n", c.len()).as_bytes())?;
                    stream.write_all(c)?;
                    stream.write_all(b"\r\n")?;
                    stream.flush()?;
                }
                stream.write_all(b"0\r\n\r\n")?;
            }
        }
        Behaviour::Large { len } => {
            write_fixed(
                stream,
                200,
                &[("Content-Type", "application/octet-stream")],
                &pattern(*len),
                head_only,
            )?;
        }
        Behaviour::Delay(delay, then) => {
            crate::sleep(*delay);
            return respond(stream, req, then);
        }
        Behaviour::CloseWithoutAnswer | Behaviour::Reset => return Ok(false),
        Behaviour::Raw(bytes) => {
            stream.write_all(bytes)?;
            stream.flush()?;
            return Ok(false);
        }
        Behaviour::RawThenReset(bytes) => {
            stream.write_all(bytes)?;
            stream.flush()?;
            // The close that follows (when the connection's thread ends) sends RST.
            socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO))?;
            return Ok(false);
        }
    }
    stream.flush()?;
    Ok(true)
}

fn write_fixed(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    let bodyless_status = (100..200).contains(&status) || status == 204 || status == 304;
    if !bodyless_status {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !head_only && !bodyless_status {
        out.extend_from_slice(body);
    }
    stream.write_all(&out)
}

/// Reads one request from `stream` (leftover bytes stay in `buf`). `None`: the peer closed
/// cleanly between requests.
fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    connection: usize,
) -> io::Result<Option<Recorded>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(invalid("request head too large"));
        }
        if fill(stream, buf)? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(invalid("closed mid-head"))
            };
        }
    };
    let raw_head: Vec<u8> = buf.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&raw_head[..head_end - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let version = parts.next().unwrap_or_default().to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| invalid("header line without a colon"))?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut req = Recorded {
        method,
        target,
        path,
        query,
        version,
        headers,
        body: Vec::new(),
        chunked: false,
        raw_head,
        connection,
    };
    let chunked = req
        .header_all("transfer-encoding")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        req.chunked = true;
        req.body = read_chunked(stream, buf)?;
    } else if let Some(cl) = req.header("content-length") {
        let len: usize = cl.parse().map_err(|_| invalid("bad content-length"))?;
        if len > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        while buf.len() < len {
            if fill(stream, buf)? == 0 {
                return Err(invalid("closed mid-body"));
            }
        }
        req.body = buf.drain(..len).collect();
    }
    Ok(Some(req))
}

fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(stream, buf)?;
        let size_text = line
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let size = usize::from_str_radix(&size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        if size == 0 {
            while !read_line(stream, buf)?.is_empty() {}
            return Ok(body);
        }
        while buf.len() < size + 2 {
            if fill(stream, buf)? == 0 {
                return Err(invalid("closed mid-chunk"));
            }
        }
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}

fn read_line(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<String> {
    loop {
        if let Some(i) = find(buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(invalid("line too long"));
        }
        if fill(stream, buf)? == 0 {
            return Err(invalid("closed mid-line"));
        }
    }
}

fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 64 * 1024];
    let n = stream.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The JSON [`Behaviour::Echo`] answers with:
/// `{"method","path","query","version","headers":{lowercase name: [values]},"bodyLen","bodyFnv"}`.
pub fn echo_json(req: &Recorded) -> serde_json::Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in &req.headers {
        headers
            .entry(n.to_ascii_lowercase())
            .or_default()
            .push(v.clone());
    }
    serde_json::json!({
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "version": req.version,
        "headers": headers,
        "bodyLen": req.body.len(),
        "bodyFnv": format!("{:016x}", fnv1a(&req.body)),
    })
}

/// A deterministic, position-dependent body: a misplaced or dropped chunk changes it.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ ((i / 251) % 256) as u8)
        .collect()
}

/// FNV-1a, to compare large bodies in messages without printing them.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        418 => "I'm a teapot",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// Locks, ignoring poisoning: a panicking test thread must not cascade into the mock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
