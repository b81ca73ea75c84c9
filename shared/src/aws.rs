//! AWS service integrations, compiled: where a service is and how to sign for it (endpoints found
//! the way the AWS SDKs find them: `AWS_ENDPOINT_URL_<SERVICE>` over `AWS_ENDPOINT_URL` over the
//! public endpoint; credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
//! `AWS_SESSION_TOKEN`; region from `AWS_REGION`/`AWS_DEFAULT_REGION`/`PORTICO_REGION`), REST
//! `AWS` integration URIs (`arn:aws:apigateway:{region}:{service}:action/{Action}` and
//! `...:path/{path}`), and HTTP API first-class integrations (`integrationSubtype`) with their
//! `requestParameters` checked as AWS documents them.
//!
//! Everything is resolved at compile time (environment, DNS); the request path only renders
//! values and signs. Reading the environment and resolving host names are the only I/O here, as
//! for HTTP integrations' host names.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::sigv4::Credentials;
use crate::vtl::Step;

/// Where an AWS service is and how requests to it are signed.
#[derive(Debug, Clone)]
pub struct AwsTarget {
    /// The SigV4 signing name (`sqs`, `states`, `events`, `kinesis`, `appconfig`, ...).
    pub service: Box<str>,
    pub region: Box<str>,
    /// `https://` endpoint: the data plane's TLS client connects with `host` as SNI.
    pub https: bool,
    /// The endpoint's host name (TLS server name), without port.
    pub host: Box<str>,
    /// Resolved when the snapshot was compiled.
    pub upstream: SocketAddr,
    /// The `Host` header (and the signed host): `host` or `host:port`.
    pub host_header: Box<str>,
    /// The endpoint URL's own path (usually empty), put before every request path.
    pub base_path: Box<str>,
    /// The environment's credentials, or the integration's `credentials` role
    /// ([`AwsTarget::sign_as`]), assumed through STS with them.
    pub signer: crate::lambda::Signer,
}

/// An HTTP API first-class integration (`AWS_PROXY` with `integrationSubtype`).
#[derive(Debug)]
pub struct AwsService {
    pub integration_id: Box<str>,
    pub action: Action,
    pub target: AwsTarget,
    /// The action's members and where their values come from, in AWS's member order.
    pub params: Vec<(&'static Member, Param)>,
    pub timeout_ms: u32,
}

/// A `requestParameters` value of a first-class integration.
#[derive(Debug)]
pub enum Param {
    /// `$request.header.x`, `$request.querystring.x`, `$context.x`, `$stageVariables.x`, static
    /// text, or several of them.
    Value(crate::mapping::Value),
    /// `$request.body`: the body as received.
    Body,
    /// `$request.body.PATH`: a string as is, anything else as JSON text.
    BodyPath(Vec<Step>),
}

/// How a member's value is put into the service's JSON request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    /// A JSON document (an object such as `MessageAttributes`).
    Json,
    /// A list: a JSON array as is, anything else as a one-element list.
    List,
    /// A blob: base64-encoded, as the SDKs send blobs.
    Blob,
    /// Picks the endpoint's region; never sent.
    Region,
}

/// One member of an action.
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

/// The first-class integration subtypes AWS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SqsSendMessage,
    SqsReceiveMessage,
    SqsDeleteMessage,
    SqsPurgeQueue,
    EventBridgePutEvents,
    KinesisPutRecord,
    StepFunctionsStartExecution,
    StepFunctionsStartSyncExecution,
    StepFunctionsStopExecution,
    AppConfigGetConfiguration,
}

const fn m(name: &'static str, kind: Kind, required: bool) -> Member {
    Member {
        name,
        kind,
        required,
    }
}

const REGION: Member = m("Region", Kind::Region, false);

