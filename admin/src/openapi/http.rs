//! HTTP APIs (`apigatewayv2`): a definition becomes a plan of `CreateApi`, `CreateAuthorizer`,
//! `CreateIntegration` and `CreateRoute` inputs, run inside one [`Catalog::atomically`];
//! `ExportApi` writes the routes back.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{
    input, method_of, operation_key, path_variables, put_some, scalar_string, security_requirement,
    string_map, Document, ImportOptions, Warnings, EXT, OPERATIONS,
};
use crate::catalog::{ApiState, Catalog};
use crate::error::ApiError;
use crate::records::{
    ApiInput, ApiRecord, AuthorizerInput, AuthorizerRecord, IntegrationInput, IntegrationRecord,
    RouteInput,
};
use crate::Endpoint;
use portico_shared::model::{AuthorizationType, AuthorizerType, ProtocolType};

/// The root-level extensions an HTTP API import honours.
const ROOT_EXTENSIONS: [&str; 3] = ["cors", "importexport-version", "endpoint-configuration"];

/// Root-level extensions that only REST APIs have.
const REST_ONLY: [&str; 8] = [
    "api-key-source",
    "binary-media-types",
    "minimum-compression-size",
    "policy",
    "gateway-responses",
    "request-validators",
    "request-validator",
    "documentation",
];

/// What an import creates.
#[derive(Debug)]
pub(crate) struct Plan {
    api: Value,
    authorizers: Vec<(String, Value)>,
    /// `CreateIntegration` inputs; routes name them by index.
    integrations: Vec<Value>,
    routes: Vec<RoutePlan>,
    warnings: Warnings,
}

#[derive(Debug)]
struct RoutePlan {
    /// `CreateRoute` input without `authorizerId` and `target`.
    route: Value,
    authorizer: Option<String>,
    integration: Option<usize>,
}

