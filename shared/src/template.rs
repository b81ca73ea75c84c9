//! Gateway response and mock templates: literal text with `$context.*` and `$stageVariables.*`
//! substitution (AWS's gateway response templates are not VTL, and neither are these), and the
//! value expressions of `responseParameters` (`'static'`, `method.request.header.X`,
//! `context.X`, `stageVariables.X`).
//!
//! Parsed once at compile time into parts; rendering appends to a buffer and does not allocate.

/// A `$context` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextVar {
    RequestId,
    ExtendedRequestId,
    ApiId,
    Stage,
    ResourcePath,
    HttpMethod,
    Path,
    Protocol,
    DomainName,
    RequestTimeEpoch,
    /// `25/Nov/2026:22:14:36 +0000` (CLF).
    RequestTime,
    AccountId,
    SourceIp,
    UserAgent,
    ApiKey,
    ApiKeyId,
    /// `AWS_IAM` callers: `identity.caller` and `identity.user` (the user id), `userArn`,
    /// `accessKey`, `accountId`.
    IdentityUser,
    IdentityUserArn,
    IdentityAccessKey,
    IdentityAccountId,
    ErrorMessage,
    /// The message as a JSON string literal (quoted and escaped).
    ErrorMessageString,
    ErrorResponseType,
    ErrorValidationErrorString,
    /// REST stages with a canary: `true` for a request sent to the canary, `false` for one
    /// served by the stage; empty on stages without a canary (AWS: present only then).
    IsCanaryRequest,
    /// WebSocket APIs' own variables (`$context.connectionId`, ...).
    Ws(WsVar),
    /// Any other name: renders as the empty string, as AWS renders unknown variables.
    Unknown,
}

/// The `$context` variables only WebSocket APIs have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsVar {
    ConnectionId,
    RouteKey,
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    EventType,
    /// MESSAGE events only.
    MessageId,
    /// Epoch milliseconds.
    ConnectedAt,
    /// Always `IN`.
    MessageDirection,
    /// DISCONNECT events only.
    DisconnectStatusCode,
    DisconnectReason,
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Literal(Box<str>),
    Context(ContextVar),
    StageVariable(Box<str>),
    /// `method.request.header.NAME` (lowercased).
    RequestHeader(Box<str>),
    /// `method.request.querystring.NAME`.
    RequestQuery(Box<str>),
    /// `method.request.path.NAME`.
    RequestPath(Box<str>),
    /// `context.authorizer.KEY` (`claims.NAME`; brackets normalized by
    /// [`crate::authorizer::authorizer_key`]).
    Authorizer(Box<str>),
    /// `integration.response.header.NAME` (lowercased; integration responses only).
    ResponseHeader(Box<str>),
    /// `$input.body` in a template, `integration.response.body` in a response parameter: the
    /// request body in a request template, the upstream body in a response one.
    Body,
}

/// A compiled mapping template (VTL, see [`crate::vtl`]); equal when their texts are.
#[derive(Debug, Clone, Default)]
pub struct Template {
    text: Box<str>,
    vtl: crate::vtl::Template,
}

/// What a template is rendered against; implemented by the data plane.
pub trait Context {
    /// Appends the value of `var` (nothing when unknown).
    fn context(&self, var: ContextVar, out: &mut Vec<u8>);
    fn stage_variable(&self, name: &str) -> Option<&str>;
    fn request_header(&self, name: &str) -> Option<&[u8]>;
    fn request_query(&self, name: &str) -> Option<&[u8]>;
    fn request_path(&self, name: &str) -> Option<&[u8]>;
    /// An upstream response header (integration responses).
    fn response_header(&self, _name: &str) -> Option<&[u8]> {
        None
    }
    /// `$context.authorizer.KEY` (`principalId` or a Lambda authorizer's context value,
    /// stringified); `claims.NAME` for JWT claims.
    fn authorizer(&self, _key: &str) -> Option<std::borrow::Cow<'_, str>> {
        None
    }
    /// The body `$input.body` stands for.
    fn body(&self) -> &[u8] {
        &[]
    }
    /// Every request header (`$input.params().header`), names as received.
    fn each_request_header(&self, _f: &mut dyn FnMut(&str, &[u8])) {}
    /// Every query string parameter as sent (`$input.params().querystring`).
    fn each_request_query(&self, _f: &mut dyn FnMut(&str, &[u8])) {}
    /// Every path parameter (`$input.params().path`).
    fn each_request_path(&self, _f: &mut dyn FnMut(&str, &[u8])) {}
}

