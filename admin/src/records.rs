//! The `apigatewayv2` resources as the admin API sends, receives and stores them: member names
//! and shapes from botocore's `apigatewayv2` 2018-11-29 model, lowerCamel JSON, ISO-8601
//! timestamps.
//!
//! Each resource has a record (what `Get*` answers and what the store keeps) and an input (what
//! `Create*`/`Update*` accept; every member optional so one type serves both, with the required
//! ones checked by the handler). Inputs ignore unknown members (a newer SDK's). `validate_*` functions return
//! every problem found, in AWS's words where AWS has them.

use portico_shared::limits::{ACCESS_LOG_FORMAT_MAX_CHARS, INTEGRATION_TIMEOUT_MIN_MS};
use portico_shared::limits::{
    HTTP_STAGE_VARIABLE_VALUE_MAX_CHARS, REST_STAGE_VARIABLE_VALUE_MAX_CHARS, STAGE_VARIABLES_MAX,
    STAGE_VARIABLE_NAME_MAX_CHARS, TAGS_MAX,
};
use portico_shared::model::{
    self, AuthorizationType, AuthorizerType, ConnectionType, IntegrationType,
};
use portico_shared::router::RouteKey;
use portico_shared::vpc_link::Plane;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only route selection expression HTTP APIs have.
/// What AWS stores and echoes for an HTTP API (the provider's default too).
pub(crate) const ROUTE_SELECTION_EXPRESSION: &str = "$request.method $request.path";
/// The form AWS's API reference writes; accepted on input and stored as [`ROUTE_SELECTION_EXPRESSION`].
pub(crate) const ROUTE_SELECTION_EXPRESSION_BRACED: &str = "${request.method} ${request.path}";

/// AWS's default API key selection expression.
pub(crate) const API_KEY_SELECTION_EXPRESSION: &str = "$request.header.x-api-key";

/// CORS configuration (`Cors`): the model's own type, validated by
/// `portico_shared::cors::CorsPolicy::compile` and served by the data plane.
pub(crate) use portico_shared::model::Cors;

/// `requestParameters` of an HTTP API integration: mapping key → value.
pub(crate) type RequestParameters = BTreeMap<String, String>;

/// `responseParameters` of an HTTP API integration: status code → mapping key → value.
pub(crate) type ResponseParameters = BTreeMap<String, BTreeMap<String, String>>;

/// An API (`Api`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiRecord {
    pub(crate) api_id: String,
    /// Filled in on the way out (`http://{apiId}.{domain}:{port}`); not stored, since the port may
    /// change between runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) api_endpoint: Option<String>,
    pub(crate) api_gateway_managed: bool,
    pub(crate) api_key_selection_expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cors_configuration: Option<Cors>,
    pub(crate) created_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) disable_execute_api_endpoint: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disable_schema_validation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip_address_type: Option<String>,
    pub(crate) name: String,
    pub(crate) protocol_type: model::ProtocolType,
    pub(crate) route_selection_expression: String,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

/// `CreateApi` and `UpdateApi` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiInput {
    pub(crate) api_key_selection_expression: Option<String>,
    pub(crate) cors_configuration: Option<Cors>,
    pub(crate) credentials_arn: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) disable_schema_validation: Option<bool>,
    pub(crate) disable_execute_api_endpoint: Option<bool>,
    pub(crate) ip_address_type: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) protocol_type: Option<String>,
    pub(crate) route_key: Option<String>,
    pub(crate) route_selection_expression: Option<String>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
    pub(crate) target: Option<String>,
    pub(crate) version: Option<String>,
}

/// A route (`Route`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteRecord {
    pub(crate) api_gateway_managed: bool,
    pub(crate) api_key_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorization_scopes: Option<Vec<String>>,
    pub(crate) authorization_type: AuthorizationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorizer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_models: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_parameters: Option<BTreeMap<String, ParameterConstraints>>,
    pub(crate) route_id: String,
    pub(crate) route_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) route_response_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<String>,
}

/// `ParameterConstraints`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParameterConstraints {
    #[serde(default)]
    pub(crate) required: bool,
}

/// `jwtConfiguration`, with Portico's `jwksUri` extension: an `http://` JWKS URL fetched
/// instead of the issuer's OpenID discovery document (private networks, tests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JwtConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) audience: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jwks_uri: Option<String>,
}

