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
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use portico_shared::access_log::{
    Sink, SinkKind, EXEC_LINES_DROPPED, EXEC_LINES_QUEUED, EXEC_LINES_SHIPPED, LINES_DROPPED,
    LINES_QUEUED, LINES_SHIPPED,
};
use portico_shared::limits::{
    ACCESS_LOG_FLUSH_INTERVAL_MS, ACCESS_LOG_QUEUE_DEFAULT_LINES, ACCESS_LOG_ROTATE_DEFAULT_BYTES,
    ACCESS_LOG_SINK_TIMEOUT_MS, CLOUDWATCH_LOGS_BATCH_MAX_BYTES, CLOUDWATCH_LOGS_BATCH_MAX_EVENTS,
    FIREHOSE_BATCH_MAX_BYTES, FIREHOSE_BATCH_MAX_RECORDS, LOG_CHUNKS_PER_WORKER, LOG_CHUNK_BYTES,
    LOG_CHUNK_KEEP_MAX_BYTES, LOG_SINK_CALL_BYTES,
};
use portico_shared::sigv4::{self, Credentials};

/// A worker hands over what it has at least this often ([`flush`]); the writer ships what a
/// network sink has waiting at least this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(ACCESS_LOG_FLUSH_INTERVAL_MS);
/// Connect, write and read timeout of one call to a sink.
const CALL_TIMEOUT: Duration = Duration::from_millis(ACCESS_LOG_SINK_TIMEOUT_MS);

/// Where a line goes.
#[derive(Debug, Clone)]
pub enum Dest {
    /// An access log's destination (log group or delivery stream).
    Access(Arc<Sink>),
    /// An execution log group, `API-Gateway-Execution-Logs_{apiId}/{stage}`.
    Execution(Arc<str>),
}

/// A line's destination as a caller names it (no reference count touched per line).
#[derive(Debug, Clone, Copy)]
pub enum To<'a> {
    Access(&'a Arc<Sink>),
    Execution(&'a str),
}

impl To<'_> {
    fn is(self, dest: &Dest) -> bool {
        match (self, dest) {
            (To::Access(a), Dest::Access(b)) => Arc::ptr_eq(a, b),
            (To::Execution(a), Dest::Execution(b)) => a == &**b,
            _ => false,
        }
    }

    fn to_dest(self) -> Dest {
        match self {
            To::Access(s) => Dest::Access(Arc::clone(s)),
            To::Execution(g) => Dest::Execution(g.into()),
        }
    }

    fn dropped(self) -> &'static AtomicU64 {
        match self {
            To::Access(_) => &LINES_DROPPED,
            To::Execution(_) => &EXEC_LINES_DROPPED,
        }
    }
}

impl Dest {
    fn counters(&self) -> (&'static AtomicU64, &'static AtomicU64, &'static AtomicU64) {
        match self {
            Dest::Access(_) => (&LINES_QUEUED, &LINES_SHIPPED, &LINES_DROPPED),
            Dest::Execution(_) => (&EXEC_LINES_QUEUED, &EXEC_LINES_SHIPPED, &EXEC_LINES_DROPPED),
        }
    }

    fn same(&self, other: &Dest) -> bool {
        match self {
            Dest::Access(s) => To::Access(s).is(other),
            Dest::Execution(g) => To::Execution(g).is(other),
        }
    }

    fn name(&self) -> &str {
        match self {
            Dest::Access(s) => &s.name,
            Dest::Execution(g) => g,
        }
    }
}

/// Lines for one destination, rendered by one worker straight into `text`: what a worker hands
/// to the writer, and the writer gives back emptied for the worker to fill again. A worker thus
/// allocates nothing per line, and the writer touches the lines of a whole chunk at once (a file
/// sink writes `text` as it is).
#[derive(Debug)]
pub struct Chunk {
    dest: Dest,
    /// The lines, each followed by `\n`.
    text: Vec<u8>,
    /// Per line: the offset of its `\n` in `text`, and its time stamp (epoch milliseconds).
    lines: Vec<(u32, u64)>,
    /// Where the writer sends it back (its worker's free chunks).
    home: Sender<Chunk>,
}

impl Chunk {
    /// Each line with its time stamp, without its `\n`.
    fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut start = 0;
        self.lines.iter().map(move |&(end, at_ms)| {
            let line = &self.text[start..end as usize];
            start = end as usize + 1;
            (at_ms, line)
        })
    }

    /// Sent back to its worker, emptied.
    fn recycle(mut self) {
        self.text.clear();
        self.text.shrink_to(LOG_CHUNK_KEEP_MAX_BYTES);
        self.lines.clear();
        let home = self.home.clone();
        let _ = home.send(self);
    }
}

