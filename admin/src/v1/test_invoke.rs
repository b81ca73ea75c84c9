//! `TestInvokeMethod` and `TestInvokeAuthorizer`: the console's "Test" button.
//!
//! Both run the real data plane pipeline for one request: the API's current (undeployed)
//! resources, methods, integrations, models, validators and authorizers are compiled as a stage
//! named `test-invoke-stage` (as AWS names it) whose methods log every step into the response
//! ([`TEST_INVOKE_LOG_LEVEL`]), published under a snapshot key no client can name
//! (`{apiId}!{secret}`, the secret drawn once per process), and the request is sent to the data
//! plane listener on loopback with `x-apigw-api-id` set to that key. The data plane hands the
//! execution log back in a response header, which is taken off here and becomes `log`.
//!
//! Differences from AWS: Lambda authorizers run (AWS skips the method's authorizer in a test
//! invocation); the resource policy does not apply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use portico_shared::compile::compile_rest_api;
use portico_shared::limits::{TEST_INVOKE_ANSWER_MAX_BYTES, TEST_INVOKE_TIMEOUT_MS};
use portico_shared::model::rest::{
    Integration, IntegrationResponse, Method, MethodResponse, MethodSetting, Resource,
};
use portico_shared::model::{AuthorizationType, IntegrationType};
use portico_shared::snapshot::TEST_INVOKE_LOG_LEVEL;

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::wire::{ok, Body, Params};
use crate::AdminState;

/// The stage a test invocation runs in (AWS's name for it).
pub(crate) const TEST_STAGE: &str = "test-invoke-stage";
/// The response header the data plane returns the log in (`trace::TEST_INVOKE_LOG_HEADER`).
const LOG_HEADER: &str = "x-portico-test-invoke-log";

/// `TestInvokeMethodRequest` / `TestInvokeAuthorizerRequest` (botocore's members).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestInvokeInput {
    path_with_query_string: Option<String>,
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    multi_value_headers: BTreeMap<String, Vec<String>>,
    #[allow(dead_code)]
    client_certificate_id: Option<String>,
    #[serde(default)]
    stage_variables: BTreeMap<String, String>,
    #[allow(dead_code)]
    #[serde(default)]
    additional_context: BTreeMap<String, String>,
}

/// `TestInvokeMethodResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestInvokeMethodOutput {
    status: u16,
    body: String,
    headers: BTreeMap<String, String>,
    multi_value_headers: BTreeMap<String, Vec<String>>,
    log: String,
    latency: u64,
}

/// `TestInvokeAuthorizerResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestInvokeAuthorizerOutput {
    client_status: u16,
    log: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    authorization: BTreeMap<String, Vec<String>>,
    claims: BTreeMap<String, String>,
    latency: u64,
}

/// The per-process secret in test invocation snapshot keys.
fn secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        crate::ids::random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
            .unwrap_or_else(|_| crate::ids::generate(32))
    })
}

/// The snapshot key of `api_id`'s test stage.
fn test_key(api_id: &str) -> String {
    format!("{api_id}!{}", secret())
}

/// Compiles the API's current configuration as [`TEST_STAGE`] (with `resources` in place of
/// its resource tree) and publishes it under [`test_key`].
fn publish_test_api(
    c: &mut Catalog,
    api_id: &str,
    variables: &BTreeMap<String, String>,
    resources: Option<Vec<Resource>>,
) -> Result<String, ApiError> {
    let state = Arc::clone(c.rest().get(api_id)?);
    let resources = resources.unwrap_or_else(|| state.resources.values().cloned().collect());
    let gateway_responses: Vec<_> = state.gateway_responses.values().cloned().collect();
    let models: Vec<_> = state.models.values().cloned().collect();
    let request_validators: Vec<_> = state.request_validators.values().cloned().collect();
    let authorizers: Vec<_> = state.authorizers.values().cloned().collect();
    let mut settings = BTreeMap::new();
    settings.insert(
        "*/*".to_owned(),
        MethodSetting {
            logging_level: TEST_INVOKE_LOG_LEVEL.into(),
            data_trace_enabled: true,
            ..MethodSetting::default()
        },
    );
    let spec = portico_shared::model::rest::RestApiSpec {
        api_id: &state.api.id,
        api_key_source: state.api.api_key_source,
        disable_execute_api_endpoint: false,
        policy: None,
        private: false,
        binary_media_types: &state.api.binary_media_types,
        stages: vec![portico_shared::model::rest::RestStageSpec {
            stage_name: TEST_STAGE,
            variables,
            method_settings: &settings,
            resources: &resources,
            gateway_responses: &gateway_responses,
            cache_cluster_enabled: false,
            cache_cluster_size: None,
            models: &models,
            request_validators: &request_validators,
            authorizers: &authorizers,
            canary: None,
            // A test invocation writes no access log (AWS writes none either).
            access_log: (None, None),
        }],
    };
    let api = compile_rest_api(&spec, c.compile_context()).map_err(|errors| {
        let problems: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        ApiError::invalid(&problems)
    })?;
    let key = test_key(api_id);
    c.publish(|current, generation| current.with_api_as(generation, &key, Arc::new(api)));
    Ok(key)
}