impl JwtConfiguration {
    fn is_empty(&self) -> bool {
        self == &JwtConfiguration::default()
    }
}

/// An authorizer (`Authorizer`): `JWT`, or `REQUEST` (a Lambda authorizer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizerRecord {
    pub(crate) authorizer_id: String,
    pub(crate) authorizer_type: AuthorizerType,
    pub(crate) identity_source: Vec<String>,
    #[serde(default, skip_serializing_if = "JwtConfiguration::is_empty")]
    pub(crate) jwt_configuration: JwtConfiguration,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorizer_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorizer_credentials_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorizer_payload_format_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorizer_result_ttl_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) enable_simple_responses: Option<bool>,
}

/// `CreateAuthorizer` and `UpdateAuthorizer` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizerInput {
    pub(crate) authorizer_credentials_arn: Option<String>,
    pub(crate) authorizer_payload_format_version: Option<String>,
    pub(crate) authorizer_result_ttl_in_seconds: Option<i64>,
    pub(crate) authorizer_type: Option<String>,
    pub(crate) authorizer_uri: Option<String>,
    pub(crate) enable_simple_responses: Option<bool>,
    pub(crate) identity_source: Option<Vec<String>>,
    pub(crate) identity_validation_expression: Option<String>,
    pub(crate) jwt_configuration: Option<JwtConfiguration>,
    pub(crate) name: Option<String>,
}

/// `CreateRoute` and `UpdateRoute` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteInput {
    pub(crate) api_key_required: Option<bool>,
    pub(crate) authorization_scopes: Option<Vec<String>>,
    pub(crate) authorization_type: Option<String>,
    pub(crate) authorizer_id: Option<String>,
    pub(crate) model_selection_expression: Option<String>,
    pub(crate) operation_name: Option<String>,
    pub(crate) request_models: Option<BTreeMap<String, String>>,
    pub(crate) request_parameters: Option<BTreeMap<String, ParameterConstraints>>,
    pub(crate) route_key: Option<String>,
    pub(crate) route_response_selection_expression: Option<String>,
    pub(crate) target: Option<String>,
}

/// An integration (`Integration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationRecord {
    pub(crate) api_gateway_managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) connection_id: Option<String>,
    pub(crate) connection_type: ConnectionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) credentials_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) integration_id: String,
    /// Empty for a WebSocket MOCK integration created without one (AWS shows none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) integration_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) integration_subtype: Option<String>,
    pub(crate) integration_type: IntegrationType,
    #[serde(default)]
    pub(crate) integration_uri: String,
    pub(crate) payload_format_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_parameters: Option<RequestParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_parameters: Option<ResponseParameters>,
    pub(crate) timeout_in_millis: u32,
    /// WebSocket APIs only, from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_handling_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) integration_response_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) passthrough_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_templates: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) template_selection_expression: Option<String>,
    /// HTTP APIs' private integrations: stored and returned. The data plane verifies an
    /// upstream's certificate against the `integrationUri` host (docs/operations.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tls_config: Option<TlsConfig>,
}

/// `TlsConfig` of an HTTP API integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_name_to_verify: Option<String>,
}

/// A WebSocket route response (`RouteResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteResponseRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_models: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_parameters: Option<BTreeMap<String, ParameterConstraints>>,
    pub(crate) route_response_id: String,
    pub(crate) route_response_key: String,
}

/// `CreateRouteResponse` and `UpdateRouteResponse` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteResponseInput {
    pub(crate) model_selection_expression: Option<String>,
    pub(crate) response_models: Option<BTreeMap<String, String>>,
    pub(crate) response_parameters: Option<BTreeMap<String, ParameterConstraints>>,
    pub(crate) route_response_key: Option<String>,
}

/// A WebSocket integration response (`IntegrationResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationResponseRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_handling_strategy: Option<String>,
    pub(crate) integration_response_id: String,
    pub(crate) integration_response_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_parameters: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_templates: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) template_selection_expression: Option<String>,
}

