//! The `apigateway` (v1) control plane for REST APIs, on AWS's paths (`/restapis/...`) and wire
//! format: thin handlers that parse, call a catalog operation and answer with the model's status
//! codes (create/put 201, most deletes 202, method-level deletes 204, `UpdateMethodResponse` 201).
//!
//! # Architecture
//! 1. [`router`] maps each path and verb to a handler; extractors (`Params`, `Body` from `wire.rs`,
//!    and the raw query for listings) answer every malformed request 4xx in AWS's shape, and
//!    `wire.rs`'s answers (`ok`, `created`, ...) give the status. Listings page by `position` and
//!    `limit` (`page.rs`, with the v1 members in `records.rs`, which `usage/` shares).
//! 2. Handlers call operations on the `Catalog`: `rest.rs` (APIs, resources, methods,
//!    integrations and their responses), `deploy.rs` (deployments, stages, gateway responses),
//!    `models.rs` (models and request validators).
//!    Updates are `patchOperations` (`patch.rs`).
//! 3. Operations change a [`RestDraft`] of one API (`state.rs`) and finish it with
//!    `Catalog::apply_rest`: compile if a stage's content changed → commit → publish.
//!
//! Invariants: a REST API id never equals an HTTP API id (one namespace: the data plane routes by
//! `{apiId}.{domain}`); `GetRestApis` lists only REST APIs and `GetApis` only HTTP APIs; a 2xx
//! means committed and published.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::Router;

use portico_shared::limits::OPENAPI_DEFINITION_MAX_BYTES;

use crate::error::ApiError;
use crate::v1::records::{
    page, DeploymentInput, GatewayResponseInput, IntegrationInput, IntegrationResponseInput,
    MethodInput, MethodResponseInput, ModelInput, RequestValidatorInput, ResourceInput,
    RestApiInput, StageInput,
};
use crate::wire::{accepted, created, no_content, ok, Body, Params};
use crate::AdminState;

mod authorizers;
mod deploy;
mod models;
pub(crate) mod records;
mod rest;
mod state;
mod test_invoke;

pub(crate) use crate::patch::PatchInput;
pub(crate) use records::{Collection, Listing};
pub(crate) use state::{compile, is_rest_kind, RestApiState, RestApis, RestDraft};

/// `{restapi_id}/{resource_id}/{http_method}`.
type MethodPath = (String, String, String);

/// `{restapi_id}/{resource_id}/{http_method}/{status_code}`.
type ResponsePath = (String, String, String, String);

