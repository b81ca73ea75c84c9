//! Portico's own admin endpoints under `/portico/`: the whole configuration as one document
//! (import and export, see `import.rs`) and the per-route stats.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portico_shared::model::Config;

use crate::error::ApiError;
use crate::import::ImportMode;
use crate::AdminState;

/// The `/portico/` routes.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/portico/config", get(get_config).put(put_config))
        .route("/portico/stats", get(get_stats))
}

/// `GET /portico/config`: what is deployed, as a [`Config`] document.
async fn get_config(State(s): State<AdminState>) -> Response {
    match s.read(|c| Ok(c.export())).await {
        Ok(config) => Json(config).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `PUT /portico/config`: replaces everything stored with the document; every stage it names
/// serves its routes at once. Answers `{"generation": N}` once committed and published.
async fn put_config(State(s): State<AdminState>, body: Result<Bytes, BytesRejection>) -> Response {
    let config = body.map_err(crate::wire::body_error).and_then(|b| {
        serde_json::from_slice::<Config>(&b)
            .map_err(|e| ApiError::BadRequest(format!("Invalid configuration document: {e}")))
    });
    let config = match config {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match s
        .write(move |c| c.import(&config, ImportMode::ReplaceAll))
        .await
    {
        Ok(generation) => Json(serde_json::json!({ "generation": generation })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn get_stats(State(s): State<AdminState>) -> Response {
    Json(s.stats().report()).into_response()
}
