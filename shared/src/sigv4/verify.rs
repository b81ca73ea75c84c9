//! AWS Signature Version 4 verification: pure (no I/O), shared by the admin API (service
//! `apigateway`, its axum middleware is `portico_admin::sigv4`) and the data plane's
//! `@connections` API (service `execute-api`).
//!
//! The AWS CLI, boto3 and the SDKs sign every control-plane call with SigV4 (service
//! `apigateway`). When admin credentials are configured, [`require_sigv4`] checks that signature
//! before any handler runs; with none configured it lets everything through and [`check_bind`]
//! keeps the admin listener on loopback.
//!
//! # Architecture
//! 1. [`require_sigv4`] buffers the body (bounded by [`MAX_SIGNED_BODY_BYTES`]): the payload hash
//!    is part of what is signed, so the body must be whole before anything is decided.
//! 2. [`verify`] finds the signature (the `Authorization` header, or the presigned `X-Amz-*` query
//!    parameters), checks the access key, the date window and the scope, rebuilds the canonical
//!    request exactly as AWS does for non-S3 services, derives the signing key and compares the
//!    signatures in constant time.
//! 3. Every failure is a [`SigV4Error`], answered in AWS's shape: 403, `x-amzn-ErrorType`,
//!    `{"message": ...}`, so the SDKs raise the error codes their users already handle.
//!
//! Invariants: the secret never appears in a `Debug` output, a log line or an error message. A
//! body the signature does not cover is never accepted (`UNSIGNED-PAYLOAD` only with no body).
//! The region and service of the credential scope are taken as signed: they enter the signing
//! key, so a signature only verifies for the scope the client really used.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use sha2::{Digest, Sha256};

/// The only signing algorithm SigV4 has for symmetric keys.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Largest body the middleware buffers to hash; the admin API's own body limit. Past it: 413.
pub const MAX_SIGNED_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How far a request's signing time may be from the verifier's clock, either way (AWS: 15 min).
pub const MAX_CLOCK_SKEW_S: u64 = 15 * 60;

/// Longest validity a presigned URL may ask for (AWS: 7 days).
pub const MAX_PRESIGNED_EXPIRES_S: u64 = 7 * 24 * 60 * 60;

/// Environment variable naming the admin access key id.
pub const ENV_ACCESS_KEY_ID: &str = "PORTICO_ADMIN_ACCESS_KEY_ID";

/// Environment variable holding the admin secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "PORTICO_ADMIN_SECRET_ACCESS_KEY";

/// The payload hash a client sends when it chose not to sign the body.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const _: () = assert!(MAX_CLOCK_SKEW_S < MAX_PRESIGNED_EXPIRES_S);

type HmacSha256 = Hmac<Sha256>;

/// The one key pair that may call the admin API.
#[derive(Clone)]
pub struct AdminCredentials {
    /// Public half: names the key in the `Credential=` scope; compared as is.
    access_key_id: String,
    /// Private half: only ever used to derive signing keys.
    secret_access_key: String,
}

/// Why a request's signature was not accepted. Each maps to AWS's status, `x-amzn-ErrorType`
/// and message through [`SigV4Error::status`], [`SigV4Error::error_type`] and
/// [`SigV4Error::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    MissingAuthenticationToken,
    /// The signature's description is malformed or incomplete; the text says what is wrong.
    IncompleteSignature(String),
    /// The access key id is not the configured one.
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
    /// The body exceeds [`MAX_SIGNED_BODY_BYTES`].
    PayloadTooLarge,
    /// The body could not be read (the client went away mid-body).
    UnreadableBody,
}

/// The signature of one request, as the client described it.
#[derive(Debug)]
#[doc(hidden)]
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
#[derive(Debug, Clone)]
pub struct Timestamp {
    pub unix_s: u64,
    pub iso: String,
}

// === impl AdminCredentials ===

