//! Change propagation between the nodes of a cluster on a PostgreSQL store.
//!
//! # Architecture
//! Every commit appends a `changelog` row (see `store/postgres.rs`). Each node polls the
//! changelog every [`CLUSTER_POLL_INTERVAL_MS`] for versions after the one it has applied and, holding
//! the catalog (so no local commit interleaves), reads the touched scopes' documents again (APIs
//! of every type, usage plans and keys, IAM, custom domains, VPC links, the account: see
//! `Catalog::refresh`), compiles them and publishes them to its workers through the catalog's own
//! publish path, in version order. A failed poll (PostgreSQL down) changes nothing and is retried: the node
//! keeps serving its last-known-good configuration and catches up by version when the store
//! returns.
//!
//! After each poll the node writes its heartbeat row (`nodes`: node id = its admin address,
//! admin and data plane addresses, the version it serves). `GET /portico/cluster` lists the
//! nodes, their served version, last heartbeat and lag, and whether this node is stale (its last
//! successful poll is older than [`CLUSTER_STALE_AFTER_MS`]); when the store is unreachable it answers
//! from the node's own memory with `stale: true`. `GET /portico/cluster/wait?version=V` returns
//! once every live node (heartbeat within [`CLUSTER_LIVE_WITHIN_MS`]) serves V. A write's 2xx carries the
//! version it committed in `x-portico-version`.
//!
//! A `LISTEN` connection of its own wakes the loop as soon as another node commits, so a change
//! normally reaches every node in milliseconds; the poll stays as the fallback (a missed
//! notification, a broken `LISTEN` connection) and bounds the delay to one interval.
//!
//! `portico wait` (dataplane/src/cli/wait.rs) makes the admin call from the command line, signed.
//!
//! Self-hosted functions (`$lambda`) follow too: their zips are kept in PostgreSQL
//! (`function_code`, committed with the function's record), and a node unpacks a revision it
//! lacks before it installs it (`FunctionHost::follow`; at start, `FunctionHost::open`), so any
//! node can run any function.
//! The node table carries node identity and addresses for cross-node work: after each
//! heartbeat the node publishes the numbered nodes' data plane addresses ([`directory`]) to its
//! workers, which forward `@connections` calls for another node's connection there
//! (dataplane/src/ws/forward.rs).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use portico_shared::cluster::{NodeDirectory, NodeEntry};
use portico_shared::limits::{
    CLUSTER_LIVE_WITHIN_MS, CLUSTER_POLL_INTERVAL_MS, CLUSTER_STALE_AFTER_MS, CLUSTER_WAIT_MAX_S,
};

use crate::error::ApiError;
use crate::store::{PostgresStore, Store, IAM_SCOPE, LAMBDA_SCOPE, USAGE_SCOPE, VPC_LINK_SCOPE};
use crate::AdminState;

/// The `$` scopes the catalog refreshes (`$lambda` goes to the function host instead).
const SCOPES: [&str; 5] = [
    USAGE_SCOPE,
    IAM_SCOPE,
    VPC_LINK_SCOPE,
    crate::domains::DOMAIN_SCOPE,
    crate::account::ACCOUNT_SCOPE,
];

/// This node's part in a cluster.
#[derive(Debug)]
pub struct ClusterNode {
    store: Arc<PostgresStore>,
    /// The data plane's address, as other nodes and operators reach it.
    data_addr: SocketAddr,
    /// The admin listener's address: also the node id (unique among nodes sharing a store).
    admin_addr: OnceLock<SocketAddr>,
    /// The cluster version this node serves.
    applied: AtomicU64,
    /// When a poll last succeeded.
    last_ok: Mutex<Instant>,
    /// A change to `$lambda` was applied to the catalog's version but not yet to the function
    /// host (set until `FunctionHost::follow` succeeds).
    functions_behind: AtomicBool,
    /// The other nodes' data plane addresses by node number, for the workers (refreshed after
    /// each heartbeat).
    directory: Arc<ArcSwap<NodeDirectory>>,
}

