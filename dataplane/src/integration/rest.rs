//! What REST APIs answer differently: gateway responses (customisable per stage, with
//! `$context` substitution), `MOCK` integration responses, and REST's id headers
//! (`x-amzn-RequestId`, `x-amz-apigw-id`) instead of HTTP APIs' `apigw-requestid`.
//!
//! Rendering happens only on refusals and mocks; a refusal whose type is not customised is a
//! static body, as for HTTP APIs.

use std::net::SocketAddr;

use http::Method;
use portico_shared::gateway_response::ResponseType;
use portico_shared::keys::KeyEntry;
use portico_shared::snapshot::{
    Api, HttpMapped, MappedResponse, Passthrough, PathPart, Route, Stage,
};
use portico_shared::template::{Context, ContextVar, Source};
use portico_shared::validation::Validation;

use crate::error::GatewayError;
use crate::upstream::{UpstreamCall, UpstreamResponse};

use crate::http1::parse::{bytes, trim, HeaderSpans};
use crate::http1::write;
use crate::http1::RequestHead;
use crate::request_id::RequestId;
use crate::respond::{write_id_headers, ConnectionHeader};
use crate::stages::resolve::Resolved;

/// Everything a REST template can refer to.
#[derive(Debug)]
pub struct RestContext<'a> {
    pub request_id: RequestId,
    pub api: &'a Api,
    pub stage: Option<&'a Stage>,
    pub route: Option<&'a Route>,
    pub resolved: Option<&'a Resolved<'a>>,
    pub head: &'a RequestHead,
    pub buf: &'a [u8],
    pub headers: &'a HeaderSpans,
    pub peer: SocketAddr,
    pub key: Option<&'a KeyEntry>,
    pub error: Option<ResponseType>,
    /// `BAD_REQUEST_PARAMETERS`: which of the route's required parameters are missing (bit `i`
    /// is `Validation::required[i]`), so the message can name them.
    pub missing_parameters: u64,
    /// What `$input.body` is: the request body for request templates, the upstream body for
    /// response templates.
    pub body: &'a [u8],
    /// The upstream response, for `integration.response.header.NAME`.
    pub response: Option<(&'a UpstreamCall, &'a UpstreamResponse)>,
    /// The `AWS_IAM` caller, for `$context.identity.*`.
    pub caller: Option<&'a portico_shared::iam::AccessKey>,
    /// An IAM refusal's message (it names the caller and resource): `$context.error.message`.
    pub auth_message: &'a str,
    /// A Lambda authorizer's grant: `$context.authorizer.*`.
    pub grant: Option<&'a portico_shared::authorizer::Grant>,
}

// === impl RestContext ===

