//! Pipeline stage `authorize` for Lambda authorizers (`authorizationType: CUSTOM`): REST
//! `TOKEN` and `REQUEST`, HTTP API `REQUEST` (payload 1.0 / 2.0, simple responses).
//!
//! # Architecture
//! 1. `pipeline::handle` calls [`authorize`] after `resolve` and before `admit` (the grant's
//!    `usageIdentifierKey` is the API key when the REST API's `apiKeySource` is `AUTHORIZER`).
//! 2. The identity: every configured source's value (header, query string parameter, stage
//!    variable, context variable). One missing or empty → 401 without calling the function;
//!    a `TOKEN` that does not match `identityValidationExpression` → 401 as well.
//! 3. The per-core [`DecisionCache`] is looked up by authorizer and identity values (a worker
//!    buffer holds the key: a hit allocates nothing). A live entry answers; otherwise the input
//!    event is written (a REST `TOKEN` event by hand; the others from the Lambda proxy event
//!    writer, reshaped), the function is invoked through `lambda::send` over the worker's
//!    upstream pool on the worker's own runtime, bounded by `--authorizer-timeout-ms`, and its
//!    answer parsed ([`Grant::parse`]) and cached for the authorizer's TTL.
//! 4. The grant (cached or fresh) is evaluated against this request's method ARN: allow, or
//!    403 (an explicit deny wins); `Unauthorized` from the function is 401; any other failure
//!    is 500 (`AUTHORIZER_CONFIGURATION_ERROR` / `AUTHORIZER_FAILURE` on REST).
//!
//! Invariants: nothing is shared across cores (the cache is the worker's, behind a `RefCell`
//! never held across an await); a route without a Lambda authorizer pays one branch.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use portico_shared::authorizer::{Flavor, Grant, IdentitySource, LambdaAuthorizer};
use portico_shared::iam::Decision;
use portico_shared::limits::AUTHORIZER_CACHE_ENTRIES_MAX;
use portico_shared::Snapshot;
use serde_json::Value;

use crate::error::{AuthorizerError, GatewayError};
use crate::http1::parse::{bytes, trim, HeaderSpans};
use crate::integration::lambda::call::LambdaError;
use crate::integration::lambda::{self, Caller};
use crate::integration::Upstreams;
use crate::request::Request;
use crate::stages::resolve::Resolved;
use crate::upstream::UpstreamCall;

/// This core's authorizer decisions, by authorizer and identity values.
#[derive(Debug, Default)]
pub struct DecisionCache {
    entries: RefCell<HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>>,
}

#[derive(Debug)]
struct Entry {
    grant: Rc<Grant>,
    expires: Instant,
}

// === impl DecisionCache ===

impl DecisionCache {
    fn get(&self, key: &[u8], now: Instant) -> Option<Rc<Grant>> {
        let entries = self.entries.borrow();
        let e = entries.get(key)?;
        (e.expires > now).then(|| Rc::clone(&e.grant))
    }

    fn put(&self, key: &[u8], grant: Rc<Grant>, expires: Instant, now: Instant) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= AUTHORIZER_CACHE_ENTRIES_MAX {
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= AUTHORIZER_CACHE_ENTRIES_MAX {
                entries.clear();
            }
        }
        entries.insert(key.into(), Entry { grant, expires });
    }

    /// Housekeeping: drops expired decisions and those of authorizers the snapshot no longer
    /// serves (`dead`: a stage's authorizer cache flushed, an authorizer changed or gone).
    pub fn housekeep(&self, dead: &std::collections::HashSet<u64>, now: Instant) {
        self.entries.borrow_mut().retain(|k, e| {
            let id = k.first_chunk::<8>().map(|b| u64::from_le_bytes(*b));
            e.expires > now && !id.is_some_and(|id| dead.contains(&id))
        });
    }
}