/// How a security scheme applies to the routes that name it.
#[derive(Debug, Clone)]
enum Scheme {
    /// An authorizer: `JWT` or `CUSTOM` (a Lambda `REQUEST` authorizer).
    Authorizer(&'static str),
    Iam,
    Unsupported,
}

// === plan ===

/// Turns a definition into a plan (and its warnings); nothing is touched.
pub(crate) fn plan(doc: &Document, opts: &ImportOptions) -> Result<Plan, ApiError> {
    let mut w = Warnings::default();
    let Some(name) = doc.info("title") else {
        return Err(ApiError::BadRequest(
            "info.title is required: it names the API".into(),
        ));
    };
    let known: Vec<&str> = ROOT_EXTENSIONS
        .iter()
        .chain(REST_ONLY.iter())
        .copied()
        .collect();
    w.unknown_extensions("the definition", &doc.root, &known);
    for ext in REST_ONLY {
        if doc.ext(ext).is_some() {
            w.push(format!(
                "x-amazon-apigateway-{ext} applies to REST APIs; ignored"
            ));
        }
    }
    if let Some(v) = doc.ext("importexport-version").and_then(scalar_string) {
        if v != "1.0" {
            w.push(format!(
                "x-amazon-apigateway-importexport-version {v}: only 1.0 is known; read as 1.0"
            ));
        }
    }
    let mut api = Map::new();
    api.insert("name".into(), json!(name));
    api.insert("protocolType".into(), json!("HTTP"));
    if let Some(d) = doc.info("description") {
        api.insert("description".into(), json!(d));
    }
    if let Some(v) = doc.info("version") {
        api.insert("version".into(), json!(v));
    }
    if let Some(c) = doc.ext("cors") {
        api.insert("corsConfiguration".into(), c.clone());
    }
    if let Some(e) = doc.ext("endpoint-configuration").and_then(Value::as_object) {
        for (k, v) in e {
            if k == "disableExecuteApiEndpoint" {
                api.insert("disableExecuteApiEndpoint".into(), v.clone());
            } else {
                w.push(format!(
                    "x-amazon-apigateway-endpoint-configuration.{k} is not supported for HTTP APIs; ignored"
                ));
            }
        }
    }
    let tags = doc.tags();
    if !tags.is_empty() {
        api.insert("tags".into(), json!(tags));
    }

    let (schemes, authorizers) = plan_schemes(doc, &mut w);

    let mut integrations: Vec<Value> = Vec::new();
    let mut shared: BTreeMap<String, usize> = BTreeMap::new();
    let mut routes = Vec::new();
    let paths = doc.root.get("paths").and_then(Value::as_object);
    for (raw_path, item) in paths.into_iter().flatten() {
        if !raw_path.starts_with('/') {
            return Err(ApiError::BadRequest(format!(
                "paths: '{raw_path}' must start with /"
            )));
        }
        let Some(item) = doc.resolve(item).as_object() else {
            return Err(ApiError::BadRequest(format!(
                "paths.{raw_path} must be an object"
            )));
        };
        let path = doc.full_path(raw_path, opts.basepath);
        for (key, op) in item {
            let at = format!("paths.{raw_path}.{key}");
            if key == "trace" {
                w.push(format!("{at}: TRACE routes are not supported; ignored"));
                continue;
            }
            if !OPERATIONS.contains(&key.as_str()) {
                if key.starts_with(EXT) {
                    w.push(format!(
                        "paths.{raw_path}: extension {key} is not supported here; ignored"
                    ));
                }
                continue;
            }
            let Some(op) = doc.resolve(op).as_object() else {
                return Err(ApiError::BadRequest(format!("{at} must be an object")));
            };
            w.unknown_extensions(&at, op, &["integration", "auth"]);
            let method = method_of(key).to_ascii_uppercase();
            let route_key = if raw_path == "/$default" {
                if method != "ANY" {
                    w.push(format!(
                        "{at}: the $default route takes every method; imported as $default"
                    ));
                }
                "$default".to_string()
            } else {
                format!("{method} {path}")
            };
            let mut route = Map::new();
            route.insert("routeKey".into(), json!(route_key));
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                route.insert("operationName".into(), json!(id));
            }
            let mut authorization_type = "NONE";
            let mut authorizer = None;
            for (scheme, scopes) in security_requirement(doc, op, &at, &mut w) {
                match schemes.get(&scheme) {
                    Some(Scheme::Authorizer(t)) => {
                        authorization_type = t;
                        if !scopes.is_empty() {
                            route.insert("authorizationScopes".into(), json!(scopes));
                        }
                        authorizer = Some(scheme);
                    }
                    Some(Scheme::Iam) => authorization_type = "AWS_IAM",
                    Some(Scheme::Unsupported) => {}
                    None => w.push(format!(
                        "{at}: security names '{scheme}', which no security scheme defines; ignored"
                    )),
                }
            }
            let auth_ext = op
                .get(&format!("{EXT}auth"))
                .and_then(|a| a.get("type"))
                .and_then(scalar_string)
                .map(|t| t.to_ascii_uppercase());
            let authorization_type = auth_ext.unwrap_or_else(|| authorization_type.to_string());
            route.insert("authorizationType".into(), json!(authorization_type));
            let integration = match op.get(&format!("{EXT}integration")) {
                None => {
                    w.push(format!("{at}: no x-amazon-apigateway-integration; the route is imported without a target"));
                    None
                }
                Some(i) => {
                    let reference = i.get("$ref").and_then(Value::as_str).map(str::to_string);
                    match reference.as_ref().and_then(|r| shared.get(r)) {
                        Some(&n) => Some(n),
                        None => {
                            let input = plan_integration(
                                &format!("{at}.x-amazon-apigateway-integration"),
                                doc.resolve(i),
                                &mut w,
                            )?;
                            integrations.push(input);
                            let n = integrations.len() - 1;
                            if let Some(r) = reference {
                                shared.insert(r, n);
                            }
                            Some(n)
                        }
                    }
                }
            };
            routes.push(RoutePlan {
                route: Value::Object(route),
                authorizer,
                integration,
            });
        }
    }
    w.check(opts.fail_on_warnings)?;
    Ok(Plan {
        api: Value::Object(api),
        authorizers,
        integrations,
        routes,
        warnings: w,
    })
}