impl RestContext<'_> {
    /// A claim of the token a user pool (or JWT) authorizer accepted, stringified; decoded
    /// again from the request (only templates that name a claim pay for it).
    fn claim(&self, name: &str) -> Option<String> {
        use base64::Engine as _;
        let auth = self.route?.auth.as_deref()?;
        let token = self.request_header(&auth.authorizer.header)?;
        let token = match token.get(..7) {
            Some(p) if p.eq_ignore_ascii_case(b"bearer ") => trim(&token[7..]),
            _ => token,
        };
        let payload = token.split(|&b| b == b'.').nth(1)?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
        Some(match claims.get(name)? {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// `$context.error.message`: the type's message, with the missing parameters' names for
    /// `BAD_REQUEST_PARAMETERS`.
    fn error_message(&self, out: &mut Vec<u8>) {
        let Some(e) = self.error else { return };
        if !self.auth_message.is_empty() {
            out.extend_from_slice(self.auth_message.as_bytes());
            return;
        }
        match (e, self.validation()) {
            (ResponseType::BadRequestParameters, Some(v)) if self.missing_parameters != 0 => {
                v.write_missing_message(self.missing_parameters, out)
            }
            _ => out.extend_from_slice(e.message().as_bytes()),
        }
    }

    /// `$context.error.messageString`: the message as a JSON string (parameter names may need
    /// escaping; the built-in messages do not).
    fn error_message_string(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        let start = out.len();
        self.error_message(out);
        if out[start..]
            .iter()
            .any(|&b| b == b'"' || b == b'\\' || b < 0x20)
        {
            let raw = out.split_off(start);
            crate::request::escape_json(out, &raw);
        }
        out.push(b'"');
    }

    /// The route's request validation, if any.
    fn validation(&self) -> Option<&Validation> {
        self.route?.rest.as_ref()?.validation.as_deref()
    }
}

impl Context for RestContext<'_> {
    fn authorizer(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        if let Some(name) = key.strip_prefix("claims.") {
            return self.claim(name).map(std::borrow::Cow::Owned);
        }
        self.grant?
            .context_value(key)
            .map(std::borrow::Cow::Borrowed)
    }

    fn context(&self, var: ContextVar, out: &mut Vec<u8>) {
        match var {
            ContextVar::RequestId => out.extend_from_slice(&self.request_id.uuid()),
            ContextVar::ExtendedRequestId => out.extend_from_slice(self.request_id.as_bytes()),
            ContextVar::ApiId => out.extend_from_slice(self.api.id.as_bytes()),
            ContextVar::Stage => {
                if let Some(s) = self.stage {
                    out.extend_from_slice(s.name.as_bytes());
                }
            }
            ContextVar::IsCanaryRequest => match self.stage {
                Some(s) if s.is_canary => out.extend_from_slice(b"true"),
                Some(s) if s.canary.is_some() => out.extend_from_slice(b"false"),
                _ => {}
            },
            ContextVar::ResourcePath => {
                if let Some(r) = self.route.and_then(|r| r.rest.as_ref()) {
                    out.extend_from_slice(r.resource_path.as_bytes());
                }
            }
            ContextVar::HttpMethod => out.extend_from_slice(self.head.method.as_str().as_bytes()),
            ContextVar::Path => out.extend_from_slice(bytes(self.buf, self.head.path)),
            ContextVar::Protocol => out.extend_from_slice(match self.head.version {
                crate::http1::Version::Http10 => b"HTTP/1.0",
                crate::http1::Version::Http11 => b"HTTP/1.1",
            }),
            ContextVar::DomainName => {
                if let Some(h) = self.head.host {
                    out.extend_from_slice(bytes(self.buf, h));
                }
            }
            ContextVar::RequestTimeEpoch => {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
            }
            ContextVar::RequestTime => crate::request::clf_time(out, crate::request::unix_ms()),
            ContextVar::AccountId => {
                out.extend_from_slice(portico_shared::aws::account_id().as_bytes())
            }
            ContextVar::SourceIp => {
                use std::io::Write as _;
                let _ = write!(out, "{}", self.peer.ip());
            }
            ContextVar::UserAgent => {
                if let Some(v) = self.request_header("user-agent") {
                    out.extend_from_slice(v);
                }
            }
            ContextVar::ApiKey => {
                if let Some(k) = self.key {
                    out.extend_from_slice(k.value());
                }
            }
            ContextVar::ApiKeyId => {
                if let Some(k) = self.key {
                    out.extend_from_slice(k.id.as_bytes());
                }
            }
            ContextVar::IdentityUser => {
                if let Some(k) = self.caller {
                    out.extend_from_slice(k.principal.user_id.as_bytes());
                }
            }
            ContextVar::IdentityUserArn => {
                if let Some(k) = self.caller {
                    out.extend_from_slice(k.principal.arn.as_bytes());
                }
            }
            ContextVar::IdentityAccessKey => {
                if let Some(k) = self.caller {
                    out.extend_from_slice(k.id.as_bytes());
                }
            }
            ContextVar::IdentityAccountId => {
                if let Some(k) = self.caller {
                    // `arn:aws:iam::{account}:...`
                    let account = k.principal.arn.split(':').nth(4).unwrap_or_default();
                    out.extend_from_slice(account.as_bytes());
                }
            }
            ContextVar::ErrorMessage => self.error_message(out),
            ContextVar::ErrorMessageString => match self.error {
                Some(_) => self.error_message_string(out),
                None => out.extend_from_slice(b"null"),
            },
            ContextVar::ErrorResponseType => {
                if let Some(e) = self.error {
                    out.extend_from_slice(e.name().as_bytes());
                }
            }
            // Parameters: the message; a body: what the schema found wrong, `[a, b]`.
            ContextVar::ErrorValidationErrorString => match (self.error, self.validation()) {
                (Some(ResponseType::BadRequestParameters), _) => self.error_message(out),
                (Some(ResponseType::BadRequestBody), Some(v)) => {
                    crate::stages::validate::write_body_errors(
                        v,
                        self.request_header("content-type"),
                        self.body,
                        out,
                    )
                }
                _ => {}
            },
            ContextVar::Unknown | ContextVar::Ws(_) => {}
        }
    }

    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.stage?.variables.get(name).map(String::as_str)
    }

    fn request_header(&self, name: &str) -> Option<&[u8]> {
        crate::request::header(self.buf, self.headers, name.as_bytes())
    }

    fn request_query(&self, name: &str) -> Option<&[u8]> {
        crate::request::query(bytes(self.buf, self.head.query), name.as_bytes())
    }

    fn request_path(&self, name: &str) -> Option<&[u8]> {
        let r = self.resolved?;
        r.matched
            .params
            .get(r.route_path(self.buf), name)
            .map(str::as_bytes)
    }

    fn response_header(&self, name: &str) -> Option<&[u8]> {
        let (call, _) = self.response?;
        crate::request::header(&call.resp, &call.headers, name.as_bytes())
    }

    fn body(&self) -> &[u8] {
        self.body
    }

    fn each_request_header(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for (n, v) in self.headers.iter() {
            if let Ok(name) = std::str::from_utf8(bytes(self.buf, *n)) {
                f(name, trim(bytes(self.buf, *v)));
            }
        }
    }

    fn each_request_query(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for pair in bytes(self.buf, self.head.query).split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            if let Ok(name) = std::str::from_utf8(k) {
                f(name, v);
            }
        }
    }

    fn each_request_path(&self, f: &mut dyn FnMut(&str, &[u8])) {
        let Some(r) = self.resolved else { return };
        let path = r.route_path(self.buf);
        for p in r.matched.params.iter() {
            if let Some(v) = path.get(p.value.0 as usize..p.value.1 as usize) {
                f(p.name, v.as_bytes());
            }
        }
    }
}

