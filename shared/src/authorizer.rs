//! Lambda authorizers compiled: REST `TOKEN` and `REQUEST` authorizers (`apigateway` v1,
//! `type`), HTTP API `REQUEST` authorizers (`apigatewayv2`, payload format 1.0 or 2.0, simple
//! responses), and what their functions answer ([`Grant`]).
//!
//! # Architecture
//! 1. [`compile`] turns a REST authorizer document or an HTTP API authorizer into a
//!    [`LambdaAuthorizer`]: identity sources parsed once ([`IdentitySource`]), the
//!    `identityValidationExpression` compiled, the function's Invoke target resolved (as a
//!    [`LambdaProxy`], so the data plane writes the authorizer's input event with the proxy
//!    event writer), the TTL bounded.
//! 2. The data plane (`dataplane/src/lambda_auth.rs`) reads the identity, consults its per-core
//!    decision cache, invokes the function on a miss and parses the answer with
//!    [`Grant::parse`]; [`Grant::decide`] evaluates the returned IAM policy (explicit deny wins)
//!    or simple response against each request's method ARN, cached or not (AWS re-evaluates a
//!    cached policy, so a policy scoped to one method refuses the others until it expires).
//!
//! Pure: no I/O. Parsing an answer allocates; it happens once per cache miss.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::iam::{Decision, Policy, Request, INVOKE};
use crate::lambda::{LambdaEnv, LambdaProxy, PayloadFormat, ProxyInput};
use crate::limits::{
    AUTHORIZER_RESPONSE_MAX_BYTES, AUTHORIZER_TIMEOUT_MS, AUTHORIZER_TTL_DEFAULT_S,
    AUTHORIZER_TTL_MAX_S,
};

/// Which kind of authorizer, and so which input event and answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// REST `TOKEN`: `{"type":"TOKEN","authorizationToken","methodArn"}`.
    RestToken,
    /// REST `REQUEST`: the request's parts, as the proxy event 1.0 has them.
    RestRequest,
    /// HTTP API `REQUEST`: payload format 1.0 or 2.0; `simple`: `enableSimpleResponses`.
    Http { v2: bool, simple: bool },
    /// WebSocket API `REQUEST` on `$connect`: the CONNECT event's parts, `methodArn`; a
    /// policy answer whose context values are primitives (as REST).
    WebSocket,
}

/// The `context.X` identity sources of REST `REQUEST` authorizers: the variables fixed by the
/// request before authorization. Per-request values (`requestId`, `requestTime`, ...) are
/// refused as AWS does: a cache key made of them never hits. So are the ones authorization
/// itself produces (`authorizer.*`, `identity.apiKey`).
pub const REST_IDENTITY_CONTEXT: &[&str] = &[
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "resourceId",
    "resourcePath",
    "stage",
];

/// The `$context.X` identity sources of HTTP API `REQUEST` authorizers (as REST, with
/// `routeKey` in place of the resource).
pub const HTTP_IDENTITY_CONTEXT: &[&str] = &[
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "routeKey",
    "stage",
];

/// The `context.X` identity sources of WebSocket `$connect` authorizers.
pub const WEBSOCKET_IDENTITY_CONTEXT: &[&str] = &[
    "apiId",
    "connectionId",
    "domainName",
    "eventType",
    "identity.sourceIp",
    "identity.userAgent",
    "routeKey",
    "stage",
];

/// Where an identity value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// Lowercase header name (headers match case-insensitively).
    Header(Box<str>),
    /// Query string parameter (case-sensitive).
    Query(Box<str>),
    StageVariable(Box<str>),
    /// `context.X` / `$context.X`: a context variable's name.
    Context(Box<str>),
}

/// A compiled Lambda authorizer, shared by the routes that name it.
#[derive(Debug)]
pub struct LambdaAuthorizer {
    /// The authorizer's id (`$context.authorizer` logging, error messages).
    pub id: Box<str>,
    /// Prefixes every cache key: decisions of two authorizers (or of one authorizer on two
    /// stages) never mix. A hash of API, stage and authorizer id.
    pub cache_id: u64,
    pub flavor: Flavor,
    /// In configuration order; their values, joined, are the cache key.
    pub sources: Box<[IdentitySource]>,
    /// REST `TOKEN`: `identityValidationExpression`; a token it does not match is refused
    /// without calling the function.
    pub validation: Option<regex::Regex>,
    /// 0: no caching.
    pub ttl_s: u32,
    /// The function, and the proxy event's shape the input event is built from.
    pub proxy: LambdaProxy,
}