/// `CreateIntegrationResponse` and `UpdateIntegrationResponse` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationResponseInput {
    pub(crate) content_handling_strategy: Option<String>,
    pub(crate) integration_response_key: Option<String>,
    pub(crate) response_parameters: Option<BTreeMap<String, String>>,
    pub(crate) response_templates: Option<BTreeMap<String, String>>,
    pub(crate) template_selection_expression: Option<String>,
}

/// `CreateIntegration` and `UpdateIntegration` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationInput {
    pub(crate) connection_id: Option<String>,
    pub(crate) connection_type: Option<String>,
    pub(crate) content_handling_strategy: Option<String>,
    pub(crate) credentials_arn: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) integration_method: Option<String>,
    pub(crate) integration_response_selection_expression: Option<String>,
    pub(crate) integration_subtype: Option<String>,
    pub(crate) integration_type: Option<String>,
    pub(crate) integration_uri: Option<String>,
    pub(crate) passthrough_behavior: Option<String>,
    pub(crate) payload_format_version: Option<String>,
    pub(crate) request_parameters: Option<RequestParameters>,
    pub(crate) request_templates: Option<BTreeMap<String, String>>,
    pub(crate) response_parameters: Option<ResponseParameters>,
    pub(crate) template_selection_expression: Option<String>,
    pub(crate) timeout_in_millis: Option<i64>,
    pub(crate) tls_config: Option<TlsConfig>,
}

/// Per-route settings of a stage (`RouteSettings`): throttling, and execution logging on
/// WebSocket APIs (HTTP APIs refuse `ERROR`/`INFO` and `dataTraceEnabled`, as AWS does).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data_trace_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) detailed_metrics_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logging_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) throttling_burst_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) throttling_rate_limit: Option<f64>,
}

/// Access log settings (`AccessLogSettings`); stored, used when access logs land.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessLogSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) destination_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<String>,
}

/// A stage (`Stage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_log_settings: Option<AccessLogSettings>,
    pub(crate) api_gateway_managed: bool,
    pub(crate) auto_deploy: bool,
    pub(crate) created_date: String,
    pub(crate) default_route_settings: RouteSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_deployment_status_message: Option<String>,
    pub(crate) last_updated_date: String,
    #[serde(default)]
    pub(crate) route_settings: BTreeMap<String, RouteSettings>,
    pub(crate) stage_name: String,
    #[serde(default)]
    pub(crate) stage_variables: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
}

impl StageRecord {
    /// The stage as compilation and export see it: variables and throttling.
    pub(crate) fn to_model(&self) -> portico_shared::model::Stage {
        let settings = |r: &RouteSettings| portico_shared::model::RouteSettings {
            throttling_burst_limit: r.throttling_burst_limit,
            throttling_rate_limit: r.throttling_rate_limit,
            logging_level: r
                .logging_level
                .as_deref()
                .and_then(portico_shared::model::LoggingLevel::parse),
            data_trace_enabled: r.data_trace_enabled,
        };
        let default = settings(&self.default_route_settings);
        portico_shared::model::Stage {
            stage_name: self.stage_name.clone(),
            stage_variables: self.stage_variables.clone(),
            default_route_settings: (default != Default::default()).then_some(default),
            route_settings: self
                .route_settings
                .iter()
                .map(|(k, v)| (k.clone(), settings(v)))
                .filter(|(_, v)| *v != Default::default())
                .collect(),
            access_log_settings: self.access_log_settings.as_ref().map(|a| {
                portico_shared::model::AccessLogSettings {
                    destination_arn: a.destination_arn.clone(),
                    format: a.format.clone(),
                }
            }),
        }
    }
}

/// `CreateStage` and `UpdateStage` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageInput {
    pub(crate) access_log_settings: Option<AccessLogSettings>,
    pub(crate) auto_deploy: Option<bool>,
    pub(crate) client_certificate_id: Option<String>,
    pub(crate) default_route_settings: Option<RouteSettings>,
    pub(crate) deployment_id: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) route_settings: Option<BTreeMap<String, RouteSettings>>,
    pub(crate) stage_name: Option<String>,
    pub(crate) stage_variables: Option<BTreeMap<String, String>>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// A deployment (`Deployment`): an immutable snapshot of the API's routes and integrations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentRecord {
    pub(crate) auto_deployed: bool,
    pub(crate) created_date: String,
    pub(crate) deployment_id: String,
    pub(crate) deployment_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
}

