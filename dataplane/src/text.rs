//! Text formatting every module may use: JSON escaping, CLF time, IP addresses. A leaf: it
//! imports nothing of the crate, so a module that only formats (access logs) stays out of the
//! stage modules' import circle (`dataplane/tests/imports.rs`).

use std::io::Write as _;
use std::net::IpAddr;

/// Appends `v` escaped for the inside of a JSON string: `"` and `\` escaped, `\n`, `\r` and
/// `\t` in their short forms, other control bytes as `\u00XX`; bytes that are not UTF-8 become
/// `\ufffd`.
pub fn escape_json(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Most values (ids, paths, user agents) are printable ASCII without quotes or backslashes:
    // one pass to see that, one copy.
    if v.iter()
        .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(v);
        return;
    }
    for chunk in v.utf8_chunks() {
        // Runs of bytes that need no escape are copied whole (most values are one run).
        let valid = chunk.valid().as_bytes();
        let mut run = 0;
        for (i, &b) in valid.iter().enumerate() {
            let short: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                b if b < 0x20 => &[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ],
                _ => continue,
            };
            out.extend_from_slice(&valid[run..i]);
            out.extend_from_slice(short);
            run = i + 1;
        }
        out.extend_from_slice(&valid[run..]);
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
    // Formatted once a second per thread: every line of a second shares it.
    thread_local! {
        static LAST: std::cell::Cell<(u64, [u8; 26])> = const { std::cell::Cell::new((u64::MAX, [0; 26])) };
    }
    let s = now_ms / 1000;
    let (second, text) = LAST.get();
    if second == s {
        out.extend_from_slice(&text);
        return;
    }
    let start = out.len();
    clf_time_of(out, s);
    if let Ok(text) = <[u8; 26]>::try_from(&out[start..]) {
        LAST.set((s, text));
    }
}

/// [`clf_time`] of epoch second `s`, formatted.
fn clf_time_of(out: &mut Vec<u8>, s: u64) {
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

/// Writes an IP address; IPv4 without the formatting machinery (it is on every request).
pub fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Into a stack buffer first, then one copy: at most "255.255.255.255".
            let mut text = [0u8; 15];
            let mut n = 0;
            for (i, &o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    text[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    text[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    text[n] = b'0' + o / 10 % 10;
                    n += 1;
                }
                text[n] = b'0' + o % 10;
                n += 1;
            }
            out.extend_from_slice(&text[..n]);
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `a.eq_ignore_ascii_case(b)`, eight bytes at a time: for the long names compared on every
/// request (the API's domain in `Host`).
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        let x = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_le_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        if x != y && lower8(x) != lower8(y) {
            return false;
        }
    }
    a_rest.eq_ignore_ascii_case(b_rest)
}

/// Eight bytes with their ASCII upper-case letters lowered (other bytes as they are).
fn lower8(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // A byte's high bit is set after the add when its low 7 bits are at least 'A' (0x41),
    // resp. past 'Z' (0x5a); no add carries into the next byte.
    let from_a = low7 + 0x3f3f_3f3f_3f3f_3f3f;
    let past_z = low7 + 0x2525_2525_2525_2525;
    let upper = from_a & !past_z & !x & HIGH;
    x | (upper >> 2)
}

/// Lower-case hex of `bytes` into `out` (two digits a byte; `out` is exactly twice as long):
/// one table load and one two-byte store a byte.
#[inline]
pub fn hex_lower(out: &mut [u8], bytes: &[u8]) {
    debug_assert_eq!(out.len(), 2 * bytes.len());
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// Every byte's two lower-case hex digits.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    #[test]
    fn escape_json_runs_and_escapes() {
        let mut out = Vec::new();
        super::escape_json(&mut out, b"ab\"c\\d\n\r\t\x01e\xffz \xc3\xa9");
        assert_eq!(out, r#"ab\"c\\d\n\r\t\u0001e\ufffdz é"#.as_bytes());
        out.clear();
        super::escape_json(&mut out, b"plain");
        assert_eq!(out, b"plain");
    }

    #[test]
    fn write_ip_matches_display() {
        use std::net::IpAddr;
        let addrs = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "1.20.3.40",
            "127.0.0.1",
            "99.100.101.199",
            "::1",
            "2001:db8::8a2e:370:7334",
        ];
        for a in addrs {
            let ip: IpAddr = a.parse().unwrap();
            let mut out = b"x".to_vec();
            super::write_ip(&mut out, ip);
            assert_eq!(out, format!("x{ip}").as_bytes(), "{a}");
        }
    }

    /// Against the standard library, over every pair of bytes at every position of a word.
    #[test]
    fn eq_ignore_case_matches_std() {
        let base = b"abc.EXECUTE-api.localhost:8080x".to_vec();
        for len in [0, 1, 7, 8, 9, 16, 21, 31] {
            let a = &base[..len];
            assert!(super::eq_ignore_case(a, &a.to_ascii_uppercase()));
            assert!(super::eq_ignore_case(a, &a.to_ascii_lowercase()));
        }
        for i in 0..9 {
            for x in 0..=255u8 {
                for y in 0..=255u8 {
                    let mut a = *b"0123456789";
                    let mut b = a;
                    (a[i], b[i]) = (x, y);
                    assert_eq!(
                        super::eq_ignore_case(&a, &b),
                        a.eq_ignore_ascii_case(&b),
                        "{x:#x} {y:#x} at {i}"
                    );
                }
            }
        }
    }

    /// The once-a-second cache gives what formatting gives, across seconds and back.
    #[test]
    fn clf_time_cached_per_second() {
        for ms in [
            1_700_000_000_123u64,
            1_700_000_000_999,
            1_700_000_001_000,
            1_700_000_000_500,
            0,
        ] {
            let (mut cached, mut fresh) = (b"x".to_vec(), b"x".to_vec());
            super::clf_time(&mut cached, ms);
            super::clf_time_of(&mut fresh, ms / 1000);
            assert_eq!(cached, fresh, "{ms}");
        }
        let mut out = Vec::new();
        super::clf_time(&mut out, 1_700_000_000_123);
        assert_eq!(out, b"14/Nov/2023:22:13:20 +0000");
    }

    #[test]
    fn hex_lower_two_digits_a_byte() {
        let mut out = [0u8; 8];
        super::hex_lower(&mut out, &[0x00, 0x0f, 0xa0, 0xff]);
        assert_eq!(&out, b"000fa0ff");
    }
}