impl ClusterNode {
    pub fn new(
        store: Arc<PostgresStore>,
        data_addr: SocketAddr,
        directory: Arc<ArcSwap<NodeDirectory>>,
    ) -> ClusterNode {
        ClusterNode {
            directory,
            applied: AtomicU64::new(store.opened_version()),
            store,
            data_addr,
            admin_addr: OnceLock::new(),
            last_ok: Mutex::new(Instant::now()),
            functions_behind: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_admin_addr(&self, addr: SocketAddr) {
        let _ = self.admin_addr.set(addr);
    }

    fn node_id(&self) -> String {
        self.admin_addr
            .get()
            .map_or_else(|| "unbound".to_string(), ToString::to_string)
    }

    fn stale_ms(&self) -> u64 {
        let last = *self.last_ok.lock().unwrap_or_else(|p| p.into_inner());
        last.elapsed().as_millis() as u64
    }

    /// The version this process committed last (for `x-portico-version`).
    pub(crate) fn committed_version(&self) -> u64 {
        self.store.last_version()
    }
}

/// `GET /portico/cluster` and `GET /portico/cluster/wait`.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/portico/cluster", get(get_cluster))
        .route("/portico/cluster/wait", get(wait))
}

/// Adds `x-portico-version` (the version this node committed last) to a write's 2xx.
pub(crate) async fn version_header(
    State(state): State<AdminState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let write = req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD;
    let mut res = next.run(req).await;
    if write && res.status().is_success() {
        if let Some(node) = state.cluster() {
            if let Ok(v) = HeaderValue::from_str(&node.committed_version().to_string()) {
                res.headers_mut().insert("x-portico-version", v);
            }
        }
    }
    res
}

fn not_clustered() -> ApiError {
    ApiError::BadRequest("This node runs on its own store (SQLite), not in a cluster".into())
}

/// The cluster view as JSON.
async fn view(node: &Arc<ClusterNode>) -> serde_json::Value {
    let stale_ms = node.stale_ms();
    let me = node.node_id();
    let applied = node.applied.load(Ordering::Acquire);
    let store = Arc::clone(&node.store);
    let listed = tokio::task::spawn_blocking(move || store.nodes()).await;
    match listed {
        Ok(Ok((current, rows))) => {
            let nodes: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "nodeId": r.node_id,
                        "adminAddress": r.admin_addr,
                        "dataPlaneAddress": r.data_addr,
                        "servedVersion": r.served_version,
                        "lastHeartbeat": r.last_heartbeat,
                        "heartbeatAgeMillis": r.heartbeat_age_ms,
                        "live": r.heartbeat_age_ms <= CLUSTER_LIVE_WITHIN_MS,
                        "lag": current.saturating_sub(r.served_version),
                        "self": r.node_id == me,
                    })
                })
                .collect();
            serde_json::json!({
                "version": current,
                "node": me,
                "servedVersion": applied,
                "stale": stale_ms > CLUSTER_STALE_AFTER_MS,
                "storeReachable": true,
                "nodes": nodes,
            })
        }
        _ => serde_json::json!({
            "node": me,
            "servedVersion": applied,
            "stale": true,
            "storeReachable": false,
            "lastStoreContactMillis": stale_ms,
            "nodes": [],
        }),
    }
}