static SQS_SEND: [Member; 8] = [
    m("QueueUrl", Kind::Str, true),
    m("MessageBody", Kind::Str, true),
    m("DelaySeconds", Kind::Int, false),
    m("MessageAttributes", Kind::Json, false),
    m("MessageDeduplicationId", Kind::Str, false),
    m("MessageGroupId", Kind::Str, false),
    m("MessageSystemAttributes", Kind::Json, false),
    REGION,
];
static SQS_RECEIVE: [Member; 8] = [
    m("QueueUrl", Kind::Str, true),
    m("AttributeNames", Kind::List, false),
    m("MaxNumberOfMessages", Kind::Int, false),
    m("MessageAttributeNames", Kind::List, false),
    m("ReceiveRequestAttemptId", Kind::Str, false),
    m("VisibilityTimeout", Kind::Int, false),
    m("WaitTimeSeconds", Kind::Int, false),
    REGION,
];
static SQS_DELETE: [Member; 3] = [
    m("QueueUrl", Kind::Str, true),
    m("ReceiptHandle", Kind::Str, true),
    REGION,
];
static SQS_PURGE: [Member; 2] = [m("QueueUrl", Kind::Str, true), REGION];
static EVENTS_PUT: [Member; 8] = [
    m("Detail", Kind::Str, true),
    m("DetailType", Kind::Str, true),
    m("Source", Kind::Str, true),
    m("Time", Kind::Str, false),
    m("EventBusName", Kind::Str, false),
    m("Resources", Kind::List, false),
    m("TraceHeader", Kind::Str, false),
    REGION,
];
static KINESIS_PUT: [Member; 6] = [
    m("StreamName", Kind::Str, true),
    m("Data", Kind::Blob, true),
    m("PartitionKey", Kind::Str, true),
    m("SequenceNumberForOrdering", Kind::Str, false),
    m("ExplicitHashKey", Kind::Str, false),
    REGION,
];
static SFN_START: [Member; 5] = [
    m("StateMachineArn", Kind::Str, true),
    m("Name", Kind::Str, false),
    m("Input", Kind::Str, false),
    m("TraceHeader", Kind::Str, false),
    REGION,
];
static SFN_STOP: [Member; 4] = [
    m("ExecutionArn", Kind::Str, true),
    m("Cause", Kind::Str, false),
    m("Error", Kind::Str, false),
    REGION,
];
static APPCONFIG_GET: [Member; 6] = [
    m("Application", Kind::Str, true),
    m("Environment", Kind::Str, true),
    m("Configuration", Kind::Str, true),
    m("ClientId", Kind::Str, true),
    m("ClientConfigurationVersion", Kind::Str, false),
    REGION,
];

const SUBTYPES: [(&str, Action); 10] = [
    ("SQS-SendMessage", Action::SqsSendMessage),
    ("SQS-ReceiveMessage", Action::SqsReceiveMessage),
    ("SQS-DeleteMessage", Action::SqsDeleteMessage),
    ("SQS-PurgeQueue", Action::SqsPurgeQueue),
    ("EventBridge-PutEvents", Action::EventBridgePutEvents),
    ("Kinesis-PutRecord", Action::KinesisPutRecord),
    (
        "StepFunctions-StartExecution",
        Action::StepFunctionsStartExecution,
    ),
    (
        "StepFunctions-StartSyncExecution",
        Action::StepFunctionsStartSyncExecution,
    ),
    (
        "StepFunctions-StopExecution",
        Action::StepFunctionsStopExecution,
    ),
    (
        "AppConfig-GetConfiguration",
        Action::AppConfigGetConfiguration,
    ),
];

// === impl Action ===

impl Action {
    pub fn parse(subtype: &str) -> Option<Action> {
        SUBTYPES
            .iter()
            .find(|(n, _)| *n == subtype)
            .map(|(_, a)| *a)
    }

