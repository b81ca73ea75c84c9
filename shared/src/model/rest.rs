//! REST APIs (`apigateway` v1) in AWS's wire shapes: the documents the admin API stores and a
//! deployment freezes, and the input [`crate::compile::compile_rest_api`] compiles.
//!
//! Field names and JSON shapes are botocore's `apigateway` model (lowerCamelCase, `Option`s skipped
//! when absent), so a stored document is what `GetResource`/`GetMethod`/... answer. Nothing here
//! is read on the request path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AuthorizationType, AuthorizerType, ConnectionType, IntegrationType};

/// `RestApi.apiKeySource`: where a method that requires an API key reads it from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiKeySource {
    /// The `x-api-key` request header.
    #[default]
    Header,
    /// A Lambda authorizer's `usageIdentifierKey` (authorizers land with their issue).
    Authorizer,
}

/// A resource of the tree (`/`, `/pets`, `/pets/{id}`, `/{proxy+}`) with its methods.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_part: Option<String>,
    /// The full path: `/`, `/pets/{id}`.
    pub path: String,
    /// By HTTP method (`GET`, ..., `ANY`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_methods: BTreeMap<String, Method>,
}

/// A method of a resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Method {
    pub http_method: String,
    /// `NONE`, `AWS_IAM`, `CUSTOM`, `COGNITO_USER_POOLS`.
    pub authorization_type: AuthorizationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    #[serde(default)]
    pub api_key_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_validator_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    /// `method.request.{path|querystring|header}.NAME` → required.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_models: BTreeMap<String, String>,
    /// By status code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub method_responses: BTreeMap<String, MethodResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_integration: Option<Integration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
}

/// `MethodResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodResponse {
    pub status_code: String,
    /// `method.response.header.NAME` → required.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_models: BTreeMap<String, String>,
}

/// A method's integration (`Method.methodIntegration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// `HTTP`, `HTTP_PROXY`, `MOCK`, `AWS`, `AWS_PROXY`.
    #[serde(rename = "type")]
    pub integration_type: IntegrationType,
    /// The method used upstream (`PutIntegration`'s `integrationHttpMethod`); `ANY` or absent
    /// forwards the downstream method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<ConnectionType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// `integration.request.{path|querystring|header}.NAME` → source expression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, String>,
    /// Content type → template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
    /// `WHEN_NO_MATCH` (default), `WHEN_NO_TEMPLATES`, `NEVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
    /// 50 to 29,000 ms; 29,000 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_millis: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_namespace: Option<String>,
    /// Always on the wire, `[]` when empty, as AWS answers.
    #[serde(default)]
    pub cache_key_parameters: Vec<String>,
    /// By status code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub integration_responses: BTreeMap<String, IntegrationResponse>,
    /// `tlsConfig`: stored and returned by the control plane; the data plane verifies every
    /// HTTPS upstream's certificate whatever it says (a stated difference from AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
}

impl Integration {
    /// An integration of type `t` with every optional member absent.
    pub fn of_type(t: IntegrationType) -> Integration {
        Integration {
            integration_type: t,
            http_method: None,
            uri: None,
            connection_type: None,
            connection_id: None,
            credentials: None,
            request_parameters: BTreeMap::new(),
            request_templates: BTreeMap::new(),
            passthrough_behavior: None,
            content_handling: None,
            timeout_in_millis: None,
            cache_namespace: None,
            cache_key_parameters: Vec::new(),
            integration_responses: BTreeMap::new(),
            tls_config: None,
        }
    }
}

/// `TlsConfig` of a REST API integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfig {
    #[serde(default)]
    pub insecure_skip_verification: bool,
}

/// `IntegrationResponse`: how a non-proxy integration's answer becomes the method response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationResponse {
    pub status_code: String,
    /// A regular expression matched against the upstream status code; absent: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_pattern: Option<String>,
    /// `method.response.header.NAME` → source (`'static'`, `integration.response.header.X`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, String>,
    /// Content type → template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_templates: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
}

