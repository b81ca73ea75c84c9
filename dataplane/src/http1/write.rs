//! Response head writing into a reused buffer. No formatting machinery, no allocation beyond the
//! buffer's growth.

use crate::http1::parse::Span;

/// Appends `HTTP/1.1 {status} {reason}\r\n`.
pub fn status_line(out: &mut Vec<u8>, status: u16, reason: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value\r\n`.
#[inline]
pub fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: {n}\r\n`.
#[inline]
pub fn header_u64(out: &mut Vec<u8>, name: &[u8], n: u64) {
    header(out, name, itoa::Buffer::new().format(n).as_bytes());
}

/// The canonical reason phrase for a status, or `Unknown`.
pub fn reason(status: u16) -> &'static [u8] {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
        .as_bytes()
}

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1), in
/// lowercase. Headers named in `Connection` are hop-by-hop too; callers check those separately.
pub const HOP_BY_HOP: [&[u8]; 8] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"proxy-authorization",
];

/// Bit `n` is set when a [`HOP_BY_HOP`] name is `n` bytes long: most headers are ruled out by
/// their length alone, before any byte is compared.
const HOP_BY_HOP_LENGTHS: u32 = {
    let mut mask = 0u32;
    let mut i = 0;
    while i < HOP_BY_HOP.len() {
        mask |= 1 << HOP_BY_HOP[i].len();
        i += 1;
    }
    mask
};

/// Whether `name` is a hop-by-hop header.
#[inline]
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    name.len() < 32
        && HOP_BY_HOP_LENGTHS & (1 << name.len()) != 0
        && HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Copies header lines from a parsed head into an outgoing one, a run of adjacent lines at a
/// time: a proxied request or response passes most of its headers on unchanged, and one copy
/// of the run replaces four (name, `": "`, value, CRLF) per line.
///
/// Only a line whose bytes are already what [`header`] writes (`name`, `": "`, `value`, CRLF)
/// is copied raw, so the output is byte for byte what [`header`] would have written; any
/// other line is written through [`header`]. Callers push every kept line in
/// order and call [`HeaderLines::flush`] before writing anything else into `out`.
#[derive(Debug)]
pub struct HeaderLines<'b> {
    /// The head the spans index into.
    buf: &'b [u8],
    /// The pending run of raw lines, `buf[start..end]` (empty when `start == end`).
    run: (usize, usize),
}

impl<'b> HeaderLines<'b> {
    pub fn new(buf: &'b [u8]) -> HeaderLines<'b> {
        HeaderLines { buf, run: (0, 0) }
    }

    /// Passes on the header `(name, value)` (spans of the head).
    #[inline]
    pub fn push(&mut self, out: &mut Vec<u8>, name: Span, value: Span) {
        let (n0, n1) = (name.0 as usize, name.1 as usize);
        let (v0, v1) = (value.0 as usize, value.1 as usize);
        let canonical = n0 < n1
            && v0 == n1 + 2
            && self.buf.get(n1..v0) == Some(&b": "[..])
            && self.buf.get(v1..v1 + 2) == Some(&b"\r\n"[..]);
        if canonical {
            if self.run.1 != n0 || self.run.0 == self.run.1 {
                self.flush(out);
                self.run.0 = n0;
            }
            self.run.1 = v1 + 2;
        } else {
            self.flush(out);
            header(out, &self.buf[n0..n1], &self.buf[v0..v1]);
        }
    }

    /// Writes the pending run.
    #[inline]
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.run.0 != self.run.1 {
            out.extend_from_slice(&self.buf[self.run.0..self.run.1]);
        }
        self.run = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::parse::{bytes, span_in};

    /// Whatever lines are kept, the runs copied raw give the bytes `header` gives line by line:
    /// canonical lines, lines spaced otherwise, empty values, lines dropped between kept ones.
    #[test]
    fn header_lines_write_what_header_writes() {
        let head: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 07 Dec 2026\r\n\
            X-Tight:v\r\nX-Wide:   w  \r\nX-Empty: \r\nX-Bare:\r\nContent-Length: 2\r\n\
            Content-Type: text/plain\r\nConnection: keep-alive\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Response::new(&mut storage);
        assert!(r.parse(head).unwrap().is_complete());
        let base = head.as_ptr() as usize;
        let spans: Vec<(Span, Span)> = r
            .headers
            .iter()
            .map(|h| {
                let name = span_in(base, head.len(), h.name.as_bytes());
                (name, span_in(base, head.len(), h.value))
            })
            .collect();
        assert_eq!(spans.len(), 9);
        for keep in 0u32..1 << spans.len() {
            let (mut want, mut got) = (b"<".to_vec(), b"<".to_vec());
            let mut lines = HeaderLines::new(head);
            for (i, &(n, v)) in spans.iter().enumerate() {
                if keep & (1 << i) != 0 {
                    header(&mut want, bytes(head, n), bytes(head, v));
                    lines.push(&mut got, n, v);
                }
            }
            lines.flush(&mut got);
            want.push(b'>');
            got.push(b'>');
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "kept {keep:b}"
            );
        }
    }
}
