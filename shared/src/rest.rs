//! Compiling a REST API (`apigateway` v1): resources and methods become routes of the same
//! segment-trie [`crate::router::Router`] HTTP APIs use (a REST resource tree is a set of
//! `METHOD /path` keys with the same priority rules), each route carrying its method's settings
//! ([`RestMethod`]), its stage throttle and its integration.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compile::{compile_http_proxy, err, valid_api_id, CompileContext, ConfigError};
use crate::gateway_response::GatewayResponses;
use crate::limits::{REST_INTEGRATION_TIMEOUT_DEFAULT_MS, REST_INTEGRATION_TIMEOUT_MAX_MS};
use crate::model::rest::{Integration as Spec, MethodSetting, RestApiSpec, RestStageSpec};
use crate::model::{self, AuthorizationType, AuthorizerType, IntegrationType, ProtocolType};
use crate::router::RouterBuilder;
use crate::snapshot::{
    stats_key, Api, Canary, HttpMapped, HttpProxy, Integration, MappedResponse, Mock, Passthrough,
    PathPart, RestMethod, Route, Stage, Trace,
};
use crate::template::{Source, Template};
use crate::throttle::Limits;
use crate::vpc_link::Plane;

pub(crate) fn compile(
    spec: &RestApiSpec<'_>,
    ctx: &mut CompileContext,
) -> Result<Api, Vec<ConfigError>> {
    let at = format!("restapis[{}]", spec.api_id);
    let mut errors = Vec::new();
    if !valid_api_id(spec.api_id) {
        errors.push(err(&at, "id must be 1 to 63 lowercase letters and digits"));
        return Err(errors);
    }
    let mut stages = Vec::with_capacity(spec.stages.len());
    for s in &spec.stages {
        let sat = format!("{at}.stages[{}]", s.stage_name);
        let Some(mut stage) = compile_stage(spec, s, &sat, false, &mut errors, ctx) else {
            continue;
        };
        if let Some(c) = &s.canary {
            let cat = format!("{sat}.canarySettings");
            if !(0.0..=100.0).contains(&c.percent_traffic) {
                errors.push(err(&cat, "percentTraffic must be between 0.0 and 100.0"));
                continue;
            }
            let canary = RestStageSpec {
                stage_name: s.stage_name,
                variables: &c.variables,
                method_settings: s.method_settings,
                resources: c.resources,
                gateway_responses: c.gateway_responses,
                cache_cluster_enabled: s.cache_cluster_enabled && c.use_stage_cache,
                cache_cluster_size: s.cache_cluster_size,
                models: c.models,
                request_validators: c.request_validators,
                authorizers: c.authorizers,
                canary: None,
                access_log: s.access_log,
            };
            if let Some(cs) = compile_stage(spec, &canary, &cat, true, &mut errors, ctx) {
                stage.canary = Some(Box::new(Canary {
                    // 0.0..=100.0 checked above: at most 10,000.
                    share_bp: (c.percent_traffic * 100.0).round() as u32,
                    stage: cs,
                }));
            }
        }
        stages.push(stage);
    }
    let policy = spec
        .policy
        .filter(|p| !p.trim().is_empty())
        .and_then(|text| {
            let prefix = format!(
                "arn:aws:execute-api:{}:{}:{}",
                ctx.region, ctx.account_id, spec.api_id
            );
            crate::iam::Policy::parse(text, true, &prefix)
                .map_err(|problems| {
                    let pat = format!("{at}.policy");
                    errors.extend(problems.iter().map(|m| err(&pat, m)));
                })
                .ok()
        });
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut api = Api::rest(spec, stages);
    // User pool authorizers' key slots, for the admin side's fetcher.
    let mut slots: Vec<Arc<crate::jwt::KeySlot>> = Vec::new();
    for stage in api.stages() {
        for a in stage.routes.iter().filter_map(|r| r.auth.as_deref()) {
            if !slots.iter().any(|s| Arc::ptr_eq(s, &a.authorizer.keys)) {
                slots.push(Arc::clone(&a.authorizer.keys));
            }
        }
    }
    api.key_slots = slots;
    api.resource_policy = policy.map(Box::new);
    api.private = spec.private;
    Ok(api)
}