/// Security schemes with `x-amazon-apigateway-authorizer` (`jwt`, `request`) become
/// authorizers; `awsSigv4` is IAM authorization.
fn plan_schemes(
    doc: &Document,
    w: &mut Warnings,
) -> (BTreeMap<String, Scheme>, Vec<(String, Value)>) {
    let mut schemes = BTreeMap::new();
    let mut authorizers = Vec::new();
    for (name, s) in doc.security_schemes() {
        let at = format!("security scheme '{name}'");
        let authtype = s.get(format!("{EXT}authtype")).and_then(scalar_string);
        let Some(a) = s.get(format!("{EXT}authorizer")).and_then(Value::as_object) else {
            if authtype
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4"))
            {
                schemes.insert(name, Scheme::Iam);
            } else {
                let t = s.get("type").and_then(Value::as_str).unwrap_or("?");
                w.push(format!(
                    "{at} (type {t}) has no x-amazon-apigateway-authorizer; routes that name it are imported without it"
                ));
                schemes.insert(name, Scheme::Unsupported);
            }
            continue;
        };
        let kind = a
            .get("type")
            .and_then(scalar_string)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut input = Map::new();
        input.insert("name".into(), json!(name));
        let identity: Option<Vec<String>> = match a.get("identitySource") {
            Some(Value::String(s)) => Some(
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
            ),
            Some(Value::Array(list)) => Some(list.iter().filter_map(scalar_string).collect()),
            _ => None,
        };
        let route_type = match kind.as_str() {
            "jwt" => {
                input.insert("authorizerType".into(), json!("JWT"));
                if let Some(j) = a.get("jwtConfiguration") {
                    input.insert("jwtConfiguration".into(), j.clone());
                }
                input.insert(
                    "identitySource".into(),
                    json!(identity.unwrap_or_else(|| vec!["$request.header.Authorization".into()])),
                );
                "JWT"
            }
            "request" => {
                input.insert("authorizerType".into(), json!("REQUEST"));
                put_some(&mut input, "identitySource", identity);
                for (member, target) in [
                    ("authorizerUri", "authorizerUri"),
                    ("authorizerCredentials", "authorizerCredentialsArn"),
                    (
                        "authorizerPayloadFormatVersion",
                        "authorizerPayloadFormatVersion",
                    ),
                ] {
                    if let Some(v) = a.get(member).and_then(scalar_string) {
                        input.insert(target.into(), json!(v));
                    }
                }
                for member in ["enableSimpleResponses", "authorizerResultTtlInSeconds"] {
                    if let Some(v) = a.get(member) {
                        input.insert(member.into(), v.clone());
                    }
                }
                "CUSTOM"
            }
            other => {
                w.push(format!(
                    "{at}: authorizer type '{other}' is not supported for HTTP APIs (use jwt or request); ignored"
                ));
                schemes.insert(name, Scheme::Unsupported);
                continue;
            }
        };
        for k in a.keys() {
            if ![
                "type",
                "jwtConfiguration",
                "identitySource",
                "authorizerUri",
                "authorizerCredentials",
                "authorizerPayloadFormatVersion",
                "enableSimpleResponses",
                "authorizerResultTtlInSeconds",
            ]
            .contains(&k.as_str())
            {
                w.push(format!(
                    "{at}: authorizer member {k} is not supported; ignored"
                ));
            }
        }
        schemes.insert(name.clone(), Scheme::Authorizer(route_type));
        authorizers.push((name, Value::Object(input)));
    }
    (schemes, authorizers)
}

