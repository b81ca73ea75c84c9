//! OpenAPI import and export for both control planes: `ImportRestApi`, `PutRestApi` and
//! `GetExport` (REST APIs, `rest.rs`), `ImportApi`, `ReimportApi` and `ExportApi` (HTTP APIs,
//! `http.rs`), with AWS's `x-amazon-apigateway-*` extensions.
//!
//! # Architecture
//! 1. [`parse`] reads a definition (JSON or YAML, Swagger 2.0 or OpenAPI 3.0) into a
//!    `serde_json::Value`: no OpenAPI model crate fits both versions with AWS's extensions
//!    (`openapiv3` is 3.0 only and drops unknown `x-` members into maps anyway), so the importers
//!    walk the document, and every member they do not use is named in a warning.
//! 2. An importer first turns the document into a plan: the inputs of the ordinary create
//!    operations, in AWS's wire shape, and the warnings. With `failonwarnings` a warning is a 400
//!    before anything is touched.
//! 3. The plan runs as ordinary operations (`CreateRestApi`, `CreateResource`, `PutMethod`, ...,
//!    or `CreateApi`, `CreateIntegration`, `CreateRoute`, ...) inside [`Catalog::atomically`]:
//!    the same validation and records as when called one by one, committed in one transaction
//!    and published once; a failing operation leaves nothing behind.
//! 4. Exports walk the records (a REST stage's deployment; an HTTP API's routes) back into a
//!    definition, JSON or YAML.
//!
//! Invariant: an import either fully succeeds (with its warnings listed) or changes nothing.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde_json::{json, Map, Value};

use portico_shared::limits::OPENAPI_DEFINITION_MAX_BYTES;

use crate::error::ApiError;
use crate::wire::Params;
use crate::AdminState;

mod http;
mod rest;
#[cfg(test)]
mod tests;

/// The prefix of AWS's extensions.
const EXT: &str = "x-amazon-apigateway-";

/// Which OpenAPI a definition is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `swagger: "2.0"`.
    Swagger2,
    /// `openapi: "3.0.x"`.
    OpenApi3,
}

/// A parsed definition.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) root: Map<String, Value>,
    pub(crate) flavor: Flavor,
}

/// What an import could not honour, in AWS's words: listed in the answer (`warnings`), or the
/// import's error with `failonwarnings`.
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<String>);

/// The query members `ImportRestApi`, `PutRestApi`, `ImportApi` and `ReimportApi` share.
#[derive(Debug, Default)]
pub(crate) struct ImportOptions {
    pub(crate) fail_on_warnings: bool,
    pub(crate) basepath: BasePath,
}

/// `basepath`: what becomes of the definition's base path (`basePath`, or the path of the first
/// server URL).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BasePath {
    /// Dropped (AWS's default).
    #[default]
    Ignore,
    /// Put in front of every path.
    Prepend,
    /// Its first segment dropped, the rest put in front of every path.
    Split,
}

/// Which dialect an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Json,
    Yaml,
}

// === impl Warnings ===

impl Warnings {
    pub(crate) fn push(&mut self, w: impl Into<String>) {
        let w = w.into();
        if !self.0.contains(&w) {
            self.0.push(w);
        }
    }

    /// With `fail`, any warning is the import's error (400, every warning listed).
    pub(crate) fn check(&self, fail: bool) -> Result<(), ApiError> {
        if fail && !self.0.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "Warnings found during import (failOnWarnings is set): {}",
                self.0.join("; ")
            )));
        }
        Ok(())
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.0
    }

    /// Names every `x-amazon-apigateway-*` member of `obj` that is not in `known`.
    pub(crate) fn unknown_extensions(
        &mut self,
        at: &str,
        obj: &Map<String, Value>,
        known: &[&str],
    ) {
        for k in obj.keys() {
            if let Some(ext) = k.strip_prefix(EXT) {
                if !known.contains(&ext) {
                    self.push(format!(
                        "{at}: extension {k} is not supported by Portico; ignored"
                    ));
                }
            }
        }
    }
}

// === parsing ===

