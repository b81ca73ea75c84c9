//! Execution logs: one structured line per pipeline step of a request whose REST method has
//! `loggingLevel` `INFO` (every step) or `ERROR` (failed steps only), with `dataTraceEnabled`
//! adding headers and bodies (truncated at [`TRACE_DATA_MAX_BYTES`], as AWS truncates them).
//!
//! The steps are read off the finished request (`pipeline::handle` calls [`record`] once the
//! answer is written): how far the request got and why it stopped are on its `Outcome`, so no
//! stage carries logging code and a method with logging off pays one branch, no allocation.
//!
//! WebSocket APIs' events are logged the same way from their route's settings ([`ws_record`]).
//!
//! Shipping is off the request path: each line goes into the worker's bounded queue of
//! `log_writer` (the access logs' queue and writer) with `try_send`, never waiting; a full queue
//! drops it and counts it ([`dropped`]). The writer appends the lines to the file of their group,
//! `{data-dir}/logs/API-Gateway-Execution-Logs_{apiId}/{stage}.log` (AWS's log group name,
//! newline-delimited JSON, rotated by size as access log files are), and, when a CloudWatch Logs
//! endpoint is set, sends them there with `PutLogEvents` (group and stream created on first use).
//!
//! `TestInvokeMethod` compiles its stage with [`TraceLevel::Capture`]: the same steps, rendered
//! as AWS's `log` text and handed back to the admin side in the response header
//! [`TEST_INVOKE_LOG_HEADER`] instead of the sinks.
//!
//! Independently of any setting, every 5xx the gateway itself produces writes one line to
//! Portico's own log saying why ([`gateway_5xx`]), at most [`GATEWAY_5XX_LOG_MAX_PER_S`] per second
//! per worker.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use portico_shared::access_log::{EXEC_LINES_DROPPED, EXEC_LINES_SHIPPED};
use portico_shared::limits::{GATEWAY_5XX_LOG_MAX_PER_S, TRACE_DATA_MAX_BYTES};
use portico_shared::snapshot::{Integration, PathPart, TraceLevel};

use crate::error::{AuthorizerError, GatewayError};

/// The response header a test invocation's log comes back in (base64), only on the
/// admin side's requests (they name a secret API key in the snapshot).
pub const TEST_INVOKE_LOG_HEADER: &str = "x-portico-test-invoke-log";

/// One request's execution log, on its way to the writer.
#[derive(Debug)]
pub struct Record {
    /// `API-Gateway-Execution-Logs_{apiId}/{stage}`.
    pub group: String,
    /// Epoch milliseconds.
    pub time_ms: u64,
    /// One JSON object per line, no trailing newline.
    pub lines: Vec<String>,
}

/// Execution log lines dropped because this worker's queue was full, or a sink refused them.
pub fn dropped() -> u64 {
    EXEC_LINES_DROPPED.load(Ordering::Relaxed)
}

/// Execution log lines the writer has shipped.
pub fn written() -> u64 {
    EXEC_LINES_SHIPPED.load(Ordering::Relaxed)
}

/// Hands a record's lines to this worker's queue (`log_writer`, shared with the access logs).
fn ship(record: Record) {
    for line in &record.lines {
        crate::log_writer::append(crate::log_writer::To::Execution(&record.group), |out| {
            out.extend_from_slice(line.as_bytes());
            record.time_ms
        });
    }
}

/// What [`record`] reads off a finished request.
#[derive(Debug)]
pub struct Finished<'a> {
    pub level: TraceLevel,
    pub data: bool,
    pub request_id: &'a str,
    pub api_id: &'a str,
    pub stage: &'a str,
    pub method: &'a str,
    pub resource_path: &'a str,
    /// `name=value` pairs of the matched path parameters.
    pub path_params: &'a [(&'a str, &'a str)],
    pub query: &'a [u8],
    pub headers: &'a [(&'a [u8], &'a [u8])],
    pub request_body: &'a [u8],
    pub route: &'a portico_shared::snapshot::Route,
    pub principal: Option<&'a str>,
    pub error: Option<GatewayError>,
    /// The status the client got.
    pub status: u16,
    pub integration_us: Option<u64>,
    /// The response as written so far: the head, and the body when small.
    pub response: &'a [u8],
}