/// Authorizes the request with the route's Lambda authorizer; the grant carries the
/// principal, the context and the usage identifier key on.
/// `decisions`: this core's cache of them; `w`: the worker's upstream side, which invokes the
/// function.
pub async fn authorize(
    decisions: &DecisionCache,
    w: &Upstreams<'_>,
    s: &Snapshot,
    a: &LambdaAuthorizer,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    call: &mut UpstreamCall,
) -> Result<Rc<Grant>, GatewayError> {
    let mut key_buf = w.bufs.take();
    let key = &mut *key_buf;
    let handshake = Handshake {
        buf: req.buf,
        headers: req.headers,
        query: bytes(req.buf, req.head.query),
        stage_variables: &resolved.stage.variables,
    };
    identity_key(a, &handshake, key, |name, out| {
        context_value(name, &a.proxy.account_id, resolved, req, out)
    })
    .map_err(GatewayError::Authorizer)?;
    // The method ARN, in a worker buffer (a cached decision allocates nothing).
    let mut arn_buf = w.bufs.take();
    let mut arn = String::from_utf8(std::mem::take(&mut *arn_buf)).unwrap_or_default();
    s.iam.write_resource_arn(
        &mut arn,
        &resolved.api.id,
        &resolved.stage.name,
        req.head.method.as_str(),
        resolved.route_path(req.buf),
    );
    let subject = Subject {
        key,
        arn: &arn,
        peer: req.peer.ip(),
        trace: req.request_id.trace_header(req.header(b"x-amzn-trace-id")),
    };
    let r = grant(decisions, w, s, a, call, subject, |values, out| {
        write_event(w, a, resolved, req, values, &arn, out)
    })
    .await;
    *arn_buf = arn.into_bytes();
    r.map_err(GatewayError::Authorizer)
}

/// What identity sources are read from: the request's (or WebSocket upgrade's) headers and
/// query string, and the stage's variables.
#[derive(Debug)]
pub struct Handshake<'a> {
    pub buf: &'a [u8],
    pub headers: &'a HeaderSpans,
    /// The raw query string (without `?`).
    pub query: &'a [u8],
    pub stage_variables: &'a BTreeMap<String, String>,
}

/// Writes the cache key into `key`: the authorizer's cache id, then every identity value
/// followed by a 0 byte. A missing or empty value, or a token the validation expression refuses,
/// is `Unauthorized` (401, the function is not called). `context` appends a context variable's
/// value.
pub fn identity_key(
    a: &LambdaAuthorizer,
    h: &Handshake<'_>,
    key: &mut Vec<u8>,
    mut context: impl FnMut(&str, &mut Vec<u8>),
) -> Result<(), AuthorizerError> {
    key.clear();
    key.extend_from_slice(&a.cache_id.to_le_bytes());
    for source in a.sources.iter() {
        let start = key.len();
        match source {
            IdentitySource::Header(name) => {
                // Repeated headers are joined with commas, as API Gateway does.
                let mut first = true;
                for (n, v) in h.headers.iter() {
                    if bytes(h.buf, *n).eq_ignore_ascii_case(name.as_bytes()) {
                        let v = trim(bytes(h.buf, *v));
                        if !v.is_empty() {
                            if !first {
                                key.push(b',');
                            }
                            key.extend_from_slice(v);
                            first = false;
                        }
                    }
                }
            }
            IdentitySource::Query(name) => {
                if let Some(v) = crate::request::query(h.query, name.as_bytes()) {
                    key.extend_from_slice(v);
                }
            }
            IdentitySource::StageVariable(name) => {
                if let Some(v) = h.stage_variables.get(&**name) {
                    key.extend_from_slice(v.as_bytes());
                }
            }
            IdentitySource::Context(name) => context(name, key),
        }
        if key.len() == start {
            return Err(AuthorizerError::Unauthorized);
        }
        key.push(0);
    }
    if let Some(re) = &a.validation {
        let token = std::str::from_utf8(&key[8..key.len() - 1]).unwrap_or_default();
        if !re.is_match(token) {
            return Err(AuthorizerError::Unauthorized);
        }
    }
    Ok(())
}