/// The stage's Cognito user pool authorizers by id, as JWT authorizers of the pool's issuer
/// `https://cognito-idp.{region}.amazonaws.com/{poolId}` with keys from their `jwksUri`.
fn compile_user_pools(
    s: &RestStageSpec<'_>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> BTreeMap<String, Arc<crate::jwt::JwtAuthorizer>> {
    let mut compiled = BTreeMap::new();
    for a in s
        .authorizers
        .iter()
        .filter(|a| a.kind == AuthorizerType::CognitoUserPools)
    {
        let aat = format!("{at}.authorizers[{}]", a.id);
        let pool = a.provider_arns.first().and_then(|arn| {
            let rest = arn.strip_prefix("arn:aws:cognito-idp:")?;
            let (region, rest) = rest.split_once(':')?;
            let pool = rest.split_once(':')?.1.strip_prefix("userpool/")?;
            Some(format!("https://cognito-idp.{region}.amazonaws.com/{pool}"))
        });
        let header = a
            .identity_source
            .as_deref()
            .unwrap_or("method.request.header.Authorization")
            .strip_prefix("method.request.header.");
        let (Some(issuer), Some(header)) = (pool, header) else {
            errors.push(err(
                &aat,
                "a user pool authorizer needs a providerARN and a method.request.header identity source",
            ));
            continue;
        };
        let source = match &a.jwks_uri {
            Some(u) => crate::jwt::KeySource::Jwks(u.as_str().into()),
            None => crate::jwt::KeySource::Discovery(issuer.as_str().into()),
        };
        let keys = ctx.jwks.slot(source);
        compiled.insert(
            a.id.clone(),
            Arc::new(crate::jwt::JwtAuthorizer::new_cognito(
                &issuer, header, keys,
            )),
        );
    }
    compiled
}

/// The stage's Lambda authorizers (`TOKEN`, `REQUEST`) by id.
fn compile_authorizers(
    api_id: &str,
    s: &RestStageSpec<'_>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &CompileContext,
) -> BTreeMap<String, Arc<crate::authorizer::LambdaAuthorizer>> {
    let mut compiled = BTreeMap::new();
    for a in s.authorizers {
        let token = match a.kind {
            AuthorizerType::Token => true,
            AuthorizerType::Request => false,
            AuthorizerType::CognitoUserPools | AuthorizerType::Jwt => continue,
        };
        // Compiled only when a method uses it (its function endpoint is resolved here).
        let used = s.resources.iter().any(|r| {
            r.resource_methods
                .values()
                .any(|m| m.authorizer_id.as_deref() == Some(a.id.as_str()))
        });
        if !used {
            continue;
        }
        let aat = format!("{at}.authorizers[{}]", a.id);
        let sources = a
            .identity_source
            .as_deref()
            .map(crate::authorizer::split_rest_sources)
            .unwrap_or_default();
        let input = crate::authorizer::AuthorizerInput {
            api_id,
            stage: s.stage_name,
            authorizer_id: &a.id,
            rest: true,
            websocket: false,
            token,
            uri: a.authorizer_uri.as_deref().unwrap_or_default(),
            credentials: a.authorizer_credentials.as_deref(),
            identity_sources: &sources,
            identity_validation_expression: a.identity_validation_expression.as_deref(),
            ttl_s: a.authorizer_result_ttl_in_seconds,
            payload_format_version: None,
            simple_responses: false,
        };
        match crate::authorizer::compile(&ctx.lambda, &input, s.variables) {
            Ok(c) => {
                let generation = ctx.authorizer_generations.get(api_id, s.stage_name);
                compiled.insert(a.id.clone(), Arc::new(c.flushed(generation)));
            }
            Err(problems) => errors.extend(problems.iter().map(|p| err(&aat, p))),
        }
    }
    compiled
}