async fn get_cluster(State(state): State<AdminState>) -> Response {
    let limits = state.shared_limits().map(|l| l.view());
    match (state.cluster(), limits) {
        (Some(node), limits) => {
            let mut v = view(node).await;
            if let Some(l) = limits {
                v["sharedLimits"] = l;
            }
            Json(v).into_response()
        }
        (None, Some(l)) => Json(serde_json::json!({ "sharedLimits": l })).into_response(),
        (None, None) => not_clustered().into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    version: u64,
    /// Seconds; default 30.
    timeout: Option<u64>,
}

/// Returns once every live node serves `version` (or later); 503 after `timeout` seconds.
async fn wait(State(state): State<AdminState>, Query(q): Query<WaitQuery>) -> Response {
    let Some(node) = state.cluster() else {
        return not_clustered().into_response();
    };
    let timeout = q.timeout.unwrap_or(30);
    if timeout > CLUSTER_WAIT_MAX_S {
        return ApiError::BadRequest(format!(
            "timeout must be at most {CLUSTER_WAIT_MAX_S} seconds"
        ))
        .into_response();
    }
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let store = Arc::clone(&node.store);
        if let Ok(Ok((_, rows))) = tokio::task::spawn_blocking(move || store.nodes()).await {
            let live: Vec<_> = rows
                .iter()
                .filter(|r| r.heartbeat_age_ms <= CLUSTER_LIVE_WITHIN_MS)
                .collect();
            if !live.is_empty() && live.iter().all(|r| r.served_version >= q.version) {
                return Json(serde_json::json!({
                    "version": q.version,
                    "nodes": live.iter().map(|r| r.node_id.clone()).collect::<Vec<_>>(),
                }))
                .into_response();
            }
        }
        if Instant::now() >= deadline {
            return ApiError::Unavailable(format!(
                "not every live node serves version {} after {timeout} s",
                q.version
            ))
            .into_response();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The numbered nodes' data plane addresses as the workers read them (`@connections`
/// forwarding); a node is live while its heartbeat is within [`CLUSTER_LIVE_WITHIN_MS`].
pub fn directory(store: &PostgresStore) -> Result<NodeDirectory, crate::store::StoreError> {
    let rows = store.node_directory()?;
    Ok(NodeDirectory::new(rows.into_iter().filter_map(
        |(n, addr, age_ms)| {
            Some((
                n,
                NodeEntry {
                    data_addr: addr.parse().ok()?,
                    live: age_ms <= CLUSTER_LIVE_WITHIN_MS,
                },
            ))
        },
    )))
}

/// Keeps a `LISTEN` connection open (on a blocking thread) and wakes the follow loop on each
/// notification; reconnects a second after the connection breaks.
async fn listen_loop(store: Arc<PostgresStore>, wake: Arc<tokio::sync::Notify>) {
    loop {
        let (s, w) = (Arc::clone(&store), Arc::clone(&wake));
        let ended = tokio::task::spawn_blocking(move || s.listen(|| w.notify_one())).await;
        tracing::debug!(?ended, "cluster LISTEN connection ended; reconnecting");
        tokio::time::sleep(Duration::from_millis(CLUSTER_POLL_INTERVAL_MS)).await;
    }
}

/// Follows the changelog from the version the store was opened at, forever; beats after each
/// poll.
pub(crate) async fn follow_loop(state: AdminState, node: Arc<ClusterNode>) {
    let wake = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(listen_loop(Arc::clone(&node.store), Arc::clone(&wake)));
    let mut tick = tokio::time::interval(Duration::from_millis(CLUSTER_POLL_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        let n = Arc::clone(&node);
        let regions = Arc::clone(state.regions());
        let result = state
            .write(move |catalog| {
                let store = &n.store;
                let from = n.applied.load(Ordering::Acquire);
                let changes = store.changes_since(from).map_err(crate::ApiError::from)?;
                let Some(last) = changes.last().map(|c| c.0) else {
                    return Ok(());
                };
                let everything = changes.iter().any(|c| c.1.iter().any(|id| id == "*"));
                if everything
                    || changes
                        .iter()
                        .any(|c| c.1.iter().any(|id| id == LAMBDA_SCOPE))
                {
                    n.functions_behind.store(true, Ordering::Release);
                }
                let scope = crate::region::REGION_SCOPE;
                if everything || changes.iter().any(|c| c.1.iter().any(|id| id == scope)) {
                    regions.refresh(store.load_scopes(&[scope.to_string()])?);
                }
                let (ids, rows) = if everything {
                    let rows: Vec<_> = store
                        .load()
                        .map_err(crate::ApiError::from)?
                        .into_iter()
                        .filter(|r| r.api_id != LAMBDA_SCOPE)
                        .collect();
                    let mut ids: BTreeSet<String> = catalog.api_ids().collect();
                    ids.extend(SCOPES.iter().map(|s| s.to_string()));
                    ids.extend(rows.iter().map(|r| r.api_id.clone()));
                    (ids, rows)
                } else {
                    let ids: BTreeSet<String> = changes
                        .into_iter()
                        .flat_map(|c| c.1)
                        .filter(|id| id != LAMBDA_SCOPE)
                        .collect();
                    let list: Vec<String> = ids.iter().cloned().collect();
                    let rows = store.load_scopes(&list).map_err(crate::ApiError::from)?;
                    (ids, rows)
                };
                catalog.refresh(&ids, rows)?;
                n.applied.store(last, Ordering::Release);
                tracing::debug!(version = last, apis = ids.len(), "applied cluster changes");
                Ok(())
            })
            .await;
        let result = match result {
            Ok(()) if node.functions_behind.load(Ordering::Acquire) => {
                follow_functions(&state, &node).await
            }
            other => other,
        };
        let result = match result {
            Ok(()) => {
                let n = Arc::clone(&node);
                let shared = state.shared_limits().cloned();
                let beat = tokio::task::spawn_blocking(move || {
                    n.store.heartbeat(
                        &n.node_id(),
                        &n.node_id(),
                        &n.data_addr.to_string(),
                        n.applied.load(Ordering::Acquire),
                    )?;
                    n.directory.store(Arc::new(directory(&n.store)?));
                    // The Redis fallback divides each limit by the live node count.
                    if let Some(l) = shared {
                        let (_, rows) = n.store.nodes()?;
                        let live = rows
                            .iter()
                            .filter(|r| r.heartbeat_age_ms <= CLUSTER_LIVE_WITHIN_MS)
                            .count();
                        l.set_live_nodes(live as u32);
                    }
                    Ok::<(), crate::store::StoreError>(())
                })
                .await;
                match beat {
                    Ok(Ok(())) => {
                        *node.last_ok.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                        Ok(())
                    }
                    Ok(Err(e)) => Err(ApiError::from(e)),
                    Err(e) => Err(ApiError::Internal(e.to_string())),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("cluster store reachable again; caught up");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot read the cluster store; serving the last-known-good configuration");
            }
            Err(_) => {}
        }
    }
}

/// Brings the function host up to the store's `$lambda` scope (code unpacked first), then
/// recompiles the APIs whose integrations name a function that came or went.
async fn follow_functions(state: &AdminState, node: &Arc<ClusterNode>) -> Result<(), ApiError> {
    let store = Arc::clone(&node.store);
    let rows = tokio::task::spawn_blocking(move || store.load_scopes(&[LAMBDA_SCOPE.to_string()]))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let followed = state.functions().follow(rows).await?;
    if !followed.added.is_empty() || !followed.removed.is_empty() {
        state
            .write(move |catalog| {
                for name in &followed.added {
                    catalog.rebind_function(name, true);
                }
                for name in &followed.removed {
                    catalog.rebind_function(name, false);
                }
                Ok(())
            })
            .await?;
    }
    node.functions_behind.store(false, Ordering::Release);
    Ok(())
}
