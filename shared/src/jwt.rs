//! HTTP API JWT authorizers, compiled: what a route checks ([`RouteAuth`]), the issuer's keys
//! ([`KeySlot`], [`KeySet`]) and the check itself ([`JwtAuthorizer::check`]).
//!
//! # Architecture
//! 1. The admin side compiles an authorizer (`jwtConfiguration`, `identitySource`) into a
//!    [`JwtAuthorizer`] per stage. Its keys live in a [`KeySlot`] taken from the
//!    [`KeyRegistry`] in the compile context, so every snapshot, stage and route that uses the
//!    same key source shares one slot, and a recompile keeps the keys already fetched.
//! 2. The admin side's fetcher (`admin/src/jwks.rs`, tokio) fills each slot: OpenID discovery
//!    (`{issuer}/.well-known/openid-configuration` → `jwks_uri`) or the configured `jwksUri`,
//!    then [`parse_jwks`], then [`KeySlot::publish`] (an `ArcSwapOption` store).
//! 3. A worker's `authorize` stage calls [`JwtAuthorizer::check`]: header, key by `kid` (a
//!    load of the slot, no lock), signature, claims, scopes. An unknown `kid` only sets the
//!    slot's `refresh_wanted` flag; the fetcher refetches at most once per
//!    [`JWKS_REFETCH_INTERVAL_MIN_S`](crate::limits::JWKS_REFETCH_INTERVAL_MIN_S). Until a slot has keys, every token is refused (401).
//!
//! Invariants: only RSA (RS256/384/512, PS256/384/512) and ECDSA (ES256/384) signatures are
//! accepted; `none` and every HMAC algorithm are refused before any key is looked up, and JWKS
//! keys of type `oct` are never loaded, so no public key can become an HMAC secret. A check
//! never blocks and never waits for a fetch.

use crate::limits::{JWT_LEEWAY_S, JWT_MAX_BYTES};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwapOption;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The algorithms a JWT authorizer accepts.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// A route's authorization: its authorizer and `authorizationScopes`.
#[derive(Debug)]
pub struct RouteAuth {
    pub authorizer: Arc<JwtAuthorizer>,
    /// The token must carry at least one of these in `scope`/`scp`; empty: no scope check.
    pub scopes: Box<[Box<str>]>,
}

/// One JWT authorizer, compiled.
#[derive(Debug)]
pub struct JwtAuthorizer {
    /// `iss` must equal this.
    pub issuer: Box<str>,
    /// `aud` (or `client_id` when `aud` is absent) must be one of these.
    pub audience: Box<[Box<str>]>,
    /// Lowercase header name the token is read from (`$request.header.Authorization`).
    pub header: Box<str>,
    /// The issuer's keys, shared with the fetcher.
    pub keys: Arc<KeySlot>,
    /// One prepared `Validation` per accepted algorithm, so a check allocates none.
    validations: Box<[(Algorithm, Validation)]>,
    /// A REST `COGNITO_USER_POOLS` authorizer: no audience check; without route scopes the
    /// token must be an ID token (`token_use: id`), with scopes an access token, and a missing
    /// scope is 401 (AWS's rules).
    pub cognito: bool,
}

/// Where an authorizer's keys come from, and the keys once fetched.
#[derive(Debug)]
pub struct KeySlot {
    /// What the fetcher fetches.
    pub source: KeySource,
    /// `None` until the first successful fetch.
    keys: ArcSwapOption<KeySet>,
    /// Set by a worker that met an unknown `kid`; cleared by the fetcher.
    refresh_wanted: AtomicBool,
}

/// A key source: a JWKS URL, or an issuer whose discovery document names one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySource {
    /// `{issuer}/.well-known/openid-configuration` → `jwks_uri`.
    Discovery(Box<str>),
    /// The `jwksUri` override (Portico extension).
    Jwks(Box<str>),
}

/// A parsed JWKS: the signing keys by `kid`.
pub struct KeySet {
    keys: Vec<(Box<str>, DecodingKey)>,
}

/// Slots by source, so recompiles share them. Admin side only (part of `CompileContext`).
#[derive(Debug, Default)]
pub struct KeyRegistry {
    slots: HashMap<KeySource, Weak<KeySlot>>,
}

