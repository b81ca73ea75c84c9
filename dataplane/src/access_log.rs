//! Access logs: a stage's compiled format ([`portico_shared::access_log::Template`]) rendered once
//! per request at the end of the pipeline and handed to this worker's own bounded queue;
//! `log_writer` ships it (CloudWatch Logs, Firehose or a file), with the execution logs.
//!
//! A worker never waits: a full queue (the sink slow or stopped) drops the line and counts it
//! (`portico_access_log_lines_dropped_total`); a batch a sink refuses or never answers is dropped
//! and counted too.

use std::net::IpAddr;

use portico_shared::access_log::{AccessLog, Escape, Piece, Var};

use crate::error::{GatewayError, IamDenial};
use crate::request_id::RequestId;

/// What one request (or WebSocket event) contributes to its access log line.
#[derive(Debug, Default)]
pub struct Entry<'a> {
    pub request_id: Option<RequestId>,
    /// A REST API: `$context.requestId` is the UUID form, `extendedRequestId` the short one.
    pub rest: bool,
    pub started_ms: u64,
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub protocol: &'a [u8],
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    pub api_id: &'a str,
    pub stage: &'a str,
    pub route_key: Option<&'a str>,
    pub resource_path: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub status: u16,
    pub response_length: Option<u64>,
    pub response_latency_ms: u64,
    pub integration_latency_ms: Option<u64>,
    pub integration_status: Option<u16>,
    pub error: Option<GatewayError>,
    /// An `AWS_IAM` refusal's message (its body).
    pub auth_message: &'a str,
    pub api_key_id: Option<&'a str>,
    pub api_key: Option<&'a [u8]>,
    pub caller: Option<&'a portico_shared::iam::AccessKey>,
    pub principal_id: Option<&'a str>,
    /// The client's `X-Amzn-Trace-Id`, when it sent one.
    pub trace_header: Option<&'a [u8]>,
    pub connection_id: Option<&'a [u8]>,
    pub connected_at_ms: Option<u64>,
    pub event_type: Option<&'a str>,
    pub message_id: Option<&'a [u8]>,
}

/// Renders the entry `gather` makes with `log`'s template straight into this worker's chunk for
/// its sink (`log_writer`). Never blocks: with the worker's chunks all with the writer, the
/// entry is neither gathered nor rendered; the line is dropped and counted.
pub fn record<'a>(log: &AccessLog, gather: impl FnOnce() -> Entry<'a>) {
    crate::log_writer::append(crate::log_writer::To::Access(&log.sink), |out| {
        let entry = gather();
        render(log, &entry, out);
        entry.started_ms
    });
}