/// `MethodSetting`: a stage's settings for `*/*` (every method) or one `{resource~1path}/{METHOD}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodSetting {
    pub metrics_enabled: bool,
    pub logging_level: String,
    pub data_trace_enabled: bool,
    /// `-1`: not set (inherit).
    pub throttling_burst_limit: i64,
    /// `-1.0`: not set (inherit).
    pub throttling_rate_limit: f64,
    pub caching_enabled: bool,
    pub cache_ttl_in_seconds: i64,
    pub cache_data_encrypted: bool,
    pub require_authorization_for_cache_control: bool,
    pub unauthorized_cache_control_header_strategy: String,
}

impl Default for MethodSetting {
    fn default() -> MethodSetting {
        MethodSetting {
            metrics_enabled: false,
            logging_level: "OFF".into(),
            data_trace_enabled: false,
            throttling_burst_limit: -1,
            throttling_rate_limit: -1.0,
            caching_enabled: false,
            cache_ttl_in_seconds: 300,
            cache_data_encrypted: false,
            require_authorization_for_cache_control: true,
            unauthorized_cache_control_header_strategy: "SUCCEED_WITH_RESPONSE_HEADER".into(),
        }
    }
}

/// `GatewayResponse`: a customised response for one of AWS's response types.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayResponse {
    /// `THROTTLED`, `DEFAULT_4XX`, ...
    pub response_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// `gatewayresponse.header.NAME` → `'static'` | `method.request.header.X` | `context.X` | ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, String>,
    /// Content type → template (`$context.*` and `$stageVariables.*` substitution, not VTL).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_templates: BTreeMap<String, String>,
    #[serde(default)]
    pub default_response: bool,
}

/// `Model`: a JSON Schema (draft 4) a method's `requestModels` names per content type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub id: String,
    /// Alphanumeric; what `requestModels` refers to.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schema, a JSON document in a string (AWS's wire shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub content_type: String,
}

/// `RequestValidator`: which parts of a request a method that names it checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestValidator {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub validate_request_body: bool,
    #[serde(default)]
    pub validate_request_parameters: bool,
}

/// `Authorizer` (REST): a Lambda (`TOKEN`, `REQUEST`) or Cognito user pool authorizer, in
/// AWS's wire shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorizer {
    pub id: String,
    pub name: String,
    /// `TOKEN`, `REQUEST` or `COGNITO_USER_POOLS`.
    #[serde(rename = "type")]
    pub kind: AuthorizerType,
    #[serde(
        default,
        rename = "providerARNs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub provider_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    /// The role API Gateway assumes to invoke the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials: Option<String>,
    /// Comma-separated: `method.request.header.X`, `method.request.querystring.X`,
    /// `stageVariables.X`, `context.X`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_result_ttl_in_seconds: Option<i64>,
    /// Portico extension for `COGNITO_USER_POOLS`: the user pool's JWKS URL (`http://`), fetched
    /// instead of the issuer's discovery document (private networks, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// `ThrottleSettings`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// `QuotaSettings.period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

/// `QuotaSettings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSettings {
    pub limit: i64,
    /// Requests subtracted from the limit in the first period (AWS's current reading of it).
    #[serde(default)]
    pub offset: i64,
    pub period: QuotaPeriod,
}

/// `ApiStage`: one API stage a usage plan covers, with per-method throttles keyed
/// `/{resourcePath}/{METHOD}` (the root resource is `//GET`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiStage {
    pub api_id: String,
    pub stage: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttle: BTreeMap<String, ThrottleSettings>,
}

/// The parts of a usage plan the data plane enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct UsagePlanSpec {
    pub id: String,
    pub api_stages: Vec<ApiStage>,
    pub throttle: Option<ThrottleSettings>,
    pub quota: Option<QuotaSettings>,
}

/// The parts of an API key the data plane enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySpec {
    pub id: String,
    pub value: String,
    pub enabled: bool,
    /// The usage plans the key belongs to.
    pub usage_plan_ids: Vec<String>,
}

