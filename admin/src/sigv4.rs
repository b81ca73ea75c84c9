//! AWS Signature Version 4 verification of admin requests.
//!
//! The AWS CLI, boto3 and the SDKs sign every control-plane call with SigV4 (service
//! `apigateway`). When admin credentials are configured, [`require_sigv4`] checks that signature
//! before any handler runs; with none configured it lets everything through and [`check_bind`]
//! keeps the admin listener on loopback.
//!
//! # Architecture
//! 1. [`require_sigv4`] buffers the body (bounded by [`ADMIN_BODY_MAX_BYTES`]): the payload hash
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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use portico_shared::limits::ADMIN_BODY_MAX_BYTES;
use portico_shared::sigv4;
pub use portico_shared::sigv4::verify::{
    find_claim, Claim, HeaderLookup, RequestParts, SigV4Error,
};

pub use sigv4::ALGORITHM;

/// Environment variable naming the admin access key id.
pub const ENV_ACCESS_KEY_ID: &str = "PORTICO_ADMIN_ACCESS_KEY_ID";

/// Environment variable holding the admin secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "PORTICO_ADMIN_SECRET_ACCESS_KEY";

/// The one key pair that may call the admin API.
#[derive(Clone)]
pub struct AdminCredentials {
    /// Public half: names the key in the `Credential=` scope; compared as is.
    access_key_id: String,
    /// Private half: only ever used to derive signing keys.
    secret_access_key: String,
}

/// A refusal as an axum response (AWS's shape: status, `x-amzn-ErrorType`, `{"message"}`).
#[derive(Debug)]
pub struct Rejection(pub SigV4Error);

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
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> [u8; 32] {
        sigv4::signing_key(&self.secret_access_key, date, region, service)
    }

    /// The secret, for the IAM store's root principal (the data plane verifies with it).
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
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

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "message": self.0.message() }));
        let mut r = (self.0.status(), body).into_response();
        r.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.0.error_type()),
        );
        r
    }
}

// === verification ===

/// The request line's parts as [`portico_shared::sigv4::verify`] reads them.
pub fn parts<'a>(method: &'a Method, uri: &'a Uri) -> RequestParts<'a> {
    RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        authority: uri.authority().map(|a| a.as_str()),
    }
}

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
    let parts = parts(method, uri);
    let claim = find_claim(&parts, headers)?;
    if claim.access_key_id != creds.access_key_id {
        return Err(SigV4Error::UnrecognizedClient);
    }
    claim.check_window(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))?;
    claim.verify(&parts, headers, body, &creds.secret_access_key)
}

// === axum ===

/// Axum middleware: verifies every request's SigV4 signature before the handler sees it.
///
/// With `None` credentials (none configured) every request passes untouched; [`check_bind`]
/// then keeps the listener on loopback. Otherwise the body is buffered (at most
/// [`ADMIN_BODY_MAX_BYTES`], else 413), verified with the current clock and handed on whole.
pub async fn require_sigv4(
    State(creds): State<Option<Arc<AdminCredentials>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(creds) = creds else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return Rejection(e).into_response(),
    };
    if let Err(e) = verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
        &creds,
        SystemTime::now(),
    ) {
        tracing::info!(
            method = %parts.method,
            path = parts.uri.path(),
            error = e.error_type(),
            "admin request rejected"
        );
        return Rejection(e).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Reads the whole body, refusing one larger than [`ADMIN_BODY_MAX_BYTES`] (up front when its
/// `Content-Length` says so).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, SigV4Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ADMIN_BODY_MAX_BYTES as u64) {
        return Err(SigV4Error::PayloadTooLarge);
    }
    match Limited::new(body, ADMIN_BODY_MAX_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(SigV4Error::PayloadTooLarge)
        }
        Err(_) => Err(SigV4Error::UnreadableBody),
    }
}

/// Refuses to serve the admin API beyond loopback when no credentials are configured: without
/// them anyone who can connect could reconfigure the gateway.
pub fn check_bind(admin_addr: SocketAddr, creds: Option<&AdminCredentials>) -> Result<(), String> {
    if creds.is_some() || admin_addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to serve the admin API on non-loopback address {admin_addr} without \
         credentials: set {ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY}, or listen on \
         127.0.0.1 / [::1]"
    ))
}

#[cfg(test)]
mod tests;
