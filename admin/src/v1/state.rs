//! REST API state: every REST API in memory, its drafts and its compilation.
//!
//! # Architecture
//! 1. [`RestApis`] (a field of the `Catalog`) holds each [`RestApiState`] behind an `Arc`; it is
//!    loaded from the store's REST kinds by [`RestApis::load`] in `Catalog::load`.
//! 2. An operation takes a [`RestDraft`] of one API (a cheap copy: the resource table is a shared
//!    `Arc`, deployments are immutable `Arc`s), changes it, and every change is also recorded as
//!    a store [`Change`].
//! 3. `Catalog::apply_rest` finishes the draft: when what a stage serves may have changed (a
//!    stage, a deployment a stage points at, an API setting the data plane reads) the API is
//!    compiled with [`compile`] (`compile_rest_api`); an error is a 400 and nothing changes. The
//!    changes are committed, the draft replaces the API, then the snapshot is published.
//!
//! Invariants: resources, methods, integrations, gateway responses, models and request
//! validators are served only through a deployment (a frozen copy), so changing them never
//! recompiles; a stage always points at an
//! existing deployment; the root resource always exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use portico_shared::compile::{compile_rest_api, CompileContext, ConfigError};
use portico_shared::limits::API_ID_CHARS;
use portico_shared::model::rest::{
    Authorizer, GatewayResponse, Model, RequestValidator, Resource, RestApiSpec, RestCanarySpec,
    RestStageSpec,
};
use portico_shared::snapshot::{self};

use crate::error::ApiError;
use crate::ids::{self, now_epoch};
use crate::publish::{deletion, parse_doc, row};
use crate::store::{Change, Kind, Row};
use crate::v1::records::{RestApiRecord, RestDeployment, StageRecord};

/// Every REST API, by id.
#[derive(Debug, Default, Clone)]
pub(crate) struct RestApis {
    apis: BTreeMap<String, Arc<RestApiState>>,
}

/// One REST API and everything under it.
#[derive(Debug, Clone)]
pub(crate) struct RestApiState {
    pub(crate) api: RestApiRecord,
    /// By resource id, each with its methods. Shared between drafts until one changes it.
    pub(crate) resources: Arc<BTreeMap<String, Resource>>,
    /// By deployment id. Immutable once created but for the description.
    pub(crate) deployments: BTreeMap<String, Arc<RestDeployment>>,
    /// By stage name.
    pub(crate) stages: BTreeMap<String, StageRecord>,
    /// The customised gateway responses, by response type.
    pub(crate) gateway_responses: BTreeMap<String, GatewayResponse>,
    /// The models, by name (what methods' `requestModels` refer to).
    pub(crate) models: BTreeMap<String, Model>,
    /// The request validators, by id.
    pub(crate) request_validators: BTreeMap<String, RequestValidator>,
    /// The authorizers, by id.
    pub(crate) authorizers: BTreeMap<String, Authorizer>,
}

/// A change in progress to one REST API.
#[derive(Debug)]
pub(crate) struct RestDraft {
    pub(crate) state: RestApiState,
    /// What to commit, in order.
    changes: Vec<Change>,
    /// What some stage serves may have changed: compile and publish.
    republish: bool,
    /// The timestamp of this change, epoch seconds.
    pub(crate) now: i64,
}

/// Whether documents of `kind` belong to REST APIs (and are loaded by [`RestApis::load`]).
pub(crate) fn is_rest_kind(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::RestApi
            | Kind::RestResource
            | Kind::RestDeployment
            | Kind::RestStage
            | Kind::RestGatewayResponse
            | Kind::RestModel
            | Kind::RestRequestValidator
            | Kind::RestAuthorizer
    )
}