    pub fn subtype(self) -> &'static str {
        SUBTYPES
            .iter()
            .find(|(_, a)| *a == self)
            .map(|(n, _)| *n)
            .expect("every action has a subtype")
    }

    pub fn members(self) -> &'static [Member] {
        match self {
            Action::SqsSendMessage => &SQS_SEND,
            Action::SqsReceiveMessage => &SQS_RECEIVE,
            Action::SqsDeleteMessage => &SQS_DELETE,
            Action::SqsPurgeQueue => &SQS_PURGE,
            Action::EventBridgePutEvents => &EVENTS_PUT,
            Action::KinesisPutRecord => &KINESIS_PUT,
            Action::StepFunctionsStartExecution | Action::StepFunctionsStartSyncExecution => {
                &SFN_START
            }
            Action::StepFunctionsStopExecution => &SFN_STOP,
            Action::AppConfigGetConfiguration => &APPCONFIG_GET,
        }
    }

    /// (signing name, endpoint prefix, `AWS_ENDPOINT_URL_*` service id).
    fn service(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Action::SqsSendMessage
            | Action::SqsReceiveMessage
            | Action::SqsDeleteMessage
            | Action::SqsPurgeQueue => ("sqs", "sqs", "SQS"),
            Action::EventBridgePutEvents => ("events", "events", "EVENTBRIDGE"),
            Action::KinesisPutRecord => ("kinesis", "kinesis", "KINESIS"),
            Action::StepFunctionsStartSyncExecution => ("states", "sync-states", "SFN"),
            Action::StepFunctionsStartExecution | Action::StepFunctionsStopExecution => {
                ("states", "states", "SFN")
            }
            Action::AppConfigGetConfiguration => ("appconfig", "appconfig", "APPCONFIG"),
        }
    }

    /// Step Functions' JSON members are lowerCamelCase (`stateMachineArn`); the others' are
    /// the parameter names.
    pub fn camel_case_members(self) -> bool {
        matches!(
            self,
            Action::StepFunctionsStartExecution
                | Action::StepFunctionsStartSyncExecution
                | Action::StepFunctionsStopExecution
        )
    }

    /// `X-Amz-Target` and the JSON content type; `None` for AppConfig's REST `GET`.
    pub fn json_target(self) -> Option<(&'static str, &'static str)> {
        const SQS: &str = "application/x-amz-json-1.0";
        const V11: &str = "application/x-amz-json-1.1";
        Some(match self {
            Action::SqsSendMessage => ("AmazonSQS.SendMessage", SQS),
            Action::SqsReceiveMessage => ("AmazonSQS.ReceiveMessage", SQS),
            Action::SqsDeleteMessage => ("AmazonSQS.DeleteMessage", SQS),
            Action::SqsPurgeQueue => ("AmazonSQS.PurgeQueue", SQS),
            Action::EventBridgePutEvents => ("AWSEvents.PutEvents", V11),
            Action::KinesisPutRecord => ("Kinesis_20131202.PutRecord", V11),
            Action::StepFunctionsStartExecution => ("AWSStepFunctions.StartExecution", SQS),
            Action::StepFunctionsStartSyncExecution => ("AWSStepFunctions.StartSyncExecution", SQS),
            Action::StepFunctionsStopExecution => ("AWSStepFunctions.StopExecution", SQS),
            Action::AppConfigGetConfiguration => return None,
        })
    }
}

/// Checks an HTTP API integration's subtype and `requestParameters` as `CreateIntegration`
/// does; every problem in AWS's words.
pub fn check_subtype(
    subtype: &str,
    params: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let Some(action) = Action::parse(subtype) else {
        let names: Vec<&str> = SUBTYPES.iter().map(|(n, _)| *n).collect();
        return vec![format!(
            "Invalid integration subtype '{subtype}': use one of {}",
            names.join(", ")
        )];
    };
    let members = action.members();
    let mut problems = Vec::new();
    for name in params.keys() {
        if !members.iter().any(|m| m.name == name) {
            let names: Vec<&str> = members.iter().map(|m| m.name).collect();
            problems.push(format!(
                "Parameter {name} is not supported for integration subtype {subtype}; supported parameters: {}",
                names.join(", ")
            ));
        }
    }
    for m in members.iter().filter(|m| m.required) {
        if !params.contains_key(m.name) {
            problems.push(format!(
                "Parameter {} is required for integration subtype {subtype}",
                m.name
            ));
        }
    }
    for (name, value) in params {
        if let Err(e) = Param::parse(value) {
            problems.push(format!("Parameter {name}: {e}"));
        }
    }
    problems
}

