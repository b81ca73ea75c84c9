//! The part of an upstream path that comes from the request (a `{proxy}` value, another path
//! parameter, the request path appended to the integration's), made safe to forward: written
//! once here for REST and HTTP APIs.
//!
//! Policy (as nginx and Envoy with `normalize_path`, the strictest of the peers):
//! - RFC 3986 `remove_dot_segments`, with `%2e` / `%2E` read as `.`: `.` segments go, a `..`
//!   segment takes the segment before it with it;
//! - a `..` that would climb above where the value starts (the integration URI's base) is
//!   refused: the request never leaves the path the integration names;
//! - empty segments (`a//b`) are merged, as nginx's default `merge_slashes`;
//! - a segment holding an encoded separator (`%2f`, `%5c`), a raw `\`, an encoded NUL (`%00`)
//!   or an overlong UTF-8 form (`%c0%ae`, `%c0%af`, `%e0%80%ae`, ...) is refused: an upstream
//!   that decodes it would see a separator, a dot segment or a truncated name the gateway never
//!   saw. Refused rather than kept encoded, because the gateway cannot know whether the
//!   upstream decodes before it resolves.
//!
//! Everything else is forwarded as received (no decoding, no re-encoding).

use crate::percent::Decoded;

/// Why a path value was refused (the request gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A `..` would climb above the value's start.
    AboveBase,
    /// `%2f`, `%5c`, a raw `\` or `%00` inside a segment.
    EncodedSeparator,
    /// A byte sequence no valid UTF-8 encoder produces for `.` or `/`: overlong forms.
    Overlong,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::AboveBase => "path climbs above the integration path",
            Refused::EncodedSeparator => "encoded separator or NUL in a path segment",
            Refused::Overlong => "overlong UTF-8 in a path segment",
        }
    }
}

/// Normalizes `out[start..]` in place (it only shrinks: no allocation). The tail may start with
/// `/`, which is kept; a trailing `/` is kept. On error `out` is left as it was past `start`
/// only in part: the caller discards it.
pub fn normalize_tail(out: &mut Vec<u8>, start: usize) -> Result<(), Refused> {
    if is_plain(&out[start..]) {
        return Ok(());
    }
    remove_dot_segments(out, start)
}

/// True when normalizing `tail` changes and refuses nothing: no `.`, `%` or `\` and no empty
/// segment inside. One pass over the bytes: most request paths take it.
fn is_plain(tail: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in tail {
        if matches!(b, b'.' | b'%' | b'\\') || (b == b'/' && prev == b'/') {
            return false;
        }
        prev = b;
    }
    true
}

/// [`normalize_tail`] for a tail that is not [`is_plain`].
fn remove_dot_segments(out: &mut Vec<u8>, start: usize) -> Result<(), Refused> {
    let len = out.len();
    let mut r = start;
    let mut w = start;
    if out.get(start) == Some(&b'/') {
        r += 1;
        w += 1;
    }
    // `out[floor..w]` holds kept segments, each followed by `/`.
    let floor = w;
    while r <= len {
        let end = out[r..len]
            .iter()
            .position(|&b| b == b'/')
            .map_or(len, |i| r + i);
        let last = end == len;
        let seg = &out[r..end];
        check_segment(seg)?;
        match dots(seg) {
            _ if seg.is_empty() => {}
            1 => {}
            2 => {
                if w == floor {
                    return Err(Refused::AboveBase);
                }
                w -= 1;
                while w > floor && out[w - 1] != b'/' {
                    w -= 1;
                }
            }
            _ => {
                out.copy_within(r..end, w);
                w += end - r;
                if !last {
                    out[w] = b'/';
                    w += 1;
                }
            }
        }
        r = end + 1;
    }
    out.truncate(w);
    Ok(())
}

/// 1 for a `.` segment, 2 for `..` (either written with `%2e`), 0 otherwise.
fn dots(seg: &[u8]) -> usize {
    if seg.is_empty() || seg.len() > 6 {
        return 0;
    }
    let mut n = 0;
    for b in Decoded(seg) {
        if b != b'.' {
            return 0;
        }
        n += 1;
    }
    if n <= 2 {
        n
    } else {
        0
    }
}

