//! The `apigateway` (v1) wire records Portico adds to those of `portico_shared::model::rest`
//! (`RestApi`, `Deployment`, `Stage`), the operations' inputs, paging and validation.
//!
//! Shapes and member names are botocore's `apigateway` model: lowerCamelCase, dates as epoch
//! seconds, collections as `{"item": [...], "position": "..."}`. Inputs ignore members they do not
//! know, as AWS does for a newer SDK's members; members of the model Portico does not implement
//! are accepted by the parser and refused with a clear 400 by the operation.

use std::collections::BTreeMap;

use portico_shared::model::rest::{
    ApiKeySource, Authorizer, GatewayResponse, MethodSetting, Model, RequestValidator, Resource,
};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
pub(crate) use crate::page::{page, page_where, Collection, Listing};

/// The methods a resource may have.
pub(crate) const HTTP_METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// `RestApi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestApiRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Epoch seconds.
    pub(crate) created_date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) binary_media_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) minimum_compression_size: Option<i64>,
    pub(crate) api_key_source: ApiKeySource,
    pub(crate) endpoint_configuration: EndpointConfiguration,
    /// The policy document as given; shown (and stored) escaped, as AWS shows it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "policy_escaped",
        deserialize_with = "policy_unescaped"
    )]
    pub(crate) policy: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) disable_execute_api_endpoint: bool,
    /// The id of the `/` resource, created with the API and never deleted.
    pub(crate) root_resource_id: String,
}

/// `EndpointConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointConfiguration {
    #[serde(default)]
    pub(crate) types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip_address_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) vpc_endpoint_ids: Vec<String>,
}

/// `CreateRestApi` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestApiInput {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) clone_from: Option<String>,
    pub(crate) binary_media_types: Option<Vec<String>>,
    pub(crate) minimum_compression_size: Option<i64>,
    pub(crate) api_key_source: Option<String>,
    pub(crate) endpoint_configuration: Option<EndpointConfiguration>,
    pub(crate) policy: Option<String>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
    pub(crate) disable_execute_api_endpoint: Option<bool>,
    pub(crate) security_policy: Option<String>,
    pub(crate) endpoint_access_mode: Option<String>,
}

/// `CreateResource` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceInput {
    pub(crate) path_part: Option<String>,
}

/// `PutMethod` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MethodInput {
    pub(crate) authorization_type: Option<String>,
    pub(crate) authorizer_id: Option<String>,
    pub(crate) api_key_required: Option<bool>,
    pub(crate) operation_name: Option<String>,
    pub(crate) request_parameters: Option<BTreeMap<String, bool>>,
    pub(crate) request_models: Option<BTreeMap<String, String>>,
    pub(crate) request_validator_id: Option<String>,
    pub(crate) authorization_scopes: Option<Vec<String>>,
}

/// `CreateModel` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModelInput {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) content_type: Option<String>,
}

/// `CreateAuthorizer` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizerInput {
    pub(crate) name: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(rename = "providerARNs")]
    pub(crate) provider_arns: Option<Vec<String>>,
    pub(crate) auth_type: Option<String>,
    pub(crate) authorizer_uri: Option<String>,
    pub(crate) authorizer_credentials: Option<String>,
    pub(crate) identity_source: Option<String>,
    pub(crate) identity_validation_expression: Option<String>,
    pub(crate) authorizer_result_ttl_in_seconds: Option<i64>,
    /// Portico extension (`COGNITO_USER_POOLS`): the pool's JWKS URL.
    pub(crate) jwks_uri: Option<String>,
}

/// `CreateRequestValidator` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestValidatorInput {
    pub(crate) name: Option<String>,
    pub(crate) validate_request_body: Option<bool>,
    pub(crate) validate_request_parameters: Option<bool>,
}

/// `PutMethodResponse` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MethodResponseInput {
    pub(crate) response_parameters: Option<BTreeMap<String, bool>>,
    pub(crate) response_models: Option<BTreeMap<String, String>>,
}

