//! REST APIs' gateway responses: what the gateway answers when it refuses or fails a request
//! (`THROTTLED`, `INVALID_API_KEY`, ...), customisable per API with `PutGatewayResponse`.
//!
//! Compiled per stage (a deployment freezes them) into one slot per type, already resolved the
//! way AWS resolves them: the type's own customisation, else the customised `DEFAULT_4XX` /
//! `DEFAULT_5XX` of its class, else the built-in answer (slot `None`: the data plane's static
//! body, no rendering).

use std::sync::Arc;

use crate::model::rest::GatewayResponse as Spec;
use crate::template::{Source, Template};

/// AWS's gateway response types (without the two `DEFAULT_*` fallbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    AccessDenied,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    BadRequestParameters,
    BadRequestBody,
    ExpiredToken,
    IntegrationFailure,
    IntegrationTimeout,
    InvalidApiKey,
    InvalidSignature,
    MissingAuthenticationToken,
    QuotaExceeded,
    RequestTooLarge,
    ResourceNotFound,
    Throttled,
    Unauthorized,
    UnsupportedMediaType,
    WafFiltered,
}

const TYPES: [ResponseType; 19] = [
    ResponseType::AccessDenied,
    ResponseType::ApiConfigurationError,
    ResponseType::AuthorizerConfigurationError,
    ResponseType::AuthorizerFailure,
    ResponseType::BadRequestParameters,
    ResponseType::BadRequestBody,
    ResponseType::ExpiredToken,
    ResponseType::IntegrationFailure,
    ResponseType::IntegrationTimeout,
    ResponseType::InvalidApiKey,
    ResponseType::InvalidSignature,
    ResponseType::MissingAuthenticationToken,
    ResponseType::QuotaExceeded,
    ResponseType::RequestTooLarge,
    ResponseType::ResourceNotFound,
    ResponseType::Throttled,
    ResponseType::Unauthorized,
    ResponseType::UnsupportedMediaType,
    ResponseType::WafFiltered,
];

/// A customised response, resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct Custom {
    pub status: u16,
    /// Header name → value.
    pub headers: Vec<(Box<str>, Source)>,
    /// The `application/json` template (the built-in `{"message":...}` when not customised).
    pub body: Template,
}

/// One stage's gateway responses. Empty (the default) when nothing is customised.
#[derive(Debug, Clone, Default)]
pub struct GatewayResponses {
    slots: Option<Arc<[Option<Custom>; 19]>>,
}

/// The built-in body template.
pub const DEFAULT_TEMPLATE: &str = r#"{"message":$context.error.messageString}"#;

// === impl ResponseType ===

