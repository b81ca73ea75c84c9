//! Percent-decoding (`%XX` to a byte), written once for the data plane and the compilers:
//! a malformed escape (`%zz`, a `%` with fewer than two characters after it) and `+` stay as
//! they are.

/// The bytes of a percent-encoded component, decoded on the fly (no allocation).
#[derive(Debug, Clone)]
pub struct Decoded<'a>(pub &'a [u8]);

impl Iterator for Decoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let (&first, rest) = self.0.split_first()?;
        if first == b'%' && rest.len() >= 2 {
            if let (Some(h), Some(l)) = (hex(rest[0]), hex(rest[1])) {
                self.0 = &rest[2..];
                return Some(h << 4 | l);
            }
        }
        self.0 = rest;
        Some(first)
    }
}

/// Appends `raw` decoded to `out`.
pub fn decode_into(raw: &[u8], out: &mut Vec<u8>) {
    out.extend(Decoded(raw));
}

/// `raw` decoded, in a new buffer.
pub fn decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    decode_into(raw, &mut out);
    out
}

/// Whether two components are equal once decoded.
pub fn same_decoded(a: &[u8], b: &[u8]) -> bool {
    a == b || ((a.contains(&b'%') || b.contains(&b'%')) && Decoded(a).eq(Decoded(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_valid_escapes_and_keeps_malformed_ones() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a%20b%0D%0A%zz%4", b"a b\r\n%zz%4"),
            (b"ab%3D%3d", b"ab=="),
            (b"a+b", b"a+b"),
            (b"%", b"%"),
            (b"%4", b"%4"),
            (b"%41", b"A"),
            (b"", b""),
        ];
        for (raw, want) in cases {
            assert_eq!(decode(raw), *want, "{:?}", String::from_utf8_lossy(raw));
        }
        assert!(same_decoded(b"a%20b", b"a b"));
        assert!(!same_decoded(b"a", b"b"));
    }
}