/// `PutIntegration` input. `integrationHttpMethod` travels as `httpMethod`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationInput {
    #[serde(rename = "type")]
    pub(crate) integration_type: Option<String>,
    #[serde(rename = "httpMethod")]
    pub(crate) integration_http_method: Option<String>,
    pub(crate) uri: Option<String>,
    pub(crate) connection_type: Option<String>,
    pub(crate) connection_id: Option<String>,
    pub(crate) credentials: Option<String>,
    pub(crate) request_parameters: Option<BTreeMap<String, String>>,
    pub(crate) request_templates: Option<BTreeMap<String, String>>,
    pub(crate) passthrough_behavior: Option<String>,
    pub(crate) cache_namespace: Option<String>,
    pub(crate) cache_key_parameters: Option<Vec<String>>,
    pub(crate) content_handling: Option<String>,
    pub(crate) timeout_in_millis: Option<i64>,
    pub(crate) tls_config: Option<portico_shared::model::rest::TlsConfig>,
    pub(crate) response_transfer_mode: Option<String>,
    pub(crate) integration_target: Option<String>,
}

/// `PutIntegrationResponse` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationResponseInput {
    pub(crate) selection_pattern: Option<String>,
    pub(crate) response_parameters: Option<BTreeMap<String, String>>,
    pub(crate) response_templates: Option<BTreeMap<String, String>>,
    pub(crate) content_handling: Option<String>,
}

/// `Deployment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentRecord {
    pub(crate) id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Epoch seconds.
    pub(crate) created_date: i64,
    /// Path → method → summary, as the deployment froze them. Answered only with
    /// `embed=apisummary`, as AWS.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) api_summary: BTreeMap<String, BTreeMap<String, MethodSnapshot>>,
}

// === impl DeploymentRecord ===

impl DeploymentRecord {
    /// The record as answered: `apiSummary` only when asked for.
    pub(crate) fn view(&self, summary: bool) -> DeploymentRecord {
        DeploymentRecord {
            api_summary: if summary {
                self.api_summary.clone()
            } else {
                BTreeMap::new()
            },
            ..self.clone()
        }
    }
}

/// `MethodSnapshot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MethodSnapshot {
    pub(crate) authorization_type: portico_shared::model::AuthorizationType,
    pub(crate) api_key_required: bool,
}

/// A deployment as stored: its record and what it froze. Immutable but for its description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestDeployment {
    pub(crate) record: DeploymentRecord,
    /// Every resource with its methods, integrations and responses.
    pub(crate) resources: Vec<Resource>,
    /// The customised gateway responses.
    #[serde(default)]
    pub(crate) gateway_responses: Vec<GatewayResponse>,
    /// The models (deployments made before models existed have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) models: Vec<Model>,
    /// The request validators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) request_validators: Vec<RequestValidator>,
    /// The authorizers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) authorizers: Vec<Authorizer>,
}

/// `CreateDeployment` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentInput {
    pub(crate) stage_name: Option<String>,
    pub(crate) stage_description: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) cache_cluster_enabled: Option<bool>,
    pub(crate) cache_cluster_size: Option<String>,
    pub(crate) variables: Option<BTreeMap<String, String>>,
    pub(crate) canary_settings: Option<DeploymentCanaryInput>,
    pub(crate) tracing_enabled: Option<bool>,
}

impl DeploymentInput {
    /// Empty `stageName`, `stageDescription` and `variables` mean none, as on AWS: Terraform's
    /// `aws_api_gateway_deployment` sends all three empty when the stage is a separate resource.
    pub(crate) fn without_empty_stage(mut self) -> Self {
        if self.stage_name.as_deref() == Some("") {
            self.stage_name = None;
        }
        if self.stage_description.as_deref() == Some("") {
            self.stage_description = None;
        }
        if self.variables.as_ref().is_some_and(BTreeMap::is_empty) {
            self.variables = None;
        }
        self
    }
}

/// `DeploymentCanarySettings`: the canary a `CreateDeployment` makes on an existing stage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentCanaryInput {
    pub(crate) percent_traffic: Option<f64>,
    pub(crate) stage_variable_overrides: Option<BTreeMap<String, String>>,
    pub(crate) use_stage_cache: Option<bool>,
}

/// `CanarySettings` of a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CanarySettings {
    pub(crate) deployment_id: String,
    #[serde(default)]
    pub(crate) percent_traffic: f64,
    #[serde(default)]
    pub(crate) stage_variable_overrides: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) use_stage_cache: bool,
}