/// What an authorizer function answered, parsed once and cached.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub principal_id: Option<Box<str>>,
    /// An IAM policy answer; `None` for a simple response.
    pub policy: Option<Policy>,
    /// A simple response's `isAuthorized`.
    pub authorized: bool,
    /// `context` as a JSON object's text (`{}` when absent): copied into Lambda events.
    pub context_json: Box<str>,
    /// `context` with values stringified: `$context.authorizer.KEY`.
    pub context: Box<[(Box<str>, Box<str>)]>,
    /// `usageIdentifierKey`: the API key, when the REST API's `apiKeySource` is `AUTHORIZER`.
    pub usage_identifier_key: Option<Box<str>>,
}

/// The model of an authorizer, whichever plane it comes from.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizerInput<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub authorizer_id: &'a str,
    /// `TOKEN`/`REQUEST` (REST); `REQUEST` (HTTP, WebSocket).
    pub rest: bool,
    /// A WebSocket API's `REQUEST` authorizer (`route.request.*` identity sources, no payload
    /// format version, no simple responses).
    pub websocket: bool,
    pub token: bool,
    pub uri: &'a str,
    pub credentials: Option<&'a str>,
    pub identity_sources: &'a [String],
    pub identity_validation_expression: Option<&'a str>,
    pub ttl_s: Option<i64>,
    /// HTTP APIs: `1.0` or `2.0`.
    pub payload_format_version: Option<&'a str>,
    pub simple_responses: bool,
}

// === impl IdentitySource ===

impl IdentitySource {
    /// Parses one identity source: REST's `method.request.header.X`,
    /// `method.request.querystring.X`, `stageVariables.X`, `context.X`; HTTP's
    /// `$request.header.X`, `$request.querystring.X`, `$stageVariables.X`, `$context.X`.
    pub fn parse(s: &str, rest: bool) -> Result<IdentitySource, String> {
        if rest {
            Self::parse_with(
                s,
                [
                    "method.request.header.",
                    "method.request.querystring.",
                    "stageVariables.",
                    "context.",
                ],
                REST_IDENTITY_CONTEXT,
            )
        } else {
            Self::parse_with(
                s,
                [
                    "$request.header.",
                    "$request.querystring.",
                    "$stageVariables.",
                    "$context.",
                ],
                HTTP_IDENTITY_CONTEXT,
            )
        }
    }

    /// Parses one identity source of a WebSocket API: `route.request.header.X`,
    /// `route.request.querystring.X`, `stageVariables.X`, `context.X`.
    pub fn parse_websocket(s: &str) -> Result<IdentitySource, String> {
        Self::parse_with(
            s,
            [
                "route.request.header.",
                "route.request.querystring.",
                "stageVariables.",
                "context.",
            ],
            WEBSOCKET_IDENTITY_CONTEXT,
        )
    }

    /// `allowed`: the context variables this API type's identity sources may name.
    fn parse_with(
        s: &str,
        [header, query, stage, context]: [&str; 4],
        allowed: &[&str],
    ) -> Result<IdentitySource, String> {
        let s = s.trim();
        let named = |rest: &str| -> Result<Box<str>, String> {
            if rest.is_empty() || rest.bytes().any(|b| b.is_ascii_whitespace() || b == b',') {
                Err(format!("Invalid identity source '{s}'"))
            } else {
                Ok(rest.into())
            }
        };
        if let Some(h) = s.strip_prefix(header) {
            Ok(IdentitySource::Header(
                named(h)?.to_ascii_lowercase().into(),
            ))
        } else if let Some(q) = s.strip_prefix(query) {
            Ok(IdentitySource::Query(named(q)?))
        } else if let Some(v) = s.strip_prefix(stage) {
            Ok(IdentitySource::StageVariable(named(v)?))
        } else if let Some(c) = s.strip_prefix(context) {
            let c = named(c)?;
            if !allowed.contains(&&*c) {
                let names: Vec<String> = allowed.iter().map(|v| format!("{context}{v}")).collect();
                return Err(format!(
                    "Invalid identity source '{s}': the context variables an identity source may name are {}",
                    names.join(", ")
                ));
            }
            Ok(IdentitySource::Context(c))
        } else {
            Err(format!(
                "Invalid identity source '{s}': use {header}NAME, {query}NAME, {stage}NAME or {context}NAME"
            ))
        }
    }
}