/// The routes and integrations a deployment froze, in the compiler's input model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentContent {
    pub(crate) routes: Vec<model::Route>,
    pub(crate) integrations: Vec<model::Integration>,
    /// The JWT authorizers the routes name, frozen with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) authorizers: Vec<model::Authorizer>,
}

/// `CreateDeployment` and `UpdateDeployment` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentInput {
    pub(crate) description: Option<String>,
    pub(crate) stage_name: Option<String>,
}

/// A page of a `Get*s` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_token: Option<String>,
}

// === validation ===

/// Checks a string member's length in characters.
pub(crate) fn check_len(
    problems: &mut Vec<String>,
    member: &str,
    value: Option<&str>,
    min: usize,
    max: usize,
) {
    if let Some(v) = value {
        let n = v.chars().count();
        if n < min || n > max {
            problems.push(format!(
                "{member} must be between {min} and {max} characters long"
            ));
        }
    }
}

/// Checks a stage's `accessLogSettings` (v2 `CreateStage`/`UpdateStage` and `--config` files).
pub(crate) fn check_access_log_format(problems: &mut Vec<String>, format: Option<&str>) {
    let member = "accessLogSettings.format";
    check_len(problems, member, format, 1, ACCESS_LOG_FORMAT_MAX_CHARS);
}

/// Checks tags: at most [`TAGS_MAX`], keys 1..128 and values 0..256 characters.
pub(crate) fn check_tags(problems: &mut Vec<String>, tags: Option<&BTreeMap<String, String>>) {
    let Some(tags) = tags else { return };
    if tags.len() > TAGS_MAX {
        problems.push(format!("tags must have at most {TAGS_MAX} entries"));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            problems.push(format!(
                "tag '{k}' must have a key of 1 to 128 characters and a value of at most 256"
            ));
        }
    }
}

/// Checks a route key's syntax with the router's own parser (AWS's rules).
pub(crate) fn check_route_key(problems: &mut Vec<String>, key: &str) {
    if let Err(e) = RouteKey::parse(key) {
        problems.push(format!("Invalid routeKey: {e}"));
    }
}

/// Checks `target` is `integrations/{integrationId}`; returns the id.
pub(crate) fn target_integration<'t>(
    problems: &mut Vec<String>,
    target: &'t str,
) -> Option<&'t str> {
    match target.strip_prefix("integrations/") {
        Some(id) if !id.is_empty() => Some(id),
        _ => {
            problems.push(format!(
                "Invalid target '{target}': must be 'integrations/{{integrationId}}'"
            ));
            None
        }
    }
}

/// Checks an `HTTP_PROXY` integration URI: an absolute `http://` URL with a host and, if given, a
/// port. A URI with `${stageVariables.*}` in its authority is checked when a stage deploys it
/// (the values are the stage's).
pub(crate) fn check_http_uri(problems: &mut Vec<String>, uri: &str) {
    let n = uri.chars().count();
    if n == 0 || n > 2048 {
        problems.push("integrationUri must be between 1 and 2048 characters long".into());
        return;
    }
    if uri
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        problems.push(format!(
            "Invalid integrationUri '{uri}': it must not contain whitespace or control characters"
        ));
        return;
    }
    let Some(rest) = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    else {
        problems.push(format!(
            "Invalid integrationUri '{uri}': HTTP_PROXY integrations need an absolute http:// or https:// URL"
        ));
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains("${") {
        return;
    }
    if authority.is_empty() || authority.contains('@') {
        problems.push(format!(
            "Invalid integrationUri '{uri}': it must name a host (and no user info)"
        ));
        return;
    }
    let port = if authority.starts_with('[') {
        authority
            .rsplit_once("]:")
            .map(|(_, p)| p)
            .filter(|_| authority.contains("]:"))
    } else {
        authority.rsplit_once(':').map(|(_, p)| p)
    };
    if let Some(p) = port {
        if !matches!(p.parse::<u16>(), Ok(1..)) {
            problems.push(format!(
                "Invalid integrationUri '{uri}': port '{p}' is not between 1 and 65535"
            ));
        }
    }
}