/// A request's steps, in order: `(step, failed, message)`.
type Steps = Vec<(&'static str, bool, String)>;

/// Which step an error stopped the request at.
fn failed_step(e: &GatewayError) -> &'static str {
    use GatewayError as E;
    match e {
        E::Unauthorized(_) | E::Iam(_) | E::Authorizer(_) => "authorizer",
        E::InvalidApiKey | E::Throttled | E::QuotaExceeded | E::CacheControlDenied => "throttle",
        E::MissingParameters { .. } | E::InvalidBody | E::BodyTooLarge | E::BadRequest(_) => {
            "validation"
        }
        E::NotFound | E::MissingAuthenticationToken | E::EndpointDisabled => "resolve",
        E::MutualTlsRequired | E::HeadersTooLarge | E::UriTooLong | E::ExpectationFailed => {
            "resolve"
        }
        E::NoIntegration | E::ApiConfiguration | E::UnsupportedMediaType => "integration",
        E::UpstreamConnect(_)
        | E::UpstreamProtocol(_)
        | E::UpstreamTimeout { .. }
        | E::NoHealthyTarget
        | E::LambdaInvoke(_)
        | E::LambdaFunction
        | E::LambdaMalformed
        | E::UpstreamUnresolved => "integration",
    }
}

const ORDER: [&str; 5] = [
    "resolve",
    "authorizer",
    "throttle",
    "validation",
    "integration",
];

fn reached(stop: Option<&'static str>, step: &str) -> bool {
    let Some(stop) = stop else {
        return true;
    };
    let pos = |s: &str| ORDER.iter().position(|o| *o == s).unwrap_or(0);
    pos(step) <= pos(stop)
}

/// AWS's words for a failed step (`r`: the REST route, whose validator names parameters).
fn reason(e: &GatewayError, r: Option<&portico_shared::snapshot::Route>) -> String {
    use GatewayError as E;
    match e {
        E::Authorizer(AuthorizerError::Unauthorized) => {
            "Unauthorized request: the authorizer refused the identity".into()
        }
        E::Authorizer(AuthorizerError::Denied { .. }) => {
            "The client is not authorized to perform this operation (the authorizer's policy denies it)".into()
        }
        E::Authorizer(AuthorizerError::Failed) => {
            "Execution failed due to configuration error: Authorizer error (the function failed, timed out or answered something malformed)".into()
        }
        E::Authorizer(AuthorizerError::Configuration) => {
            "Execution failed due to configuration error: the authorizer function could not be invoked".into()
        }
        E::Unauthorized(f) => format!("Unauthorized request: {f:?}"),
        E::Iam(d) => format!("IAM authorization failed: {d:?}"),
        E::Throttled => "Request throttled: rate or burst limit exceeded".into(),
        E::QuotaExceeded => "Request refused: usage plan quota exceeded".into(),
        E::InvalidApiKey => "API Key not authorized: missing, unknown, disabled or not in a usage plan for this stage".into(),
        E::MissingParameters { missing } => {
            let names: Vec<&str> = r
                .and_then(|r| r.rest.as_ref())
                .and_then(|m| m.validation.as_deref())
                .map(|v| {
                    v.required
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| missing & (1 << i) != 0)
                        .map(|(_, p)| &*p.name)
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "Request validation failed: Missing required request parameters: [{}]",
                names.join(", ")
            )
        }
        E::InvalidBody => "Request validation failed: Invalid request body".into(),
        E::UpstreamTimeout { timeout_ms } => {
            format!("Execution failed due to a timeout error: no response within {timeout_ms} ms")
        }
        E::UpstreamConnect(why) => {
            format!("Execution failed due to configuration error: could not connect to the endpoint ({why})")
        }
        E::UpstreamProtocol(why) => {
            format!("Execution failed due to an invalid endpoint response ({why})")
        }
        E::LambdaFunction => "Lambda execution failed due to a customer function error".into(),
        E::LambdaMalformed => {
            "Execution failed due to configuration error: Malformed Lambda proxy response".into()
        }
        E::LambdaInvoke(why) => {
            format!("Execution failed due to configuration error: Lambda invocation failed ({why})")
        }
        other => format!("Execution failed: {other}"),
    }
}