/// The current time in milliseconds since the epoch (`$context.requestTimeEpoch`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Renders one line (without its newline).
pub fn render(log: &AccessLog, e: &Entry<'_>, out: &mut Vec<u8>) {
    let esc = log.template.escape;
    let mut num = itoa::Buffer::new();
    for piece in &log.template.pieces {
        let var = match piece {
            Piece::Lit(s) => {
                out.extend_from_slice(s.as_bytes());
                continue;
            }
            Piece::Var(v) => *v,
        };
        let start = out.len();
        let text: Option<&[u8]> = match var {
            Var::RequestId | Var::ExtendedRequestId | Var::AwsEndpointRequestId => {
                if let Some(id) = e.request_id {
                    if var == Var::RequestId && e.rest {
                        out.extend_from_slice(&id.uuid());
                    } else {
                        out.extend_from_slice(id.as_bytes());
                    }
                }
                None
            }
            Var::SourceIp => {
                if let Some(ip) = e.source_ip {
                    crate::text::write_ip(out, ip);
                }
                None
            }
            Var::UserAgent => e.user_agent,
            Var::Caller | Var::User => e.caller.map(|k| k.principal.user_id.as_bytes()),
            Var::UserArn => e.caller.map(|k| k.principal.arn.as_bytes()),
            Var::IdentityAccountId => e.caller.and_then(|k| account_of(&k.principal.arn)),
            Var::AccessKey => e.caller.map(|k| k.id.as_bytes()),
            Var::ApiKey => e.api_key,
            Var::ApiKeyId => e.api_key_id.map(str::as_bytes),
            Var::RequestTime => {
                crate::text::clf_time(out, e.started_ms);
                None
            }
            Var::RequestTimeEpoch => number(&mut num, Some(e.started_ms)),
            Var::HttpMethod => Some(e.method),
            Var::RouteKey => e.route_key.map(str::as_bytes),
            Var::ResourcePath => e.resource_path.or(e.route_key).map(str::as_bytes),
            Var::ResourceId => e.resource_id.map(str::as_bytes),
            Var::Path => Some(e.path),
            Var::Protocol => Some(e.protocol),
            Var::Status => number(&mut num, Some(u64::from(e.status))),
            Var::ResponseLength => number(&mut num, e.response_length),
            Var::ResponseLatency => number(&mut num, Some(e.response_latency_ms)),
            Var::IntegrationLatency => number(&mut num, e.integration_latency_ms),
            Var::IntegrationStatus | Var::IntegrationOwnStatus => {
                number(&mut num, e.integration_status.map(u64::from))
            }
            Var::IntegrationErrorMessage | Var::IntegrationError => {
                e.error.and_then(integration_error).map(str::as_bytes)
            }
            Var::AuthorizerError => e
                .error
                .filter(|x| matches!(x, GatewayError::Authorizer(_)))
                .map(|x| message(&x, e.auth_message)),
            Var::AuthenticateError => e
                .error
                .filter(|x| match x {
                    GatewayError::Unauthorized(_) => x.status() == 401,
                    GatewayError::Iam(d) => *d != IamDenial::AccessDenied,
                    _ => false,
                })
                .map(|x| message(&x, e.auth_message)),
            Var::AuthorizeError => e
                .error
                .filter(|x| match x {
                    GatewayError::Unauthorized(_) => x.status() == 403,
                    GatewayError::Iam(d) => *d == IamDenial::AccessDenied,
                    _ => false,
                })
                .map(|x| message(&x, e.auth_message)),
            Var::AuthorizerPrincipalId => e.principal_id.map(str::as_bytes),
            Var::ErrorMessage => e.error.map(|x| message(&x, e.auth_message)),
            Var::ErrorMessageString => {
                if let Some(err) = e.error {
                    out.push(b'"');
                    push_escaped(out, message(&err, e.auth_message), esc);
                    out.push(b'"');
                }
                None
            }
            Var::ErrorResponseType => e
                .error
                .and_then(|e| e.response_type())
                .map(|t| t.name().as_bytes()),
            Var::ApiId => Some(e.api_id.as_bytes()),
            Var::Stage => Some(e.stage.as_bytes()),
            Var::DomainName => e.host.map(strip_port),
            Var::DomainPrefix => e
                .host
                .map(strip_port)
                .map(|h| h.split(|b| *b == b'.').next().unwrap_or(h)),
            Var::AccountId => e.caller.and_then(|k| account_of(&k.principal.arn)),
            Var::ConnectionId => e.connection_id,
            Var::ConnectedAt => number(&mut num, e.connected_at_ms),
            Var::EventType => e.event_type.map(str::as_bytes),
            Var::MessageId => e.message_id,
            Var::XrayTraceId => {
                match e.trace_header.and_then(trace_root_of) {
                    Some(root) => push_escaped(out, root, esc),
                    None => {
                        if let Some(id) = e.request_id {
                            out.extend_from_slice(&id.trace_root());
                        }
                    }
                }
                None
            }
            Var::PrincipalOrgId
            | Var::CognitoIdentityId
            | Var::CognitoIdentityPoolId
            | Var::CognitoAuthenticationType
            | Var::CognitoAuthenticationProvider
            | Var::ClientCertPem
            | Var::ClientCertSubjectDn
            | Var::ClientCertIssuerDn
            | Var::ClientCertSerialNumber
            | Var::ClientCertNotBefore
            | Var::ClientCertNotAfter
            | Var::IntegrationRequestId
            | Var::AuthorizerStatus
            | Var::AuthorizerLatency
            | Var::AuthorizerIntegrationLatency
            | Var::AuthenticateStatus
            | Var::AuthorizeStatus
            | Var::ErrorValidationErrorString
            | Var::WafResponseCode
            | Var::Unknown => None,
        };
        if let Some(t) = text {
            push_escaped(out, t, esc);
        }
        if out.len() == start {
            out.push(b'-');
        }
    }
}

/// The `content-length` of a response head in `out` (`$context.responseLength`).
/// One pass over the line starts (no searcher built per call: this runs for every logged line).
pub fn content_length(out: &[u8]) -> Option<u64> {
    const NAME: &[u8] = b"content-length:";
    for nl in memchr::memchr_iter(b'\n', out) {
        let line = &out[nl + 1..];
        // The blank line that ends the head.
        if line.first() == Some(&b'\r') || line.first() == Some(&b'\n') {
            return None;
        }
        let name = line.get(..NAME.len())?;
        if !name.eq_ignore_ascii_case(NAME) {
            continue;
        }
        let value = &line[NAME.len()..];
        let value = &value[..memchr::memchr(b'\n', value).unwrap_or(value.len())];
        return std::str::from_utf8(value).ok()?.trim().parse().ok();
    }
    None
}

fn number(buf: &mut itoa::Buffer, n: Option<u64>) -> Option<&[u8]> {
    match n {
        Some(n) => Some(buf.format(n).as_bytes()),
        None => None,
    }
}