/// `x-amazon-apigateway-integration` as a `CreateIntegration` input.
fn plan_integration(at: &str, i: &Value, w: &mut Warnings) -> Result<Value, ApiError> {
    let Some(obj) = i.as_object() else {
        return Err(ApiError::BadRequest(format!("{at} must be an object")));
    };
    let mut input = Map::new();
    for (k, v) in obj {
        let s = scalar_string(v);
        match (k.as_str(), s) {
            ("type", Some(s)) => {
                input.insert("integrationType".into(), json!(s.to_ascii_uppercase()));
            }
            ("httpMethod", Some(s)) => {
                input.insert("integrationMethod".into(), json!(s.to_ascii_uppercase()));
            }
            ("uri", Some(s)) => {
                input.insert("integrationUri".into(), json!(s));
            }
            ("connectionType", Some(s)) => {
                input.insert("connectionType".into(), json!(s.to_ascii_uppercase()));
            }
            ("credentials", Some(s)) => {
                input.insert("credentialsArn".into(), json!(s));
            }
            (
                m
                @ ("payloadFormatVersion" | "connectionId" | "integrationSubtype" | "description"),
                Some(s),
            ) => {
                input.insert(m.into(), json!(s));
            }
            ("timeoutInMillis", _) => {
                input.insert("timeoutInMillis".into(), v.clone());
            }
            ("requestParameters", _) => {
                if let Some(m) = string_map(Some(v), &format!("{at}.requestParameters"), w) {
                    input.insert("requestParameters".into(), json!(m));
                }
            }
            ("responseParameters", _) => {
                let mut out = BTreeMap::new();
                for (code, m) in v.as_object().into_iter().flatten() {
                    if let Some(m) = string_map(Some(m), &format!("{at}.responseParameters"), w) {
                        out.insert(code.clone(), m);
                    }
                }
                input.insert("responseParameters".into(), json!(out));
            }
            (
                m @ ("requestTemplates"
                | "passthroughBehavior"
                | "templateSelectionExpression"
                | "contentHandling"
                | "responses"),
                _,
            ) => w.push(format!(
                "{at}.{m} applies to REST and WebSocket APIs; ignored"
            )),
            (other, _) => w.push(format!("{at}.{other} is not supported by Portico; ignored")),
        }
    }
    Ok(Value::Object(input))
}

// === apply ===

/// `ImportApi`: a new HTTP API from the plan, all or nothing.
pub(crate) fn import(c: &mut Catalog, plan: Plan) -> Result<(ApiRecord, Vec<String>), ApiError> {
    let record = c.atomically(|c| {
        let api = c.create_api(input::<ApiInput>("the API", &plan.api)?)?;
        populate(c, &api.api_id, &plan)?;
        Ok(c.api(&api.api_id)?.api.clone())
    })?;
    Ok((record, plan.warnings.into_vec()))
}

/// `ReimportApi`: the API's routes, integrations and authorizers are replaced by the
/// definition's; its stages and deployments stay (an auto-deploying stage deploys the result).
pub(crate) fn reimport(
    c: &mut Catalog,
    id: &str,
    plan: Plan,
) -> Result<(ApiRecord, Vec<String>), ApiError> {
    let state = c.api(id)?.clone();
    if state.api.protocol_type != ProtocolType::Http {
        return Err(ApiError::BadRequest(
            "ReimportApi is supported only for HTTP APIs".into(),
        ));
    }
    let record = c.atomically(|c| {
        for r in state.routes.keys() {
            c.delete_route(id, r)?;
        }
        for i in state.integrations.keys() {
            c.delete_integration(id, i)?;
        }
        for a in state.authorizers.keys() {
            c.delete_authorizer(id, a)?;
        }
        let mut update = plan.api.clone();
        if let Some(obj) = update.as_object_mut() {
            obj.remove("protocolType");
            obj.remove("tags");
        }
        if state.api.cors_configuration.is_some() && plan.api.get("corsConfiguration").is_none() {
            c.delete_cors(id)?;
        }
        c.update_api(id, input::<ApiInput>("the API", &update)?)?;
        populate(c, id, &plan)?;
        Ok(c.api(id)?.api.clone())
    })?;
    Ok((record, plan.warnings.into_vec()))
}