/// Compiles what `state`'s stages serve: each stage with its deployment's resources and gateway
/// responses, its variables and its method settings.
pub(crate) fn compile(
    state: &RestApiState,
    ctx: &mut CompileContext,
) -> Result<snapshot::Api, Vec<ConfigError>> {
    let stages = state
        .stages
        .values()
        .filter_map(|s| {
            state
                .deployments
                .get(&s.deployment_id)
                .map(|d| RestStageSpec {
                    stage_name: &s.stage_name,
                    variables: &s.variables,
                    method_settings: &s.method_settings,
                    resources: &d.resources,
                    gateway_responses: &d.gateway_responses,
                    cache_cluster_enabled: s.cache_cluster_enabled,
                    cache_cluster_size: s.cache_cluster_size.as_deref(),
                    models: &d.models,
                    request_validators: &d.request_validators,
                    authorizers: &d.authorizers,
                    canary: s.canary_settings.as_ref().and_then(|c| {
                        let canary = state.deployments.get(&c.deployment_id)?;
                        let mut variables = s.variables.clone();
                        variables.extend(
                            c.stage_variable_overrides
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone())),
                        );
                        Some(RestCanarySpec {
                            percent_traffic: c.percent_traffic,
                            variables,
                            use_stage_cache: c.use_stage_cache,
                            resources: &canary.resources,
                            gateway_responses: &canary.gateway_responses,
                            models: &canary.models,
                            request_validators: &canary.request_validators,
                            authorizers: &canary.authorizers,
                        })
                    }),
                    access_log: s.access_log_settings.as_ref().map_or((None, None), |a| {
                        (a.destination_arn.as_deref(), a.format.as_deref())
                    }),
                })
        })
        .collect();
    let spec = RestApiSpec {
        api_id: &state.api.id,
        api_key_source: state.api.api_key_source,
        disable_execute_api_endpoint: state.api.disable_execute_api_endpoint,
        policy: state.api.policy.as_deref(),
        private: state
            .api
            .endpoint_configuration
            .types
            .iter()
            .any(|t| t == portico_shared::model::EndpointType::Private.as_str()),
        binary_media_types: &state.api.binary_media_types,
        stages,
    };
    compile_rest_api(&spec, ctx)
}

// === impl RestApis ===

impl RestApis {
    /// Builds the REST APIs from their stored documents.
    pub(crate) fn load(rows: Vec<Row>) -> Result<RestApis, ApiError> {
        let mut apis: BTreeMap<String, RestApiState> = BTreeMap::new();
        let (heads, children): (Vec<Row>, Vec<Row>) =
            rows.into_iter().partition(|r| r.kind == Kind::RestApi);
        for row in heads {
            let api: RestApiRecord = parse_doc(&row)?;
            apis.insert(row.api_id.clone(), RestApiState::new(api));
        }
        for row in children {
            let Some(state) = apis.get_mut(&row.api_id) else {
                tracing::warn!(api_id = %row.api_id, kind = row.kind.as_str(), id = %row.id,
                    "stored document belongs to no REST API; ignored");
                continue;
            };
            match row.kind {
                Kind::RestResource => {
                    let r: Resource = parse_doc(&row)?;
                    Arc::make_mut(&mut state.resources).insert(row.id.clone(), r);
                }
                Kind::RestDeployment => {
                    let d: RestDeployment = parse_doc(&row)?;
                    state.deployments.insert(row.id.clone(), Arc::new(d));
                }
                Kind::RestStage => {
                    let s: StageRecord = parse_doc(&row)?;
                    state.stages.insert(row.id.clone(), s);
                }
                Kind::RestGatewayResponse => {
                    let g: GatewayResponse = parse_doc(&row)?;
                    state.gateway_responses.insert(row.id.clone(), g);
                }
                Kind::RestModel => {
                    let m: Model = parse_doc(&row)?;
                    state.models.insert(row.id.clone(), m);
                }
                Kind::RestRequestValidator => {
                    let v: RequestValidator = parse_doc(&row)?;
                    state.request_validators.insert(row.id.clone(), v);
                }
                Kind::RestAuthorizer => {
                    let a: Authorizer = parse_doc(&row)?;
                    state.authorizers.insert(row.id.clone(), a);
                }
                // Only REST kinds reach here (see `is_rest_kind`); the heads were read above.
                _ => {}
            }
        }
        Ok(RestApis {
            apis: apis.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        })
    }