/// The message of a gateway error's body (`{"message":"X"}` → `X`); an IAM refusal's own.
fn message<'a>(e: &GatewayError, auth_message: &'a str) -> &'a [u8] {
    if matches!(e, GatewayError::Iam(_)) && !auth_message.is_empty() {
        return auth_message.as_bytes();
    }
    let body = e.body();
    body.strip_prefix(br#"{"message":""#)
        .and_then(|b| b.strip_suffix(br#""}"#))
        .unwrap_or(body)
}

/// `$context.integrationErrorMessage`: why the integration failed, when it did.
fn integration_error(e: GatewayError) -> Option<&'static str> {
    Some(match e {
        GatewayError::UpstreamConnect(why) => why,
        GatewayError::UpstreamProtocol(why) => why,
        GatewayError::UpstreamTimeout { .. } => "Integration timeout",
        GatewayError::NoHealthyTarget => "No healthy target",
        GatewayError::LambdaInvoke(why) => why,
        GatewayError::LambdaFunction => "The Lambda function returned an error",
        GatewayError::LambdaMalformed => "Malformed Lambda proxy response",
        GatewayError::NoIntegration => "No integration",
        _ => return None,
    })
}

fn account_of(arn: &str) -> Option<&[u8]> {
    arn.split(':').nth(4).map(str::as_bytes)
}

fn strip_port(host: &[u8]) -> &[u8] {
    match host.iter().rposition(|b| *b == b':') {
        Some(i) if !host.ends_with(b"]") => &host[..i],
        _ => host,
    }
}

/// The `Root=` part of an `X-Amzn-Trace-Id` header (`Root=1-...;Parent=...;Sampled=1`).
fn trace_root_of(header: &[u8]) -> Option<&[u8]> {
    header
        .split(|b| *b == b';')
        .map(|p| p.trim_ascii())
        .find_map(|p| p.strip_prefix(b"Root="))
}

fn push_escaped(out: &mut Vec<u8>, v: &[u8], esc: Escape) {
    match esc {
        Escape::Json => crate::text::escape_json(out, v),
        Escape::Xml => {
            for &b in v {
                match b {
                    b'&' => out.extend_from_slice(b"&amp;"),
                    b'<' => out.extend_from_slice(b"&lt;"),
                    b'>' => out.extend_from_slice(b"&gt;"),
                    b'"' => out.extend_from_slice(b"&quot;"),
                    b if b < 0x20 => out.push(b' '),
                    b => out.push(b),
                }
            }
        }
        Escape::Plain => out.extend(v.iter().map(|&b| if b < 0x20 { b' ' } else { b })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_shared::access_log::compile;

    #[test]
    fn content_length_of_a_head() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nx: y\r\n\r\nhello world!",
                Some(12),
            ),
            (
                b"HTTP/1.1 200 OK\r\nx: y\r\ncontent-length:7\r\n\r\n1234567",
                Some(7),
            ),
            (b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH:  0 \r\n\r\n", Some(0)),
            (b"HTTP/1.1 204 No Content\r\nx: y\r\n\r\n", None),
            (
                b"HTTP/1.1 200 OK\r\nx: y\r\n\r\ncontent-length: 5\r\n",
                None,
            ),
            (b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", None),
            (b"HTTP/1.1 200 OK\r\ncontent-len", None),
            (b"", None),
        ];
        for (head, want) in cases {
            assert_eq!(
                content_length(head),
                *want,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    fn entry() -> Entry<'static> {
        Entry {
            started_ms: 1_700_000_000_123,
            method: b"GET",
            path: b"/prod/pets",
            protocol: b"HTTP/1.1",
            source_ip: Some("127.0.0.1".parse().unwrap()),
            user_agent: Some(b"curl \"x\""),
            api_id: "abc",
            stage: "prod",
            route_key: Some("GET /pets"),
            status: 502,
            error: Some(GatewayError::UpstreamConnect("connection refused")),
            trace_header: Some(b"Root=1-5e1b4151-5ac6c58f5b5dbd6a6d3b7f1c;Sampled=1"),
            ..Default::default()
        }
    }

    fn line(format: &str) -> String {
        let log = compile(Some("arn:aws:logs:us-east-1:1:log-group:g"), Some(format)).unwrap();
        let mut out = Vec::new();
        render(&log, &entry(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_each_shape() {
        let json = line(
            r#"{"ua":"$context.identity.userAgent","status":"$context.status","err":"$context.integrationErrorMessage","trace":"$context.xrayTraceId","key":"$context.identity.apiKeyId","msg":$context.error.messageString}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["ua"], "curl \"x\"");
        assert_eq!(v["status"], "502");
        assert_eq!(v["err"], "connection refused");
        assert_eq!(v["trace"], "1-5e1b4151-5ac6c58f5b5dbd6a6d3b7f1c");
        assert_eq!(v["key"], "-");
        assert_eq!(v["msg"], "Internal Server Error");
        assert_eq!(
            line("$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod $context.routeKey $context.protocol\" $context.status"),
            "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET GET /pets HTTP/1.1\" 502"
        );
        assert_eq!(
            line("<r><ua>$context.identity.userAgent</ua></r>"),
            "<r><ua>curl &quot;x&quot;</ua></r>"
        );
        assert_eq!(
            line("$context.apiId,$context.stage,$context.requestTimeEpoch,$context.nope"),
            "abc,prod,1700000000123,-"
        );
    }
}
