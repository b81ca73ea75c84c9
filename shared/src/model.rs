//! The configuration model: APIs, routes, integrations and stages, in the field names and shapes of
//! Amazon API Gateway's `apigatewayv2` control plane (lowerCamelCase JSON), so that a configuration
//! file, the admin API's store and the AWS CLI all speak of the same things.
//!
//! This is the *input* to [`crate::compile::compile`]; nothing here is read on the request path.

pub mod rest;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole gateway configuration: what `portico serve --config FILE` loads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// The APIs the gateway serves.
    #[serde(default)]
    pub apis: Vec<Api>,
}

/// Which of API Gateway's three API types an API is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProtocolType {
    /// HTTP API (`apigatewayv2`, protocolType HTTP).
    #[default]
    Http,
    /// REST API (`apigateway` v1). Its data plane semantics land with the REST API issue.
    Rest,
    /// WebSocket API. Lands with the WebSocket issue.
    Websocket,
}

/// One API: routes, the integrations they target, and the stages that serve them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Api {
    /// The API's id: the first label of its host name `{apiId}.{domain}`.
    pub api_id: String,
    /// A human name; not used for routing.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub protocol_type: ProtocolType,
    /// WebSocket APIs: how a message picks its route (`$request.body.action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_selection_expression: Option<String>,
    /// Refuse the generated `{apiId}.{domain}` host name (custom domains only).
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,
    /// CORS, answered by the gateway (see [`crate::cors`]); `None`: the gateway adds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_configuration: Option<Cors>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub integrations: Vec<Integration>,
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// A route: `METHOD /path` (or `$default`) and the integration it targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Stable id; per-core state (stats) is keyed by it, so it survives reloads.
    #[serde(default)]
    pub route_id: String,
    /// `GET /pets/{id}`, `ANY /{proxy+}` or `$default`.
    pub route_key: String,
    /// `integrations/{integrationId}`, as AWS writes it. A route without one answers 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A JWT authorizer of the API (`authorizationType: JWT`); `None`: open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    /// `AWS_IAM`: requests must be SigV4-signed (JWT routes are known by `authorizerId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_type: Option<AuthorizationType>,
    /// With an authorizer: the token must carry one of these scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_scopes: Vec<String>,
    /// WebSocket APIs: the route has `routeResponseSelectionExpression` and a `$default` route
    /// response, so the integration's answer is sent back to the client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub route_response: bool,
}

/// A JWT authorizer (`authorizerType: JWT`) as a deployment freezes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorizer {
    pub authorizer_id: String,
    /// `$request.header.NAME`: where the token is.
    pub identity_source: String,
    /// `iss` must equal it; `{issuer}/.well-known/openid-configuration` names the keys.
    pub issuer: String,
    pub audience: Vec<String>,
    /// Portico extension: fetch keys from this `http://` JWKS URL instead of discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `authorizerType: REQUEST`: a Lambda authorizer (the JWT fields are then unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaAuthorizer>,
}

/// An HTTP API Lambda authorizer (`authorizerType: REQUEST`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LambdaAuthorizer {
    pub authorizer_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials_arn: Option<String>,
    /// `$request.header.X`, `$request.querystring.X`, `$stageVariables.X`, `$context.X`.
    #[serde(default)]
    pub identity_source: Vec<String>,
    /// `1.0` or `2.0`.
    pub authorizer_payload_format_version: String,
    #[serde(default)]
    pub enable_simple_responses: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_result_ttl_in_seconds: Option<i64>,
}

/// A value that is not one of an enum's AWS wire names (see [`wire_enum!`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// The enum's name: `IntegrationType`, `EndpointType`, ...
    pub kind: &'static str,
    /// What was given.
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} '{}'", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// Declares a closed set of AWS wire values as an enum. Serde, `as_str`, `FromStr` and
/// `Display` all read the one table written here, so the stored JSON, the wire JSON and the
/// validators cannot disagree on a spelling. Hand-written rather than a derive crate: it is ten
/// lines and keeps the wire name next to its variant.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The AWS wire name (`AWS_PROXY`, `VPC_LINK`, ...).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;

            /// The exact AWS wire name (case-sensitive, as AWS compares them).
            fn from_str(s: &str) -> Result<$name, UnknownValue> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str {
                v.as_str()
            }
        }
    };
}

wire_enum! {
    /// The kinds of integration, shared by REST APIs (`Integration.type`) and HTTP/WebSocket APIs
    /// (`integrationType`). HTTP APIs serve `HTTP_PROXY` and `AWS_PROXY` (Lambda); the others are
    /// refused at compile time with a clear message.
    IntegrationType {
        HttpProxy = "HTTP_PROXY",
        Http = "HTTP",
        AwsProxy = "AWS_PROXY",
        Aws = "AWS",
        Mock = "MOCK",
    }
}

