//! A raw HTTP/1.1 client over a real socket: requests are bytes we choose (so tests can send
//! malformed ones), responses are parsed by hand with a timeout on every read.
//!
//! Why not a client library: the framing tests must send exactly the bytes a smuggler would, and
//! the keep-alive tests must see exactly what the gateway wrote, including what it should not have.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Default bound on every socket read and write: long enough for a debug build under load,
/// short enough that a hung gateway fails the test instead of the CI job.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on a response head we are willing to buffer.
const MAX_RESPONSE_HEAD_BYTES: usize = 1024 * 1024;

/// Bound on a response body we are willing to buffer (the gateway's own limit is 10 MB).
const MAX_RESPONSE_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A request to serialize. Nothing is validated: tests build what they need, including the
/// invalid.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request method token, sent verbatim.
    pub method: String,
    /// Request target (`/path?query`), sent verbatim.
    pub target: String,
    /// `HTTP/1.1` unless a test says otherwise.
    pub version: String,
    /// Header lines in order, sent verbatim as `name: value`.
    pub headers: Vec<(String, String)>,
    /// The body; framed by `Content-Length` unless `chunks` is set.
    pub body: Vec<u8>,
    /// When set, the body is sent with `Transfer-Encoding: chunked`, one chunk per entry.
    pub chunks: Option<Vec<Vec<u8>>>,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Header lines in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
    /// Whether the body arrived with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Whether the body was delimited by the server closing the connection.
    pub close_delimited: bool,
}

/// Why reading a response failed.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection; `partial` is what arrived of the response.
    Closed { partial: Vec<u8> },
    /// The read timed out or failed; `partial` is what arrived of the response.
    Io { error: io::Error, partial: Vec<u8> },
    /// The bytes are not an HTTP/1.x response.
    Malformed(String),
}

/// What [`Client::read_until_closed`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The server closed the connection (FIN); the bytes received before it.
    Eof(Vec<u8>),
    /// The server reset the connection; the bytes received before it.
    Reset(Vec<u8>),
    /// The connection was still open at the deadline; the bytes received meanwhile.
    StillOpen(Vec<u8>),
}

/// One downstream connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// Bytes read but not yet consumed: pipelined responses arrive together.
    buf: Vec<u8>,
}

// === impl Request ===

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            version: "HTTP/1.1".to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            chunks: None,
        }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    pub fn post(target: &str, body: impl Into<Vec<u8>>) -> Request {
        Request::new("POST", target).body(body)
    }

    /// Appends a header line (duplicates allowed, on purpose).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn host(self, host: &str) -> Request {
        self.header("Host", host)
    }

    pub fn version(mut self, version: &str) -> Request {
        self.version = version.to_string();
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sends the body chunked, one chunk per entry (empty entries are skipped: an empty chunk
    /// would end the body).
    pub fn chunked(mut self, chunks: Vec<Vec<u8>>) -> Request {
        self.chunks = Some(chunks);
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The bytes on the wire. Adds `Content-Length` (or `Transfer-Encoding: chunked`) unless
    /// the test set a framing header itself.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!("{} {} {}\r\n", self.method, self.target, self.version).as_bytes(),
        );
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        let framed = self.has_header("content-length") || self.has_header("transfer-encoding");
        match &self.chunks {
            Some(chunks) => {
                if !framed {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                }
                out.extend_from_slice(b"\r\n");
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            None => {
                let wants_length = !self.body.is_empty()
                    || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
                if wants_length && !framed {
                    out.extend_from_slice(
                        format!("Content-Length: {}\r\n", self.body.len()).as_bytes(),
                    );
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&self.body);
            }
        }
        out
    }
}

/// The values of header `name` (case-insensitive) in a list of (name, value), in order.
pub(crate) fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

// === impl Response ===

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_values(&self.headers, name).into_iter().next()
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        header_values(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the response if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}):\n{self}"))
    }

    /// The `apigw-requestid` header; panics if absent or empty.
    pub fn request_id(&self) -> &str {
        match self.header("apigw-requestid") {
            Some(id) if !id.trim().is_empty() => id,
            _ => panic!("response has no non-empty apigw-requestid header:\n{self}"),
        }
    }

    /// Whether `Connection: close` is among the response headers.
    pub fn says_close(&self) -> bool {
        self.header_all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} {}", self.version, self.status, self.reason)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}: {v}")?;
        }
        let shown = &self.body[..self.body.len().min(512)];
        write!(f, "\n{}", String::from_utf8_lossy(shown))?;
        if self.body.len() > shown.len() {
            write!(f, "... ({} bytes in all)", self.body.len())?;
        }
        Ok(())
    }
}

// === impl ReadError ===

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed { partial } => {
                write!(
                    f,
                    "connection closed after {} bytes: {:?}",
                    partial.len(),
                    preview(partial)
                )
            }
            ReadError::Io { error, partial } => {
                write!(
                    f,
                    "read failed ({error}) after {} bytes: {:?}",
                    partial.len(),
                    preview(partial)
                )
            }
            ReadError::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

impl std::error::Error for ReadError {}

// === impl Closed ===

impl Closed {
    /// Whether the server closed (FIN or RST) before the deadline.
    pub fn is_closed(&self) -> bool {
        !matches!(self, Closed::StillOpen(_))
    }

    /// The bytes received before the close (or the deadline).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Closed::Eof(b) | Closed::Reset(b) | Closed::StillOpen(b) => b,
        }
    }
}

// === impl Client ===