/// Checks a stage name, for both control planes: 1 to 128 letters, digits, `-` and `_`; HTTP
/// and WebSocket APIs (`Plane::V2`) also take `$default`.
pub(crate) fn check_stage_name(problems: &mut Vec<String>, name: &str, plane: Plane) {
    if plane == Plane::V2 && name == model::DEFAULT_STAGE {
        return;
    }
    if name.is_empty()
        || name.chars().count() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let default = if plane == Plane::V2 {
            "$default or "
        } else {
            ""
        };
        problems.push(format!(
            "Invalid stageName '{name}': use {default}1 to 128 letters, digits, '-' and '_'"
        ));
    }
}

/// Checks stage variables as AWS, for both control planes: at most 100, names
/// `[A-Za-z0-9_]{1,64}`, values from `[A-Za-z0-9-._~:/?#&=,]` of at most 2048 characters (HTTP
/// and WebSocket APIs) or 512 (REST APIs, whose member is `variables` and whose messages are
/// worded as `apigateway` words them).
pub(crate) fn check_stage_variables(
    problems: &mut Vec<String>,
    vars: &BTreeMap<String, String>,
    plane: Plane,
) {
    let (member, max_value) = match plane {
        Plane::V1 => ("variables", REST_STAGE_VARIABLE_VALUE_MAX_CHARS),
        Plane::V2 => ("stageVariables", HTTP_STAGE_VARIABLE_VALUE_MAX_CHARS),
    };
    if vars.len() > STAGE_VARIABLES_MAX {
        problems.push(format!(
            "{member} must have at most {STAGE_VARIABLES_MAX} entries"
        ));
    }
    for (k, v) in vars {
        if k.is_empty()
            || k.len() > STAGE_VARIABLE_NAME_MAX_CHARS
            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            problems.push(format!(
                "Invalid stage variable name '{k}': use 1 to {STAGE_VARIABLE_NAME_MAX_CHARS} letters, digits and '_'"
            ));
        }
        if v.is_empty()
            || v.len() > max_value
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b))
        {
            problems.push(match plane {
                Plane::V1 => format!(
                    "Invalid stage variable value for '{k}': use 1 to {max_value} of letters, digits and -._~:/?#&=,"
                ),
                Plane::V2 => format!(
                    "Invalid value for stage variable '{k}': use 1 to {max_value} characters from A-Z a-z 0-9 - . _ ~ : / ? # & = ,"
                ),
            });
        }
    }
}

/// Checks route settings (`defaultRouteSettings` and each of `routeSettings`).
pub(crate) fn check_route_settings(problems: &mut Vec<String>, at: &str, s: &RouteSettings) {
    if let Some(level) = s.logging_level.as_deref() {
        if !matches!(level, "ERROR" | "INFO" | "OFF") {
            problems.push(format!(
                "{at}.loggingLevel must be ERROR, INFO or OFF, not '{level}'"
            ));
        }
    }
    if matches!(s.throttling_burst_limit, Some(n) if n < 0) {
        problems.push(format!("{at}.throttlingBurstLimit must not be negative"));
    }
    if matches!(s.throttling_rate_limit, Some(r) if !(r >= 0.0 && r.is_finite())) {
        problems.push(format!(
            "{at}.throttlingRateLimit must be a non-negative number"
        ));
    }
}

/// Checks an `integrationMethod` (`ANY` forwards the downstream method).
pub(crate) fn check_integration_method(problems: &mut Vec<String>, method: &str) {
    if !matches!(
        method,
        "ANY" | "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
    ) {
        problems.push(format!(
            "Invalid integrationMethod '{method}': use ANY, GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS"
        ));
    }
}

/// Checks an integration's `timeoutInMillis`, for every API type: 50 ms to `max_ms`
/// (30,000 for HTTP APIs, 29,000 for REST and WebSocket APIs). The value when it is in bounds.
pub(crate) fn check_timeout(problems: &mut Vec<String>, ms: i64, max_ms: u32) -> Option<u32> {
    match u32::try_from(ms) {
        Ok(t) if (INTEGRATION_TIMEOUT_MIN_MS..=max_ms).contains(&t) => Some(t),
        _ => {
            problems.push(format!(
                "timeoutInMillis must be between {INTEGRATION_TIMEOUT_MIN_MS} and {max_ms}"
            ));
            None
        }
    }
}

// === impl RouteRecord ===

