//! Portico's admin REST API: an axum app on its own thread with its own tokio runtime.
//!
//! # Architecture
//! 1. [`app`] routes Amazon API Gateway's `apigatewayv2` control plane for HTTP APIs under
//!    `/v2/` (`v2/`, one file per resource), the `apigateway` (v1) control plane for REST APIs under
//!    `/restapis` (`v1/`), API keys, usage plans and usage (`usage/`), and Portico's own
//!    endpoints under `/portico/` (`portico.rs`).
//! 2. Handlers validate and call a [`Catalog`] operation (`v2/`, `v1/`, `import.rs`). The catalog
//!    sits behind one async lock and runs each operation on a blocking thread: validate →
//!    auto-deploy → compile the one API that changed → commit to the [`Store`] → publish
//!    `current.with_api(...)` into the [`SnapshotCell`] the workers read. A 2xx means committed
//!    and published.
//! 3. Errors are answered in AWS's shape (`{"message": ...}` with `x-amzn-ErrorType`), see
//!    [`ApiError`]; a failed validation or compile touches neither the store nor the cell.
//! 4. Stats are read from the [`StatsBoard`] without stopping a worker.
//!
//! Invariants: tokio lives only in this crate; nothing here runs on a data plane worker's thread;
//! publishes happen one at a time, in the order their changes were committed.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use portico_shared::limits::{
    ADMIN_BODY_MAX_BYTES, DOMAINS_BODY_MAX_BYTES, OPENAPI_DEFINITION_MAX_BYTES,
    RETIRED_SWEEP_INTERVAL_MS, V2_BODY_MAX_BYTES,
};
use portico_shared::model::{Config, ProtocolType};
use portico_shared::stats::StatsBoard;
use portico_shared::Snapshot;

mod account;
mod catalog;
pub mod cluster;
mod console;
pub mod dns;
mod domains;
mod error;
mod iam;
mod ids;
mod import;
mod jwks;
pub mod lambda;
pub mod limits;
pub mod metrics;
mod openapi;
mod operations;
mod page;
mod patch;
mod portico;
mod publish;
mod records;
mod region;
mod runtime;
pub mod sigv4;
pub mod store;
mod sts;
mod tags;
#[cfg(test)]
mod test_support;
mod usage;
mod v1;
mod v2;
mod vpc_link;
mod wire;
mod ws;

use catalog::Catalog;
pub use error::ApiError;
pub use import::ImportMode;
pub use lambda::FunctionHost;
pub use store::{MemoryStore, SqliteStore, Store};

/// The atomically swapped snapshot the data plane reads.
pub type SnapshotCell = Arc<ArcSwap<Snapshot>>;

/// Where the data plane serves APIs, for `apiEndpoint` (`http://{apiId}.{domain}:{port}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub domain: String,
    pub port: u16,
    /// The data plane's TLS listener port, when `--tls-listen` is on (custom domain names'
    /// `distributionDomainName`/`regionalDomainName` point there).
    pub tls_port: Option<u16>,
    /// The data directory: `file://` truststore URIs are read relative to it.
    pub data_dir: std::path::PathBuf,
    /// The admin listener, when bound before the state opens ([`bind`]): Lambda integrations
    /// naming a self-hosted function are compiled to invoke it there.
    pub admin_addr: Option<SocketAddr>,
    /// The data plane's account-level throttle (`--account-rate-limit`/`--account-burst-limit`),
    /// `None` when off: `GetAccount` shows it as `throttleSettings`.
    pub account_throttle: Option<portico_shared::throttle::Limits>,
    /// The default region (`serve --region`): of unsigned admin requests, and of resources
    /// stored before regions were kept (`region.rs`).
    pub region: String,
}

