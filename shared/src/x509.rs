//! What Portico reads from an X.509 certificate: subject and issuer names, serial number,
//! validity and DNS names. Used by the admin side (ACM's `DescribeCertificate`, checks on import)
//! and by the data plane (a mutual TLS client's certificate, once per connection).
//!
//! A minimal DER walk over `tbsCertificate`, no signature checks: the certificate has already
//! been verified (data plane) or is only described (admin). Anything unexpected is `None`.

use crate::quota::{civil_from_days, days_from_civil};

/// The parts of a certificate Portico shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// RFC 4514 order (`CN=client,O=Example`).
    pub subject: String,
    pub issuer: String,
    /// Colon-separated lowercase hex (`0a:1b:...`), as AWS shows it.
    pub serial: String,
    /// Seconds since the Unix epoch.
    pub not_before_s: i64,
    pub not_after_s: i64,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// `subjectAltName` DNS names.
    pub dns_names: Vec<String>,
    /// `basicConstraints` says CA.
    pub is_ca: bool,
}

/// One DER element: tag and contents.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// Reads a DER certificate.
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    let (cert, _) = next(der)?;
    let (tbs, _) = next(expect(cert, SEQUENCE)?)?;
    let mut rest = expect(tbs, SEQUENCE)?;
    let (mut item, r) = next(rest)?;
    rest = r;
    if item.tag == 0xa0 {
        // [0] EXPLICIT version
        (item, rest) = next(rest)?;
    }
    let serial = expect(item, INTEGER)?;
    let (_sig_alg, r) = next(rest)?;
    let (issuer, r) = next(r)?;
    let (validity, r) = next(r)?;
    let (subject, mut r) = next(r)?;
    let (not_before, v) = next(expect(validity, SEQUENCE)?)?;
    let (not_after, _) = next(v)?;
    let mut info = CertInfo {
        subject: name(expect(subject, SEQUENCE)?)?,
        issuer: name(expect(issuer, SEQUENCE)?)?,
        serial: hex_colon(
            serial
                .strip_prefix(&[0])
                .filter(|s| !s.is_empty())
                .unwrap_or(serial),
        ),
        not_before_s: time(not_before)?,
        not_after_s: time(not_after)?,
        common_name: common_name(expect(subject, SEQUENCE)?),
        dns_names: Vec::new(),
        is_ca: false,
    };
    while !r.is_empty() {
        let (item, more) = next(r)?;
        r = more;
        if item.tag == 0xa3 {
            let (exts, _) = next(item.value)?;
            extensions(expect(exts, SEQUENCE)?, &mut info)?;
        }
    }
    Some(info)
}

/// `seconds` as OpenSSL prints a certificate date (`May 28 12:30:02 2019 GMT`), as API
/// Gateway's `clientCert.validity` shows it.
pub fn format_openssl(seconds: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss) = civil(seconds);
    format!(
        "{} {d:>2} {hh:02}:{mm:02}:{ss:02} {y} GMT",
        MONTHS[(m - 1) as usize]
    )
}

