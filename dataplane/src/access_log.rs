//! Access logs: a stage's compiled format ([`portico_shared::access_log::Template`]) rendered once
//! per request at the end of the pipeline, handed to this worker's own bounded queue, and
//! shipped by one writer thread in batches: CloudWatch Logs `PutLogEvents` (when a Logs endpoint
//! is set), Firehose `PutRecordBatch` (when a Firehose endpoint is set), else files under the data
//! directory (`access-logs/{group}.log`, newline-delimited, rotated by size).
//!
//! A worker never waits: a full queue (the sink slow or stopped) drops the line and counts it
//! (`portico_access_log_lines_dropped_total`); a batch a sink refuses or never answers is dropped
//! and counted too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use portico_shared::access_log::{
    AccessLog, Escape, Piece, Sink, SinkKind, Var, LINES_DROPPED, LINES_QUEUED, LINES_SHIPPED,
};
use portico_shared::sigv4::{self, Credentials};

use crate::error::{GatewayError, IamDenial};
use crate::request_id::RequestId;

/// Lines one worker may have queued before it drops (`PORTICO_ACCESS_LOG_QUEUE` overrides).
const QUEUE_LINES: usize = 8192;
/// How often the writer drains the queues.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// A file is rotated (to `.1`) past this size (`PORTICO_ACCESS_LOG_ROTATE_BYTES` overrides).
const ROTATE_BYTES: u64 = 64 << 20;
/// Connect, write and read timeout of one call to a sink.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// `PutLogEvents`: at most 10,000 events and 1 MiB (each event counted 26 bytes more).
const LOGS_BATCH_EVENTS: usize = 10_000;
const LOGS_BATCH_BYTES: usize = 1_000_000;
/// `PutRecordBatch`: at most 500 records and 4 MiB.
const FIREHOSE_BATCH_RECORDS: usize = 500;
const FIREHOSE_BATCH_BYTES: usize = 4_000_000;

/// One rendered line on its way to a sink.
struct Line {
    sink: Arc<Sink>,
    at_ms: u64,
    text: Vec<u8>,
}