/// Parses a definition: JSON when it starts with `{`, YAML otherwise; then its version.
pub(crate) fn parse(bytes: &[u8]) -> Result<Document, ApiError> {
    if bytes.len() > OPENAPI_DEFINITION_MAX_BYTES {
        return Err(too_large());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::BadRequest(format!("The API definition is not UTF-8: {e}")))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(ApiError::BadRequest("The API definition is empty".into()));
    }
    let value: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| {
            ApiError::BadRequest(format!("The API definition is not valid JSON: {e}"))
        })?
    } else {
        serde_saphyr::from_str(trimmed).map_err(|e| {
            ApiError::BadRequest(format!(
                "The API definition is neither valid JSON nor valid YAML: {e}"
            ))
        })?
    };
    let Value::Object(root) = value else {
        return Err(ApiError::BadRequest(
            "The API definition must be a JSON or YAML object".into(),
        ));
    };
    let flavor = match (root.get("swagger"), root.get("openapi")) {
        (Some(Value::String(v)), None) if v == "2.0" => Flavor::Swagger2,
        (None, Some(Value::String(v))) if v.starts_with("3.0.") || v == "3.0" => Flavor::OpenApi3,
        (None, Some(v)) => {
            return Err(ApiError::BadRequest(format!(
                "Unsupported OpenAPI version {v}: import OpenAPI 3.0 or Swagger 2.0"
            )))
        }
        (Some(v), None) => {
            return Err(ApiError::BadRequest(format!(
                "Unsupported Swagger version {v}: import OpenAPI 3.0 or Swagger 2.0"
            )))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "The API definition names both swagger and openapi versions".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "The API definition has no version: set openapi: 3.0.1 or swagger: \"2.0\"".into(),
            ))
        }
    };
    if root.get("paths").is_some_and(|p| !p.is_object()) {
        return Err(ApiError::BadRequest("paths must be an object".into()));
    }
    Ok(Document { root, flavor })
}

fn too_large() -> ApiError {
    ApiError::BadRequest(format!(
        "The API definition is larger than {} MiB, the most an import takes",
        OPENAPI_DEFINITION_MAX_BYTES / (1024 * 1024)
    ))
}

/// The body of an import: a body over the route's limit is a 400 in AWS's shape.
fn definition_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::BadRequest(format!("Invalid request body: {}", e.body_text()))
        }
    })
}

impl Document {
    /// `info.<member>` as a string.
    pub(crate) fn info(&self, member: &str) -> Option<String> {
        self.root
            .get("info")
            .and_then(|i| i.get(member))
            .and_then(scalar_string)
    }

    /// The base path: Swagger's `basePath`, or the path of OpenAPI 3's first server URL (a
    /// `{basePath}` variable takes its default).
    pub(crate) fn base_path(&self) -> String {
        let raw = match self.flavor {
            Flavor::Swagger2 => self
                .root
                .get("basePath")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            Flavor::OpenApi3 => {
                let Some(server) = self
                    .root
                    .get("servers")
                    .and_then(Value::as_array)
                    .and_then(|s| s.first())
                else {
                    return String::new();
                };
                let mut url = server
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if let Some(vars) = server.get("variables").and_then(Value::as_object) {
                    for (name, v) in vars {
                        let d = v.get("default").and_then(Value::as_str).unwrap_or("");
                        url = url.replace(&format!("{{{name}}}"), d);
                    }
                }
                match url.find("://") {
                    Some(i) => {
                        let rest = &url[i + 3..];
                        rest.find('/')
                            .map_or(String::new(), |j| rest[j..].to_string())
                    }
                    None => url,
                }
            }
        };
        let trimmed = raw.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }

    /// The path a definition's `path` becomes under `basepath`.
    pub(crate) fn full_path(&self, path: &str, mode: BasePath) -> String {
        let base = self.base_path();
        let prefix = match mode {
            BasePath::Ignore => String::new(),
            BasePath::Prepend => base,
            BasePath::Split => match base.trim_start_matches('/').split_once('/') {
                Some((_, rest)) => format!("/{rest}"),
                None => String::new(),
            },
        };
        let joined = format!("{prefix}{path}");
        if joined.len() > 1 {
            joined.trim_end_matches('/').to_string()
        } else {
            "/".into()
        }
    }