/// The v1 routes.
pub(crate) fn router() -> Router<AdminState> {
    const RES: &str = "/restapis/{restapi_id}/resources/{resource_id}";
    Router::new()
        .route(
            "/restapis",
            get(get_rest_apis).post(create_rest_api).layer(
                // `?mode=import` carries a whole definition.
                axum::extract::DefaultBodyLimit::max(OPENAPI_DEFINITION_MAX_BYTES),
            ),
        )
        .route(
            "/restapis/{restapi_id}",
            get(get_rest_api)
                .patch(update_rest_api)
                .delete(delete_rest_api),
        )
        .route("/restapis/{restapi_id}/resources", get(get_resources))
        .route(
            RES,
            get(get_resource)
                .post(create_resource)
                .patch(update_resource)
                .delete(delete_resource),
        )
        .route(
            &format!("{RES}/methods/{{http_method}}"),
            put(put_method)
                .get(get_method)
                .patch(update_method)
                .delete(delete_method)
                .post(test_invoke::test_invoke_method),
        )
        .route(
            &format!("{RES}/methods/{{http_method}}/responses/{{status_code}}"),
            put(put_method_response)
                .get(get_method_response)
                .patch(update_method_response)
                .delete(delete_method_response),
        )
        .route(
            &format!("{RES}/methods/{{http_method}}/integration"),
            put(put_integration)
                .get(get_integration)
                .patch(update_integration)
                .delete(delete_integration),
        )
        .route(
            &format!("{RES}/methods/{{http_method}}/integration/responses/{{status_code}}"),
            put(put_integration_response)
                .get(get_integration_response)
                .patch(update_integration_response)
                .delete(delete_integration_response),
        )
        .route(
            "/restapis/{restapi_id}/deployments",
            get(get_deployments).post(create_deployment),
        )
        .route(
            "/restapis/{restapi_id}/deployments/{deployment_id}",
            get(get_deployment)
                .patch(update_deployment)
                .delete(delete_deployment),
        )
        .route(
            "/restapis/{restapi_id}/stages",
            get(get_stages).post(create_stage),
        )
        .route(
            "/restapis/{restapi_id}/stages/{stage_name}",
            get(get_stage).patch(update_stage).delete(delete_stage),
        )
        .route(
            "/restapis/{restapi_id}/stages/{stage_name}/cache/data",
            delete(flush_stage_cache),
        )
        .route(
            "/restapis/{restapi_id}/stages/{stage_name}/cache/authorizers",
            delete(flush_stage_authorizers_cache),
        )
        .route(
            "/restapis/{restapi_id}/gatewayresponses",
            get(get_gateway_responses),
        )
        .route(
            "/restapis/{restapi_id}/authorizers",
            get(authorizers::get_authorizers).post(authorizers::create_authorizer),
        )
        .route(
            "/restapis/{restapi_id}/authorizers/{authorizer_id}",
            get(authorizers::get_authorizer)
                .post(test_invoke::test_invoke_authorizer)
                .patch(authorizers::update_authorizer)
                .delete(authorizers::delete_authorizer),
        )
        // Parts of the model Portico does not implement: a clear 400 rather than a 404 that
        // reads like a wrong id.
        .route(
            "/restapis/{restapi_id}/models",
            get(get_models).post(create_model),
        )
        .route(
            "/restapis/{restapi_id}/models/{model_name}",
            get(get_model).patch(update_model).delete(delete_model),
        )
        .route(
            "/restapis/{restapi_id}/models/{model_name}/default_template",
            get(get_model_template),
        )
        .route(
            "/restapis/{restapi_id}/requestvalidators",
            get(get_request_validators).post(create_request_validator),
        )
        .route(
            "/restapis/{restapi_id}/requestvalidators/{validator_id}",
            get(get_request_validator)
                .patch(update_request_validator)
                .delete(delete_request_validator),
        )
        .route(
            "/restapis/{restapi_id}/gatewayresponses/{response_type}",
            put(put_gateway_response)
                .get(get_gateway_response)
                .patch(update_gateway_response)
                .delete(delete_gateway_response),
        )
}

// === REST APIs ===

/// `CreateRestApi`, or with `?mode=import` `ImportRestApi` (`openapi/`).
async fn create_rest_api(
    State(s): State<AdminState>,
    axum::extract::Query(q): axum::extract::Query<std::collections::BTreeMap<String, String>>,
    req: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequest;
    match q.get("mode").map(String::as_str) {
        None => {}
        Some("import") => {
            let body = axum::body::Bytes::from_request(req, &()).await;
            return crate::openapi::import_rest_api(s, q, body).await;
        }
        Some(m) => {
            return ApiError::BadRequest(format!("Invalid mode '{m}': use import")).into_response()
        }
    }
    let input = match Body::<RestApiInput>::from_request(req, &()).await {
        Ok(Body(i)) => i,
        Err(e) => return e.into_response(),
    };
    created(s.write(move |c| c.create_rest_api(input)).await)
}

async fn get_rest_apis(State(s): State<AdminState>, RawQuery(q): RawQuery) -> Response {
    let here = s.regions().here(crate::region::Class::Api);
    ok(s.read(|c| {
        let q = Listing::parse(q.as_deref())?;
        records::page_where(
            c.rest().map(),
            &q,
            |id| here.contains(id),
            |a| a.api.clone(),
        )
    })
    .await)
}

async fn get_rest_api(State(s): State<AdminState>, Params(id): Params<String>) -> Response {
    ok(s.read(|c| Ok(c.rest().get(&id)?.api.clone())).await)
}

async fn update_rest_api(
    State(s): State<AdminState>,
    Params(id): Params<String>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| c.update_rest_api(&id, patch)).await)
}

async fn delete_rest_api(State(s): State<AdminState>, Params(id): Params<String>) -> Response {
    accepted(s.write(move |c| c.delete_rest_api(&id)).await)
}

// === resources ===

async fn create_resource(
    State(s): State<AdminState>,
    Params((api_id, parent_id)): Params<(String, String)>,
    Body(input): Body<ResourceInput>,
) -> Response {
    created(
        s.write(move |c| c.create_resource(&api_id, &parent_id, input))
            .await,
    )
}