/// Shared state of the admin API.
#[derive(Debug, Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Every API, mirrored in the store. An async lock: operations hold it across the blocking
    /// task that commits and publishes, and readers wait without blocking the runtime.
    catalog: Arc<tokio::sync::Mutex<Catalog>>,
    /// The catalog's replaced snapshots, swept by a timer on the admin thread.
    retired: publish::Retired,
    stats: Arc<StatsBoard>,
    endpoint: Endpoint,
    /// When set, every admin request but `/ping` and `/metrics` must be SigV4-signed with them.
    credentials: Option<Arc<sigv4::AdminCredentials>>,
    /// Usage plan counters, flushed to the store in the background and at shutdown.
    usage_counters: usage::Counters,
    /// What the data plane reads: the JWKS fetcher finds the key slots to fill in it.
    cell: SnapshotCell,
    /// Self-hosted Lambda functions (`lambda/`): their own state and lock, never the catalog's.
    functions: FunctionHost,
    /// The cluster store this node follows (`cluster/`), when it runs on PostgreSQL.
    cluster: std::sync::OnceLock<Arc<cluster::ClusterNode>>,
    /// Limits and quotas shared through Redis (`limits.rs`), with `serve --redis`.
    shared_limits: std::sync::OnceLock<Arc<limits::SharedLimits>>,
    /// Every top-level resource's region (`region.rs`).
    regions: Arc<region::Regions>,
}

// === impl AdminState ===

impl AdminState {
    /// Loads `store` and publishes everything it holds into `cell`. Blocking: call it before the
    /// admin runtime starts (or from `spawn_blocking`).
    pub fn open(
        store: Arc<dyn Store>,
        cell: SnapshotCell,
        stats: Arc<StatsBoard>,
        endpoint: Endpoint,
        credentials: Option<sigv4::AdminCredentials>,
    ) -> Result<AdminState, ApiError> {
        let functions = FunctionHost::open(Arc::clone(&store))?;
        let regions = Arc::new(region::Regions::load(Arc::clone(&store), &endpoint.region)?);
        let local = endpoint.admin_addr.map(|addr| {
            let directory = functions.directory();
            portico_shared::lambda::LocalLambda {
                endpoint_url: format!("http://{addr}"),
                credentials: credentials.as_ref().map(|c| {
                    Arc::new(portico_shared::sigv4::Credentials::new(
                        c.access_key_id(),
                        c.secret_access_key(),
                        None,
                    ))
                }),
                // One atomic load per compiled target; never on the request path.
                is_hosted: Arc::new(move |name: &str| directory.load().hosts(name)),
            }
        });
        // The catalog writes through `regions`, which stores a new resource's region with it.
        let catalog_store: Arc<dyn Store> = regions.clone();
        let mut catalog = Catalog::load(catalog_store, Arc::clone(&cell), stats.workers(), local)?;
        if let Some(c) = &credentials {
            catalog.iam.set_root(
                &mut catalog.publisher,
                c.access_key_id(),
                c.secret_access_key(),
            );
        }
        Ok(AdminState {
            inner: Arc::new(Inner {
                retired: catalog.retired().clone(),
                usage_counters: catalog.usage.counters.clone(),
                catalog: Arc::new(tokio::sync::Mutex::new(catalog)),
                stats,
                endpoint,
                credentials: credentials.map(Arc::new),
                cell,
                functions,
                cluster: std::sync::OnceLock::new(),
                shared_limits: std::sync::OnceLock::new(),
                regions,
            }),
        })
    }

    /// Imports a configuration document (`--config FILE`): each API in it replaces the stored
    /// API with the same id. Blocking; call it outside the admin runtime.
    pub fn import_blocking(&self, config: &Config, mode: ImportMode) -> Result<u64, ApiError> {
        self.inner.catalog.blocking_lock().import(config, mode)
    }

    /// The last published generation. Blocking; call it outside the admin runtime.
    pub fn generation_blocking(&self) -> u64 {
        self.inner.catalog.blocking_lock().generation()
    }

