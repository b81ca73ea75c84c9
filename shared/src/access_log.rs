//! Access logs compiled: a stage's `accessLogSettings` (`destinationArn`, `format`) turned once
//! into a [`Template`] of literal and `$context` variable pieces and a [`Sink`] (a CloudWatch
//! Logs log group or a Firehose delivery stream). The data plane renders a template per request
//! without parsing; a writer thread ships the lines (see `dataplane/src/access_log.rs`).
//!
//! The counters the data plane keeps (lines queued, shipped, dropped, of the access logs and of
//! the execution logs, which share the writer) are process-wide atomics
//! here, so the admin's metrics read them without reaching into the data plane.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Lines rendered and queued for a writer.
pub static LINES_QUEUED: AtomicU64 = AtomicU64::new(0);
/// Lines a sink accepted.
pub static LINES_SHIPPED: AtomicU64 = AtomicU64::new(0);
/// Lines dropped: a worker's queue was full (the sink slow or stopped) or a sink refused them.
pub static LINES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Execution log lines (`loggingLevel`, the same writer as the access logs) queued for the
/// writer, shipped (every sink of the line accepted it) and dropped (the worker's queue full or
/// a sink refusing them).
pub static EXEC_LINES_QUEUED: AtomicU64 = AtomicU64::new(0);
pub static EXEC_LINES_SHIPPED: AtomicU64 = AtomicU64::new(0);
pub static EXEC_LINES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// A `$context` variable an access log format may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    RequestId,
    ExtendedRequestId,
    AwsEndpointRequestId,
    SourceIp,
    UserAgent,
    Caller,
    User,
    UserArn,
    IdentityAccountId,
    ApiKey,
    ApiKeyId,
    AccessKey,
    PrincipalOrgId,
    CognitoIdentityId,
    CognitoIdentityPoolId,
    CognitoAuthenticationType,
    CognitoAuthenticationProvider,
    ClientCertPem,
    ClientCertSubjectDn,
    ClientCertIssuerDn,
    ClientCertSerialNumber,
    ClientCertNotBefore,
    ClientCertNotAfter,
    RequestTime,
    RequestTimeEpoch,
    HttpMethod,
    RouteKey,
    ResourcePath,
    ResourceId,
    Path,
    Protocol,
    Status,
    ResponseLength,
    ResponseLatency,
    IntegrationLatency,
    IntegrationStatus,
    /// `$context.integration.status`: the integration's own status (a Lambda function's, the
    /// backend's).
    IntegrationOwnStatus,
    IntegrationErrorMessage,
    IntegrationError,
    IntegrationRequestId,
    AuthorizerError,
    AuthorizerPrincipalId,
    AuthorizerStatus,
    AuthorizerLatency,
    AuthorizerIntegrationLatency,
    AuthenticateError,
    AuthenticateStatus,
    AuthorizeError,
    AuthorizeStatus,
    ErrorMessage,
    ErrorMessageString,
    ErrorResponseType,
    ErrorValidationErrorString,
    ApiId,
    Stage,
    DomainName,
    DomainPrefix,
    AccountId,
    ConnectionId,
    ConnectedAt,
    EventType,
    MessageId,
    XrayTraceId,
    WafResponseCode,
    /// A name this gateway does not know: rendered `-`.
    Unknown,
}

