//! REST APIs (`apigateway` v1): a definition becomes a plan of `CreateRestApi`, `CreateModel`,
//! `CreateRequestValidator`, `CreateAuthorizer`, `PutGatewayResponse`, `CreateResource`,
//! `PutMethod`, `PutMethodResponse`, `PutIntegration` and `PutIntegrationResponse` inputs, run
//! inside one [`Catalog::atomically`]; `GetExport` writes a stage's deployment back.

use std::collections::{BTreeMap, BTreeSet};

use portico_shared::model::rest::{Authorizer, Method, Resource};
use portico_shared::model::{AuthorizationType, AuthorizerType, ConnectionType};
use serde_json::{json, Map, Value};

use super::{
    input, method_of, operation_key, path_variables, put_some, scalar_string, security_requirement,
    string_map, Document, Flavor, ImportOptions, Warnings, EXT, OPERATIONS,
};
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::v1::records::{
    AuthorizerInput, GatewayResponseInput, IntegrationInput, IntegrationResponseInput, MethodInput,
    MethodResponseInput, ModelInput, RequestValidatorInput, ResourceInput, RestApiInput,
    RestApiRecord,
};
use crate::v1::{PatchInput, RestApiState};
use crate::Endpoint;

/// The root-level extensions a REST import honours.
const ROOT_EXTENSIONS: [&str; 9] = [
    "api-key-source",
    "binary-media-types",
    "minimum-compression-size",
    "policy",
    "endpoint-configuration",
    "gateway-responses",
    "request-validators",
    "request-validator",
    "importexport-version",
];

/// The operation-level extensions a REST import honours.
const OPERATION_EXTENSIONS: [&str; 3] = ["integration", "auth", "request-validator"];

/// What an import creates, in the ordinary operations' input shapes.
#[derive(Debug)]
pub(crate) struct Plan {
    api: Value,
    models: Vec<(String, Value)>,
    validators: Vec<(String, Value)>,
    authorizers: Vec<(String, Value)>,
    gateway_responses: Vec<(String, Value)>,
    methods: Vec<MethodPlan>,
    warnings: Warnings,
}

/// One method and what hangs off it.
#[derive(Debug)]
struct MethodPlan {
    path: String,
    http_method: String,
    /// `PutMethod` input without `authorizerId` and `requestValidatorId` (named below).
    method: Value,
    authorizer: Option<String>,
    validator: Option<String>,
    responses: Vec<(String, Value)>,
    integration: Option<Value>,
    integration_responses: Vec<(String, Value)>,
}

/// How a security scheme applies to the methods that name it.
#[derive(Debug, Clone)]
enum Scheme {
    /// `x-amazon-apigateway-authorizer`: an authorizer of that name; `true` for Cognito.
    Authorizer(bool),
    /// `x-amazon-apigateway-authtype: awsSigv4`.
    Iam,
    /// An `apiKey` scheme in the `x-api-key` header: the method requires an API key.
    ApiKey,
    /// Anything else: named in a warning.
    Unsupported,
}

/// `GetExport`'s `extensions`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExportExtensions {
    /// `integrations` or `apigateway`: every `x-amazon-apigateway-*` extension.
    apigateway: bool,
    /// `authorizers`: the authorizers' extensions only.
    authorizers: bool,
}

// === plan ===