impl Client {
    /// Connects with [`IO_TIMEOUT`] on connect, reads and writes; panics on failure.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        Client::try_connect_timeout(addr, IO_TIMEOUT)
    }

    pub fn try_connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream
            .local_addr()
            .expect("a connected socket has a local address")
    }

    /// Sets the timeout of each read (not of a whole response).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("a non-zero timeout is valid");
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes)
            .unwrap_or_else(|e| panic!("write {} bytes: {e}", bytes.len()));
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Half-closes our side: the server reads EOF.
    pub fn shutdown_write(&self) {
        // The peer may already be gone; that is what some tests check, so ignore the error.
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Sends `req` and reads its response (a `HEAD` response is read without a body).
    pub fn request(&mut self, req: &Request) -> Response {
        self.send(&req.to_bytes());
        self.read_response_to(&req.method)
    }

    /// Like [`Client::request`], without panicking.
    pub fn try_request(&mut self, req: &Request) -> Result<Response, ReadError> {
        self.try_send(&req.to_bytes())
            .map_err(|error| ReadError::Io {
                error,
                partial: Vec::new(),
            })?;
        self.try_read_response_to(&req.method)
    }

    /// Reads one response to a request that was not `HEAD`; panics on failure.
    pub fn read_response(&mut self) -> Response {
        self.read_response_to("GET")
    }

    /// Reads one response to a `method` request; panics on failure.
    pub fn read_response_to(&mut self, method: &str) -> Response {
        self.try_read_response_to(method)
            .unwrap_or_else(|e| panic!("reading the response to {method}: {e}"))
    }

    pub fn try_read_response(&mut self) -> Result<Response, ReadError> {
        self.try_read_response_to("GET")
    }

    /// Reads one response (a 1xx interim response counts as one). The body is delimited as
    /// RFC 9112 section 6.3 says, from the response and the request `method`.
    pub fn try_read_response_to(&mut self, method: &str) -> Result<Response, ReadError> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_RESPONSE_HEAD_BYTES {
                return Err(ReadError::Malformed(format!(
                    "head over {MAX_RESPONSE_HEAD_BYTES} bytes"
                )));
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end - 4]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(ReadError::Malformed(format!("status line {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ReadError::Malformed(format!("status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| ReadError::Malformed(format!("header line {line:?}")))?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        self.buf.drain(..head_end);
        let mut response = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            chunked: false,
            close_delimited: false,
        };
        let no_body = method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&status)
            || status == 204
            || status == 304;
        if no_body {
            return Ok(response);
        }
        let te = response.header_all("transfer-encoding").join(",");
        if !te.is_empty() {
            if !te.trim().eq_ignore_ascii_case("chunked") {
                return Err(ReadError::Malformed(format!(
                    "response transfer-encoding {te:?}"
                )));
            }
            response.chunked = true;
            response.body = self.read_chunked()?;
        } else if let Some(cl) = response.header("content-length") {
            let len: usize = cl
                .parse()
                .map_err(|_| ReadError::Malformed(format!("response content-length {cl:?}")))?;
            if len > MAX_RESPONSE_BODY_BYTES {
                return Err(ReadError::Malformed(format!(
                    "response content-length {len} too large"
                )));
            }
            while self.buf.len() < len {
                self.fill()?;
            }
            response.body = self.buf.drain(..len).collect();
        } else {
            response.close_delimited = true;
            loop {
                match self.fill() {
                    Ok(_) => {}
                    Err(ReadError::Closed { .. }) => break,
                    Err(e) => return Err(e),
                }
                if self.buf.len() > MAX_RESPONSE_BODY_BYTES {
                    return Err(ReadError::Malformed(
                        "close-delimited body too large".into(),
                    ));
                }
            }
            response.body = std::mem::take(&mut self.buf);
        }
        Ok(response)
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Malformed(format!("chunk size line {line:?}")))?;
            if body.len() + size > MAX_RESPONSE_BODY_BYTES {
                return Err(ReadError::Malformed("chunked body too large".into()));
            }
            if size == 0 {
                // Trailer section: lines until an empty one.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(ReadError::Malformed(
                    "chunk data not followed by CRLF".into(),
                ));
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    fn read_line(&mut self) -> Result<String, ReadError> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_RESPONSE_HEAD_BYTES {
                return Err(ReadError::Malformed("line too long".into()));
            }
            self.fill()?;
        }
    }

    /// Reads more bytes into `buf`; EOF is [`ReadError::Closed`].
    fn fill(&mut self) -> Result<usize, ReadError> {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ReadError::Closed {
                partial: std::mem::take(&mut self.buf),
            }),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(error) => Err(ReadError::Io {
                error,
                partial: std::mem::take(&mut self.buf),
            }),
        }
    }

    /// Reads until the server closes the connection or `within` passes. Bytes already buffered
    /// count as received.
    pub fn read_until_closed(&mut self, within: Duration) -> Closed {
        let deadline = Instant::now() + within;
        let mut received = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Closed::StillOpen(received);
            }
            self.set_read_timeout(left.min(Duration::from_millis(100)));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Closed::Eof(received),
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Closed::Reset(received),
            }
        }
    }

    /// Whether the server has closed the connection, without waiting more than `within`
    /// (and consuming whatever it sent meanwhile).
    pub fn is_closed_within(&mut self, within: Duration) -> bool {
        self.read_until_closed(within).is_closed()
    }
}

/// First position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Up to 200 bytes of `bytes`, lossily, for messages.
pub fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}