impl RouteRecord {
    /// The compiler's view of this route.
    pub(crate) fn to_model(&self) -> model::Route {
        model::Route {
            route_id: self.route_id.clone(),
            route_key: self.route_key.clone(),
            target: self.target.clone(),
            authorizer_id: self.authorizer_id.clone().filter(|_| {
                matches!(
                    self.authorization_type,
                    AuthorizationType::Jwt | AuthorizationType::Custom
                )
            }),
            authorization_type: (self.authorization_type == AuthorizationType::AwsIam)
                .then_some(AuthorizationType::AwsIam),
            authorization_scopes: self.authorization_scopes.clone().unwrap_or_default(),
            route_response: false,
        }
    }
}

// === impl AuthorizerRecord ===

impl AuthorizerRecord {
    /// The compiler's view of this authorizer.
    pub(crate) fn to_model(&self) -> model::Authorizer {
        let jwt = &self.jwt_configuration;
        model::Authorizer {
            authorizer_id: self.authorizer_id.clone(),
            identity_source: self.identity_source.first().cloned().unwrap_or_default(),
            issuer: jwt.issuer.clone().unwrap_or_default(),
            audience: jwt.audience.clone().unwrap_or_default(),
            jwks_uri: jwt.jwks_uri.clone(),
            lambda: (self.authorizer_type == AuthorizerType::Request).then(|| {
                model::LambdaAuthorizer {
                    authorizer_uri: self.authorizer_uri.clone().unwrap_or_default(),
                    authorizer_credentials_arn: self.authorizer_credentials_arn.clone(),
                    identity_source: self.identity_source.clone(),
                    authorizer_payload_format_version: self
                        .authorizer_payload_format_version
                        .clone()
                        .unwrap_or_default(),
                    enable_simple_responses: self.enable_simple_responses.unwrap_or(false),
                    authorizer_result_ttl_in_seconds: self.authorizer_result_ttl_in_seconds,
                }
            }),
        }
    }
}

// === impl IntegrationRecord ===

impl IntegrationRecord {
    /// The compiler's view of this integration (its integration responses are added by the
    /// caller, which has them).
    pub(crate) fn to_model(&self) -> model::Integration {
        model::Integration {
            integration_id: self.integration_id.clone(),
            integration_type: self.integration_type,
            integration_method: Some(self.integration_method.clone()).filter(|m| !m.is_empty()),
            integration_uri: self.integration_uri.clone(),
            timeout_in_millis: Some(self.timeout_in_millis),
            payload_format_version: Some(self.payload_format_version.clone()),
            integration_subtype: self.integration_subtype.clone(),
            credentials_arn: self.credentials_arn.clone(),
            request_parameters: self.request_parameters.clone().unwrap_or_default(),
            response_parameters: self.response_parameters.clone().unwrap_or_default(),
            request_templates: self.request_templates.clone().unwrap_or_default(),
            template_selection_expression: self.template_selection_expression.clone(),
            passthrough_behavior: self.passthrough_behavior.clone(),
            integration_responses: Vec::new(),
            connection_type: Some(self.connection_type),
            connection_id: self.connection_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(f: impl FnOnce(&mut Vec<String>)) -> Vec<String> {
        let mut p = Vec::new();
        f(&mut p);
        p
    }

    #[test]
    fn uris() {
        for ok in [
            "http://127.0.0.1:3000/x/{id}",
            "http://example.com",
            "http://[::1]:80/a",
            "http://${stageVariables.host}/a",
            "https://example.com:8443/a",
        ] {
            assert!(problems(|p| check_http_uri(p, ok)).is_empty(), "{ok}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "http://",
            "http://a:0",
            "http://a:99999",
            "http://u@h",
            "http://a b",
            "",
        ] {
            assert_eq!(problems(|p| check_http_uri(p, bad)).len(), 1, "{bad}");
        }
    }

    #[test]
    fn stage_variables() {
        let ok: BTreeMap<String, String> = [("up".into(), "127.0.0.1:80/x".into())].into();
        assert!(problems(|p| check_stage_variables(p, &ok, Plane::V2)).is_empty());
        let bad: BTreeMap<String, String> = [("b-d".into(), "sp ace".into())].into();
        assert_eq!(
            problems(|p| check_stage_variables(p, &bad, Plane::V2)).len(),
            2
        );
    }
}