/// Who asks for what: the identity (cache key), the resource ARN and the caller's address;
/// the request's `X-Amzn-Trace-Id`, sent with the function's Invoke call.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub trace: crate::request_id::TraceHeader<'a>,
    pub key: &'a [u8],
    pub arn: &'a str,
    pub peer: IpAddr,
}

/// The decision for identity `key` on resource `arn`: the cached grant while it lives, else the
/// function's (invoked with the event `write_event` writes from the identity values), cached
/// for the authorizer's TTL; then the grant's policy evaluated against `arn`.
pub async fn grant(
    decisions: &DecisionCache,
    w: &Upstreams<'_>,
    s: &Snapshot,
    a: &LambdaAuthorizer,
    call: &mut UpstreamCall,
    subject: Subject<'_>,
    write_event: impl FnOnce(&[&str], &mut Vec<u8>),
) -> Result<Rc<Grant>, AuthorizerError> {
    let Subject {
        key,
        arn,
        peer,
        trace,
    } = subject;
    let now = Instant::now();
    let cached = if a.ttl_s > 0 {
        decisions.get(key, now)
    } else {
        None
    };
    let grant = match cached {
        Some(g) => g,
        None => {
            let g = Rc::new(call_function(w, a, call, key, trace, write_event).await?);
            if a.ttl_s > 0 {
                let expires = now + Duration::from_secs(u64::from(a.ttl_s));
                decisions.put(key, Rc::clone(&g), expires, now);
            }
            g
        }
    };
    match grant.decide(arn, peer, &s.iam.account_id) {
        Decision::Allow => Ok(grant),
        Decision::ExplicitDeny => Err(AuthorizerError::Denied { explicit: true }),
        Decision::Implicit => Err(AuthorizerError::Denied { explicit: false }),
    }
}

/// Appends the value of context variable `name` (nothing when unknown; compilation refuses
/// the names `authorizer::REST_IDENTITY_CONTEXT`/`HTTP_IDENTITY_CONTEXT` do not list).
fn context_value(
    name: &str,
    account_id: &str,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    out: &mut Vec<u8>,
) {
    let v: &[u8] = match name {
        "apiId" => resolved.api.id.as_bytes(),
        "stage" => resolved.stage.name.as_bytes(),
        "httpMethod" => req.head.method.as_str().as_bytes(),
        "routeKey" => resolved.route.route_key.as_bytes(),
        "resourcePath" => resolved
            .route
            .rest
            .as_ref()
            .map_or(&[][..], |r| r.resource_path.as_bytes()),
        "resourceId" => resolved
            .route
            .rest
            .as_ref()
            .map_or(&[][..], |r| r.resource_id.as_bytes()),
        "path" => bytes(req.buf, req.head.path),
        "domainName" => lambda::domain_name(req),
        "domainPrefix" => {
            let domain = lambda::domain_name(req);
            domain.split(|&b| b == b'.').next().unwrap_or_default()
        }
        "accountId" => account_id.as_bytes(),
        "protocol" => lambda::protocol(req),
        "identity.userAgent" => req.header(b"user-agent").unwrap_or_default(),
        "identity.sourceIp" => {
            use std::io::Write as _;
            let _ = write!(out, "{}", req.peer.ip());
            return;
        }
        _ => &[],
    };
    out.extend_from_slice(v);
}