impl IntegrationType {
    /// `HTTP` and `HTTP_PROXY`: the uri is an `http(s)://` URL.
    pub const fn is_http(self) -> bool {
        matches!(self, IntegrationType::Http | IntegrationType::HttpProxy)
    }

    /// `AWS` and `AWS_PROXY`: the uri is an ARN.
    pub const fn is_aws(self) -> bool {
        matches!(self, IntegrationType::Aws | IntegrationType::AwsProxy)
    }
}

wire_enum! {
    /// Who may call a method or route (`authorizationType`). REST APIs take `NONE`, `AWS_IAM`,
    /// `CUSTOM` and `COGNITO_USER_POOLS`; HTTP APIs `NONE`, `AWS_IAM`, `CUSTOM` and `JWT`;
    /// WebSocket APIs `NONE`, `AWS_IAM` and `CUSTOM`. Each control plane checks its own subset.
    AuthorizationType {
        None = "NONE",
        AwsIam = "AWS_IAM",
        Custom = "CUSTOM",
        Jwt = "JWT",
        CognitoUserPools = "COGNITO_USER_POOLS",
    }
}

/// `NONE`: what AWS stores when a route or method names no authorization.
impl Default for AuthorizationType {
    fn default() -> AuthorizationType {
        AuthorizationType::None
    }
}

impl AuthorizationType {
    /// `CUSTOM`, `JWT` and `COGNITO_USER_POOLS` name an authorizer (`authorizerId`).
    pub const fn uses_authorizer(self) -> bool {
        match self {
            AuthorizationType::None | AuthorizationType::AwsIam => false,
            AuthorizationType::Custom
            | AuthorizationType::Jwt
            | AuthorizationType::CognitoUserPools => true,
        }
    }
}

wire_enum! {
    /// An authorizer's type. REST APIs: `TOKEN`, `REQUEST` (Lambda) and `COGNITO_USER_POOLS`;
    /// HTTP APIs: `REQUEST` (Lambda) and `JWT`; WebSocket APIs: `REQUEST`.
    AuthorizerType {
        Token = "TOKEN",
        Request = "REQUEST",
        CognitoUserPools = "COGNITO_USER_POOLS",
        Jwt = "JWT",
    }
}

wire_enum! {
    /// How an integration reaches its upstream (`connectionType`).
    ConnectionType {
        Internet = "INTERNET",
        VpcLink = "VPC_LINK",
    }
}

wire_enum! {
    /// An API's or custom domain's endpoint type (`endpointConfiguration.types`,
    /// `domainNameConfigurations[].endpointType`).
    EndpointType {
        Edge = "EDGE",
        Regional = "REGIONAL",
        Private = "PRIVATE",
    }
}

/// What a route calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Integration {
    pub integration_id: String,
    pub integration_type: IntegrationType,
    /// `ANY` (or absent) forwards the downstream method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_method: Option<String>,
    /// `http://host:port/path/{param}/{proxy}`, `${stageVariables.name}` allowed.
    pub integration_uri: String,
    /// 50 to 30,000 ms; 30,000 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_millis: Option<u32>,
    /// `1.0` for HTTP_PROXY; `1.0` or `2.0` for AWS_PROXY (Lambda).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_version: Option<String>,
    /// `AWS_PROXY` first-class integrations: `SQS-SendMessage`, ... (see [`crate::aws`]); their
    /// `requestParameters` are the action's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_subtype: Option<String>,
    /// AWS_PROXY: the role to invoke the function with (`credentialsArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_arn: Option<String>,
    /// Parameter mapping of the request: `append|overwrite|remove:header.NAME`,
    /// `...:querystring.NAME`, `overwrite:path` → value (see [`crate::mapping`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, String>,
    /// Parameter mapping of the response, per upstream status code (`"200"` to `"599"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, BTreeMap<String, String>>,
    /// `INTERNET` (absent) or `VPC_LINK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<ConnectionType>,
    /// The VPC link of a `VPC_LINK` integration (`${stageVariables.name}` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// WebSocket APIs: request templates by selection key (`$default`, or what the
    /// `templateSelectionExpression` evaluates to).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
    /// WebSocket APIs: picks the request template (`\$default`, `$request.body.NAME`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_selection_expression: Option<String>,
    /// WebSocket APIs: `WHEN_NO_MATCH` (default), `WHEN_NO_TEMPLATES` or `NEVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
    /// WebSocket APIs: integration responses (`MOCK` and `HTTP`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub integration_responses: Vec<IntegrationResponse>,
}