impl AdminCredentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> AdminCredentials {
        AdminCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }

    /// Reads [`ENV_ACCESS_KEY_ID`] and [`ENV_SECRET_ACCESS_KEY`]. Both set: `Some`; neither:
    /// `None`; only one (or a value that is not UTF-8): an error to stop startup with. An empty
    /// variable counts as unset.
    pub fn from_env() -> Result<Option<AdminCredentials>, String> {
        let read = |name: &str| match std::env::var(name) {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
        };
        AdminCredentials::from_values(read(ENV_ACCESS_KEY_ID)?, read(ENV_SECRET_ACCESS_KEY)?)
    }

    /// The both-or-neither rule of [`AdminCredentials::from_env`], on values already read.
    pub fn from_values(
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
    ) -> Result<Option<AdminCredentials>, String> {
        match (access_key_id, secret_access_key) {
            (Some(id), Some(secret)) => {
                if id.contains('/') || id.chars().any(char::is_whitespace) {
                    return Err(format!(
                        "{ENV_ACCESS_KEY_ID} may contain neither '/' nor whitespace"
                    ));
                }
                Ok(Some(AdminCredentials::new(id, secret)))
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err(format!(
                "{ENV_ACCESS_KEY_ID} is set but {ENV_SECRET_ACCESS_KEY} is not: set both or neither"
            )),
            (None, Some(_)) => Err(format!(
                "{ENV_SECRET_ACCESS_KEY} is set but {ENV_ACCESS_KEY_ID} is not: set both or neither"
            )),
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// `kSigning` = HMAC chain over date, region, service and the terminator.
    #[doc(hidden)]
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> [u8; 32] {
        let k_secret = format!("AWS4{}", self.secret_access_key);
        let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, service.as_bytes());
        hmac_sha256(&k_service, b"aws4_request")
    }
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

// === impl SigV4Error ===

impl SigV4Error {
    pub fn status(&self) -> StatusCode {
        match self {
            SigV4Error::MissingAuthenticationToken
            | SigV4Error::IncompleteSignature(_)
            | SigV4Error::UnrecognizedClient
            | SigV4Error::SignatureMismatch
            | SigV4Error::SignatureExpired { .. }
            | SigV4Error::SignatureNotYetCurrent { .. }
            | SigV4Error::InvalidSignature(_) => StatusCode::FORBIDDEN,
            SigV4Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SigV4Error::UnreadableBody => StatusCode::BAD_REQUEST,
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
                "Request body exceeds the admin API's limit of {MAX_SIGNED_BODY_BYTES} bytes"
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

// === verification ===

/// Verifies the SigV4 signature of one request against `creds` at time `now`.
///
/// Accepts the `Authorization` header form and the presigned query-string form, any region and
/// any service name in the scope (they are part of the signing key, so they are checked by the
/// signature itself). URI paths are normalized and encoded twice, as AWS does for every service
/// but S3.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    creds: &AdminCredentials,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    let claim = find_claim(uri, headers)?;
    if claim.access_key_id != creds.access_key_id {
        return Err(SigV4Error::UnrecognizedClient);
    }
    check_window(&claim, now)?;
    if claim.scope_date != claim.timestamp.iso[..8] {
        return Err(SigV4Error::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{}', from '{}'.",
            claim.scope_date,
            &claim.timestamp.iso[..8],
            claim.timestamp.iso
        )));
    }
    let body_sha256 = hex::encode(Sha256::digest(body));
    let payload_hash = payload_hash(headers, body, &body_sha256)?;
    let presigned = claim.expires_s.is_some();
    let provided = hex::decode(&claim.signature).map_err(|_| SigV4Error::SignatureMismatch)?;
    let key = creds.signing_key(&claim.scope_date, &claim.region, &claim.service);

    // A presigner that knows nothing of the body may sign `UNSIGNED-PAYLOAD` in its place; that
    // is only acceptable when there is no body to leave unsigned.
    let mut candidates = vec![payload_hash];
    if presigned && body.is_empty() && headers.get("x-amz-content-sha256").is_none() {
        candidates.push(UNSIGNED_PAYLOAD);
    }
    for payload in candidates {
        let canonical = canonical_request(method, uri, headers, &claim, payload);
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}/{}/{}/aws4_request\n{}",
            claim.timestamp.iso,
            claim.scope_date,
            claim.region,
            claim.service,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(string_to_sign.as_bytes());
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&provided).is_ok() {
            return Ok(());
        }
    }
    Err(SigV4Error::SignatureMismatch)
}

