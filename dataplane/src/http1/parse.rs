//! Request head parsing with strict framing: every ambiguity that could let two parties disagree
//! on where a request ends is an error (answered 400, connection closed, nothing forwarded).
//!
//! # Architecture
//! 1. httparse parses the head (it rejects invalid tokens, versions, obs-fold, whitespace before
//!    the colon and control characters in values).
//! 2. A byte scan rejects what httparse tolerates: bare CR, bare LF (LF-only line endings) and NUL.
//! 3. Framing headers are checked: one Content-Length of plain digits, Transfer-Encoding exactly
//!    `chunked` and never with Content-Length, exactly one Host on HTTP/1.1.
//!
//! A partial head is `Ok(None)`, not an error.

use http::Method;

use portico_shared::limits::{HEADER_COUNT_CEILING, URI_MAX_BYTES};

/// A byte range in the connection's buffer.
pub type Span = (u32, u32);

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head, as offsets into the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub version: Version,
    /// Path without the query string.
    pub path: Span,
    /// Query string without the `?`; empty span when absent.
    pub query: Span,
    /// Bytes of the head, up to and including the blank line.
    pub head_len: usize,
    pub body: BodyKind,
    /// Whether the connection stays open after this exchange (version default and `Connection`).
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub host: Option<Span>,
    /// `x-apigw-api-id`, which selects an API whatever the Host.
    pub api_id: Option<Span>,
    /// Header names listed in `Connection` (hop-by-hop, never forwarded).
    pub connection_tokens: [Span; 8],
    pub connection_token_count: usize,
}

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("request header fields too large")]
    HeadersTooLarge,
    #[error("unsupported expectation")]
    Expectation,
    #[error("request target too long")]
    UriTooLong,
}

/// Headers as (name, value) spans, reused across requests on one connection.
pub type HeaderSpans = Vec<(Span, Span)>;