/// Every variable by name (without `$context.`), for compilation and the docs' table.
pub const VARS: &[(&str, Var)] = &[
    ("requestId", Var::RequestId),
    ("extendedRequestId", Var::ExtendedRequestId),
    ("awsEndpointRequestId", Var::AwsEndpointRequestId),
    ("identity.sourceIp", Var::SourceIp),
    ("identity.userAgent", Var::UserAgent),
    ("identity.caller", Var::Caller),
    ("identity.user", Var::User),
    ("identity.userArn", Var::UserArn),
    ("identity.accountId", Var::IdentityAccountId),
    ("identity.apiKey", Var::ApiKey),
    ("identity.apiKeyId", Var::ApiKeyId),
    ("identity.accessKey", Var::AccessKey),
    ("identity.principalOrgId", Var::PrincipalOrgId),
    ("identity.cognitoIdentityId", Var::CognitoIdentityId),
    ("identity.cognitoIdentityPoolId", Var::CognitoIdentityPoolId),
    (
        "identity.cognitoAuthenticationType",
        Var::CognitoAuthenticationType,
    ),
    (
        "identity.cognitoAuthenticationProvider",
        Var::CognitoAuthenticationProvider,
    ),
    ("identity.clientCert.clientCertPem", Var::ClientCertPem),
    ("identity.clientCert.subjectDN", Var::ClientCertSubjectDn),
    ("identity.clientCert.issuerDN", Var::ClientCertIssuerDn),
    (
        "identity.clientCert.serialNumber",
        Var::ClientCertSerialNumber,
    ),
    (
        "identity.clientCert.validity.notBefore",
        Var::ClientCertNotBefore,
    ),
    (
        "identity.clientCert.validity.notAfter",
        Var::ClientCertNotAfter,
    ),
    ("requestTime", Var::RequestTime),
    ("requestTimeEpoch", Var::RequestTimeEpoch),
    ("httpMethod", Var::HttpMethod),
    ("routeKey", Var::RouteKey),
    ("resourcePath", Var::ResourcePath),
    ("resourceId", Var::ResourceId),
    ("path", Var::Path),
    ("protocol", Var::Protocol),
    ("status", Var::Status),
    ("responseLength", Var::ResponseLength),
    ("responseLatency", Var::ResponseLatency),
    ("integrationLatency", Var::IntegrationLatency),
    ("integration.latency", Var::IntegrationLatency),
    ("integrationStatus", Var::IntegrationStatus),
    ("integration.integrationStatus", Var::IntegrationStatus),
    ("integration.status", Var::IntegrationOwnStatus),
    ("integrationErrorMessage", Var::IntegrationErrorMessage),
    ("integration.error", Var::IntegrationError),
    ("integration.requestId", Var::IntegrationRequestId),
    ("authorizer.error", Var::AuthorizerError),
    ("authorizer.principalId", Var::AuthorizerPrincipalId),
    ("authorizer.status", Var::AuthorizerStatus),
    ("authorizer.latency", Var::AuthorizerLatency),
    (
        "authorizer.integrationLatency",
        Var::AuthorizerIntegrationLatency,
    ),
    ("authenticate.error", Var::AuthenticateError),
    ("authenticate.status", Var::AuthenticateStatus),
    ("authorize.error", Var::AuthorizeError),
    ("authorize.status", Var::AuthorizeStatus),
    ("error.message", Var::ErrorMessage),
    ("error.messageString", Var::ErrorMessageString),
    ("error.responseType", Var::ErrorResponseType),
    (
        "error.validationErrorString",
        Var::ErrorValidationErrorString,
    ),
    ("apiId", Var::ApiId),
    ("stage", Var::Stage),
    ("domainName", Var::DomainName),
    ("domainPrefix", Var::DomainPrefix),
    ("accountId", Var::AccountId),
    ("connectionId", Var::ConnectionId),
    ("connectedAt", Var::ConnectedAt),
    ("eventType", Var::EventType),
    ("messageId", Var::MessageId),
    ("xrayTraceId", Var::XrayTraceId),
    ("waf.error", Var::Unknown),
    ("wafResponseCode", Var::WafResponseCode),
];

/// One piece of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(Box<str>),
    Var(Var),
}

/// How values are escaped: by the shape of the format (AWS's console offers CLF, JSON, XML, CSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// JSON formats (`{...}`): `"`, `\` and control bytes escaped.
    Json,
    /// XML formats (`<...>`): `&`, `<`, `>`, `"` as entities.
    Xml,
    /// CLF and CSV: values as they are (control bytes replaced).
    Plain,
}

/// A format compiled once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub pieces: Vec<Piece>,
    pub escape: Escape,
}

impl Template {
    /// Compiles `format`: `$context.NAME` (NAME of `[A-Za-z0-9_.]`, a trailing `.` left as
    /// text) and `${context.NAME}` are variables; everything else is literal text.
    pub fn compile(format: &str) -> Template {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = format;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            let after = &rest[i..];
            let (name, used) = if let Some(r) = after.strip_prefix("$context.") {
                let n = r
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
                    .count();
                let name = r[..n].trim_end_matches('.');
                (name, "$context.".len() + name.len())
            } else if let Some(r) = after.strip_prefix("${context.") {
                match r.find('}') {
                    Some(n) => (&r[..n], "${context.".len() + n + 1),
                    None => ("", 0),
                }
            } else {
                ("", 0)
            };
            if name.is_empty() {
                lit.push('$');
                rest = &after[1..];
                continue;
            }
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
            }
            let var = VARS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(Var::Unknown, |(_, v)| *v);
            pieces.push(Piece::Var(var));
            rest = &after[used..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        let t = format.trim_start();
        let escape = if t.starts_with('{') {
            Escape::Json
        } else if t.starts_with('<') {
            Escape::Xml
        } else {
            Escape::Plain
        };
        Template { pieces, escape }
    }
}