fn compile_stage(
    spec: &RestApiSpec<'_>,
    s: &RestStageSpec<'_>,
    at: &str,
    is_canary: bool,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<Stage> {
    let before = errors.len();
    let api_id = spec.api_id;
    let spec_binary = spec.binary_media_types;
    let name = s.stage_name;
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        errors.push(err(
            at,
            "stageName must be 1 to 128 letters, digits, '-' or '_'",
        ));
    }
    let gateway_responses = match GatewayResponses::compile(s.gateway_responses) {
        Ok(g) => g,
        Err(problems) => {
            for p in problems {
                errors.push(err(&format!("{at}.gatewayResponses"), &p));
            }
            GatewayResponses::default()
        }
    };
    let star = s.method_settings.get("*/*");
    let generation = ctx.cache_generations.get(api_id, name);
    let cache = crate::cache::stage_cache(
        api_id,
        name,
        s.cache_cluster_enabled,
        s.cache_cluster_size,
        generation,
    )
    .unwrap_or_else(|e| {
        errors.push(err(at, &e));
        None
    });
    let authorizers = compile_authorizers(api_id, s, at, errors, ctx);
    let user_pools = compile_user_pools(s, at, errors, ctx);
    // Each model's schema is compiled once per stage and shared by the methods naming it.
    let mut schemas = BTreeMap::new();
    let mut builder = RouterBuilder::new();
    let mut routes = Vec::new();
    for resource in s.resources {
        for (method, m) in &resource.resource_methods {
            let key = format!("{method} {}", resource.path);
            let rat = format!("{at}.resources[{}].methods[{method}]", resource.path);
            let integration = match &m.method_integration {
                None => None,
                Some(i) => compile_integration(i, s.variables, &rat, errors, ctx, spec_binary)
                    .map(Arc::new),
            };
            let validation = match crate::validation::compile_method(
                m,
                s.request_validators,
                s.models,
                &mut schemas,
            ) {
                Ok(v) => v.map(Box::new),
                Err(problems) => {
                    for p in problems {
                        errors.push(err(&rat, &p));
                    }
                    None
                }
            };
            if let Err(e) = builder.insert(&key, routes.len() as u32) {
                errors.push(err(&rat, &e.to_string()));
                continue;
            }
            let setting_key = format!("{}/{method}", resource.path.replace('/', "~1"));
            let caching = match (&cache, &m.method_integration) {
                (Some(_), Some(i)) => crate::cache::method_cache(
                    method,
                    &resource.path,
                    s.method_settings.get(&setting_key),
                    star,
                    i.cache_namespace.as_deref(),
                    &i.cache_key_parameters,
                )
                .unwrap_or_else(|e| {
                    errors.push(err(&rat, &e));
                    None
                }),
                _ => None,
            };
            let throttle = stage_limits(s.method_settings.get(&setting_key), star).map(|l| {
                ctx.buckets
                    .get(&format!("{api_id}/{name}/{key}"), l, ctx.workers)
            });
            routes.push(Route {
                route_key: key.as_str().into(),
                stats_key: if is_canary {
                    stats_key(api_id, &format!("{name}/canary"), &key)
                } else {
                    stats_key(api_id, name, &key)
                },
                integration,
                throttle,
                auth: match (m.authorization_type, m.authorizer_id.as_deref()) {
                    (AuthorizationType::CognitoUserPools, Some(id)) => match user_pools.get(id) {
                        Some(a) => Some(Box::new(crate::jwt::RouteAuth {
                            authorizer: Arc::clone(a),
                            scopes: m
                                .authorization_scopes
                                .iter()
                                .map(|s| s.as_str().into())
                                .collect(),
                        })),
                        None => {
                            errors.push(err(
                                &rat,
                                &format!("authorizerId names unknown user pool authorizer '{id}'"),
                            ));
                            None
                        }
                    },
                    _ => None,
                },
                lambda_auth: match (m.authorization_type, m.authorizer_id.as_deref()) {
                    (AuthorizationType::Custom, Some(id)) => match authorizers.get(id) {
                        Some(a) => Some(Arc::clone(a)),
                        None => {
                            errors.push(err(
                                &rat,
                                &format!("authorizerId names unknown authorizer '{id}'"),
                            ));
                            None
                        }
                    },
                    (AuthorizationType::Custom, None) => {
                        errors.push(err(&rat, "authorizationType CUSTOM needs an authorizerId"));
                        None
                    }
                    _ => None,
                },
                aws_iam: m.authorization_type == AuthorizationType::AwsIam,
                rest: Some(RestMethod {
                    resource_path: resource.path.as_str().into(),
                    resource_id: resource.id.as_str().into(),
                    http_method: method.as_str().into(),
                    plan_method_key: format!("{}/{method}", resource.path).into(),
                    api_key_required: m.api_key_required,
                    caching,
                    validation,
                    trace: s
                        .method_settings
                        .get(&setting_key)
                        .or(star)
                        .map(|m| Trace::from_setting(&m.logging_level, m.data_trace_enabled))
                        .unwrap_or_default(),
                }),
            });
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Stage {
        name: name.into(),
        router: builder.build(),
        routes,
        variables: s.variables.clone(),
        gateway_responses,
        cache,
        websocket: None,
        canary: None,
        is_canary,
        access_log: crate::access_log::compile(s.access_log.0, s.access_log.1),
    })
}

/// The stage throttle of one method: its own setting, field by field, else `*/*`'s. A rate
/// without a burst gets a burst of one second's rate; a burst without a rate refills at the
/// burst per second.
fn stage_limits(own: Option<&MethodSetting>, star: Option<&MethodSetting>) -> Option<Limits> {
    let rate = own
        .map(|m| m.throttling_rate_limit)
        .filter(|r| *r >= 0.0)
        .or(star.map(|m| m.throttling_rate_limit).filter(|r| *r >= 0.0));
    let burst = own
        .map(|m| m.throttling_burst_limit)
        .filter(|b| *b >= 0)
        .or(star.map(|m| m.throttling_burst_limit).filter(|b| *b >= 0));
    match (rate, burst) {
        (None, None) => None,
        (Some(r), Some(b)) => Some(Limits {
            rate: r,
            burst: b as u64,
        }),
        (Some(r), None) => Some(Limits {
            rate: r,
            burst: r.ceil().max(1.0) as u64,
        }),
        (None, Some(b)) => Some(Limits {
            rate: b as f64,
            burst: b as u64,
        }),
    }
}

fn compile_integration(
    i: &Spec,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
    binary_media_types: &[String],
) -> Option<Integration> {
    match i.integration_type {
        IntegrationType::HttpProxy => {
            compile_rest_proxy(i, vars, at, errors, ctx).map(Integration::HttpProxy)
        }
        IntegrationType::Mock => compile_mock(i, at, errors).map(Integration::Mock),
        IntegrationType::Http => compile_http(i, vars, at, errors, ctx).map(Integration::Http),
        IntegrationType::Aws => compile_aws(i, vars, at, errors, ctx).map(Integration::Http),
        IntegrationType::AwsProxy => {
            compile_lambda_proxy(i, vars, at, errors, ctx, binary_media_types)
                .map(Integration::Lambda)
        }
    }
}

/// A REST `AWS` integration: an `HTTP` integration on the service's endpoint whose requests
/// are signed (see [`crate::aws::rest_uri`]) with the gateway's own credentials, or with those
/// of the `credentials` role, assumed through STS.
fn compile_aws(
    i: &Spec,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<HttpMapped> {
    let Some(uri) = i.uri.as_deref() else {
        errors.push(err(at, "AWS integrations need a uri"));
        return None;
    };
    if i.http_method.as_deref().is_none_or(|m| m == "ANY") {
        errors.push(err(
            at,
            "AWS integrations need an integration httpMethod (GET, POST, ...)",
        ));
        return None;
    }
    let mut parsed = match crate::aws::rest_uri(uri) {
        Ok(p) => p,
        Err(e) => {
            errors.push(err(at, &e));
            return None;
        }
    };
    if let Some(role) = i.credentials.as_deref() {
        if let Err(e) = parsed.target.sign_as(&ctx.lambda.roles, role) {
            errors.push(err(at, &e));
            return None;
        }
    }
    let t = &parsed.target;
    let mut http = i.clone();
    http.uri = Some(format!(
        "{}://{}{}{}",
        if t.https { "https" } else { "http" },
        t.host_header,
        t.base_path,
        parsed.path_and_query
    ));
    let mut mapped = compile_http(&http, vars, at, errors, ctx)?;
    mapped.aws = Some(Box::new(crate::snapshot::RestAws {
        target: parsed.target,
        json_target: parsed.json_target.map(|(t, ct)| (t.into(), ct)),
    }));
    Some(mapped)
}

/// A REST `AWS_PROXY` integration: a Lambda function through AWS's invocation URI
/// (`httpMethod` POST), payload format 1.0.
fn compile_lambda_proxy(
    i: &Spec,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &CompileContext,
    binary_media_types: &[String],
) -> Option<crate::lambda::LambdaProxy> {
    let Some(uri) = i.uri.as_deref() else {
        errors.push(err(at, "AWS_PROXY integrations need a uri"));
        return None;
    };
    let timeout_ms = i
        .timeout_in_millis
        .unwrap_or(REST_INTEGRATION_TIMEOUT_DEFAULT_MS);
    if !(50..=REST_INTEGRATION_TIMEOUT_MAX_MS).contains(&timeout_ms) {
        errors.push(err(
            at,
            &format!("timeoutInMillis must be between 50 and {REST_INTEGRATION_TIMEOUT_MAX_MS}"),
        ));
        return None;
    }
    let input = crate::lambda::ProxyInput {
        integration_id: "",
        uri,
        vars,
        rest: true,
        role_arn: i.credentials.as_deref(),
        timeout_ms,
        format: crate::lambda::PayloadFormat::V1,
        binary_media_types,
    };
    crate::lambda::compile_proxy(&ctx.lambda, input)
        .map_err(|e| errors.push(err(at, &e)))
        .ok()
}

/// The upstream of a REST `HTTP_PROXY` or `HTTP` integration. REST sends exactly the
/// integration URI: the request path is never appended, and `{name}` path parameters are filled
/// from what `requestParameters` map to them (`integration.request.path.x` ←
/// `method.request.path.y` or a `'static'` value; unmapped: the method's parameter of the same
/// name).
fn rest_target(
    i: &Spec,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<HttpProxy> {
    let Some(uri) = i.uri.as_deref() else {
        errors.push(err(
            at,
            &format!("{} integrations need a uri", i.integration_type),
        ));
        return None;
    };
    let timeout = i
        .timeout_in_millis
        .unwrap_or(REST_INTEGRATION_TIMEOUT_DEFAULT_MS);
    if timeout > REST_INTEGRATION_TIMEOUT_MAX_MS {
        errors.push(err(
            at,
            &format!("timeoutInMillis must be between 50 and {REST_INTEGRATION_TIMEOUT_MAX_MS}"),
        ));
        return None;
    }
    let model = model::Integration {
        integration_id: String::new(),
        integration_type: IntegrationType::HttpProxy,
        integration_method: i.http_method.clone(),
        integration_uri: uri.to_string(),
        timeout_in_millis: Some(timeout),
        payload_format_version: None,
        integration_subtype: None,
        credentials_arn: None,
        request_parameters: Default::default(),
        response_parameters: Default::default(),
        request_templates: Default::default(),
        template_selection_expression: None,
        passthrough_behavior: None,
        integration_responses: Vec::new(),
        connection_type: i.connection_type,
        connection_id: i.connection_id.clone(),
    };
    let mut target = compile_http_proxy(&model, vars, at, errors, ctx, Plane::V1)?;
    target.append_request_path = false;
    for part in &mut target.path {
        let PathPart::Param(name) = part else {
            continue;
        };
        let key = format!("integration.request.path.{name}");
        let Some(value) = i.request_parameters.get(&key) else {
            continue;
        };
        match Source::parse_parameter(value) {
            Ok(Source::RequestPath(from)) => *part = PathPart::Param(from),
            Ok(Source::Literal(text)) => *part = PathPart::Literal(text),
            _ => errors.push(err(
                at,
                &format!("{key}: a path parameter can be mapped from method.request.path.NAME or a 'static' value"),
            )),
        }
    }
    Some(target)
}

/// A REST `HTTP_PROXY` integration: the request as received, sent to [`rest_target`], with the
/// header and query string `requestParameters` applied as AWS does on proxy integrations too
/// (each one replaces the client's header or parameter of that name). It is how a backend
/// behind a proxy learns the authorizer's principal (`context.authorizer.principalId`).
fn compile_rest_proxy(
    i: &Spec,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<HttpProxy> {
    use crate::mapping::{Op, ParamOp, RequestMapping, Value};
    let mut target = rest_target(i, vars, at, errors, ctx)?;
    let mut m = RequestMapping::default();
    for (k, v) in &i.request_parameters {
        let Some((header, name)) = header_or_query(k, at, errors) else {
            continue;
        };
        let valid = crate::mapping::valid_target_name(header, name);
        if !valid {
            errors.push(err(
                at,
                &format!("Invalid mapping expression specified: {k}"),
            ));
            continue;
        }
        let value = match Source::parse_parameter(v) {
            Ok(s) => match Value::from_source(&s) {
                Some(value) => value,
                None => {
                    errors.push(err(
                        at,
                        &format!("Invalid mapping expression specified: {v}"),
                    ));
                    continue;
                }
            },
            Err(e) => {
                errors.push(err(at, &e));
                continue;
            }
        };
        if header {
            let lower = name.to_ascii_lowercase();
            // What the gateway writes itself on every upstream request: never mapped (as the
            // same names on an `HTTP` integration).
            if PROXY_OWN_HEADERS.contains(&lower.as_str()) {
                continue;
            }
            m.headers.push(ParamOp {
                op: Op::Overwrite,
                name: lower.into(),
                value,
            });
        } else {
            m.query.push(ParamOp {
                op: Op::Overwrite,
                name: name.into(),
                value,
            });
        }
    }
    if !m.headers.is_empty() || !m.query.is_empty() {
        target.request_mapping = Some(Box::new(m));
    }
    Some(target)
}

/// What a REST integration's `requestParameters` key maps to: `Some((true, name))` for a header,
/// `Some((false, name))` for a query string parameter; `None` for a path parameter (mapped into the
/// target's path by [`rest_target`]) and for a key of no known form (an error is pushed).
fn header_or_query<'k>(
    k: &'k str,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<(bool, &'k str)> {
    if let Some(n) = k.strip_prefix("integration.request.header.") {
        Some((true, n))
    } else if let Some(n) = k.strip_prefix("integration.request.querystring.") {
        Some((false, n))
    } else if k.starts_with("integration.request.path.") {
        None
    } else {
        errors.push(err(
            at,
            &format!("Invalid mapping expression specified: {k}; use integration.request.header.NAME, integration.request.querystring.NAME or integration.request.path.NAME"),
        ));
        None
    }
}

/// Headers an `HTTP_PROXY` request carries from the gateway alone.
const PROXY_OWN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
];

/// An `HTTP` integration: the upstream gets only what `requestParameters` map (and the body,
/// passed through or from a template); its response is mapped by the integration response
/// whose `selectionPattern` matches its status.
fn compile_http(
    i: &Spec,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<HttpMapped> {
    let before = errors.len();
    let target = rest_target(i, vars, at, errors, ctx)?;
    let mut headers = Vec::new();
    let mut query = Vec::new();
    for (k, v) in &i.request_parameters {
        let Some((header, name)) = header_or_query(k, at, errors) else {
            continue;
        };
        let source = match Source::parse_parameter(v) {
            Ok(s) => s,
            Err(e) => {
                errors.push(err(at, &e));
                continue;
            }
        };
        if header {
            headers.push((name.into(), source));
        } else {
            query.push((name.into(), source));
        }
    }
    let templates = compile_templates(&i.request_templates, at, errors);
    let passthrough = match i.passthrough_behavior.as_deref() {
        None | Some("WHEN_NO_MATCH") => Passthrough::WhenNoMatch,
        Some("WHEN_NO_TEMPLATES") => Passthrough::WhenNoTemplates,
        Some("NEVER") => Passthrough::Never,
        Some(other) => {
            errors.push(err(
                at,
                &format!("Invalid passthroughBehavior '{other}': use WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER"),
            ));
            Passthrough::WhenNoMatch
        }
    };
    let mut responses = Vec::new();
    let mut patterns: Vec<(Option<regex::Regex>, usize)> = Vec::new();
    for r in i.integration_responses.values() {
        let Ok(status) = r.status_code.parse::<u16>() else {
            errors.push(err(at, &format!("Invalid status code '{}'", r.status_code)));
            continue;
        };
        let mut hdrs = Vec::new();
        for (k, v) in &r.response_parameters {
            let Some(name) = k.strip_prefix("method.response.header.") else {
                errors.push(err(
                    at,
                    &format!("Invalid response parameter '{k}': use method.response.header.NAME"),
                ));
                continue;
            };
            match Source::parse_response_parameter(v) {
                Ok(src) => hdrs.push((name.into(), src)),
                Err(e) => errors.push(err(at, &e)),
            }
        }
        let body = response_template(&r.response_templates, at, errors);
        let pattern = match r.selection_pattern.as_deref() {
            None | Some("") => None,
            Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    errors.push(err(at, &format!("Invalid selection pattern '{p}': {e}")));
                    continue;
                }
            },
        };
        patterns.push((pattern, responses.len()));
        responses.push(MappedResponse {
            status,
            headers: hdrs,
            body,
        });
    }
    if errors.len() > before {
        return None;
    }
    // Resolve the selection once for every status: a pattern match first, else the default.
    let default = patterns.iter().find(|(p, _)| p.is_none()).map(|(_, i)| *i);
    let select = (100u16..600)
        .map(|status| {
            let code = status.to_string();
            patterns
                .iter()
                .find(|(p, _)| p.as_ref().is_some_and(|re| re.is_match(&code)))
                .map(|(_, i)| *i)
                .or(default)
                .map_or(u16::MAX, |i| i as u16)
        })
        .collect();
    Some(HttpMapped {
        target,
        headers,
        query,
        templates,
        passthrough,
        responses,
        select,
        aws: None,
    })
}

/// Request templates by content type (lowercase), each parsed once.
fn compile_templates(
    templates: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(Box<str>, Template)> {
    let mut out = Vec::new();
    for (content_type, text) in templates {
        match Template::parse(text) {
            Ok(t) => out.push((content_type.to_ascii_lowercase().into(), t)),
            Err(e) => errors.push(err(
                at,
                &format!("Invalid mapping template for {content_type}: {e}"),
            )),
        }
    }
    out
}

/// An integration response's template: `application/json`'s, else the first.
fn response_template(
    templates: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Template> {
    let text = templates
        .get("application/json")
        .or_else(|| templates.values().next())?;
    match Template::parse(text) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(err(at, &format!("Invalid response template: {e}")));
            None
        }
    }
}

/// A mock answers from its integration response: the request template's `statusCode` selects
/// it (by `selectionPattern`, else the default one), its status, headers and template answer.
fn compile_mock(i: &Spec, at: &str, errors: &mut Vec<ConfigError>) -> Option<Mock> {
    let status = i
        .request_templates
        .get("application/json")
        .or_else(|| i.request_templates.values().next())
        .map(|t| mock_status(t))
        .unwrap_or(Some(200));
    let Some(status) = status else {
        errors.push(err(
            at,
            "the MOCK request template must be like {\"statusCode\": 200}",
        ));
        return None;
    };
    let code = status.to_string();
    let mut chosen = None;
    let mut default = None;
    for r in i.integration_responses.values() {
        match r.selection_pattern.as_deref() {
            None | Some("") => default = default.or(Some(r)),
            Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
                Ok(re) => {
                    if chosen.is_none() && re.is_match(&code) {
                        chosen = Some(r);
                    }
                }
                Err(e) => errors.push(err(at, &format!("Invalid selection pattern '{p}': {e}"))),
            },
        }
    }
    let Some(r) = chosen.or(default) else {
        // AWS answers 500 (API_CONFIGURATION_ERROR) when no integration response matches.
        return Some(Mock { response: None });
    };
    let Ok(status) = r.status_code.parse::<u16>() else {
        errors.push(err(at, &format!("Invalid status code '{}'", r.status_code)));
        return None;
    };
    let mut headers = Vec::new();
    for (k, v) in &r.response_parameters {
        let Some(name) = k.strip_prefix("method.response.header.") else {
            errors.push(err(
                at,
                &format!("Invalid response parameter '{k}': use method.response.header.NAME"),
            ));
            continue;
        };
        if v.starts_with("integration.response.") {
            // A mock has no upstream response: nothing to map.
            continue;
        }
        match Source::parse_parameter(v) {
            Ok(src) => headers.push((name.into(), src)),
            Err(e) => errors.push(err(at, &e)),
        }
    }
    let body = response_template(&r.response_templates, at, errors);
    Some(Mock {
        response: Some(MappedResponse {
            status,
            headers,
            body,
        }),
    })
}