    /// Writes the usage plan counters that changed to the store: the final flush at graceful
    /// shutdown, after the workers have drained. Blocking; call it outside the admin runtime.
    pub fn flush_usage_blocking(&self) -> Result<(), ApiError> {
        self.inner
            .usage_counters
            .flush()
            .map(drop)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Makes this node follow the changes other nodes commit to `store` (see `cluster/`); call
    /// it before [`spawn_on`], with the store this state was opened on.
    /// `directory`: where it publishes the other nodes' data plane addresses for the workers
    /// (`@connections` forwarding).
    pub fn follow(
        &self,
        store: Arc<store::PostgresStore>,
        data_addr: SocketAddr,
        directory: Arc<arc_swap::ArcSwap<portico_shared::cluster::NodeDirectory>>,
    ) {
        let _ = self.inner.cluster.set(Arc::new(cluster::ClusterNode::new(
            store, data_addr, directory,
        )));
    }

    /// Counts usage plan quotas through the shared limits from now on (`serve --redis`; the
    /// throttles are shared from [`limits::start`] on).
    pub fn share_limits(&self, shared: Arc<limits::SharedLimits>) {
        shared.attach(self.inner.usage_counters.clone());
        let _ = self.inner.shared_limits.set(shared);
    }

    /// The shared limits, with `serve --redis`.
    pub(crate) fn shared_limits(&self) -> Option<&Arc<limits::SharedLimits>> {
        self.inner.shared_limits.get()
    }

    /// This node's part in a cluster, when it runs on PostgreSQL.
    pub(crate) fn cluster(&self) -> Option<&Arc<cluster::ClusterNode>> {
        self.inner.cluster.get()
    }

    /// The self-hosted Lambda functions: their directory for the data plane, and
    /// [`FunctionHost::stop_blocking`] for shutdown.
    pub fn functions(&self) -> &FunctionHost {
        &self.inner.functions
    }

    pub fn stats(&self) -> &StatsBoard {
        &self.inner.stats
    }

    /// Runs a change on a blocking thread with the catalog held: one at a time, in arrival order
    /// (tokio's mutex is fair).
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Catalog) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let mut guard = Arc::clone(&self.inner.catalog).lock_owned().await;
        let region = region::current();
        tokio::task::spawn_blocking(move || region::within(region, || f(&mut guard)))
            .await
            .map_err(|e| ApiError::Internal(format!("admin task failed: {e}")))?
    }

    /// Reads the catalog (waits for a change in progress).
    pub(crate) async fn read<T>(
        &self,
        f: impl FnOnce(&Catalog) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let guard = self.inner.catalog.lock().await;
        f(&guard)
    }

    /// Every top-level resource's region.
    pub(crate) fn regions(&self) -> &Arc<region::Regions> {
        &self.inner.regions
    }

    /// Where the data plane serves.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// Fills in `apiEndpoint`.
    pub(crate) fn endpoint_fn(
        &self,
    ) -> impl Fn(records::ApiRecord) -> records::ApiRecord + Send + 'static {
        let e = self.inner.endpoint.clone();
        move |mut a| {
            let scheme = if a.protocol_type == ProtocolType::Websocket {
                "ws"
            } else {
                "http"
            };
            a.api_endpoint = Some(format!("{scheme}://{}.{}:{}", a.api_id, e.domain, e.port));
            a
        }
    }
}

/// The admin app. Cross-cutting layers (request authentication, metrics) wrap it here, one line
/// each: `.layer(...)` below the routes, `.route("/metrics", ...)` beside them.
pub fn app(state: AdminState) -> Router {
    // Everything but the liveness probe and the Prometheus scrape (scrapers cannot sign) is
    // checked for a SigV4 signature when admin credentials are configured.
    let signed = Router::new()
        .merge(portico::router())
        .merge(cluster::router())
        .merge(v2::router().layer(DefaultBodyLimit::max(V2_BODY_MAX_BYTES)))
        .merge(usage::router().layer(DefaultBodyLimit::max(V2_BODY_MAX_BYTES)))
        .merge(v1::router().layer(DefaultBodyLimit::max(V2_BODY_MAX_BYTES)))
        // OpenAPI import and export; the paths it shares with `v2/` and `v1/` merge by method.
        .merge(openapi::router().layer(DefaultBodyLimit::max(OPENAPI_DEFINITION_MAX_BYTES)))
        // `POST /` carries two services: ACM (JSON 1.1, `X-Amz-Target: CertificateManager.*`)
        // and IAM's Query protocol (form-encoded `Action=...`).
        .route("/", axum::routing::post(post_root))
        .merge(lambda::router())
        .merge(domains::router().layer(DefaultBodyLimit::max(DOMAINS_BODY_MAX_BYTES)))
        .merge(vpc_link::router().layer(DefaultBodyLimit::max(V2_BODY_MAX_BYTES)))
        .merge(account::router().layer(DefaultBodyLimit::max(V2_BODY_MAX_BYTES)))
        .merge(tags::router().layer(DefaultBodyLimit::max(V2_BODY_MAX_BYTES)))
        .merge(metrics::profiling_router(Arc::clone(&state.inner.stats)))
        // A request for an operation Portico does not serve: a 400 naming it (operations.rs).
        .fallback(operations::fallback)
        .method_not_allowed_fallback(operations::fallback)
        .layer(axum::middleware::from_fn(operations::validate_enums))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            region::scope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cluster::version_header,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.inner.credentials.clone(),
            sigv4::require_sigv4,
        ));
    Router::new()
        .route("/ping", axum::routing::get(|| async { "pong" }))
        .merge(metrics::router(Arc::clone(&state.inner.stats)))
        // The console's page and scripts hold no data: it signs its own admin calls.
        .merge(console::router())
        .merge(signed)
        .layer(DefaultBodyLimit::max(ADMIN_BODY_MAX_BYTES))
        .layer(axum::middleware::map_response(with_request_id))
        .with_state(state)
}

