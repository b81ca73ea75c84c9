//! The `apigatewayv2` control plane for HTTP APIs, on AWS's REST paths under `/v2/`: thin
//! handlers that parse, call a catalog operation (`ops.rs`) and answer with AWS's status codes
//! (create 201, delete 204, everything else 200).
//!
//! Request parsing never fails with a 5xx: a body that is not JSON, has wrong types, or is too
//! large, and a path or query that does not decode, are all answered 4xx in
//! AWS's error shape by the extractors below.
//!
//! The v1 handlers (`v1/`, `usage/`) share this file's extractors ([`Body`], [`Params`]) and
//! answers ([`ok`], [`created`], [`accepted`], [`no_content`]).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ApiError;
use crate::page::{Cursor, Members};
use crate::records::{
    ApiInput, AuthorizerInput, DeploymentInput, IntegrationInput, IntegrationResponseInput, Page,
    RouteInput, RouteResponseInput, StageInput,
};
use crate::AdminState;

/// Items in a page when the caller gives no `maxResults`.
pub(crate) const PAGE_DEFAULT: usize = 100;

/// Largest `maxResults`.
pub(crate) const PAGE_MAX: usize = 500;

/// The paging members of `Get*s` calls.
const PAGING: Members = Members {
    limit: "maxResults",
    token: "nextToken",
    default: PAGE_DEFAULT,
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

/// The `/v2/` routes.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v2/apis", get(get_apis).post(create_api))
        .route(
            "/v2/apis/{api_id}",
            get(get_api).patch(update_api).delete(delete_api),
        )
        .route("/v2/apis/{api_id}/cors", delete(delete_cors))
        .route(
            "/v2/apis/{api_id}/routes",
            get(get_routes).post(create_route),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}",
            get(get_route).patch(update_route).delete(delete_route),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}/requestparameters/{key}",
            delete(delete_route_request_parameter),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}/routeresponses",
            get(get_route_responses).post(create_route_response),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}/routeresponses/{id}",
            get(get_route_response)
                .patch(update_route_response)
                .delete(delete_route_response),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}/integrationresponses",
            get(get_integration_responses).post(create_integration_response),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}/integrationresponses/{id}",
            get(get_integration_response)
                .patch(update_integration_response)
                .delete(delete_integration_response),
        )
        .route(
            "/v2/apis/{api_id}/integrations",
            get(get_integrations).post(create_integration),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}",
            get(get_integration)
                .patch(update_integration)
                .delete(delete_integration),
        )
        .route(
            "/v2/apis/{api_id}/stages",
            get(get_stages).post(create_stage),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}",
            get(get_stage).patch(update_stage).delete(delete_stage),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}/accesslogsettings",
            delete(delete_access_log_settings),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}/routesettings/{route_key}",
            delete(delete_route_settings),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}/cache/authorizers",
            delete(reset_authorizers_cache),
        )
        .route(
            "/v2/apis/{api_id}/authorizers",
            get(get_authorizers).post(create_authorizer),
        )
        .route(
            "/v2/apis/{api_id}/authorizers/{authorizer_id}",
            get(get_authorizer)
                .patch(update_authorizer)
                .delete(delete_authorizer),
        )
        .route(
            "/v2/apis/{api_id}/deployments",
            get(get_deployments).post(create_deployment),
        )
        .route(
            "/v2/apis/{api_id}/deployments/{deployment_id}",
            get(get_deployment)
                .patch(update_deployment)
                .delete(delete_deployment),
        )
}

// === APIs ===

async fn create_api(State(s): State<AdminState>, Body(input): Body<ApiInput>) -> Response {
    let endpoint = s.endpoint_fn();
    created(s.write(move |c| c.create_api(input)).await.map(endpoint))
}

async fn get_apis(State(s): State<AdminState>, q: Paging) -> Response {
    let endpoint = s.endpoint_fn();
    let here = s.regions().here(crate::region::Class::Api);
    ok(s.read(|c| {
        page_where(
            c.apis(),
            &q.0,
            |id| here.contains(id),
            |a| endpoint(a.api.clone()),
        )
    })
    .await)
}

async fn get_api(State(s): State<AdminState>, Params(api_id): Params<String>) -> Response {
    let endpoint = s.endpoint_fn();
    ok(s.read(|c| Ok(endpoint(c.api(&api_id)?.api.clone()))).await)
}

async fn update_api(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<ApiInput>,
) -> Response {
    let endpoint = s.endpoint_fn();
    ok(s.write(move |c| c.update_api(&api_id, input))
        .await
        .map(endpoint))
}

async fn delete_api(State(s): State<AdminState>, Params(api_id): Params<String>) -> Response {
    no_content(s.write(move |c| c.delete_api(&api_id)).await)
}

async fn delete_cors(State(s): State<AdminState>, Params(api_id): Params<String>) -> Response {
    no_content(s.write(move |c| c.delete_cors(&api_id)).await)
}

// === routes ===

async fn delete_route_request_parameter(
    State(s): State<AdminState>,
    Params((api_id, route_id, key)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_route_request_parameter(&api_id, &route_id, &key))
            .await,
    )
}

async fn create_route(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<RouteInput>,
) -> Response {
    created(s.write(move |c| c.create_route(&api_id, input)).await)
}

async fn get_routes(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.routes, &q.0, Clone::clone))
            .await,
    )
}

async fn get_route(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| c.api(&api_id)?.route(&route_id).cloned()).await)
}

async fn update_route(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
    Body(input): Body<RouteInput>,
) -> Response {
    ok(s.write(move |c| c.update_route(&api_id, &route_id, input))
        .await)
}