/// Calls the function and parses its answer. `key` holds the identity values (after the
/// 8-byte cache id, each followed by a 0 byte); `write_event` writes the input event from them.
async fn call_function(
    w: &Upstreams<'_>,
    a: &LambdaAuthorizer,
    call: &mut UpstreamCall,
    key: &[u8],
    trace: crate::request_id::TraceHeader<'_>,
    write_event: impl FnOnce(&[&str], &mut Vec<u8>),
) -> Result<Grant, AuthorizerError> {
    let values: Vec<&str> = key[8..]
        .split(|&b| b == 0)
        .take(a.sources.len())
        .map(|v| std::str::from_utf8(v).unwrap_or_default())
        .collect();
    let mut event = w.bufs.take();
    event.clear();
    write_event(&values, &mut event);
    let started = Instant::now();
    let sent = monoio::time::timeout(
        w.cfg.authorizer_timeout,
        crate::integration::lambda::call::send(w, call, &a.proxy.target, &event, trace.as_bytes()),
    )
    .await;
    let failed = AuthorizerError::Failed;
    let r = match sent {
        Err(_) => {
            tracing::debug!(
                authorizer = &*a.id,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "authorizer timed out"
            );
            return Err(failed);
        }
        Ok(Err(e)) => {
            tracing::debug!(authorizer = &*a.id, error = %e, "authorizer invoke failed");
            return Err(AuthorizerError::Configuration);
        }
        Ok(Ok(r)) => r,
    };
    match crate::integration::lambda::call::classify(call, r) {
        Ok(r) => Grant::parse(call.body(&r), a.flavor).map_err(|why| {
            tracing::debug!(authorizer = &*a.id, why, "authorizer answer malformed");
            failed
        }),
        Err(LambdaError::Function) => {
            // The function raised `Unauthorized`: 401. Any other error: 500.
            let unauthorized = serde_json::from_slice::<Value>(call.body(&r))
                .ok()
                .is_some_and(|v| {
                    v.get("errorMessage").and_then(Value::as_str) == Some("Unauthorized")
                });
            Err(if unauthorized {
                AuthorizerError::Unauthorized
            } else {
                failed
            })
        }
        Err(_) => Err(AuthorizerError::Configuration),
    }
}