/// Compiles a first-class integration; every problem is reported.
pub fn compile_service(
    integration_id: &str,
    subtype: &str,
    params: &std::collections::BTreeMap<String, String>,
    timeout_ms: u32,
) -> Result<AwsService, Vec<String>> {
    let problems = check_subtype(subtype, params);
    if !problems.is_empty() {
        return Err(problems);
    }
    let action = Action::parse(subtype).expect("checked");
    let mut region = default_region();
    let mut compiled = Vec::new();
    for member in action.members() {
        let Some(text) = params.get(member.name) else {
            continue;
        };
        let p = Param::parse(text).map_err(|e| vec![e])?;
        if member.kind == Kind::Region {
            match &p {
                Param::Value(v) => match v.as_static() {
                    Some(r) if valid_region(&r) => region = r,
                    _ => {
                        return Err(vec![format!(
                            "Parameter Region must be a static region name, not '{text}'"
                        )])
                    }
                },
                _ => return Err(vec!["Parameter Region must be a static region name".into()]),
            }
            continue;
        }
        compiled.push((member, p));
    }
    let (signing, prefix, id) = action.service();
    let target = target(signing, prefix, id, &region).map_err(|e| vec![e])?;
    Ok(AwsService {
        integration_id: integration_id.into(),
        action,
        target,
        params: compiled,
        timeout_ms,
    })
}

// === impl Param ===

impl Param {
    pub fn parse(text: &str) -> Result<Param, String> {
        let t = text.trim();
        let inner = t
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .or_else(|| t.strip_prefix('$'));
        if let Some(expr) = inner {
            if expr == "request.body" {
                return Ok(Param::Body);
            }
            if let Some(path) = expr.strip_prefix("request.body") {
                return crate::vtl::parse_jsonpath(&format!("${path}"))
                    .map(Param::BodyPath)
                    .map_err(|e| format!("'{text}': {e}"));
            }
        }
        if text.contains("$request.body") || text.contains("${request.body") {
            return Err(format!(
                "'{text}': $request.body can only be used as the whole value"
            ));
        }
        crate::mapping::Value::parse(text, false).map(Param::Value)
    }
}

/// The region of generated ARNs and of services without one: `AWS_REGION`, else
/// `AWS_DEFAULT_REGION`, else `PORTICO_REGION`, else `us-east-1`.
pub fn default_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION", "PORTICO_REGION"]
        .iter()
        .find_map(|n| crate::system::env_var(n).filter(|v| valid_region(v)))
        .unwrap_or_else(|| "us-east-1".into())
}

/// `PORTICO_ACCOUNT_ID`, else `000000000000`.
pub fn account_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        crate::system::env_var("PORTICO_ACCOUNT_ID")
            .filter(|v| v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| "000000000000".into())
    })
}

fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The `AWS_ENDPOINT_URL_*` service id for an endpoint prefix (the SDKs' service ids,
/// upper-cased with spaces as `_`).
fn service_id(prefix: &str) -> String {
    match prefix {
        "states" | "sync-states" => "SFN".into(),
        "events" => "EVENTBRIDGE".into(),
        "logs" => "CLOUDWATCH_LOGS".into(),
        "monitoring" => "CLOUDWATCH".into(),
        "execute-api" => "API_GATEWAY".into(),
        p => p.to_ascii_uppercase().replace(['-', '.'], "_"),
    }
}

/// Finds and resolves a service's endpoint and the credentials to sign with.
pub fn target(signing: &str, prefix: &str, id: &str, region: &str) -> Result<AwsTarget, String> {
    let read = crate::system::env_var_set;
    let var = format!("AWS_ENDPOINT_URL_{id}");
    let (url, from) = match read(&var) {
        Some(u) => (u, var),
        None => match read("AWS_ENDPOINT_URL") {
            Some(u) => (u, "AWS_ENDPOINT_URL".into()),
            None => (
                format!("https://{prefix}.{region}.amazonaws.com"),
                "the public endpoint".into(),
            ),
        },
    };
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => {
            return Err(format!(
                "the {signing} endpoint '{url}' ({from}) is not an http:// or https:// URL (set {var_hint})",
                var_hint = format_args!("AWS_ENDPOINT_URL_{id}")
            ))
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => {
                return Err(format!(
                    "the {signing} endpoint '{url}' has an invalid port"
                ))
            }
        },
        _ => (authority, if https { 443 } else { 80 }),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.is_empty() {
        return Err(format!("the {signing} endpoint '{url}' has no host"));
    }
    let upstream = crate::system::lookup(bare, port)
        .ok()
        .and_then(crate::system::prefer_ipv4)
        .ok_or_else(|| format!("the {signing} endpoint host '{bare}' did not resolve"))?;
    let credentials = Credentials::from_env().ok_or_else(|| {
        "AWS integrations sign with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which are not set"
            .to_string()
    })?;
    Ok(AwsTarget {
        service: signing.into(),
        region: region.into(),
        https,
        host: bare.into(),
        upstream,
        host_header: authority.into(),
        base_path: path.into(),
        signer: crate::lambda::Signer::Fixed(Some(Arc::new(credentials))),
    })
}

// === impl AwsTarget ===

impl AwsTarget {
    /// Signs with the temporary credentials of `role_arn` (the integration's `credentials`,
    /// REST, or `credentialsArn`, HTTP APIs) instead of the environment's: its slot in
    /// `roles` is kept filled by the admin side's STS task.
    pub fn sign_as(
        &mut self,
        roles: &crate::lambda::RoleRegistry,
        role_arn: &str,
    ) -> Result<(), String> {
        self.signer = crate::lambda::Signer::Role(roles.slot(role_arn)?);
        Ok(())
    }
}

/// A REST `AWS` integration's URI, understood.
#[derive(Debug)]
pub struct RestAwsUri {
    pub target: AwsTarget,
    /// The request path (`/` for actions) and query (`Action=...&Version=...` for query-protocol
    /// actions), as an `http://` URL on the resolved endpoint.
    pub path_and_query: String,
    /// `X-Amz-Target` and content type of JSON-protocol actions.
    pub json_target: Option<(String, &'static str)>,
}

/// Parses `arn:aws:apigateway:{region}:{subdomain.}{service}:action/{Action}` or
/// `...:path/{path}` and finds the service.
pub fn rest_uri(uri: &str) -> Result<RestAwsUri, String> {
    let bad = || {
        format!("Invalid AWS integration uri '{uri}': use arn:aws:apigateway:{{region}}:{{service}}:action/{{Action}} or arn:aws:apigateway:{{region}}:{{service}}:path/{{path}}")
    };
    let rest = uri
        .strip_prefix("arn:aws:apigateway:")
        .or_else(|| uri.strip_prefix("arn:aws-cn:apigateway:"))
        .or_else(|| uri.strip_prefix("arn:aws-us-gov:apigateway:"))
        .ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ':');
    let (Some(region), Some(service), Some(what)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !valid_region(region) || service.is_empty() {
        return Err(bad());
    }
    // `{subdomain}.{service}`: the subdomain goes before the host (S3 buckets and the like).
    let (subdomain, service) = match service.rsplit_once('.') {
        Some((s, svc)) => (Some(s), svc),
        None => (None, service),
    };
    let signing = match service {
        "sync-states" => "states",
        s => s,
    };
    let prefix = match subdomain {
        Some(s) => format!("{s}.{service}"),
        None => service.to_string(),
    };
    let target = target(signing, &prefix, &service_id(service), region)?;
    if let Some(action) = what.strip_prefix("action/") {
        if action.is_empty() || !action.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        return Ok(match json_protocol(service) {
            Some((prefix, content_type)) => RestAwsUri {
                target,
                path_and_query: "/".into(),
                json_target: Some((format!("{prefix}.{action}"), content_type)),
            },
            None => {
                let mut q = format!("/?Action={action}");
                if let Some(v) = query_version(service) {
                    q.push_str("&Version=");
                    q.push_str(v);
                }
                RestAwsUri {
                    target,
                    path_and_query: q,
                    json_target: None,
                }
            }
        });
    }
    if let Some(path) = what.strip_prefix("path/") {
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad());
        }
        return Ok(RestAwsUri {
            target,
            path_and_query: format!("/{path}"),
            json_target: None,
        });
    }
    Err(bad())
}

