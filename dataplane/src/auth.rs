//! Pipeline stage `authorize`: HTTP API routes with a JWT authorizer.
//!
//! # Architecture
//! 1. `pipeline::handle` calls [`authorize`] after `resolve` and before `admit` (AWS's order: a
//!    refused token is never throttled or counted).
//! 2. The token is read from the authorizer's identity source header (`Bearer ` stripped) and
//!    checked by `portico_shared::jwt::JwtAuthorizer::check` against the keys the admin side
//!    fetched into the authorizer's key slot.
//! 3. A refusal is `GatewayError::Unauthorized`: 401 `{"message":"Unauthorized"}` or, for
//!    missing scopes, 403 `{"message":"Forbidden"}`, each with a `www-authenticate` line.
//!
//! Invariants: never blocks, never waits for keys (an unknown `kid` only sets the slot's
//! refresh flag; until keys arrive every token is refused with 401); a route without an
//! authorizer costs one branch. Verification decodes the token (base64, claims), so it
//! allocates, bounded by `JWT_MAX_BYTES`.

use portico_shared::jwt::RouteAuth;

use crate::error::GatewayError;
use crate::http1::parse::{bytes, trim, HeaderSpans};

/// Checks the request's token against the route's authorizer and scopes.
pub fn authorize(
    auth: &RouteAuth,
    buf: &[u8],
    headers: &HeaderSpans,
    now_s: u64,
) -> Result<(), GatewayError> {
    let name = auth.authorizer.header.as_bytes();
    let value = headers
        .iter()
        .find(|(n, _)| bytes(buf, *n).eq_ignore_ascii_case(name))
        .map(|(_, v)| trim(bytes(buf, *v)));
    auth.authorizer
        .check(value, &auth.scopes, now_s)
        .map_err(GatewayError::Unauthorized)
}

/// Seconds since the epoch (the wall clock tokens are dated by).
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