/// Finds the signature in the `Authorization` header or the presigned query parameters.
fn find_claim(uri: &Uri, headers: &HeaderMap) -> Result<Claim, SigV4Error> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let header_value = authorization.next();
    if authorization.next().is_some() {
        return Err(SigV4Error::IncompleteSignature(
            "Only one Authorization header may be sent".into(),
        ));
    }
    let presigned = uri.query().is_some_and(|q| {
        q.split('&').any(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            key == "X-Amz-Algorithm" || key == "X-Amz-Signature" || key == "X-Amz-Credential"
        })
    });
    match (header_value, presigned) {
        (Some(_), true) => Err(SigV4Error::IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified"
                .into(),
        )),
        (Some(v), false) => parse_authorization_header(v, headers),
        (None, true) => parse_presigned_query(uri.query().unwrap_or_default()),
        (None, false) => Err(SigV4Error::MissingAuthenticationToken),
    }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/apigateway/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=<64 hex>`.
fn parse_authorization_header(
    value: &HeaderValue,
    headers: &HeaderMap,
) -> Result<Claim, SigV4Error> {
    let incomplete = |m: &str| SigV4Error::IncompleteSignature(m.to_string());
    let value = value
        .to_str()
        .map_err(|_| incomplete("Authorization header is not visible ASCII"))?
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
            (k == name).then(|| String::from_utf8_lossy(&percent_decode(v)).into_owned())
        })
    };
    let (algorithm, credential, date, signed_headers, signature, expires) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
        get("X-Amz-Expires"),
    );
    let (
        Some(algorithm),
        Some(credential),
        Some(date),
        Some(signed_headers),
        Some(signature),
        Some(expires),
    ) = (
        algorithm,
        credential,
        date,
        signed_headers,
        signature,
        expires,
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
        .filter(|s| (1..=MAX_PRESIGNED_EXPIRES_S).contains(s))
        .ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGNED_EXPIRES_S}"
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
fn header_timestamp(headers: &HeaderMap) -> Result<Timestamp, Option<SigV4Error>> {
    if let Some(v) = headers.get("x-amz-date") {
        let s = v.to_str().unwrap_or_default();
        return parse_iso_basic(s).ok_or_else(|| Some(bad_date(s)));
    }
    if let Some(v) = headers.get(header::DATE) {
        let s = v.to_str().unwrap_or_default();
        return parse_iso_basic(s)
            .or_else(|| parse_http_date(s))
            .ok_or_else(|| Some(bad_date(s)));
    }
    Err(None)
}

fn bad_date(s: &str) -> SigV4Error {
    SigV4Error::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{s}'. See \
         http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

/// Rejects a signing time outside the clock-skew window or past a presigned URL's expiry.
fn check_window(claim: &Claim, now: SystemTime) -> Result<(), SigV4Error> {
    let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let signed_s = claim.timestamp.unix_s;
    let (lifetime_s, window) = match claim.expires_s {
        Some(expires_s) => (expires_s, format!("{expires_s} sec.")),
        None => (MAX_CLOCK_SKEW_S, "15 min.".to_string()),
    };
    if signed_s.saturating_add(lifetime_s) < now_s {
        return Err(SigV4Error::SignatureExpired {
            signed: claim.timestamp.iso.clone(),
            earliest: format_iso_basic(now_s - lifetime_s),
            now: format_iso_basic(now_s),
            window,
        });
    }
    if signed_s > now_s.saturating_add(MAX_CLOCK_SKEW_S) {
        return Err(SigV4Error::SignatureNotYetCurrent {
            signed: claim.timestamp.iso.clone(),
            latest: format_iso_basic(now_s + MAX_CLOCK_SKEW_S),
            now: format_iso_basic(now_s),
        });
    }
    Ok(())
}

/// The payload hash to sign with: `x-amz-content-sha256` when sent (and then it must describe
/// this body), else the body's SHA-256.
fn payload_hash<'a>(
    headers: &'a HeaderMap,
    body: &[u8],
    body_sha256: &'a str,
) -> Result<&'a str, SigV4Error> {
    let Some(v) = headers.get("x-amz-content-sha256") else {
        return Ok(body_sha256);
    };
    let declared = v.to_str().unwrap_or_default();
    if declared == UNSIGNED_PAYLOAD && body.is_empty() {
        return Ok(declared);
    }
    if declared.eq_ignore_ascii_case(body_sha256) {
        return Ok(declared);
    }
    Err(SigV4Error::InvalidSignature(
        "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
    ))
}

/// The canonical request:
/// `method \n uri \n query \n headers \n \n signed-headers \n payload-hash`.
#[doc(hidden)]
pub fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    claim: &Claim,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(method.as_str());
    out.push('\n');
    canonical_uri(&mut out, uri.path());
    out.push('\n');
    canonical_query(
        &mut out,
        uri.query().unwrap_or_default(),
        claim.expires_s.is_some(),
    );
    out.push('\n');
    for name in claim.signed_headers.split(';') {
        let name = name.to_ascii_lowercase();
        out.push_str(&name);
        out.push(':');
        let mut values = headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() && name == "host" {
            // HTTP/2 carries the host in `:authority`, which lands in the URI.
            if let Some(authority) = uri.authority() {
                out.push_str(authority.as_str());
            }
        }
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_trimmed(&mut out, v.as_bytes());
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&claim.signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// Trims the value and collapses each run of whitespace to one space (botocore: `' '.join(v.split())`).
#[doc(hidden)]
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
#[doc(hidden)]
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
#[doc(hidden)]
pub fn canonical_query(out: &mut String, query: &str, presigned: bool) {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            percent_encode(&mut key, &percent_decode(k), false);
            let mut value = String::new();
            percent_encode(&mut value, &percent_decode(v), false);
            (key, value)
        })
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// RFC 3986: everything but unreserved characters (and `/` when `keep_slash`) as `%XX`, uppercase.
fn percent_encode(out: &mut String, bytes: &[u8], keep_slash: bool) {
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

/// `%XX` to bytes; anything else (including `+` and a malformed `%`) kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(u8::try_from(h * 16 + l).expect("two hex digits fit a byte"));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[doc(hidden)]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

// === dates ===

/// `20261125T120000Z`.
#[doc(hidden)]
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
#[doc(hidden)]
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

/// Seconds since the epoch of a UTC civil time; `None` when a field is out of range.
fn unix_seconds(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> Option<u64> {
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
#[doc(hidden)]
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