async fn delete_route(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
) -> Response {
    no_content(s.write(move |c| c.delete_route(&api_id, &route_id)).await)
}

// === route responses and integration responses (WebSocket APIs) ===

async fn create_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
    Body(input): Body<RouteResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.create_route_response(&api_id, &route_id, input))
            .await,
    )
}

async fn get_route_responses(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
    q: Paging,
) -> Response {
    ok(s.read(|c| {
        let state = c.api(&api_id)?;
        state.route(&route_id)?;
        let map = crate::ws::children_map(&state.route_responses, &route_id);
        page(&map, &q.0, Clone::clone)
    })
    .await)
}

async fn get_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id, id)): Params<(String, String, String)>,
) -> Response {
    ok(s.read(|c| c.route_response(&api_id, &route_id, &id)).await)
}

async fn update_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id, id)): Params<(String, String, String)>,
    Body(input): Body<RouteResponseInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_route_response(&api_id, &route_id, &id, input))
            .await,
    )
}

async fn delete_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id, id)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_route_response(&api_id, &route_id, &id))
            .await,
    )
}

async fn create_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
    Body(input): Body<IntegrationResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.create_ws_integration_response(&api_id, &integration_id, input))
            .await,
    )
}

async fn get_integration_responses(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
    q: Paging,
) -> Response {
    ok(s.read(|c| {
        let state = c.api(&api_id)?;
        state.integration(&integration_id)?;
        let map = crate::ws::children_map(&state.integration_responses, &integration_id);
        page(&map, &q.0, Clone::clone)
    })
    .await)
}

async fn get_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id, id)): Params<(String, String, String)>,
) -> Response {
    ok(
        s.read(|c| c.ws_integration_response(&api_id, &integration_id, &id))
            .await,
    )
}

async fn update_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id, id)): Params<(String, String, String)>,
    Body(input): Body<IntegrationResponseInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_ws_integration_response(&api_id, &integration_id, &id, input))
            .await,
    )
}

async fn delete_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id, id)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_ws_integration_response(&api_id, &integration_id, &id))
            .await,
    )
}

// === authorizers ===

async fn create_authorizer(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<AuthorizerInput>,
) -> Response {
    created(s.write(move |c| c.create_authorizer(&api_id, input)).await)
}

async fn get_authorizers(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.authorizers, &q.0, Clone::clone))
            .await,
    )
}

async fn get_authorizer(
    State(s): State<AdminState>,
    Params((api_id, authorizer_id)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| c.api(&api_id)?.authorizer(&authorizer_id).cloned())
            .await,
    )
}

async fn update_authorizer(
    State(s): State<AdminState>,
    Params((api_id, authorizer_id)): Params<(String, String)>,
    Body(input): Body<AuthorizerInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_authorizer(&api_id, &authorizer_id, input))
            .await,
    )
}

async fn delete_authorizer(
    State(s): State<AdminState>,
    Params((api_id, authorizer_id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_authorizer(&api_id, &authorizer_id))
            .await,
    )
}

// === integrations ===

async fn create_integration(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<IntegrationInput>,
) -> Response {
    created(s.write(move |c| c.create_integration(&api_id, input)).await)
}

async fn get_integrations(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.integrations, &q.0, Clone::clone))
            .await,
    )
}

async fn get_integration(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| c.api(&api_id)?.integration(&integration_id).cloned())
            .await,
    )
}

async fn update_integration(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
    Body(input): Body<IntegrationInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_integration(&api_id, &integration_id, input))
            .await,
    )
}

async fn delete_integration(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_integration(&api_id, &integration_id))
            .await,
    )
}

// === stages ===

async fn create_stage(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<StageInput>,
) -> Response {
    created(s.write(move |c| c.create_stage(&api_id, input)).await)
}

async fn get_stages(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.stages, &q.0, Clone::clone))
            .await,
    )
}

async fn get_stage(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| c.api(&api_id)?.stage(&stage_name).cloned())
        .await)
}

async fn update_stage(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
    Body(input): Body<StageInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_stage(&api_id, &stage_name, input))
            .await,
    )
}

async fn delete_access_log_settings(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_access_log_settings(&api_id, &stage_name))
            .await,
    )
}

async fn delete_stage(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    no_content(s.write(move |c| c.delete_stage(&api_id, &stage_name)).await)
}

async fn delete_route_settings(
    State(s): State<AdminState>,
    Params((api_id, stage_name, route_key)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_route_settings(&api_id, &stage_name, &route_key))
            .await,
    )
}

/// `ResetAuthorizersCache`: 204; every worker calls the stage's Lambda authorizers again.
async fn reset_authorizers_cache(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.reset_http_stage_authorizers_cache(&api_id, &stage_name))
            .await,
    )
}

// === deployments ===

async fn create_deployment(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<DeploymentInput>,
) -> Response {
    created(s.write(move |c| c.create_deployment(&api_id, input)).await)
}

async fn get_deployments(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.deployments, &q.0, |d| d.record.clone()))
            .await,
    )
}

async fn get_deployment(
    State(s): State<AdminState>,
    Params((api_id, deployment_id)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| {
        c.api(&api_id)?
            .deployment(&deployment_id)
            .map(|d| d.record.clone())
    })
    .await)
}

async fn update_deployment(
    State(s): State<AdminState>,
    Params((api_id, deployment_id)): Params<(String, String)>,
    Body(input): Body<DeploymentInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_deployment(&api_id, &deployment_id, input))
            .await,
    )
}

async fn delete_deployment(
    State(s): State<AdminState>,
    Params((api_id, deployment_id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_deployment(&api_id, &deployment_id))
            .await,
    )
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