/// One stage of a REST API to compile: its settings and the deployment's resources.
#[derive(Debug, Clone)]
pub struct RestStageSpec<'a> {
    pub stage_name: &'a str,
    pub variables: &'a BTreeMap<String, String>,
    /// `*/*` and `{resource~1path}/{METHOD}` keys.
    pub method_settings: &'a BTreeMap<String, MethodSetting>,
    /// The deployment's resources, methods and integrations.
    pub resources: &'a [Resource],
    /// The deployment's gateway responses (customised ones only).
    pub gateway_responses: &'a [GatewayResponse],
    /// `cacheClusterEnabled` and `cacheClusterSize` (GB, AWS's sizes; absent: 0.5).
    pub cache_cluster_enabled: bool,
    pub cache_cluster_size: Option<&'a str>,
    /// The deployment's models, which methods' `requestModels` name.
    pub models: &'a [Model],
    /// The deployment's request validators, which methods' `requestValidatorId` name.
    pub request_validators: &'a [RequestValidator],
    /// The deployment's authorizers, which methods' `authorizerId` name.
    pub authorizers: &'a [Authorizer],
    /// `canarySettings`: the canary deployment a share of the stage's requests go to.
    pub canary: Option<RestCanarySpec<'a>>,
    /// `accessLogSettings`: `(destinationArn, format)`.
    pub access_log: (Option<&'a str>, Option<&'a str>),
}

/// A stage's canary: its deployment's content, its share of requests and its variables (the
/// stage's, with `stageVariableOverrides` applied).
#[derive(Debug, Clone)]
pub struct RestCanarySpec<'a> {
    /// `percentTraffic`, 0.0 to 100.0.
    pub percent_traffic: f64,
    pub variables: BTreeMap<String, String>,
    /// `useStageCache`: canary requests read and fill the stage's cache; else they bypass it.
    pub use_stage_cache: bool,
    pub resources: &'a [Resource],
    pub gateway_responses: &'a [GatewayResponse],
    pub models: &'a [Model],
    pub request_validators: &'a [RequestValidator],
    pub authorizers: &'a [Authorizer],
}

/// A REST API to compile.
#[derive(Debug, Clone)]
pub struct RestApiSpec<'a> {
    pub api_id: &'a str,
    pub api_key_source: ApiKeySource,
    pub disable_execute_api_endpoint: bool,
    /// The resource policy document, as stored.
    pub policy: Option<&'a str>,
    /// `endpointConfiguration.types` is `[PRIVATE]`.
    pub private: bool,
    /// `binaryMediaTypes`: request bodies of these types reach a Lambda function base64-encoded.
    pub binary_media_types: &'a [String],
    pub stages: Vec<RestStageSpec<'a>>,
}

/// The gateway response types AWS defines, with their default status codes (`None`: the
/// `DEFAULT_*` types, which have none of their own).
pub const GATEWAY_RESPONSE_TYPES: &[(&str, Option<u16>)] = &[
    ("ACCESS_DENIED", Some(403)),
    ("API_CONFIGURATION_ERROR", Some(500)),
    ("AUTHORIZER_CONFIGURATION_ERROR", Some(500)),
    ("AUTHORIZER_FAILURE", Some(500)),
    ("BAD_REQUEST_PARAMETERS", Some(400)),
    ("BAD_REQUEST_BODY", Some(400)),
    ("DEFAULT_4XX", None),
    ("DEFAULT_5XX", None),
    ("EXPIRED_TOKEN", Some(403)),
    ("INTEGRATION_FAILURE", Some(504)),
    ("INTEGRATION_TIMEOUT", Some(504)),
    ("INVALID_API_KEY", Some(403)),
    ("INVALID_SIGNATURE", Some(403)),
    ("MISSING_AUTHENTICATION_TOKEN", Some(403)),
    ("QUOTA_EXCEEDED", Some(429)),
    ("REQUEST_TOO_LARGE", Some(413)),
    ("RESOURCE_NOT_FOUND", Some(404)),
    ("THROTTLED", Some(429)),
    ("UNAUTHORIZED", Some(401)),
    ("UNSUPPORTED_MEDIA_TYPE", Some(415)),
    ("WAF_FILTERED", Some(403)),
];