/// What the data plane answered.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    log: String,
    latency_ms: u64,
}

/// Sends one request to the data plane listener, addressed to the test stage under `key`.
async fn send(
    s: &AdminState,
    key: &str,
    method: &str,
    path_with_query: &str,
    input: &TestInvokeInput,
) -> Result<Answer, ApiError> {
    let port = s.endpoint().port;
    let body = input.body.as_deref().unwrap_or("");
    let mut req = format!("{method} /{TEST_STAGE}{path_with_query} HTTP/1.1\r\n");
    req.push_str("host: 127.0.0.1\r\n");
    req.push_str(&format!("x-apigw-api-id: {key}\r\n"));
    let reserved = |n: &str| {
        matches!(
            n.to_ascii_lowercase().as_str(),
            "host" | "x-apigw-api-id" | "content-length" | "transfer-encoding" | "connection"
        )
    };
    let clean = |v: &str| !v.bytes().any(|b| b == b'\r' || b == b'\n');
    for (n, v) in &input.headers {
        if !reserved(n) && clean(n) && clean(v) {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    for (n, vs) in &input.multi_value_headers {
        if input.headers.contains_key(n) || reserved(n) || !clean(n) {
            continue;
        }
        for v in vs.iter().filter(|v| clean(v)) {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    req.push_str(body);
    let started = Instant::now();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(req.as_bytes()).await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(TEST_INVOKE_ANSWER_MAX_BYTES as u64)
            .read_to_end(&mut answer)
            .await?;
        Ok::<_, std::io::Error>(answer)
    };
    let timeout = std::time::Duration::from_millis(TEST_INVOKE_TIMEOUT_MS);
    let raw = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ApiError::Internal("test invocation timed out".into()))?
        .map_err(|e| ApiError::Internal(format!("test invocation: {e}")))?;
    let latency_ms = started.elapsed().as_millis() as u64;
    parse_answer(&raw, latency_ms)
}

fn parse_answer(raw: &[u8], latency_ms: u64) -> Result<Answer, ApiError> {
    let bad = || ApiError::Internal("test invocation: malformed data plane answer".into());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let mut headers = Vec::new();
    let mut log = String::new();
    let mut chunked = false;
    for l in lines {
        let Some((n, v)) = l.split_once(':') else {
            continue;
        };
        let (n, v) = (n.trim(), v.trim());
        if n.eq_ignore_ascii_case(LOG_HEADER) {
            let text = base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| bad())?;
            log = String::from_utf8_lossy(&text).into_owned();
            continue;
        }
        if n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
        if n.eq_ignore_ascii_case("connection") || n.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        headers.push((n.to_owned(), v.to_owned()));
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok(Answer {
        status,
        headers,
        body,
        log,
        latency_ms,
    })
}

/// A chunked body's data (a truncated one: what arrived).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else {
            return out;
        };
        let start = eol + 2;
        let end = (start + size).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        raw = raw.get(end + 2..).unwrap_or(&[]);
    }
}

/// `POST /restapis/{id}/resources/{rid}/methods/{m}`: `TestInvokeMethod`.
pub(crate) async fn test_invoke_method(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<(String, String, String)>,
    Body(input): Body<TestInvokeInput>,
) -> Response {
    ok(invoke_method(&s, a, r, m, input).await)
}