/// `Stage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageRecord {
    pub(crate) deployment_id: String,
    pub(crate) stage_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) cache_cluster_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_cluster_size: Option<String>,
    pub(crate) cache_cluster_status: String,
    /// `*/*` and `{resource~1path}/{METHOD}` keys, verbatim from the patch paths.
    #[serde(default)]
    pub(crate) method_settings: BTreeMap<String, MethodSetting>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) variables: BTreeMap<String, String>,
    pub(crate) tracing_enabled: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tags: BTreeMap<String, String>,
    /// The stage's canary release, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) canary_settings: Option<CanarySettings>,
    /// Set by `UpdateStage` (`/accessLogSettings/format`, `/accessLogSettings/destinationArn`);
    /// stored and returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_log_settings: Option<crate::records::AccessLogSettings>,
    /// Epoch seconds.
    pub(crate) created_date: i64,
    pub(crate) last_updated_date: i64,
}

/// `CreateStage` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageInput {
    pub(crate) stage_name: Option<String>,
    pub(crate) deployment_id: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) cache_cluster_enabled: Option<bool>,
    pub(crate) cache_cluster_size: Option<String>,
    pub(crate) variables: Option<BTreeMap<String, String>>,
    pub(crate) documentation_version: Option<String>,
    pub(crate) canary_settings: Option<CanarySettings>,
    pub(crate) tracing_enabled: Option<bool>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// `PutGatewayResponse` input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewayResponseInput {
    pub(crate) status_code: Option<String>,
    pub(crate) response_parameters: Option<BTreeMap<String, String>>,
    pub(crate) response_templates: Option<BTreeMap<String, String>>,
}

/// AWS shows a REST API's policy as JSON text escaped once more (`{\"Version\":...\/*\"}`);
/// Terraform's provider unescapes it before parsing.
fn policy_escaped<S: serde::Serializer>(policy: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match policy {
        Some(p) => {
            let mut out = String::with_capacity(p.len() + p.len() / 4);
            for c in p.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '/' => out.push_str("\\/"),
                    c => out.push(c),
                }
            }
            s.serialize_str(&out)
        }
        None => s.serialize_none(),
    }
}

/// The inverse of [`policy_escaped`]; a document stored before it was escaped reads as is.
fn policy_unescaped<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(v) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    // The policy as given is JSON (CreateRestApi checks it); escaped, it is not.
    if serde_json::from_str::<serde::de::IgnoredAny>(&v).is_ok() {
        return Ok(Some(v));
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(n @ ('\\' | '"' | '/'))) => {
                out.push(n);
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    Ok(Some(out))
}

// === validation ===

/// Refuses a member of the model Portico does not implement.
pub(crate) fn unsupported<T>(problems: &mut Vec<String>, member: &str, value: &Option<T>) {
    if value.is_some() {
        problems.push(format!("{member} is not supported by Portico"));
    }
}

/// Checks that `value` is one of `allowed`.
pub(crate) fn check_enum(
    problems: &mut Vec<String>,
    member: &str,
    value: Option<&str>,
    allowed: &[&str],
) {
    if let Some(v) = value {
        if !allowed.contains(&v) {
            problems.push(format!(
                "Invalid {member} '{v}': use one of {}",
                allowed.join(", ")
            ));
        }
    }
}

/// A status code: `[1-5]\d\d`.
pub(crate) fn check_status_code(code: &str) -> Result<(), ApiError> {
    let b = code.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b.iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid status code '{code}': use 100 to 599"
        )))
    }
}

/// A method name of the path: `GET`, ..., `ANY`.
pub(crate) fn check_http_method(method: &str) -> Result<(), ApiError> {
    if HTTP_METHODS.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid HttpMethod '{method}' specified. Valid options are {}",
            HTTP_METHODS.join(",")
        )))
    }
}

/// The status a stage reports for its cache cluster.
pub(crate) fn cache_cluster_status(enabled: bool) -> String {
    if enabled {
        "AVAILABLE"
    } else {
        "NOT_AVAILABLE"
    }
    .to_string()
}