/// What follows `context.authorizer.` in a parameter mapping: `KEY`, `claims.NAME`, or AWS's
/// bracket forms for names a property cannot spell (`claims['cognito:groups']`, `['key']`),
/// as the dotted key `$context.authorizer` lookups take (`claims.cognito:groups`).
pub fn authorizer_key(expr: &str) -> Result<Box<str>, String> {
    let bad = || format!("Invalid authorizer reference 'context.authorizer.{expr}'");
    let mut key = String::new();
    let mut rest = expr;
    while !rest.is_empty() {
        let part;
        if let Some(r) = rest.strip_prefix('[') {
            let quote = r.chars().next().filter(|&c| c == '\'' || c == '"');
            let r = &r[quote.ok_or_else(bad)?.len_utf8()..];
            let close = r.find(quote.unwrap_or('\'')).ok_or_else(bad)?;
            part = &r[..close];
            rest = r[close + 1..].strip_prefix(']').ok_or_else(bad)?;
        } else {
            let r = if key.is_empty() {
                rest
            } else {
                rest.strip_prefix('.').ok_or_else(bad)?
            };
            let end = r.find(['.', '[']).unwrap_or(r.len());
            part = &r[..end];
            rest = &r[end..];
        }
        if part.is_empty() {
            return Err(bad());
        }
        if !key.is_empty() {
            key.push('.');
        }
        key.push_str(part);
    }
    if key.is_empty() {
        return Err(bad());
    }
    Ok(key.into())
}