fn clip(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(TRACE_DATA_MAX_BYTES)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > TRACE_DATA_MAX_BYTES {
        s.push_str(" [TRUNCATED]");
    }
    s
}

fn endpoint(i: &Integration, params: &[(&str, &str)]) -> String {
    let target = |p: &portico_shared::snapshot::HttpProxy| {
        let scheme = if p.tls.is_some() { "https" } else { "http" };
        let mut path = String::new();
        for part in &p.path {
            match part {
                PathPart::Literal(l) => path.push_str(l),
                PathPart::Param(name) => {
                    let name = name.trim_end_matches('+');
                    match params.iter().find(|(k, _)| *k == name) {
                        Some((_, v)) => path.push_str(v),
                        None => {
                            let _ = write!(path, "{{{name}}}");
                        }
                    }
                }
            }
        }
        format!("{scheme}://{}{path}", p.host_header)
    };
    match i {
        Integration::HttpProxy(p) => target(p),
        Integration::Http(h) => target(&h.target),
        Integration::Mock(_) => "MOCK".into(),
        Integration::Lambda(l) => format!("lambda function {}", l.target.function),
        Integration::AwsService(_) => "AWS service".into(),
    }
}

/// The steps of a finished request, as far as `level` shows them.
fn steps(f: &Finished<'_>) -> Steps {
    let info = f.level >= TraceLevel::Info;
    let stop = f.error.as_ref().map(failed_step);
    let mut s: Steps = Vec::new();
    let ok = |s: &mut Steps, step: &'static str, msg: String| {
        if info {
            s.push((step, false, msg));
        }
    };
    let id = f.request_id;
    ok(
        &mut s,
        "resolve",
        format!("Starting execution for request: {id}"),
    );
    ok(
        &mut s,
        "resolve",
        format!(
            "HTTP Method: {}, Resource Path: {}",
            f.method, f.resource_path
        ),
    );
    let params: Vec<String> = f
        .path_params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    ok(
        &mut s,
        "resolve",
        format!("Method request path: {{{}}}", params.join(", ")),
    );
    let query: Vec<String> = f
        .query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    ok(
        &mut s,
        "resolve",
        format!("Method request query string: {{{}}}", query.join(", ")),
    );
    if f.data {
        let mut h = String::new();
        // Portico's own addressing header is not the client's (and names a test invocation's
        // secret snapshot key).
        for (n, v) in f
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(b"x-apigw-api-id"))
        {
            if !h.is_empty() {
                h.push_str(", ");
            }
            let _ = write!(
                h,
                "{}={}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            );
        }
        ok(
            &mut s,
            "resolve",
            format!("Method request headers: {{{}}}", clip(h.as_bytes())),
        );
        ok(
            &mut s,
            "resolve",
            format!(
                "Method request body before transformations: {}",
                clip(f.request_body)
            ),
        );
    }
    let failed = |step: &str| stop == Some(step);
    let has_auth = f.route.lambda_auth.is_some() || f.route.auth.is_some() || f.route.aws_iam;
    if has_auth && reached(stop, "authorizer") {
        if failed("authorizer") {
            let e = f
                .error
                .as_ref()
                .map_or(String::new(), |e| reason(e, Some(f.route)));
            s.push(("authorizer", true, e));
        } else {
            let who = f
                .principal
                .map_or(String::new(), |p| format!(", principalId: {p}"));
            ok(
                &mut s,
                "authorizer",
                format!("Authorization succeeded{who}"),
            );
        }
    }
    if reached(stop, "throttle") {
        if failed("throttle") {
            let e = f
                .error
                .as_ref()
                .map_or(String::new(), |e| reason(e, Some(f.route)));
            s.push(("throttle", true, e));
        } else {
            ok(
                &mut s,
                "throttle",
                "API key, throttle and quota checks passed".into(),
            );
        }
    }
    let validated = f
        .route
        .rest
        .as_ref()
        .is_some_and(|m| m.validation.is_some());
    if reached(stop, "validation") {
        if failed("validation") {
            let e = f
                .error
                .as_ref()
                .map_or(String::new(), |e| reason(e, Some(f.route)));
            s.push(("validation", true, e));
        } else if validated {
            ok(&mut s, "validation", "Request validation succeeded".into());
        }
    }
    if reached(stop, "integration") {
        if let Some(i) = f.route.integration.as_deref() {
            let uri = endpoint(i, f.path_params);
            ok(
                &mut s,
                "integration",
                format!("Endpoint request URI: {uri}"),
            );
            if matches!(i, Integration::Mock(_) | Integration::Http(_)) {
                ok(&mut s, "mapping", "Request mapping template applied".into());
            }
            ok(&mut s, "integration", format!("Sending request to {uri}"));
        }
        if failed("integration") {
            let e = f
                .error
                .as_ref()
                .map_or(String::new(), |e| reason(e, Some(f.route)));
            s.push(("integration", true, e));
        } else {
            let latency = f.integration_us.map_or(0, |us| us / 1000);
            ok(
                &mut s,
                "integration",
                format!(
                    "Received response. Status: {}, Integration latency: {latency} ms",
                    f.status
                ),
            );
        }
    }
    if f.data {
        let (head, body) = split_response(f.response);
        ok(
            &mut s,
            "response",
            format!("Method response body after transformations: {}", clip(body)),
        );
        let mut h = String::new();
        for line in head.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            if !h.is_empty() {
                h.push_str(", ");
            }
            let value = line[colon + 1..].trim_ascii();
            let _ = write!(
                h,
                "{}={}",
                String::from_utf8_lossy(&line[..colon]),
                String::from_utf8_lossy(value)
            );
        }
        ok(
            &mut s,
            "response",
            format!("Method response headers: {{{}}}", clip(h.as_bytes())),
        );
    }
    if f.error.is_none() {
        ok(
            &mut s,
            "response",
            "Successfully completed execution".into(),
        );
    }
    ok(
        &mut s,
        "response",
        format!("Method completed with status: {}", f.status),
    );
    s
}

