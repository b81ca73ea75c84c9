//! SigV4 verification on byte slices: the admin API's middleware and the data plane's
//! `AWS_IAM` authorization both call it, each with its own view of the request head.
//!
//! # Architecture
//! 1. [`find_claim`] finds the signature (the `Authorization` header, or the presigned `X-Amz-*`
//!    query parameters) and checks its shape: credential scope, signed header list, date.
//! 2. The caller looks the claim's access key up (unknown or inactive: `UnrecognizedClient`).
//! 3. [`Claim::check_window`] rejects a signing time outside the 15-minute clock-skew window or
//!    past a presigned URL's expiry; [`Claim::verify`] rebuilds the canonical request exactly as
//!    AWS does for non-S3 services, derives the signing key and compares in constant time.
//!
//! Invariants: no axum or socket types (the request arrives as [`RequestParts`] and a
//! [`HeaderLookup`]); a secret never appears in an error; a body the signature does not cover is
//! never accepted (`UNSIGNED-PAYLOAD` only with no body).

use std::fmt;

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::limits::{ADMIN_BODY_MAX_BYTES, SIGV4_CLOCK_SKEW_MAX_S, SIGV4_PRESIGNED_EXPIRES_MAX_S};

use super::{
    canonical_query, canonical_uri, format_iso_basic, push_trimmed, unix_seconds, HmacSha256,
    ALGORITHM, UNSIGNED_PAYLOAD,
};

/// The headers of a request, however the caller holds them.
pub trait HeaderLookup {
    /// Calls `f` with each value of the header `name` (given in lowercase), in arrival order.
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8]));
}

/// The parts of a request line SigV4 signs, as sent (path and query still percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// HTTP/2's `:authority`, used for `host` when no `Host` header was sent.
    pub authority: Option<&'a str>,
}

/// Why a request's signature was not accepted, with AWS's status, `x-amzn-ErrorType` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    MissingAuthenticationToken,
    /// The signature's description is malformed or incomplete; the text says what is wrong.
    IncompleteSignature(String),
    /// The access key id is unknown (or its key is inactive).
    UnrecognizedClient,
    /// Well-formed, known key, but the signature is not the one we compute.
    SignatureMismatch,
    /// The signing time is older than the window allows.
    SignatureExpired {
        /// The request's signing time, ISO 8601 basic (`20261125T120000Z`).
        signed: String,
        /// The oldest signing time accepted now.
        earliest: String,
        /// The verifier's clock.
        now: String,
        /// The window, as AWS words it (`15 min.`, `900 sec.`).
        window: String,
    },
    /// The signing time is further in the future than the clock skew allows.
    SignatureNotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    /// A signed value contradicts the request (scope date, payload hash); the text says which.
    InvalidSignature(String),
    /// The body exceeds [`ADMIN_BODY_MAX_BYTES`] (admin middleware).
    PayloadTooLarge,
    /// The body could not be read (the client went away mid-body).
    UnreadableBody,
}

/// The signature of one request, as the client described it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub access_key_id: String,
    /// Scope: `YYYYMMDD`, as signed.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// `SignedHeaders` exactly as sent: it enters the canonical request verbatim.
    pub signed_headers: String,
    pub signature: String,
    /// The signing time, from `X-Amz-Date` or `Date`.
    pub timestamp: Timestamp,
    /// `Some(X-Amz-Expires)` for a presigned URL.
    pub expires_s: Option<u64>,
}

/// A signing time: seconds since the epoch and its ISO 8601 basic form for the string to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub unix_s: u64,
    pub iso: String,
}

impl HeaderLookup for http::HeaderMap {
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for v in self.get_all(name) {
            f(v.as_bytes());
        }
    }
}

// === impl SigV4Error ===