    /// Follows a local `$ref` (`#/a/b`), once per level.
    pub(crate) fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut v = v;
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let Some(target) = self.pointer(r) else {
                return v;
            };
            v = target;
        }
        v
    }

    /// The member a local reference names.
    pub(crate) fn pointer(&self, reference: &str) -> Option<&Value> {
        let path = reference.strip_prefix('#')?;
        let mut cur: Option<&Value> = None;
        for seg in path.split('/').skip(1) {
            let seg = seg.replace("~1", "/").replace("~0", "~");
            cur = Some(match cur {
                None => self.root.get(&seg)?,
                Some(v) => v.get(&seg)?,
            });
        }
        cur
    }

    /// The extension `x-amazon-apigateway-<name>` of the root.
    pub(crate) fn ext(&self, name: &str) -> Option<&Value> {
        self.root.get(&format!("{EXT}{name}"))
    }

    /// The API's tags: the top-level `tags` that carry `x-amazon-apigateway-tag-value`.
    pub(crate) fn tags(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for t in self
            .root
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(value)) = (
                t.get("name").and_then(Value::as_str),
                t.get(format!("{EXT}tag-value")).and_then(scalar_string),
            ) {
                out.insert(name.to_string(), value);
            }
        }
        out
    }

    /// The security schemes: `securityDefinitions` (2.0) or `components.securitySchemes`.
    pub(crate) fn security_schemes(&self) -> Map<String, Value> {
        let v = match self.flavor {
            Flavor::Swagger2 => self.root.get("securityDefinitions"),
            Flavor::OpenApi3 => self
                .root
                .get("components")
                .and_then(|c| c.get("securitySchemes")),
        };
        let mut out = Map::new();
        for (k, s) in v.and_then(Value::as_object).into_iter().flatten() {
            out.insert(k.clone(), self.resolve(s).clone());
        }
        out
    }
}

/// A string, number or bool as a string (YAML writes `version: 1.0` as a number).
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A map of strings (`requestParameters`, `requestTemplates`, ...); other members are dropped
/// with a warning.
pub(crate) fn string_map(
    v: Option<&Value>,
    at: &str,
    warnings: &mut Warnings,
) -> Option<BTreeMap<String, String>> {
    let obj = v?.as_object()?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        match scalar_string(v) {
            Some(s) => {
                out.insert(k.clone(), s);
            }
            None => warnings.push(format!("{at}.{k}: not a string; ignored")),
        }
    }
    Some(out)
}

/// The HTTP methods an OpenAPI path item may hold, and AWS's any-method extension.
pub(crate) const OPERATIONS: [&str; 8] = [
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "x-amazon-apigateway-any-method",
];

/// The HTTP method an operation key stands for.
pub(crate) fn method_of(key: &str) -> &str {
    if key == "x-amazon-apigateway-any-method" {
        "ANY"
    } else {
        key
    }
}

/// The operation key for an HTTP method (`ANY` is AWS's extension).
pub(crate) fn operation_key(method: &str) -> String {
    if method == "ANY" {
        "x-amazon-apigateway-any-method".into()
    } else {
        method.to_ascii_lowercase()
    }
}

/// Path template variables: `{id}`, `{proxy+}`.
pub(crate) fn path_variables(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// Writes a definition as JSON or YAML.
pub(crate) fn render(
    doc: &Value,
    format: OutputFormat,
) -> Result<(String, &'static str), ApiError> {
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(doc)
            .map(|s| (s, "application/json"))
            .map_err(|e| ApiError::Internal(e.to_string())),
        OutputFormat::Yaml => serde_saphyr::to_string(doc)
            .map(|s| (s, "application/yaml"))
            .map_err(|e| ApiError::Internal(e.to_string())),
    }
}

/// A `true`/`false` query member (`failonwarnings`, `includeExtensions`).
fn query_bool(q: &BTreeMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(ApiError::BadRequest(format!(
            "Invalid value for {name}: '{v}' (use true or false)"
        ))),
    }
}