/// Why a token was refused: 401 with `error_description`, or 403 (scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No token in the identity source.
    Missing,
    /// 401 `invalid_token`, with a description.
    Invalid(&'static str),
    /// The `kid` is not in the issuer's keys (or none are loaded yet); a refetch was asked for.
    UnknownKey,
    /// 403 `insufficient_scope`.
    Scope,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    aud: Option<OneOrMany>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<OneOrMany>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

// === impl JwtAuthorizer ===

impl JwtAuthorizer {
    pub fn new(
        issuer: &str,
        audience: &[String],
        header: &str,
        keys: Arc<KeySlot>,
    ) -> JwtAuthorizer {
        let validations = ALGORITHMS
            .iter()
            .map(|&alg| {
                let mut v = Validation::new(alg);
                v.leeway = JWT_LEEWAY_S;
                v.validate_exp = true;
                v.validate_nbf = true;
                // `aud`/`client_id` follow AWS's rule, checked below.
                v.validate_aud = false;
                v.set_issuer(&[issuer]);
                v.set_required_spec_claims(&["exp", "iss"]);
                (alg, v)
            })
            .collect();
        JwtAuthorizer {
            issuer: issuer.into(),
            audience: audience.iter().map(|a| a.as_str().into()).collect(),
            header: header.to_ascii_lowercase().into(),
            keys,
            validations,
            cognito: false,
        }
    }

    /// A Cognito user pool authorizer for pool `issuer` (see [`JwtAuthorizer::cognito`]).
    pub fn new_cognito(issuer: &str, header: &str, keys: Arc<KeySlot>) -> JwtAuthorizer {
        JwtAuthorizer {
            cognito: true,
            ..JwtAuthorizer::new(issuer, &[], header, keys)
        }
    }

    /// Checks the identity source's value (`Bearer <token>` or the bare token) at `now_s`
    /// (seconds since the epoch) against this authorizer and `scopes`.
    pub fn check(
        &self,
        value: Option<&[u8]>,
        scopes: &[Box<str>],
        now_s: u64,
    ) -> Result<(), AuthFailure> {
        self.check_until(value, scopes, now_s).map(drop)
    }

    /// [`JwtAuthorizer::check`], giving back until when (seconds since the epoch) the accepted
    /// token stays valid: its `exp` plus the leeway.
    pub fn check_until(
        &self,
        value: Option<&[u8]>,
        scopes: &[Box<str>],
        now_s: u64,
    ) -> Result<u64, AuthFailure> {
        let value = value.ok_or(AuthFailure::Missing)?;
        let value = std::str::from_utf8(value)
            .map_err(|_| AuthFailure::Invalid("the token is not valid UTF-8"))?
            .trim();
        let token = match value.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
            _ => value,
        };
        if token.is_empty() || token.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::Missing);
        }
        if token.len() > JWT_MAX_BYTES {
            return Err(AuthFailure::Invalid("the token is too long"));
        }
        // `none` fails to parse here; HMAC is refused before any key is looked up.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthFailure::Invalid("the token header is not valid"))?;
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(AuthFailure::Invalid(
                "the token's signing algorithm is not supported",
            ));
        };
        let kid = header
            .kid
            .as_deref()
            .ok_or(AuthFailure::Invalid("the token has no kid"))?;
        let set = self.keys.keys.load();
        let key = set.as_deref().and_then(|s| s.get(kid));
        let Some(key) = key else {
            self.keys.want_refresh();
            return Err(AuthFailure::UnknownKey);
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthFailure::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "the token does not have a valid issuer",
                ErrorKind::MissingRequiredClaim(_) => "the token is missing a required claim",
                ErrorKind::InvalidSignature => "the token signature is invalid",
                ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key",
                _ => "the token is not valid",
            })
        })?;
        let claims = data.claims;
        // `exp` is required and was checked by `decode`.
        let valid_until = claims
            .exp
            .map_or(now_s, |e| e.max(0.0) as u64 + JWT_LEEWAY_S);
        if claims
            .iat
            .is_some_and(|iat| iat > (now_s + JWT_LEEWAY_S) as f64)
        {
            return Err(AuthFailure::Invalid("the token was issued in the future"));
        }
        let audience_ok = match &claims.aud {
            Some(OneOrMany::One(a)) => self.has_audience(a),
            Some(OneOrMany::Many(list)) => list.iter().any(|a| self.has_audience(a)),
            None => claims
                .client_id
                .as_deref()
                .is_some_and(|c| self.has_audience(c)),
        };
        if self.cognito {
            let wanted = if scopes.is_empty() { "id" } else { "access" };
            if claims.token_use.as_deref() != Some(wanted) {
                return Err(AuthFailure::Invalid("the token is not of the expected use"));
            }
        } else if !audience_ok {
            return Err(AuthFailure::Invalid(
                "the token does not have a valid audience",
            ));
        }
        if scopes.is_empty() {
            return Ok(valid_until);
        }
        let wanted = |s: &str| scopes.iter().any(|w| &**w == s);
        let scope_ok = claims
            .scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(wanted))
            || match &claims.scp {
                Some(OneOrMany::One(s)) => s.split(' ').any(wanted),
                Some(OneOrMany::Many(list)) => list.iter().any(|s| wanted(s)),
                None => false,
            };
        match (scope_ok, self.cognito) {
            (true, _) => Ok(valid_until),
            (false, false) => Err(AuthFailure::Scope),
            (false, true) => Err(AuthFailure::Invalid(
                "the token does not have a required scope",
            )),
        }
    }

    fn has_audience(&self, a: &str) -> bool {
        self.audience.iter().any(|x| &**x == a)
    }
}