/// Every answer on the admin listener carries a fresh `x-amzn-RequestId`, as AWS's do (botocore
/// reads `ResponseMetadata.RequestId` from it); one a handler set (Lambda's `Invoke`) is kept.
async fn with_request_id(mut r: axum::response::Response) -> axum::response::Response {
    if !r.headers().contains_key("x-amzn-requestid") {
        if let Ok(v) = axum::http::HeaderValue::from_str(&ids::request_id()) {
            r.headers_mut().insert("x-amzn-RequestId", v);
        }
    }
    r
}

/// Binds the admin listener: before [`AdminState::open`], so its address is known when Lambda
/// integrations are compiled (see [`Endpoint::admin_addr`]).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Binds `addr` and serves the admin API on a new thread with a current-thread tokio runtime.
/// Returns the bound address once listening.
pub fn spawn(
    addr: SocketAddr,
    state: AdminState,
) -> std::io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    spawn_on(bind(addr)?, state)
}

/// Serves the admin API on `listener` (from [`bind`]) on a new thread with a current-thread
/// tokio runtime. Returns the bound address.
pub fn spawn_on(
    listener: std::net::TcpListener,
    state: AdminState,
) -> std::io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let local = listener.local_addr()?;
    let handle = runtime::spawn_thread("portico-admin", "admin", move || {
        let retired = state.inner.retired.clone();
        let usage_counters = state.inner.usage_counters.clone();
        let cell = Arc::clone(&state.inner.cell);
        let functions = state.inner.functions.clone();
        functions.set_invoke_addr(local);
        let certificates = (state.clone(), state.inner.endpoint.data_dir.clone());
        let cluster = state.cluster().cloned().map(|node| {
            node.set_admin_addr(local);
            (state.clone(), node)
        });
        async move {
            // Changes committed by other nodes of a cluster are applied from here.
            if let Some((state, node)) = cluster {
                tokio::spawn(cluster::follow_loop(state, node));
            }
            // Certificate files in the data directory are imported from here.
            tokio::spawn(domains::files::watch_loop(certificates.0, certificates.1));
            // Idle function instances are stopped from here.
            tokio::spawn(functions.reap_loop());
            // JWT authorizer keys are fetched here, never by a worker.
            tokio::spawn(jwks::fetch_loop(Arc::clone(&cell)));
            // Lambda integrations' roles are assumed here, never by a worker.
            tokio::spawn(sts::assume_loop(Arc::clone(&cell)));
            // VPC link targets are health checked here, never by a worker.
            tokio::spawn(vpc_link::health_loop(cell));
            // Usage plan counters reach the store from here, never from a request.
            tokio::spawn(usage::flush_loop(usage_counters));
            // Replaced snapshots are freed here, never on a worker (see catalog.rs).
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(
                    RETIRED_SWEEP_INTERVAL_MS,
                ));
                loop {
                    tick.tick().await;
                    retired.sweep_when_quiet(std::time::Duration::from_millis(
                        RETIRED_SWEEP_INTERVAL_MS,
                    ));
                }
            });
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "admin listener failed");
                    return;
                }
            };
            if let Err(e) = axum::serve(listener, app(state)).await {
                tracing::error!(error = %e, "admin server stopped");
            }
        }
    })?;
    Ok((local, handle))
}

#[cfg(test)]
mod tests;

/// `POST /`: ACM when the request names an `X-Amz-Target` (JSON protocols), else IAM's Query
/// protocol.
async fn post_root(
    state: axum::extract::State<AdminState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if headers.contains_key("x-amz-target") {
        domains::acm::dispatch(state, headers, body).await
    } else {
        iam::handle(state, headers, body).await
    }
}
