//! The data plane's error type: what went wrong, who is to blame, and the response AWS sends.

use crate::http1::ParseError;

/// Who caused an error (pingora's `ErrorSource`): for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    Downstream,
    Upstream,
    Gateway,
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
    #[error("route has no integration")]
    NoIntegration,
    #[error("upstream connection failed: {0}")]
    UpstreamConnect(&'static str),
    #[error("upstream response invalid: {0}")]
    UpstreamProtocol(&'static str),
    #[error("upstream timed out after {timeout_ms} ms")]
    UpstreamTimeout { timeout_ms: u32 },
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
            GatewayError::EndpointDisabled => 403,
            GatewayError::NoIntegration => 500,
            GatewayError::UpstreamConnect(_) => 502,
            GatewayError::UpstreamProtocol(_) => 502,
            GatewayError::UpstreamTimeout { .. } => 503,
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
            GatewayError::EndpointDisabled => br#"{"message":"Forbidden"}"#,
            GatewayError::NoIntegration => br#"{"message":"Internal Server Error"}"#,
            GatewayError::UpstreamConnect(_) => br#"{"message":"Internal Server Error"}"#,
            GatewayError::UpstreamProtocol(_) => br#"{"message":"Internal Server Error"}"#,
            GatewayError::UpstreamTimeout { .. } => br#"{"message":"Service Unavailable"}"#,
        }
    }

    pub fn blame(&self) -> Blame {
        match self {
            GatewayError::BadRequest(_)
            | GatewayError::HeadersTooLarge
            | GatewayError::UriTooLong
            | GatewayError::BodyTooLarge
            | GatewayError::ExpectationFailed
            | GatewayError::NotFound
            | GatewayError::EndpointDisabled => Blame::Downstream,
            GatewayError::NoIntegration => Blame::Gateway,
            GatewayError::UpstreamConnect(_)
            | GatewayError::UpstreamProtocol(_)
            | GatewayError::UpstreamTimeout { .. } => Blame::Upstream,
        }
    }

    /// Whether the downstream connection must close after this response (framing is in doubt).
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