impl ResponseType {
    pub fn name(self) -> &'static str {
        match self {
            ResponseType::AccessDenied => "ACCESS_DENIED",
            ResponseType::ApiConfigurationError => "API_CONFIGURATION_ERROR",
            ResponseType::AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            ResponseType::AuthorizerFailure => "AUTHORIZER_FAILURE",
            ResponseType::BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            ResponseType::BadRequestBody => "BAD_REQUEST_BODY",
            ResponseType::ExpiredToken => "EXPIRED_TOKEN",
            ResponseType::IntegrationFailure => "INTEGRATION_FAILURE",
            ResponseType::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            ResponseType::InvalidApiKey => "INVALID_API_KEY",
            ResponseType::InvalidSignature => "INVALID_SIGNATURE",
            ResponseType::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            ResponseType::QuotaExceeded => "QUOTA_EXCEEDED",
            ResponseType::RequestTooLarge => "REQUEST_TOO_LARGE",
            ResponseType::ResourceNotFound => "RESOURCE_NOT_FOUND",
            ResponseType::Throttled => "THROTTLED",
            ResponseType::Unauthorized => "UNAUTHORIZED",
            ResponseType::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ResponseType::WafFiltered => "WAF_FILTERED",
        }
    }

    pub fn default_status(self) -> u16 {
        match self {
            ResponseType::AccessDenied
            | ResponseType::ExpiredToken
            | ResponseType::InvalidApiKey
            | ResponseType::InvalidSignature
            | ResponseType::MissingAuthenticationToken
            | ResponseType::WafFiltered => 403,
            ResponseType::ApiConfigurationError
            | ResponseType::AuthorizerConfigurationError
            | ResponseType::AuthorizerFailure => 500,
            ResponseType::BadRequestParameters | ResponseType::BadRequestBody => 400,
            ResponseType::IntegrationFailure | ResponseType::IntegrationTimeout => 504,
            ResponseType::QuotaExceeded | ResponseType::Throttled => 429,
            ResponseType::RequestTooLarge => 413,
            ResponseType::ResourceNotFound => 404,
            ResponseType::Unauthorized => 401,
            ResponseType::UnsupportedMediaType => 415,
        }
    }

    /// `$context.error.message`.
    pub fn message(self) -> &'static str {
        match self {
            ResponseType::AccessDenied => "User is not authorized to access this resource",
            ResponseType::ApiConfigurationError => "Internal server error",
            ResponseType::AuthorizerConfigurationError => "Internal server error",
            ResponseType::AuthorizerFailure => "Internal server error",
            ResponseType::BadRequestParameters => "Missing required request parameters",
            ResponseType::BadRequestBody => "Invalid request body",
            ResponseType::ExpiredToken => "Signature expired",
            ResponseType::IntegrationFailure => "Internal server error",
            ResponseType::IntegrationTimeout => "Endpoint request timed out",
            ResponseType::InvalidApiKey => "Forbidden",
            ResponseType::InvalidSignature => "Invalid signature",
            ResponseType::MissingAuthenticationToken => "Missing Authentication Token",
            ResponseType::QuotaExceeded => "Limit Exceeded",
            ResponseType::RequestTooLarge => "Request Too Long",
            ResponseType::ResourceNotFound => "Not Found",
            ResponseType::Throttled => "Too Many Requests",
            ResponseType::Unauthorized => "Unauthorized",
            ResponseType::UnsupportedMediaType => "Unsupported Media Type",
            ResponseType::WafFiltered => "Forbidden",
        }
    }

    /// `x-amzn-ErrorType`.
    pub fn error_type(self) -> &'static str {
        match self {
            ResponseType::AccessDenied
            | ResponseType::InvalidApiKey
            | ResponseType::WafFiltered => "ForbiddenException",
            ResponseType::ApiConfigurationError
            | ResponseType::AuthorizerConfigurationError
            | ResponseType::AuthorizerFailure
            | ResponseType::IntegrationFailure => "InternalServerErrorException",
            ResponseType::BadRequestParameters | ResponseType::BadRequestBody => {
                "BadRequestException"
            }
            ResponseType::ExpiredToken | ResponseType::InvalidSignature => {
                "InvalidSignatureException"
            }
            ResponseType::IntegrationTimeout => "InternalServerErrorException",
            ResponseType::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ResponseType::QuotaExceeded => "LimitExceededException",
            ResponseType::RequestTooLarge => "RequestTooLargeException",
            ResponseType::ResourceNotFound => "ResourceNotFoundException",
            ResponseType::Throttled => "TooManyRequestsException",
            ResponseType::Unauthorized => "UnauthorizedException",
            ResponseType::UnsupportedMediaType => "UnsupportedMediaTypeException",
        }
    }

    /// The built-in JSON body: `{"message":"..."}`.
    pub fn default_body(self) -> &'static [u8] {
        match self {
            ResponseType::AccessDenied => {
                br#"{"message":"User is not authorized to access this resource"}"#
            }
            ResponseType::ApiConfigurationError
            | ResponseType::AuthorizerConfigurationError
            | ResponseType::AuthorizerFailure
            | ResponseType::IntegrationFailure => br#"{"message":"Internal server error"}"#,
            ResponseType::BadRequestParameters => {
                br#"{"message":"Missing required request parameters"}"#
            }
            ResponseType::BadRequestBody => br#"{"message":"Invalid request body"}"#,
            ResponseType::ExpiredToken => br#"{"message":"Signature expired"}"#,
            ResponseType::IntegrationTimeout => br#"{"message":"Endpoint request timed out"}"#,
            ResponseType::InvalidApiKey | ResponseType::WafFiltered => {
                br#"{"message":"Forbidden"}"#
            }
            ResponseType::InvalidSignature => br#"{"message":"Invalid signature"}"#,
            ResponseType::MissingAuthenticationToken => {
                br#"{"message":"Missing Authentication Token"}"#
            }
            ResponseType::QuotaExceeded => br#"{"message":"Limit Exceeded"}"#,
            ResponseType::RequestTooLarge => br#"{"message":"Request Too Long"}"#,
            ResponseType::ResourceNotFound => br#"{"message":"Not Found"}"#,
            ResponseType::Throttled => br#"{"message":"Too Many Requests"}"#,
            ResponseType::Unauthorized => br#"{"message":"Unauthorized"}"#,
            ResponseType::UnsupportedMediaType => br#"{"message":"Unsupported Media Type"}"#,
        }
    }

    pub fn parse(name: &str) -> Option<ResponseType> {
        TYPES.into_iter().find(|t| t.name() == name)
    }

    fn index(self) -> usize {
        TYPES.iter().position(|t| *t == self).unwrap_or(0)
    }
}

// === impl GatewayResponses ===