    /// Compiles every REST API for the first snapshot. One that no longer compiles is kept but
    /// not served; the error is logged.
    pub(crate) fn compile_all(&self, ctx: &mut CompileContext) -> Vec<Arc<snapshot::Api>> {
        let mut out = Vec::with_capacity(self.apis.len());
        for (id, state) in &self.apis {
            match compile(state, ctx) {
                Ok(api) => out.push(Arc::new(api)),
                Err(errors) => {
                    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    tracing::error!(api_id = %id, errors = %list.join("; "),
                        "stored REST API does not compile; not served until it is changed");
                }
            }
        }
        out
    }

    pub(crate) fn map(&self) -> &BTreeMap<String, Arc<RestApiState>> {
        &self.apis
    }

    /// The REST API `id`, or 404.
    pub(crate) fn get(&self, id: &str) -> Result<&Arc<RestApiState>, ApiError> {
        self.apis
            .get(id)
            .ok_or_else(|| crate::error::not_found_rest_api(id))
    }

    /// A draft of the REST API `id`, or 404.
    pub(crate) fn draft(&self, id: &str) -> Result<RestDraft, ApiError> {
        Ok(RestDraft::new(RestApiState::clone(self.get(id)?)))
    }

    /// Takes the REST API `id` out, if there.
    pub(crate) fn take(&mut self, id: &str) -> Option<Arc<RestApiState>> {
        self.apis.remove(id)
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.apis.contains_key(id)
    }

    pub(crate) fn insert(&mut self, state: Arc<RestApiState>) {
        self.apis.insert(state.api.id.clone(), state);
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.apis.remove(id);
    }

    pub(crate) fn clear(&mut self) {
        self.apis.clear();
    }
}

// === impl RestApiState ===

impl RestApiState {
    pub(crate) fn new(api: RestApiRecord) -> RestApiState {
        RestApiState {
            api,
            resources: Arc::default(),
            deployments: BTreeMap::new(),
            stages: BTreeMap::new(),
            gateway_responses: BTreeMap::new(),
            models: BTreeMap::new(),
            request_validators: BTreeMap::new(),
            authorizers: BTreeMap::new(),
        }
    }

    /// The resource `id`, or 404.
    pub(crate) fn resource(&self, id: &str) -> Result<&Resource, ApiError> {
        self.resources
            .get(id)
            .ok_or_else(|| ApiError::NotFound("Invalid Resource identifier specified".into()))
    }

    /// The stage `name`, or 404.
    pub(crate) fn stage(&self, name: &str) -> Result<&StageRecord, ApiError> {
        self.stages
            .get(name)
            .ok_or_else(|| ApiError::NotFound("Invalid Stage identifier specified".into()))
    }

    /// The deployment `id`, or 404.
    pub(crate) fn deployment(&self, id: &str) -> Result<&Arc<RestDeployment>, ApiError> {
        self.deployments
            .get(id)
            .ok_or_else(|| ApiError::NotFound("Invalid Deployment identifier specified".into()))
    }

    /// A new resource, deployment, model or validator id unused in this API.
    pub(crate) fn new_child_id(&self) -> String {
        loop {
            let id = ids::generate(API_ID_CHARS);
            if !self.resources.contains_key(&id)
                && !self.deployments.contains_key(&id)
                && !self.request_validators.contains_key(&id)
                && !self.authorizers.contains_key(&id)
                && !self.models.values().any(|m| m.id == id)
            {
                return id;
            }
        }
    }
}

// === impl RestDraft ===

impl RestDraft {
    pub(crate) fn new(state: RestApiState) -> RestDraft {
        RestDraft {
            state,
            changes: Vec::new(),
            republish: false,
            now: now_epoch(),
        }
    }