async fn get_resources(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        let embed = q.embeds("methods");
        page(&state.resources, &q, |r| resource_view(r, embed))
    })
    .await)
}

async fn get_resource(
    State(s): State<AdminState>,
    Params((api_id, resource_id)): Params<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let r = c.rest().get(&api_id)?.resource(&resource_id)?;
        let q = Listing::parse(q.as_deref())?;
        Ok(resource_view(r, q.embeds("methods")))
    })
    .await)
}

async fn update_resource(
    State(s): State<AdminState>,
    Params((api_id, resource_id)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_resource(&api_id, &resource_id, patch))
            .await,
    )
}

async fn delete_resource(
    State(s): State<AdminState>,
    Params((api_id, resource_id)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.delete_resource(&api_id, &resource_id))
            .await,
    )
}

/// A resource as listed: without `embed=methods`, each method is an empty object (AWS lists
/// the verbs only).
fn resource_view(r: &portico_shared::model::rest::Resource, embed: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
    if !embed {
        if let Some(methods) = v.get_mut("resourceMethods").and_then(|m| m.as_object_mut()) {
            for m in methods.values_mut() {
                *m = serde_json::json!({});
            }
        }
    }
    v
}

// === methods ===

async fn put_method(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
    Body(input): Body<MethodInput>,
) -> Response {
    created(s.write(move |c| c.put_method(&a, &r, &m, input)).await)
}

async fn get_method(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
) -> Response {
    ok(
        s.read(|c| rest::method(c.rest().get(&a)?.resource(&r)?, &m).cloned())
            .await,
    )
}

async fn update_method(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| c.update_method(&a, &r, &m, patch)).await)
}

async fn delete_method(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
) -> Response {
    no_content(s.write(move |c| c.delete_method(&a, &r, &m)).await)
}

// === method responses ===

async fn put_method_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
    Body(input): Body<MethodResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.put_method_response((&a, &r, &m), &code, input))
            .await,
    )
}

async fn get_method_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
) -> Response {
    ok(s.read(|c| {
        let m = rest::method(c.rest().get(&a)?.resource(&r)?, &m)?;
        rest::method_response(m, &code).cloned()
    })
    .await)
}

/// `UpdateMethodResponse` answers 201, as the model says.
async fn update_method_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
    Body(patch): Body<PatchInput>,
) -> Response {
    created(
        s.write(move |c| c.update_method_response((&a, &r, &m), &code, patch))
            .await,
    )
}

async fn delete_method_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_method_response((&a, &r, &m), &code))
            .await,
    )
}

// === integrations ===

async fn put_integration(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
    Body(input): Body<IntegrationInput>,
) -> Response {
    created(
        s.write(move |c| c.put_integration((&a, &r, &m), input))
            .await,
    )
}

async fn get_integration(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
) -> Response {
    ok(s.read(|c| {
        let m = rest::method(c.rest().get(&a)?.resource(&r)?, &m)?;
        rest::integration(m).cloned()
    })
    .await)
}

async fn update_integration(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_rest_integration((&a, &r, &m), patch))
            .await,
    )
}

async fn delete_integration(
    State(s): State<AdminState>,
    Params((a, r, m)): Params<MethodPath>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_rest_integration((&a, &r, &m)))
            .await,
    )
}

// === integration responses ===

async fn put_integration_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
    Body(input): Body<IntegrationResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.put_integration_response((&a, &r, &m), &code, input))
            .await,
    )
}

async fn get_integration_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
) -> Response {
    ok(s.read(|c| {
        let m = rest::method(c.rest().get(&a)?.resource(&r)?, &m)?;
        rest::integration_response(rest::integration(m)?, &code).cloned()
    })
    .await)
}

async fn update_integration_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_integration_response((&a, &r, &m), &code, patch))
            .await,
    )
}

async fn delete_integration_response(
    State(s): State<AdminState>,
    Params((a, r, m, code)): Params<ResponsePath>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_integration_response((&a, &r, &m), &code))
            .await,
    )
}

// === deployments ===

async fn create_deployment(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<DeploymentInput>,
) -> Response {
    created(
        s.write(move |c| c.create_rest_deployment(&api_id, input))
            .await,
    )
}

async fn get_deployments(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        let summary = q.embeds("apisummary");
        page(&state.deployments, &q, |d| d.record.view(summary))
    })
    .await)
}

