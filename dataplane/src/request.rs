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

// Text formatting lives in `text.rs` (a leaf every module may import); re-exported here, where
// the request's other helpers are.
pub use crate::text::{
    clf_time, clock_time, escape_json, json_string, month_name, two_digits, unix_ms, write_ip,
};

#[cfg(test)]
mod tests;
