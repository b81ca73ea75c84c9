//! The compiler: the configuration model in, one immutable [`Snapshot`] out.
//!
//! 1. The control plane calls [`compile`] (or [`compile_config`]) with the model; it validates
//!    everything, reports *every* problem as a [`ConfigError`], resolves upstream host names
//!    (through [`crate::system`], the one module of this crate that does I/O) and builds one
//!    [`Router`] per stage.
//! 2. The types it produces live in [`crate::snapshot`]; the data plane reads only those.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::Method;

use crate::limits::{
    INTEGRATION_TIMEOUT_DEFAULT_MS, INTEGRATION_TIMEOUT_MAX_MS, INTEGRATION_TIMEOUT_MIN_MS,
    ROUTES_PER_API_MAX,
};
use crate::model::rest::{ApiKeySource, RestApiSpec};
use crate::model::{
    self, AuthorizationType, ConnectionType, IntegrationType, ProtocolType, DEFAULT_STAGE,
};
use crate::router::RouterBuilder;
use crate::snapshot::{
    stats_key, Api, Hasher, HttpProxy, Integration, PathPart, Route, Snapshot, Stage,
};
use crate::system::resolve;
use crate::throttle::BucketRegistry;

/// What compilation needs beyond the model: the throttle buckets to reuse (so a recompile keeps
/// their state) and the number of workers (bucket leases).
#[derive(Debug)]
pub struct CompileContext {
    pub buckets: BucketRegistry,
    pub workers: usize,
    /// REST stage cache flush generations (`FlushStageCache`), so recompiling keeps cache ids.
    pub cache_generations: crate::cache::CacheGenerations,
    /// REST stage Lambda authorizer cache flush generations (`FlushStageAuthorizersCache`).
    pub authorizer_generations: crate::cache::CacheGenerations,
    /// JWT authorizer key slots by source, so recompiles keep the keys already fetched.
    pub jwks: crate::jwt::KeyRegistry,
    /// The account and region of `execute-api` ARNs (resource policies' `execute-api:/...`).
    pub account_id: Box<str>,
    pub region: Box<str>,
    /// Where Lambda functions are invoked and how calls are signed (read from the environment
    /// once); its `local` hook sends self-hosted functions to the admin listener.
    pub lambda: crate::lambda::LambdaEnv,
    /// VPC links and their target pools, so recompiles keep health and ejection state.
    pub vpc_links: crate::vpc_link::VpcLinks,
}

impl CompileContext {
    pub fn new(workers: usize) -> CompileContext {
        CompileContext {
            buckets: BucketRegistry::default(),
            workers,
            cache_generations: Default::default(),
            authorizer_generations: Default::default(),
            jwks: Default::default(),
            account_id: crate::iam::account_id().into(),
            region: crate::iam::region().into(),
            lambda: Default::default(),
            vpc_links: Default::default(),
        }
    }
}

/// One problem found while compiling; compile reports all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Where: `apis[abc].routes[GET /x]`.
    pub path: String,
    pub message: String,
}

/// A stage to compile: the routes and integrations of the deployment it serves.
#[derive(Debug, Clone)]
pub struct StageInput<'a> {
    pub stage: &'a model::Stage,
    pub routes: &'a [model::Route],
    pub integrations: &'a [model::Integration],
    /// The JWT authorizers the deployment froze.
    pub authorizers: &'a [model::Authorizer],
}

/// An API to compile.
#[derive(Debug, Clone)]
pub struct ApiInput<'a> {
    pub api_id: &'a str,
    pub protocol: ProtocolType,
    pub disable_execute_api_endpoint: bool,
    /// HTTP APIs: the API's `corsConfiguration` (not part of a deployment: a change is served
    /// at once, as AWS).
    pub cors: Option<&'a model::Cors>,
    /// WebSocket APIs: `routeSelectionExpression` (required for them).
    pub route_selection_expression: Option<&'a str>,
    pub stages: Vec<StageInput<'a>>,
}

