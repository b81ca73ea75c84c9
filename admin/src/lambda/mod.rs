//! Self-hosted Lambda functions: Lambda's control plane and `Invoke` API on the admin listener
//! (`/2015-03-31/functions/...`, Lambda's wire format, so boto3's `lambda` client and
//! `aws lambda --endpoint-url` work), and Lambda's Runtime API for the worker processes, so
//! functions built on the official runtime clients run unchanged.
//!
//! # Architecture
//! 1. Thin handlers (this file) parse, validate (every problem at once, in Lambda's words) and
//!    change the [`FunctionHost`]: code is unpacked by `code.rs` on a blocking thread, the
//!    function document is committed to the [`Store`] (scope `$lambda`) with the zip itself
//!    (`Change::PutCode`: kept by a PostgreSQL store for the other nodes, ignored by SQLite), then
//!    the change is applied in memory and the [`FunctionDirectory`] is republished. A 2xx means
//!    committed. Other nodes' changes arrive through [`FunctionHost::follow`] (`cluster/`).
//! 2. `Invoke` goes to `host.rs`: an idle warm instance if there is one (no process spawn, the
//!    payload `Bytes` moved, never copied, to the runtime and the response back), else a cold
//!    start below the concurrency limit, else a bounded queue, else 429.
//! 3. `runtime_api.rs` serves each instance's Runtime API on its own loopback port.
//!
//! Invariants: runs on the admin thread's tokio runtime only, never on a data plane worker;
//! every child process runs in its own process group, killed with it (timeout, crash, update,
//! delete, idle reap, shutdown); the gateway's own environment (credentials) never reaches a
//! function.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use portico_shared::functions::{function_name, FunctionDirectory, FunctionDirectoryCell};
use portico_shared::limits::{
    LAMBDA_EVENTS_IN_FLIGHT_MAX, LAMBDA_EVENT_PAYLOAD_MAX_BYTES, LAMBDA_IDLE_S,
    LAMBDA_STOP_GRACE_MS, LAMBDA_SYNC_PAYLOAD_MAX_BYTES,
};
use portico_shared::limits::{LAMBDA_LIST_DEFAULT, LAMBDA_LIST_MAX, LAMBDA_REAP_INTERVAL_MS};
use serde::Deserialize;

use crate::error::ApiError;
use crate::store::{Change, CodeZip, Kind, Row, Store, LAMBDA_SCOPE};
use crate::AdminState;

mod code;
mod host;
mod records;
mod runtime_api;
#[cfg(test)]
mod tests;

use host::{lock, Function, HostShared, Outcome, Spec};
use records::{
    check_settings, validation_error, ConcurrencyInput, CreateInput, FunctionConfiguration,
    StoredFunction, UpdateCodeInput, UpdateConfigInput,
};

/// A Lambda API error, answered as Lambda does: the status, `x-amzn-ErrorType` and
/// `{"Type": "User", "message": ...}` (botocore reads the code from the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LambdaError {
    /// 404 `ResourceNotFoundException`.
    NotFound(String),
    /// 409 `ResourceConflictException`.
    Conflict(String),
    /// 400 `InvalidParameterValueException`.
    InvalidParameter(String),
    /// 400 `ValidationException` (the request's shape).
    Validation(String),
    /// 400 `InvalidRequestContentException` (a body that is not JSON).
    InvalidRequestContent(String),
    /// 413 `RequestTooLargeException`.
    TooLarge(String),
    /// 429 `TooManyRequestsException` with its `Reason`.
    TooManyRequests { reason: &'static str },
    /// 500 `ServiceException`; the detail is logged, not sent.
    Service(String),
}

/// The functions hosted by this gateway, their instances and the directory the data plane
/// reads.
#[derive(Debug, Clone)]
pub struct FunctionHost {
    inner: Arc<HostInner>,
}

#[derive(Debug)]
struct HostInner {
    store: Arc<dyn Store>,
    /// `{data dir}/functions`: one directory per function, one per code revision in it.
    root: PathBuf,
    /// `root` is a temporary directory of this process (a store without a data directory):
    /// removed when the host goes.
    temp_root: bool,
    shared: Arc<HostShared>,
    /// Concurrency limit of a function without reserved concurrency: cores × 2.
    default_limit: usize,
    functions: Mutex<BTreeMap<String, Arc<Function>>>,
    /// One change at a time (create, update, delete); invocations never take it.
    writes: tokio::sync::Mutex<()>,
    directory: FunctionDirectoryCell,
}