/// A WebSocket API integration response, as a deployment freezes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntegrationResponse {
    /// `$default`, or `/regex/` matched against the integration's status code.
    pub integration_response_key: String,
    /// Response templates by key; `$default` (or the only one) is used.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_templates: BTreeMap<String, String>,
}

/// An HTTP API's CORS configuration (`Cors`), in AWS's member names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    /// Seconds, -1 to 86,400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i32>,
}

/// A stage: a name (`$default` has no path prefix) and its variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stage {
    pub stage_name: String,
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
    /// Throttling for every route that has no settings of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route_settings: Option<RouteSettings>,
    /// Throttling per route key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub route_settings: BTreeMap<String, RouteSettings>,
    /// `accessLogSettings`: where the stage's access log goes and its format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<AccessLogSettings>,
}

/// A stage's `accessLogSettings` (`destinationArn`, `format`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The throttling and execution logging parts of a stage's route settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_burst_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_rate_limit: Option<f64>,
    /// `loggingLevel` (WebSocket APIs only; AWS refuses it on HTTP APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_level: Option<LoggingLevel>,
    /// `dataTraceEnabled` (WebSocket APIs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_trace_enabled: Option<bool>,
}

/// A route's `loggingLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LoggingLevel {
    Off,
    Error,
    Info,
}

impl LoggingLevel {
    /// `ERROR`, `INFO` or `OFF`; anything else is `None`.
    pub fn parse(s: &str) -> Option<LoggingLevel> {
        match s {
            "OFF" => Some(LoggingLevel::Off),
            "ERROR" => Some(LoggingLevel::Error),
            "INFO" => Some(LoggingLevel::Info),
            _ => None,
        }
    }
}

impl RouteSettings {
    /// The throttle these settings ask for, if any.
    pub fn limits(&self) -> Option<crate::throttle::Limits> {
        crate::keys::limits_of(self.throttling_rate_limit, self.throttling_burst_limit)
    }
}

/// The name of the stage that is served without a path prefix.
pub const DEFAULT_STAGE: &str = "$default";

/// The route key that catches what no other route matches.
pub const DEFAULT_ROUTE: &str = "$default";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wire enum: `as_str`, serde (both ways) and `FromStr` agree on every value, so a
    /// stored or wire document reads back as it was written.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: Serialize + serde::de::DeserializeOwned,
        T: Into<&'static str>,
    {
        for &v in all {
            let wire: &'static str = v.into();
            assert_eq!(v.to_string(), wire);
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{wire}\""));
            assert_eq!(
                serde_json::from_str::<T>(&format!("\"{wire}\"")).unwrap(),
                v
            );
            assert_eq!(wire.parse::<T>().ok(), Some(v));
        }
    }

    #[test]
    fn wire_enums_round_trip() {
        round_trips(IntegrationType::ALL);
        round_trips(AuthorizationType::ALL);
        round_trips(AuthorizerType::ALL);
        round_trips(ConnectionType::ALL);
        round_trips(EndpointType::ALL);
    }

    /// The wire names, in declaration order.
    fn names<T: Copy + Into<&'static str>>(all: &[T]) -> String {
        all.iter().map(|&v| v.into()).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn wire_names_are_aws_spellings() {
        assert_eq!(
            names(IntegrationType::ALL),
            "HTTP_PROXY,HTTP,AWS_PROXY,AWS,MOCK"
        );
        assert_eq!(
            names(AuthorizationType::ALL),
            "NONE,AWS_IAM,CUSTOM,JWT,COGNITO_USER_POOLS"
        );
        assert_eq!(
            names(AuthorizerType::ALL),
            "TOKEN,REQUEST,COGNITO_USER_POOLS,JWT"
        );
        assert_eq!(names(ConnectionType::ALL), "INTERNET,VPC_LINK");
        assert_eq!(names(EndpointType::ALL), "EDGE,REGIONAL,PRIVATE");
    }

    #[test]
    fn unknown_value_is_refused() {
        // AWS compares case-sensitively: a lower-case spelling is not a value.
        let e = "aws_proxy".parse::<IntegrationType>().unwrap_err();
        assert_eq!(e.to_string(), "unknown IntegrationType 'aws_proxy'");
        assert_eq!(
            "VPC".parse::<ConnectionType>().unwrap_err(),
            UnknownValue {
                kind: "ConnectionType",
                value: "VPC".into()
            }
        );
        // A stored or configured document with an unknown value does not load.
        let err = serde_json::from_str::<EndpointType>("\"GLOBAL\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `GLOBAL`"),
            "{err}"
        );
    }
}