/// Compiles a whole configuration file's model (every stage serves the API's routes).
pub fn compile_config(
    config: &model::Config,
    generation: u64,
) -> Result<Snapshot, Vec<ConfigError>> {
    let inputs: Vec<ApiInput<'_>> = config
        .apis
        .iter()
        .map(|api| ApiInput {
            api_id: &api.api_id,
            protocol: api.protocol_type,
            disable_execute_api_endpoint: api.disable_execute_api_endpoint,
            cors: api.cors_configuration.as_ref(),
            route_selection_expression: api.route_selection_expression.as_deref(),
            stages: api
                .stages
                .iter()
                .map(|stage| StageInput {
                    stage,
                    routes: &api.routes,
                    integrations: &api.integrations,
                    authorizers: &[],
                })
                .collect(),
        })
        .collect();
    compile(&inputs, generation, &mut CompileContext::new(1))
}

/// Validates and compiles APIs into a snapshot, reporting every problem found.
pub fn compile(
    apis: &[ApiInput<'_>],
    generation: u64,
    ctx: &mut CompileContext,
) -> Result<Snapshot, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out: HashMap<Box<str>, Arc<Api>, Hasher> = HashMap::default();
    for api in apis {
        if out.contains_key(api.api_id) {
            errors.push(err(
                &format!("apis[{}]", api.api_id),
                "apiId is defined twice",
            ));
            continue;
        }
        match compile_api(api, ctx) {
            Ok(compiled) => {
                out.insert(compiled.id.clone(), Arc::new(compiled));
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Snapshot {
            generation,
            apis: out,
            usage: Arc::default(),
            iam: Arc::default(),
            domains: Arc::default(),
        })
    } else {
        Err(errors)
    }
}

/// Validates and compiles one API, reporting every problem found.
pub fn compile_api(api: &ApiInput<'_>, ctx: &mut CompileContext) -> Result<Api, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let at = format!("apis[{}]", api.api_id);
    if !valid_api_id(api.api_id) {
        errors.push(err(
            &at,
            "apiId must be 1 to 63 lowercase letters and digits",
        ));
        return Err(errors);
    }
    if api.protocol == ProtocolType::Rest {
        errors.push(err(
            &at,
            "REST APIs are compiled by compile_rest_api, not compile_api",
        ));
        return Err(errors);
    }
    if api.protocol == ProtocolType::Websocket {
        return compile_websocket_api(api, &at, ctx);
    }
    let mut compiled = Api {
        id: api.api_id.into(),
        protocol: api.protocol,
        disable_execute_api_endpoint: api.disable_execute_api_endpoint,
        api_key_source: ApiKeySource::Header,
        cors: None,
        key_slots: Vec::new(),
        websocket: None,
        resource_policy: None,
        private: false,
        role_slots: Vec::new(),
        target_pools: Vec::new(),
        stages: HashMap::default(),
        default_stage: None,
    };
    if let Some(c) = api.cors {
        match crate::cors::CorsPolicy::compile(c) {
            Ok(p) => compiled.cors = Some(Box::new(p)),
            Err(problems) => {
                let at = format!("{at}.corsConfiguration");
                errors.extend(problems.iter().map(|p| err(&at, p)));
            }
        }
    }
    for input in &api.stages {
        let stage_at = format!("{at}.stages[{}]", input.stage.stage_name);
        let Some(stage) = compile_stage(api.api_id, input, &stage_at, &mut errors, ctx) else {
            continue;
        };
        for r in &stage.routes {
            if let Some(a) = &r.auth {
                if !compiled
                    .key_slots
                    .iter()
                    .any(|s| Arc::ptr_eq(s, &a.authorizer.keys))
                {
                    compiled.key_slots.push(Arc::clone(&a.authorizer.keys));
                }
            }
        }
        stage.collect_pools(&mut compiled.target_pools);
        if &*stage.name == DEFAULT_STAGE {
            if compiled.default_stage.is_some() {
                errors.push(err(&stage_at, "stage is defined twice"));
            }
            compiled.default_stage = Some(stage);
        } else if compiled.stages.insert(stage.name.clone(), stage).is_some() {
            errors.push(err(&stage_at, "stage is defined twice"));
        }
    }
    compiled.role_slots = crate::lambda::role_slots(
        compiled
            .stages()
            .flat_map(|s| s.routes.iter())
            .filter_map(|r| r.integration.as_deref()),
    );
    if errors.is_empty() {
        Ok(compiled)
    } else {
        Err(errors)
    }
}

fn compile_stage(
    api_id: &str,
    input: &StageInput<'_>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<Stage> {
    let before = errors.len();
    let name = input.stage.stage_name.as_str();
    if name != DEFAULT_STAGE
        && (name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        errors.push(err(
            at,
            "stageName must be '$default' or 1 to 128 letters, digits, '-' or '_'",
        ));
    }
    for (k, v) in &input.stage.stage_variables {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            errors.push(err(
                at,
                &format!("stage variable name '{k}' must be letters, digits or '_'"),
            ));
        }
        if v.len() > 2048 {
            errors.push(err(
                at,
                &format!("stage variable '{k}' is longer than 2048 characters"),
            ));
        }
    }
    if input.routes.len() > ROUTES_PER_API_MAX {
        errors.push(err(at, &format!("more than {ROUTES_PER_API_MAX} routes")));
        return None;
    }
    let mut integrations: HashMap<&str, Arc<Integration>> = HashMap::new();
    for i in input.integrations {
        let iat = format!("{at}.integrations[{}]", i.integration_id);
        if let Some(c) = compile_integration(i, &input.stage.stage_variables, &iat, errors, ctx) {
            if integrations
                .insert(i.integration_id.as_str(), Arc::new(c))
                .is_some()
            {
                errors.push(err(&iat, "integrationId is defined twice"));
            }
        }
    }
    let mut authorizers: HashMap<&str, Arc<crate::jwt::JwtAuthorizer>> = HashMap::new();
    let mut lambda_authorizers = HashMap::new();
    for a in input.authorizers {
        let aat = format!("{at}.authorizers[{}]", a.authorizer_id);
        if let Some(l) = &a.lambda {
            // Compiled only when a route uses it (its function endpoint is resolved here).
            let id = Some(a.authorizer_id.as_str());
            if !input
                .routes
                .iter()
                .any(|r| r.authorizer_id.as_deref() == id)
            {
                continue;
            }
            let spec = crate::authorizer::AuthorizerInput {
                api_id,
                stage: name,
                authorizer_id: &a.authorizer_id,
                rest: false,
                websocket: false,
                token: false,
                uri: &l.authorizer_uri,
                credentials: l.authorizer_credentials_arn.as_deref(),
                identity_sources: &l.identity_source,
                identity_validation_expression: None,
                ttl_s: l.authorizer_result_ttl_in_seconds,
                payload_format_version: Some(&l.authorizer_payload_format_version),
                simple_responses: l.enable_simple_responses,
            };
            match crate::authorizer::compile(&ctx.lambda, &spec, &input.stage.stage_variables) {
                Ok(c) => {
                    // `ResetAuthorizersCache` bumps the stage's generation: a new cache id.
                    let generation = ctx.authorizer_generations.get(api_id, name);
                    lambda_authorizers
                        .insert(a.authorizer_id.as_str(), Arc::new(c.flushed(generation)));
                }
                Err(problems) => errors.extend(problems.iter().map(|p| err(&aat, p))),
            }
            continue;
        }
        match compile_authorizer(a, ctx) {
            Ok(c) => {
                authorizers.insert(a.authorizer_id.as_str(), Arc::new(c));
            }
            Err(e) => errors.push(err(&aat, &e)),
        }
    }
    let mut builder = RouterBuilder::new();
    let mut routes = Vec::with_capacity(input.routes.len());
    for r in input.routes {
        let rat = format!("{at}.routes[{}]", r.route_key);
        let lambda_auth = r
            .authorizer_id
            .as_deref()
            .and_then(|id| lambda_authorizers.get(id))
            .map(Arc::clone);
        let auth = match r.authorizer_id.as_deref() {
            None => None,
            Some(_) if lambda_auth.is_some() => None,
            Some(id) => match authorizers.get(id) {
                Some(a) => Some(Box::new(crate::jwt::RouteAuth {
                    authorizer: Arc::clone(a),
                    scopes: r
                        .authorization_scopes
                        .iter()
                        .map(|s| s.as_str().into())
                        .collect(),
                })),
                None => {
                    if !input.authorizers.iter().any(|a| a.authorizer_id == id) {
                        errors.push(err(
                            &rat,
                            &format!("authorizerId names unknown authorizer '{id}'"),
                        ));
                    }
                    None
                }
            },
        };
        let integration = match r.target.as_deref() {
            None => None,
            Some(t) => match t.strip_prefix("integrations/") {
                Some(id) => match integrations.get(id) {
                    Some(i) => Some(Arc::clone(i)),
                    None => {
                        if !input.integrations.iter().any(|i| i.integration_id == id) {
                            errors.push(err(
                                &rat,
                                &format!("target names unknown integration '{id}'"),
                            ));
                        }
                        None
                    }
                },
                None => {
                    errors.push(err(&rat, "target must be 'integrations/{integrationId}'"));
                    None
                }
            },
        };
        if let Err(e) = builder.insert(&r.route_key, routes.len() as u32) {
            errors.push(err(&rat, &e.to_string()));
            continue;
        }
        let limits = input
            .stage
            .route_settings
            .get(&r.route_key)
            .and_then(model::RouteSettings::limits)
            .or_else(|| {
                input
                    .stage
                    .default_route_settings
                    .as_ref()
                    .and_then(model::RouteSettings::limits)
            });
        let throttle = limits.map(|l| {
            ctx.buckets
                .get(&format!("{api_id}/{name}/{}", r.route_key), l, ctx.workers)
        });
        routes.push(Route {
            route_key: r.route_key.as_str().into(),
            stats_key: stats_key(api_id, name, &r.route_key),
            integration,
            throttle,
            rest: None,
            auth,
            lambda_auth,
            aws_iam: r.authorization_type == Some(AuthorizationType::AwsIam),
        });
    }
    if errors.len() > before {
        return None;
    }
    Some(Stage {
        name: name.into(),
        router: builder.build(),
        routes,
        variables: input.stage.stage_variables.clone(),
        gateway_responses: crate::gateway_response::GatewayResponses::default(),
        cache: None,
        websocket: None,
        canary: None,
        is_canary: false,
        access_log: access_log_of(input.stage),
    })
}