async fn get_deployment(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let d = c.rest().get(&api_id)?.deployment(&id)?;
        let q = Listing::parse(q.as_deref())?;
        Ok(d.record.view(q.embeds("apisummary")))
    })
    .await)
}

async fn update_deployment(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_rest_deployment(&api_id, &id, patch))
            .await,
    )
}

async fn delete_deployment(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.delete_rest_deployment(&api_id, &id))
            .await,
    )
}

// === stages ===

async fn create_stage(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<StageInput>,
) -> Response {
    created(s.write(move |c| c.create_rest_stage(&api_id, input)).await)
}

/// `GetStages`: `{"item": [...]}`, unpaged, optionally only the stages of `deploymentId`.
async fn get_stages(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        Ok(Collection {
            item: state
                .stages
                .values()
                .filter(|st| {
                    q.deployment_id
                        .as_deref()
                        .is_none_or(|d| st.deployment_id == d)
                })
                .cloned()
                .collect(),
            position: None,
        })
    })
    .await)
}

async fn get_stage(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| c.rest().get(&api_id)?.stage(&name).cloned())
        .await)
}

async fn update_stage(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| c.update_rest_stage(&api_id, &name, patch))
        .await)
}

async fn delete_stage(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    accepted(s.write(move |c| c.delete_rest_stage(&api_id, &name)).await)
}

/// `FlushStageCache`: 202.
async fn flush_stage_cache(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.flush_rest_stage_cache(&api_id, &name))
            .await,
    )
}

/// `FlushStageAuthorizersCache`: 202.
async fn flush_stage_authorizers_cache(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.flush_rest_stage_authorizers_cache(&api_id, &name))
            .await,
    )
}

// === gateway responses ===

async fn get_gateway_responses(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        page(&deploy::gateway_responses(state), &q, Clone::clone)
    })
    .await)
}

async fn get_gateway_response(
    State(s): State<AdminState>,
    Params((api_id, t)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        deploy::check_response_type(&t)?;
        Ok(deploy::gateway_response(state, &t))
    })
    .await)
}

async fn put_gateway_response(
    State(s): State<AdminState>,
    Params((api_id, t)): Params<(String, String)>,
    Body(input): Body<GatewayResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.put_gateway_response(&api_id, &t, input))
            .await,
    )
}

async fn update_gateway_response(
    State(s): State<AdminState>,
    Params((api_id, t)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_gateway_response(&api_id, &t, patch))
            .await,
    )
}

async fn delete_gateway_response(
    State(s): State<AdminState>,
    Params((api_id, t)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.delete_gateway_response(&api_id, &t))
            .await,
    )
}

// === models ===

async fn create_model(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<ModelInput>,
) -> Response {
    created(s.write(move |c| c.create_model(&api_id, input)).await)
}

async fn get_models(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        page(&state.models, &q, Clone::clone)
    })
    .await)
}

/// `GetModel`; `?flatten=true` (resolving `$ref`s to other models) changes nothing here: a
/// Portico model cannot refer to another.
async fn get_model(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| models::model(c.rest().get(&api_id)?, &name).cloned())
            .await,
    )
}

/// `GetModelTemplate`: `{"value": "<VTL>"}`.
async fn get_model_template(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| {
        models::model_template(c.rest().get(&api_id)?, &name)
            .map(|value| serde_json::json!({ "value": value }))
    })
    .await)
}

async fn update_model(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| c.update_model(&api_id, &name, patch))
        .await)
}

async fn delete_model(
    State(s): State<AdminState>,
    Params((api_id, name)): Params<(String, String)>,
) -> Response {
    accepted(s.write(move |c| c.delete_model(&api_id, &name)).await)
}

// === request validators ===

async fn create_request_validator(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<RequestValidatorInput>,
) -> Response {
    created(
        s.write(move |c| c.create_request_validator(&api_id, input))
            .await,
    )
}

async fn get_request_validators(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        page(&state.request_validators, &q, Clone::clone)
    })
    .await)
}

async fn get_request_validator(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| models::request_validator(c.rest().get(&api_id)?, &id).cloned())
            .await,
    )
}

async fn update_request_validator(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_request_validator(&api_id, &id, patch))
            .await,
    )
}

async fn delete_request_validator(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.delete_request_validator(&api_id, &id))
            .await,
    )
}

#[cfg(test)]
mod tests;
