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
