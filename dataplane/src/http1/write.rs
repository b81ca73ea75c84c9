//! Response head writing into a reused buffer. No formatting machinery, no allocation beyond the
//! buffer's growth.

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

/// Copies header lines from the buffer they were parsed from into `out`: a run of adjacent
/// lines already in the form `name: value\r\n` (most are) goes in one copy, any other header is
/// written field by field. Every proxied request and response copies its headers this way: one
/// copy a run instead of four a header. The run is written when a line does not continue it,
/// and when `Lines` is dropped (it holds `out`, so nothing can be written between).
#[derive(Debug)]
pub struct Lines<'o, 'b> {
    out: &'o mut Vec<u8>,
    buf: &'b [u8],
    /// The pending run of lines in `buf` (empty: none).
    run: (usize, usize),
}

impl<'o, 'b> Lines<'o, 'b> {
    pub fn new(out: &'o mut Vec<u8>, buf: &'b [u8]) -> Self {
        Lines {
            out,
            buf,
            run: (0, 0),
        }
    }

    /// Appends the header whose name and value are at `name` and `value` in the buffer.
    #[inline]
    pub fn push(&mut self, name: (u32, u32), value: (u32, u32)) {
        let (ns, ne) = (name.0 as usize, name.1 as usize);
        let (vs, ve) = (value.0 as usize, value.1 as usize);
        let canonical = vs == ne + 2
            && self.buf.get(ne..vs) == Some(b": ")
            && self.buf.get(ve..ve + 2) == Some(b"\r\n");
        if canonical && self.run.1 == ns && self.run.0 != self.run.1 {
            self.run.1 = ve + 2;
            return;
        }
        self.flush();
        if canonical {
            self.run = (ns, ve + 2);
        } else {
            header(self.out, &self.buf[ns..ne], &self.buf[vs..ve]);
        }
    }

    fn flush(&mut self) {
        let (s, e) = std::mem::take(&mut self.run);
        if s != e {
            self.out.extend_from_slice(&self.buf[s..e]);
        }
    }
}

impl Drop for Lines<'_, '_> {
    fn drop(&mut self) {
        self.flush();
    }
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

/// Whether `name` (a parsed header name) is a hop-by-hop header.
#[inline]
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    name.len() < 32
        && HOP_BY_HOP_LENGTHS & (1 << name.len()) != 0
        && HOP_BY_HOP.iter().any(|h| super::parse::is_name(name, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::parse::span_in;

    /// The lines written are what `header` writes for each pushed header, in order, whether
    /// they were in the canonical form (copied in runs) or not (written field by field).
    #[test]
    fn lines_copy_what_header_writes() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Two:  2  \r\nX-Three: 3\r\nX-Empty: \r\nX-Four: 4\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut storage);
        assert!(req.parse(head).unwrap().is_complete());
        let base = head.as_ptr() as usize;
        let spans: Vec<_> = req
            .headers
            .iter()
            .map(|h| {
                (
                    span_in(base, head.len(), h.name.as_bytes()),
                    span_in(base, head.len(), h.value),
                )
            })
            .collect();
        // Every subset of the headers (the skipped ones break the runs).
        for mask in 0u32..(1 << spans.len()) {
            let kept: Vec<_> = (0..spans.len()).filter(|i| mask & (1 << i) != 0).collect();
            let mut want = b"start\r\n".to_vec();
            for &i in &kept {
                let h = &req.headers[i];
                header(&mut want, h.name.as_bytes(), h.value);
            }
            let mut got = b"start\r\n".to_vec();
            let mut lines = Lines::new(&mut got, head);
            for &i in &kept {
                lines.push(spans[i].0, spans[i].1);
            }
            drop(lines);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "headers {kept:?}"
            );
        }
    }
}
