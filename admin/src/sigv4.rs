//! SigV4 for the admin API: the axum middleware [`require_sigv4`] and [`check_bind`]. The
//! verification itself is pure and lives in `portico_shared::sigv4::verify` (the data plane's
//! `@connections` API uses it too); it is re-exported here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};

pub use portico_shared::sigv4::verify::*;

/// A refused signature as the admin API answers it: AWS's status, `x-amzn-ErrorType` and
/// `{"message"}`.
#[derive(Debug)]
pub struct Rejection(pub SigV4Error);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = Json(serde_json::json!({ "message": e.message() }));
        let mut r = (e.status(), body).into_response();
        r.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(e.error_type()));
        r
    }
}

// === axum ===

/// Axum middleware: verifies every request's SigV4 signature before the handler sees it.
///
/// With `None` credentials (none configured) every request passes untouched; [`check_bind`]
/// then keeps the listener on loopback. Otherwise the body is buffered (at most
/// [`MAX_SIGNED_BODY_BYTES`], else 413), verified with the current clock and handed on whole.
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

/// Reads the whole body, refusing one larger than [`MAX_SIGNED_BODY_BYTES`] (up front when its
/// `Content-Length` says so).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, SigV4Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_SIGNED_BODY_BYTES as u64) {
        return Err(SigV4Error::PayloadTooLarge);
    }
    match Limited::new(body, MAX_SIGNED_BODY_BYTES).collect().await {
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