// === impl KeySlot ===

impl KeySlot {
    pub fn new(source: KeySource) -> KeySlot {
        KeySlot {
            source,
            keys: ArcSwapOption::empty(),
            refresh_wanted: AtomicBool::new(false),
        }
    }

    /// Replaces the keys (the fetcher, after a successful fetch).
    pub fn publish(&self, keys: KeySet) {
        self.keys.store(Some(Arc::new(keys)));
    }

    /// Whether keys were ever published.
    pub fn has_keys(&self) -> bool {
        self.keys.load().is_some()
    }

    /// The keys published now (a verified-token cache remembers which set verified a token).
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    /// Whether `set` is still the published key set (one load, no reference count change).
    pub fn is_current(&self, set: &Arc<KeySet>) -> bool {
        self.keys
            .load()
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, set))
    }

    /// Asks the fetcher for a refetch (a worker met an unknown `kid`). Never waits.
    pub fn want_refresh(&self) {
        if !self.refresh_wanted.load(Ordering::Relaxed) {
            self.refresh_wanted.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the refetch request, if any (the fetcher).
    pub fn take_refresh(&self) -> bool {
        self.refresh_wanted.swap(false, Ordering::Relaxed)
    }
}

// === impl KeySet ===

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(kid, _)| kid))
            .finish()
    }
}

impl KeySet {
    fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys
            .iter()
            .find(|(k, _)| &**k == kid)
            .map(|(_, key)| key)
    }

    /// How many signing keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Parses a JWKS document: keeps the RSA and EC keys that have a `kid`; skips every other key
/// (symmetric `oct` keys above all). An error if nothing usable remains.
pub fn parse_jwks(doc: &[u8]) -> Result<KeySet, String> {
    #[derive(Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(doc).map_err(|e| format!("JWKS is not valid: {e}"))?;
    let mut keys = Vec::new();
    for k in doc.keys {
        let kty = k.get("kty").and_then(|v| v.as_str()).unwrap_or_default();
        if kty != "RSA" && kty != "EC" {
            continue;
        }
        if k.get("use")
            .and_then(|v| v.as_str())
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let Some(kid) = k.get("kid").and_then(|v| v.as_str()).map(Box::<str>::from) else {
            continue;
        };
        let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k) else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            keys.push((kid, key));
        }
    }
    if keys.is_empty() {
        return Err("JWKS holds no RSA or EC signing key with a kid".into());
    }
    Ok(KeySet { keys })
}

// === impl KeyRegistry ===

impl KeyRegistry {
    /// The slot for `source`: the one already in use, or a new one.
    pub fn slot(&mut self, source: KeySource) -> Arc<KeySlot> {
        if let Some(slot) = self.slots.get(&source).and_then(Weak::upgrade) {
            return slot;
        }
        self.slots.retain(|_, w| w.strong_count() > 0);
        let slot = Arc::new(KeySlot::new(source.clone()));
        self.slots.insert(source, Arc::downgrade(&slot));
        slot
    }
}

// === impl AuthFailure ===