/// The response's header lines (`Name: value, ...`) and body.
fn split_response(out: &[u8]) -> (&[u8], &[u8]) {
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (out, &[]);
    };
    let head = &out[..end];
    let head = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(&[][..], |i| &head[i + 1..]);
    (head, &out[end + 4..])
}

/// Ships a finished request's execution log (or, for a test invocation, gives it back).
pub fn record(f: &Finished<'_>) -> Option<String> {
    let steps = steps(f);
    if steps.is_empty() {
        return None;
    }
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if f.level == TraceLevel::Capture {
        let stamp = aws_log_time(time_ms / 1000);
        let mut log = format!("Execution log for request {}\n", f.request_id);
        for (_, _, msg) in &steps {
            let _ = writeln!(log, "{stamp} : {msg}");
        }
        return Some(log);
    }
    let lines = steps
        .into_iter()
        .map(|(step, failed, message)| {
            serde_json::json!({
                "requestId": f.request_id,
                "level": if failed { "ERROR" } else { "INFO" },
                "step": step,
                "status": if failed { "failed" } else { "ok" },
                "message": format!("({}) {message}", f.request_id),
            })
            .to_string()
        })
        .collect();
    ship(Record {
        group: format!("API-Gateway-Execution-Logs_{}/{}", f.api_id, f.stage),
        time_ms,
        lines,
    });
    None
}