/// JSON-protocol services: their `X-Amz-Target` prefix and content type.
fn json_protocol(service: &str) -> Option<(&'static str, &'static str)> {
    Some(match service {
        "kinesis" => ("Kinesis_20131202", "application/x-amz-json-1.1"),
        "dynamodb" => ("DynamoDB_20120810", "application/x-amz-json-1.0"),
        "states" | "sync-states" => ("AWSStepFunctions", "application/x-amz-json-1.0"),
        "events" => ("AWSEvents", "application/x-amz-json-1.1"),
        "logs" => ("Logs_20140328", "application/x-amz-json-1.1"),
        "firehose" => ("Firehose_20150804", "application/x-amz-json-1.1"),
        "secretsmanager" => ("secretsmanager", "application/x-amz-json-1.1"),
        "ssm" => ("AmazonSSM", "application/x-amz-json-1.1"),
        _ => return None,
    })
}

/// Query-protocol services' API versions.
fn query_version(service: &str) -> Option<&'static str> {
    Some(match service {
        "sqs" => "2012-11-05",
        "sns" => "2010-03-31",
        "sts" => "2011-06-15",
        "iam" => "2010-05-08",
        "ec2" => "2016-11-15",
        "monitoring" => "2010-08-01",
        "ses" | "email" => "2010-12-01",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtypes_checked() {
        let params = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(check_subtype(
            "SQS-SendMessage",
            &params(&[("QueueUrl", "http://q"), ("MessageBody", "$request.body.m")])
        )
        .is_empty());
        assert_eq!(
            check_subtype("SQS-SendMessage", &params(&[("QueueUrl", "x")])),
            vec!["Parameter MessageBody is required for integration subtype SQS-SendMessage"]
        );
        let p = check_subtype(
            "Kinesis-PutRecord",
            &params(&[
                ("StreamName", "s"),
                ("Data", "$request.body"),
                ("PartitionKey", "k"),
                ("Nope", "x"),
            ]),
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("Parameter Nope is not supported"), "{p:?}");
        assert!(
            check_subtype("SQS-Nope", &params(&[]))[0].starts_with("Invalid integration subtype")
        );
        assert!(!check_subtype(
            "SQS-PurgeQueue",
            &params(&[("QueueUrl", "a $request.body.x")])
        )
        .is_empty());
        for a in SUBTYPES.map(|(_, a)| a) {
            assert_eq!(Action::parse(a.subtype()), Some(a));
        }
    }

    #[test]
    fn params_parsed() {
        assert!(matches!(
            Param::parse("$request.body").unwrap(),
            Param::Body
        ));
        assert!(matches!(
            Param::parse("${request.body.a.b}").unwrap(),
            Param::BodyPath(p) if p.len() == 2
        ));
        assert!(matches!(Param::parse("static").unwrap(), Param::Value(_)));
        assert!(Param::parse("$request.body.[").is_err());
    }
}