// === impl ContextVar ===

impl ContextVar {
    pub fn parse(name: &str) -> ContextVar {
        match name {
            "requestId" => ContextVar::RequestId,
            "extendedRequestId" => ContextVar::ExtendedRequestId,
            "apiId" => ContextVar::ApiId,
            "stage" => ContextVar::Stage,
            "resourcePath" => ContextVar::ResourcePath,
            "httpMethod" => ContextVar::HttpMethod,
            "path" => ContextVar::Path,
            "protocol" => ContextVar::Protocol,
            "domainName" => ContextVar::DomainName,
            "requestTimeEpoch" => ContextVar::RequestTimeEpoch,
            "requestTime" => ContextVar::RequestTime,
            "accountId" => ContextVar::AccountId,
            "identity.sourceIp" => ContextVar::SourceIp,
            "identity.userAgent" => ContextVar::UserAgent,
            "identity.apiKey" => ContextVar::ApiKey,
            "identity.apiKeyId" => ContextVar::ApiKeyId,
            "identity.caller" | "identity.user" => ContextVar::IdentityUser,
            "identity.userArn" => ContextVar::IdentityUserArn,
            "identity.accessKey" => ContextVar::IdentityAccessKey,
            "identity.accountId" => ContextVar::IdentityAccountId,
            "error.message" => ContextVar::ErrorMessage,
            "error.messageString" => ContextVar::ErrorMessageString,
            "error.responseType" => ContextVar::ErrorResponseType,
            "error.validationErrorString" => ContextVar::ErrorValidationErrorString,
            "isCanaryRequest" => ContextVar::IsCanaryRequest,
            "connectionId" => ContextVar::Ws(WsVar::ConnectionId),
            "routeKey" => ContextVar::Ws(WsVar::RouteKey),
            "eventType" => ContextVar::Ws(WsVar::EventType),
            "messageId" => ContextVar::Ws(WsVar::MessageId),
            "connectedAt" => ContextVar::Ws(WsVar::ConnectedAt),
            "messageDirection" => ContextVar::Ws(WsVar::MessageDirection),
            "disconnectStatusCode" => ContextVar::Ws(WsVar::DisconnectStatusCode),
            "disconnectReason" => ContextVar::Ws(WsVar::DisconnectReason),
            _ => ContextVar::Unknown,
        }
    }
}

// === impl Source ===

impl Source {
    /// Parses a `responseParameters` value: `'static'`, `method.request.header.X`,
    /// `method.request.querystring.X`, `method.request.path.X`, `stageVariables.X`, `context.X`.
    pub fn parse_parameter(value: &str) -> Result<Source, String> {
        let v = value.trim();
        if let Some(lit) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            return Ok(Source::Literal(lit.into()));
        }
        if let Some(n) = v.strip_prefix("method.request.header.") {
            return Ok(Source::RequestHeader(n.to_ascii_lowercase().into()));
        }
        if let Some(n) = v.strip_prefix("method.request.querystring.") {
            return Ok(Source::RequestQuery(n.into()));
        }
        if let Some(n) = v.strip_prefix("method.request.path.") {
            return Ok(Source::RequestPath(n.into()));
        }
        if let Some(n) = v.strip_prefix("stageVariables.") {
            return Ok(Source::StageVariable(n.into()));
        }
        if let Some(n) = v.strip_prefix("context.authorizer.") {
            return crate::authorizer::authorizer_key(n).map(Source::Authorizer);
        }
        if let Some(n) = v.strip_prefix("context.") {
            return Ok(Source::Context(ContextVar::parse(n)));
        }
        Err(format!(
            "Invalid mapping expression specified: {value}; use 'static', method.request.header.NAME, method.request.querystring.NAME, method.request.path.NAME, stageVariables.NAME or context.NAME"
        ))
    }

    /// Appends the value; a missing header, parameter or variable appends nothing.
    pub fn render(&self, cx: &dyn Context, out: &mut Vec<u8>) {
        match self {
            Source::Literal(s) => out.extend_from_slice(s.as_bytes()),
            Source::Context(v) => cx.context(*v, out),
            Source::Authorizer(key) => {
                if let Some(v) = cx.authorizer(key) {
                    out.extend_from_slice(v.as_bytes());
                }
            }
            Source::StageVariable(n) => {
                if let Some(v) = cx.stage_variable(n) {
                    out.extend_from_slice(v.as_bytes());
                }
            }
            Source::RequestHeader(n) => {
                if let Some(v) = cx.request_header(n) {
                    out.extend_from_slice(v);
                }
            }
            Source::RequestQuery(n) => {
                if let Some(v) = cx.request_query(n) {
                    out.extend_from_slice(v);
                }
            }
            Source::RequestPath(n) => {
                if let Some(v) = cx.request_path(n) {
                    out.extend_from_slice(v);
                }
            }
            Source::ResponseHeader(n) => {
                if let Some(v) = cx.response_header(n) {
                    out.extend_from_slice(v);
                }
            }
            Source::Body => out.extend_from_slice(cx.body()),
        }
    }

    /// Parses an integration response's `responseParameters` value: what
    /// [`Source::parse_parameter`] takes, plus `integration.response.header.NAME` and
    /// `integration.response.body`.
    pub fn parse_response_parameter(value: &str) -> Result<Source, String> {
        let v = value.trim();
        if let Some(n) = v.strip_prefix("integration.response.header.") {
            return Ok(Source::ResponseHeader(n.to_ascii_lowercase().into()));
        }
        if v == "integration.response.body" {
            return Ok(Source::Body);
        }
        Source::parse_parameter(value)
    }
}