impl SigV4Error {
    pub fn status(&self) -> http::StatusCode {
        match self {
            SigV4Error::MissingAuthenticationToken
            | SigV4Error::IncompleteSignature(_)
            | SigV4Error::UnrecognizedClient
            | SigV4Error::SignatureMismatch
            | SigV4Error::SignatureExpired { .. }
            | SigV4Error::SignatureNotYetCurrent { .. }
            | SigV4Error::InvalidSignature(_) => http::StatusCode::FORBIDDEN,
            SigV4Error::PayloadTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            SigV4Error::UnreadableBody => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The `x-amzn-ErrorType` botocore turns into the exception's error code.
    pub fn error_type(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignatureException",
            SigV4Error::UnrecognizedClient => "UnrecognizedClientException",
            SigV4Error::SignatureMismatch
            | SigV4Error::SignatureExpired { .. }
            | SigV4Error::SignatureNotYetCurrent { .. }
            | SigV4Error::InvalidSignature(_) => "InvalidSignatureException",
            SigV4Error::PayloadTooLarge => "RequestEntityTooLargeException",
            SigV4Error::UnreadableBody => "BadRequestException",
        }
    }

    pub fn message(&self) -> String {
        match self {
            SigV4Error::MissingAuthenticationToken => "Missing Authentication Token".into(),
            SigV4Error::IncompleteSignature(m) | SigV4Error::InvalidSignature(m) => m.clone(),
            SigV4Error::UnrecognizedClient => {
                "The security token included in the request is invalid.".into()
            }
            SigV4Error::SignatureMismatch => "The request signature we calculated does not match \
                the signature you provided. Check your AWS Secret Access Key and signing method. \
                Consult the service documentation for details."
                .into(),
            SigV4Error::SignatureExpired {
                signed,
                earliest,
                now,
                window,
            } => format!(
                "Signature expired: {signed} is now earlier than {earliest} ({now} - {window})"
            ),
            SigV4Error::SignatureNotYetCurrent {
                signed,
                latest,
                now,
            } => format!(
                "Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)"
            ),
            SigV4Error::PayloadTooLarge => format!(
                "Request body exceeds the admin API's limit of {ADMIN_BODY_MAX_BYTES} bytes"
            ),
            SigV4Error::UnreadableBody => "Could not read the request body".into(),
        }
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type(), self.message())
    }
}

impl std::error::Error for SigV4Error {}

// === finding the claim ===

/// The first value of header `name`, if any.
fn first_value<H: HeaderLookup + ?Sized>(headers: &H, name: &str) -> Option<Vec<u8>> {
    let mut found = None;
    headers.each_value(name, &mut |v| {
        if found.is_none() {
            found = Some(v.to_vec());
        }
    });
    found
}

/// Finds the signature in the `Authorization` header or the presigned query parameters.
pub fn find_claim<H: HeaderLookup + ?Sized>(
    parts: &RequestParts<'_>,
    headers: &H,
) -> Result<Claim, SigV4Error> {
    let mut count = 0;
    let mut header_value = None;
    headers.each_value("authorization", &mut |v| {
        count += 1;
        if header_value.is_none() {
            header_value = Some(v.to_vec());
        }
    });
    if count > 1 {
        return Err(SigV4Error::IncompleteSignature(
            "Only one Authorization header may be sent".into(),
        ));
    }
    let presigned = parts.query.split('&').any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        key == "X-Amz-Algorithm" || key == "X-Amz-Signature" || key == "X-Amz-Credential"
    });
    match (header_value, presigned) {
        (Some(_), true) => Err(SigV4Error::IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified"
                .into(),
        )),
        (Some(v), false) => parse_authorization_header(&v, headers),
        (None, true) => parse_presigned_query(parts.query),
        (None, false) => Err(SigV4Error::MissingAuthenticationToken),
    }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/apigateway/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=<64 hex>`.
fn parse_authorization_header<H: HeaderLookup + ?Sized>(
    value: &[u8],
    headers: &H,
) -> Result<Claim, SigV4Error> {
    let incomplete = |m: &str| SigV4Error::IncompleteSignature(m.to_string());
    let value = std::str::from_utf8(value)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .ok_or_else(|| incomplete("Authorization header is not visible ASCII"))?
        .trim();
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "Unsupported Authorization algorithm: only 'AWS4-HMAC-SHA256' is accepted",
        ));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(incomplete(
                "Invalid key=value pair (missing equal-sign) in Authorization header",
            ));
        };
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(v.trim()).is_some() {
            return Err(incomplete(&format!(
                "Authorization header has '{}' more than once",
                k.trim()
            )));
        }
    }
    let timestamp = header_timestamp(headers);
    let mut missing = Vec::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if matches!(timestamp, Err(None)) {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        );
    }
    if !missing.is_empty() {
        return Err(SigV4Error::IncompleteSignature(missing.join(" ")));
    }
    let timestamp = timestamp.map_err(|e| e.expect("a missing date is reported above"))?;
    claim(
        credential.unwrap_or_default(),
        signed_headers.unwrap_or_default(),
        signature.unwrap_or_default(),
        timestamp,
        None,
    )
}

/// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Date=...&X-Amz-Expires=...
/// &X-Amz-SignedHeaders=...&X-Amz-Signature=...`.
fn parse_presigned_query(query: &str) -> Result<Claim, SigV4Error> {
    let get = |name: &str| -> Option<String> {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| {
                String::from_utf8_lossy(&crate::percent::decode(v.as_bytes())).into_owned()
            })
        })
    };
    let (
        Some(algorithm),
        Some(credential),
        Some(date),
        Some(signed_headers),
        Some(signature),
        Some(expires),
    ) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
        get("X-Amz-Expires"),
    )
    else {
        return Err(SigV4Error::IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
             'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date', 'X-Amz-Expires'. \
             Re-examine the query-string parameters."
                .into(),
        ));
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let expires_s = expires
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=SIGV4_PRESIGNED_EXPIRES_MAX_S).contains(s))
        .ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "X-Amz-Expires must be a whole number of seconds from 1 to {SIGV4_PRESIGNED_EXPIRES_MAX_S}"
            ))
        })?;
    let timestamp = parse_iso_basic(&date).ok_or_else(|| bad_date(&date))?;
    claim(
        &credential,
        &signed_headers,
        &signature,
        timestamp,
        Some(expires_s),
    )
}