/// Turns a definition into a plan (and its warnings); nothing is touched.
pub(crate) fn plan(
    doc: &Document,
    opts: &ImportOptions,
    endpoint_types: Option<String>,
) -> Result<Plan, ApiError> {
    let mut w = Warnings::default();
    let Some(name) = doc.info("title") else {
        return Err(ApiError::BadRequest(
            "info.title is required: it names the API".into(),
        ));
    };
    w.unknown_extensions("the definition", &doc.root, &ROOT_EXTENSIONS);
    if doc.ext("cors").is_some() {
        w.push("x-amazon-apigateway-cors applies to HTTP APIs; a REST API answers CORS with OPTIONS methods; ignored");
    }
    let mut api = Map::new();
    api.insert("name".into(), json!(name));
    if let Some(d) = doc.info("description") {
        api.insert("description".into(), json!(d));
    }
    if let Some(v) = doc.info("version") {
        api.insert("version".into(), json!(v));
    }
    if let Some(s) = doc.ext("api-key-source").and_then(scalar_string) {
        api.insert("apiKeySource".into(), json!(s.to_ascii_uppercase()));
    }
    if let Some(t) = doc.ext("binary-media-types") {
        api.insert("binaryMediaTypes".into(), t.clone());
    }
    if let Some(n) = doc.ext("minimum-compression-size") {
        api.insert("minimumCompressionSize".into(), n.clone());
    }
    match doc.ext("policy") {
        Some(Value::String(p)) => {
            api.insert("policy".into(), json!(p));
        }
        Some(p @ Value::Object(_)) => {
            api.insert("policy".into(), json!(p.to_string()));
        }
        Some(_) => w.push("x-amazon-apigateway-policy must be a policy document; ignored"),
        None => {}
    }
    let mut endpoint = Map::new();
    if let Some(types) = endpoint_types {
        let list: Vec<String> = types
            .split(',')
            .map(|t| t.trim().to_ascii_uppercase())
            .filter(|t| !t.is_empty())
            .collect();
        endpoint.insert("types".into(), json!(list));
    }
    if let Some(e) = doc
        .ext("endpoint-configuration")
        .and_then(|v| v.as_object())
    {
        for (k, v) in e {
            match k.as_str() {
                "disableExecuteApiEndpoint" => {
                    api.insert("disableExecuteApiEndpoint".into(), v.clone());
                }
                "vpcEndpointIds" => {
                    endpoint.insert("vpcEndpointIds".into(), v.clone());
                }
                "ipAddressType" => {
                    endpoint.insert("ipAddressType".into(), v.clone());
                }
                other => w.push(format!(
                    "x-amazon-apigateway-endpoint-configuration.{other} is not supported; ignored"
                )),
            }
        }
    }
    if !endpoint.is_empty() {
        endpoint.entry("types").or_insert_with(|| json!(["EDGE"]));
        api.insert("endpointConfiguration".into(), Value::Object(endpoint));
    }
    let tags = doc.tags();
    if !tags.is_empty() {
        api.insert("tags".into(), json!(tags));
    }
    if doc.root.contains_key(&format!("{EXT}documentation")) {
        w.push("x-amazon-apigateway-documentation: documentation parts are not stored by Portico; ignored");
    }

    let models = plan_models(doc, &mut w);
    let model_names: BTreeSet<&str> = models.iter().map(|(n, _)| n.as_str()).collect();

    let mut validators = Vec::new();
    if let Some(v) = doc.ext("request-validators").and_then(Value::as_object) {
        for (name, spec) in v {
            let mut input = Map::new();
            input.insert("name".into(), json!(name));
            for member in ["validateRequestBody", "validateRequestParameters"] {
                if let Some(b) = spec.get(member).and_then(Value::as_bool) {
                    input.insert(member.into(), json!(b));
                }
            }
            validators.push((name.clone(), Value::Object(input)));
        }
    }
    let default_validator = doc.ext("request-validator").and_then(scalar_string);
    if let Some(d) = &default_validator {
        if !validators.iter().any(|(n, _)| n == d) {
            return Err(ApiError::BadRequest(format!(
                "x-amazon-apigateway-request-validator names '{d}', which x-amazon-apigateway-request-validators does not define"
            )));
        }
    }

    let (schemes, authorizers) = plan_schemes(doc, &mut w);

    let mut gateway_responses = Vec::new();
    if let Some(g) = doc.ext("gateway-responses").and_then(Value::as_object) {
        for (kind, spec) in g {
            let mut input = Map::new();
            if let Some(code) = spec.get("statusCode").and_then(scalar_string) {
                input.insert("statusCode".into(), json!(code));
            }
            let at = format!("x-amazon-apigateway-gateway-responses.{kind}");
            for member in ["responseParameters", "responseTemplates"] {
                if let Some(m) = string_map(spec.get(member), &at, &mut w) {
                    input.insert(member.into(), json!(m));
                }
            }
            gateway_responses.push((kind.clone(), Value::Object(input)));
        }
    }

    let mut methods = Vec::new();
    let paths = doc.root.get("paths").and_then(Value::as_object);
    for (raw_path, item) in paths.into_iter().flatten() {
        if !raw_path.starts_with('/') {
            return Err(ApiError::BadRequest(format!(
                "paths: '{raw_path}' must start with /"
            )));
        }
        let item = doc.resolve(item);
        let Some(item) = item.as_object() else {
            return Err(ApiError::BadRequest(format!(
                "paths.{raw_path} must be an object"
            )));
        };
        let path = doc.full_path(raw_path, opts.basepath);
        let shared_params: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|p| doc.resolve(p).clone()).collect())
            .unwrap_or_default();
        for (key, op) in item {
            if OPERATIONS.contains(&key.as_str()) {
                let at = format!("paths.{raw_path}.{key}");
                let op = doc.resolve(op);
                let Some(op) = op.as_object() else {
                    return Err(ApiError::BadRequest(format!("{at} must be an object")));
                };
                methods.push(plan_method(
                    doc,
                    &at,
                    &path,
                    &method_of(key).to_ascii_uppercase(),
                    op,
                    &shared_params,
                    (&schemes, &model_names, default_validator.as_deref()),
                    &mut w,
                )?);
            } else if key == "trace" {
                w.push(format!(
                    "paths.{raw_path}.trace: API Gateway has no TRACE methods; ignored"
                ));
            } else if key.starts_with(EXT) {
                w.push(format!(
                    "paths.{raw_path}: extension {key} is not supported here; ignored"
                ));
            }
        }
    }
    w.check(opts.fail_on_warnings)?;
    Ok(Plan {
        api: Value::Object(api),
        models,
        validators,
        authorizers,
        gateway_responses,
        methods,
        warnings: w,
    })
}

/// `definitions` (2.0) or `components.schemas` (3.0) as `application/json` models. A schema's
/// references to other schemas are kept inside it (`definitions`, `#/definitions/Name`), so
/// each model is a complete draft 4 document on its own.
fn plan_models(doc: &Document, w: &mut Warnings) -> Vec<(String, Value)> {
    let schemas = match doc.flavor {
        Flavor::Swagger2 => doc.root.get("definitions"),
        Flavor::OpenApi3 => doc.root.get("components").and_then(|c| c.get("schemas")),
    };
    let Some(schemas) = schemas.and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, schema) in schemas {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            w.push(format!(
                "schema '{name}': model names are alphanumeric; not imported as a model"
            ));
            continue;
        }
        let mut closure = BTreeSet::new();
        let mut body = schema.clone();
        localize_refs(&mut body, &mut closure);
        let mut pending: Vec<String> = closure.iter().cloned().collect();
        while let Some(n) = pending.pop() {
            if let Some(s) = schemas.get(&n) {
                let mut found = BTreeSet::new();
                localize_refs(&mut s.clone(), &mut found);
                for f in found {
                    if closure.insert(f.clone()) {
                        pending.push(f);
                    }
                }
            }
        }
        if !closure.is_empty() {
            let mut defs = Map::new();
            for n in &closure {
                if let Some(s) = schemas.get(n) {
                    let mut s = s.clone();
                    localize_refs(&mut s, &mut BTreeSet::new());
                    defs.insert(n.clone(), s);
                }
            }
            if let Some(obj) = body.as_object_mut() {
                obj.insert("definitions".into(), Value::Object(defs));
            }
        }
        out.push((
            name.clone(),
            json!({
                "name": name,
                "contentType": "application/json",
                "schema": body.to_string(),
            }),
        ));
    }
    out
}

/// Rewrites references to other schemas as `#/definitions/Name` and collects the names.
fn localize_refs(v: &mut Value, names: &mut BTreeSet<String>) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get_mut("$ref") {
                if let Some(n) = model_ref_name(r) {
                    names.insert(n.to_string());
                    *r = format!("#/definitions/{n}");
                }
            }
            for (k, child) in obj.iter_mut() {
                if k != "$ref" {
                    localize_refs(child, names);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| localize_refs(c, names)),
        _ => {}
    }
}

/// The model a schema reference names: `#/definitions/N`, `#/components/schemas/N`, or AWS's
/// `https://apigateway.amazonaws.com/restapis/{id}/models/N`.
fn model_ref_name(r: &str) -> Option<&str> {
    r.strip_prefix("#/definitions/")
        .or_else(|| r.strip_prefix("#/components/schemas/"))
        .or_else(|| {
            r.strip_prefix("https://apigateway.amazonaws.com/restapis/")
                .and_then(|rest| rest.split_once("/models/").map(|(_, n)| n))
        })
        .filter(|n| !n.contains('/'))
}