/// REST's `identitySource`: a comma-separated list.
pub fn split_rest_sources(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks an authorizer's settings the way the admin API answers (every problem).
pub fn check(input: &AuthorizerInput<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    for s in input.identity_sources {
        if let Err(e) = input.parse_source(s) {
            problems.push(e);
        }
    }
    if input.token
        && !matches!(input.identity_sources, [s] if s.starts_with("method.request.header."))
    {
        problems
            .push("A TOKEN authorizer needs one identitySource method.request.header.NAME".into());
    }
    if let Some(e) = input.identity_validation_expression {
        if !input.token {
            problems.push("identityValidationExpression is only used by TOKEN authorizers".into());
        } else if regex::Regex::new(&format!("^(?:{e})$")).is_err() {
            problems.push(format!("Invalid identityValidationExpression '{e}'"));
        }
    }
    match input.ttl_s {
        Some(t) if !(0..=i64::from(AUTHORIZER_TTL_MAX_S)).contains(&t) => problems.push(format!(
            "authorizerResultTtlInSeconds must be between 0 and {AUTHORIZER_TTL_MAX_S}"
        )),
        Some(t) if t > 0 && input.identity_sources.is_empty() => problems
            .push("Caching (authorizerResultTtlInSeconds > 0) needs an identitySource".into()),
        _ => {}
    }
    if input.websocket {
        // AWS documents both members as HTTP API only.
        if input.payload_format_version.is_some() {
            problems.push("authorizerPayloadFormatVersion is supported only for HTTP APIs".into());
        }
        if input.simple_responses {
            problems.push("enableSimpleResponses is supported only for HTTP APIs".into());
        }
    } else if !input.rest {
        match input.payload_format_version {
            Some("1.0") if input.simple_responses => problems
                .push("enableSimpleResponses is only supported with payload format 2.0".into()),
            Some("1.0" | "2.0") => {}
            Some(v) => problems.push(format!(
                "Invalid authorizerPayloadFormatVersion '{v}': use 1.0 or 2.0"
            )),
            None => problems
                .push("authorizerPayloadFormatVersion is required for REQUEST authorizers".into()),
        }
    }
    if let Err(e) = crate::lambda::parse_function_uri(input.uri, input.rest) {
        problems.push(format!("Invalid authorizerUri: {e}"));
    }
    problems
}

/// Compiles a Lambda authorizer for one stage (its variables substitute into the URI).
pub fn compile(
    env: &LambdaEnv,
    input: &AuthorizerInput<'_>,
    vars: &BTreeMap<String, String>,
) -> Result<LambdaAuthorizer, Vec<String>> {
    let problems = check(input);
    if !problems.is_empty() {
        return Err(problems);
    }
    let sources = input
        .identity_sources
        .iter()
        .map(|s| input.parse_source(s))
        .collect::<Result<Box<[_]>, _>>()
        .map_err(|e| vec![e])?;
    let flavor = match (input.rest, input.token) {
        _ if input.websocket => Flavor::WebSocket,
        (true, true) => Flavor::RestToken,
        (true, false) => Flavor::RestRequest,
        (false, _) => Flavor::Http {
            v2: input.payload_format_version == Some("2.0"),
            simple: input.simple_responses,
        },
    };
    let format = match flavor {
        Flavor::Http { v2: true, .. } => PayloadFormat::V2,
        _ => PayloadFormat::V1,
    };
    let proxy = crate::lambda::compile_proxy(
        env,
        ProxyInput {
            integration_id: input.authorizer_id,
            uri: input.uri,
            vars,
            rest: input.rest,
            role_arn: input.credentials,
            timeout_ms: AUTHORIZER_TIMEOUT_MS,
            format,
            binary_media_types: &[],
        },
    )
    .map_err(|e| vec![format!("authorizerUri: {e}")])?;
    let validation = input
        .identity_validation_expression
        .map(|e| regex::Regex::new(&format!("^(?:{e})$")))
        .transpose()
        .map_err(|e| vec![e.to_string()])?;
    // REST's default is 300 s; an HTTP API authorizer without a TTL does not cache.
    let default = if input.rest {
        AUTHORIZER_TTL_DEFAULT_S
    } else {
        0
    };
    let ttl_s = input.ttl_s.map_or(default, |t| {
        t.clamp(0, i64::from(AUTHORIZER_TTL_MAX_S)) as u32
    });
    Ok(LambdaAuthorizer {
        id: input.authorizer_id.into(),
        cache_id: crate::snapshot::stats_key(input.api_id, input.stage, input.authorizer_id),
        flavor,
        // Caching needs identity sources: without any, every request calls the function.
        ttl_s: if sources.is_empty() { 0 } else { ttl_s },
        sources,
        validation,
        proxy,
    })
}

// === impl LambdaAuthorizer ===

impl LambdaAuthorizer {
    /// `FlushStageAuthorizersCache`: generation `g` (> 0) of the stage's decision cache gets a
    /// new cache id, so every worker's decisions cached under the old one become unreachable at
    /// once (workers drop them in their housekeeping). Generation 0 keeps the compiled id.
    pub fn flushed(mut self, generation: u64) -> LambdaAuthorizer {
        if generation > 0 {
            self.cache_id = crate::snapshot::stats_key(
                &self.cache_id.to_string(),
                &generation.to_string(),
                "authorizers",
            );
        }
        self
    }
}

// === impl AuthorizerInput ===

impl AuthorizerInput<'_> {
    fn parse_source(&self, s: &str) -> Result<IdentitySource, String> {
        if self.websocket {
            IdentitySource::parse_websocket(s)
        } else {
            IdentitySource::parse(s, self.rest)
        }
    }
}

// === impl Grant ===

