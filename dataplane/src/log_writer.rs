//! One writer for both log kinds: access log lines (`access_log.rs`) and execution log lines
//! (`trace.rs`) go through the same per-worker bounded queue to the same writer thread, which
//! ships them with the same sink code:
//!
//! - CloudWatch Logs `PutLogEvents` (batched; stream `portico-{pid}`, created on first use with
//!   its group) when a Logs endpoint is set (`AWS_ENDPOINT_URL_LOGS`,
//!   `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, `AWS_ENDPOINT_URL`);
//! - Firehose `PutRecordBatch` (access logs to a delivery stream ARN) when a Firehose endpoint is
//!   set (`AWS_ENDPOINT_URL_FIREHOSE`, `AWS_ENDPOINT_URL`);
//! - files under the data directory, newline-delimited, rotated by size (to `.1`,
//!   `PORTICO_ACCESS_LOG_ROTATE_BYTES`, 64 MiB by default): `access-logs/{group}.log` for an
//!   access log without an endpoint; `logs/API-Gateway-Execution-Logs_{apiId}/{stage}.log` for
//!   every execution log line (also sent to CloudWatch Logs when its endpoint is set).
//!
//! Endpoints are `http://` or `https://` (rustls; the system's roots plus the PEM bundle of
//! `AWS_CA_BUNDLE`, as the AWS CLI trusts them). Calls are blocking, on the writer thread only.
//!
//! A worker never waits: a full queue (the sink slow or stopped) drops the line and counts it; a
//! batch a sink refuses or never answers is dropped and counted too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use portico_shared::access_log::{Sink, SinkKind, LINES_DROPPED, LINES_QUEUED, LINES_SHIPPED};
use portico_shared::limits::{
    ACCESS_LOG_FLUSH_INTERVAL_MS, ACCESS_LOG_QUEUE_DEFAULT_LINES, ACCESS_LOG_ROTATE_DEFAULT_BYTES,
    ACCESS_LOG_SINK_TIMEOUT_MS, CLOUDWATCH_LOGS_BATCH_MAX_BYTES, CLOUDWATCH_LOGS_BATCH_MAX_EVENTS,
    FIREHOSE_BATCH_MAX_BYTES, FIREHOSE_BATCH_MAX_RECORDS,
};
use portico_shared::sigv4::{self, Credentials};

/// How often the writer drains the queues.
const FLUSH_EVERY: Duration = Duration::from_millis(ACCESS_LOG_FLUSH_INTERVAL_MS);
/// Connect, write and read timeout of one call to a sink.
const CALL_TIMEOUT: Duration = Duration::from_millis(ACCESS_LOG_SINK_TIMEOUT_MS);

/// Execution log lines queued, shipped and dropped (access log lines are counted in
/// `portico_shared::access_log`).
pub static EXEC_QUEUED: AtomicU64 = AtomicU64::new(0);
pub static EXEC_SHIPPED: AtomicU64 = AtomicU64::new(0);
pub static EXEC_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Where a line goes.
#[derive(Debug, Clone)]
pub enum Dest {
    /// An access log's destination (log group or delivery stream).
    Access(Arc<Sink>),
    /// An execution log group, `API-Gateway-Execution-Logs_{apiId}/{stage}`.
    Execution(Arc<str>),
}

impl Dest {
    fn counters(&self) -> (&'static AtomicU64, &'static AtomicU64, &'static AtomicU64) {
        match self {
            Dest::Access(_) => (&LINES_QUEUED, &LINES_SHIPPED, &LINES_DROPPED),
            Dest::Execution(_) => (&EXEC_QUEUED, &EXEC_SHIPPED, &EXEC_DROPPED),
        }
    }