/// The security schemes: how each applies, and the authorizers to create.
fn plan_schemes(
    doc: &Document,
    w: &mut Warnings,
) -> (BTreeMap<String, Scheme>, Vec<(String, Value)>) {
    let mut schemes = BTreeMap::new();
    let mut authorizers = Vec::new();
    for (name, s) in doc.security_schemes() {
        let at = format!("security scheme '{name}'");
        let authtype = s.get(format!("{EXT}authtype")).and_then(scalar_string);
        if let Some(a) = s.get(format!("{EXT}authorizer")).and_then(Value::as_object) {
            let kind = a
                .get("type")
                .and_then(scalar_string)
                .unwrap_or_default()
                .to_ascii_uppercase();
            let kind = match kind.as_str() {
                "TOKEN" | "REQUEST" | "COGNITO_USER_POOLS" => kind,
                "JWT" => {
                    w.push(format!("{at}: JWT authorizers apply to HTTP APIs; ignored"));
                    schemes.insert(name.clone(), Scheme::Unsupported);
                    continue;
                }
                other => {
                    w.push(format!(
                        "{at}: authorizer type '{other}' is not supported; ignored"
                    ));
                    schemes.insert(name.clone(), Scheme::Unsupported);
                    continue;
                }
            };
            let mut input = Map::new();
            input.insert("name".into(), json!(name));
            input.insert("type".into(), json!(kind));
            put_some(&mut input, "authType", authtype.as_ref());
            for member in [
                "authorizerUri",
                "authorizerCredentials",
                "identityValidationExpression",
            ] {
                if let Some(v) = a.get(member).and_then(scalar_string) {
                    input.insert(member.into(), json!(v));
                }
            }
            if let Some(ttl) = a.get("authorizerResultTtlInSeconds") {
                input.insert("authorizerResultTtlInSeconds".into(), ttl.clone());
            }
            if let Some(p) = a.get("providerARNs") {
                input.insert("providerARNs".into(), p.clone());
            }
            let header = s.get("name").and_then(Value::as_str);
            match a.get("identitySource").and_then(scalar_string) {
                Some(src) => {
                    input.insert("identitySource".into(), json!(src));
                }
                None if kind != "REQUEST" => {
                    if let Some(h) = header {
                        input.insert(
                            "identitySource".into(),
                            json!(format!("method.request.header.{h}")),
                        );
                    }
                }
                None => {}
            }
            for k in a.keys() {
                if ![
                    "type",
                    "authorizerUri",
                    "authorizerCredentials",
                    "identitySource",
                    "identityValidationExpression",
                    "authorizerResultTtlInSeconds",
                    "providerARNs",
                ]
                .contains(&k.as_str())
                {
                    w.push(format!(
                        "{at}: authorizer member {k} is not supported; ignored"
                    ));
                }
            }
            schemes.insert(
                name.clone(),
                Scheme::Authorizer(kind == "COGNITO_USER_POOLS"),
            );
            authorizers.push((name.clone(), Value::Object(input)));
        } else if authtype
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4"))
        {
            schemes.insert(name.clone(), Scheme::Iam);
        } else if s.get("type").and_then(Value::as_str) == Some("apiKey")
            && s.get("in").and_then(Value::as_str) == Some("header")
            && s.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("x-api-key"))
        {
            schemes.insert(name.clone(), Scheme::ApiKey);
        } else {
            let t = s.get("type").and_then(Value::as_str).unwrap_or("?");
            w.push(format!(
                "{at} (type {t}) has no x-amazon-apigateway-authorizer and is not an x-api-key scheme; methods that name it are imported without it"
            ));
            schemes.insert(name.clone(), Scheme::Unsupported);
        }
    }
    (schemes, authorizers)
}

