//! The admin API's wire, shared by every control plane (`v1/`, `v2/`, `usage/`, the service
//! APIs): request extractors that only ever answer 4xx in AWS's error shape, and the answers
//! (`ok`, `created`, `accepted`, `no_content`, pages).
//!
//! Request parsing never fails with a 5xx: a body that is not JSON, has wrong types, or is too
//! large, and a path or query that does not decode, are all answered 4xx in
//! AWS's error shape by the extractors below.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use portico_shared::limits::{PAGE_MAX, PAGE_V2_DEFAULT};

use crate::error::ApiError;
use crate::page::{Cursor, Members};
use crate::records::Page;

/// The paging members of `Get*s` calls.
const PAGING: Members = Members {
    limit: "maxResults",
    token: "nextToken",
    default: PAGE_V2_DEFAULT,
    max: PAGE_MAX,
};

/// A JSON request body (members the input does not know are ignored); an empty body is `{}` (botocore sends none when no
/// member is set).
#[derive(Debug)]
pub(crate) struct Body<T>(pub T);

/// Path parameters; a path that does not decode is a 400 in AWS's shape.
#[derive(Debug)]
pub(crate) struct Params<T>(pub T);

/// `maxResults` and `nextToken`, as the model's query string members.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageQuery {
    max_results: Option<String>,
    next_token: Option<String>,
}

// === answers ===
//
// Shared with the v1 handlers (`v1/`, `usage/`): every control plane answers a result as a
// status and a JSON body, or as its `ApiError`.

/// 200 with the value.
pub(crate) fn ok<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// 201 with the value.
pub(crate) fn created<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// 202 with no body (v1 deletes).
pub(crate) fn accepted(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

/// 204 with no body.
pub(crate) fn no_content(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// One page of `map`, after the key `nextToken` names, of at most `maxResults` items.
pub(crate) fn page<V, T>(
    map: &BTreeMap<String, V>,
    q: &PageQuery,
    view: impl Fn(&V) -> T,
) -> Result<Page<T>, ApiError> {
    let cursor = Cursor::parse(&PAGING, q.max_results.as_deref(), q.next_token.as_deref())?;
    let (items, next_token) = cursor.take(cursor.range(map), view);
    Ok(Page { items, next_token })
}

/// [`page`] of the entries whose key `keep` keeps (this region's, `region.rs`).
pub(crate) fn page_where<V, T>(
    map: &BTreeMap<String, V>,
    q: &PageQuery,
    keep: impl Fn(&str) -> bool,
    view: impl Fn(&V) -> T,
) -> Result<Page<T>, ApiError> {
    let cursor = Cursor::parse(&PAGING, q.max_results.as_deref(), q.next_token.as_deref())?;
    let (items, next_token) = cursor.take(cursor.range(map).filter(|(k, _)| keep(k)), view);
    Ok(Page { items, next_token })
}

// === extractors ===

/// A body that could not be read: too large (413) or broken (400).
pub(crate) fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("Request body is too large".into())
    } else {
        ApiError::BadRequest(format!("Invalid request body: {}", e.body_text()))
    }
}

/// The query of a `Get*s` call.
#[derive(Debug)]
pub(crate) struct Paging(pub PageQuery);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Paging(q))
            .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {}", e.body_text())))
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| Params(p))
            .map_err(|e| ApiError::BadRequest(format!("Invalid path: {}", e.body_text())))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(Body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
    }
}
