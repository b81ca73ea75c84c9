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

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use portico_shared::jwt::{JwtAuthorizer, KeySet, RouteAuth};
use portico_shared::limits::{JWT_VERIFIED_TOKENS_MAX, JWT_VERIFIED_TTL_MAX_S};

use crate::error::GatewayError;
use crate::http1::parse::HeaderSpans;

/// This core's verified tokens: a repeated token skips the signature check (the expensive
/// part) until it expires, for at most [`JWT_VERIFIED_TTL_MAX_S`], while the issuer's key set is
/// the one that verified it. Keyed by the whole token; an entry holds the authorizer it was
/// verified by (compared by pointer, kept alive by the entry, so a recompiled authorizer never
/// matches), the key set and the route's scopes.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: RefCell<HashMap<Box<[u8]>, Verified, foldhash::fast::RandomState>>,
}

#[derive(Debug)]
struct Verified {
    authorizer: Arc<JwtAuthorizer>,
    /// The key set that verified the token: a refetch (rotation) makes the entry stale.
    keys: Arc<KeySet>,
    scopes: Box<[Box<str>]>,
    until_s: u64,
}

/// Checks the request's token against the route's authorizer and scopes.
pub fn authorize(
    auth: &RouteAuth,
    verified: &VerifiedTokens,
    buf: &[u8],
    headers: &HeaderSpans,
    now_s: u64,
) -> Result<(), GatewayError> {
    let name = auth.authorizer.header.as_bytes();
    let value = crate::request::header(buf, headers, name);
    if let Some(token) = value {
        let entries = verified.entries.borrow();
        if entries.get(token).is_some_and(|v| {
            v.until_s > now_s
                && Arc::ptr_eq(&v.authorizer, &auth.authorizer)
                && v.scopes == auth.scopes
                && auth.authorizer.keys.is_current(&v.keys)
        }) {
            return Ok(());
        }
    }
    // Taken before the check: if a refetch lands meanwhile, the entry is stale at once.
    let keys = auth.authorizer.keys.current();
    let until_s = auth
        .authorizer
        .check_until(value, &auth.scopes, now_s)
        .map_err(GatewayError::Unauthorized)?;
    if let (Some(token), Some(keys)) = (value, keys) {
        let mut entries = verified.entries.borrow_mut();
        if entries.len() >= JWT_VERIFIED_TOKENS_MAX {
            entries.retain(|_, v| v.until_s > now_s);
            if entries.len() >= JWT_VERIFIED_TOKENS_MAX {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Verified {
                authorizer: Arc::clone(&auth.authorizer),
                keys,
                scopes: auth.scopes.clone(),
                until_s: until_s.min(now_s + JWT_VERIFIED_TTL_MAX_S),
            },
        );
    }
    Ok(())
}

/// Seconds since the epoch (the wall clock tokens are dated by).
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