/// `seconds` as ISO 8601 (`2019-05-28T12:30:02Z`).
pub fn format_iso(seconds: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(seconds);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

fn civil(seconds: i64) -> (i64, u32, u32, i64, i64, i64) {
    let seconds = seconds.max(0);
    let (y, m, d) = civil_from_days((seconds / 86_400) as u64);
    let t = seconds % 86_400;
    (y, m, d, t / 3600, t / 60 % 60, t % 60)
}

fn next(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |l, &b| (l << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| {
        (
            Tlv {
                tag,
                value: &rest[..len],
            },
            &rest[len..],
        )
    })
}

fn expect(t: Tlv<'_>, tag: u8) -> Option<&[u8]> {
    (t.tag == tag).then_some(t.value)
}

/// A Name in RFC 4514 order: the last RDN first.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = next(rdns)?;
        rdns = rest;
        let mut atvs = expect(set, SET)?;
        let mut rdn = Vec::new();
        while !atvs.is_empty() {
            let (atv, rest) = next(atvs)?;
            atvs = rest;
            let (oid, v) = next(expect(atv, SEQUENCE)?)?;
            let (value, _) = next(v)?;
            let label = match expect(oid, OID)? {
                [0x55, 0x04, 0x03] => "CN".to_string(),
                [0x55, 0x04, 0x06] => "C".to_string(),
                [0x55, 0x04, 0x07] => "L".to_string(),
                [0x55, 0x04, 0x08] => "ST".to_string(),
                [0x55, 0x04, 0x0a] => "O".to_string(),
                [0x55, 0x04, 0x0b] => "OU".to_string(),
                [0x55, 0x04, 0x05] => "serialNumber".to_string(),
                [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => {
                    "emailAddress".to_string()
                }
                other => format!("OID.{}", oid_text(other)),
            };
            rdn.push(format!(
                "{label}={}",
                escape(&String::from_utf8_lossy(value.value))
            ));
        }
        parts.push(rdn.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

fn common_name(mut rdns: &[u8]) -> Option<String> {
    let mut found = None;
    while !rdns.is_empty() {
        let (set, rest) = next(rdns)?;
        rdns = rest;
        let (atv, _) = next(expect(set, SET)?)?;
        let (oid, v) = next(expect(atv, SEQUENCE)?)?;
        if expect(oid, OID)? == OID_CN {
            found = Some(String::from_utf8_lossy(next(v)?.0.value).into_owned());
        }
    }
    found
}

fn extensions(mut exts: &[u8], info: &mut CertInfo) -> Option<()> {
    while !exts.is_empty() {
        let (ext, rest) = next(exts)?;
        exts = rest;
        let (oid, mut r) = next(expect(ext, SEQUENCE)?)?;
        let (mut value, more) = next(r)?;
        r = more;
        if value.tag == BOOLEAN {
            (value, _) = next(r)?;
        }
        let value = expect(value, OCTET_STRING)?;
        match expect(oid, OID)? {
            OID_SAN => {
                let (names, _) = next(value)?;
                let mut names = expect(names, SEQUENCE)?;
                while !names.is_empty() {
                    let (n, rest) = next(names)?;
                    names = rest;
                    if n.tag == 0x82 {
                        info.dns_names
                            .push(String::from_utf8_lossy(n.value).into_owned());
                    }
                }
            }
            OID_BASIC_CONSTRAINTS => {
                let (bc, _) = next(value)?;
                let bc = expect(bc, SEQUENCE)?;
                if let Some((ca, _)) = next(bc) {
                    info.is_ca = ca.tag == BOOLEAN && ca.value.first().is_some_and(|&b| b != 0);
                }
            }
            _ => {}
        }
    }
    Some(())
}

fn time(t: Tlv<'_>) -> Option<i64> {
    let s = std::str::from_utf8(t.value).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match t.tag {
        UTC_TIME => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        GENERALIZED_TIME => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| rest[i..i + 2].parse::<u32>().ok();
    let (m, d, hh, mm, ss) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, m, d) as i64;
    Some(days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss))
}

fn hex_colon(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn oid_text(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v = 0u64;
    for (i, &b) in oid.iter().enumerate() {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < oid.len() {
                parts.push((v / 40).min(2));
                parts.push(v - 40 * (v / 40).min(2));
            } else {
                parts.push(v);
            }
            v = 0;
        }
    }
    parts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// RFC 4514 escaping of the characters that would break the string's structure.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_openssl(1_559_046_602), "May 28 12:30:02 2019 GMT");
        let t = Tlv {
            tag: UTC_TIME,
            value: b"190528123002Z",
        };
        assert_eq!(time(t), Some(1_559_046_602));
        let g = Tlv {
            tag: GENERALIZED_TIME,
            value: b"20190528123002Z",
        };
        assert_eq!(time(g), Some(1_559_046_602));
        assert_eq!(
            time(Tlv {
                tag: UTC_TIME,
                value: b"1905281230Z"
            }),
            None
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(&[0x30, 0x82, 0xff]), None);
        assert_eq!(parse(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