    /// Lines with the same key ship together.
    fn key(&self) -> (bool, *const u8) {
        match self {
            Dest::Access(s) => (false, Arc::as_ptr(s).cast()),
            Dest::Execution(g) => (true, g.as_ptr()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Dest::Access(s) => &s.name,
            Dest::Execution(g) => g,
        }
    }
}

/// One line on its way to a sink.
#[derive(Debug)]
pub struct Line {
    pub dest: Dest,
    /// Epoch milliseconds (the event's time stamp).
    pub at_ms: u64,
    /// Without its newline.
    pub text: Vec<u8>,
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
        .unwrap_or(ACCESS_LOG_QUEUE_DEFAULT_LINES);
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
        .name("portico-log-writer".into())
        .spawn(|| Writer::new().run(queues));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "log writer did not start");
    }
}

/// Whether [`start`] ran (a caller may skip rendering otherwise).
pub fn started() -> bool {
    CONFIG.get().is_some()
}

/// Hands `line` to this worker's queue. Never blocks: a full queue drops the line and counts
/// it.
pub fn enqueue(line: Line) {
    let Some(cfg) = CONFIG.get() else {
        return;
    };
    let (queued, _, dropped) = line.dest.counters();
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let tx = q.get_or_insert_with(|| {
            let (tx, rx) = sync_channel(cfg.queue_lines);
            let _ = cfg.register.send(rx);
            tx
        });
        match tx.try_send(line) {
            Ok(()) => {
                queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

// === endpoints ===

/// An `http://` or `https://` endpoint of an AWS service.
#[derive(Debug, Clone)]
struct Endpoint {
    /// `host[:port]`, as the `Host` header and the signature carry it.
    authority: String,
    tls: bool,
}

impl Endpoint {
    fn from_env(vars: &[&str]) -> Option<Endpoint> {
        let url = vars
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))?;
        Endpoint::parse(&url).or_else(|| {
            tracing::warn!(
                url,
                "log endpoint: not an http:// or https:// URL; not used"
            );
            None
        })
    }

    fn parse(url: &str) -> Option<Endpoint> {
        let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return None,
        };
        let authority = rest.trim_end_matches('/');
        (!authority.is_empty() && !authority.contains(['/', '@'])).then(|| Endpoint {
            authority: authority.to_string(),
            tls,
        })
    }

    /// The host without its port (the TLS server name).
    fn host(&self) -> &str {
        let a = self.authority.as_str();
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        a.rsplit_once(':').map_or(a, |(h, _)| h)
    }

    fn socket_addr(&self) -> String {
        let a = &self.authority;
        let has_port = match a.rfind(']') {
            Some(i) => a[i..].contains(':'),
            None => a.contains(':'),
        };
        if has_port {
            a.clone()
        } else {
            format!("{a}:{}", if self.tls { 443 } else { 80 })
        }
    }
}