async fn invoke_method(
    s: &AdminState,
    a: String,
    r: String,
    m: String,
    input: TestInvokeInput,
) -> Result<serde_json::Value, ApiError> {
    let variables = input.stage_variables.clone();
    let (aa, rr, mm) = (a.clone(), r.clone(), m.clone());
    let (key, path) = s
        .write(move |c| {
            let state = c.rest().get(&aa)?;
            let resource = state.resource(&rr)?;
            crate::v1::rest::method(resource, &mm)?;
            let path = resource.path.clone();
            let key = publish_test_api(c, &aa, &variables, None)?;
            Ok((key, path))
        })
        .await?;
    let path_with_query = input.path_with_query_string.clone().unwrap_or(path);
    let path_with_query = if path_with_query.starts_with('/') {
        path_with_query
    } else {
        format!("/{path_with_query}")
    };
    // `ANY` methods are tested with GET, as the console does by default.
    let verb = if m == "ANY" { "GET" } else { m.as_str() };
    let answer = send(s, &key, verb, &path_with_query, &input).await?;
    let mut headers = BTreeMap::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in &answer.headers {
        headers.insert(n.clone(), v.clone());
        multi.entry(n.clone()).or_default().push(v.clone());
    }
    let out = TestInvokeMethodOutput {
        status: answer.status,
        body: String::from_utf8_lossy(&answer.body).into_owned(),
        headers,
        multi_value_headers: multi,
        log: answer.log,
        latency: answer.latency_ms,
    };
    serde_json::to_value(out).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /restapis/{id}/authorizers/{aid}`: `TestInvokeAuthorizer`. The authorizer guards a
/// one-method resource tree (`ANY /`, a `MOCK` answering the grant) compiled as the test stage.
pub(crate) async fn test_invoke_authorizer(
    State(s): State<AdminState>,
    Params((a, id)): Params<(String, String)>,
    Body(input): Body<TestInvokeInput>,
) -> Response {
    ok(invoke_authorizer(&s, a, id, input).await)
}

async fn invoke_authorizer(
    s: &AdminState,
    a: String,
    id: String,
    input: TestInvokeInput,
) -> Result<serde_json::Value, ApiError> {
    let variables = input.stage_variables.clone();
    let aa = a.clone();
    let key = s
        .write(move |c| {
            let state = c.rest().get(&aa)?;
            if !state.authorizers.contains_key(&id) {
                return Err(ApiError::NotFound(
                    "Invalid Authorizer identifier specified".into(),
                ));
            }
            let resource = authorizer_probe(&id);
            publish_test_api(c, &aa, &variables, Some(vec![resource]))
        })
        .await?;
    let path = input
        .path_with_query_string
        .clone()
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| "/".into());
    let answer = send(s, &key, "GET", &path, &input).await?;
    let grant: serde_json::Value = if answer.status == 200 {
        serde_json::from_slice(&answer.body).unwrap_or_default()
    } else {
        serde_json::Value::Null
    };
    let text = |k: &str| {
        grant
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let claims = grant
        .get("claims")
        .and_then(|c| c.as_object())
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    let out = TestInvokeAuthorizerOutput {
        client_status: answer.status,
        log: answer.log,
        principal_id: text("principalId"),
        policy: text("policy"),
        authorization: BTreeMap::new(),
        claims,
        latency: answer.latency_ms,
    };
    serde_json::to_value(out).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `ANY /` and `ANY /{proxy+}` guarded by authorizer `id`, answered by a `MOCK` whose template
/// writes the authorizer's principal and context.
fn authorizer_probe(id: &str) -> Resource {
    let template = r#"{"principalId": "$util.escapeJavaScript($context.authorizer.principalId)", "claims": {}}"#;
    let json = || "application/json".to_owned();
    let integration = Integration {
        request_templates: [(json(), r#"{"statusCode": 200}"#.to_owned())].into(),
        passthrough_behavior: Some("WHEN_NO_MATCH".into()),
        integration_responses: [(
            "200".to_owned(),
            IntegrationResponse {
                status_code: "200".into(),
                response_templates: [(json(), template.to_owned())].into(),
                ..IntegrationResponse::default()
            },
        )]
        .into(),
        ..Integration::of_type(IntegrationType::Mock)
    };
    let method = Method {
        http_method: "ANY".into(),
        authorization_type: AuthorizationType::Custom,
        authorizer_id: Some(id.to_owned()),
        method_responses: [(
            "200".to_owned(),
            MethodResponse {
                status_code: "200".into(),
                ..MethodResponse::default()
            },
        )]
        .into(),
        method_integration: Some(integration),
        ..Method::default()
    };
    Resource {
        id: "testinvoke".into(),
        path: "/".into(),
        resource_methods: [("ANY".to_owned(), method)].into(),
        ..Resource::default()
    }
}
