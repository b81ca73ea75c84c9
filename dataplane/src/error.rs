//! The data plane's error type: what went wrong, who is to blame, and the response AWS sends.

use portico_shared::gateway_response::ResponseType;

use crate::http1::ParseError;

/// Why connecting to an upstream failed: nothing was sent, so another target may be tried.
pub const CONNECT_FAILED: &str = "connect failed";
pub const CONNECT_TIMED_OUT: &str = "connect timed out";

/// Who caused an error (pingora's `ErrorSource`): for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    Downstream,
    Upstream,
    Gateway,
}

/// Why `AWS_IAM` authorization or a resource policy refused a request (403 each). The message,
/// which names the caller and the resource, is kept beside the error by the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamDenial {
    MissingAuthenticationToken,
    IncompleteSignature,
    UnrecognizedClient,
    InvalidSignature,
    Expired,
    AccessDenied,
}

/// A request that ends in a gateway-generated response. Never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("bad request: {0}")]
    BadRequest(ParseError),
    #[error("request head too large")]
    HeadersTooLarge,
    #[error("request target too long")]
    UriTooLong,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("unsupported Expect")]
    ExpectationFailed,
    #[error("no API, stage or route matched")]
    NotFound,
    #[error("the execute-api endpoint is disabled for this API")]
    EndpointDisabled,
    #[error("the custom domain requires a verified client certificate for it")]
    MutualTlsRequired,
    #[error("route has no integration")]
    NoIntegration,
    #[error("upstream connection failed: {0}")]
    UpstreamConnect(&'static str),
    #[error("upstream response invalid: {0}")]
    UpstreamProtocol(&'static str),
    #[error("upstream timed out after {timeout_ms} ms")]
    UpstreamTimeout { timeout_ms: u32 },
    /// The integration's host name has not resolved (yet): AWS's "Invalid endpoint address",
    /// an `API_CONFIGURATION_ERROR` (500). Answered at once, nothing sent.
    #[error("the integration's host name does not resolve (yet)")]
    UpstreamUnresolved,
    /// Every target of the integration's VPC link is unhealthy or ejected: refused at once.
    #[error("no healthy target in the VPC link")]
    NoHealthyTarget,
    /// REST APIs: no stage, resource or method matched (AWS answers 403, not 404).
    #[error("no REST API stage, resource or method matched")]
    MissingAuthenticationToken,
    #[error("API key missing, unknown, disabled or not in a usage plan for this stage")]
    InvalidApiKey,
    #[error("throttled")]
    Throttled,
    #[error("usage plan quota exceeded")]
    QuotaExceeded,
    /// REST mock: no integration response matched.
    #[error("no integration response matched")]
    ApiConfiguration,
    /// REST `HTTP` integration: no template for the request's content type, and the
    /// passthrough behaviour refuses it.
    #[error("no mapping template for the request's content type")]
    UnsupportedMediaType,
    /// REST cache: `Cache-Control: max-age=0` from a caller not allowed to invalidate, under
    /// `FAIL_WITH_403`.
    #[error("cache invalidation not authorized")]
    CacheControlDenied,
    /// REST request validation: required parameters are missing. Bit `i` stands for the
    /// method's `Validation::required[i]`; the message is rendered from that list.
    #[error("missing required request parameters (mask {missing:#x})")]
    MissingParameters { missing: u64 },
    /// REST request validation: the body is not JSON or not valid against the method's model.
    #[error("invalid request body")]
    InvalidBody,
    /// Lambda: the Invoke call failed (endpoint unreachable, or the Invoke API refused it).
    #[error("Lambda invocation failed: {0}")]
    LambdaInvoke(&'static str),
    /// Lambda: the function raised an error.
    #[error("the Lambda function failed")]
    LambdaFunction,
    /// Lambda proxy: the function's answer is not a valid proxy response.
    #[error("malformed Lambda proxy response")]
    LambdaMalformed,
    /// HTTP API JWT authorizer: no token, a token refused (401) or missing scopes (403).
    #[error("JWT authorizer refused the request: {0:?}")]
    Unauthorized(portico_shared::jwt::AuthFailure),
    /// `AWS_IAM` or a resource policy refused the request (403).
    #[error("IAM authorization refused the request: {0:?}")]
    Iam(IamDenial),
    /// A Lambda authorizer refused the request (401, 403) or failed (500).
    #[error("Lambda authorizer: {0:?}")]
    Authorizer(AuthorizerError),
}

/// Why a Lambda authorizer refused a request, or could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerError {
    /// No identity, an identity the validation expression refuses, or the function raised
    /// `Unauthorized`: 401.
    Unauthorized,
    /// The policy denies the method (`explicit`: a `Deny` statement matched), or a simple
    /// response said `isAuthorized: false`: 403.
    Denied { explicit: bool },
    /// The function failed, timed out or answered something malformed: 500.
    Failed,
    /// The function could not be invoked (endpoint, credentials, Invoke API): 500.
    Configuration,
}

// === impl IamDenial ===

impl IamDenial {
    /// AWS's `x-amzn-ErrorType`.
    pub fn error_type(self) -> &'static str {
        match self {
            IamDenial::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            IamDenial::IncompleteSignature => "IncompleteSignatureException",
            IamDenial::UnrecognizedClient => "UnrecognizedClientException",
            IamDenial::InvalidSignature | IamDenial::Expired => "InvalidSignatureException",
            IamDenial::AccessDenied => "AccessDeniedException",
        }
    }
}