/// Checks the scope and signed-header list shared by both forms and builds the [`Claim`].
fn claim(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    timestamp: Timestamp,
    expires_s: Option<u64>,
) -> Result<Claim, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts[..] else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if terminator != "aws4_request" {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if access_key_id.is_empty()
        || region.is_empty()
        || service.is_empty()
        || scope_date.len() != 8
        || !scope_date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential should be scoped to a valid date, region and service, got '{credential}'"
        )));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(SigV4Error::IncompleteSignature(
            "SignedHeaders must be a ';'-separated list of header names".into(),
        ));
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        return Err(SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    Ok(Claim {
        access_key_id: access_key_id.to_string(),
        scope_date: scope_date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers.to_string(),
        signature: signature.to_string(),
        timestamp,
        expires_s,
    })
}

/// The signing time of the header form: `X-Amz-Date`, else `Date`. `Err(None)`: neither sent.
fn header_timestamp<H: HeaderLookup + ?Sized>(
    headers: &H,
) -> Result<Timestamp, Option<SigV4Error>> {
    if let Some(v) = first_value(headers, "x-amz-date") {
        let s = String::from_utf8_lossy(&v);
        return parse_iso_basic(&s).ok_or_else(|| Some(bad_date(&s)));
    }
    if let Some(v) = first_value(headers, "date") {
        let s = String::from_utf8_lossy(&v);
        return parse_iso_basic(&s)
            .or_else(|| parse_http_date(&s))
            .ok_or_else(|| Some(bad_date(&s)));
    }
    Err(None)
}