impl GatewayResponses {
    /// Compiles an API's customised responses; returns every problem found.
    pub fn compile(specs: &[Spec]) -> Result<GatewayResponses, Vec<String>> {
        let mut problems = Vec::new();
        // (type, status, headers, body) of each customised response.
        type Parsed<'a> = (
            &'a str,
            Option<u16>,
            Vec<(Box<str>, Source)>,
            Option<Template>,
        );
        let mut parsed: Vec<Parsed<'_>> = Vec::new();
        for s in specs {
            if s.default_response {
                continue;
            }
            let t = s.response_type.as_str();
            if t != "DEFAULT_4XX" && t != "DEFAULT_5XX" && ResponseType::parse(t).is_none() {
                problems.push(format!("Invalid response type: {t}"));
                continue;
            }
            let status = match s.status_code.as_deref() {
                None => None,
                Some(c) => match c.parse::<u16>() {
                    Ok(n) if (100..=599).contains(&n) => Some(n),
                    _ => {
                        problems.push(format!("{t}: invalid statusCode '{c}'"));
                        None
                    }
                },
            };
            let mut headers = Vec::new();
            for (k, v) in &s.response_parameters {
                let Some(name) = k.strip_prefix("gatewayresponse.header.") else {
                    problems.push(format!(
                        "{t}: invalid response parameter '{k}': use gatewayresponse.header.NAME"
                    ));
                    continue;
                };
                match Source::parse_parameter(v) {
                    Ok(src) => headers.push((name.into(), src)),
                    Err(e) => problems.push(format!("{t}: {e}")),
                }
            }
            let body = match s
                .response_templates
                .get("application/json")
                .or_else(|| s.response_templates.values().next())
                .map(|b| Template::parse(b))
            {
                None => None,
                Some(Ok(t)) => Some(t),
                Some(Err(e)) => {
                    problems.push(format!("{t}: Invalid response template: {e}"));
                    None
                }
            };
            parsed.push((t, status, headers, body));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        if parsed.is_empty() {
            return Ok(GatewayResponses::default());
        }
        let find = |name: &str| parsed.iter().find(|p| p.0 == name);
        let slots: [Option<Custom>; 19] = TYPES.map(|t| {
            let class = if t.default_status() >= 500 {
                "DEFAULT_5XX"
            } else {
                "DEFAULT_4XX"
            };
            let (own, fallback) = (find(t.name()), find(class));
            let chosen = own.or(fallback)?;
            let status = match own {
                Some(o) => o.1.unwrap_or(t.default_status()),
                None => chosen.1.unwrap_or(t.default_status()),
            };
            Some(Custom {
                status,
                headers: chosen.2.clone(),
                body: chosen.3.clone().unwrap_or_else(|| {
                    Template::parse(DEFAULT_TEMPLATE).expect("the built-in template parses")
                }),
            })
        });
        Ok(GatewayResponses {
            slots: Some(Arc::new(slots)),
        })
    }

    /// The customised response for `t`, or `None` for the built-in one.
    pub fn get(&self, t: ResponseType) -> Option<&Custom> {
        self.slots.as_ref()?[t.index()].as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(t: &str, status: Option<&str>, header: Option<(&str, &str)>) -> Spec {
        Spec {
            response_type: t.into(),
            status_code: status.map(Into::into),
            response_parameters: header
                .map(|(k, v)| BTreeMap::from([(k.to_string(), v.to_string())]))
                .unwrap_or_default(),
            response_templates: BTreeMap::new(),
            default_response: false,
        }
    }

    #[test]
    fn resolution() {
        let g = GatewayResponses::compile(&[]).unwrap();
        assert!(g.get(ResponseType::Throttled).is_none());
        let g = GatewayResponses::compile(&[
            spec(
                "DEFAULT_4XX",
                Some("418"),
                Some(("gatewayresponse.header.x-a", "'1'")),
            ),
            spec("THROTTLED", None, None),
        ])
        .unwrap();
        // Own customisation: own status (the default one), own headers.
        let t = g.get(ResponseType::Throttled).unwrap();
        assert_eq!(t.status, 429);
        assert!(t.headers.is_empty());
        // Fallback: DEFAULT_4XX's status replaces the type's.
        let k = g.get(ResponseType::InvalidApiKey).unwrap();
        assert_eq!(k.status, 418);
        assert_eq!(k.headers.len(), 1);
        // 5xx types are untouched by DEFAULT_4XX.
        assert!(g.get(ResponseType::IntegrationTimeout).is_none());
        assert!(GatewayResponses::compile(&[spec("NOPE", None, None)]).is_err());
        assert!(
            GatewayResponses::compile(&[spec("THROTTLED", None, Some(("header.x", "'1'")))])
                .is_err()
        );
    }
}
