//! The `apigateway` (v1) control plane for API keys, usage plans, usage plan keys and usage, on
//! AWS's paths (`/apikeys`, `/usageplans/...`), and the durable counting behind `GetUsage`.
//!
//! # Architecture
//! 1. Thin handlers (this file) parse the request (every bad input is a 4xx in AWS's shape)
//!    and call a catalog operation (`usage/ops.rs`) with the catalog held; AWS's status codes: create
//!    201, delete 202, everything else 200 (`wire.rs`'s answers). Collections are
//!    `{"item": [...], "position"}`, paged by `position` and `limit` (default 25, at most 500)
//!    as the REST API listings are (`v1::Collection`, `page.rs`); updates are `patchOperations`
//!    (`v1/patch.rs`).
//! 2. `state.rs` keeps the records and memberships and builds what the data plane reads
//!    (`Snapshot.usage`): a change to one key republishes that key's entry only.
//! 3. `flush.rs` writes the data plane's counters to the store every second in the background
//!    and restores them at start; `GetUsage` reads the stored rows (on a blocking thread, not
//!    holding the catalog) and the live counters.
//!
//! Differences from AWS: for a plan without a quota, `GetUsage` answers 0 as each day's
//! `remaining` (there is nothing to count down); `ImportApiKeys` answers 400 (not supported).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::Router;
use serde::Deserialize;

use crate::error::ApiError;
use crate::page::Cursor;
use crate::page::{Collection, PAGING};
use crate::patch::PatchInput;
use crate::wire::{accepted, body_error, created, ok, Body, Params};
use crate::AdminState;

mod flush;
mod ops;
mod records;
mod state;
#[cfg(test)]
mod tests;

pub(crate) use flush::{flush_loop, Counters, StateKey};
pub(crate) use ops::{RestStages, UsageOps};
pub(crate) use state::UsageState;

use records::{ApiKeyInput, UsagePlanInput, UsagePlanKeyInput};

/// Every query string member of these operations (each uses some).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct V1Query {
    position: Option<String>,
    limit: Option<String>,
    /// `nameQuery` (`GetApiKeys`, `GetUsagePlanKeys`): a name prefix.
    name: Option<String>,
    #[serde(rename = "customerId")]
    customer_id: Option<String>,
    #[serde(rename = "includeValues")]
    include_values: Option<String>,
    #[serde(rename = "includeValue")]
    include_value: Option<String>,
    #[serde(rename = "keyId")]
    key_id: Option<String>,
    #[serde(rename = "startDate")]
    start_date: Option<String>,
    #[serde(rename = "endDate")]
    end_date: Option<String>,
    mode: Option<String>,
    /// `ImportApiKeys`: `csv`, the only format.
    format: Option<String>,
    /// `ImportApiKeys`: fail the whole import on any warning.
    failonwarnings: Option<String>,
}

/// The query string, parsed; a malformed one is a 400.
#[derive(Debug)]
pub(crate) struct Q(pub V1Query);

/// The routes.
pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/apikeys", get(get_api_keys).post(create_api_key))
        .route(
            "/apikeys/{api_key}",
            get(get_api_key)
                .patch(update_api_key)
                .delete(delete_api_key),
        )
        .route("/usageplans", get(get_usage_plans).post(create_usage_plan))
        .route(
            "/usageplans/{usageplan_id}",
            get(get_usage_plan)
                .patch(update_usage_plan)
                .delete(delete_usage_plan),
        )
        .route(
            "/usageplans/{usageplan_id}/keys",
            get(get_usage_plan_keys).post(create_usage_plan_key),
        )
        .route(
            "/usageplans/{usageplan_id}/keys/{key_id}",
            get(get_usage_plan_key).delete(delete_usage_plan_key),
        )
        .route("/usageplans/{usageplan_id}/usage", get(get_usage))
        .route(
            "/usageplans/{usageplan_id}/keys/{key_id}/usage",
            patch(update_usage),
        )
}

// === API keys ===