/// A v2 stage's `accessLogSettings`, compiled.
fn access_log_of(stage: &model::Stage) -> Option<Arc<crate::access_log::AccessLog>> {
    let s = stage.access_log_settings.as_ref()?;
    crate::access_log::compile(s.destination_arn.as_deref(), s.format.as_deref())
}

/// Compiles a WebSocket API: its route selection expression and each stage's route table.
fn compile_websocket_api(
    api: &ApiInput<'_>,
    at: &str,
    ctx: &mut CompileContext,
) -> Result<Api, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let ws = match crate::websocket::compile_api(api.route_selection_expression, at) {
        Ok(ws) => Some(Box::new(ws)),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let mut stages = Vec::new();
    for input in &api.stages {
        let stage_at = format!("{at}.stages[{}]", input.stage.stage_name);
        if let Some(ws) =
            crate::websocket::compile_stage(api.api_id, input, &stage_at, &mut errors, ctx)
        {
            stages.push(Stage {
                name: input.stage.stage_name.as_str().into(),
                router: RouterBuilder::new().build(),
                routes: Vec::new(),
                variables: input.stage.stage_variables.clone(),
                gateway_responses: crate::gateway_response::GatewayResponses::default(),
                cache: None,
                websocket: Some(Box::new(ws)),
                canary: None,
                is_canary: false,
                access_log: access_log_of(input.stage),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut compiled = Api::new(
        api.api_id,
        ProtocolType::Websocket,
        api.disable_execute_api_endpoint,
        ApiKeySource::Header,
        stages,
    );
    compiled.websocket = ws;
    let mut role_slots = Vec::new();
    for s in compiled.stages() {
        if let Some(ws) = s.websocket.as_deref() {
            ws.collect_role_slots(&mut role_slots);
        }
    }
    compiled.role_slots = role_slots;
    Ok(compiled)
}

/// Compiles a JWT authorizer; its keys come from the registry's slot for its source.
fn compile_authorizer(
    a: &model::Authorizer,
    ctx: &mut CompileContext,
) -> Result<crate::jwt::JwtAuthorizer, String> {
    let header = a
        .identity_source
        .strip_prefix("$request.header.")
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| {
            format!(
                "identitySource '{}' must be $request.header.NAME",
                a.identity_source
            )
        })?;
    if a.audience.is_empty() {
        return Err("jwtConfiguration.audience must name at least one audience".into());
    }
    let source = match &a.jwks_uri {
        Some(u) => crate::jwt::KeySource::Jwks(u.as_str().into()),
        None => crate::jwt::KeySource::Discovery(a.issuer.as_str().into()),
    };
    let keys = ctx.jwks.slot(source);
    Ok(crate::jwt::JwtAuthorizer::new(
        &a.issuer,
        &a.audience,
        header,
        keys,
    ))
}

/// Validates and compiles one REST API (`apigateway` v1), reporting every problem found.
pub fn compile_rest_api(
    spec: &RestApiSpec<'_>,
    ctx: &mut CompileContext,
) -> Result<Api, Vec<ConfigError>> {
    crate::rest::compile(spec, ctx)
}

fn compile_integration(
    i: &model::Integration,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<Integration> {
    match (i.integration_type, i.integration_subtype.as_deref()) {
        (IntegrationType::HttpProxy, _) => {}
        (IntegrationType::AwsProxy, None) => {
            return compile_lambda_proxy(i, vars, at, errors, ctx).map(Integration::Lambda)
        }
        // First-class integrations; an `AWS_PROXY` without a subtype is a Lambda proxy.
        (IntegrationType::AwsProxy, Some(subtype)) => {
            let timeout_ms = i
                .timeout_in_millis
                .unwrap_or(INTEGRATION_TIMEOUT_DEFAULT_MS);
            return match crate::aws::compile_service(
                &i.integration_id,
                subtype,
                &i.request_parameters,
                timeout_ms,
            )
            .and_then(|mut s| {
                if let Some(role) = i.credentials_arn.as_deref() {
                    s.target
                        .sign_as(&ctx.lambda.roles, role)
                        .map_err(|e| vec![e])?;
                }
                Ok(s)
            }) {
                Ok(s) => Some(Integration::AwsService(s)),
                Err(problems) => {
                    errors.extend(problems.iter().map(|p| err(at, p)));
                    None
                }
            };
        }
        (other, _) => {
            errors.push(err(
                at,
                &format!(
                    "integrationType {other:?}: an API with a protocol type of HTTP may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)"
                ),
            ));
            return None;
        }
    }
    compile_http_proxy(i, vars, at, errors, ctx, crate::vpc_link::Plane::V2)
        .map(Integration::HttpProxy)
}

/// A proxy integration's `timeoutInMillis` (the default when unset); out of bounds is an error.
fn proxy_timeout_ms(i: &model::Integration, at: &str, errors: &mut Vec<ConfigError>) -> u32 {
    let timeout_ms = i
        .timeout_in_millis
        .unwrap_or(INTEGRATION_TIMEOUT_DEFAULT_MS);
    if !(INTEGRATION_TIMEOUT_MIN_MS..=INTEGRATION_TIMEOUT_MAX_MS).contains(&timeout_ms) {
        errors.push(err(
            at,
            &format!("timeoutInMillis must be between {INTEGRATION_TIMEOUT_MIN_MS} and {INTEGRATION_TIMEOUT_MAX_MS}"),
        ));
    }
    timeout_ms
}

/// An HTTP API's `AWS_PROXY` integration: a function ARN (or AWS's invocation URI) and the
/// payload format, which HTTP APIs require.
fn compile_lambda_proxy(
    i: &model::Integration,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &CompileContext,
) -> Option<crate::lambda::LambdaProxy> {
    let timeout_ms = proxy_timeout_ms(i, at, errors);
    let format = match i.payload_format_version.as_deref() {
        Some("1.0") => crate::lambda::PayloadFormat::V1,
        Some("2.0") => crate::lambda::PayloadFormat::V2,
        _ => {
            errors.push(err(
                at,
                "payloadFormatVersion must be 1.0 or 2.0 for AWS_PROXY integrations",
            ));
            return None;
        }
    };
    if !i.request_parameters.is_empty() || !i.response_parameters.is_empty() {
        errors.push(err(
            at,
            "requestParameters and responseParameters are not supported for AWS_PROXY integrations yet",
        ));
    }
    let input = crate::lambda::ProxyInput {
        integration_id: &i.integration_id,
        uri: &i.integration_uri,
        vars,
        rest: false,
        role_arn: i.credentials_arn.as_deref(),
        timeout_ms,
        format,
        binary_media_types: &[],
    };
    crate::lambda::compile_proxy(&ctx.lambda, input)
        .map_err(|e| errors.push(err(at, &e)))
        .ok()
}

/// Builds an HTTP proxy integration (HTTP APIs and REST `HTTP_PROXY`).
pub(crate) fn compile_http_proxy(
    i: &model::Integration,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
    plane: crate::vpc_link::Plane,
) -> Option<HttpProxy> {
    let timeout_ms = proxy_timeout_ms(i, at, errors);
    if let Some(v) = i.payload_format_version.as_deref() {
        if v != "1.0" {
            errors.push(err(
                at,
                "payloadFormatVersion must be 1.0 for HTTP_PROXY integrations",
            ));
        }
    }
    let method = match i.integration_method.as_deref() {
        None | Some("ANY") => None,
        Some(m @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS")) => {
            Method::from_bytes(m.as_bytes()).ok()
        }
        Some(m) => {
            errors.push(err(
                at,
                &format!("integrationMethod '{m}' is not a valid HTTP method"),
            ));
            None
        }
    };
    let uri = match substitute_stage_variables(&i.integration_uri, vars) {
        Ok(u) => u,
        Err(e) => {
            errors.push(err(at, &e));
            return None;
        }
    };
    let link = match vpc_link_of(i, vars, plane, ctx) {
        Ok(l) => l,
        Err(e) => {
            errors.push(err(at, &e));
            return None;
        }
    };
    // HTTP APIs name a VPC link pool's targets in the URI: `http://host:port,host:port/path`.
    let (uri, listed) = match &link {
        Some(_) if plane == crate::vpc_link::Plane::V2 => split_authorities(&uri),
        _ => (uri, Vec::new()),
    };
    let parsed = match parse_http_uri(&uri) {
        Ok(p) => p,
        Err(e) => {
            errors.push(err(at, &format!("integrationUri '{uri}': {e}")));
            return None;
        }
    };
    let (upstream, pool) = match &link {
        // A name that does not resolve yet deploys (as on AWS); its requests answer 500
        // until the resolver finds an address.
        None => (crate::dns::registry().slot(&parsed.host, parsed.port), None),
        Some(link) => {
            let names = if plane == crate::vpc_link::Plane::V2 {
                &listed
            } else {
                &link.targets
            };
            let pool = compile_pool(link, names, at, errors, ctx)?;
            (
                crate::dns::HostSlot::fixed(pool.targets[0].addr),
                Some(pool),
            )
        }
    };
    let path = parse_path_template(&parsed.path);
    let append_request_path = !path.iter().any(|p| matches!(p, PathPart::Param(_)));
    let request_mapping = crate::mapping::RequestMapping::compile(&i.request_parameters)
        .unwrap_or_else(|problems| {
            errors.extend(problems.iter().map(|p| err(at, p)));
            None
        });
    let response_mapping = crate::mapping::ResponseMappings::compile(&i.response_parameters)
        .unwrap_or_else(|problems| {
            errors.extend(problems.iter().map(|p| err(at, p)));
            None
        });
    Some(HttpProxy {
        integration_id: i.integration_id.as_str().into(),
        method,
        upstream,
        tls: parsed.tls.then(|| parsed.host.as_str().into()),
        pool,
        host_header: parsed.host_header.into(),
        path,
        query: parsed.query.into(),
        append_request_path,
        timeout_ms,
        request_mapping: request_mapping.map(Box::new),
        response_mapping: response_mapping.map(Box::new),
    })
}

/// The VPC link a `VPC_LINK` integration names (`None` for `INTERNET`).
fn vpc_link_of(
    i: &model::Integration,
    vars: &BTreeMap<String, String>,
    plane: crate::vpc_link::Plane,
    ctx: &CompileContext,
) -> Result<Option<crate::vpc_link::VpcLinkSpec>, String> {
    match i.connection_type {
        None | Some(ConnectionType::Internet) => return Ok(None),
        Some(ConnectionType::VpcLink) => {}
    }
    let Some(raw) = i.connection_id.as_deref() else {
        return Err("connectionId is required when connectionType is VPC_LINK".into());
    };
    let id = substitute_stage_variables(raw, vars)?;
    match ctx.vpc_links.get(&id) {
        Some(l) if l.plane == plane => Ok(Some(l.clone())),
        Some(_) => Err(format!(
            "connectionId '{id}' is a VPC link of the other API type (REST APIs use /vpclinks, HTTP APIs /v2/vpclinks)"
        )),
        None => Err(format!("Invalid VPC link identifier specified: '{id}'")),
    }
}

/// `scheme://a:1,b:2/path` → (`scheme://a:1/path`, [`a:1`, `b:2`]).
fn split_authorities(uri: &str) -> (String, Vec<String>) {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return (uri.to_string(), Vec::new());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let list: Vec<String> = rest[..end].split(',').map(str::to_string).collect();
    let first = list.first().cloned().unwrap_or_default();
    (format!("{scheme}://{first}{}", &rest[end..]), list)
}

/// Resolves every target of a VPC link pool (no DNS on the request path) and gets the pool.
fn compile_pool(
    link: &crate::vpc_link::VpcLinkSpec,
    names: &[String],
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut CompileContext,
) -> Option<Arc<crate::vpc_link::TargetPool>> {
    use crate::limits::VPC_LINK_TARGETS_MAX;
    if names.is_empty() || names.len() > VPC_LINK_TARGETS_MAX {
        errors.push(err(
            at,
            &format!(
                "VPC link '{}' needs 1 to {VPC_LINK_TARGETS_MAX} targets (host:port)",
                link.id
            ),
        ));
        return None;
    }
    let before = errors.len();
    let mut targets = Vec::with_capacity(names.len());
    for name in names {
        match crate::vpc_link::parse_target(name).and_then(|(h, p)| resolve(h, p)) {
            Ok(addr) => targets.push((name.clone(), addr)),
            Err(e) => errors.push(err(
                at,
                &format!("VPC link '{}' target {name}: {e}", link.id),
            )),
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(ctx.vpc_links.pool(link, &targets, ctx.workers))
}

pub(crate) fn substitute_stage_variables(
    uri: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, String> {
    const OPEN: &str = "${stageVariables.";
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        let end = after.find('}').ok_or_else(|| {
            format!("integrationUri '{uri}' has an unterminated '${{stageVariables.'")
        })?;
        let name = &after[..end];
        let value = vars.get(name).ok_or_else(|| {
            format!("integrationUri names stage variable '{name}', which the stage does not define")
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

struct HttpUri {
    /// `https://`: the upstream speaks TLS.
    tls: bool,
    host: String,
    port: u16,
    host_header: String,
    path: String,
    query: String,
}

fn parse_http_uri(uri: &str) -> Result<HttpUri, &'static str> {
    let (rest, tls) = if let Some(r) = uri.strip_prefix("http://") {
        (r, false)
    } else if let Some(r) = uri.strip_prefix("https://") {
        (r, true)
    } else {
        return Err("must be an absolute http:// or https:// URL");
    };
    let default_port = if tls { 443 } else { 80 };
    if rest
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("must not contain whitespace or control characters");
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("must name a host (and no user info)");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or("has an unterminated IPv6 address")?;
        let port = match &v6[end + 1..] {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or("has an invalid port")?,
        };
        (v6[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>().map_err(|_| "has an invalid port")?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err("must name a host and a port above 0");
    }
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_query, ""),
    };
    Ok(HttpUri {
        tls,
        host,
        port,
        host_header: authority.to_string(),
        path: if path.is_empty() {
            String::new()
        } else {
            path.to_string()
        },
        query: query.to_string(),
    })
}

fn parse_path_template(path: &str) -> Vec<PathPart> {
    let mut parts = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let name = name.strip_suffix('+').unwrap_or(name);
        if name.is_empty() || name.contains('{') {
            break;
        }
        if open > 0 {
            parts.push(PathPart::Literal(rest[..open].into()));
        }
        parts.push(PathPart::Param(name.into()));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(PathPart::Literal(rest.into()));
    }
    parts
}

pub(crate) fn valid_api_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub(crate) fn err(path: &str, message: &str) -> ConfigError {
    ConfigError {
        path: path.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Config, Integration as I, Route as R, Stage as S};

    fn config(uri: &str, routes: &[&str], stages: &[&str]) -> Config {
        Config {
            apis: vec![model::Api {
                api_id: "abc123".into(),
                name: String::new(),
                protocol_type: ProtocolType::Http,
                route_selection_expression: None,
                disable_execute_api_endpoint: false,
                cors_configuration: None,
                routes: routes
                    .iter()
                    .map(|k| R {
                        route_id: String::new(),
                        route_key: k.to_string(),
                        target: Some("integrations/i1".into()),
                        authorizer_id: None,
                        authorization_type: None,
                        authorization_scopes: Vec::new(),
                        route_response: false,
                    })
                    .collect(),
                integrations: vec![I {
                    integration_id: "i1".into(),
                    integration_type: IntegrationType::HttpProxy,
                    integration_method: None,
                    integration_uri: uri.into(),
                    timeout_in_millis: None,
                    payload_format_version: None,
                    integration_subtype: None,
                    credentials_arn: None,
                    request_parameters: BTreeMap::new(),
                    response_parameters: BTreeMap::new(),
                    request_templates: BTreeMap::new(),
                    template_selection_expression: None,
                    passthrough_behavior: None,
                    integration_responses: Vec::new(),
                    connection_type: None,
                    connection_id: None,
                }],
                stages: stages
                    .iter()
                    .map(|s| S {
                        stage_name: s.to_string(),
                        stage_variables: [("up".to_string(), "127.0.0.1:9".to_string())].into(),
                        default_route_settings: None,
                        route_settings: BTreeMap::new(),
                        access_log_settings: None,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn stage_selection() {
        let s = compile_config(
            &config("http://127.0.0.1:9", &["GET /a"], &["$default", "prod"]),
            1,
        )
        .unwrap();
        let api = s.api("abc123").unwrap();
        assert_eq!(
            api.select_stage("/prod/a").map(|(s, p)| (&*s.name, p)),
            Some(("prod", "/a"))
        );
        assert_eq!(
            api.select_stage("/prod").map(|(s, p)| (&*s.name, p)),
            Some(("prod", "/"))
        );
        assert_eq!(
            api.select_stage("/a").map(|(s, p)| (&*s.name, p)),
            Some(("$default", "/a"))
        );
        let s = compile_config(&config("http://127.0.0.1:9", &["GET /a"], &["prod"]), 1).unwrap();
        assert!(s.api("abc123").unwrap().select_stage("/a").is_none());
    }

    #[test]
    fn uri_templates() {
        let s = compile_config(
            &config(
                "http://${stageVariables.up}/base/{id}?x=1",
                &["GET /a/{id}"],
                &["$default"],
            ),
            1,
        )
        .unwrap();
        let stage = s.api("abc123").unwrap().select_stage("/").unwrap().0;
        let Some(i) = &stage.routes[0].integration else {
            panic!()
        };
        let Integration::HttpProxy(p) = &**i else {
            panic!("http proxy")
        };
        assert_eq!(p.upstream.addr(), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(&*p.host_header, "127.0.0.1:9");
        assert_eq!(
            p.path,
            vec![
                PathPart::Literal("/base/".into()),
                PathPart::Param("id".into())
            ]
        );
        assert_eq!(&*p.query, "x=1");
        assert!(!p.append_request_path);
    }

    #[test]
    fn every_problem_is_reported() {
        let mut c = config(
            "ftp://x",
            &["GET /a", "GET /a", "BAD"],
            &["$default", "bad stage"],
        );
        c.apis[0].integrations[0].timeout_in_millis = Some(10);
        c.apis[0].routes.push(R {
            route_id: String::new(),
            route_key: "GET /b".into(),
            target: Some("integrations/nope".into()),
            authorizer_id: None,
            authorization_type: None,
            authorization_scopes: Vec::new(),
            route_response: false,
        });
        let errors = compile_config(&c, 1).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(all.contains("timeoutInMillis"), "{all}");
        assert!(all.contains("absolute http://"), "{all}");
        assert!(all.contains("defined twice"), "{all}");
        assert!(all.contains("'BAD'"), "{all}");
        assert!(all.contains("unknown integration 'nope'"), "{all}");
        assert!(all.contains("stageName"), "{all}");
    }

    #[test]
    fn stats_keys_are_stable() {
        assert_eq!(stats_key("a", "b", "GET /"), stats_key("a", "b", "GET /"));
        assert_ne!(stats_key("a", "b", "GET /"), stats_key("a", "c", "GET /"));
    }
}