/// AWS's test invocation time stamp: `Mon Dec 07 11:53:43 UTC 2026`.
fn aws_log_time(unix_s: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_s / 86_400;
    let secs = unix_s % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

// === WebSocket APIs ===

/// How a WebSocket event ended, for its execution log.
#[derive(Debug)]
pub enum WsOutcome<'a> {
    /// `$connect`'s authorizer (`AWS_IAM` or a Lambda `REQUEST` authorizer) refused the upgrade.
    Refused { status: u16, message: &'a str },
    /// No route took the message: the selection expression's value (if any) matched no route
    /// and the stage has no `$default`.
    NoRoute { selected: Option<&'a str> },
    /// The selected route has no integration.
    NoIntegration,
    /// The integration answered; `sent`: the answer went back to the client (route response).
    Answered {
        status: u16,
        body: &'a [u8],
        latency_ms: u64,
        sent: bool,
    },
    /// The integration failed.
    Failed {
        error: GatewayError,
        latency_ms: u64,
    },
}

/// What [`ws_record`] reads off a finished WebSocket event.
#[derive(Debug)]
pub struct WsFinished<'a> {
    pub trace: portico_shared::snapshot::Trace,
    pub request_id: &'a [u8],
    pub api_id: &'a str,
    pub stage: &'a str,
    pub connection_id: &'a str,
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    pub event_type: &'static str,
    pub route_key: Option<&'a str>,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// The message (MESSAGE events).
    pub body: &'a [u8],
    pub integration: Option<&'a portico_shared::websocket::WsIntegration>,
    pub outcome: WsOutcome<'a>,
}

fn ws_endpoint(i: &portico_shared::websocket::WsIntegration) -> String {
    use portico_shared::websocket::WsTarget;
    let http = |p: &portico_shared::snapshot::HttpProxy| {
        let scheme = if p.tls.is_some() { "https" } else { "http" };
        let mut path = String::new();
        for part in &p.path {
            match part {
                PathPart::Literal(l) => path.push_str(l),
                PathPart::Param(name) => {
                    let _ = write!(path, "{{{name}}}");
                }
            }
        }
        format!("{scheme}://{}{path}", p.host_header)
    };
    match &i.target {
        WsTarget::Mock => "MOCK".into(),
        WsTarget::Http(p) | WsTarget::HttpProxy(p) => http(p),
        WsTarget::Lambda(l) => format!("lambda function {}", l.function),
    }
}

/// A WebSocket event's steps, as far as its route's `loggingLevel` shows them.
fn ws_steps(f: &WsFinished<'_>) -> Steps {
    let info = f.trace.level >= TraceLevel::Info;
    let mut s: Steps = Vec::new();
    let ok = |s: &mut Steps, step: &'static str, msg: String| {
        if info {
            s.push((step, false, msg));
        }
    };
    let id = String::from_utf8_lossy(f.request_id);
    ok(&mut s, "resolve", format!("Extended Request Id: {id}"));
    if f.event_type == "CONNECT" {
        ok(
            &mut s,
            "resolve",
            format!(
                "Client [UserAgent: {}, SourceIp: {}] is connecting to WebSocket API [{}].",
                f.user_agent, f.source_ip, f.api_id
            ),
        );
    }
    ok(
        &mut s,
        "resolve",
        format!("Starting execution for request: {id}"),
    );
    if let Some(key) = f.route_key {
        ok(&mut s, "route", format!("WebSocket Request Route: [{key}]"));
    }
    if f.trace.data && f.event_type == "MESSAGE" {
        ok(&mut s, "route", format!("Message body: {}", clip(f.body)));
    }
    let endpoint = f.integration.map(ws_endpoint);
    let sending = |s: &mut Steps| {
        if let Some(uri) = &endpoint {
            ok(s, "integration", format!("Sending request to {uri}"));
        }
    };
    match &f.outcome {
        WsOutcome::Refused { status, message } => s.push((
            "authorizer",
            true,
            format!("Unauthorized request: the $connect authorizer refused the connection ({status} {message})"),
        )),
        WsOutcome::NoRoute { selected } => s.push((
            "route",
            true,
            match selected {
                Some(key) => format!(
                    "Execution failed: no route matches the route selection value [{key}] and the stage has no $default route"
                ),
                None => "Execution failed: the route selection expression selected no route and the stage has no $default route".into(),
            },
        )),
        WsOutcome::NoIntegration => s.push((
            "integration",
            true,
            "Execution failed due to configuration error: the route has no integration".into(),
        )),
        WsOutcome::Answered {
            status,
            body,
            latency_ms,
            sent,
        } => {
            sending(&mut s);
            ok(
                &mut s,
                "integration",
                format!("Received response. Status: {status}, Integration latency: {latency_ms} ms"),
            );
            if f.trace.data {
                ok(
                    &mut s,
                    "integration",
                    format!("Endpoint response body before transformations: {}", clip(body)),
                );
            }
            if f.event_type == "CONNECT" && !(200..300).contains(status) {
                s.push((
                    "integration",
                    true,
                    format!("Execution failed: the $connect integration refused the connection with status {status}"),
                ));
            } else {
                if *sent {
                    ok(
                        &mut s,
                        "response",
                        format!("Sent the integration response to connection {}", f.connection_id),
                    );
                }
                ok(&mut s, "response", "Successfully completed execution".into());
            }
        }
        WsOutcome::Failed { error, latency_ms } => {
            sending(&mut s);
            s.push((
                "integration",
                true,
                format!("{} (after {latency_ms} ms)", reason(error, None)),
            ));
        }
    }
    s
}