/// Parses a request head from `buf`. `Ok(None)`: incomplete, read more (unless `buf` is already
/// `max_header_bytes` long, which is [`ParseError::HeadersTooLarge`]).
pub fn parse_request(
    buf: &[u8],
    max_header_bytes: usize,
    max_header_count: usize,
    headers_out: &mut HeaderSpans,
) -> Result<Option<RequestHead>, ParseError> {
    // Uninitialized header storage: no 8 KiB memset per request.
    let mut storage =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_COUNT_CEILING];
    let limit = max_header_count.min(HEADER_COUNT_CEILING);
    let mut req = httparse::Request::new(&mut []);
    let window = &buf[..buf.len().min(max_header_bytes)];
    let head_len = match req.parse_with_uninit_headers(window, &mut storage[..limit]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if window.len() >= max_header_bytes {
                return Err(ParseError::HeadersTooLarge);
            }
            // Catch bare LF / NUL early so a client cannot make us wait on garbage.
            check_head_bytes(window, false)?;
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadersTooLarge),
        Err(e) => return Err(ParseError::Malformed(httparse_reason(e))),
    };
    check_head_bytes(&buf[..head_len], true)?;
    let base = buf.as_ptr() as usize;
    let len = buf.len();
    let span = |s: &[u8]| -> Span { span_in(base, len, s) };
    let method_str = req.method.ok_or(ParseError::Malformed("method"))?;
    let method =
        Method::from_bytes(method_str.as_bytes()).map_err(|_| ParseError::Malformed("method"))?;
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(ParseError::Malformed("version")),
    };
    let target = req.path.ok_or(ParseError::Malformed("request target"))?;
    if !target.starts_with('/') {
        // Only origin-form: absolute-form and '*' are for proxies and OPTIONS-to-server.
        return Err(ParseError::Malformed("request target must start with '/'"));
    }
    if target.len() > URI_MAX_BYTES {
        return Err(ParseError::UriTooLong);
    }
    let target_span = span(target.as_bytes());
    let (path, query) = match target.bytes().position(|b| b == b'?') {
        Some(q) => (
            (target_span.0, target_span.0 + q as u32),
            (target_span.0 + q as u32 + 1, target_span.1),
        ),
        None => (target_span, (target_span.1, target_span.1)),
    };

    let mut head = RequestHead {
        method,
        version,
        path,
        query,
        head_len,
        body: BodyKind::None,
        keep_alive: version == Version::Http11,
        expect_continue: false,
        host: None,
        api_id: None,
        connection_tokens: [(0, 0); 8],
        connection_token_count: 0,
    };
    headers_out.clear();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut host_count = 0;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let value = h.value;
        headers_out.push((span(name), span(value)));
        if is_name(name, b"content-length") {
            if content_length.is_some() {
                return Err(ParseError::Malformed("duplicate Content-Length"));
            }
            content_length = Some(parse_content_length(value)?);
        } else if is_name(name, b"transfer-encoding") {
            if chunked {
                return Err(ParseError::Malformed("duplicate Transfer-Encoding"));
            }
            if !trim(value).eq_ignore_ascii_case(b"chunked") {
                return Err(ParseError::Malformed(
                    "Transfer-Encoding must be exactly 'chunked'",
                ));
            }
            chunked = true;
        } else if is_name(name, b"host") {
            host_count += 1;
            let host = trim(value);
            if !valid_host(host) {
                return Err(ParseError::Malformed("invalid Host"));
            }
            head.host = Some(span(host));
        } else if is_name(name, b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                if token.is_empty() {
                    continue;
                }
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive_token = true;
                } else if head.connection_token_count < head.connection_tokens.len() {
                    head.connection_tokens[head.connection_token_count] = span(token);
                    head.connection_token_count += 1;
                } else {
                    return Err(ParseError::Malformed("too many Connection options"));
                }
            }
        } else if is_name(name, b"expect") {
            if version == Version::Http11 {
                if trim(value).eq_ignore_ascii_case(b"100-continue") {
                    head.expect_continue = true;
                } else {
                    return Err(ParseError::Expectation);
                }
            }
        } else if is_name(name, b"x-apigw-api-id") {
            head.api_id = Some(span(trim(value)));
        }
    }
    if host_count > 1 {
        return Err(ParseError::Malformed("duplicate Host"));
    }
    if host_count == 0 && version == Version::Http11 {
        return Err(ParseError::Malformed("missing Host"));
    }
    head.body = match (content_length, chunked) {
        (Some(_), true) => {
            return Err(ParseError::Malformed(
                "Content-Length with Transfer-Encoding",
            ))
        }
        (None, true) if version == Version::Http10 => {
            return Err(ParseError::Malformed("Transfer-Encoding on HTTP/1.0"))
        }
        (None, true) => BodyKind::Chunked,
        (Some(0), false) | (None, false) => BodyKind::None,
        (Some(n), false) => BodyKind::Length(n),
    };
    head.keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive_token && !close,
    };
    Ok(Some(head))
}

/// RFC 9112 §3.2: a Host that is not `uri-host [ ":" port ]` is a 400. Accepts reg-names
/// (unreserved, sub-delims except ',', pct-encoded), IPv6 literals and a numeric port.
fn valid_host(host: &[u8]) -> bool {
    if host.first() == Some(&b'[') {
        let (name, port) = match host.iter().rposition(|&b| b == b']') {
            Some(i) => (&host[..=i], host[i + 1..].strip_prefix(b":")),
            None => return false,
        };
        if port.is_none() && name.len() != host.len() {
            return false;
        }
        return valid_port(port.unwrap_or_default())
            && name.len() > 2
            && name[1..name.len() - 1]
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    // A reg-name then `:port`, in one forward pass (every request's Host is checked): the name
    // ends at the first byte a reg-name cannot hold, which must be the port's colon.
    let name_len = host
        .iter()
        .position(|&b| !REG_NAME[usize::from(b)])
        .unwrap_or(host.len());
    match host.get(name_len) {
        None => true,
        Some(b':') => valid_port(&host[name_len + 1..]),
        Some(_) => false,
    }
}

/// A port: up to five digits (empty, as in `host:`, is allowed by RFC 3986's grammar).
fn valid_port(port: &[u8]) -> bool {
    port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// Bytes a reg-name may hold: unreserved, sub-delims except ',', and '%' of pct-encoded. A
/// table: the Host of every request is checked, and a lookup per byte beats a chain of ranges.
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b';'
                    | b'='
            );
        b += 1;
    }
    t
};