/// One operation.
#[allow(clippy::too_many_arguments)]
fn plan_method(
    doc: &Document,
    at: &str,
    path: &str,
    http_method: &str,
    op: &Map<String, Value>,
    shared_params: &[Value],
    (schemes, models, default_validator): (
        &BTreeMap<String, Scheme>,
        &BTreeSet<&str>,
        Option<&str>,
    ),
    w: &mut Warnings,
) -> Result<MethodPlan, ApiError> {
    w.unknown_extensions(at, op, &OPERATION_EXTENSIONS);
    let mut method = Map::new();
    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
        method.insert("operationName".into(), json!(id));
    }
    // Parameters: the operation's override the path's of the same name and place.
    let mut params: BTreeMap<(String, String), Value> = BTreeMap::new();
    let own: Vec<Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|p| doc.resolve(p).clone()).collect())
        .unwrap_or_default();
    for p in shared_params.iter().chain(own.iter()) {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let place = p
            .get("in")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        params.insert((place, name), p.clone());
    }
    let mut request_parameters = BTreeMap::new();
    let mut request_models = BTreeMap::new();
    let consumes = media_types(op.get("consumes").or(doc.root.get("consumes")));
    for ((place, name), p) in &params {
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        match place.as_str() {
            "path" => {
                // `{proxy+}`'s parameter is `method.request.path.proxy`.
                let name = name.trim_end_matches('+');
                request_parameters.insert(format!("method.request.path.{name}"), true);
            }
            "query" => {
                request_parameters.insert(format!("method.request.querystring.{name}"), required);
            }
            "header" => {
                request_parameters.insert(format!("method.request.header.{name}"), required);
            }
            "body" => match p.get("schema").and_then(schema_model(models)) {
                Some(m) => {
                    for ct in &consumes {
                        request_models.insert(ct.clone(), m.clone());
                    }
                }
                None => w.push(format!(
                    "{at}: body parameter '{name}' has an inline schema; define it under definitions to import it as a model"
                )),
            },
            other => w.push(format!(
                "{at}: parameter '{name}' in {other} is not supported; ignored"
            )),
        }
    }
    if let Some(body) = op.get("requestBody").map(|b| doc.resolve(b)) {
        for (ct, media) in body
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            match media.get("schema").and_then(schema_model(models)) {
                Some(m) => {
                    request_models.insert(ct.clone(), m);
                }
                None => w.push(format!(
                    "{at}: the {ct} request body has an inline schema; define it under components.schemas to import it as a model"
                )),
            }
        }
    }
    if !request_parameters.is_empty() {
        method.insert("requestParameters".into(), json!(request_parameters));
    }
    if !request_models.is_empty() {
        method.insert("requestModels".into(), json!(request_models));
    }

    // Security: the operation's requirement, else the document's.
    let mut authorization_type = "NONE".to_string();
    let mut authorizer = None;
    for (scheme, scopes) in security_requirement(doc, op, at, w) {
        match schemes.get(&scheme) {
            Some(Scheme::Authorizer(cognito)) => {
                authorization_type = if *cognito {
                    "COGNITO_USER_POOLS"
                } else {
                    "CUSTOM"
                }
                .into();
                if !scopes.is_empty() {
                    method.insert("authorizationScopes".into(), json!(scopes));
                }
                authorizer = Some(scheme);
            }
            Some(Scheme::Iam) => authorization_type = "AWS_IAM".into(),
            Some(Scheme::ApiKey) => {
                method.insert("apiKeyRequired".into(), json!(true));
            }
            Some(Scheme::Unsupported) => {}
            None => w.push(format!(
                "{at}: security names '{scheme}', which no security scheme defines; ignored"
            )),
        }
    }
    if let Some(t) = op
        .get(&format!("{EXT}auth"))
        .and_then(|a| a.get("type"))
        .and_then(scalar_string)
    {
        authorization_type = t.to_ascii_uppercase();
    }
    method.insert("authorizationType".into(), json!(authorization_type));
    let validator = op
        .get(&format!("{EXT}request-validator"))
        .and_then(scalar_string)
        .or_else(|| default_validator.map(str::to_string));

    // Method responses.
    let produces = media_types(op.get("produces").or(doc.root.get("produces")));
    let mut responses = Vec::new();
    for (code, r) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if code == "default" {
            continue;
        }
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            w.push(format!(
                "{at}: response '{code}' is not a status code; ignored"
            ));
            continue;
        }
        let r = doc.resolve(r);
        let mut input = Map::new();
        let headers: BTreeMap<String, bool> = r
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(h, _)| (format!("method.response.header.{h}"), false))
            .collect();
        if !headers.is_empty() {
            input.insert("responseParameters".into(), json!(headers));
        }
        let mut response_models = BTreeMap::new();
        match doc.flavor {
            Flavor::Swagger2 => {
                if let Some(m) = r.get("schema").and_then(schema_model(models)) {
                    for ct in &produces {
                        response_models.insert(ct.clone(), m.clone());
                    }
                }
            }
            Flavor::OpenApi3 => {
                for (ct, media) in r
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Some(m) = media.get("schema").and_then(schema_model(models)) {
                        response_models.insert(ct.clone(), m);
                    }
                }
            }
        }
        if !response_models.is_empty() {
            input.insert("responseModels".into(), json!(response_models));
        }
        responses.push((code.clone(), Value::Object(input)));
    }

    let (integration, integration_responses) = match op.get(&format!("{EXT}integration")) {
        Some(i) => {
            let (i, r) = plan_integration(
                &format!("{at}.x-amazon-apigateway-integration"),
                doc.resolve(i),
                w,
            )?;
            (Some(i), r)
        }
        None => (None, Vec::new()),
    };
    Ok(MethodPlan {
        path: path.to_string(),
        http_method: http_method.to_string(),
        method: Value::Object(method),
        authorizer,
        validator,
        responses,
        integration,
        integration_responses,
    })
}

/// `x-amazon-apigateway-integration` as `PutIntegration` and `PutIntegrationResponse` inputs.
fn plan_integration(
    at: &str,
    i: &Value,
    w: &mut Warnings,
) -> Result<(Value, Vec<(String, Value)>), ApiError> {
    let Some(obj) = i.as_object() else {
        return Err(ApiError::BadRequest(format!("{at} must be an object")));
    };
    let mut input = Map::new();
    let mut responses = Vec::new();
    for (k, v) in obj {
        match k.as_str() {
            "type"
            | "httpMethod"
            | "connectionType"
            | "passthroughBehavior"
            | "contentHandling" => {
                if let Some(s) = scalar_string(v) {
                    input.insert(k.clone(), json!(s.to_ascii_uppercase()));
                }
            }
            "uri" | "connectionId" | "credentials" | "cacheNamespace" => {
                if let Some(s) = scalar_string(v) {
                    input.insert(k.clone(), json!(s));
                }
            }
            "timeoutInMillis" => {
                input.insert(k.clone(), v.clone());
            }
            "cacheKeyParameters" => {
                input.insert(k.clone(), v.clone());
            }
            "requestParameters" | "requestTemplates" => {
                if let Some(m) = string_map(Some(v), &format!("{at}.{k}"), w) {
                    input.insert(k.clone(), json!(m));
                }
            }
            "responses" => {
                for (pattern, r) in v.as_object().into_iter().flatten() {
                    let Some(code) = r.get("statusCode").and_then(scalar_string) else {
                        return Err(ApiError::BadRequest(format!(
                            "{at}.responses.{pattern}: statusCode is required"
                        )));
                    };
                    let mut ir = Map::new();
                    if pattern != "default" {
                        ir.insert("selectionPattern".into(), json!(pattern));
                    }
                    let rat = format!("{at}.responses.{pattern}");
                    for member in ["responseParameters", "responseTemplates"] {
                        if let Some(m) = string_map(r.get(member), &rat, w) {
                            ir.insert(member.into(), json!(m));
                        }
                    }
                    if let Some(c) = r.get("contentHandling").and_then(scalar_string) {
                        ir.insert("contentHandling".into(), json!(c.to_ascii_uppercase()));
                    }
                    if responses.iter().any(|(c, _)| c == &code) {
                        w.push(format!(
                            "{at}.responses: two responses map to status {code}; the last one is kept"
                        ));
                        responses.retain(|(c, _)| c != &code);
                    }
                    responses.push((code, Value::Object(ir)));
                }
            }
            "payloadFormatVersion" | "integrationSubtype" => {
                w.push(format!("{at}.{k} applies to HTTP APIs; ignored"))
            }
            other => w.push(format!("{at}.{other} is not supported by Portico; ignored")),
        }
    }
    Ok((Value::Object(input), responses))
}

/// The model a schema names by reference, if it is one that is imported.
fn schema_model<'a>(models: &'a BTreeSet<&str>) -> impl Fn(&Value) -> Option<String> + 'a {
    move |s| {
        let r = s.get("$ref").and_then(Value::as_str)?;
        let n = model_ref_name(r)?;
        models.contains(n).then(|| n.to_string())
    }
}