/// The import options of the query string.
fn import_options(
    q: &BTreeMap<String, String>,
    fail_member: &str,
) -> Result<ImportOptions, ApiError> {
    let basepath = match q.get("basepath").map(String::as_str) {
        None | Some("ignore") => BasePath::Ignore,
        Some("prepend") => BasePath::Prepend,
        Some("split") => BasePath::Split,
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid basepath '{v}': use ignore, prepend or split"
            )))
        }
    };
    Ok(ImportOptions {
        fail_on_warnings: query_bool(q, fail_member)?,
        basepath,
    })
}

/// A record answered with its `warnings` (both control planes name the member so).
fn with_warnings<T: serde::Serialize>(record: &T, warnings: Vec<String>) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or(Value::Null);
    if let (Some(obj), false) = (v.as_object_mut(), warnings.is_empty()) {
        obj.insert("warnings".into(), json!(warnings));
    }
    v
}

/// The first security requirement of an operation (or of the document): scheme names and
/// scopes. API Gateway has one authorization per method or route.
pub(crate) fn security_requirement(
    doc: &Document,
    op: &Map<String, Value>,
    at: &str,
    w: &mut Warnings,
) -> Vec<(String, Vec<Value>)> {
    let security = op.get("security").or(doc.root.get("security"));
    let Some(reqs) = security.and_then(Value::as_array) else {
        return Vec::new();
    };
    if reqs.len() > 1 {
        w.push(format!(
            "{at}: only the first security requirement is imported (API Gateway has one authorization per method)"
        ));
    }
    reqs.first()
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(scheme, scopes)| {
            (
                scheme.clone(),
                scopes.as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// Inserts `key: value` when there is a value (exports leave out what is not set).
pub(crate) fn put_some<T: serde::Serialize>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.into(), json!(v));
    }
}

/// An ordinary operation's input from a plan's wire JSON.
pub(crate) fn input<T: serde::de::DeserializeOwned>(what: &str, v: &Value) -> Result<T, ApiError> {
    serde_json::from_value(v.clone()).map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))
}

/// An import's answer: the record with its warnings, or the error.
fn import_answer<T: serde::Serialize>(
    status: StatusCode,
    result: Result<(T, Vec<String>), ApiError>,
) -> Response {
    match result {
        Ok((record, warnings)) => {
            (status, axum::Json(with_warnings(&record, warnings))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

// === routes ===

/// The import and export routes. `POST /restapis?mode=import` is answered by `v1/` (the path
/// is shared with `CreateRestApi`), which calls [`import_rest_api`].
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v2/apis", put(import_api))
        .route("/v2/apis/{api_id}", put(reimport_api))
        .route("/v2/apis/{api_id}/exports/{specification}", get(export_api))
        .route("/restapis/{restapi_id}", put(put_rest_api))
        .route(
            "/restapis/{restapi_id}/stages/{stage_name}/exports/{export_type}",
            get(get_export),
        )
}

/// `ImportRestApi` (`POST /restapis?mode=import`).
pub(crate) async fn import_rest_api(
    s: AdminState,
    q: BTreeMap<String, String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let body = definition_body(body)?;
        let opts = import_options(&q, "failonwarnings")?;
        let endpoint_types = q.get("endpointConfigurationTypes").cloned();
        let doc = parse(&body)?;
        let plan = rest::plan(&doc, &opts, endpoint_types)?;
        s.write(move |c| rest::import(c, plan)).await
    };
    import_answer(StatusCode::CREATED, run.await)
}

/// `PutRestApi` (`PUT /restapis/{id}?mode=merge|overwrite`).
async fn put_rest_api(
    State(s): State<AdminState>,
    Params(id): Params<String>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let body = definition_body(body)?;
        let opts = import_options(&q, "failonwarnings")?;
        let overwrite = match q.get("mode").map(String::as_str) {
            None | Some("merge") => false,
            Some("overwrite") => true,
            Some(m) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid mode '{m}': use merge or overwrite"
                )))
            }
        };
        let doc = parse(&body)?;
        let plan = rest::plan(&doc, &opts, None)?;
        s.write(move |c| rest::put(c, &id, plan, overwrite)).await
    };
    import_answer(StatusCode::OK, run.await)
}