/// Ships a WebSocket event's execution log to its stage's group
/// (`API-Gateway-Execution-Logs_{apiId}/{stage}`, as REST's).
pub fn ws_record(f: &WsFinished<'_>) {
    let steps = ws_steps(f);
    if steps.is_empty() {
        return;
    }
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let id = String::from_utf8_lossy(f.request_id);
    let lines = steps
        .into_iter()
        .map(|(step, failed, message)| {
            serde_json::json!({
                "requestId": id,
                "level": if failed { "ERROR" } else { "INFO" },
                "step": step,
                "status": if failed { "failed" } else { "ok" },
                "connectionId": f.connection_id,
                "eventType": f.event_type,
                "routeKey": f.route_key,
                "message": format!("({id}) {message}"),
            })
            .to_string()
        })
        .collect();
    ship(Record {
        group: format!("API-Gateway-Execution-Logs_{}/{}", f.api_id, f.stage),
        time_ms,
        lines,
    });
}

thread_local! {
    /// This worker's 5xx log budget: (second, lines written in it).
    static BUDGET: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
}

/// Writes one line to Portico's log for a 5xx the gateway produced (not an upstream's), at
/// most [`GATEWAY_5XX_LOG_MAX_PER_S`] per second per worker; the rest are counted as suppressed.
pub fn gateway_5xx(worker: usize, status: u16, e: &GatewayError, route: Option<&str>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let allowed = BUDGET.with(|b| {
        let (sec, n) = b.get();
        let (sec, n) = if sec == now { (sec, n) } else { (now, 0) };
        b.set((sec, n.saturating_add(1)));
        n < GATEWAY_5XX_LOG_MAX_PER_S
    });
    if allowed {
        tracing::warn!(
            worker,
            status,
            route = route.unwrap_or("-"),
            blame = ?e.blame(),
            "gateway answered {status}: {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aws_log_time_is_aws_shape() {
        assert_eq!(super::aws_log_time(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            super::aws_log_time(1_796_644_423),
            "Mon Dec 07 11:53:43 UTC 2026"
        );
        assert_eq!(
            super::aws_log_time(951_782_400),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
    }
}