// === impl LambdaError ===

impl LambdaError {
    pub(crate) fn not_found(arn: &str) -> LambdaError {
        LambdaError::NotFound(format!("Function not found: {arn}"))
    }

    fn status(&self) -> StatusCode {
        match self {
            LambdaError::NotFound(_) => StatusCode::NOT_FOUND,
            LambdaError::Conflict(_) => StatusCode::CONFLICT,
            LambdaError::InvalidParameter(_)
            | LambdaError::Validation(_)
            | LambdaError::InvalidRequestContent(_) => StatusCode::BAD_REQUEST,
            LambdaError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            LambdaError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            LambdaError::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            LambdaError::NotFound(_) => "ResourceNotFoundException",
            LambdaError::Conflict(_) => "ResourceConflictException",
            LambdaError::InvalidParameter(_) => "InvalidParameterValueException",
            LambdaError::Validation(_) => "ValidationException",
            LambdaError::InvalidRequestContent(_) => "InvalidRequestContentException",
            LambdaError::TooLarge(_) => "RequestTooLargeException",
            LambdaError::TooManyRequests { .. } => "TooManyRequestsException",
            LambdaError::Service(_) => "ServiceException",
        }
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        let body = match &self {
            LambdaError::NotFound(m)
            | LambdaError::Conflict(m)
            | LambdaError::InvalidParameter(m)
            | LambdaError::Validation(m)
            | LambdaError::InvalidRequestContent(m)
            | LambdaError::TooLarge(m) => serde_json::json!({ "Type": "User", "message": m }),
            LambdaError::TooManyRequests { reason } => {
                serde_json::json!({ "Type": "User", "message": "Rate Exceeded.", "Reason": reason })
            }
            LambdaError::Service(detail) => {
                tracing::error!(error = %detail, "lambda service error");
                serde_json::json!({ "Type": "Service", "message": "Internal error" })
            }
        };
        let mut r = (self.status(), Json(body)).into_response();
        r.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.code()));
        r
    }
}

impl From<ApiError> for LambdaError {
    fn from(e: ApiError) -> LambdaError {
        LambdaError::Service(e.to_string())
    }
}

// === impl HostInner ===

impl Drop for HostInner {
    fn drop(&mut self) {
        if self.temp_root {
            code::remove(&self.root);
        }
    }
}

// === impl FunctionHost ===

impl FunctionHost {
    /// Loads the functions stored in `store` (no process starts until an invocation). Their
    /// code lives under the store's data directory, or a fresh temporary one for a store with
    /// none (tests).
    pub(crate) fn open(store: Arc<dyn Store>) -> Result<FunctionHost, ApiError> {
        static TEMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let (root, temp_root) = match store.data_dir() {
            Some(d) => (d.join("functions"), false),
            None => (
                std::env::temp_dir().join(format!(
                    "portico-functions-{}-{}",
                    std::process::id(),
                    TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
                )),
                true,
            ),
        };
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        let shared = Arc::new(HostShared::new(
            env("PORTICO_REGION", "us-east-1"),
            env("PORTICO_ACCOUNT_ID", "000000000000"),
        ));
        let default_limit = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        let mut functions = BTreeMap::new();
        let rows = store
            .load()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        for row in rows.into_iter().filter(|r| r.api_id == LAMBDA_SCOPE) {
            let stored: StoredFunction = serde_json::from_str(&row.doc)
                .map_err(|e| ApiError::Internal(format!("stored function {}: {e}", row.id)))?;
            let dir = root.join(&row.id).join(&stored.code_revision);
            if let Err(e) = fetch_code(store.as_ref(), &root, &row.id, &stored.code_revision) {
                tracing::error!(function = %row.id, error = %e,
                    "function code is missing and the store could not be read");
            }
            let spec = spec(stored, dir, 1, default_limit);
            functions.insert(row.id, Arc::new(Function::new(Arc::clone(&shared), spec)));
        }
        let host = FunctionHost {
            inner: Arc::new(HostInner {
                store,
                root,
                temp_root,
                shared,
                default_limit,
                functions: Mutex::new(functions),
                writes: tokio::sync::Mutex::new(()),
                directory: Arc::new(ArcSwap::from_pointee(FunctionDirectory::default())),
            }),
        };
        host.publish(None);
        Ok(host)
    }