// === impl GatewayError ===

impl GatewayError {
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::BadRequest(_) => 400,
            GatewayError::HeadersTooLarge => 431,
            GatewayError::UriTooLong => 414,
            GatewayError::BodyTooLarge => 413,
            GatewayError::ExpectationFailed => 417,
            GatewayError::NotFound => 404,
            GatewayError::EndpointDisabled | GatewayError::MutualTlsRequired => 403,
            GatewayError::NoIntegration => 500,
            GatewayError::UpstreamConnect(_) => 502,
            GatewayError::UpstreamProtocol(_) => 502,
            GatewayError::UpstreamTimeout { .. } => 503,
            GatewayError::LambdaInvoke(_)
            | GatewayError::LambdaFunction
            | GatewayError::LambdaMalformed => 500,
            GatewayError::NoHealthyTarget => 503,
            GatewayError::MissingAuthenticationToken => 403,
            GatewayError::InvalidApiKey => 403,
            GatewayError::Throttled | GatewayError::QuotaExceeded => 429,
            GatewayError::ApiConfiguration | GatewayError::UpstreamUnresolved => 500,
            GatewayError::UnsupportedMediaType => 415,
            GatewayError::CacheControlDenied => 403,
            GatewayError::MissingParameters { .. } | GatewayError::InvalidBody => 400,
            GatewayError::Unauthorized(f) => f.status(),
            GatewayError::Iam(_) => 403,
            GatewayError::Authorizer(e) => match e {
                AuthorizerError::Unauthorized => 401,
                AuthorizerError::Denied { .. } => 403,
                AuthorizerError::Failed | AuthorizerError::Configuration => 500,
            },
        }
    }

    /// The JSON body, in HTTP API's wording.
    pub fn body(&self) -> &'static [u8] {
        match self {
            GatewayError::BadRequest(_) => br#"{"message":"Bad Request"}"#,
            GatewayError::HeadersTooLarge => br#"{"message":"Request Header Fields Too Large"}"#,
            GatewayError::UriTooLong => br#"{"message":"Request-URI Too Long"}"#,
            GatewayError::BodyTooLarge => br#"{"message":"Request Entity Too Large"}"#,
            GatewayError::ExpectationFailed => br#"{"message":"Expectation Failed"}"#,
            GatewayError::NotFound => br#"{"message":"Not Found"}"#,
            GatewayError::EndpointDisabled | GatewayError::MutualTlsRequired => {
                br#"{"message":"Forbidden"}"#
            }
            GatewayError::NoIntegration => br#"{"message":"Internal Server Error"}"#,
            GatewayError::UpstreamConnect(_) => br#"{"message":"Internal Server Error"}"#,
            GatewayError::UpstreamProtocol(_) => br#"{"message":"Internal Server Error"}"#,
            GatewayError::UpstreamTimeout { .. } => br#"{"message":"Service Unavailable"}"#,
            GatewayError::LambdaInvoke(_)
            | GatewayError::LambdaFunction
            | GatewayError::LambdaMalformed => br#"{"message":"Internal Server Error"}"#,
            GatewayError::NoHealthyTarget => br#"{"message":"Service Unavailable"}"#,
            GatewayError::MissingAuthenticationToken => {
                br#"{"message":"Missing Authentication Token"}"#
            }
            GatewayError::InvalidApiKey => br#"{"message":"Forbidden"}"#,
            GatewayError::Throttled => br#"{"message":"Too Many Requests"}"#,
            GatewayError::QuotaExceeded => br#"{"message":"Limit Exceeded"}"#,
            GatewayError::ApiConfiguration | GatewayError::UpstreamUnresolved => {
                br#"{"message":"Internal Server Error"}"#
            }
            GatewayError::UnsupportedMediaType => br#"{"message":"Unsupported Media Type"}"#,
            GatewayError::CacheControlDenied => {
                br#"{"message":"User is not authorized to access this resource"}"#
            }
            // REST only: answered through `response_type`; this is the fallback wording.
            GatewayError::MissingParameters { .. } => {
                br#"{"message":"Missing required request parameters"}"#
            }
            GatewayError::InvalidBody => br#"{"message":"Invalid request body"}"#,
            GatewayError::Unauthorized(f) => match f.status() {
                403 => br#"{"message":"Forbidden"}"#,
                _ => br#"{"message":"Unauthorized"}"#,
            },
            // The pipeline writes the message it kept; this is the fallback wording.
            GatewayError::Iam(_) => br#"{"message":"Forbidden"}"#,
            GatewayError::Authorizer(e) => match e {
                AuthorizerError::Unauthorized => br#"{"message":"Unauthorized"}"#,
                AuthorizerError::Denied { .. } => br#"{"message":"Forbidden"}"#,
                AuthorizerError::Failed | AuthorizerError::Configuration => {
                    br#"{"message":"Internal Server Error"}"#
                }
            },
        }
    }

    /// The REST API gateway response type this error is answered with (REST APIs only).
    pub fn response_type(&self) -> Option<ResponseType> {
        Some(match self {
            GatewayError::BodyTooLarge => ResponseType::RequestTooLarge,
            GatewayError::NotFound | GatewayError::MissingAuthenticationToken => {
                ResponseType::MissingAuthenticationToken
            }
            GatewayError::NoIntegration
            | GatewayError::ApiConfiguration
            | GatewayError::UpstreamUnresolved => ResponseType::ApiConfigurationError,
            GatewayError::UpstreamConnect(_)
            | GatewayError::UpstreamProtocol(_)
            | GatewayError::LambdaInvoke(_)
            | GatewayError::LambdaFunction
            | GatewayError::LambdaMalformed => ResponseType::IntegrationFailure,
            GatewayError::UpstreamTimeout { .. } => ResponseType::IntegrationTimeout,
            GatewayError::InvalidApiKey => ResponseType::InvalidApiKey,
            GatewayError::Throttled => ResponseType::Throttled,
            GatewayError::QuotaExceeded => ResponseType::QuotaExceeded,
            GatewayError::UnsupportedMediaType => ResponseType::UnsupportedMediaType,
            // The missing `execute-api:InvalidateCache` permission is an IAM denial.
            GatewayError::CacheControlDenied => ResponseType::AccessDenied,
            GatewayError::MissingParameters { .. } => ResponseType::BadRequestParameters,
            GatewayError::Iam(d) => match d {
                IamDenial::MissingAuthenticationToken => ResponseType::MissingAuthenticationToken,
                IamDenial::IncompleteSignature
                | IamDenial::UnrecognizedClient
                | IamDenial::InvalidSignature => ResponseType::InvalidSignature,
                IamDenial::Expired => ResponseType::ExpiredToken,
                IamDenial::AccessDenied => ResponseType::AccessDenied,
            },
            GatewayError::InvalidBody => ResponseType::BadRequestBody,
            GatewayError::Authorizer(e) => match e {
                AuthorizerError::Unauthorized => ResponseType::Unauthorized,
                AuthorizerError::Denied { .. } => ResponseType::AccessDenied,
                AuthorizerError::Failed => ResponseType::AuthorizerFailure,
                AuthorizerError::Configuration => ResponseType::AuthorizerConfigurationError,
            },
            // Refused before an API is known, or not customisable: the HTTP answer.
            GatewayError::BadRequest(_)
            | GatewayError::HeadersTooLarge
            | GatewayError::UriTooLong
            | GatewayError::ExpectationFailed
            | GatewayError::EndpointDisabled | GatewayError::MutualTlsRequired
            // No gateway response type answers 503: the same answer for both API types.
            | GatewayError::NoHealthyTarget
 => return None,
            // REST user pool authorizers (HTTP APIs never ask).
            GatewayError::Unauthorized(_) => ResponseType::Unauthorized,
        })
    }

    pub fn blame(&self) -> Blame {
        match self {
            GatewayError::BadRequest(_)
            | GatewayError::HeadersTooLarge
            | GatewayError::UriTooLong
            | GatewayError::BodyTooLarge
            | GatewayError::ExpectationFailed
            | GatewayError::NotFound
            | GatewayError::EndpointDisabled
            | GatewayError::MutualTlsRequired
            | GatewayError::MissingAuthenticationToken
            | GatewayError::InvalidApiKey
            | GatewayError::Throttled
            | GatewayError::QuotaExceeded
            | GatewayError::UnsupportedMediaType
            | GatewayError::CacheControlDenied
            | GatewayError::MissingParameters { .. }
            | GatewayError::InvalidBody
            | GatewayError::Unauthorized(_)
            | GatewayError::Iam(_)
            | GatewayError::Authorizer(
                AuthorizerError::Unauthorized | AuthorizerError::Denied { .. },
            ) => Blame::Downstream,
            GatewayError::Authorizer(AuthorizerError::Failed | AuthorizerError::Configuration) => {
                Blame::Upstream
            }
            GatewayError::NoIntegration | GatewayError::ApiConfiguration => Blame::Gateway,
            GatewayError::UpstreamConnect(_)
            | GatewayError::UpstreamProtocol(_)
            | GatewayError::UpstreamTimeout { .. }
            | GatewayError::LambdaInvoke(_)
            | GatewayError::LambdaFunction
            | GatewayError::LambdaMalformed
            | GatewayError::NoHealthyTarget
            | GatewayError::UpstreamUnresolved => Blame::Upstream,
        }
    }

    /// REST APIs: the status of an error whose gateway response type answers with another
    /// status by default. A malformed answer or an error of a Lambda proxy function is 502
    /// (AWS's "Malformed Lambda proxy response"); a failed Invoke call 500.
    pub fn rest_status(&self) -> Option<u16> {
        match self {
            GatewayError::LambdaFunction | GatewayError::LambdaMalformed => Some(502),
            GatewayError::LambdaInvoke(_) => Some(500),
            _ => None,
        }
    }

    /// Whether the downstream connection must close after this response (framing is in doubt).
    /// Connecting failed: nothing reached the upstream, so another target may take the request.
    pub fn nothing_sent(&self) -> bool {
        matches!(
            self,
            GatewayError::UpstreamConnect(CONNECT_FAILED | CONNECT_TIMED_OUT)
        )
    }

    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            GatewayError::BadRequest(_)
                | GatewayError::HeadersTooLarge
                | GatewayError::UriTooLong
                | GatewayError::BodyTooLarge
        )
    }
}

impl From<ParseError> for GatewayError {
    fn from(e: ParseError) -> GatewayError {
        match e {
            ParseError::Malformed(_) => GatewayError::BadRequest(e),
            ParseError::HeadersTooLarge => GatewayError::HeadersTooLarge,
            ParseError::Expectation => GatewayError::ExpectationFailed,
            ParseError::UriTooLong => GatewayError::UriTooLong,
        }
    }
}