/// Rejects bare CR, bare LF and NUL. `complete`: `head` ends with the blank line.
///
/// A complete head has passed httparse, which already refuses NUL and any CR not followed by LF
/// (in the request line, names and values alike) but takes a bare LF as a line end: only LFs are
/// checked then. A partial head is checked in full, so garbage is refused before more is read.
fn check_head_bytes(head: &[u8], complete: bool) -> Result<(), ParseError> {
    if complete {
        for i in memchr::memchr_iter(b'\n', head) {
            if i == 0 || head[i - 1] != b'\r' {
                return Err(ParseError::Malformed("bare LF in head"));
            }
        }
        return Ok(());
    }
    if memchr::memchr(0, head).is_some() {
        return Err(ParseError::Malformed("NUL in head"));
    }
    for i in memchr::memchr2_iter(b'\r', b'\n', head) {
        match head[i] {
            b'\r' => match head.get(i + 1) {
                Some(b'\n') | None => {}
                _ => return Err(ParseError::Malformed("bare CR in head")),
            },
            _ => {
                if i == 0 || head[i - 1] != b'\r' {
                    return Err(ParseError::Malformed("bare LF in head"));
                }
            }
        }
    }
    Ok(())
}

fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    let v = trim(value);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed("invalid Content-Length"));
    }
    let mut n: u64 = 0;
    for &d in v {
        n = n * 10 + u64::from(d - b'0');
    }
    Ok(n)
}

/// Trims optional whitespace (SP / HTAB) on both ends.
pub fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid version",
    }
}

/// The span of `s` within the buffer starting at address `base` with `len` bytes. httparse
/// hands out static slices for some empty values (an absent reason phrase): those, and anything
/// else outside the buffer, become the empty span at 0 instead of a wild offset.
pub fn span_in(base: usize, len: usize, s: &[u8]) -> Span {
    let start = (s.as_ptr() as usize).wrapping_sub(base);
    match start.checked_add(s.len()) {
        Some(end) if start <= len && end <= len => (start as u32, end as u32),
        _ => (0, 0),
    }
}

/// Whether `name`, a header name as parsed (token characters only), is `lower` ignoring ASCII
/// case, where `lower` holds only lowercase letters, digits and `-`: for the fixed names every
/// request's and response's headers are compared with. Each byte of `name` with bit 5 set is
/// then `lower`'s byte exactly when the two are equal ignoring case (the bytes it would confuse,
/// controls, are not token characters), so whole words compare at once, the last one
/// overlapping the one before.
#[inline(always)]
pub fn is_name(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(lower
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-'));
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(name, i) | 0x2020_2020_2020_2020 != word(lower, i) {
                return false;
            }
            i += 8;
        }
        return word(name, n - 8) | 0x2020_2020_2020_2020 == word(lower, n - 8);
    }
    if n >= 4 {
        return half(name, 0) | 0x2020_2020 == half(lower, 0)
            && half(name, n - 4) | 0x2020_2020 == half(lower, n - 4);
    }
    name.iter().zip(lower).all(|(a, b)| a | 0x20 == *b)
}

/// The eight bytes of `s` from `i`, as a little-endian word.
#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The four bytes of `s` from `i`, as a little-endian word.
#[inline(always)]
fn half(s: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(w)
}

/// The bytes of a span.
#[inline]
pub fn bytes(buf: &[u8], s: Span) -> &[u8] {
    &buf[s.0 as usize..s.1 as usize]
}

#[cfg(test)]
mod tests;