/// Where a stage's lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// A CloudWatch Logs log group (`arn:aws:logs:{region}:{account}:log-group:{name}[:*]`).
    Logs,
    /// A Firehose delivery stream (`arn:aws:firehose:{region}:{account}:deliverystream/{name}`).
    Firehose,
}

/// A destination, shared by every stage naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub kind: SinkKind,
    pub region: Box<str>,
    /// The log group or delivery stream name.
    pub name: Box<str>,
}

impl Sink {
    /// Parses a `destinationArn`; `None` for anything else.
    pub fn parse(arn: &str) -> Option<Sink> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some(service), Some(region), Some(_account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let resource = parts.next()?;
        let (kind, name) = match service {
            "logs" => {
                let name = resource.strip_prefix("log-group:")?;
                (SinkKind::Logs, name.strip_suffix(":*").unwrap_or(name))
            }
            "firehose" => (
                SinkKind::Firehose,
                resource.strip_prefix("deliverystream/")?,
            ),
            _ => return None,
        };
        if name.is_empty() || region.is_empty() {
            return None;
        }
        Some(Sink {
            kind,
            region: region.into(),
            name: name.into(),
        })
    }
}

/// A stage's access log: what to write and where.
#[derive(Debug)]
pub struct AccessLog {
    pub template: Template,
    pub sink: Arc<Sink>,
}

/// Compiles `accessLogSettings`; `None` when either part is missing or the ARN names neither a
/// log group nor a delivery stream (the stage then logs nothing, see docs/differences.md).
pub fn compile(destination_arn: Option<&str>, format: Option<&str>) -> Option<Arc<AccessLog>> {
    let (arn, format) = (destination_arn?, format?);
    if format.trim().is_empty() {
        return None;
    }
    Some(Arc::new(AccessLog {
        template: Template::compile(format),
        sink: Arc::new(Sink::parse(arn)?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_the_four_shapes() {
        let clf = Template::compile(
            "$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod $context.routeKey $context.protocol\" $context.status $context.responseLength $context.requestId",
        );
        assert_eq!(clf.escape, Escape::Plain);
        assert_eq!(clf.pieces[0], Piece::Var(Var::SourceIp));
        assert_eq!(clf.pieces[1], Piece::Lit(" - - [".into()));
        assert_eq!(clf.pieces.last(), Some(&Piece::Var(Var::RequestId)));
        let json = Template::compile(
            r#"{ "requestId":"$context.requestId", "ip": "$context.identity.sourceIp" }"#,
        );
        assert_eq!(json.escape, Escape::Json);
        assert_eq!(
            json.pieces,
            vec![
                Piece::Lit(r#"{ "requestId":""#.into()),
                Piece::Var(Var::RequestId),
                Piece::Lit(r#"", "ip": ""#.into()),
                Piece::Var(Var::SourceIp),
                Piece::Lit(r#"" }"#.into()),
            ]
        );
        let xml = Template::compile(
            "<request id=\"$context.requestId\"> <status>$context.status</status> </request>",
        );
        assert_eq!(xml.escape, Escape::Xml);
        assert!(xml.pieces.contains(&Piece::Var(Var::Status)));
        let csv = Template::compile(
            "$context.requestId,$context.status.,${context.stage},$5,$context.nope",
        );
        assert_eq!(
            csv.pieces,
            vec![
                Piece::Var(Var::RequestId),
                Piece::Lit(",".into()),
                Piece::Var(Var::Status),
                Piece::Lit(".,".into()),
                Piece::Var(Var::Stage),
                Piece::Lit(",$5,".into()),
                Piece::Var(Var::Unknown),
            ]
        );
    }

    #[test]
    fn parses_destinations() {
        let s = Sink::parse("arn:aws:logs:us-east-1:123456789012:log-group:my-group:*").unwrap();
        assert_eq!((s.kind, &*s.name), (SinkKind::Logs, "my-group"));
        let s = Sink::parse("arn:aws:logs:eu-west-1:1:log-group:/aws/a:b").unwrap();
        assert_eq!(&*s.name, "/aws/a:b");
        let s =
            Sink::parse("arn:aws:firehose:us-east-1:1:deliverystream/amazon-apigateway-x").unwrap();
        assert_eq!(
            (s.kind, &*s.name),
            (SinkKind::Firehose, "amazon-apigateway-x")
        );
        assert!(Sink::parse("arn:aws:s3:::bucket").is_none());
        assert!(Sink::parse("not an arn").is_none());
        assert!(compile(Some("arn:aws:logs:r:1:log-group:g"), Some("  ")).is_none());
    }
}
