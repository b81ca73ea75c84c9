//! The request as every stage sees it, built once after the head is parsed, and the byte
//! helpers the whole data plane shares: the first value of a header, the first value of a query
//! parameter, JSON string escaping and the CLF timestamp. (Percent-decoding lives in
//! [`portico_shared::percent`], which the compilers use too; the civil date of a day count in
//! [`portico_shared::quota::civil_from_days`].)
//!
//! Nothing here allocates or reads a clock.

use std::net::SocketAddr;

use portico_shared::authorizer::Grant;

use crate::http1::parse::{bytes, trim, HeaderSpans};
use crate::http1::RequestHead;
use crate::request_id::RequestId;
use crate::tls::TlsSession;

/// The downstream request: its parsed head as spans of the connection's buffer, the peer, the
/// TLS facts and (once read) the body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub head: &'a RequestHead,
    /// The connection's read buffer; the head's spans index into it.
    pub buf: &'a [u8],
    pub headers: &'a HeaderSpans,
    /// Empty until the body is read.
    pub body: &'a [u8],
    pub peer: SocketAddr,
    /// The listener port the request came in on (`X-Forwarded-Port`).
    pub local_port: u16,
    /// The TLS session (HTTPS, a mutual TLS client's certificate); `None` for plain HTTP.
    pub tls: Option<&'a TlsSession>,
    /// For `$context.requestId` in parameter mapping.
    pub request_id: RequestId,
    /// A Lambda authorizer's grant, for `$context.authorizer.*`.
    pub grant: Option<&'a Grant>,
}

impl<'a> Request<'a> {
    /// The first value of header `name`; see [`header`].
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        header(self.buf, self.headers, name)
    }

    /// The first value of query string parameter `name`; see [`query`].
    pub fn query(&self, name: &[u8]) -> Option<&'a [u8]> {
        query(bytes(self.buf, self.head.query), name)
    }

    /// The path, without the query string, as sent.
    pub fn path(&self) -> &'a [u8] {
        bytes(self.buf, self.head.path)
    }
}

/// The first value of header `name` (matched case-insensitively) among `headers`, spans of
/// `buf`. A repeated header yields its first occurrence only (values are not joined). The value
/// is trimmed of SP and HTAB on both ends: the parser (httparse) already strips the optional
/// whitespace around a value, so on a parsed head this changes nothing, and a value from
/// elsewhere gets the same contract.
pub fn header<'b>(buf: &'b [u8], headers: &HeaderSpans, name: &[u8]) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|&&(n, _)| bytes(buf, n).eq_ignore_ascii_case(name))
        .map(|&(_, v)| trim(bytes(buf, v)))
}

/// The first value of parameter `name` in query string `query` (without the `?`): raw, as sent
/// (not percent-decoded); `name` is compared as sent too. A parameter without `=` has the empty
/// value.
pub fn query<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    if query.is_empty() {
        return None;
    }
    query.split(|&b| b == b'&').find_map(|pair| {
        let mut kv = pair.splitn(2, |&b| b == b'=');
        (kv.next()? == name).then(|| kv.next().unwrap_or_default())
    })
}

/// Appends `v` escaped for the inside of a JSON string: `"` and `\` escaped, `\n`, `\r` and
/// `\t` in their short forms, other control bytes as `\u00XX`; bytes that are not UTF-8 become
/// `\ufffd`.
pub fn escape_json(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for chunk in v.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b if b < 0x20 => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
                b => out.push(b),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
}

/// Appends `v` as a JSON string (quoted, see [`escape_json`]).
pub fn json_string(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'"');
    escape_json(out, v);
    out.push(b'"');
}

/// Appends `dd/Mon/yyyy:HH:mm:ss +0000` (CLF, UTC; `$context.requestTime`, `requestTime`).
pub fn clf_time(out: &mut Vec<u8>, now_ms: u64) {
    let s = now_ms / 1000;
    let (y, m, d) = portico_shared::quota::civil_from_days(s / 86_400);
    let t = s % 86_400;
    two_digits(out, u64::from(d));
    out.push(b'/');
    out.extend_from_slice(month_name(m));
    out.push(b'/');
    out.extend_from_slice(itoa::Buffer::new().format(y).as_bytes());
    out.push(b':');
    clock_time(out, t);
    out.extend_from_slice(b" +0000");
}

/// `Jan` for month 1, ... `Dec` for 12.
pub fn month_name(m: u32) -> &'static [u8; 3] {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS[(m as usize).saturating_sub(1) % 12]
}

/// Appends `HH:mm:ss` of second `t` of a day.
pub fn clock_time(out: &mut Vec<u8>, t: u64) {
    two_digits(out, t / 3600);
    out.push(b':');
    two_digits(out, t / 60 % 60);
    out.push(b':');
    two_digits(out, t % 60);
}

/// Appends the last two decimal digits of `v`, zero-padded.
pub fn two_digits(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Milliseconds since the epoch (`requestTimeEpoch`).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