// === impl Template ===

impl PartialEq for Template {
    fn eq(&self, other: &Template) -> bool {
        self.text == other.text
    }
}

impl Eq for Template {}

impl Template {
    /// Parses a mapping template; plain text with `$context.NAME`, `${context.NAME}`,
    /// `$stageVariables.NAME` and `$input.body` is the simplest case of it.
    pub fn parse(text: &str) -> Result<Template, String> {
        Ok(Template {
            text: text.into(),
            vtl: crate::vtl::Template::parse(text)?,
        })
    }

    /// Renders into `out`; returns what the template set in `$context.responseOverride`.
    pub fn render(&self, cx: &dyn Context, out: &mut Vec<u8>) -> crate::vtl::Overrides {
        self.vtl.render(cx, out)
    }

    pub fn is_empty(&self) -> bool {
        self.vtl.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cx;

    impl Context for Cx {
        fn context(&self, var: ContextVar, out: &mut Vec<u8>) {
            match var {
                ContextVar::RequestId => out.extend_from_slice(b"rid"),
                ContextVar::ErrorMessageString => out.extend_from_slice(b"\"Forbidden\""),
                _ => {}
            }
        }
        fn stage_variable(&self, name: &str) -> Option<&str> {
            (name == "v").then_some("V")
        }
        fn request_header(&self, name: &str) -> Option<&[u8]> {
            (name == "x-h").then_some(b"H")
        }
        fn request_query(&self, _: &str) -> Option<&[u8]> {
            None
        }
        fn request_path(&self, _: &str) -> Option<&[u8]> {
            None
        }
    }

    fn render(t: &str) -> String {
        let mut out = Vec::new();
        Template::parse(t).unwrap().render(&Cx, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn templates() {
        assert_eq!(
            render(r#"{"message":$context.error.messageString}"#),
            r#"{"message":"Forbidden"}"#
        );
        assert_eq!(render("id=${context.requestId}."), "id=rid.");
        assert_eq!(render("$stageVariables.v/$context.nope/$5 $x"), "V//$5 $x");
        assert_eq!(render("${context.requestId"), "${context.requestId");
        assert_eq!(render("id $context.requestId."), "id rid.");
    }

    #[test]
    fn parameters() {
        let mut out = Vec::new();
        for (v, want) in [
            ("'a b'", "a b"),
            ("method.request.header.X-H", "H"),
            ("stageVariables.v", "V"),
            ("context.requestId", "rid"),
        ] {
            out.clear();
            Source::parse_parameter(v).unwrap().render(&Cx, &mut out);
            assert_eq!(out, want.as_bytes(), "{v}");
        }
        assert!(Source::parse_parameter("integration.response.body").is_err());
        assert_eq!(
            Source::parse_parameter("context.authorizer.claims['cognito:groups']"),
            Ok(Source::Authorizer("claims.cognito:groups".into()))
        );
        assert!(Source::parse_parameter("context.authorizer.claims[x]").is_err());
    }
}