/// Creates the plan's authorizers, integrations and routes under the API `id`.
fn populate(c: &mut Catalog, id: &str, plan: &Plan) -> Result<(), ApiError> {
    let mut authorizers = BTreeMap::new();
    for (name, a) in &plan.authorizers {
        let created = c.create_authorizer(
            id,
            input::<AuthorizerInput>(&format!("authorizer {name}"), a)?,
        )?;
        authorizers.insert(name.clone(), created.authorizer_id);
    }
    let mut integrations = Vec::with_capacity(plan.integrations.len());
    for (n, i) in plan.integrations.iter().enumerate() {
        let created = c.create_integration(
            id,
            input::<IntegrationInput>(&format!("integration {n}"), i)?,
        )?;
        integrations.push(created.integration_id);
    }
    for r in &plan.routes {
        let mut route = r.route.clone();
        let at = route
            .get("routeKey")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(obj) = route.as_object_mut() {
            if let Some(a) = r.authorizer.as_ref().and_then(|a| authorizers.get(a)) {
                obj.insert("authorizerId".into(), json!(a));
            }
            if let Some(i) = r.integration.and_then(|n| integrations.get(n)) {
                obj.insert("target".into(), json!(format!("integrations/{i}")));
            }
        }
        c.create_route(id, input::<RouteInput>(&at, &route)?)?;
    }
    Ok(())
}

// === export ===

/// `ExportApi`: the API's routes as OpenAPI 3.0; `include` adds AWS's extensions.
pub(crate) fn export(
    state: &ApiState,
    stage: Option<&str>,
    include: bool,
    endpoint: &Endpoint,
) -> Result<Value, ApiError> {
    let api = &state.api;
    if api.protocol_type != ProtocolType::Http {
        return Err(ApiError::BadRequest(
            "ExportApi is supported only for HTTP APIs".into(),
        ));
    }
    let deployed;
    let state = match stage {
        Some(s) => {
            deployed = deployed_view(state, s)?;
            &deployed
        }
        None => state,
    };
    let mut root = Map::new();
    root.insert("openapi".into(), json!("3.0.1"));
    let mut info = Map::new();
    info.insert("title".into(), json!(api.name));
    put_some(&mut info, "description", api.description.as_ref());
    info.insert(
        "version".into(),
        json!(api
            .version
            .clone()
            .unwrap_or_else(|| api.created_date.clone())),
    );
    root.insert("info".into(), Value::Object(info));
    let base = stage.filter(|s| *s != "$default").unwrap_or("");
    root.insert(
        "servers".into(),
        json!([{
            "url": format!("http://{}.{}:{}/{{basePath}}", api.api_id, endpoint.domain, endpoint.port),
            "variables": {"basePath": {"default": base}}
        }]),
    );
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut uses_iam = false;
    for r in state.routes.values() {
        let (path, key) = if r.route_key == "$default" {
            ("/$default".to_string(), operation_key("ANY"))
        } else {
            let Some((method, path)) = r.route_key.split_once(' ') else {
                continue;
            };
            (path.to_string(), operation_key(method))
        };
        let mut op = Map::new();
        put_some(&mut op, "operationId", r.operation_name.as_ref());
        let params: Vec<Value> = path_variables(&path)
            .into_iter()
            .map(|v| json!({"name": v, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), json!(params));
        }
        op.insert(
            "responses".into(),
            json!({"default": {"description": format!("Default response for {}", r.route_key)}}),
        );
        let mut requirement = Map::new();
        match r.authorization_type {
            AuthorizationType::Jwt | AuthorizationType::Custom => {
                if let Some(a) = r
                    .authorizer_id
                    .as_deref()
                    .and_then(|id| state.authorizers.get(id))
                {
                    requirement.insert(
                        a.name.clone(),
                        json!(r.authorization_scopes.clone().unwrap_or_default()),
                    );
                }
            }
            AuthorizationType::AwsIam => {
                uses_iam = true;
                requirement.insert("sigv4".into(), json!([]));
            }
            AuthorizationType::None | AuthorizationType::CognitoUserPools => {}
        }
        if !requirement.is_empty() {
            op.insert("security".into(), json!([requirement]));
        }
        if include {
            if let Some(i) = r
                .target
                .as_deref()
                .and_then(|t| t.strip_prefix("integrations/"))
                .and_then(|id| state.integrations.get(id))
            {
                op.insert(format!("{EXT}integration"), export_integration(i));
            }
        }
        paths
            .entry(path)
            .or_default()
            .insert(key, Value::Object(op));
    }
    root.insert("paths".into(), json!(paths));
    let mut security = Map::new();
    for a in state.authorizers.values() {
        security.insert(a.name.clone(), export_authorizer(a, include));
    }
    if uses_iam {
        let mut s = json!({"type": "apiKey", "name": "Authorization", "in": "header"});
        if include {
            s[format!("{EXT}authtype")] = json!("awsSigv4");
        }
        security.insert("sigv4".into(), s);
    }
    if !security.is_empty() {
        root.insert("components".into(), json!({ "securitySchemes": security }));
    }
    if include {
        if let Some(c) = &api.cors_configuration {
            root.insert(format!("{EXT}cors"), json!(c));
        }
        root.insert(format!("{EXT}importexport-version"), json!("1.0"));
        if api.disable_execute_api_endpoint {
            root.insert(
                format!("{EXT}endpoint-configuration"),
                json!({"disableExecuteApiEndpoint": true}),
            );
        }
        if !api.tags.is_empty() {
            let tags: Vec<Value> = api
                .tags
                .iter()
                .map(|(k, v)| json!({"name": k, format!("{EXT}tag-value"): v}))
                .collect();
            root.insert("tags".into(), json!(tags));
        }
    }
    Ok(Value::Object(root))
}

