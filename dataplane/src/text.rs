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

/// Writes an IP address; IPv4 without the formatting machinery (it is on every request).
pub fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(*o).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

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
}