async fn create_api_key(
    State(s): State<AdminState>,
    Q(q): Q,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if q.mode.as_deref() == Some("import") {
        return import_api_keys(s, q, body).await;
    }
    let input: ApiKeyInput = match body.map_err(body_error).and_then(|b| json(&b)) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    created(s.write(move |c| c.usage_ops().create_api_key(input)).await)
}

/// `ImportApiKeys`: `POST /apikeys?mode=import&format=csv[&failonwarnings=true]`, the CSV file
/// as the body.
async fn import_api_keys(
    s: AdminState,
    q: V1Query,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if q.format.as_deref() != Some("csv") {
        return ApiError::BadRequest("Invalid format specified: only csv is supported".into())
            .into_response();
    }
    let fail_on_warnings = match flag(q.failonwarnings.as_deref(), "failonwarnings") {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let body = match body.map_err(body_error) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let text = match String::from_utf8(body.to_vec()) {
        Ok(t) => t,
        Err(_) => {
            return ApiError::BadRequest("Invalid API key file: it is not UTF-8 text".into())
                .into_response()
        }
    };
    created(
        s.write(move |c| c.usage_ops().import_api_keys(&text, fail_on_warnings))
            .await,
    )
}

async fn get_api_keys(State(s): State<AdminState>, Q(q): Q) -> Response {
    let include = match flag(q.include_values.as_deref(), "includeValues") {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let here = s.regions().here(crate::region::Class::ApiKey);
    ok(s.read(|c| {
        let keys = c.usage.keys.iter().filter(|(id, k)| {
            here.contains(id)
                && q.name
                    .as_deref()
                    .is_none_or(|n| k.name.as_deref().is_some_and(|kn| kn.starts_with(n)))
                && q.customer_id
                    .as_deref()
                    .is_none_or(|id| k.customer_id.as_deref() == Some(id))
        });
        page(keys, &q, |k| k.view(include))
    })
    .await)
}

async fn get_api_key(
    State(s): State<AdminState>,
    Params(key_id): Params<String>,
    Q(q): Q,
) -> Response {
    let include = match flag(q.include_value.as_deref(), "includeValue") {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    ok(s.read(|c| Ok(c.usage.key(&key_id)?.view(include))).await)
}

async fn update_api_key(
    State(s): State<AdminState>,
    Params(key_id): Params<String>,
    Body(input): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| {
        c.usage_ops()
            .update_api_key(&key_id, input.patch_operations)
            .map(|k| k.view(false))
    })
    .await)
}

async fn delete_api_key(State(s): State<AdminState>, Params(key_id): Params<String>) -> Response {
    accepted(
        s.write(move |c| c.usage_ops().delete_api_key(&key_id))
            .await,
    )
}

// === usage plans ===

async fn create_usage_plan(
    State(s): State<AdminState>,
    Body(input): Body<UsagePlanInput>,
) -> Response {
    created(
        s.write(move |c| c.usage_ops().create_usage_plan(input))
            .await,
    )
}

async fn get_usage_plans(State(s): State<AdminState>, Q(q): Q) -> Response {
    let here = s.regions().here(crate::region::Class::UsagePlan);
    ok(s.read(|c| {
        let plans = c.usage.plans.iter().filter(|(id, p)| {
            here.contains(id) && q.key_id.as_ref().is_none_or(|k| p.keys.contains(k))
        });
        page(plans, &q, |p| p.stored.record.clone())
    })
    .await)
}

async fn get_usage_plan(State(s): State<AdminState>, Params(plan_id): Params<String>) -> Response {
    ok(
        s.read(|c| Ok(c.usage.plan(&plan_id)?.stored.record.clone()))
            .await,
    )
}

async fn update_usage_plan(
    State(s): State<AdminState>,
    Params(plan_id): Params<String>,
    Body(input): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| {
        c.usage_ops()
            .update_usage_plan(&plan_id, input.patch_operations)
    })
    .await)
}