/// The writer's configuration, set once by [`start`].
struct Config {
    data_dir: PathBuf,
    queue_lines: usize,
    /// A worker's queue, made when it first logs, is handed to the writer here (no lock).
    register: Sender<Receiver<Line>>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

thread_local! {
    static QUEUE: RefCell<Option<SyncSender<Line>>> = const { RefCell::new(None) };
}

/// Starts the writer thread (once, from `main`). Without it, nothing is logged.
pub fn start(data_dir: PathBuf) {
    let queue_lines = std::env::var("PORTICO_ACCESS_LOG_QUEUE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(QUEUE_LINES);
    let (register, queues) = channel();
    if CONFIG
        .set(Config {
            data_dir,
            queue_lines,
            register,
        })
        .is_err()
    {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("portico-access-log".into())
        .spawn(|| Writer::new().run(queues));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "access log writer did not start");
    }
}

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

/// Renders `entry` with `log`'s template and queues it for the writer. Never blocks: a full
/// queue drops the line and counts it.
pub fn record(log: &AccessLog, entry: &Entry<'_>) {
    let Some(cfg) = CONFIG.get() else {
        return;
    };
    let mut text = Vec::with_capacity(256);
    render(log, entry, &mut text);
    let line = Line {
        sink: Arc::clone(&log.sink),
        at_ms: entry.started_ms,
        text,
    };
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let tx = q.get_or_insert_with(|| {
            let (tx, rx) = sync_channel(cfg.queue_lines);
            let _ = cfg.register.send(rx);
            tx
        });
        match tx.try_send(line) {
            Ok(()) => {
                LINES_QUEUED.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
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
pub fn content_length(out: &[u8]) -> Option<u64> {
    let end = memchr::memmem::find(out, b"\r\n\r\n")?;
    out[..end].split(|b| *b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|b| *b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
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

// === the writer ===

/// An `http://` endpoint of an AWS service.
#[derive(Debug, Clone)]
struct Endpoint {
    authority: String,
}

impl Endpoint {
    fn from_env(vars: &[&str]) -> Option<Endpoint> {
        let url = vars
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))?;
        let authority = url.strip_prefix("http://").map(|a| a.trim_end_matches('/'));
        match authority {
            Some(a) if !a.is_empty() && !a.contains(['/', '@']) => Some(Endpoint {
                authority: a.to_string(),
            }),
            _ => {
                tracing::warn!(
                    url,
                    "access logs: only http:// endpoints are supported; writing files instead"
                );
                None
            }
        }
    }
}

struct Writer {
    queues: Vec<Receiver<Line>>,
    logs: Option<Endpoint>,
    firehose: Option<Endpoint>,
    creds: Option<Credentials>,
    /// Log groups whose stream exists.
    streams: std::collections::HashSet<Box<str>>,
    stream_name: String,
    files: HashMap<Box<str>, std::fs::File>,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            queues: Vec::new(),
            logs: Endpoint::from_env(&[
                "AWS_ENDPOINT_URL_LOGS",
                "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
                "AWS_ENDPOINT_URL",
            ]),
            firehose: Endpoint::from_env(&["AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL"]),
            creds: Credentials::from_env(),
            streams: Default::default(),
            stream_name: format!("portico-{}", std::process::id()),
            files: HashMap::new(),
        }
    }

    fn run(mut self, new_queues: Receiver<Receiver<Line>>) {
        let mut batch: Vec<Line> = Vec::new();
        loop {
            // Waits FLUSH_EVERY, or less when a worker's first line brings its queue.
            if let Ok(q) = new_queues.recv_timeout(FLUSH_EVERY) {
                self.queues.push(q);
            }
            self.queues.extend(new_queues.try_iter());
            for q in &self.queues {
                batch.extend(q.try_iter());
            }
            if batch.is_empty() {
                continue;
            }
            // Grouped by sink (most often one: no grouping work), each group in time order.
            batch.sort_by_key(|l| l.at_ms);
            let first = Arc::clone(&batch[0].sink);
            if batch.iter().all(|l| Arc::ptr_eq(&l.sink, &first)) {
                self.ship(&batch);
            } else {
                let mut groups: HashMap<*const Sink, Vec<Line>> = HashMap::new();
                for l in batch.drain(..) {
                    groups.entry(Arc::as_ptr(&l.sink)).or_default().push(l);
                }
                for lines in groups.values() {
                    self.ship(lines);
                }
            }
            batch.clear();
        }
    }

    fn ship(&mut self, lines: &[Line]) {
        let sink = Arc::clone(&lines[0].sink);
        let result = match (&sink.kind, &self.logs, &self.firehose) {
            (SinkKind::Logs, Some(ep), _) => {
                let ep = ep.clone();
                self.put_log_events(&ep, &sink, lines)
            }
            (SinkKind::Firehose, _, Some(ep)) => {
                let ep = ep.clone();
                self.put_record_batch(&ep, &sink, lines)
            }
            _ => self.write_file(&sink, lines),
        };
        match result {
            Ok(()) => {
                LINES_SHIPPED.fetch_add(lines.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                LINES_DROPPED.fetch_add(lines.len() as u64, Ordering::Relaxed);
                tracing::warn!(sink = %sink.name, lines = lines.len(), error = %e, "access log lines dropped");
            }
        }
    }

    fn write_file(&mut self, sink: &Sink, lines: &[Line]) -> Result<(), String> {
        let cfg = CONFIG.get().ok_or("not started")?;
        let dir = cfg.data_dir.join("access-logs");
        let safe: String = sink
            .name
            .trim_start_matches('/')
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = safe.trim_start_matches('.').to_string();
        let path = dir.join(format!("{safe}.log"));
        let rotate_at = std::env::var("PORTICO_ACCESS_LOG_ROTATE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(ROTATE_BYTES);
        if let Some(f) = self.files.get(&sink.name) {
            if f.metadata().is_ok_and(|m| m.len() >= rotate_at) {
                self.files.remove(&sink.name);
                let _ = std::fs::rename(&path, dir.join(format!("{safe}.log.1")));
            }
        }
        if !self.files.contains_key(&sink.name) {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            self.files.insert(sink.name.clone(), f);
        }
        let f = self.files.get_mut(&sink.name).ok_or("no file")?;
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(&l.text);
            buf.push(b'\n');
        }
        f.write_all(&buf).map_err(|e| e.to_string())
    }

    fn put_log_events(&mut self, ep: &Endpoint, sink: &Sink, lines: &[Line]) -> Result<(), String> {
        if !self.streams.contains(&sink.name) {
            let body = serde_json::json!({"logGroupName": &*sink.name, "logStreamName": &self.stream_name});
            let (status, answer) =
                self.call(ep, sink, "logs", "Logs_20140328.CreateLogStream", &body)?;
            if status == 400 && answer.contains("ResourceNotFoundException") {
                let group = serde_json::json!({"logGroupName": &*sink.name});
                self.call(ep, sink, "logs", "Logs_20140328.CreateLogGroup", &group)?;
                self.call(ep, sink, "logs", "Logs_20140328.CreateLogStream", &body)?;
            } else if status != 200 && !answer.contains("ResourceAlreadyExistsException") {
                return Err(format!("CreateLogStream: {status} {answer}"));
            }
            self.streams.insert(sink.name.clone());
        }
        let mut rest = lines;
        while !rest.is_empty() {
            let (mut n, mut bytes) = (0, 0);
            while n < rest.len() && n < LOGS_BATCH_EVENTS {
                let size = rest[n].text.len() + 26;
                if n > 0 && bytes + size > LOGS_BATCH_BYTES {
                    break;
                }
                bytes += size;
                n += 1;
            }
            let events: Vec<_> = rest[..n]
                .iter()
                .map(|l| {
                    serde_json::json!({"timestamp": l.at_ms, "message": String::from_utf8_lossy(&l.text)})
                })
                .collect();
            let body = serde_json::json!({
                "logGroupName": &*sink.name,
                "logStreamName": &self.stream_name,
                "logEvents": events,
            });
            let (status, answer) =
                self.call(ep, sink, "logs", "Logs_20140328.PutLogEvents", &body)?;
            if status != 200 {
                if answer.contains("ResourceNotFoundException") {
                    self.streams.remove(&sink.name);
                }
                return Err(format!("PutLogEvents: {status} {answer}"));
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    fn put_record_batch(
        &mut self,
        ep: &Endpoint,
        sink: &Sink,
        lines: &[Line],
    ) -> Result<(), String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut rest = lines;
        while !rest.is_empty() {
            let (mut n, mut bytes) = (0, 0);
            while n < rest.len() && n < FIREHOSE_BATCH_RECORDS {
                let size = (rest[n].text.len() + 1) * 4 / 3 + 16;
                if n > 0 && bytes + size > FIREHOSE_BATCH_BYTES {
                    break;
                }
                bytes += size;
                n += 1;
            }
            let records: Vec<_> = rest[..n]
                .iter()
                .map(|l| {
                    let mut data = l.text.clone();
                    data.push(b'\n');
                    serde_json::json!({"Data": b64.encode(data)})
                })
                .collect();
            let body = serde_json::json!({"DeliveryStreamName": &*sink.name, "Records": records});
            let (status, answer) = self.call(
                ep,
                sink,
                "firehose",
                "Firehose_20150804.PutRecordBatch",
                &body,
            )?;
            if status != 200 {
                return Err(format!("PutRecordBatch: {status} {answer}"));
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    /// One signed JSON 1.1 call; the status and the body.
    fn call(
        &self,
        ep: &Endpoint,
        sink: &Sink,
        service: &str,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let content_type = "application/x-amz-json-1.1";
        let authority = ep.authority.as_str();
        let mut request = format!(
            "POST / HTTP/1.1\r\nhost: {authority}\r\ncontent-type: {content_type}\r\nx-amz-target: {target}\r\n"
        );
        if let Some(creds) = &self.creds {
            let sig = sigv4::sign(
                creds,
                &sink.region,
                service,
                portico_shared::clock::system_unix_secs(),
                "POST",
                "/",
                "",
                &[
                    ("host", authority),
                    ("content-type", content_type),
                    ("x-amz-target", target),
                ],
                &body,
            );
            request.push_str(&format!(
                "x-amz-date: {}\r\nx-amz-content-sha256: {}\r\nauthorization: {}\r\n",
                sig.amz_date, sig.content_sha256, sig.authorization
            ));
            if let Some(token) = &creds.session_token {
                request.push_str(&format!("x-amz-security-token: {token}\r\n"));
            }
        }
        request.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\nuser-agent: portico\r\n\r\n",
            body.len()
        ));
        let addr = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, CALL_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.write_all(&body))
            .map_err(|e| format!("{target}: {e}"))?;
        let mut answer = Vec::new();
        stream
            .take(1 << 20)
            .read_to_end(&mut answer)
            .map_err(|e| format!("{target}: {e}"))?;
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{target}: no HTTP answer"))?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_shared::access_log::compile;

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