    /// What the data plane reads: the hosted function names and where `Invoke` is served.
    pub fn directory(&self) -> FunctionDirectoryCell {
        Arc::clone(&self.inner.directory)
    }

    /// Records the admin listener's address in the directory (once bound).
    pub(crate) fn set_invoke_addr(&self, addr: std::net::SocketAddr) {
        self.publish(Some(addr));
    }

    fn publish(&self, addr: Option<std::net::SocketAddr>) {
        let names = lock(&self.inner.functions)
            .keys()
            .map(|k| k.as_str().into())
            .collect();
        let invoke_addr = addr.or(self.inner.directory.load().invoke_addr);
        self.inner
            .directory
            .store(Arc::new(FunctionDirectory { names, invoke_addr }));
    }

    /// Stops idle instances past `LAMBDA_IDLE_S`, forever (a task on the admin runtime).
    pub(crate) async fn reap_loop(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(LAMBDA_REAP_INTERVAL_MS));
        loop {
            tick.tick().await;
            let functions: Vec<Arc<Function>> =
                lock(&self.inner.functions).values().cloned().collect();
            for f in functions {
                f.reap(Duration::from_secs(LAMBDA_IDLE_S));
            }
        }
    }

    /// Stops every instance at shutdown: SIGTERM to each process group, SIGKILL to what is
    /// left after `LAMBDA_STOP_GRACE_MS`, and waits (bounded) until the processes are reaped.
    /// Blocking; call it outside the admin runtime.
    pub fn stop_blocking(&self) {
        self.inner.shared.stopping.store(true, Ordering::Release);
        let functions: Vec<Arc<Function>> = lock(&self.inner.functions).values().cloned().collect();
        let wait = |limit: Duration| {
            let start = std::time::Instant::now();
            while functions.iter().any(|f| f.instance_count() > 0) && start.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        for f in &functions {
            f.shut(
                || LambdaError::Service("the gateway is shutting down".into()),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        wait(Duration::from_millis(LAMBDA_STOP_GRACE_MS));
        for f in &functions {
            for i in f.live_instances() {
                i.signal(nix::sys::signal::Signal::SIGKILL);
            }
        }
        wait(Duration::from_millis(LAMBDA_STOP_GRACE_MS));
    }

    fn get(&self, name_or_arn: &str) -> Result<Arc<Function>, LambdaError> {
        let name = function_name(name_or_arn);
        lock(&self.inner.functions)
            .get(name)
            .cloned()
            .ok_or_else(|| LambdaError::not_found(&self.arn(name)))
    }

    fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.inner.shared.region, self.inner.shared.account
        )
    }

    async fn commit(&self, changes: Vec<Change>) -> Result<(), LambdaError> {
        let store = Arc::clone(&self.inner.store);
        tokio::task::spawn_blocking(move || store.commit(&changes))
            .await
            .map_err(|e| LambdaError::Service(format!("store task failed: {e}")))?
            .map_err(|e| LambdaError::Service(e.to_string()))
    }

    async fn unpack(&self, name: &str, zip_b64: String) -> Result<code::Unpacked, LambdaError> {
        let dir = self.inner.root.join(name);
        let revision = format!("r{}", self.inner.shared.request_id().replace('-', ""));
        tokio::task::spawn_blocking(move || code::unpack(&dir, &revision, &zip_b64))
            .await
            .map_err(|e| LambdaError::Service(format!("unpack task failed: {e}")))?
    }

    fn spec_for(&self, stored: StoredFunction, generation: u64) -> Spec {
        let dir = self
            .inner
            .root
            .join(&stored.configuration.function_name)
            .join(&stored.code_revision);
        spec(stored, dir, generation, self.inner.default_limit)
    }

    /// Commits `stored` (an update of an existing function) and installs it.
    async fn save(
        &self,
        function: &Function,
        stored: StoredFunction,
        restart: bool,
    ) -> Result<(), LambdaError> {
        self.save_with(function, stored, restart, Vec::new()).await
    }

    /// [`Self::save`], committing `extra` changes in the same transaction.
    async fn save_with(
        &self,
        function: &Function,
        stored: StoredFunction,
        restart: bool,
        extra: Vec<Change>,
    ) -> Result<(), LambdaError> {
        let mut changes = vec![Change::Put(row(&stored)?)];
        changes.extend(extra);
        self.commit(changes).await?;
        let generation = function.spec().generation + u64::from(restart);
        function.replace_spec(self.spec_for(stored, generation), restart);
        Ok(())
    }
}

