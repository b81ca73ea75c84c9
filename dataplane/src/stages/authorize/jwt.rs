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

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    use portico_shared::jwt::{parse_jwks, AuthFailure, KeySlot, KeySource};
    use portico_shared::limits::JWT_LEEWAY_S;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING as ES256};

    use super::*;
    use crate::stages::testing;

    /// An issuer with one P-256 key (`kid` "k1"), made for the test.
    struct Issuer {
        key: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Issuer {
        fn new() -> Issuer {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ES256, &rng).expect("a key");
            let key = EcdsaKeyPair::from_pkcs8(&ES256, pkcs8.as_ref(), &rng).expect("a key");
            Issuer { key, rng }
        }

        fn jwks(&self) -> KeySet {
            // The public key is 0x04, then x and y (32 bytes each).
            let point = self.key.public_key().as_ref();
            let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
            let doc = format!(
                r#"{{"keys":[{{"kty":"EC","kid":"k1","use":"sig","crv":"P-256","x":"{x}","y":"{y}"}}]}}"#
            );
            parse_jwks(doc.as_bytes()).expect("a key set")
        }

        fn token(&self, kid: &str, claims: &str) -> String {
            let header = B64.encode(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#));
            let input = format!("{header}.{}", B64.encode(claims));
            let sig = self
                .key
                .sign(&self.rng, input.as_bytes())
                .expect("a signature");
            format!("{input}.{}", B64.encode(sig.as_ref()))
        }
    }

    /// A route whose authorizer trusts `issuer`'s keys, requiring `scopes`.
    fn route(issuer: &Issuer, scopes: &[&str]) -> RouteAuth {
        let slot = Arc::new(KeySlot::new(KeySource::Jwks(
            "http://127.0.0.1:9/jwks".into(),
        )));
        slot.publish(issuer.jwks());
        let authorizer = JwtAuthorizer::new("http://iss", &["app".into()], "Authorization", slot);
        RouteAuth {
            authorizer: Arc::new(authorizer),
            scopes: scopes.iter().map(|s| (*s).into()).collect(),
        }
    }

    /// `auth` run on a request with these `Authorization` lines.
    fn run(
        auth: &RouteAuth,
        verified: &VerifiedTokens,
        lines: &[&str],
        now_s: u64,
    ) -> Result<(), GatewayError> {
        let mut head = String::from("GET / HTTP/1.1\r\nhost: x\r\n");
        for l in lines {
            head.push_str(&format!("authorization: {l}\r\n"));
        }
        head.push_str("\r\n");
        let (_, headers) = testing::head(head.as_bytes());
        authorize(auth, verified, head.as_bytes(), &headers, now_s)
    }

    fn unauthorized(why: &'static str) -> Result<(), GatewayError> {
        Err(GatewayError::Unauthorized(AuthFailure::Invalid(why)))
    }

    #[test]
    fn tokens_are_verified_then_remembered() {
        let issuer = Issuer::new();
        let now = now_s();
        let claims = |extra: &str| {
            format!(
                r#"{{"iss":"http://iss","aud":"app","exp":{},"scope":"read"{extra}}}"#,
                now + 600
            )
        };
        let good = issuer.token("k1", &claims(""));
        let other_aud = issuer.token("k1", &claims("").replace(r#""aud":"app""#, r#""aud":"x""#));
        let other_iss = issuer.token("k1", &claims("").replace("http://iss", "http://other"));
        let expired = issuer.token(
            "k1",
            &claims("").replace(&format!("{}", now + 600), &format!("{}", now - 600)),
        );
        let unknown_kid = issuer.token("k2", &claims(""));
        // Signed with another key under the same `kid`.
        let forged = Issuer::new().token("k1", &claims(""));
        // (identity source lines, route scopes, the answer, whether the token is remembered)
        type Case<'a> = (Vec<String>, &'a [&'a str], Result<(), GatewayError>, bool);
        let cases: Vec<Case<'_>> = vec![
            (vec![format!("Bearer {good}")], &[], Ok(()), true),
            (vec![good.clone()], &[], Ok(()), true),
            (
                vec![format!("  bearer   {good}  ")],
                &["read"],
                Ok(()),
                true,
            ),
            (
                vec![],
                &[],
                Err(GatewayError::Unauthorized(AuthFailure::Missing)),
                false,
            ),
            (
                vec!["Bearer ".into()],
                &[],
                Err(GatewayError::Unauthorized(AuthFailure::Missing)),
                false,
            ),
            (
                vec![format!("Bearer {good}")],
                &["write"],
                Err(GatewayError::Unauthorized(AuthFailure::Scope)),
                false,
            ),
            (
                vec![other_aud],
                &[],
                unauthorized("the token does not have a valid audience"),
                false,
            ),
            (
                vec![other_iss],
                &[],
                unauthorized("the token does not have a valid issuer"),
                false,
            ),
            (
                vec![expired],
                &[],
                unauthorized("the token has expired"),
                false,
            ),
            (
                vec![forged],
                &[],
                unauthorized("the token signature is invalid"),
                false,
            ),
            (
                vec![unknown_kid],
                &[],
                Err(GatewayError::Unauthorized(AuthFailure::UnknownKey)),
                false,
            ),
        ];
        for (lines, scopes, want, remembered) in cases {
            let (auth, verified) = (route(&issuer, scopes), VerifiedTokens::default());
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            assert_eq!(
                run(&auth, &verified, &lines, now),
                want,
                "{lines:?} {scopes:?}"
            );
            let entries = verified.entries.borrow();
            assert_eq!(
                entries.len(),
                usize::from(remembered),
                "{lines:?} {scopes:?}"
            );
            // Remembered at most `JWT_VERIFIED_TTL_MAX_S`, never past the token's own expiry.
            for v in entries.values() {
                assert_eq!(
                    v.until_s,
                    (now + 600 + JWT_LEEWAY_S).min(now + JWT_VERIFIED_TTL_MAX_S)
                );
            }
        }
    }

    #[test]
    fn a_remembered_token_answers_while_its_entry_matches() {
        let issuer = Issuer::new();
        let now = 1_000;
        // Not a JWT at all: only a remembered entry lets it through.
        let token = "remembered";
        let refused = unauthorized("the token header is not valid");
        // (what changed since the entry was made, the answer)
        let cases = [
            ("nothing", Ok(())),
            ("the clock reached the entry's end", refused),
            ("the route's scopes", refused),
            ("the authorizer was recompiled", refused),
            ("the issuer's keys were fetched again", refused),
        ];
        for (change, want) in cases {
            let auth = route(&issuer, &["read"]);
            let verified = VerifiedTokens::default();
            verified.entries.borrow_mut().insert(
                token.as_bytes().into(),
                Verified {
                    authorizer: Arc::clone(&auth.authorizer),
                    keys: auth.authorizer.keys.current().expect("keys"),
                    scopes: auth.scopes.clone(),
                    until_s: now + 60,
                },
            );
            let (mut auth, mut at) = (auth, now);
            match change {
                "the clock reached the entry's end" => at = now + 60,
                "the route's scopes" => auth.scopes = Box::new(["write".into()]),
                "the authorizer was recompiled" => {
                    let keys = Arc::clone(&auth.authorizer.keys);
                    let a =
                        JwtAuthorizer::new("http://iss", &["app".into()], "Authorization", keys);
                    auth.authorizer = Arc::new(a);
                }
                "the issuer's keys were fetched again" => {
                    auth.authorizer.keys.publish(issuer.jwks())
                }
                _ => {}
            }
            assert_eq!(run(&auth, &verified, &[token], at), want, "{change}");
        }
    }
}