    /// Records the API record as changed. `served`: the change affects what is served.
    pub(crate) fn put_api(&mut self, served: bool) {
        let id = self.state.api.id.clone();
        self.changes
            .push(Change::Put(row(&id, Kind::RestApi, &id, &self.state.api)));
        self.republish |= served;
    }

    /// Stores a resource (with its methods). Served only once deployed: no recompile.
    pub(crate) fn put_resource(&mut self, r: Resource) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestResource,
            &r.id,
            &r,
        )));
        Arc::make_mut(&mut self.state.resources).insert(r.id.clone(), r);
    }

    pub(crate) fn remove_resource(&mut self, id: &str) {
        self.changes.push(self.delete(Kind::RestResource, id));
        Arc::make_mut(&mut self.state.resources).remove(id);
    }

    /// Stores a stage; what it serves may change, so the API is recompiled.
    pub(crate) fn put_stage(&mut self, s: StageRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestStage,
            &s.stage_name,
            &s,
        )));
        self.state.stages.insert(s.stage_name.clone(), s);
        self.republish = true;
    }

    pub(crate) fn remove_stage(&mut self, name: &str) {
        self.changes.push(self.delete(Kind::RestStage, name));
        self.state.stages.remove(name);
        self.republish = true;
    }

    /// Stores a deployment. A new one serves nothing until a stage points at it.
    pub(crate) fn put_deployment(&mut self, d: RestDeployment) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestDeployment,
            &d.record.id,
            &d,
        )));
        self.state
            .deployments
            .insert(d.record.id.clone(), Arc::new(d));
    }

    pub(crate) fn remove_deployment(&mut self, id: &str) {
        self.changes.push(self.delete(Kind::RestDeployment, id));
        self.state.deployments.remove(id);
    }

    /// Stores a customised gateway response. Served only once deployed: no recompile.
    pub(crate) fn put_gateway_response(&mut self, g: GatewayResponse) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestGatewayResponse,
            &g.response_type,
            &g,
        )));
        self.state
            .gateway_responses
            .insert(g.response_type.clone(), g);
    }

    pub(crate) fn remove_gateway_response(&mut self, response_type: &str) {
        self.changes
            .push(self.delete(Kind::RestGatewayResponse, response_type));
        self.state.gateway_responses.remove(response_type);
    }

    /// Stores a model. Served only once deployed: no recompile.
    pub(crate) fn put_model(&mut self, m: Model) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestModel,
            &m.name,
            &m,
        )));
        self.state.models.insert(m.name.clone(), m);
    }

    pub(crate) fn remove_model(&mut self, name: &str) {
        self.changes.push(self.delete(Kind::RestModel, name));
        self.state.models.remove(name);
    }

    /// Stores a request validator. Served only once deployed: no recompile.
    pub(crate) fn put_request_validator(&mut self, v: RequestValidator) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestRequestValidator,
            &v.id,
            &v,
        )));
        self.state.request_validators.insert(v.id.clone(), v);
    }

    pub(crate) fn remove_request_validator(&mut self, id: &str) {
        self.changes
            .push(self.delete(Kind::RestRequestValidator, id));
        self.state.request_validators.remove(id);
    }

    /// Stores an authorizer. Served only once deployed: no recompile.
    pub(crate) fn put_authorizer(&mut self, a: Authorizer) {
        self.changes.push(Change::Put(row(
            &self.state.api.id,
            Kind::RestAuthorizer,
            &a.id,
            &a,
        )));
        self.state.authorizers.insert(a.id.clone(), a);
    }

    pub(crate) fn remove_authorizer(&mut self, id: &str) {
        self.changes.push(self.delete(Kind::RestAuthorizer, id));
        self.state.authorizers.remove(id);
    }

    fn delete(&self, kind: Kind, id: &str) -> Change {
        deletion(&self.state.api.id, kind, id)
    }

    /// The state, the changes to commit and whether to recompile.
    pub(crate) fn finish(self) -> (RestApiState, Vec<Change>, bool) {
        (self.state, self.changes, self.republish)
    }
}