/// Serializes the upstream request of a REST `HTTP` (non-proxy) integration into `out`: only
/// mapped headers and query parameters, and the body passed through or from the template for
/// its content type. `scratch` holds rendered values.
pub fn build_http_request(
    h: &HttpMapped,
    method: &Method,
    cx: &RestContext<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    // The template for the request's content type (none given: application/json).
    let content_type = cx.request_header("content-type");
    let media = content_type
        .map(|c| trim(c.split(|&b| b == b';').next().unwrap_or(c)))
        .filter(|c| !c.is_empty())
        .unwrap_or(b"application/json");
    let template = h
        .templates
        .iter()
        .find(|(ct, _)| ct.as_bytes().eq_ignore_ascii_case(media))
        .map(|(_, t)| t);
    let passthrough = match (template, h.passthrough) {
        (Some(_), _) => false,
        (None, Passthrough::WhenNoMatch) => true,
        (None, Passthrough::WhenNoTemplates) if h.templates.is_empty() => true,
        (None, _) => return Err(GatewayError::UnsupportedMediaType),
    };
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let path_start = out.len();
    for part in &h.target.path {
        match part {
            PathPart::Literal(s) => out.extend_from_slice(s.as_bytes()),
            PathPart::Param(name) => {
                if let Some(v) = cx.request_path(name) {
                    let start = out.len();
                    out.extend_from_slice(v);
                    crate::integration::normalize_path(out, start)?;
                }
            }
        }
    }
    if out.len() == path_start {
        out.push(b'/');
    }
    let mut sep = b'?';
    if !h.target.query.is_empty() {
        out.push(sep);
        out.extend_from_slice(h.target.query.as_bytes());
        sep = b'&';
    }
    for (name, source) in &h.query {
        scratch.clear();
        source.render(cx, scratch);
        if scratch.is_empty() {
            continue;
        }
        out.push(sep);
        sep = b'&';
        percent_encode(name.as_bytes(), out);
        out.push(b'=');
        if matches!(source, Source::RequestQuery(_)) {
            // Already encoded as the client sent it.
            out.extend_from_slice(scratch);
        } else {
            percent_encode(scratch, out);
        }
    }
    let target_end = out.len();
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write::header(out, b"host", h.target.host_header.as_bytes());
    // An `AWS` integration may set the content type (`'application/x-www-form-urlencoded'` for
    // query-protocol actions); where it lands in `out`.
    let mut mapped_type = None;
    for (name, source) in &h.headers {
        scratch.clear();
        source.render(cx, scratch);
        if !valid_header_value(scratch) {
            // A mapped value that would split the request head is refused, never forwarded.
            return Err(GatewayError::ApiConfiguration);
        }
        if scratch.is_empty() {
            continue;
        }
        if h.aws.is_some() && name.eq_ignore_ascii_case("content-type") {
            let start = out.len() + "content-type: ".len();
            write::header(out, b"content-type", scratch);
            mapped_type = Some((start, start + scratch.len()));
        } else if !reserved_request_header(name) {
            write::header(out, name.as_bytes(), scratch);
        }
    }
    let (body, body_type): (&[u8], Option<&[u8]>) = if passthrough {
        (cx.body, content_type)
    } else {
        scratch.clear();
        if let Some(t) = template {
            t.render(cx, scratch);
        }
        (&scratch[..], Some(&b"application/json"[..]))
    };
    match &h.aws {
        None => {
            if let Some(ct) = body_type {
                write::header(out, b"content-type", ct);
            }
        }
        Some(aws) => {
            let json = aws.json_target.as_ref();
            let ct: Option<String> = match mapped_type {
                Some((s, e)) => Some(String::from_utf8_lossy(&out[s..e]).into_owned()),
                None => json
                    .map(|(_, ct)| ct.to_string())
                    .or_else(|| body_type.map(|c| String::from_utf8_lossy(c).into_owned())),
            };
            if mapped_type.is_none() {
                if let Some(ct) = &ct {
                    write::header(out, b"content-type", ct.as_bytes());
                }
            }
            if let Some((t, _)) = json {
                write::header(out, b"x-amz-target", t.as_bytes());
            }
            let target = String::from_utf8_lossy(&out[path_start..target_end]).into_owned();
            crate::integration::aws::write_signature(
                &aws.target,
                method.as_str(),
                &target,
                ct.as_deref(),
                json.map(|(t, _)| &**t),
                body,
                out,
            )?;
        }
    }
    // X-Ray: the client's trace header (its headers are not forwarded here), else the
    // gateway's; unsigned, as the SDKs send it.
    let trace = cx
        .request_id
        .trace_header(cx.request_header("x-amzn-trace-id"));
    write::header(out, b"x-amzn-trace-id", trace.as_bytes());
    write::header_u64(out, b"content-length", body.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(())
}

/// Writes the method response an integration response makes: its status, its mapped headers,
/// and its template or (without one) `cx.body`: the upstream body of an `HTTP` integration,
/// nothing for a `MOCK`.
pub fn write_mapped(
    m: &MappedResponse,
    cx: &RestContext<'_>,
    connection: ConnectionHeader,
    head_only: bool,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> u16 {
    // The template first: it may override the status and headers.
    let (body, overrides): (&[u8], _) = match &m.body {
        Some(t) => {
            scratch.clear();
            let o = t.render(cx, scratch);
            (&scratch[..], o)
        }
        None => (cx.body, Default::default()),
    };
    let status = overrides.status.unwrap_or(m.status);
    write::status_line(out, status, write::reason(status));
    let mut content_type = false;
    for (name, source) in &m.headers {
        if overrides
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let mark = out.len();
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        let value = out.len();
        source.render(cx, out);
        if out.len() == value
            || !valid_header_value(&out[value..])
            || reserved_response_header(name)
        {
            out.truncate(mark);
            continue;
        }
        out.extend_from_slice(b"\r\n");
        content_type |= name.eq_ignore_ascii_case("content-type");
    }
    for (name, value) in &overrides.headers {
        if valid_header_value(value.as_bytes())
            && !reserved_response_header(name)
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        {
            content_type |= name.eq_ignore_ascii_case("content-type");
            write::header(out, name.as_bytes(), value.as_bytes());
        }
    }
    if !content_type {
        write::header(out, b"content-type", b"application/json");
    }
    let no_body = status < 200 || status == 204 || status == 304;
    if !no_body {
        write::header_u64(out, b"content-length", body.len() as u64);
    }
    write_id_headers(out, cx.request_id);
    connection.end_head(out);
    if !head_only && !no_body {
        out.extend_from_slice(body);
    }
    status
}

/// Headers the gateway frames itself: a mapping cannot set them.
fn reserved_request_header(name: &str) -> bool {
    [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "content-type",
    ]
    .iter()
    .any(|r| name.eq_ignore_ascii_case(r))
        || crate::http1::write::is_hop_by_hop(name.as_bytes())
}

fn reserved_response_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
        || crate::http1::write::is_hop_by_hop(name.as_bytes())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(v: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// Writes a REST Lambda authorizer's refusal or failure as AWS sends it when the stage does
/// not customise it: 403 `{"Message": ...}` with `AccessDeniedException`, or 500
/// `{"message": null}` with `AuthorizerConfigurationException`.
pub fn write_authorizer_error(
    e: crate::error::AuthorizerError,
    id: RequestId,
    connection: ConnectionHeader,
    head_only: bool,
    out: &mut Vec<u8>,
) {
    use crate::error::AuthorizerError;
    let (status, error_type, body): (u16, &[u8], &[u8]) = match e {
        AuthorizerError::Denied { explicit: true } => (
            403,
            b"AccessDeniedException",
            br#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#,
        ),
        AuthorizerError::Denied { explicit: false } => (
            403,
            b"AccessDeniedException",
            br#"{"Message":"User is not authorized to access this resource"}"#,
        ),
        AuthorizerError::Failed | AuthorizerError::Configuration => (
            500,
            b"AuthorizerConfigurationException",
            br#"{"message": null}"#,
        ),
        AuthorizerError::Unauthorized => (
            401,
            b"UnauthorizedException",
            br#"{"message":"Unauthorized"}"#,
        ),
    };
    write::status_line(out, status, write::reason(status));
    write::header(out, b"content-type", b"application/json");
    write::header(out, b"x-amzn-errortype", error_type);
    write::header_u64(out, b"content-length", body.len() as u64);
    write_id_headers(out, id);
    connection.end_head(out);
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Writes a REST gateway response for `t`: the stage's customisation, else the built-in body.
pub fn write_gateway_response(
    t: ResponseType,
    status: Option<u16>,
    cx: &RestContext<'_>,
    connection: ConnectionHeader,
    head_only: bool,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> u16 {
    let custom = cx.stage.and_then(|s| s.gateway_responses.get(t));
    // `status`: an error answered with another status than its type's (Lambda's 502).
    let status = custom.map_or(status.unwrap_or(t.default_status()), |c| c.status);
    write::status_line(out, status, write::reason(status));
    write::header(out, b"content-type", b"application/json");
    write::header(out, b"x-amzn-errortype", t.error_type().as_bytes());
    let body: &[u8] = match custom {
        Some(c) => {
            for (name, source) in &c.headers {
                scratch.clear();
                source.render(cx, scratch);
                if valid_header_value(scratch) {
                    write::header(out, name.as_bytes(), scratch);
                }
            }
            scratch.clear();
            // Gateway responses take no `$context.responseOverride`.
            let _ = c.body.render(cx, scratch);
            scratch
        }
        // The one built-in body that names something of the request.
        None if t == ResponseType::BadRequestParameters && cx.missing_parameters != 0 => {
            scratch.clear();
            scratch.extend_from_slice(b"{\"message\":");
            cx.error_message_string(scratch);
            scratch.push(b'}');
            scratch
        }
        None => t.default_body(),
    };
    write::header_u64(out, b"content-length", body.len() as u64);
    write_id_headers(out, cx.request_id);
    connection.end_head(out);
    if !head_only {
        out.extend_from_slice(body);
    }
    status
}

/// A rendered value that would break the response head (CR, LF, NUL) is dropped.
fn valid_header_value(v: &[u8]) -> bool {
    !v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}