/// `{"statusCode": 200}` → 200. The `statusCode` a mock's rendered request asks for (REST and WebSocket `MOCK`).
pub fn mock_status(template: &str) -> Option<u16> {
    let i = template.find("\"statusCode\"")?;
    let rest = template[i + "\"statusCode\"".len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|s| (100..=599).contains(s))
}

impl Api {
    fn rest(spec: &RestApiSpec<'_>, stages: Vec<Stage>) -> Api {
        Api::new(
            spec.api_id,
            ProtocolType::Rest,
            spec.disable_execute_api_endpoint,
            spec.api_key_source,
            stages,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rest::{IntegrationResponse, Method, Resource};

    #[test]
    fn mock_status_parsing() {
        assert_eq!(mock_status(r#"{"statusCode": 200}"#), Some(200));
        assert_eq!(mock_status(r#"{ "statusCode" :404 }"#), Some(404));
        assert_eq!(mock_status(r#"{"code": 200}"#), None);
    }

    #[test]
    fn compiles_resources_methods_and_throttles() {
        let mut methods = BTreeMap::new();
        methods.insert(
            "GET".to_string(),
            Method {
                http_method: "GET".into(),
                authorization_type: AuthorizationType::None,
                api_key_required: true,
                method_integration: Some(Spec {
                    integration_type: IntegrationType::Mock,
                    request_templates: [(
                        "application/json".to_string(),
                        r#"{"statusCode": 200}"#.to_string(),
                    )]
                    .into(),
                    integration_responses: [(
                        "200".to_string(),
                        IntegrationResponse {
                            status_code: "200".into(),
                            response_templates: [(
                                "application/json".to_string(),
                                r#"{"ok":true}"#.to_string(),
                            )]
                            .into(),
                            ..Default::default()
                        },
                    )]
                    .into(),
                    ..Spec::of_type(IntegrationType::Mock)
                }),
                ..Default::default()
            },
        );
        let resources = vec![
            Resource {
                id: "r0".into(),
                path: "/".into(),
                ..Default::default()
            },
            Resource {
                id: "r1".into(),
                parent_id: Some("r0".into()),
                path_part: Some("pets".into()),
                path: "/pets".into(),
                resource_methods: methods,
            },
        ];
        let vars = BTreeMap::new();
        let mut settings = BTreeMap::new();
        settings.insert(
            "*/*".to_string(),
            MethodSetting {
                throttling_rate_limit: 100.0,
                throttling_burst_limit: 50,
                ..Default::default()
            },
        );
        let spec = RestApiSpec {
            api_id: "abc",
            api_key_source: Default::default(),
            binary_media_types: &[],
            disable_execute_api_endpoint: false,
            policy: None,
            private: false,
            stages: vec![RestStageSpec {
                stage_name: "prod",
                variables: &vars,
                method_settings: &settings,
                resources: &resources,
                gateway_responses: &[],
                cache_cluster_enabled: false,
                cache_cluster_size: None,
                models: &[],
                request_validators: &[],
                authorizers: &[],
                canary: None,
                access_log: (None, None),
            }],
        };
        let mut ctx = CompileContext::new(2);
        let api = compile(&spec, &mut ctx).unwrap();
        let (stage, path) = api.select_stage("/prod/pets").unwrap();
        assert_eq!(path, "/pets");
        let m = stage.router.resolve(&http::Method::GET, path).unwrap();
        let route = &stage.routes[m.route as usize];
        let rest = route.rest.as_ref().unwrap();
        assert!(rest.api_key_required);
        assert_eq!(&*rest.plan_method_key, "/pets/GET");
        assert_eq!(route.throttle.as_ref().unwrap().limits.burst, 50);
        let Some(Integration::Mock(mock)) = route.integration.as_deref() else {
            panic!("mock")
        };
        assert_eq!(mock.response.as_ref().unwrap().status, 200);
        // A recompile with the same limits keeps the bucket.
        let again = compile(&spec, &mut ctx).unwrap();
        let (s2, _) = again.select_stage("/prod/pets").unwrap();
        assert!(Arc::ptr_eq(
            s2.routes[0].throttle.as_ref().unwrap(),
            route.throttle.as_ref().unwrap()
        ));
        // REST has no `$default` stage: an unknown stage matches nothing.
        assert!(api.select_stage("/pets").is_none());
    }
}