/// The API as the stage serves it: the routes and integrations its deployment froze (a stage
/// with no deployment serves nothing); the records' other members (operation names, the
/// authorizers) are the API's.
fn deployed_view(state: &ApiState, stage: &str) -> Result<ApiState, ApiError> {
    let record = state.stage(stage)?;
    let mut view = state.clone();
    let Some(d) = record.deployment_id.as_deref() else {
        view.routes = Default::default();
        view.integrations = Default::default();
        return Ok(view);
    };
    let content = &state.deployment(d)?.content;
    let mut routes = BTreeMap::new();
    for r in &content.routes {
        let current = state.routes.get(&r.route_id);
        let v = overlay(
            json!({
                "apiGatewayManaged": false,
                "apiKeyRequired": false,
                "authorizationType": if r.authorizer_id.is_some() { "JWT" } else { "NONE" },
                "operationName": current.and_then(|c| c.operation_name.clone()),
            }),
            json!(r),
        );
        let mut route: crate::records::RouteRecord = input("deployed route", &v)?;
        if let Some(c) = current.filter(|c| c.authorizer_id == route.authorizer_id) {
            route.authorization_type = c.authorization_type;
        }
        routes.insert(route.route_id.clone(), route);
    }
    let mut integrations = BTreeMap::new();
    for i in &content.integrations {
        let v = overlay(
            json!({
                "apiGatewayManaged": false,
                "connectionType": "INTERNET",
                "integrationMethod": "ANY",
                "payloadFormatVersion": "1.0",
                "timeoutInMillis": portico_shared::limits::INTEGRATION_TIMEOUT_DEFAULT_MS,
            }),
            json!(i),
        );
        let record: IntegrationRecord = input("deployed integration", &v)?;
        integrations.insert(record.integration_id.clone(), record);
    }
    // Authorizers deleted since: as the deployment froze them, named by their id.
    let mut authorizers = (*view.authorizers).clone();
    for a in &content.authorizers {
        authorizers
            .entry(a.authorizer_id.clone())
            .or_insert_with(|| AuthorizerRecord {
                authorizer_id: a.authorizer_id.clone(),
                authorizer_type: if a.lambda.is_some() {
                    AuthorizerType::Request
                } else {
                    AuthorizerType::Jwt
                },
                identity_source: vec![a.identity_source.clone()],
                jwt_configuration: crate::records::JwtConfiguration {
                    audience: Some(a.audience.clone()),
                    issuer: Some(a.issuer.clone()),
                    jwks_uri: a.jwks_uri.clone(),
                },
                name: a.authorizer_id.clone(),
                authorizer_uri: None,
                authorizer_credentials_arn: None,
                authorizer_payload_format_version: None,
                authorizer_result_ttl_in_seconds: None,
                enable_simple_responses: None,
            });
    }
    view.authorizers = std::sync::Arc::new(authorizers);
    view.routes = std::sync::Arc::new(routes);
    view.integrations = std::sync::Arc::new(integrations);
    Ok(view)
}