/// What [`FunctionHost::follow`] changed: the functions now hosted and those no longer.
#[derive(Debug, Default)]
pub(crate) struct Followed {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
}

impl FunctionHost {
    /// Makes the hosted functions match `rows` (the store's `$lambda` scope, committed by other
    /// nodes of a cluster): a function new here or with a new code revision gets that revision
    /// unpacked from the store before it is installed; one gone from the store is stopped and
    /// its code removed. Unchanged functions keep their warm instances.
    pub(crate) async fn follow(&self, rows: Vec<Row>) -> Result<Followed, ApiError> {
        let _write = self.inner.writes.lock().await;
        let mut wanted = BTreeMap::new();
        for row in rows.into_iter().filter(|r| r.api_id == LAMBDA_SCOPE) {
            let stored: StoredFunction = serde_json::from_str(&row.doc)
                .map_err(|e| ApiError::Internal(format!("stored function {}: {e}", row.id)))?;
            wanted.insert(row.id, stored);
        }
        let current = lock(&self.inner.functions).clone();
        let mut out = Followed::default();
        for (name, stored) in &wanted {
            let old = current.get(name).map(|f| f.spec());
            if old.as_ref().is_some_and(|o| o.stored == *stored) {
                continue;
            }
            let (store, root) = (Arc::clone(&self.inner.store), self.inner.root.clone());
            let (n, rev) = (name.clone(), stored.code_revision.clone());
            tokio::task::spawn_blocking(move || fetch_code(store.as_ref(), &root, &n, &rev))
                .await
                .map_err(|e| ApiError::Internal(format!("unpack task failed: {e}")))??;
            match (current.get(name), old) {
                (Some(function), Some(old)) => {
                    let restart = old.stored.code_revision != stored.code_revision
                        || old.stored.configuration != stored.configuration;
                    let generation = old.generation + u64::from(restart);
                    function.replace_spec(self.spec_for(stored.clone(), generation), restart);
                    if old.stored.code_revision != stored.code_revision {
                        let dir = old.task_root.clone();
                        tokio::task::spawn_blocking(move || code::remove(&dir));
                    }
                }
                _ => {
                    let spec = self.spec_for(stored.clone(), 1);
                    let function = Function::new(Arc::clone(&self.inner.shared), spec);
                    lock(&self.inner.functions).insert(name.clone(), Arc::new(function));
                    out.added.push(name.clone());
                }
            }
            tracing::info!(function = %name, revision = %stored.code_revision,
                "function changed on another node; following");
        }
        for (name, function) in &current {
            if wanted.contains_key(name) {
                continue;
            }
            lock(&self.inner.functions).remove(name);
            let arn = function.arn.to_string();
            function.shut(
                || LambdaError::not_found(&arn),
                nix::sys::signal::Signal::SIGKILL,
            );
            let dir = self.inner.root.join(name);
            tokio::task::spawn_blocking(move || code::remove(&dir));
            out.removed.push(name.clone());
        }
        self.publish(None);
        Ok(out)
    }
}

/// Makes sure `root/{function}/{revision}` holds the function's code: when it is missing
/// (another node uploaded it, or this node's disk lost it), unpacks the zip the store keeps.
/// Logs what cannot be done: invocations then fail until the code is updated. Blocking.
/// The store's own failure (unreachable) is returned, for the caller to retry.
fn fetch_code(
    store: &dyn Store,
    root: &std::path::Path,
    function: &str,
    revision: &str,
) -> Result<(), crate::store::StoreError> {
    let dir = root.join(function);
    if revision.is_empty() || dir.join(revision).is_dir() {
        return Ok(());
    }
    let unpacked = match store.load_code(function, revision)? {
        Some(zip) => code::unpack_zip(&dir, revision, zip)
            .map(drop)
            .map_err(|e| format!("{e:?}")),
        None => Err("the store keeps no copy of it".to_string()),
    };
    match unpacked {
        Ok(()) => tracing::info!(function, revision, "function code unpacked from the store"),
        Err(error) => tracing::error!(function, revision, %error,
            "function code is missing; invocations will fail until its code is updated"),
    }
    Ok(())
}