/// `GetExport` (`GET /restapis/{id}/stages/{stage}/exports/{oas30|swagger}`).
async fn get_export(
    State(s): State<AdminState>,
    Params((id, stage, export_type)): Params<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let format = if accept.contains("yaml") {
        OutputFormat::Yaml
    } else {
        OutputFormat::Json
    };
    let endpoint = s.endpoint().clone();
    let result = s
        .read(|c| {
            let flavor = match export_type.as_str() {
                "oas30" => Flavor::OpenApi3,
                "swagger" => Flavor::Swagger2,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "Unsupported export type '{other}': use oas30 or swagger"
                    )))
                }
            };
            let ext = rest::ExportExtensions::parse(q.get("extensions").map(String::as_str))?;
            let state = c.rest().get(&id)?;
            rest::export(state, &stage, flavor, ext, &endpoint)
        })
        .await;
    export_answer(result, format, &export_type)
}

/// `ImportApi` (`PUT /v2/apis`).
async fn import_api(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let opts = import_options(&q, "failOnWarnings")?;
        let definition = v2_definition(body)?;
        let doc = parse(definition.as_bytes())?;
        let plan = http::plan(&doc, &opts)?;
        let endpoint = s.endpoint_fn();
        s.write(move |c| http::import(c, plan).map(|(a, w)| (endpoint(a), w)))
            .await
    };
    import_answer(StatusCode::CREATED, run.await)
}

/// `ReimportApi` (`PUT /v2/apis/{apiId}`).
async fn reimport_api(
    State(s): State<AdminState>,
    Params(id): Params<String>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let opts = import_options(&q, "failOnWarnings")?;
        let definition = v2_definition(body)?;
        let doc = parse(definition.as_bytes())?;
        let plan = http::plan(&doc, &opts)?;
        let endpoint = s.endpoint_fn();
        s.write(move |c| http::reimport(c, &id, plan).map(|(a, w)| (endpoint(a), w)))
            .await
    };
    import_answer(StatusCode::CREATED, run.await)
}

/// `ExportApi` (`GET /v2/apis/{apiId}/exports/{specification}`).
async fn export_api(
    State(s): State<AdminState>,
    Params((id, specification)): Params<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let endpoint = s.endpoint().clone();
    let result = async {
        if specification != "OAS30" {
            return Err(ApiError::BadRequest(format!(
                "Unsupported specification '{specification}': use OAS30"
            )));
        }
        let format = match q.get("outputType").map(String::as_str) {
            Some("JSON") => OutputFormat::Json,
            Some("YAML") => OutputFormat::Yaml,
            None => return Err(ApiError::BadRequest("outputType is required".into())),
            Some(o) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid outputType '{o}': use JSON or YAML"
                )))
            }
        };
        let include = match q.get("includeExtensions") {
            None => true,
            Some(_) => query_bool(&q, "includeExtensions")?,
        };
        let stage = q.get("stageName").cloned();
        let version = q.get("exportVersion").cloned();
        if version.as_deref().is_some_and(|v| v != "1.0") {
            return Err(ApiError::BadRequest(
                "Invalid exportVersion: only 1.0 is supported".into(),
            ));
        }
        let doc = s
            .read(|c| {
                let state = c.api(&id)?;
                http::export(state, stage.as_deref(), include, &endpoint)
            })
            .await?;
        Ok((doc, format))
    }
    .await;
    match result {
        Ok((doc, format)) => export_answer(Ok(doc), format, "OAS30"),
        Err(e) => e.into_response(),
    }
}

/// `ImportApi`/`ReimportApi`'s body: `{"body": "<definition>"}`.
fn v2_definition(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = definition_body(body)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Input {
        body: Option<String>,
    }
    let input: Input = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))?;
    input
        .body
        .ok_or_else(|| ApiError::BadRequest("body is required".into()))
}

/// An export's answer: the definition as the body, with its media type and a file name.
fn export_answer(result: Result<Value, ApiError>, format: OutputFormat, name: &str) -> Response {
    let doc = match result {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let (text, media) = match render(&doc, format) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let ext = if format == OutputFormat::Yaml {
        "yaml"
    } else {
        "json"
    };
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{ext}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