/// `v`'s members over `defaults` (absent and null members keep the default).
fn overlay(mut defaults: Value, v: Value) -> Value {
    for (k, v) in v.as_object().into_iter().flatten() {
        if !v.is_null() {
            defaults[k] = v.clone();
        }
    }
    defaults
}

fn export_integration(i: &IntegrationRecord) -> Value {
    let mut v = Map::new();
    v.insert(
        "type".into(),
        json!(i.integration_type.as_str().to_ascii_lowercase()),
    );
    if !i.integration_uri.is_empty() {
        v.insert("uri".into(), json!(i.integration_uri));
    }
    v.insert("httpMethod".into(), json!(i.integration_method));
    v.insert(
        "payloadFormatVersion".into(),
        json!(i.payload_format_version),
    );
    v.insert("connectionType".into(), json!(i.connection_type));
    put_some(&mut v, "connectionId", i.connection_id.as_ref());
    put_some(&mut v, "credentials", i.credentials_arn.as_ref());
    put_some(&mut v, "integrationSubtype", i.integration_subtype.as_ref());
    put_some(&mut v, "description", i.description.as_ref());
    put_some(&mut v, "requestParameters", i.request_parameters.as_ref());
    put_some(&mut v, "responseParameters", i.response_parameters.as_ref());
    v.insert("timeoutInMillis".into(), json!(i.timeout_in_millis));
    Value::Object(v)
}

fn export_authorizer(a: &AuthorizerRecord, include: bool) -> Value {
    let mut s = if a.authorizer_type == AuthorizerType::Jwt {
        json!({"type": "oauth2", "flows": {}})
    } else {
        let header = a
            .identity_source
            .first()
            .and_then(|s| s.strip_prefix("$request.header."))
            .unwrap_or("Unused");
        json!({"type": "apiKey", "name": header, "in": "header"})
    };
    if include {
        let mut v = Map::new();
        v.insert("identitySource".into(), json!(a.identity_source.join(", ")));
        if a.authorizer_type == AuthorizerType::Jwt {
            v.insert("type".into(), json!("jwt"));
            v.insert("jwtConfiguration".into(), json!(a.jwt_configuration));
        } else {
            v.insert("type".into(), json!("request"));
            put_some(&mut v, "authorizerUri", a.authorizer_uri.as_ref());
            put_some(
                &mut v,
                "authorizerCredentials",
                a.authorizer_credentials_arn.as_ref(),
            );
            put_some(
                &mut v,
                "authorizerPayloadFormatVersion",
                a.authorizer_payload_format_version.as_ref(),
            );
            put_some(
                &mut v,
                "authorizerResultTtlInSeconds",
                a.authorizer_result_ttl_in_seconds,
            );
            put_some(&mut v, "enableSimpleResponses", a.enable_simple_responses);
        }
        s[format!("{EXT}authorizer")] = Value::Object(v);
    }
    s
}