/// `consumes`/`produces`, or `application/json`.
fn media_types(v: Option<&Value>) -> Vec<String> {
    let list: Vec<String> = v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    if list.is_empty() {
        vec!["application/json".into()]
    } else {
        list
    }
}

// === apply ===

/// `ImportRestApi`: a new API from the plan, all or nothing.
pub(crate) fn import(
    c: &mut Catalog,
    plan: Plan,
) -> Result<(RestApiRecord, Vec<String>), ApiError> {
    let record = c.atomically(|c| {
        let api = c.create_rest_api(input::<RestApiInput>("the API", &plan.api)?)?;
        populate(c, &api.id, &plan, false)?;
        Ok(c.rest().get(&api.id)?.api.clone())
    })?;
    Ok((record, plan.warnings.into_vec()))
}

/// `PutRestApi`: merges the plan into the API, or (`overwrite`) replaces its definition; its
/// stages and deployments stay.
pub(crate) fn put(
    c: &mut Catalog,
    id: &str,
    plan: Plan,
    overwrite: bool,
) -> Result<(RestApiRecord, Vec<String>), ApiError> {
    c.rest().get(id)?;
    let record = c.atomically(|c| {
        if overwrite {
            clear(c, id)?;
            let mut ops = Vec::new();
            for (member, path) in [
                ("name", "/name"),
                ("description", "/description"),
                ("version", "/version"),
            ] {
                if let Some(v) = plan.api.get(member).and_then(Value::as_str) {
                    ops.push(json!({"op": "replace", "path": path, "value": v}));
                }
            }
            if !ops.is_empty() {
                let patch: PatchInput = input("the API", &json!({ "patchOperations": ops }))?;
                c.update_rest_api(id, patch)?;
            }
        }
        populate(c, id, &plan, true)?;
        Ok(c.rest().get(id)?.api.clone())
    })?;
    Ok((record, plan.warnings.into_vec()))
}

/// Deletes an API's definition (`PutRestApi` with `mode=overwrite`): resources but the root,
/// the root's methods, gateway responses, models, validators and authorizers.
fn clear(c: &mut Catalog, id: &str) -> Result<(), ApiError> {
    let state = c.rest().get(id)?.clone();
    let root = state.api.root_resource_id.clone();
    for r in state.resources.values() {
        if r.parent_id.as_deref() == Some(root.as_str()) {
            c.delete_resource(id, &r.id)?;
        }
    }
    if let Some(r) = state.resources.get(&root) {
        for m in r.resource_methods.keys() {
            c.delete_method(id, &root, m)?;
        }
    }
    for t in state.gateway_responses.keys() {
        c.delete_gateway_response(id, t)?;
    }
    for n in state.models.keys() {
        c.delete_model(id, n)?;
    }
    for v in state.request_validators.keys() {
        c.delete_request_validator(id, v)?;
    }
    for a in state.authorizers.keys() {
        c.delete_rest_authorizer(id, a)?;
    }
    Ok(())
}

/// Creates the plan's parts under the API `id`. With `merge`, parts that exist by name (models,
/// validators, authorizers) are reused or updated and methods that exist are replaced.
fn populate(c: &mut Catalog, id: &str, plan: &Plan, merge: bool) -> Result<(), ApiError> {
    for (name, m) in &plan.models {
        let exists = c.rest().get(id)?.models.contains_key(name);
        if merge && exists {
            let schema = m.get("schema").and_then(Value::as_str).unwrap_or("{}");
            let patch: PatchInput = input(
                "model",
                &json!({"patchOperations": [{"op": "replace", "path": "/schema", "value": schema}]}),
            )?;
            c.update_model(id, name, patch)?;
        } else {
            c.create_model(id, input::<ModelInput>(&format!("model {name}"), m)?)?;
        }
    }
    let mut validators: BTreeMap<String, String> = c
        .rest()
        .get(id)?
        .request_validators
        .values()
        .filter_map(|v| v.name.clone().map(|n| (n, v.id.clone())))
        .collect();
    for (name, v) in &plan.validators {
        if validators.contains_key(name) {
            continue;
        }
        let created = c.create_request_validator(
            id,
            input::<RequestValidatorInput>(&format!("request validator {name}"), v)?,
        )?;
        validators.insert(name.clone(), created.id);
    }
    let mut authorizers: BTreeMap<String, String> = c
        .rest()
        .get(id)?
        .authorizers
        .values()
        .map(|a| (a.name.clone(), a.id.clone()))
        .collect();
    for (name, a) in &plan.authorizers {
        if authorizers.contains_key(name) {
            continue;
        }
        let created = c.create_rest_authorizer(
            id,
            input::<AuthorizerInput>(&format!("authorizer {name}"), a)?,
        )?;
        authorizers.insert(name.clone(), created.id);
    }
    for (kind, g) in &plan.gateway_responses {
        c.put_gateway_response(
            id,
            kind,
            input::<GatewayResponseInput>(&format!("gateway response {kind}"), g)?,
        )?;
    }
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    for m in &plan.methods {
        let resource = ensure_resource(c, id, &m.path, &mut paths)?;
        let at = format!("{} {}", m.http_method, m.path);
        let mut method = m.method.clone();
        if let Some(obj) = method.as_object_mut() {
            if let Some(a) = &m.authorizer {
                obj.insert("authorizerId".into(), json!(authorizers.get(a)));
            }
            if let Some(v) = &m.validator {
                let Some(vid) = validators.get(v) else {
                    return Err(ApiError::BadRequest(format!(
                        "{at}: request validator '{v}' is not defined in x-amazon-apigateway-request-validators"
                    )));
                };
                obj.insert("requestValidatorId".into(), json!(vid));
            }
        }
        let exists = c
            .rest()
            .get(id)?
            .resource(&resource)?
            .resource_methods
            .contains_key(&m.http_method);
        if exists {
            c.delete_method(id, &resource, &m.http_method)?;
        }
        c.put_method(
            id,
            &resource,
            &m.http_method,
            input::<MethodInput>(&at, &method)?,
        )?;
        let at3 = (id, resource.as_str(), m.http_method.as_str());
        for (code, r) in &m.responses {
            c.put_method_response(at3, code, input::<MethodResponseInput>(&at, r)?)?;
        }
        if let Some(i) = &m.integration {
            c.put_integration(at3, input::<IntegrationInput>(&at, i)?)?;
            for (code, r) in &m.integration_responses {
                c.put_integration_response(at3, code, input::<IntegrationResponseInput>(&at, r)?)?;
            }
        }
    }
    Ok(())
}