async fn delete_usage_plan(
    State(s): State<AdminState>,
    Params(plan_id): Params<String>,
) -> Response {
    accepted(
        s.write(move |c| c.usage_ops().delete_usage_plan(&plan_id))
            .await,
    )
}

// === usage plan keys ===

async fn create_usage_plan_key(
    State(s): State<AdminState>,
    Params(plan_id): Params<String>,
    Body(input): Body<UsagePlanKeyInput>,
) -> Response {
    created(
        s.write(move |c| c.usage_ops().create_usage_plan_key(&plan_id, input))
            .await,
    )
}

async fn get_usage_plan_keys(
    State(s): State<AdminState>,
    Params(plan_id): Params<String>,
    Q(q): Q,
) -> Response {
    ok(s.read(|c| {
        let plan = c.usage.plan(&plan_id)?;
        let keys = plan.keys.iter().filter_map(|id| {
            let k = c.usage.keys.get(id)?;
            let named = q
                .name
                .as_deref()
                .is_none_or(|n| k.name.as_deref().is_some_and(|kn| kn.starts_with(n)));
            named.then_some((id, k))
        });
        page(keys, &q, |k| records::UsagePlanKeyRecord {
            id: k.id.clone(),
            key_type: "API_KEY",
            value: k.value().to_string(),
            name: k.name.clone(),
        })
    })
    .await)
}

async fn get_usage_plan_key(
    State(s): State<AdminState>,
    Params((plan_id, key_id)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| c.usage.usage_plan_key(&plan_id, &key_id)).await)
}

async fn delete_usage_plan_key(
    State(s): State<AdminState>,
    Params((plan_id, key_id)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.usage_ops().delete_usage_plan_key(&plan_id, &key_id))
            .await,
    )
}

// === usage ===

async fn get_usage(
    State(s): State<AdminState>,
    Params(plan_id): Params<String>,
    Q(q): Q,
) -> Response {
    let taken = s
        .read(|c| {
            let query = c.usage.usage_query(
                &plan_id,
                q.start_date.as_deref(),
                q.end_date.as_deref(),
                q.key_id.as_deref(),
                &q.cursor()?,
            )?;
            Ok((query, c.usage.counters.clone()))
        })
        .await;
    let (query, counters) = match taken {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    // The store is read on a blocking thread, without the catalog held.
    let report = tokio::task::spawn_blocking(move || {
        let (from, to) = ops::usage_span(&query);
        let rows = counters
            .store()
            .load_usage(&query.plan_id, from, to)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(ops::usage_report(query, &rows))
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::Internal(format!("usage task failed: {e}"))));
    ok(report)
}

async fn update_usage(
    State(s): State<AdminState>,
    Params((plan_id, key_id)): Params<(String, String)>,
    Body(input): Body<PatchInput>,
) -> Response {
    ok(s.write(move |c| {
        c.usage_ops()
            .update_usage(&plan_id, &key_id, input.patch_operations)
    })
    .await)
}

// === paging ===

/// One page of `items` (in key order, filtered) after `position`, of at most `limit` items.
fn page<'a, V: 'a, T>(
    items: impl Iterator<Item = (&'a String, V)>,
    q: &V1Query,
    view: impl Fn(V) -> T,
) -> Result<Collection<T>, ApiError> {
    let (item, position) = q.cursor()?.take(items, view);
    Ok(Collection { item, position })
}

// === extractors ===

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
}

fn flag(v: Option<&str>, member: &str) -> Result<bool, ApiError> {
    v.map_or(Ok(false), |v| ops::parse_bool(v, member))
}

// === impl V1Query ===

impl V1Query {
    /// Where the page starts and how long it is (the v1 `limit` and `position`).
    fn cursor(&self) -> Result<Cursor, ApiError> {
        Cursor::parse(&PAGING, self.limit.as_deref(), self.position.as_deref())
    }
}

// === impl Q ===

impl<S: Send + Sync> FromRequestParts<S> for Q {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<V1Query>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Q(q))
            .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {}", e.body_text())))
    }
}