/// The function's input event, as AWS builds it for the authorizer's flavor.
fn write_event(
    w: &Upstreams<'_>,
    a: &LambdaAuthorizer,
    resolved: &Resolved<'_>,
    req: &Request<'_>,
    values: &[&str],
    arn: &str,
    out: &mut Vec<u8>,
) {
    out.clear();
    if a.flavor == Flavor::RestToken {
        let event = serde_json::json!({
            "type": "TOKEN",
            "authorizationToken": values.first().copied().unwrap_or_default(),
            "methodArn": arn,
        });
        let _ = serde_json::to_writer(&mut *out, &event);
        return;
    }
    let mut scratch = w.bufs.take();
    let caller = Caller {
        api_key: None,
        client_cert: req.tls.and_then(|t| t.client_cert.as_ref()),
        authorizer: None,
    };
    let event = lambda::Event {
        proxy: &a.proxy,
        resolved,
        req,
        caller,
        now_ms: crate::request::unix_ms(),
    };
    lambda::write_event(&event, out, &mut scratch);
    let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(out) else {
        return;
    };
    event.remove("body");
    event.remove("isBase64Encoded");
    event.insert("type".into(), "REQUEST".into());
    match a.flavor {
        Flavor::Http { v2: true, .. } => {
            event.insert("routeArn".into(), arn.into());
            event.insert(
                "identitySource".into(),
                values.iter().map(|v| Value::from(*v)).collect(),
            );
        }
        Flavor::Http { v2: false, .. } => {
            event.insert("methodArn".into(), arn.into());
            let joined = values.join(",");
            event.insert("identitySource".into(), joined.clone().into());
            event.insert("authorizationToken".into(), joined.into());
        }
        Flavor::RestRequest | Flavor::RestToken | Flavor::WebSocket => {
            event.insert("methodArn".into(), arn.into());
        }
    }
    out.clear();
    let _ = serde_json::to_writer(&mut *out, &Value::Object(event));
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use portico_shared::authorizer::{compile, AuthorizerInput};
    use portico_shared::lambda::LambdaEnv;

    use super::*;
    use crate::stages::testing;

    const URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations";

    /// A REST authorizer (`TOKEN` when `validation` is given) or an HTTP API one.
    fn authorizer(rest: bool, sources: &[&str], validation: Option<&str>) -> LambdaAuthorizer {
        let sources: Vec<String> = sources.iter().map(|s| (*s).to_string()).collect();
        // A loopback endpoint: compiling resolves the endpoint's host, and tests do no DNS.
        let env = LambdaEnv::from_vars(|name| {
            (name == "AWS_ENDPOINT_URL_LAMBDA").then(|| "http://127.0.0.1:9".to_string())
        });
        let input = AuthorizerInput {
            api_id: "a1",
            stage: "prod",
            authorizer_id: "z1",
            rest,
            websocket: false,
            token: validation.is_some(),
            uri: URI,
            credentials: None,
            identity_sources: &sources,
            identity_validation_expression: validation,
            ttl_s: Some(300),
            payload_format_version: (!rest).then_some("2.0"),
            simple_responses: false,
        };
        compile(&env, &input, &BTreeMap::new()).expect("an authorizer")
    }

    #[test]
    fn identity_key_reads_every_source_or_refuses() {
        let token = Some("^Bearer [a-z]+$");
        // (REST?, identity sources, validation, header lines, query, the values in the key
        // (`None`: 401 without calling the function))
        type Case = (
            bool,
            &'static [&'static str],
            Option<&'static str>,
            &'static str,
            &'static str,
            Option<&'static [u8]>,
        );
        let cases: &[Case] = &[
            (
                true,
                &["method.request.header.Auth"],
                None,
                "auth: t1\r\n",
                "",
                Some(b"t1\0"),
            ),
            // Trimmed; repeated headers joined with commas, empty ones left out.
            (
                true,
                &["method.request.header.Auth"],
                None,
                "Auth:  a \r\nauth:\r\nAUTH: b\r\n",
                "",
                Some(b"a,b\0"),
            ),
            (
                true,
                &["method.request.header.Auth"],
                None,
                "other: t1\r\n",
                "",
                None,
            ),
            (
                true,
                &["method.request.header.Auth"],
                None,
                "auth:   \r\n",
                "",
                None,
            ),
            (
                false,
                &["$request.querystring.t"],
                None,
                "",
                "a=1&t=q1",
                Some(b"q1\0"),
            ),
            (false, &["$request.querystring.t"], None, "", "t=", None),
            (false, &["$stageVariables.v"], None, "", "", Some(b"sv\0")),
            (false, &["$stageVariables.missing"], None, "", "", None),
            (
                false,
                &["$context.identity.sourceIp"],
                None,
                "",
                "",
                Some(b"ctx:identity.sourceIp\0"),
            ),
            // Every source, in configuration order; one missing refuses them all.
            (
                false,
                &["$request.header.auth", "$request.querystring.t"],
                None,
                "auth: h\r\n",
                "t=q",
                Some(b"h\0q\0"),
            ),
            (
                false,
                &["$request.header.auth", "$request.querystring.t"],
                None,
                "auth: h\r\n",
                "",
                None,
            ),
            // REST TOKEN: the whole value must match `identityValidationExpression`.
            (
                true,
                &["method.request.header.Auth"],
                token,
                "auth: Bearer abc\r\n",
                "",
                Some(b"Bearer abc\0"),
            ),
            (
                true,
                &["method.request.header.Auth"],
                token,
                "auth: Bearer ABC\r\n",
                "",
                None,
            ),
        ];
        let variables = BTreeMap::from([("v".to_string(), "sv".to_string())]);
        for &(rest, sources, validation, lines, query, want) in cases {
            let a = authorizer(rest, sources, validation);
            let head = format!("GET /p HTTP/1.1\r\nhost: x\r\n{lines}\r\n");
            let (_, headers) = testing::head(head.as_bytes());
            let h = Handshake {
                buf: head.as_bytes(),
                headers: &headers,
                query: query.as_bytes(),
                stage_variables: &variables,
            };
            let mut key = b"left over".to_vec();
            let got = identity_key(&a, &h, &mut key, |name, out| {
                out.extend_from_slice(format!("ctx:{name}").as_bytes())
            });
            let case = format!("{sources:?} {lines:?} {query:?}");
            match want {
                Some(values) => {
                    assert_eq!(got, Ok(()), "{case}");
                    // The authorizer's cache id first: two authorizers' decisions never mix.
                    assert_eq!(key[..8], a.cache_id.to_le_bytes(), "{case}");
                    assert_eq!(&key[8..], values, "{case}");
                }
                None => assert_eq!(got, Err(AuthorizerError::Unauthorized), "{case}"),
            }
        }
    }

    fn grant(principal: &str) -> Rc<Grant> {
        Rc::new(Grant {
            principal_id: Some(principal.into()),
            policy: None,
            authorized: true,
            context_json: "{}".into(),
            context: Box::new([]),
            usage_identifier_key: None,
        })
    }

    /// A key as `identity_key` writes it: cache id, then the values.
    fn key(cache_id: u64, value: &str) -> Vec<u8> {
        let mut k = cache_id.to_le_bytes().to_vec();
        k.extend_from_slice(value.as_bytes());
        k.push(0);
        k
    }

    #[test]
    fn decisions_live_until_they_expire_or_their_authorizer_goes() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let cache = DecisionCache::default();
        cache.put(&key(1, "a"), grant("p1"), t0 + 10 * s, t0);
        cache.put(&key(1, "b"), grant("p2"), t0 + 20 * s, t0);
        cache.put(&key(2, "a"), grant("p3"), t0 + 20 * s, t0);
        let principal = |k: &[u8], at| cache.get(k, at).and_then(|g| g.principal_id.clone());
        // (key, when, the decision found)
        let cases: &[(Vec<u8>, Instant, Option<&str>)] = &[
            (key(1, "a"), t0, Some("p1")),
            (key(1, "a"), t0 + 9 * s, Some("p1")),
            (key(1, "a"), t0 + 10 * s, None),
            (key(1, "b"), t0 + 10 * s, Some("p2")),
            (key(2, "a"), t0, Some("p3")),
            (key(3, "a"), t0, None),
            (key(1, "c"), t0, None),
        ];
        for (k, at, want) in cases {
            assert_eq!(principal(k, *at).as_deref(), *want, "{k:?}");
        }
        // Housekeeping drops the expired ones and every decision of a retired authorizer.
        cache.housekeep(&HashSet::from([2]), t0 + 15 * s);
        let left: Vec<Vec<u8>> = cache.entries.borrow().keys().map(|k| k.to_vec()).collect();
        assert_eq!(left, [key(1, "b")]);
    }

    #[test]
    fn a_full_decision_cache_makes_room() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let cache = DecisionCache::default();
        // Full, half of it expired: putting one more drops the expired half only.
        for i in 0..AUTHORIZER_CACHE_ENTRIES_MAX {
            let expires = if i % 2 == 0 { t0 + s } else { t0 + 10 * s };
            cache.put(&key(1, &i.to_string()), grant("p"), expires, t0);
        }
        cache.put(&key(1, "new"), grant("p"), t0 + 10 * s, t0 + 2 * s);
        assert_eq!(
            cache.entries.borrow().len(),
            AUTHORIZER_CACHE_ENTRIES_MAX / 2 + 1
        );
        // Full of live decisions: all are dropped rather than the table growing.
        let cache = DecisionCache::default();
        for i in 0..AUTHORIZER_CACHE_ENTRIES_MAX {
            cache.put(&key(2, &i.to_string()), grant("p"), t0 + 10 * s, t0);
        }
        assert_eq!(cache.entries.borrow().len(), AUTHORIZER_CACHE_ENTRIES_MAX);
        cache.put(&key(2, "last"), grant("p"), t0 + 10 * s, t0);
        assert_eq!(cache.entries.borrow().len(), 1);
        assert!(cache.get(&key(2, "last"), t0).is_some());
    }
}