/// The resource at `path`, created (with its parents) when missing.
fn ensure_resource(
    c: &mut Catalog,
    id: &str,
    path: &str,
    known: &mut BTreeMap<String, String>,
) -> Result<String, ApiError> {
    if let Some(r) = known.get(path) {
        return Ok(r.clone());
    }
    let state = c.rest().get(id)?;
    if let Some(r) = state.resources.values().find(|r| r.path == path) {
        known.insert(path.to_string(), r.id.clone());
        return Ok(r.id.clone());
    }
    let (parent_path, part) = match path.rfind('/') {
        Some(0) => ("/".to_string(), &path[1..]),
        Some(i) => (path[..i].to_string(), &path[i + 1..]),
        None => {
            return Err(ApiError::BadRequest(format!(
                "path '{path}' must start with /"
            )));
        }
    };
    let parent = if parent_path == "/" {
        state.api.root_resource_id.clone()
    } else {
        ensure_resource(c, id, &parent_path, known)?
    };
    let r = c.create_resource(
        id,
        &parent,
        ResourceInput {
            path_part: Some(part.to_string()),
        },
    )?;
    known.insert(path.to_string(), r.id.clone());
    Ok(r.id)
}

// === export ===

impl ExportExtensions {
    /// `extensions=integrations|apigateway|authorizers|postman` (a comma-separated list).
    pub(crate) fn parse(v: Option<&str>) -> Result<ExportExtensions, ApiError> {
        let mut e = ExportExtensions::default();
        for part in v
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part {
                "integrations" | "apigateway" => {
                    e.apigateway = true;
                    e.authorizers = true;
                }
                "authorizers" => e.authorizers = true,
                // Postman's own members are not written; the definition is plain OpenAPI.
                "postman" => {}
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid extensions '{other}': use integrations, apigateway, authorizers or postman"
                    )))
                }
            }
        }
        Ok(e)
    }
}

/// `GetExport`: the definition the stage serves (its deployment's resources, models,
/// validators, authorizers and gateway responses).
pub(crate) fn export(
    state: &RestApiState,
    stage: &str,
    flavor: Flavor,
    ext: ExportExtensions,
    endpoint: &Endpoint,
) -> Result<Value, ApiError> {
    let stage = state.stage(stage)?;
    let d = state.deployment(&stage.deployment_id)?;
    let api = &state.api;
    let mut root = Map::new();
    match flavor {
        Flavor::Swagger2 => root.insert("swagger".into(), json!("2.0")),
        Flavor::OpenApi3 => root.insert("openapi".into(), json!("3.0.1")),
    };
    let created = u64::try_from(api.created_date).unwrap_or(0);
    let mut info = Map::new();
    info.insert("title".into(), json!(api.name));
    put_some(&mut info, "description", api.description.as_ref());
    info.insert(
        "version".into(),
        json!(api
            .version
            .clone()
            .unwrap_or_else(|| crate::ids::iso8601(created))),
    );
    root.insert("info".into(), Value::Object(info));
    let host = format!("{}.{}:{}", api.id, endpoint.domain, endpoint.port);
    match flavor {
        Flavor::Swagger2 => {
            root.insert("host".into(), json!(host));
            root.insert("basePath".into(), json!(format!("/{}", stage.stage_name)));
            root.insert("schemes".into(), json!(["http"]));
        }
        Flavor::OpenApi3 => {
            root.insert(
                "servers".into(),
                json!([{
                    "url": format!("http://{host}/{{basePath}}"),
                    "variables": {"basePath": {"default": stage.stage_name}}
                }]),
            );
        }
    }
    let models: BTreeSet<&str> = d.models.iter().map(|m| m.name.as_str()).collect();
    let mut uses_api_key = false;
    let mut uses_iam = false;
    let mut paths = Map::new();
    let mut resources: Vec<&Resource> = d.resources.iter().collect();
    resources.sort_by(|a, b| a.path.cmp(&b.path));
    for r in resources {
        if r.resource_methods.is_empty() {
            continue;
        }
        let mut item = Map::new();
        for (verb, m) in &r.resource_methods {
            uses_api_key |= m.api_key_required;
            uses_iam |= m.authorization_type == AuthorizationType::AwsIam;
            item.insert(
                operation_key(verb),
                export_method(r, m, d, flavor, ext, &models),
            );
        }
        paths.insert(r.path.clone(), Value::Object(item));
    }
    root.insert("paths".into(), Value::Object(paths));

    let mut schemas = Map::new();
    for m in &d.models {
        let mut schema: Value = m
            .schema
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| json!({}));
        if let Some(obj) = schema.as_object_mut() {
            // Definitions the import kept inside the model are models of their own.
            let defs_are_models = obj
                .get("definitions")
                .and_then(Value::as_object)
                .is_some_and(|defs| defs.keys().all(|k| models.contains(k.as_str())));
            if defs_are_models {
                obj.remove("definitions");
            }
            obj.remove("$schema");
        }
        globalize_refs(&mut schema, flavor);
        schemas.insert(m.name.clone(), schema);
    }
    let mut security = Map::new();
    for a in &d.authorizers {
        security.insert(a.name.clone(), export_authorizer(a, ext));
    }
    if uses_api_key {
        security.insert(
            "api_key".into(),
            json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
        );
    }
    if uses_iam {
        let mut s = json!({"type": "apiKey", "name": "Authorization", "in": "header"});
        if ext.authorizers {
            s[format!("{EXT}authtype")] = json!("awsSigv4");
        }
        security.insert("sigv4".into(), s);
    }
    match flavor {
        Flavor::Swagger2 => {
            if !schemas.is_empty() {
                root.insert("definitions".into(), Value::Object(schemas));
            }
            if !security.is_empty() {
                root.insert("securityDefinitions".into(), Value::Object(security));
            }
        }
        Flavor::OpenApi3 => {
            let mut components = Map::new();
            if !schemas.is_empty() {
                components.insert("schemas".into(), Value::Object(schemas));
            }
            if !security.is_empty() {
                components.insert("securitySchemes".into(), Value::Object(security));
            }
            if !components.is_empty() {
                root.insert("components".into(), Value::Object(components));
            }
        }
    }
    if ext.apigateway {
        let responses: Map<String, Value> = d
            .gateway_responses
            .iter()
            .filter(|g| !g.default_response)
            .map(|g| {
                let mut v = Map::new();
                put_some(&mut v, "statusCode", g.status_code.as_ref());
                if !g.response_parameters.is_empty() {
                    v.insert("responseParameters".into(), json!(g.response_parameters));
                }
                if !g.response_templates.is_empty() {
                    v.insert("responseTemplates".into(), json!(g.response_templates));
                }
                (g.response_type.clone(), Value::Object(v))
            })
            .collect();
        if !responses.is_empty() {
            root.insert(format!("{EXT}gateway-responses"), Value::Object(responses));
        }
        let validators: Map<String, Value> = d
            .request_validators
            .iter()
            .map(|v| {
                (
                    v.name.clone().unwrap_or_else(|| v.id.clone()),
                    json!({
                        "validateRequestBody": v.validate_request_body,
                        "validateRequestParameters": v.validate_request_parameters,
                    }),
                )
            })
            .collect();
        if !validators.is_empty() {
            root.insert(
                format!("{EXT}request-validators"),
                Value::Object(validators),
            );
        }
        if !api.binary_media_types.is_empty() {
            root.insert(
                format!("{EXT}binary-media-types"),
                json!(api.binary_media_types),
            );
        }
        if let Some(n) = api.minimum_compression_size {
            root.insert(format!("{EXT}minimum-compression-size"), json!(n));
        }
        let source = serde_json::to_value(api.api_key_source).unwrap_or(Value::Null);
        if source != json!("HEADER") && !source.is_null() {
            root.insert(format!("{EXT}api-key-source"), source);
        }
        if let Some(p) = &api.policy {
            let policy = serde_json::from_str::<Value>(p).unwrap_or_else(|_| json!(p));
            root.insert(format!("{EXT}policy"), policy);
        }
        let mut endpoint_cfg = Map::new();
        if api.disable_execute_api_endpoint {
            endpoint_cfg.insert("disableExecuteApiEndpoint".into(), json!(true));
        }
        if !api.endpoint_configuration.vpc_endpoint_ids.is_empty() {
            endpoint_cfg.insert(
                "vpcEndpointIds".into(),
                json!(api.endpoint_configuration.vpc_endpoint_ids),
            );
        }
        if !endpoint_cfg.is_empty() {
            root.insert(
                format!("{EXT}endpoint-configuration"),
                Value::Object(endpoint_cfg),
            );
        }
    }
    Ok(Value::Object(root))
}