impl Grant {
    /// Parses a function's answer. `Err` is a malformed answer (AWS's 500).
    pub fn parse(body: &[u8], flavor: Flavor) -> Result<Grant, String> {
        if body.len() > AUTHORIZER_RESPONSE_MAX_BYTES {
            return Err("answer too large".into());
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let rest = matches!(
            flavor,
            Flavor::RestToken | Flavor::RestRequest | Flavor::WebSocket
        );
        let (context_json, context) = match obj.get("context") {
            None | Some(Value::Null) => ("{}".into(), Box::default()),
            Some(Value::Object(m)) => {
                let mut pairs = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => String::new(),
                        // REST allows only primitives; HTTP APIs pass any JSON through.
                        _ if rest => return Err(format!("context value '{k}' is not a primitive")),
                        other => other.to_string(),
                    };
                    pairs.push((k.as_str().into(), s.into()));
                }
                (Value::Object(m.clone()).to_string().into(), pairs.into())
            }
            Some(_) => return Err("context is not an object".into()),
        };
        let simple = matches!(flavor, Flavor::Http { simple: true, .. });
        let principal_id = match obj.get("principalId") {
            Some(Value::String(s)) => Some(s.as_str().into()),
            Some(Value::Number(n)) => Some(n.to_string().into()),
            None | Some(Value::Null) if simple => None,
            _ => return Err("principalId missing".into()),
        };
        let (policy, authorized) = if simple {
            match obj.get("isAuthorized") {
                Some(Value::Bool(b)) => (None, *b),
                _ => return Err("isAuthorized is not a boolean".into()),
            }
        } else {
            let doc = obj.get("policyDocument").ok_or("policyDocument missing")?;
            let text = doc.to_string();
            let p = Policy::parse(&text, false, "").map_err(|p| p.join("; "))?;
            (Some(p), false)
        };
        let usage_identifier_key = match obj.get("usageIdentifierKey") {
            Some(Value::String(s)) => Some(s.as_str().into()),
            _ => None,
        };
        Ok(Grant {
            principal_id,
            policy,
            authorized,
            context_json,
            context,
            usage_identifier_key,
        })
    }

    /// Whether this grant lets the request with method ARN `resource` through.
    pub fn decide(&self, resource: &str, source_ip: IpAddr, account_id: &str) -> Decision {
        match &self.policy {
            None if self.authorized => Decision::Allow,
            None => Decision::ExplicitDeny,
            Some(p) => p.evaluate(
                &Request {
                    action: INVOKE,
                    resource,
                    principal: None,
                    source_ip,
                },
                account_id,
            ),
        }
    }

    /// `$context.authorizer.KEY`.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        if key == "principalId" {
            return self.principal_id.as_deref();
        }
        self.context
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:api1/prod/GET/pets/1";

    fn policy(effect: &str, resource: &str) -> String {
        format!(
            r#"{{"principalId":"u1","policyDocument":{{"Version":"2012-10-17","Statement":[{{"Action":"execute-api:Invoke","Effect":"{effect}","Resource":"{resource}"}}]}},"context":{{"s":"x","n":1,"b":true}},"usageIdentifierKey":"k1"}}"#
        )
    }

    fn decide(body: &str, flavor: Flavor) -> Decision {
        let ip = IpAddr::from([127, 0, 0, 1]);
        Grant::parse(body.as_bytes(), flavor)
            .unwrap()
            .decide(ARN, ip, "000000000000")
    }

    #[test]
    fn policies_and_simple_responses() {
        let rest = Flavor::RestToken;
        for (effect, resource, expect) in [
            ("Allow", ARN, Decision::Allow),
            (
                "Allow",
                "arn:aws:execute-api:us-east-1:000000000000:api1/*",
                Decision::Allow,
            ),
            (
                "Allow",
                "arn:aws:execute-api:us-east-1:000000000000:api1/prod/?ET/*",
                Decision::Allow,
            ),
            (
                "Allow",
                "arn:aws:execute-api:us-east-1:000000000000:api1/prod/POST/*",
                Decision::Implicit,
            ),
            ("Deny", ARN, Decision::ExplicitDeny),
        ] {
            assert_eq!(
                decide(&policy(effect, resource), rest),
                expect,
                "{effect} {resource}"
            );
        }
        // An explicit deny wins over an allow.
        let both = r#"{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[
            {"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"},
            {"Action":"execute-api:Invoke","Effect":"Deny","Resource":"arn:aws:execute-api:*:*:api1/prod/GET/*"}]}}"#;
        assert_eq!(decide(both, rest), Decision::ExplicitDeny);
        let simple = Flavor::Http {
            v2: true,
            simple: true,
        };
        assert_eq!(decide(r#"{"isAuthorized":true}"#, simple), Decision::Allow);
        assert_eq!(
            decide(r#"{"isAuthorized":false,"context":{"a":[1]}}"#, simple),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn context_and_usage_key() {
        let g = Grant::parse(policy("Allow", "*").as_bytes(), Flavor::RestRequest).unwrap();
        assert_eq!(g.context_value("principalId"), Some("u1"));
        assert_eq!(g.context_value("n"), Some("1"));
        assert_eq!(g.context_value("b"), Some("true"));
        assert_eq!(g.context_value("nope"), None);
        assert_eq!(g.usage_identifier_key.as_deref(), Some("k1"));
        assert_eq!(&*g.context_json, r#"{"b":true,"n":1,"s":"x"}"#);
    }

    #[test]
    fn malformed_answers() {
        let simple = Flavor::Http {
            v2: true,
            simple: true,
        };
        for (body, flavor) in [
            ("nope", Flavor::RestToken),
            ("[]", Flavor::RestToken),
            (r#"{"principalId":"u"}"#, Flavor::RestToken),
            (r#"{"policyDocument":{"Statement":[]}}"#, Flavor::RestToken),
            (
                r#"{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}}"#,
                Flavor::RestToken,
            ),
            (
                r#"{"principalId":"u","policyDocument":{"Statement":[]},"context":{"o":{}}}"#,
                Flavor::RestRequest,
            ),
            (r#"{"isAuthorized":"yes"}"#, simple),
        ] {
            assert!(Grant::parse(body.as_bytes(), flavor).is_err(), "{body}");
        }
    }

    #[test]
    fn identity_sources() {
        use IdentitySource as S;
        for (s, rest, expect) in [
            (
                "method.request.header.Auth",
                true,
                Some(S::Header("auth".into())),
            ),
            (
                "method.request.querystring.q",
                true,
                Some(S::Query("q".into())),
            ),
            ("stageVariables.v", true, Some(S::StageVariable("v".into()))),
            (
                "context.resourceId",
                true,
                Some(S::Context("resourceId".into())),
            ),
            ("context.requestId", true, None),
            ("context.requestTimeEpoch", true, None),
            ("context.authorizer.principalId", true, None),
            ("context.routeKey", true, None),
            ("$context.resourcePath", false, None),
            ("$context.requestId", false, None),
            (
                "$request.header.X-Token",
                false,
                Some(S::Header("x-token".into())),
            ),
            ("$request.querystring.Q", false, Some(S::Query("Q".into()))),
            (
                "$stageVariables.v",
                false,
                Some(S::StageVariable("v".into())),
            ),
            (
                "$context.routeKey",
                false,
                Some(S::Context("routeKey".into())),
            ),
            ("$request.header.X", true, None),
            ("method.request.header.", true, None),
            ("$request.body.x", false, None),
        ] {
            assert_eq!(IdentitySource::parse(s, rest).ok(), expect, "{s}");
        }
        for (expr, key) in [
            ("principalId", Some("principalId")),
            ("claims.sub", Some("claims.sub")),
            ("claims['cognito:groups']", Some("claims.cognito:groups")),
            ("claims[\"custom:role\"]", Some("claims.custom:role")),
            ("['tenant:id']", Some("tenant:id")),
            ("claims[cognito:groups]", None),
            ("claims['x'", None),
            ("claims.", None),
            ("", None),
        ] {
            assert_eq!(authorizer_key(expr).ok().as_deref(), key, "{expr}");
        }
        assert_eq!(
            split_rest_sources("method.request.header.A, method.request.querystring.b"),
            ["method.request.header.A", "method.request.querystring.b"]
        );
        for (s, expect) in [
            ("route.request.header.Auth", Some(S::Header("auth".into()))),
            (
                "route.request.querystring.room",
                Some(S::Query("room".into())),
            ),
            ("stageVariables.v", Some(S::StageVariable("v".into()))),
            (
                "context.connectionId",
                Some(S::Context("connectionId".into())),
            ),
            ("$request.header.Auth", None),
            ("method.request.header.Auth", None),
            ("route.request.body.x", None),
        ] {
            assert_eq!(IdentitySource::parse_websocket(s).ok(), expect, "{s}");
        }
    }

    #[test]
    fn websocket_authorizers_refuse_http_api_members() {
        let sources = ["route.request.header.Auth".to_string()];
        let input = AuthorizerInput {
            api_id: "a",
            stage: "s",
            authorizer_id: "z",
            rest: false,
            websocket: true,
            token: false,
            uri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations",
            credentials: None,
            identity_sources: &sources,
            identity_validation_expression: None,
            ttl_s: Some(60),
            payload_format_version: None,
            simple_responses: false,
        };
        assert_eq!(check(&input), Vec::<String>::new());
        let problems = check(&AuthorizerInput {
            payload_format_version: Some("2.0"),
            simple_responses: true,
            ..input
        });
        assert_eq!(problems.len(), 2, "{problems:?}");
        let http = ["$request.header.Auth".to_string()];
        let problems = check(&AuthorizerInput {
            identity_sources: &http,
            ..input
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
