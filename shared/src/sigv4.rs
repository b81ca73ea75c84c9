//! AWS Signature Version 4: the pure parts shared by the admin's verifier and the data plane's
//! outbound clients (Lambda Invoke, AWS service integrations), and the signer those clients use.
//!
//! Canonicalization follows AWS's rules for every service but S3: the URI path normalized and
//! percent-encoded twice, the query decoded and re-encoded per RFC 3986 and sorted, header values
//! trimmed with inner whitespace collapsed. No I/O, no clock: callers pass the signing time.
//!
//! Invariant: a secret never appears in a `Debug` output or an error message.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only signing algorithm SigV4 has for symmetric keys.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The payload hash a client sends when it chose not to sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

type HmacSha256 = Hmac<Sha256>;

pub mod verify;

/// An access key pair, with the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    secret_access_key: String,
    pub session_token: Option<String>,
}

/// The headers a signed request carries in addition to its own (names lowercase).
#[derive(Debug, Clone)]
pub struct Signature {
    /// `x-amz-date`: the signing time, ISO 8601 basic.
    pub amz_date: String,
    /// `x-amz-content-sha256`: hex SHA-256 of the payload.
    pub content_sha256: String,
    /// `authorization`.
    pub authorization: String,
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` as the SDKs read them:
    /// `None` unless both halves of the key are set and non-empty.
    pub fn from_env() -> Option<Credentials> {
        let read = crate::system::env_var_set;
        Some(Credentials::new(
            read("AWS_ACCESS_KEY_ID")?,
            read("AWS_SECRET_ACCESS_KEY")?,
            read("AWS_SESSION_TOKEN"),
        ))
    }

    /// `kSigning` = HMAC chain over date (`YYYYMMDD`), region, service and the terminator.
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> [u8; 32] {
        signing_key(&self.secret_access_key, date, region, service)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `kSigning` = HMAC chain over date (`YYYYMMDD`), region, service and the terminator.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret_access_key}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The string to sign for a canonical request at `amz_date` in `scope_date/region/service`.
pub fn string_to_sign(
    amz_date: &str,
    scope_date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope_date}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Signs an outbound request with `Authorization`-header SigV4 at `unix_s`.
///
/// `headers` are the request's headers to sign (any case; `host` must be among them). The
/// returned `x-amz-date` and `x-amz-content-sha256` are signed too, and `x-amz-security-token`
/// when the credentials carry a session token: the caller sends all of them.
#[allow(clippy::too_many_arguments)] // each is one part of the request AWS signs
pub fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    unix_s: u64,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> Signature {
    let amz_date = format_iso_basic(unix_s);
    let scope_date = &amz_date[..8];
    let content_sha256 = hex::encode(Sha256::digest(payload));
    let mut signed: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), *v))
        .collect();
    signed.push(("x-amz-date".into(), &amz_date));
    signed.push(("x-amz-content-sha256".into(), &content_sha256));
    if let Some(token) = &creds.session_token {
        signed.push(("x-amz-security-token".into(), token));
    }
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical = String::with_capacity(512);
    canonical.push_str(method);
    canonical.push('\n');
    canonical_uri(&mut canonical, path);
    canonical.push('\n');
    canonical_query(&mut canonical, query, false);
    canonical.push('\n');
    let mut names = String::new();
    let mut i = 0;
    while i < signed.len() {
        let name = &signed[i].0;
        canonical.push_str(name);
        canonical.push(':');
        let mut first = true;
        while i < signed.len() && signed[i].0 == *name {
            if !first {
                canonical.push(',');
            }
            first = false;
            push_trimmed(&mut canonical, signed[i].1.as_bytes());
            i += 1;
        }
        canonical.push('\n');
        if !names.is_empty() {
            names.push(';');
        }
        names.push_str(name);
    }
    canonical.push('\n');
    canonical.push_str(&names);
    canonical.push('\n');
    canonical.push_str(&content_sha256);
    let to_sign = string_to_sign(&amz_date, scope_date, region, service, &canonical);
    let key = creds.signing_key(scope_date, region, service);
    let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope_date}/{region}/{service}/aws4_request, SignedHeaders={names}, Signature={signature}",
        creds.access_key_id
    );
    Signature {
        amz_date,
        content_sha256,
        authorization,
    }
}

/// Trims the value and collapses each run of whitespace to one space (botocore: `' '.join(v.split())`).
pub fn push_trimmed(out: &mut String, value: &[u8]) {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut first = true;
    for word in value.split(is_space).filter(|w| !w.is_empty()) {
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(&String::from_utf8_lossy(word));
    }
}

/// Non-S3 canonical URI: remove dot segments and empty segments from the path as sent, then
/// percent-encode it again (so `%2F` on the wire signs as `%252F`: AWS's double encoding).
pub fn canonical_uri(out: &mut String, path: &str) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::with_capacity(path.len());
    if path.starts_with('/') {
        normalized.push('/');
    }
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    percent_encode(out, normalized.as_bytes(), true);
}

/// Canonical query: every `key=value` decoded then re-encoded per RFC 3986, sorted by key then
/// value; a presigned URL's own `X-Amz-Signature` left out.
pub fn canonical_query(out: &mut String, query: &str, presigned: bool) {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            percent_encode(&mut key, &crate::percent::decode(k.as_bytes()), false);
            let mut value = String::new();
            percent_encode(&mut value, &crate::percent::decode(v.as_bytes()), false);
            (key, value)
        })
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .collect();
    pairs.sort_unstable();
    push_pairs(out, &pairs);
}

/// Canonical query as botocore builds it when signing: the `key=value` pairs exactly as sent
/// (no decoding, no re-encoding), sorted by key then value; a presigned URL's own
/// `X-Amz-Signature` left out. It equals [`canonical_query`] whenever the query as sent is
/// already RFC 3986-encoded, which is what the SDKs send; a raw `+`, lowercase `%xx` or an
/// unencoded reserved character is where they differ.
pub fn canonical_query_as_sent(out: &mut String, query: &str, presigned: bool) {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .filter(|(k, _)| !(presigned && *k == "X-Amz-Signature"))
        .collect();
    pairs.sort_unstable();
    push_pairs(out, &pairs);
}

/// `k=v&k=v...`.
fn push_pairs<K: AsRef<str>, V: AsRef<str>>(out: &mut String, pairs: &[(K, V)]) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k.as_ref());
        out.push('=');
        out.push_str(v.as_ref());
    }
}

/// RFC 3986: everything but unreserved characters (and `/` when `keep_slash`) as `%XX`, uppercase.
pub fn percent_encode(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// `%XX` to bytes (see [`crate::percent`], which this calls).
pub fn percent_decode(s: &str) -> Vec<u8> {
    crate::percent::decode(s.as_bytes())
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Seconds since the epoch of a UTC civil time; `None` when a field is out of range.
pub fn unix_seconds(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> Option<u64> {
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    // Howard Hinnant's days_from_civil, on a year that starts in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y % 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// `20261125T120000Z` for seconds since the epoch.
pub fn format_iso_basic(unix_s: u64) -> String {
    let days = unix_s / 86_400;
    let secs = unix_s % 86_400;
    // Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example (IAM `ListUsers`, SigV4 documentation, "Create a signed AWS API
    /// request"): secret `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, 20150830T123600Z, us-east-1,
    /// iam. The signing key and signature are the documented ones.
    #[test]
    fn signs_aws_documented_example() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        );
        let key = creds.signing_key("20150830", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let canonical = "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let to_sign = string_to_sign(
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "iam",
            canonical,
        );
        assert_eq!(
            hex::encode(hmac_sha256(&key, to_sign.as_bytes())),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn sign_names_every_signed_header_sorted() {
        let creds = Credentials::new("AKID", "wJalrXUt-not-shown", Some("token".into()));
        let s = sign(
            &creds,
            "us-east-1",
            "lambda",
            1_440_938_160,
            "POST",
            "/2015-03-31/functions/f/invocations",
            "",
            &[
                ("Host", "lambda.us-east-1.amazonaws.com"),
                ("Content-Type", "application/json"),
            ],
            b"{}",
        );
        assert_eq!(s.amz_date, "20150830T123600Z");
        assert!(s.authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
        ), "{}", s.authorization);
        assert!(!format!("{creds:?}").contains("wJalrXUt"));
    }
}
