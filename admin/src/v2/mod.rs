//! The `apigatewayv2` control plane for HTTP and WebSocket APIs, on AWS's REST paths under
//! `/v2/`: one file per resource, each with its thin handlers (parse, call a catalog operation,
//! answer with AWS's status codes: create 201, delete 204, everything else 200) and the catalog
//! operations behind them (validate the input, every problem at once; change a [`Draft`]; hand
//! it to [`Catalog::apply`]).
//!
//! Error order, as AWS: an unknown API, route, integration, stage or deployment in the path is a
//! 404 first; then every problem with the body is reported in one 400; then a body that names a
//! resource that does not exist is a 404; then a duplicate route key or stage name, or a
//! resource still in use, is a 409.
//!
//! [`Draft`]: crate::catalog::Draft
//! [`Catalog::apply`]: crate::catalog::Catalog::apply

use axum::routing::{delete, get};
use axum::Router;

use crate::AdminState;

mod apis;
mod authorizers;
mod deployments;
mod integrations;
mod routes;
mod stages;

pub(crate) use routes::route_record;

/// The `/v2/` routes.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/v2/apis", get(apis::get_apis).post(apis::create_api))
        .route(
            "/v2/apis/{api_id}",
            get(apis::get_api)
                .patch(apis::update_api)
                .delete(apis::delete_api),
        )
        .route("/v2/apis/{api_id}/cors", delete(apis::delete_cors))
        .route(
            "/v2/apis/{api_id}/routes",
            get(routes::get_routes).post(routes::create_route),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}",
            get(routes::get_route)
                .patch(routes::update_route)
                .delete(routes::delete_route),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}/requestparameters/{key}",
            delete(routes::delete_route_request_parameter),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}/routeresponses",
            get(routes::get_route_responses).post(routes::create_route_response),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}/routeresponses/{id}",
            get(routes::get_route_response)
                .patch(routes::update_route_response)
                .delete(routes::delete_route_response),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}/integrationresponses",
            get(integrations::get_integration_responses)
                .post(integrations::create_integration_response),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}/integrationresponses/{id}",
            get(integrations::get_integration_response)
                .patch(integrations::update_integration_response)
                .delete(integrations::delete_integration_response),
        )
        .route(
            "/v2/apis/{api_id}/integrations",
            get(integrations::get_integrations).post(integrations::create_integration),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}",
            get(integrations::get_integration)
                .patch(integrations::update_integration)
                .delete(integrations::delete_integration),
        )
        .route(
            "/v2/apis/{api_id}/stages",
            get(stages::get_stages).post(stages::create_stage),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}",
            get(stages::get_stage)
                .patch(stages::update_stage)
                .delete(stages::delete_stage),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}/accesslogsettings",
            delete(stages::delete_access_log_settings),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}/routesettings/{route_key}",
            delete(stages::delete_route_settings),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}/cache/authorizers",
            delete(stages::reset_authorizers_cache),
        )
        .route(
            "/v2/apis/{api_id}/authorizers",
            get(authorizers::get_authorizers).post(authorizers::create_authorizer),
        )
        .route(
            "/v2/apis/{api_id}/authorizers/{authorizer_id}",
            get(authorizers::get_authorizer)
                .patch(authorizers::update_authorizer)
                .delete(authorizers::delete_authorizer),
        )
        .route(
            "/v2/apis/{api_id}/deployments",
            get(deployments::get_deployments).post(deployments::create_deployment),
        )
        .route(
            "/v2/apis/{api_id}/deployments/{deployment_id}",
            get(deployments::get_deployment)
                .patch(deployments::update_deployment)
                .delete(deployments::delete_deployment),
        )
}

pub(crate) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// A request member's wire value as its enum: `None` when absent or not a value. Callers have
/// already reported a value that does not parse, with AWS's message for that member.
pub(crate) fn parsed<T: std::str::FromStr>(value: Option<&str>) -> Option<T> {
    value.and_then(|v| v.parse().ok())
}

pub(crate) fn set_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}