fn bad_date(s: &str) -> SigV4Error {
    SigV4Error::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{s}'. See \
         http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

// === impl Claim ===

impl Claim {
    /// Rejects a signing time outside the clock-skew window or past a presigned URL's expiry.
    pub fn check_window(&self, now_s: u64) -> Result<(), SigV4Error> {
        let signed_s = self.timestamp.unix_s;
        let (lifetime_s, window) = match self.expires_s {
            Some(expires_s) => (expires_s, format!("{expires_s} sec.")),
            None => (SIGV4_CLOCK_SKEW_MAX_S, "15 min.".to_string()),
        };
        if signed_s.saturating_add(lifetime_s) < now_s {
            return Err(SigV4Error::SignatureExpired {
                signed: self.timestamp.iso.clone(),
                earliest: format_iso_basic(now_s - lifetime_s),
                now: format_iso_basic(now_s),
                window,
            });
        }
        if signed_s > now_s.saturating_add(SIGV4_CLOCK_SKEW_MAX_S) {
            return Err(SigV4Error::SignatureNotYetCurrent {
                signed: self.timestamp.iso.clone(),
                latest: format_iso_basic(now_s + SIGV4_CLOCK_SKEW_MAX_S),
                now: format_iso_basic(now_s),
            });
        }
        Ok(())
    }

    /// Checks the signature with the key's secret: scope date, payload hash, then the HMAC
    /// (compared in constant time). The window is [`Claim::check_window`]'s.
    pub fn verify<H: HeaderLookup + ?Sized>(
        &self,
        parts: &RequestParts<'_>,
        headers: &H,
        body: &[u8],
        secret_access_key: &str,
    ) -> Result<(), SigV4Error> {
        let key = super::signing_key(
            secret_access_key,
            &self.scope_date,
            &self.region,
            &self.service,
        );
        self.verify_with_key(parts, headers, body, &key)
    }

    /// [`Claim::verify`] with the signing key already derived for this claim's scope
    /// (`signing_key(secret, scope_date, region, service)`), for callers that cache it: the
    /// derivation is four HMACs, the larger part of a small request's check.
    pub fn verify_with_key<H: HeaderLookup + ?Sized>(
        &self,
        parts: &RequestParts<'_>,
        headers: &H,
        body: &[u8],
        key: &[u8; 32],
    ) -> Result<(), SigV4Error> {
        if self.scope_date != self.timestamp.iso[..8] {
            return Err(SigV4Error::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{}', from '{}'.",
                self.scope_date,
                &self.timestamp.iso[..8],
                self.timestamp.iso
            )));
        }
        let body_sha256 = hex::encode(Sha256::digest(body));
        let declared = first_value(headers, "x-amz-content-sha256");
        let payload_hash =
            match &declared {
                None => body_sha256.as_str(),
                Some(d) if d == UNSIGNED_PAYLOAD.as_bytes() && body.is_empty() => UNSIGNED_PAYLOAD,
                Some(d) if d.eq_ignore_ascii_case(body_sha256.as_bytes()) => {
                    std::str::from_utf8(d).expect("matched hex digits")
                }
                Some(_) => return Err(SigV4Error::InvalidSignature(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                )),
            };
        let presigned = self.expires_s.is_some();
        let provided = hex::decode(&self.signature).map_err(|_| SigV4Error::SignatureMismatch)?;
        // A presigner that knows nothing of the body may sign `UNSIGNED-PAYLOAD` in its place;
        // that is only acceptable when there is no body to leave unsigned.
        let unsigned = presigned && body.is_empty() && declared.is_none();
        let candidates = [Some(payload_hash), unsigned.then_some(UNSIGNED_PAYLOAD)];
        // The query as AWS canonicalizes it (decoded, re-encoded per RFC 3986), and, when the
        // query as sent is not in that form (a raw `+`, lowercase `%xx`, an unencoded reserved
        // character), as botocore signs it: the pairs as sent, sorted.
        let raw_differs = {
            let mut normalized = String::new();
            super::canonical_query(&mut normalized, parts.query, presigned);
            let mut raw = String::new();
            super::canonical_query_as_sent(&mut raw, parts.query, presigned);
            normalized != raw
        };
        let forms = [Some(false), raw_differs.then_some(true)];
        let tries = candidates
            .into_iter()
            .flatten()
            .flat_map(|p| forms.into_iter().flatten().map(move |raw| (p, raw)));
        for (payload, raw_query) in tries {
            let canonical = self.canonical_request_with(parts, headers, payload, raw_query);
            let string_to_sign = super::string_to_sign(
                &self.timestamp.iso,
                &self.scope_date,
                &self.region,
                &self.service,
                &canonical,
            );
            let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(string_to_sign.as_bytes());
            // `verify_slice` compares in constant time.
            if mac.verify_slice(&provided).is_ok() {
                return Ok(());
            }
        }
        Err(SigV4Error::SignatureMismatch)
    }

    /// The canonical request:
    /// `method \n uri \n query \n headers \n \n signed-headers \n payload-hash`.
    pub fn canonical_request<H: HeaderLookup + ?Sized>(
        &self,
        parts: &RequestParts<'_>,
        headers: &H,
        payload_hash: &str,
    ) -> String {
        self.canonical_request_with(parts, headers, payload_hash, false)
    }

    /// [`Claim::canonical_request`], with the query as sent (`raw_query`, botocore's form) or
    /// as AWS normalizes it.
    fn canonical_request_with<H: HeaderLookup + ?Sized>(
        &self,
        parts: &RequestParts<'_>,
        headers: &H,
        payload_hash: &str,
        raw_query: bool,
    ) -> String {
        let mut out = String::with_capacity(512);
        out.push_str(parts.method);
        out.push('\n');
        canonical_uri(&mut out, parts.path);
        out.push('\n');
        if raw_query {
            super::canonical_query_as_sent(&mut out, parts.query, self.expires_s.is_some());
        } else {
            canonical_query(&mut out, parts.query, self.expires_s.is_some());
        }
        out.push('\n');
        for name in self.signed_headers.split(';') {
            let name = name.to_ascii_lowercase();
            out.push_str(&name);
            out.push(':');
            let mut n = 0;
            headers.each_value(&name, &mut |v| {
                if n > 0 {
                    out.push(',');
                }
                n += 1;
                push_trimmed(&mut out, v);
            });
            if n == 0 && name == "host" {
                if let Some(authority) = parts.authority {
                    out.push_str(authority);
                }
            }
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.signed_headers);
        out.push('\n');
        out.push_str(payload_hash);
        out
    }
}