/// The writer's configuration, set once by [`start`].
struct Config {
    data_dir: PathBuf,
    /// Lines a chunk may hold: `PORTICO_ACCESS_LOG_QUEUE` over [`LOG_CHUNKS_PER_WORKER`].
    chunk_lines: usize,
    /// Full chunks, from every worker, to the writer.
    to_writer: Sender<Chunk>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// One worker's chunks.
struct Local {
    to_writer: Sender<Chunk>,
    /// Given to each chunk this worker makes; `back` receives them emptied.
    home: Sender<Chunk>,
    back: Receiver<Chunk>,
    /// Chunks being filled, one per destination (most often one).
    filling: Vec<Chunk>,
    free: Vec<Chunk>,
    /// Chunks made so far, at most [`LOG_CHUNKS_PER_WORKER`].
    made: usize,
}

impl Local {
    fn new(cfg: &Config) -> Local {
        let (home, back) = channel();
        Local {
            to_writer: cfg.to_writer.clone(),
            home,
            back,
            filling: Vec::new(),
            free: Vec::new(),
            made: 0,
        }
    }

    /// An empty chunk for `to`: a free one, one the writer gave back, or a new one while this
    /// worker has fewer than [`LOG_CHUNKS_PER_WORKER`]; `None` when all are with the writer.
    fn take(&mut self, to: To<'_>) -> Option<Chunk> {
        if self.free.is_empty() {
            self.free.extend(self.back.try_iter());
        }
        let mut chunk = match self.free.pop() {
            Some(c) => c,
            None if self.made < LOG_CHUNKS_PER_WORKER => {
                self.made += 1;
                Chunk {
                    dest: to.to_dest(),
                    text: Vec::with_capacity(LOG_CHUNK_BYTES + 1024),
                    lines: Vec::new(),
                    home: self.home.clone(),
                }
            }
            None => return None,
        };
        if !to.is(&chunk.dest) {
            chunk.dest = to.to_dest();
        }
        Some(chunk)
    }

