//! Portico's admin REST API: an axum app on its own thread with its own tokio runtime.
//!
//! # Architecture
//! 1. Handlers validate input and call [`AdminState::publish`], which compiles a
//!    [`portico_shared::Snapshot`] and swaps it into the [`SnapshotCell`] the workers read.
//! 2. A failed validation never touches the cell; errors are answered in AWS's shape
//!    (`{"message": ...}` with `x-amzn-ErrorType`).
//! 3. Stats are read from the [`StatsBoard`] without stopping a worker.
//!
//! Invariant: tokio lives only in this crate; nothing here runs on a data plane worker's thread.
//!
//! Endpoints so far (Portico's own, under `/portico/`; the `apigatewayv2` control plane lands
//! with its issue): `GET /portico/config`, `PUT /portico/config`, `GET /portico/stats`,
//! `GET /ping`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portico_shared::model::Config;
use portico_shared::snapshot::{compile_config, ConfigError};
use portico_shared::stats::StatsBoard;
use portico_shared::Snapshot;

pub mod metrics;
pub mod sigv4;

/// The atomically swapped snapshot the data plane reads.
pub type SnapshotCell = Arc<ArcSwap<Snapshot>>;

/// Largest admin request body.
const MAX_ADMIN_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Shared state of the admin API.
#[derive(Debug, Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cell: SnapshotCell,
    stats: Arc<StatsBoard>,
    /// The configuration the current snapshot was compiled from. A mutex is fine here: the admin
    /// side is not the hot path, and publishes must be serialized anyway.
    config: Mutex<Config>,
    generation: AtomicU64,
}

/// An admin API error, answered as AWS answers: status, `x-amzn-ErrorType`, `{"message": ...}`.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Internal(String),
}

// === impl AdminState ===

impl AdminState {
    pub fn new(cell: SnapshotCell, stats: Arc<StatsBoard>, config: Config) -> AdminState {
        let generation = cell.load().generation;
        AdminState {
            inner: Arc::new(Inner {
                cell,
                stats,
                config: Mutex::new(config),
                generation: AtomicU64::new(generation),
            }),
        }
    }

    /// Validates, compiles and publishes `config`. On error nothing is published.
    pub fn publish(&self, config: Config) -> Result<u64, Vec<ConfigError>> {
        let mut current = self.inner.config.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.inner.generation.load(Ordering::Relaxed) + 1;
        let snapshot = compile_config(&config, generation)?;
        self.inner.cell.store(Arc::new(snapshot));
        self.inner.generation.store(generation, Ordering::Relaxed);
        *current = config;
        Ok(generation)
    }
}

/// The admin app.
pub fn app(state: AdminState) -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/portico/config", get(get_config).put(put_config))
        .route("/portico/stats", get(get_stats))
        .fallback(|| async { ApiError::NotFound("Unknown admin path".into()) })
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
        .with_state(state)
}

/// Binds `addr` and serves the admin API on a new thread with a current-thread tokio runtime.
/// Returns the bound address once listening.
pub fn spawn(
    addr: SocketAddr,
    state: AdminState,
) -> std::io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let handle = std::thread::Builder::new()
        .name("portico-admin".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "admin runtime failed to start");
                    return;
                }
            };
            rt.block_on(async move {
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
            });
        })?;
    Ok((local, handle))
}

async fn get_config(State(s): State<AdminState>) -> Json<Config> {
    Json(
        s.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    )
}

async fn put_config(
    State(s): State<AdminState>,
    body: Result<Json<Config>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(config) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let generation = tokio::task::spawn_blocking(move || s.publish(config))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            ApiError::BadRequest(format!(
                "{} validation error(s): {}",
                list.len(),
                list.join("; ")
            ))
        })?;
    Ok(Json(serde_json::json!({ "generation": generation })))
}

async fn get_stats(State(s): State<AdminState>) -> Response {
    Json(s.inner.stats.report()).into_response()
}

// === impl ApiError ===

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "BadRequestException", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "NotFoundException", m),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "admin internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerErrorException",
                    "Internal server error".into(),
                )
            }
        };
        let mut r = (status, Json(serde_json::json!({ "message": message }))).into_response();
        r.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn state() -> AdminState {
        AdminState::new(
            Arc::new(ArcSwap::from_pointee(Snapshot::empty(0))),
            Arc::new(StatsBoard::new(1)),
            Config::default(),
        )
    }

    async fn call(
        s: &AdminState,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, Option<String>, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let r = app(s.clone()).oneshot(req).await.unwrap();
        let status = r.status();
        let kind = r
            .headers()
            .get("x-amzn-ErrorType")
            .map(|v| v.to_str().unwrap().to_string());
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, kind, String::from_utf8_lossy(&body).into())
    }

    #[tokio::test]
    async fn publish_and_reject() {
        let s = state();
        let good = r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"$default","target":"integrations/i"}],
            "integrations":[{"integrationId":"i","integrationType":"HTTP_PROXY","integrationUri":"http://127.0.0.1:9"}],
            "stages":[{"stageName":"$default"}]}]}"#;
        let (st, _, body) = call(&s, "PUT", "/portico/config", good).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(s.inner.cell.load().generation, 1);
        assert!(s.inner.cell.load().api("abc").is_some());

        let bad = r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"GET x"}],"stages":[{"stageName":"bad name"}]}]}"#;
        let (st, kind, body) = call(&s, "PUT", "/portico/config", bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(kind.as_deref(), Some("BadRequestException"));
        assert!(body.contains("2 validation error(s)"), "{body}");
        assert_eq!(
            s.inner.cell.load().generation,
            1,
            "a failed publish changes nothing"
        );

        for junk in ["{", r#"{"apis": 3}"#, r#"{"bogus": []}"#, ""] {
            let (st, kind, body) = call(&s, "PUT", "/portico/config", junk).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{junk}: {body}");
            assert_eq!(kind.as_deref(), Some("BadRequestException"));
            assert!(body.starts_with("{\"message\":"), "{body}");
        }
        let (st, kind, _) = call(&s, "GET", "/nope", "").await;
        assert_eq!(
            (st, kind.as_deref()),
            (StatusCode::NOT_FOUND, Some("NotFoundException"))
        );
        let (st, _, body) = call(&s, "GET", "/portico/stats", "").await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("\"routes\":[]"), "{body}");
    }
}