/// Rewrites `#/definitions/N` to the export's own place for schemas.
fn globalize_refs(v: &mut Value, flavor: Flavor) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get_mut("$ref") {
                if let Some(n) = model_ref_name(r).map(str::to_string) {
                    *r = schema_ref(&n, flavor);
                }
            }
            for (k, child) in obj.iter_mut() {
                if k != "$ref" {
                    globalize_refs(child, flavor);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| globalize_refs(c, flavor)),
        _ => {}
    }
}

fn schema_ref(name: &str, flavor: Flavor) -> String {
    match flavor {
        Flavor::Swagger2 => format!("#/definitions/{name}"),
        Flavor::OpenApi3 => format!("#/components/schemas/{name}"),
    }
}

/// One method as an operation.
fn export_method(
    r: &Resource,
    m: &Method,
    d: &crate::v1::records::RestDeployment,
    flavor: Flavor,
    ext: ExportExtensions,
    models: &BTreeSet<&str>,
) -> Value {
    let mut op = Map::new();
    put_some(&mut op, "operationId", m.operation_name.as_ref());
    let mut params = Vec::new();
    let mut declared_path = BTreeSet::new();
    // A greedy variable's parameter is named as the template writes it (`proxy+`), so the
    // definition is valid OpenAPI; the import drops the `+` again.
    let variables = path_variables(&r.path);
    for (key, required) in &m.request_parameters {
        let Some(rest) = key.strip_prefix("method.request.") else {
            continue;
        };
        let Some((place, name)) = rest.split_once('.') else {
            continue;
        };
        let place = match place {
            "path" => {
                declared_path.insert(name.to_string());
                "path"
            }
            "querystring" => "query",
            "header" => "header",
            _ => continue,
        };
        let greedy = format!("{name}+");
        let name = if place == "path" && variables.contains(&greedy) {
            greedy.as_str()
        } else {
            name
        };
        params.push(parameter(name, place, *required || place == "path", flavor));
    }
    for v in variables {
        if !declared_path.contains(v.trim_end_matches('+')) {
            params.push(parameter(&v, "path", true, flavor));
        }
    }
    let body_models: Vec<(&String, &String)> = m
        .request_models
        .iter()
        .filter(|(_, n)| models.contains(n.as_str()))
        .collect();
    match flavor {
        Flavor::Swagger2 => {
            if let Some((_, n)) = body_models.first() {
                params.push(json!({
                    "in": "body", "name": n, "required": true,
                    "schema": {"$ref": schema_ref(n, flavor)}
                }));
                let cts: Vec<&String> = body_models.iter().map(|(c, _)| *c).collect();
                op.insert("consumes".into(), json!(cts));
            }
        }
        Flavor::OpenApi3 => {
            if !body_models.is_empty() {
                let content = content_of(&body_models, flavor);
                op.insert(
                    "requestBody".into(),
                    json!({"content": content, "required": true}),
                );
            }
        }
    }
    if !params.is_empty() {
        op.insert("parameters".into(), json!(params));
    }
    let mut responses = Map::new();
    let mut produces = BTreeSet::new();
    for (code, mr) in &m.method_responses {
        let mut resp = Map::new();
        resp.insert("description".into(), json!(format!("{code} response")));
        let headers: Map<String, Value> = mr
            .response_parameters
            .keys()
            .filter_map(|k| k.strip_prefix("method.response.header."))
            .map(|h| {
                let schema = match flavor {
                    Flavor::Swagger2 => json!({"type": "string"}),
                    Flavor::OpenApi3 => json!({"schema": {"type": "string"}}),
                };
                (h.to_string(), schema)
            })
            .collect();
        if !headers.is_empty() {
            resp.insert("headers".into(), Value::Object(headers));
        }
        let rm: Vec<(&String, &String)> = mr
            .response_models
            .iter()
            .filter(|(_, n)| models.contains(n.as_str()))
            .collect();
        match flavor {
            Flavor::Swagger2 => {
                if let Some((_, n)) = rm.first() {
                    resp.insert("schema".into(), json!({"$ref": schema_ref(n, flavor)}));
                    produces.extend(rm.iter().map(|(c, _)| (*c).clone()));
                }
            }
            Flavor::OpenApi3 => {
                if !rm.is_empty() {
                    resp.insert("content".into(), Value::Object(content_of(&rm, flavor)));
                }
            }
        }
        responses.insert(code.clone(), Value::Object(resp));
    }
    if responses.is_empty() {
        responses.insert("default".into(), json!({"description": "Default response"}));
    }
    if !produces.is_empty() {
        op.insert("produces".into(), json!(produces));
    }
    op.insert("responses".into(), Value::Object(responses));
    let mut requirement = Map::new();
    match m.authorization_type {
        AuthorizationType::Custom | AuthorizationType::CognitoUserPools => {
            if let Some(a) = m
                .authorizer_id
                .as_deref()
                .and_then(|id| d.authorizers.iter().find(|a| a.id == id))
            {
                requirement.insert(a.name.clone(), json!(m.authorization_scopes));
            }
        }
        AuthorizationType::AwsIam => {
            requirement.insert("sigv4".into(), json!([]));
        }
        AuthorizationType::None | AuthorizationType::Jwt => {}
    }
    if m.api_key_required {
        requirement.insert("api_key".into(), json!([]));
    }
    if !requirement.is_empty() {
        op.insert("security".into(), json!([requirement]));
    }
    if ext.apigateway {
        if let Some(v) = m
            .request_validator_id
            .as_deref()
            .and_then(|id| d.request_validators.iter().find(|v| v.id == id))
        {
            op.insert(
                format!("{EXT}request-validator"),
                json!(v.name.clone().unwrap_or_else(|| v.id.clone())),
            );
        }
        if let Some(i) = &m.method_integration {
            let mut v = Map::new();
            v.insert(
                "type".into(),
                json!(i.integration_type.as_str().to_ascii_lowercase()),
            );
            put_some(&mut v, "httpMethod", i.http_method.as_ref());
            put_some(&mut v, "uri", i.uri.as_ref());
            if let Some(ct) = i.connection_type.filter(|c| *c != ConnectionType::Internet) {
                v.insert("connectionType".into(), json!(ct));
            }
            put_some(&mut v, "connectionId", i.connection_id.as_ref());
            put_some(&mut v, "credentials", i.credentials.as_ref());
            if !i.request_parameters.is_empty() {
                v.insert("requestParameters".into(), json!(i.request_parameters));
            }
            if !i.request_templates.is_empty() {
                v.insert("requestTemplates".into(), json!(i.request_templates));
            }
            if let Some(p) = &i.passthrough_behavior {
                v.insert("passthroughBehavior".into(), json!(p.to_ascii_lowercase()));
            }
            put_some(&mut v, "contentHandling", i.content_handling.as_ref());
            put_some(&mut v, "timeoutInMillis", i.timeout_in_millis);
            // The default namespace is the resource's id, which an import gives anew.
            if let Some(ns) = i.cache_namespace.as_deref().filter(|ns| *ns != r.id) {
                v.insert("cacheNamespace".into(), json!(ns));
            }
            if !i.cache_key_parameters.is_empty() {
                v.insert("cacheKeyParameters".into(), json!(i.cache_key_parameters));
            }
            let mut responses = Map::new();
            for ir in i.integration_responses.values() {
                let mut rv = Map::new();
                rv.insert("statusCode".into(), json!(ir.status_code));
                if !ir.response_parameters.is_empty() {
                    rv.insert("responseParameters".into(), json!(ir.response_parameters));
                }
                if !ir.response_templates.is_empty() {
                    rv.insert("responseTemplates".into(), json!(ir.response_templates));
                }
                put_some(&mut rv, "contentHandling", ir.content_handling.as_ref());
                let key = ir
                    .selection_pattern
                    .clone()
                    .unwrap_or_else(|| "default".into());
                responses.insert(key, Value::Object(rv));
            }
            if !responses.is_empty() {
                v.insert("responses".into(), Value::Object(responses));
            }
            op.insert(format!("{EXT}integration"), Value::Object(v));
        }
    }
    Value::Object(op)
}