    /// Hands the `i`th filling chunk to the writer.
    fn hand_over(&mut self, i: usize) {
        let chunk = self.filling.swap_remove(i);
        let (queued, _, dropped) = chunk.dest.counters();
        let n = chunk.lines.len() as u64;
        match self.to_writer.send(chunk) {
            Ok(()) => queued.fetch_add(n, Ordering::Relaxed),
            Err(_) => dropped.fetch_add(n, Ordering::Relaxed),
        };
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Starts the writer thread (once, from `main`). Without it, nothing is logged.
pub fn start(data_dir: PathBuf) {
    let queue_lines = std::env::var("PORTICO_ACCESS_LOG_QUEUE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(ACCESS_LOG_QUEUE_DEFAULT_LINES);
    let (to_writer, chunks) = channel();
    if CONFIG
        .set(Config {
            data_dir,
            chunk_lines: queue_lines.div_ceil(LOG_CHUNKS_PER_WORKER),
            to_writer,
        })
        .is_err()
    {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("portico-log-writer".into())
        .spawn(|| Writer::new().run(chunks));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "log writer did not start");
    }
}

/// Whether [`start`] ran (a caller may skip rendering otherwise).
pub fn started() -> bool {
    CONFIG.get().is_some()
}

/// Appends one line for `to`, `render`ed straight into this worker's chunk for it; the chunk
/// goes to the writer when full, when its first line is [`FLUSH_EVERY`] older than this one, or
/// at the worker's next [`flush`]. Never blocks: when all this worker's chunks are with the
/// writer (the sink slow or stopped), `render` is not called (a dropped line costs neither its
/// rendering nor gathering what it says): the line is dropped and counted. `render` returns
/// the line's time, milliseconds since the epoch.
pub fn append(to: To<'_>, render: impl FnOnce(&mut Vec<u8>) -> u64) {
    let Some(cfg) = CONFIG.get() else {
        return;
    };
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let local = local.get_or_insert_with(|| Local::new(cfg));
        let i = match local.filling.iter().position(|c| to.is(&c.dest)) {
            Some(i) => i,
            None => match local.take(to) {
                Some(chunk) => {
                    local.filling.push(chunk);
                    local.filling.len() - 1
                }
                None => {
                    to.dropped().fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        };
        let chunk = &mut local.filling[i];
        let at_ms = render(&mut chunk.text);
        chunk.lines.push((chunk.text.len() as u32, at_ms));
        chunk.text.push(b'\n');
        let first_ms = chunk.lines[0].1;
        if chunk.text.len() >= LOG_CHUNK_BYTES
            || chunk.lines.len() >= cfg.chunk_lines
            || at_ms.saturating_sub(first_ms) >= ACCESS_LOG_FLUSH_INTERVAL_MS
        {
            local.hand_over(i);
        }
    });
}

/// Hands this worker's partly filled chunks to the writer (each worker, every [`FLUSH_EVERY`]).
pub fn flush() {
    LOCAL.with(|local| {
        if let Some(local) = local.borrow_mut().as_mut() {
            while !local.filling.is_empty() {
                local.hand_over(local.filling.len() - 1);
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

    /// Ships chunks as they come: to a file at once; to a network sink once [`LOG_SINK_CALL_BYTES`]
    /// wait for it or the first waited [`FLUSH_EVERY`]. Chunks for one destination ship
    /// together, then go back to their workers.
    fn run(mut self, chunks: Receiver<Chunk>) {
        let mut waiting: Vec<Chunk> = Vec::new();
        // When the oldest chunk held for a network sink came.
        let mut held_since: Option<Instant> = None;
        loop {
            let got = match held_since {
                None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => {
                    chunks.recv_timeout((t + FLUSH_EVERY).saturating_duration_since(Instant::now()))
                }
            };
            match got {
                Ok(c) => {
                    waiting.push(c);
                    waiting.extend(chunks.try_iter());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let held: usize = waiting
                .iter()
                .filter(|c| self.is_network(&c.dest))
                .map(|c| c.text.len())
                .sum();
            let due = held >= LOG_SINK_CALL_BYTES
                || held_since.is_some_and(|t| t.elapsed() >= FLUSH_EVERY);
            let mut keep = Vec::new();
            while let Some(first) = waiting.first() {
                let dest = first.dest.clone();
                let (same, rest): (Vec<Chunk>, Vec<Chunk>) =
                    waiting.drain(..).partition(|c| c.dest.same(&dest));
                waiting = rest;
                if self.is_network(&dest) && !due {
                    keep.extend(same);
                } else {
                    self.ship(&dest, &same);
                    same.into_iter().for_each(Chunk::recycle);
                }
            }
            waiting = keep;
            held_since = match (waiting.is_empty(), held_since) {
                (true, _) => None,
                (false, Some(t)) if !due => Some(t),
                (false, _) => Some(Instant::now()),
            };
        }
    }

    /// Whether `dest`'s lines are sent over the network (held to fill a call).
    fn is_network(&self, dest: &Dest) -> bool {
        match dest {
            Dest::Access(sink) => match sink.kind {
                SinkKind::Logs => self.logs.is_some(),
                SinkKind::Firehose => self.firehose.is_some(),
            },
            Dest::Execution(_) => self.logs.is_some(),
        }
    }

    fn ship(&mut self, dest: &Dest, chunks: &[Chunk]) {
        let result = match dest {
            Dest::Access(sink) => match (&sink.kind, &self.logs, &self.firehose) {
                (SinkKind::Logs, Some(ep), _) => {
                    let ep = ep.clone();
                    self.put_log_events(&ep, &sink.name, &sink.region, chunks)
                }
                (SinkKind::Firehose, _, Some(ep)) => {
                    let ep = ep.clone();
                    self.put_record_batch(&ep, sink, chunks)
                }
                _ => {
                    let path = self.access_path(&sink.name);
                    self.write_file(path, chunks)
                }
            },
            // Execution logs: always the file, and CloudWatch Logs when its endpoint is set.
            Dest::Execution(group) => {
                let path = self.dir().join("logs").join(format!("{group}.log"));
                let written = self.write_file(path, chunks);
                match self.logs.clone() {
                    Some(ep) => {
                        let region = self.region.clone();
                        written.and(self.put_log_events(&ep, group, &region, chunks))
                    }
                    None => written,
                }
            }
        };
        let (_, shipped, dropped) = dest.counters();
        let lines: usize = chunks.iter().map(|c| c.lines.len()).sum();
        match result {
            Ok(()) => {
                shipped.fetch_add(lines as u64, Ordering::Relaxed);
            }
            Err(e) => {
                dropped.fetch_add(lines as u64, Ordering::Relaxed);
                tracing::warn!(sink = dest.name(), lines, error = %e, "log lines dropped");
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
    fn write_file(&mut self, path: PathBuf, chunks: &[Chunk]) -> Result<(), String> {
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
        // Lines of one worker in the order they ended; a chunk is written as it is.
        for c in chunks {
            f.write_all(&c.text).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn put_log_events(
        &mut self,
        ep: &Endpoint,
        group: &str,
        region: &str,
        chunks: &[Chunk],
    ) -> Result<(), String> {
        if !self.streams.contains(group) {
            let body =
                serde_json::json!({"logGroupName": group, "logStreamName": &self.stream_name});
            let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            let (status, answer) =
                self.call(ep, region, "logs", "Logs_20140328.CreateLogStream", &body)?;
            if status == 400 && answer.contains("ResourceNotFoundException") {
                let g = serde_json::json!({ "logGroupName": group });
                let g = serde_json::to_vec(&g).map_err(|e| e.to_string())?;
                self.call(ep, region, "logs", "Logs_20140328.CreateLogGroup", &g)?;
                self.call(ep, region, "logs", "Logs_20140328.CreateLogStream", &body)?;
            } else if status != 200 && !answer.contains("ResourceAlreadyExistsException") {
                return Err(format!("CreateLogStream: {status} {answer}"));
            }
            self.streams.insert(group.into());
        }
        // A call's events must be in time order; a worker's lines are in the order they ended.
        let mut events: Vec<(u64, &[u8])> = chunks.iter().flat_map(Chunk::lines).collect();
        if !events.is_sorted_by_key(|e| e.0) {
            events.sort_by_key(|e| e.0);
        }
        // The body written directly (no JSON value per event): the lines are escaped once.
        let mut head = br#"{"logGroupName":"#.to_vec();
        crate::text::json_string(&mut head, group.as_bytes());
        head.extend_from_slice(br#","logStreamName":"#);
        crate::text::json_string(&mut head, self.stream_name.as_bytes());
        head.extend_from_slice(br#","logEvents":["#);
        let mut body = Vec::new();
        let mut num = itoa::Buffer::new();
        let mut rest = &events[..];
        while !rest.is_empty() {
            let (mut n, mut bytes) = (0, 0);
            while n < rest.len() && n < CLOUDWATCH_LOGS_BATCH_MAX_EVENTS {
                let size = rest[n].1.len() + 26;
                if n > 0 && bytes + size > CLOUDWATCH_LOGS_BATCH_MAX_BYTES {
                    break;
                }
                bytes += size;
                n += 1;
            }
            body.clear();
            body.extend_from_slice(&head);
            for (i, (at_ms, line)) in rest[..n].iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(br#"{"timestamp":"#);
                body.extend_from_slice(num.format(*at_ms).as_bytes());
                body.extend_from_slice(br#","message":"#);
                crate::text::json_string(&mut body, line);
                body.push(b'}');
            }
            body.extend_from_slice(b"]}");
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
        chunks: &[Chunk],
    ) -> Result<(), String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        // Each record is a line with its `\n`, as it sits in its chunk.
        let records: Vec<&[u8]> = chunks
            .iter()
            .flat_map(|c| {
                let mut start = 0;
                c.lines.iter().map(move |&(end, _)| {
                    let record = &c.text[start..=end as usize];
                    start = end as usize + 1;
                    record
                })
            })
            .collect();
        let mut head = br#"{"DeliveryStreamName":"#.to_vec();
        crate::text::json_string(&mut head, sink.name.as_bytes());
        head.extend_from_slice(br#","Records":["#);
        let mut body = Vec::new();
        let mut data = String::new();
        let mut rest = &records[..];
        while !rest.is_empty() {
            let (mut n, mut bytes) = (0, 0);
            while n < rest.len() && n < FIREHOSE_BATCH_MAX_RECORDS {
                let size = rest[n].len() * 4 / 3 + 16;
                if n > 0 && bytes + size > FIREHOSE_BATCH_MAX_BYTES {
                    break;
                }
                bytes += size;
                n += 1;
            }
            body.clear();
            body.extend_from_slice(&head);
            for (i, record) in rest[..n].iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                data.clear();
                b64.encode_string(record, &mut data);
                body.extend_from_slice(br#"{"Data":""#);
                body.extend_from_slice(data.as_bytes());
                body.extend_from_slice(br#""}"#);
            }
            body.extend_from_slice(b"]}");
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
        body: &[u8],
    ) -> Result<(u16, String), String> {
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
                body,
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
        request.extend_from_slice(body);
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
    fn a_chunk_yields_its_lines_and_goes_back_home_empty() {
        let (home, back) = channel();
        let mut chunk = Chunk {
            dest: Dest::Execution("g".into()),
            text: Vec::new(),
            lines: Vec::new(),
            home,
        };
        for (at_ms, line) in [(5, &b"one"[..]), (3, b""), (9, b"a\nb")] {
            chunk.text.extend_from_slice(line);
            chunk.lines.push((chunk.text.len() as u32, at_ms));
            chunk.text.push(b'\n');
        }
        let lines: Vec<(u64, &[u8])> = chunk.lines().collect();
        assert_eq!(lines, [(5, &b"one"[..]), (3, b""), (9, b"a\nb")]);
        chunk.recycle();
        let back = back.try_recv().unwrap();
        assert!(back.text.is_empty() && back.lines.is_empty());
        assert!(To::Execution("g").is(&back.dest) && !To::Execution("h").is(&back.dest));
    }

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
