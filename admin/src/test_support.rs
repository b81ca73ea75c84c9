//! What the admin handler tests share (`tests.rs`, `v1/tests.rs`, `usage/tests.rs`): an
//! [`AdminState`] on a store, with the cell it publishes into, and one request sent through
//! `app(state).oneshot(req)` (no socket) and read back as an [`Answer`].

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use portico_shared::stats::StatsBoard;
use portico_shared::Snapshot;
use serde_json::Value;
use tower::ServiceExt;

use crate::{app, AdminState, Endpoint, SnapshotCell, Store};

/// What a caller sees of one answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// `x-amzn-ErrorType`, on errors.
    pub(crate) kind: Option<String>,
    /// The JSON body; a body that is not JSON as a string, no body as `Null`.
    pub(crate) body: Value,
}

/// The admin state on `store` (one worker, endpoint `execute-api.localhost:8080`) and the cell
/// it publishes into.
pub(crate) fn open(store: Arc<dyn Store>) -> (AdminState, SnapshotCell) {
    let cell: SnapshotCell = Arc::new(ArcSwap::from_pointee(Snapshot::empty(0)));
    let state = AdminState::open(
        store,
        cell.clone(),
        Arc::new(StatsBoard::new(1)),
        Endpoint {
            domain: "execute-api.localhost".into(),
            port: 8080,
            tls_port: None,
            data_dir: std::env::temp_dir(),
            admin_addr: None,
            account_throttle: None,
            region: "us-east-1".into(),
        },
        None,
    )
    .unwrap();
    (state, cell)
}

/// A JSON request body: `Null` sends none.
pub(crate) fn json_bytes(body: &Value) -> Vec<u8> {
    if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    }
}

/// Sends one JSON request to the admin app.
pub(crate) async fn send(state: &AdminState, method: &str, uri: &str, body: Vec<u8>) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let r = app(state.clone()).oneshot(req).await.unwrap();
    let status = r.status();
    let kind = r
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer { status, kind, body }
}

// === impl Answer ===

impl Answer {
    /// The body of a 2xx answer to `method uri`; anything else fails the test.
    pub(crate) fn success(self, method: &str, uri: &str) -> Value {
        assert!(
            self.status.is_success(),
            "{method} {uri}: {} {:?} {}",
            self.status,
            self.kind,
            self.body
        );
        self.body
    }

    /// The error body's `message` (empty when there is none).
    pub(crate) fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
}