/// The TLS client the writer's `https://` calls use: the system's roots (the OpenSSL bundle
/// paths, or `SSL_CERT_FILE`; Mozilla's compiled-in roots when none is found) plus
/// `AWS_CA_BUNDLE`'s certificates.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    const SYSTEM_BUNDLES: [&str; 5] = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    ];
    let mut roots = rustls::RootCertStore::empty();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find_map(|p| std::fs::read(p).ok());
    match system {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
                let _ = roots.add(cert);
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path)
            .map_err(|e| format!("AWS_CA_BUNDLE {}: {e}", Path::new(&path).display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("AWS_CA_BUNDLE: invalid PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("AWS_CA_BUNDLE: unusable certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("AWS_CA_BUNDLE: no certificate".into());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

// === the writer ===

struct Writer {
    queues: Vec<Receiver<Line>>,
    logs: Option<Endpoint>,
    firehose: Option<Endpoint>,
    creds: Option<Credentials>,
    /// The region execution log groups are signed for (`AWS_REGION`, `AWS_DEFAULT_REGION`).
    region: Box<str>,
    /// `None` when no endpoint is `https://`, or the configuration failed (logged once).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Log groups whose stream exists.
    streams: std::collections::HashSet<Box<str>>,
    stream_name: String,
    /// Open files by path.
    files: HashMap<PathBuf, std::fs::File>,
    rotate_at: u64,
}

impl Writer {
    fn new() -> Writer {
        let logs = Endpoint::from_env(&[
            "AWS_ENDPOINT_URL_LOGS",
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
            "AWS_ENDPOINT_URL",
        ]);
        let firehose = Endpoint::from_env(&["AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL"]);
        let wants_tls = logs.iter().chain(firehose.iter()).any(|e| e.tls);
        let tls = if wants_tls {
            tls_config()
                .inspect_err(|e| tracing::error!(error = %e, "log writer: TLS not configured"))
                .ok()
        } else {
            None
        };
        Writer {
            queues: Vec::new(),
            logs,
            firehose,
            creds: Credentials::from_env(),
            region: std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| "us-east-1".into())
                .into(),
            tls,
            streams: Default::default(),
            stream_name: format!("portico-{}", std::process::id()),
            files: HashMap::new(),
            rotate_at: std::env::var("PORTICO_ACCESS_LOG_ROTATE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(ACCESS_LOG_ROTATE_DEFAULT_BYTES),
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
            // Grouped by destination (most often one: no grouping work), each group in time
            // order.
            batch.sort_by_key(|l| l.at_ms);
            let first = batch[0].dest.key();
            if batch.iter().all(|l| l.dest.key() == first) {
                self.ship(&batch);
            } else {
                let mut groups: HashMap<(bool, *const u8), Vec<Line>> = HashMap::new();
                for l in batch.drain(..) {
                    groups.entry(l.dest.key()).or_default().push(l);
                }
                for lines in groups.values() {
                    self.ship(lines);
                }
            }
            batch.clear();
        }
    }

    fn ship(&mut self, lines: &[Line]) {
        let dest = lines[0].dest.clone();
        let result = match &dest {
            Dest::Access(sink) => match (&sink.kind, &self.logs, &self.firehose) {
                (SinkKind::Logs, Some(ep), _) => {
                    let ep = ep.clone();
                    self.put_log_events(&ep, &sink.name, &sink.region, lines)
                }
                (SinkKind::Firehose, _, Some(ep)) => {
                    let ep = ep.clone();
                    self.put_record_batch(&ep, sink, lines)
                }
                _ => {
                    let path = self.access_path(&sink.name);
                    self.write_file(path, lines)
                }
            },
            // Execution logs: always the file, and CloudWatch Logs when its endpoint is set.
            Dest::Execution(group) => {
                let path = self.dir().join("logs").join(format!("{group}.log"));
                let written = self.write_file(path, lines);
                match self.logs.clone() {
                    Some(ep) => {
                        let region = self.region.clone();
                        written.and(self.put_log_events(&ep, group, &region, lines))
                    }
                    None => written,
                }
            }
        };
        let (_, shipped, dropped) = dest.counters();
        match result {
            Ok(()) => {
                shipped.fetch_add(lines.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                dropped.fetch_add(lines.len() as u64, Ordering::Relaxed);
                tracing::warn!(sink = dest.name(), lines = lines.len(), error = %e, "log lines dropped");
            }
        }
    }

    fn dir(&self) -> PathBuf {
        CONFIG
            .get()
            .map_or_else(PathBuf::new, |c| c.data_dir.clone())
    }

    /// `access-logs/{name}.log`: the name without its leading `/`, other characters than
    /// `[A-Za-z0-9-_.]` as `_`.
    fn access_path(&self, name: &str) -> PathBuf {
        let safe: String = name
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
        let safe = safe.trim_start_matches('.');
        self.dir().join("access-logs").join(format!("{safe}.log"))
    }

    /// Appends `lines` to the file at `path`, first renaming it to `{path}.1` when it has
    /// reached the rotation size (one rotated file is kept).
    fn write_file(&mut self, path: PathBuf, lines: &[Line]) -> Result<(), String> {
        if let Some(f) = self.files.get(&path) {
            if f.metadata().is_ok_and(|m| m.len() >= self.rotate_at) {
                self.files.remove(&path);
                let mut rotated = path.clone().into_os_string();
                rotated.push(".1");
                let _ = std::fs::rename(&path, rotated);
            }
        }
        if !self.files.contains_key(&path) {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            self.files.insert(path.clone(), f);
        }
        let f = self.files.get_mut(&path).ok_or("no file")?;
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(&l.text);
            buf.push(b'\n');
        }
        f.write_all(&buf).map_err(|e| e.to_string())
    }

    fn put_log_events(
        &mut self,
        ep: &Endpoint,
        group: &str,
        region: &str,
        lines: &[Line],
    ) -> Result<(), String> {
        if !self.streams.contains(group) {
            let body =
                serde_json::json!({"logGroupName": group, "logStreamName": &self.stream_name});
            let (status, answer) =
                self.call(ep, region, "logs", "Logs_20140328.CreateLogStream", &body)?;
            if status == 400 && answer.contains("ResourceNotFoundException") {
                let g = serde_json::json!({ "logGroupName": group });
                self.call(ep, region, "logs", "Logs_20140328.CreateLogGroup", &g)?;
                self.call(ep, region, "logs", "Logs_20140328.CreateLogStream", &body)?;
            } else if status != 200 && !answer.contains("ResourceAlreadyExistsException") {
                return Err(format!("CreateLogStream: {status} {answer}"));
            }
            self.streams.insert(group.into());
        }
        let mut rest = lines;
        while !rest.is_empty() {
            let (mut n, mut bytes) = (0, 0);
            while n < rest.len() && n < CLOUDWATCH_LOGS_BATCH_MAX_EVENTS {
                let size = rest[n].text.len() + 26;
                if n > 0 && bytes + size > CLOUDWATCH_LOGS_BATCH_MAX_BYTES {
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
                "logGroupName": group,
                "logStreamName": &self.stream_name,
                "logEvents": events,
            });
            let (status, answer) =
                self.call(ep, region, "logs", "Logs_20140328.PutLogEvents", &body)?;
            if status != 200 {
                if answer.contains("ResourceNotFoundException") {
                    self.streams.remove(group);
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
            while n < rest.len() && n < FIREHOSE_BATCH_MAX_RECORDS {
                let size = (rest[n].text.len() + 1) * 4 / 3 + 16;
                if n > 0 && bytes + size > FIREHOSE_BATCH_MAX_BYTES {
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
                &sink.region,
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
        region: &str,
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
                region,
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
        let mut request = request.into_bytes();
        request.extend_from_slice(&body);
        let addr = ep.socket_addr();
        let addr = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let stream =
            TcpStream::connect_timeout(&addr, CALL_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let answer = if ep.tls {
            let config = self
                .tls
                .clone()
                .ok_or_else(|| format!("{target}: TLS is not configured"))?;
            let name = rustls::pki_types::ServerName::try_from(ep.host().to_string())
                .map_err(|e| format!("{}: {e}", ep.host()))?;
            let conn = rustls::ClientConnection::new(config, name)
                .map_err(|e| format!("{target}: {e}"))?;
            exchange(rustls::StreamOwned::new(conn, stream), &request)
        } else {
            exchange(stream, &request)
        }
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

/// Writes `request` and reads the answer until the server closes (`connection: close`), at
/// most 1 MiB. A TLS peer that closes without `close_notify` still gave its answer.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut answer = Vec::new();
    match stream.take(1 << 20).read_to_end(&mut answer) {
        Ok(_) => Ok(answer),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => Ok(answer),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("https://logs.example:8443/").unwrap();
        assert!(e.tls);
        assert_eq!(e.host(), "logs.example");
        assert_eq!(e.socket_addr(), "logs.example:8443");
        let e = Endpoint::parse("https://localhost").unwrap();
        assert_eq!(e.socket_addr(), "localhost:443");
        let e = Endpoint::parse("http://[::1]:9000").unwrap();
        assert!(!e.tls);
        assert_eq!(e.host(), "::1");
        assert_eq!(e.socket_addr(), "[::1]:9000");
        assert!(Endpoint::parse("ftp://x").is_none());
        assert!(Endpoint::parse("http://u@x").is_none());
    }
}