// === dates ===

/// `20261125T120000Z`.
pub fn parse_iso_basic(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let digits = &s[r];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let unix_s = unix_seconds(
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
        num(13..15)?,
    )?;
    Some(Timestamp {
        unix_s,
        iso: s.to_string(),
    })
}

/// RFC 7231 IMF-fixdate and RFC 2822 (`Wed, 25 Nov 2026 12:00:00 GMT`, `... -0000`, `... +0100`),
/// the forms a `Date` header arrives in; botocore sends the `-0000` one.
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let s = s.split_once(',').map_or(s, |(_, rest)| rest).trim();
    let mut it = s.split_ascii_whitespace();
    let day: u64 = it.next()?.parse().ok()?;
    let month = it.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(month))? as u64
        + 1;
    let year: u64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let (h, m, sec): (u64, u64, u64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    let offset_s: i64 = match it.next()? {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z[1..3].parse().ok()?;
            let mm: i64 = z[3..5].parse().ok()?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
        _ => return None,
    };
    if it.next().is_some() || hms.next().is_some() {
        return None;
    }
    let local = unix_seconds(year, month, day, h, m, sec)?;
    let unix_s = u64::try_from(i64::try_from(local).ok()? - offset_s).ok()?;
    Some(Timestamp {
        unix_s,
        iso: format_iso_basic(unix_s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers as the data plane holds them: `(name, value)` byte slices of the request head.
    struct Slices<'a>(&'a [(&'a [u8], &'a [u8])]);

    impl HeaderLookup for Slices<'_> {
        fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
            for (n, v) in self.0 {
                if n.eq_ignore_ascii_case(name.as_bytes()) {
                    f(v);
                }
            }
        }
    }

    /// A request signed by `sign` verifies on byte slices; tampering with the body, the path or
    /// the key fails; the window is enforced.
    #[test]
    fn verifies_on_byte_slices() {
        let creds = super::super::Credentials::new("AKIDTEST", "secret-test", None);
        let now = 1_764_072_000;
        let s = super::super::sign(
            &creds,
            "us-east-1",
            "execute-api",
            now,
            "POST",
            "/prod/pets",
            "a=1",
            &[("Host", "abc.execute-api.localhost:8080")],
            b"{}",
        );
        let heads: Vec<(&[u8], &[u8])> = vec![
            (b"Host", b"abc.execute-api.localhost:8080"),
            (b"X-Amz-Date", s.amz_date.as_bytes()),
            (b"x-amz-content-sha256", s.content_sha256.as_bytes()),
            (b"Authorization", s.authorization.as_bytes()),
        ];
        let headers = Slices(&heads);
        let parts = RequestParts {
            method: "POST",
            path: "/prod/pets",
            query: "a=1",
            authority: None,
        };
        let claim = find_claim(&parts, &headers).unwrap();
        assert_eq!(claim.access_key_id, "AKIDTEST");
        assert_eq!(claim.service, "execute-api");
        claim.check_window(now + 60).unwrap();
        claim
            .verify(&parts, &headers, b"{}", "secret-test")
            .unwrap();
        assert_eq!(
            claim.verify(&parts, &headers, b"{}", "other"),
            Err(SigV4Error::SignatureMismatch)
        );
        assert!(matches!(
            claim.verify(&parts, &headers, b"{\"x\":1}", "secret-test"),
            Err(SigV4Error::InvalidSignature(_))
        ));
        let moved = RequestParts {
            path: "/prod/cats",
            ..parts
        };
        assert_eq!(
            claim.verify(&moved, &headers, b"{}", "secret-test"),
            Err(SigV4Error::SignatureMismatch)
        );
        let e = claim
            .check_window(now + SIGV4_CLOCK_SKEW_MAX_S + 1)
            .unwrap_err();
        assert!(e.message().starts_with("Signature expired: "), "{e}");
        assert!(matches!(
            claim.check_window(now - SIGV4_CLOCK_SKEW_MAX_S - 1),
            Err(SigV4Error::SignatureNotYetCurrent { .. })
        ));
        let none = Slices(&[]);
        assert_eq!(
            find_claim(&parts, &none).unwrap_err(),
            SigV4Error::MissingAuthenticationToken
        );
    }
}