fn spec(stored: StoredFunction, task_root: PathBuf, generation: u64, default_limit: usize) -> Spec {
    Spec {
        generation,
        timeout: Duration::from_secs(u64::from(stored.configuration.timeout)),
        limit: stored
            .reserved_concurrent_executions
            .map_or(default_limit, |n| n as usize),
        task_root,
        stored,
    }
}

fn row(stored: &StoredFunction) -> Result<Row, LambdaError> {
    Ok(Row {
        api_id: LAMBDA_SCOPE.into(),
        kind: Kind::Function,
        id: stored.configuration.function_name.clone(),
        doc: serde_json::to_string(stored).map_err(|e| LambdaError::Service(e.to_string()))?,
    })
}

// === handlers ===

/// The routes (botocore's `lambda` model paths).
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(create_function).get(list_functions),
        )
        .route("/2015-03-31/functions/", get(list_functions))
        .route(
            "/2015-03-31/functions/{name}",
            get(get_function).delete(delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_function_configuration).put(update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            put(update_function_code),
        )
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(put_concurrency).delete(delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(get_concurrency),
        )
}

type Answer = Result<Response, LambdaError>;

fn parse<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, LambdaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        LambdaError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
    })
}

fn null(member: &str) -> String {
    format!("Value null at '{member}' failed to satisfy constraint: Member must not be null")
}

#[derive(Debug, Default, Deserialize)]
struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

/// Only `$LATEST` exists here (no versions or aliases).
fn check_qualifier(host: &FunctionHost, name: &str, q: &QualifierQuery) -> Result<(), LambdaError> {
    let rest = name
        .find(":function:")
        .map_or(name, |i| &name[i + ":function:".len()..]);
    let from_name = rest.split_once(':').map(|(_, q)| q);
    for q in q.qualifier.as_deref().into_iter().chain(from_name) {
        if q != "$LATEST" {
            return Err(LambdaError::NotFound(format!(
                "Function not found: {}:{q}",
                host.arn(function_name(name))
            )));
        }
    }
    Ok(())
}

async fn create_function(State(state): State<AdminState>, body: Bytes) -> Answer {
    let host = state.functions();
    let input: CreateInput = parse(&body)?;
    let mut problems = Vec::new();
    match input.function_name.as_deref() {
        None => problems.push(null("functionName")),
        Some(n) if !records::valid_name(function_name(n)) => problems.push(format!(
            "Value '{n}' at 'functionName' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: [a-zA-Z0-9-_]{{1,64}}"
        )),
        Some(_) => {}
    }
    if input.role.is_none() {
        problems.push(null("role"));
    }
    if input.code.is_none() {
        problems.push(null("code"));
    }
    if let Some(c) = input.reserved_concurrent_executions {
        if c < 0 {
            problems.push(format!(
                "Value '{c}' at 'reservedConcurrentExecutions' failed to satisfy constraint: \
                 Member must have value greater than or equal to 0"
            ));
        }
    }
    // Shape problems first (all of them), then the semantic ones, as Lambda.
    let semantic = check_settings(
        input.runtime.as_deref(),
        input.handler.as_deref(),
        input.timeout,
        input.memory_size,
        input.environment.as_ref(),
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(validation_error(problems));
    }
    semantic?;
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(LambdaError::InvalidParameter(
            "Portico runs Zip packages only (PackageType Image is not supported)".into(),
        ));
    }
    let Some(runtime) = input.runtime.clone() else {
        return Err(LambdaError::InvalidParameter(
            "Runtime and Handler are mandatory parameters for functions created with deployment \
             packages."
                .into(),
        ));
    };
    let code = input.code.unwrap_or_default();
    if code.s3_bucket.is_some() || code.image_uri.is_some() {
        return Err(LambdaError::InvalidParameter(
            "Portico takes code as Code.ZipFile only (no S3 or container images)".into(),
        ));
    }
    let Some(zip) = code.zip_file else {
        return Err(LambdaError::InvalidParameter(
            "Please provide a source for function code.".into(),
        ));
    };
    let name = function_name(input.function_name.as_deref().unwrap_or_default()).to_owned();
    let _write = host.inner.writes.lock().await;
    if lock(&host.inner.functions).contains_key(&name) {
        return Err(LambdaError::Conflict(format!(
            "Function already exist: {name}"
        )));
    }
    let unpacked = host.unpack(&name, zip).await?;
    let revision = unpacked
        .dir
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stored = StoredFunction {
        configuration: FunctionConfiguration {
            function_arn: host.arn(&name),
            function_name: name.clone(),
            runtime,
            role: input.role.unwrap_or_default(),
            handler: input.handler.unwrap_or_default(),
            code_size: unpacked.zip_bytes,
            description: input.description.unwrap_or_default(),
            timeout: records::timeout_s(input.timeout),
            memory_size: records::memory_mb(input.memory_size),
            last_modified: records::last_modified(crate::ids::now_secs()),
            code_sha256: unpacked.sha256,
            version: "$LATEST".into(),
            environment: input.environment.unwrap_or_default(),
            revision_id: host.inner.shared.request_id().to_string(),
            state: "Active".into(),
            last_update_status: "Successful".into(),
            package_type: "Zip".into(),
            architectures: vec![std::env::consts::ARCH.replace("aarch64", "arm64")],
        },
        code_revision: revision,
        reserved_concurrent_executions: input
            .reserved_concurrent_executions
            .and_then(|c| u32::try_from(c).ok()),
    };
    let changes = vec![
        Change::Put(row(&stored)?),
        Change::PutCode {
            function: name.clone(),
            revision: stored.code_revision.clone(),
            zip: CodeZip(unpacked.zip),
        },
    ];
    if let Err(e) = host.commit(changes).await {
        code::remove(&host.inner.root.join(&name));
        return Err(e);
    }
    let conf = stored.configuration.clone();
    let function = Function::new(Arc::clone(&host.inner.shared), host.spec_for(stored, 1));
    lock(&host.inner.functions).insert(name.clone(), Arc::new(function));
    host.publish(None);
    state
        .write(move |c| {
            c.rebind_function(&name, true);
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(conf)).into_response())
}