fn check_segment(seg: &[u8]) -> Result<(), Refused> {
    if seg.contains(&b'\\') {
        return Err(Refused::EncodedSeparator);
    }
    if !seg.contains(&b'%') {
        return Ok(());
    }
    let mut prev: Option<u8> = None;
    let mut i = 0;
    while i < seg.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let decoded = match (seg[i], seg.get(i + 1), seg.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => {
                    i += 3;
                    Some(h << 4 | l)
                }
                _ => None,
            },
            _ => None,
        };
        let Some(b) = decoded else {
            prev = None;
            i += 1;
            continue;
        };
        match b {
            b'/' | b'\\' | 0 => return Err(Refused::EncodedSeparator),
            0xC0 | 0xC1 => return Err(Refused::Overlong),
            0x80..=0x9F if prev == Some(0xE0) => return Err(Refused::Overlong),
            0x80..=0x8F if prev == Some(0xF0) => return Err(Refused::Overlong),
            _ => {}
        }
        prev = Some(b);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(base: &str, tail: &str) -> Result<String, Refused> {
        let mut out = base.as_bytes().to_vec();
        out.extend_from_slice(tail.as_bytes());
        normalize_tail(&mut out, base.len())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn removes_dot_segments_without_climbing_above_the_base() {
        let cases: &[(&str, Result<&str, Refused>)] = &[
            ("a/b", Ok("/base/a/b")),
            ("a/b/", Ok("/base/a/b/")),
            ("", Ok("/base/")),
            ("a/./b", Ok("/base/a/b")),
            ("./a", Ok("/base/a")),
            ("a/.", Ok("/base/a/")),
            ("a/../b", Ok("/base/b")),
            ("a/..", Ok("/base/")),
            ("a/b/../../c", Ok("/base/c")),
            ("a/%2e%2e/b", Ok("/base/b")),
            ("a/%2E%2e/b", Ok("/base/b")),
            ("a/.%2e/b", Ok("/base/b")),
            ("a/%2e/b", Ok("/base/a/b")),
            ("a//b", Ok("/base/a/b")),
            ("a/...", Ok("/base/a/...")),
            ("a/..b/.c", Ok("/base/a/..b/.c")),
            ("%2e%2e.txt", Ok("/base/%2e%2e.txt")),
            ("caf%C3%A9/x%20y", Ok("/base/caf%C3%A9/x%20y")),
            ("..", Err(Refused::AboveBase)),
            ("a/../../etc/passwd", Err(Refused::AboveBase)),
            ("%2e%2e/x", Err(Refused::AboveBase)),
            ("a/%2e%2e/%2E%2E/x", Err(Refused::AboveBase)),
            ("..%2fetc", Err(Refused::EncodedSeparator)),
            ("%2e%2e%2fetc", Err(Refused::EncodedSeparator)),
            ("a%2Fb", Err(Refused::EncodedSeparator)),
            ("a%5cb", Err(Refused::EncodedSeparator)),
            ("a\\b", Err(Refused::EncodedSeparator)),
            ("a%00b", Err(Refused::EncodedSeparator)),
            ("%c0%ae%c0%ae/x", Err(Refused::Overlong)),
            ("a%c0%afb", Err(Refused::Overlong)),
            ("%e0%80%ae", Err(Refused::Overlong)),
            ("%f0%80%80%ae", Err(Refused::Overlong)),
        ];
        for (tail, want) in cases {
            assert_eq!(norm("/base/", tail), want.map(String::from), "{tail:?}");
        }
    }

    /// The fast path agrees with the full one on every tail of up to 6 bytes over the bytes
    /// that matter (and takes it only where nothing changes).
    #[test]
    fn plain_tails_are_left_as_they_are() {
        const ALPHABET: &[u8] = b"a/.%2e\\";
        let mut tail = Vec::new();
        for len in 0..=6u32 {
            for mut n in 0..(ALPHABET.len() as u32).pow(len) {
                tail.clear();
                for _ in 0..len {
                    tail.push(ALPHABET[(n % ALPHABET.len() as u32) as usize]);
                    n /= ALPHABET.len() as u32;
                }
                let mut slow = b"/base/".to_vec();
                slow.extend_from_slice(&tail);
                let mut fast = slow.clone();
                let slow_result = remove_dot_segments(&mut slow, 6);
                let fast_result = normalize_tail(&mut fast, 6);
                assert_eq!(fast_result, slow_result, "{tail:?}");
                if slow_result.is_ok() {
                    assert_eq!(fast, slow, "{tail:?}");
                }
                if is_plain(&tail) {
                    assert_eq!(&fast[6..], &tail[..], "{tail:?}");
                }
            }
        }
    }

    #[test]
    fn a_leading_slash_is_kept_and_is_the_floor() {
        assert_eq!(norm("/base", "/a/../b").as_deref(), Ok("/base/b"));
        assert_eq!(norm("/base", "//x").as_deref(), Ok("/base/x"));
        assert_eq!(norm("/base", "/").as_deref(), Ok("/base/"));
        assert_eq!(norm("/base", "/..").as_deref(), Err(&Refused::AboveBase));
        assert_eq!(norm("", "/a/./b/..").as_deref(), Ok("/a/"));
    }
}