/// OpenAPI 3's `content`: each media type with its model's schema.
fn content_of(models: &[(&String, &String)], flavor: Flavor) -> Map<String, Value> {
    models
        .iter()
        .map(|(ct, n)| {
            (
                (*ct).clone(),
                json!({"schema": {"$ref": schema_ref(n, flavor)}}),
            )
        })
        .collect()
}

/// A parameter in the flavor's shape.
fn parameter(name: &str, place: &str, required: bool, flavor: Flavor) -> Value {
    match flavor {
        Flavor::Swagger2 => {
            json!({"name": name, "in": place, "required": required, "type": "string"})
        }
        Flavor::OpenApi3 => {
            json!({"name": name, "in": place, "required": required, "schema": {"type": "string"}})
        }
    }
}

/// An authorizer as a security scheme.
fn export_authorizer(a: &Authorizer, ext: ExportExtensions) -> Value {
    let header = a
        .identity_source
        .as_deref()
        .and_then(|s| s.strip_prefix("method.request.header."))
        .filter(|h| !h.contains(','))
        .unwrap_or("Unused");
    let mut s = json!({"type": "apiKey", "name": header, "in": "header"});
    if ext.authorizers {
        let auth_type = a.auth_type.clone().unwrap_or_else(|| {
            if a.kind == AuthorizerType::CognitoUserPools {
                "cognito_user_pools".into()
            } else {
                "custom".into()
            }
        });
        s[format!("{EXT}authtype")] = json!(auth_type);
        let mut v = Map::new();
        v.insert("type".into(), json!(a.kind.as_str().to_ascii_lowercase()));
        put_some(&mut v, "authorizerUri", a.authorizer_uri.as_ref());
        put_some(
            &mut v,
            "authorizerCredentials",
            a.authorizer_credentials.as_ref(),
        );
        put_some(&mut v, "identitySource", a.identity_source.as_ref());
        put_some(
            &mut v,
            "identityValidationExpression",
            a.identity_validation_expression.as_ref(),
        );
        put_some(
            &mut v,
            "authorizerResultTtlInSeconds",
            a.authorizer_result_ttl_in_seconds,
        );
        if !a.provider_arns.is_empty() {
            v.insert("providerARNs".into(), json!(a.provider_arns));
        }
        s[format!("{EXT}authorizer")] = Value::Object(v);
    }
    s
}