async fn get_function(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Answer {
    let host = state.functions();
    check_qualifier(host, &name, &q)?;
    let spec = host.get(&name)?.spec();
    let mut out = serde_json::json!({
        "Configuration": spec.stored.configuration,
        "Code": {
            "RepositoryType": "Portico",
            "Location": format!("file://{}", spec.task_root.display()),
        },
        "Tags": {},
    });
    if let Some(n) = spec.stored.reserved_concurrent_executions {
        out["Concurrency"] = serde_json::json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(Json(out).into_response())
}

async fn get_function_configuration(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Answer {
    let host = state.functions();
    check_qualifier(host, &name, &q)?;
    let spec = host.get(&name)?.spec();
    Ok(Json(&spec.stored.configuration).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<String>,
}

async fn list_functions(State(state): State<AdminState>, Query(q): Query<ListQuery>) -> Answer {
    let host = state.functions();
    let max = match q.max_items.as_deref() {
        None => LAMBDA_LIST_DEFAULT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=LAMBDA_LIST_MAX).contains(&n) => n,
            _ => {
                return Err(validation_error(vec![format!(
                    "Value '{s}' at 'maxItems' failed to satisfy constraint: Member must have \
                     value less than or equal to {LAMBDA_LIST_MAX} and greater than or equal to 1"
                )]))
            }
        },
    };
    let after = match q.marker.as_deref() {
        None => None,
        Some(m) => Some(
            hex::decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| LambdaError::InvalidParameter(format!("Invalid marker: {m}")))?,
        ),
    };
    let functions = lock(&host.inner.functions).clone();
    let mut page = Vec::new();
    let mut next = None;
    let range = match &after {
        Some(a) => {
            functions.range::<String, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
        }
        None => functions.range::<String, _>(..),
    };
    for (name, f) in range {
        if page.len() == max {
            next = page
                .last()
                .map(|c: &FunctionConfiguration| hex::encode(&c.function_name));
            break;
        }
        let _ = name;
        page.push(f.spec().stored.configuration.clone());
    }
    let mut out = serde_json::json!({ "Functions": page });
    if let Some(n) = next {
        out["NextMarker"] = n.into();
    }
    Ok(Json(out).into_response())
}

async fn delete_function(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Answer {
    let host = state.functions();
    check_qualifier(host, &name, &q)?;
    let _write = host.inner.writes.lock().await;
    let function = host.get(&name)?;
    host.commit(vec![
        Change::Delete {
            api_id: LAMBDA_SCOPE.into(),
            kind: Kind::Function,
            id: function.name.to_string(),
        },
        Change::DeleteCode {
            function: function.name.to_string(),
            keep: None,
        },
    ])
    .await?;
    lock(&host.inner.functions).remove(&*function.name);
    host.publish(None);
    let name = function.name.to_string();
    state
        .write(move |c| {
            c.rebind_function(&name, false);
            Ok(())
        })
        .await?;
    let arn = function.arn.to_string();
    function.shut(
        || LambdaError::not_found(&arn),
        nix::sys::signal::Signal::SIGKILL,
    );
    let dir = host.inner.root.join(&*function.name);
    tokio::task::spawn_blocking(move || code::remove(&dir));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn update_function_code(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer {
    let host = state.functions();
    let input: UpdateCodeInput = parse(&body)?;
    if input.s3_bucket.is_some() || input.image_uri.is_some() {
        return Err(LambdaError::InvalidParameter(
            "Portico takes code as ZipFile only (no S3 or container images)".into(),
        ));
    }
    let Some(zip) = input.zip_file else {
        return Err(LambdaError::InvalidParameter(
            "Please provide a source for function code.".into(),
        ));
    };
    let _write = host.inner.writes.lock().await;
    let function = host.get(&name)?;
    let old = function.spec();
    let unpacked = host.unpack(&function.name, zip).await?;
    let mut stored = old.stored.clone();
    stored.code_revision = unpacked
        .dir
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let c = &mut stored.configuration;
    c.code_size = unpacked.zip_bytes;
    c.code_sha256 = unpacked.sha256;
    c.last_modified = records::last_modified(crate::ids::now_secs());
    c.revision_id = host.inner.shared.request_id().to_string();
    let conf = stored.configuration.clone();
    let code = vec![
        Change::PutCode {
            function: function.name.to_string(),
            revision: stored.code_revision.clone(),
            zip: CodeZip(unpacked.zip),
        },
        Change::DeleteCode {
            function: function.name.to_string(),
            keep: Some(stored.code_revision.clone()),
        },
    ];
    if let Err(e) = host.save_with(&function, stored, true, code).await {
        code::remove(&unpacked.dir);
        return Err(e);
    }
    // The old code's instances were retired; their files can go (open files stay readable).
    let old_dir = old.task_root.clone();
    tokio::task::spawn_blocking(move || code::remove(&old_dir));
    Ok(Json(conf).into_response())
}

async fn update_function_configuration(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer {
    let host = state.functions();
    let input: UpdateConfigInput = parse(&body)?;
    let _write = host.inner.writes.lock().await;
    let function = host.get(&name)?;
    let mut stored = function.spec().stored.clone();
    let c = &mut stored.configuration;
    let mut problems = Vec::new();
    let handler = input.handler.as_deref().unwrap_or(&c.handler).to_owned();
    let runtime = input.runtime.as_deref().unwrap_or(&c.runtime).to_owned();
    let semantic = check_settings(
        Some(&runtime),
        Some(&handler),
        input.timeout,
        input.memory_size,
        input.environment.as_ref(),
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(validation_error(problems));
    }
    semantic?;
    c.handler = handler;
    c.runtime = runtime;
    if let Some(r) = input.role {
        c.role = r;
    }
    if let Some(d) = input.description {
        c.description = d;
    }
    if input.timeout.is_some() {
        c.timeout = records::timeout_s(input.timeout);
    }
    if input.memory_size.is_some() {
        c.memory_size = records::memory_mb(input.memory_size);
    }
    if let Some(e) = input.environment {
        c.environment = e;
    }
    c.last_modified = records::last_modified(crate::ids::now_secs());
    c.revision_id = host.inner.shared.request_id().to_string();
    let conf = stored.configuration.clone();
    host.save(&function, stored, true).await?;
    Ok(Json(conf).into_response())
}

async fn put_concurrency(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer {
    let host = state.functions();
    let input: ConcurrencyInput = parse(&body)?;
    let n = match input.reserved_concurrent_executions {
        None => return Err(validation_error(vec![null("reservedConcurrentExecutions")])),
        Some(n) => u32::try_from(n).map_err(|_| {
            validation_error(vec![format!(
                "Value '{n}' at 'reservedConcurrentExecutions' failed to satisfy constraint: \
                 Member must have value greater than or equal to 0"
            )])
        })?,
    };
    let _write = host.inner.writes.lock().await;
    let function = host.get(&name)?;
    let mut stored = function.spec().stored.clone();
    stored.reserved_concurrent_executions = Some(n);
    host.save(&function, stored, false).await?;
    Ok(Json(serde_json::json!({ "ReservedConcurrentExecutions": n })).into_response())
}

async fn get_concurrency(State(state): State<AdminState>, Path(name): Path<String>) -> Answer {
    let spec = state.functions().get(&name)?.spec();
    Ok(Json(match spec.stored.reserved_concurrent_executions {
        Some(n) => serde_json::json!({ "ReservedConcurrentExecutions": n }),
        None => serde_json::json!({}),
    })
    .into_response())
}

async fn delete_concurrency(State(state): State<AdminState>, Path(name): Path<String>) -> Answer {
    let host = state.functions();
    let _write = host.inner.writes.lock().await;
    let function = host.get(&name)?;
    let mut stored = function.spec().stored.clone();
    stored.reserved_concurrent_executions = None;
    host.save(&function, stored, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `Invoke`: `RequestResponse` (200 with the function's answer, `X-Amz-Function-Error` on a
/// function error), `Event` (202 at once, run in the background), `DryRun` (204).
async fn invoke(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
    payload: Bytes,
) -> Answer {
    let host = state.functions();
    check_qualifier(host, &name, &q)?;
    let function = host.get(&name)?;
    let kind = headers
        .get("x-amz-invocation-type")
        .map_or(Ok("RequestResponse"), |v| v.to_str())
        .unwrap_or("");
    let limit = match kind {
        "RequestResponse" | "DryRun" => LAMBDA_SYNC_PAYLOAD_MAX_BYTES,
        "Event" => LAMBDA_EVENT_PAYLOAD_MAX_BYTES,
        other => {
            return Err(validation_error(vec![format!(
                "Value '{other}' at 'invocationType' failed to satisfy constraint: Member must \
                 satisfy enum value set: [Event, RequestResponse, DryRun]"
            )]))
        }
    };
    if payload.len() > limit {
        return Err(LambdaError::TooLarge(format!(
            "Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )));
    }
    let payload = if payload.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
            return Err(LambdaError::InvalidRequestContent(format!(
                "Could not parse request body into json: {e}"
            )));
        }
        payload
    };
    let client_context = match headers.get("x-amz-client-context") {
        None => None,
        Some(v) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .ok()
                .and_then(|b| HeaderValue::from_bytes(&b).ok());
            match decoded {
                Some(h) => Some(h),
                None => {
                    return Err(LambdaError::InvalidParameter(
                        "Client context must be a valid Base64-encoded JSON object.".into(),
                    ))
                }
            }
        }
    };
    let request_id = host.inner.shared.request_id();
    let mut answer = match kind {
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            let in_flight = function.events_in_flight.fetch_add(1, Ordering::AcqRel);
            if in_flight >= LAMBDA_EVENTS_IN_FLIGHT_MAX {
                function.events_in_flight.fetch_sub(1, Ordering::AcqRel);
                return Err(LambdaError::TooManyRequests {
                    reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                });
            }
            let ticket =
                match host::submit(&function, payload, client_context, Arc::clone(&request_id)) {
                    Ok(t) => t,
                    Err(e) => {
                        function.events_in_flight.fetch_sub(1, Ordering::AcqRel);
                        return Err(e);
                    }
                };
            let id = Arc::clone(&request_id);
            tokio::spawn(async move {
                let r = ticket.outcome().await;
                function.events_in_flight.fetch_sub(1, Ordering::AcqRel);
                match r {
                    Ok(Outcome::Response(_)) => {}
                    Ok(Outcome::FunctionError(e)) => {
                        tracing::info!(function = %function.name, request_id = %id,
                            error = %String::from_utf8_lossy(&e), "event invocation failed");
                    }
                    Err(e) => tracing::info!(function = %function.name, request_id = %id,
                        error = ?e, "event invocation not run"),
                }
            });
            StatusCode::ACCEPTED.into_response()
        }
        _ => {
            let ticket = host::submit(&function, payload, client_context, Arc::clone(&request_id))?;
            let (body, failed) = match ticket.outcome().await? {
                Outcome::Response(b) => (b, false),
                Outcome::FunctionError(b) => (b, true),
            };
            let mut r = Response::new(Body::from(body));
            let h = r.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            h.insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            if failed {
                h.insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        answer.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(answer)
}