impl AuthFailure {
    /// 401, or 403 for scopes.
    pub fn status(&self) -> u16 {
        match self {
            AuthFailure::Scope => 403,
            AuthFailure::Missing | AuthFailure::Invalid(_) | AuthFailure::UnknownKey => 401,
        }
    }

    /// The `www-authenticate` value AWS sends.
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "Bearer",
            AuthFailure::UnknownKey => {
                r#"Bearer scope="" error="invalid_token" error_description="the token's signing key is not known""#
            }
            AuthFailure::Scope => {
                r#"Bearer scope="" error="insufficient_scope" error_description="the token does not have the required scopes""#
            }
            AuthFailure::Invalid(d) => description_header(d),
        }
    }
}

/// `www-authenticate` lines for each description, made at compile time.
fn description_header(d: &'static str) -> &'static str {
    macro_rules! line {
        ($($d:literal),*) => {
            match d {
                $($d => concat!(r#"Bearer scope="" error="invalid_token" error_description=""#, $d, "\""),)*
                _ => r#"Bearer scope="" error="invalid_token" error_description="the token is not valid""#,
            }
        };
    }
    line!(
        "the token is not valid UTF-8",
        "the token is too long",
        "the token header is not valid",
        "the token's signing algorithm is not supported",
        "the token has no kid",
        "the token has expired",
        "the token is not valid yet",
        "the token does not have a valid issuer",
        "the token is missing a required claim",
        "the token signature is invalid",
        "the token's algorithm does not match its key",
        "the token was issued in the future",
        "the token does not have a valid audience"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorizer() -> JwtAuthorizer {
        let slot = Arc::new(KeySlot::new(KeySource::Jwks(
            "http://127.0.0.1:9/jwks".into(),
        )));
        JwtAuthorizer::new("http://iss", &["app".to_string()], "Authorization", slot)
    }

    fn b64(s: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for c in s.as_bytes().chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            let chars = [18, 12, 6, 0].map(|s| T[((n >> s) & 63) as usize] as char);
            out.extend(&chars[..c.len() + 1]);
        }
        out
    }

    fn token(header: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(r#"{"iss":"http://iss"}"#))
    }

    #[test]
    fn refusals_before_any_key_lookup() {
        let a = authorizer();
        let check = |v: Option<&str>| a.check(v.map(str::as_bytes), &[], 0);
        assert_eq!(check(None), Err(AuthFailure::Missing));
        assert_eq!(check(Some("Bearer ")), Err(AuthFailure::Missing));
        assert_eq!(
            check(Some("Bearer not-a-jwt")),
            Err(AuthFailure::Invalid("the token header is not valid"))
        );
        for alg in ["HS256", "HS384", "HS512", "EdDSA"] {
            let t = token(&format!(r#"{{"alg":"{alg}","kid":"k"}}"#));
            assert_eq!(
                check(Some(&format!("Bearer {t}"))),
                Err(AuthFailure::Invalid(
                    "the token's signing algorithm is not supported"
                )),
                "{alg}"
            );
        }
        let none = token(r#"{"alg":"none","kid":"k"}"#);
        assert!(matches!(check(Some(&none)), Err(AuthFailure::Invalid(_))));
        // None of these asked for a refetch; an unknown kid does (no keys yet).
        assert!(!a.keys.take_refresh());
        let rs = token(r#"{"alg":"RS256","kid":"k"}"#);
        assert_eq!(check(Some(&rs)), Err(AuthFailure::UnknownKey));
        assert!(a.keys.take_refresh());
        assert!(!a.keys.take_refresh());
    }

    #[test]
    fn jwks_keeps_only_asymmetric_signing_keys() {
        let doc = br#"{"keys":[
            {"kty":"oct","kid":"h","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"},
            {"kty":"RSA","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"r","use":"sig","n":"sXch","e":"AQAB"}]}"#;
        let set = parse_jwks(doc).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("r").is_some() && set.get("h").is_none());
        assert!(parse_jwks(br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwks(b"nope").is_err());
    }

    #[test]
    fn www_authenticate_lines() {
        assert_eq!(AuthFailure::Missing.www_authenticate(), "Bearer");
        assert_eq!(
            AuthFailure::Invalid("the token has expired").www_authenticate(),
            r#"Bearer scope="" error="invalid_token" error_description="the token has expired""#
        );
        assert_eq!(AuthFailure::Scope.status(), 403);
        assert_eq!(AuthFailure::UnknownKey.status(), 401);
    }
}
