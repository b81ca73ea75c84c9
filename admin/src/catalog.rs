//! The catalog: every API the admin side knows, in memory, mirrored in the [`Store`], and the
//! composition root of the admin state: it holds each domain's state (usage, IAM, custom
//! domains, VPC links, the account) and the [`Publisher`] that every change commits and
//! publishes through, and lends a domain operation its state, the publisher and read-only views
//! of the others (`domain_ops`, `usage_ops`), so no domain module imports this one.
//!
//! # Architecture
//! 1. An operation takes a [`Draft`] of one API (a cheap copy: route and integration tables are
//!    shared `Arc`s, deployments are immutable `Arc`s) and changes it; every change is also
//!    recorded as a store [`Change`].
//! 2. [`Catalog::apply`] finishes the draft: routes or integrations changed → every `autoDeploy`
//!    stage gets a new deployment; then, if what a stage serves changed, the API is compiled with
//!    [`compile_api`]. A compile error answers 400 and leaves everything untouched.
//! 3. The changes are committed to the store in one transaction (durable when it returns), the
//!    draft replaces the API in memory, and only then is the new snapshot published:
//!    `cell.store(current.with_api(generation + 1, api))`. Other APIs are shared, not recompiled.
//!
//! 4. The snapshot a publish replaces goes to [`Retired`], not to the workers: a worker that
//!    moves to the new snapshot only drops a reference, and the admin side frees the old one (a
//!    10,000-route router is thousands of allocations, milliseconds of `free`) once no worker
//!    holds it: at the next publish, or by a timer once changes have stopped for a while. Freeing
//!    it on a worker would stall that worker's requests.
//!
//! Invariants: the catalog sits behind one lock, so operations (and publishes) run one at a
//! time; a failed validation, compile or commit changes neither memory, the store nor the cell;
//! the cell only ever holds compiled output; workers never free a replaced snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use portico_shared::compile::{compile_api, CompileContext, ConfigError, StageInput};
use portico_shared::limits::{API_ID_CHARS, CHILD_ID_CHARS};
use portico_shared::model;
use portico_shared::snapshot::{self};
use portico_shared::Snapshot;
use serde::{Deserialize, Serialize};

use crate::domains::{ApiStages, DomainOps};
use crate::error::not_found_api;
use crate::error::ApiError;
use crate::ids;
use crate::publish::{compile_error, deletion, parse_doc, row, BufferStore, Publisher, Retired};
use crate::records::{
    ApiRecord, AuthorizerRecord, DeploymentContent, DeploymentRecord, IntegrationRecord,
    IntegrationResponseRecord, RouteRecord, RouteResponseRecord, StageRecord,
};
use crate::store::{Change, Kind, Row, Store, LAMBDA_SCOPE, USAGE_SCOPE, VPC_LINK_SCOPE};
use crate::usage::{RestStages, UsageOps, UsageState};
use crate::v1::{RestApiState, RestApis, RestDraft};
use crate::SnapshotCell;

/// Everything the admin side knows.
#[derive(Debug)]
pub(crate) struct Catalog {
    /// By apiId, in id order (so `GetApis` pages are stable).
    apis: BTreeMap<String, Arc<ApiState>>,
    /// The store, the served cell, the generation and the compiler's context (`publish.rs`).
    pub(crate) publisher: Publisher,
    /// API keys, usage plans and their counters (`usage/`).
    pub(crate) usage: UsageState,
    /// IAM users, access keys and policies (`iam.rs`).
    pub(crate) iam: crate::iam::IamState,
    /// Certificates, custom domain names and API mappings (`domains/`).
    pub(crate) domains: crate::domains::DomainState,
    /// REST APIs (`apigateway` v1, see `v1/`). Their ids share one namespace with `apis` (the
    /// data plane routes both by `{apiId}.{domain}`), so neither map lists the other's.
    rest: RestApis,
    /// VPC links of both control planes, by id (`vpc_link.rs`).
    pub(crate) vpc_links: BTreeMap<String, crate::vpc_link::VpcLinkRecord>,
    /// The account's settings (`account.rs`).
    pub(crate) account: crate::account::AccountRecord,
}

/// The APIs of every type, read only: what other domains may ask of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiView<'a> {
    apis: &'a BTreeMap<String, Arc<ApiState>>,
    rest: &'a RestApis,
}

impl ApiStages for ApiView<'_> {
    fn has_stage(&self, api_id: &str, stage: Option<&str>) -> Option<bool> {
        if let Some(api) = self.apis.get(api_id) {
            Some(stage.is_none_or(|s| api.stages.contains_key(s)))
        } else if let Ok(api) = self.rest.get(api_id) {
            Some(stage.is_none_or(|s| api.stages.contains_key(s)))
        } else {
            None
        }
    }
}

impl RestStages for ApiView<'_> {
    fn rest_has_stage(&self, api_id: &str, stage: &str) -> Option<bool> {
        let api = self.rest.get(api_id).ok()?;
        Some(api.stage(stage).is_ok())
    }
}

/// One API and everything under it.
#[derive(Debug, Clone)]
pub(crate) struct ApiState {
    pub(crate) api: ApiRecord,
    /// By routeId. Shared between drafts until one changes it (`Arc::make_mut`).
    pub(crate) routes: Arc<BTreeMap<String, RouteRecord>>,
    /// By integrationId.
    pub(crate) integrations: Arc<BTreeMap<String, IntegrationRecord>>,
    /// By authorizerId.
    pub(crate) authorizers: Arc<BTreeMap<String, AuthorizerRecord>>,
    /// WebSocket APIs: by `{routeId}/{routeResponseId}`.
    pub(crate) route_responses: Arc<BTreeMap<String, RouteResponseRecord>>,
    /// WebSocket APIs: by `{integrationId}/{integrationResponseId}`.
    pub(crate) integration_responses: Arc<BTreeMap<String, IntegrationResponseRecord>>,
    /// By stageName.
    pub(crate) stages: BTreeMap<String, StageRecord>,
    /// By deploymentId. Immutable once created.
    pub(crate) deployments: BTreeMap<String, Arc<Deployment>>,
}

/// A deployment: its record and the frozen routes and integrations it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployment {
    pub(crate) record: DeploymentRecord,
    pub(crate) content: DeploymentContent,
}

/// A change in progress to one API.
#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) state: ApiState,
    /// What to commit, in order.
    changes: Vec<Change>,
    /// Routes or integrations changed: `autoDeploy` stages need a new deployment.
    content_changed: bool,
    /// What some stage serves may have changed: compile and publish.
    republish: bool,
    /// The timestamp of this change.
    pub(crate) now: String,
}

// === impl Catalog ===

impl Catalog {
    /// Loads everything from `store` and publishes it as one snapshot. An API that no longer
    /// compiles (say, an upstream host that stopped resolving) is kept but not served; the error
    /// is logged.
    pub(crate) fn load(
        store: Arc<dyn Store>,
        cell: SnapshotCell,
        workers: usize,
        local_lambda: Option<portico_shared::lambda::LocalLambda>,
    ) -> Result<Catalog, ApiError> {
        let (usage_rows, rows): (Vec<Row>, Vec<Row>) = store
            .load()
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .into_iter()
            // Functions are the function host's (lambda/), loaded there.
            .filter(|r| r.api_id != LAMBDA_SCOPE && r.api_id != crate::region::REGION_SCOPE)
            .partition(|r| r.api_id == USAGE_SCOPE);
        let (iam_rows, rows): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|r| r.api_id == crate::store::IAM_SCOPE);
        let iam = crate::iam::IamState::load(iam_rows)?;
        let usage = UsageState::load(usage_rows, Arc::clone(&store))?;
        let (domain_rows, rows): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|r| r.api_id == crate::domains::DOMAIN_SCOPE);
        let domains = crate::domains::DomainState::load(domain_rows)?;
        let (link_rows, rows): (Vec<Row>, Vec<Row>) =
            rows.into_iter().partition(|r| r.api_id == VPC_LINK_SCOPE);
        let mut ctx = CompileContext::new(workers);
        ctx.lambda.local = local_lambda;
        let vpc_links = crate::vpc_link::load(&link_rows, &mut ctx)?;
        let (account_rows, rows): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|r| r.api_id == crate::account::ACCOUNT_SCOPE);
        let account = crate::account::load(&account_rows)?;
        let (rest_rows, rows): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|r| crate::v1::is_rest_kind(r.kind));
        let rest = RestApis::load(rest_rows)?;
        let apis = http_api_states(rows)?;
        let mut compiled = Vec::new();
        for (id, state) in &apis {
            match compile(state, &mut ctx) {
                Ok(api) => compiled.push(Arc::new(api)),
                Err(errors) => {
                    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    tracing::error!(api_id = %id, errors = %list.join("; "),
                        "stored API does not compile; not served until it is changed");
                }
            }
        }
        compiled.extend(rest.compile_all(&mut ctx));
        let generation = cell.load().generation + 1;
        let retired = Retired::default();
        let snapshot = Snapshot::from_apis(generation, compiled)
            .with_usage(generation, Arc::clone(&usage.published))
            .with_iam(generation, Arc::clone(&iam.published))
            .with_domains(generation, Arc::new(domains.compile_lenient()));
        retired.retire(cell.swap(Arc::new(snapshot)));
        Ok(Catalog {
            apis: apis.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            publisher: Publisher {
                store,
                cell,
                generation,
                retired,
                ctx,
            },
            usage,
            iam,
            domains,
            rest,
            vpc_links,
            account,
        })
    }

    /// A domain operation's reach: the domain state, the publisher, and the APIs (read only).
    pub(crate) fn domain_ops(&mut self) -> DomainOps<'_, ApiView<'_>> {
        DomainOps {
            domains: &mut self.domains,
            publisher: &mut self.publisher,
            apis: ApiView {
                apis: &self.apis,
                rest: &self.rest,
            },
        }
    }

    /// A usage operation's reach: the usage state, the publisher, and the REST APIs (read only).
    pub(crate) fn usage_ops(&mut self) -> UsageOps<'_, ApiView<'_>> {
        UsageOps {
            usage: &mut self.usage,
            publisher: &mut self.publisher,
            apis: ApiView {
                apis: &self.apis,
                rest: &self.rest,
            },
        }
    }

    /// The compiler's context (`TestInvokeMethod` compiles a draft stage with it).
    pub(crate) fn compile_context(&mut self) -> &mut CompileContext {
        &mut self.publisher.ctx
    }

    /// The VPC links integrations may name.
    pub(crate) fn vpc_links(&self) -> &portico_shared::vpc_link::VpcLinks {
        &self.publisher.ctx.vpc_links
    }

    /// The store, for the usage operations.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.publisher.store
    }

    /// The ids of every API of every type.
    pub(crate) fn api_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.apis.keys().chain(self.rest.map().keys()).cloned()
    }

    pub(crate) fn apis(&self) -> &BTreeMap<String, Arc<ApiState>> {
        &self.apis
    }

    /// The API `api_id`, or 404.
    pub(crate) fn api(&self, api_id: &str) -> Result<&Arc<ApiState>, ApiError> {
        self.apis.get(api_id).ok_or_else(|| not_found_api(api_id))
    }

    /// The last published generation.
    pub(crate) fn generation(&self) -> u64 {
        self.publisher.generation
    }

    /// The replaced snapshots waiting to be freed.
    pub(crate) fn retired(&self) -> &Retired {
        &self.publisher.retired
    }

    /// A draft of the existing API `api_id`, or 404.
    pub(crate) fn draft(&self, api_id: &str) -> Result<Draft, ApiError> {
        Ok(Draft::new(ApiState::clone(self.api(api_id)?)))
    }

    /// A new API id no API has.
    pub(crate) fn new_api_id(&self) -> String {
        loop {
            let id = ids::generate(API_ID_CHARS);
            if !self.apis.contains_key(&id) && !self.rest.contains(&id) {
                return id;
            }
        }
    }

    /// Finishes `draft` (auto-deploys, compiles), commits it and publishes it. On error nothing
    /// changed.
    pub(crate) fn apply(&mut self, draft: Draft) -> Result<Arc<ApiState>, ApiError> {
        let (state, changes, republish) = draft.finish();
        let compiled = if republish {
            Some(compile(&state, &mut self.publisher.ctx).map_err(compile_error)?)
        } else {
            None
        };
        self.publisher
            .store
            .commit(&changes)
            .map_err(ApiError::from)?;
        let state = Arc::new(state);
        self.apis
            .insert(state.api.api_id.clone(), Arc::clone(&state));
        if let Some(api) = compiled {
            self.publish(|current, generation| current.with_api(generation, Arc::new(api)));
        }
        Ok(state)
    }

    /// Deletes the API `api_id` and everything under it.
    pub(crate) fn delete_api(&mut self, api_id: &str) -> Result<(), ApiError> {
        self.api(api_id)?;
        self.publisher
            .store
            .commit(&[Change::DeleteApi {
                api_id: api_id.to_string(),
            }])
            .map_err(ApiError::from)?;
        self.apis.remove(api_id);
        self.publish(|current, generation| current.without_api(generation, api_id));
        Ok(())
    }

    /// Replaces APIs wholesale (a declarative import): each of `states` replaces the API with
    /// the same id; with `replace_all`, every other API is deleted too. All of them are compiled
    /// before anything is committed; errors from every API are reported together.
    pub(crate) fn replace(
        &mut self,
        states: Vec<ApiState>,
        replace_all: bool,
    ) -> Result<u64, ApiError> {
        if !replace_all {
            if let Some(s) = states.iter().find(|s| self.rest.contains(&s.api.api_id)) {
                return Err(ApiError::Conflict(format!(
                    "API id {} is taken by a REST API",
                    s.api.api_id
                )));
            }
        }
        let mut errors = Vec::new();
        let mut compiled = Vec::with_capacity(states.len());
        for state in &states {
            match compile(state, &mut self.publisher.ctx) {
                Ok(api) => compiled.push(Arc::new(api)),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if !errors.is_empty() {
            return Err(compile_error(errors));
        }
        let mut changes = Vec::new();
        if replace_all {
            changes.push(Change::DeleteAll);
        }
        for state in &states {
            if !replace_all {
                changes.push(Change::DeleteApi {
                    api_id: state.api.api_id.clone(),
                });
            }
            changes.extend(state.rows().into_iter().map(Change::Put));
        }
        self.publisher
            .store
            .commit(&changes)
            .map_err(ApiError::from)?;
        if replace_all {
            self.apis.clear();
            self.rest.clear();
        }
        for state in states {
            self.apis.insert(state.api.api_id.clone(), Arc::new(state));
        }
        if replace_all {
            self.publish(|current, generation| {
                Snapshot::from_apis(generation, compiled)
                    .with_usage(generation, Arc::clone(&current.usage))
            });
        } else {
            // Later entries win: the imported APIs replace those with the same id.
            self.publish(|current, generation| {
                Snapshot::from_apis(generation, current.apis().cloned().chain(compiled))
                    .with_usage(generation, Arc::clone(&current.usage))
            });
        }
        Ok(self.publisher.generation)
    }

    /// The REST APIs (`apigateway` v1).
    pub(crate) fn rest(&self) -> &RestApis {
        &self.rest
    }

    /// Finishes a REST API draft as [`Catalog::apply`] does an HTTP API's: compiles it if what a
    /// stage serves changed (an error is a 400 and changes nothing), commits, then publishes.
    pub(crate) fn apply_rest(&mut self, draft: RestDraft) -> Result<Arc<RestApiState>, ApiError> {
        let (state, changes, republish) = draft.finish();
        let compiled = if republish {
            Some(crate::v1::compile(&state, &mut self.publisher.ctx).map_err(compile_error)?)
        } else {
            None
        };
        self.publisher
            .store
            .commit(&changes)
            .map_err(ApiError::from)?;
        let state = Arc::new(state);
        self.rest.insert(Arc::clone(&state));
        if let Some(api) = compiled {
            self.publish(|current, generation| current.with_api(generation, Arc::new(api)));
        }
        Ok(state)
    }

    /// `FlushStageCache`: the stage's cache gets a new id (its flush generation is bumped and
    /// the API recompiled), so every worker's entries of the stage become unreachable at once;
    /// workers drop the old shards in their housekeeping. Nothing is stored: the cache lives in
    /// memory only, and a restart empties it anyway.
    pub(crate) fn flush_rest_stage_cache(
        &mut self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<(), ApiError> {
        self.flush_rest_stage(api_id, stage_name, |ctx| &mut ctx.cache_generations)
    }

    /// `FlushStageAuthorizersCache`: the stage's Lambda authorizers get new decision cache ids
    /// (their flush generation is bumped and the API recompiled), so every worker calls the
    /// functions again on its next request; workers drop the old entries in their housekeeping.
    pub(crate) fn flush_rest_stage_authorizers_cache(
        &mut self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<(), ApiError> {
        self.flush_rest_stage(api_id, stage_name, |ctx| &mut ctx.authorizer_generations)
    }

    /// `ResetAuthorizersCache` (HTTP APIs): as [`Catalog::flush_rest_stage_authorizers_cache`]
    /// for an HTTP API's stage: its Lambda authorizers get new decision cache ids.
    pub(crate) fn reset_http_stage_authorizers_cache(
        &mut self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<(), ApiError> {
        let state = Arc::clone(self.api(api_id)?);
        state.stage(stage_name)?;
        if state.api.protocol_type == model::ProtocolType::Websocket {
            return Err(ApiError::BadRequest(
                "ResetAuthorizersCache is supported only for HTTP APIs".into(),
            ));
        }
        self.publisher
            .ctx
            .authorizer_generations
            .bump(api_id, stage_name);
        let api = compile(&state, &mut self.publisher.ctx).map_err(compile_error)?;
        self.publish(|current, generation| current.with_api(generation, Arc::new(api)));
        Ok(())
    }

    /// Bumps the stage's flush generation in `generations` and publishes the API recompiled.
    fn flush_rest_stage(
        &mut self,
        api_id: &str,
        stage_name: &str,
        generations: fn(&mut CompileContext) -> &mut portico_shared::cache::CacheGenerations,
    ) -> Result<(), ApiError> {
        let state = Arc::clone(self.rest.get(api_id)?);
        state.stage(stage_name)?;
        generations(&mut self.publisher.ctx).bump(api_id, stage_name);
        let api = crate::v1::compile(&state, &mut self.publisher.ctx).map_err(compile_error)?;
        self.publish(|current, generation| current.with_api(generation, Arc::new(api)));
        Ok(())
    }

    /// Deletes the REST API `api_id` and everything under it.
    pub(crate) fn delete_rest_api(&mut self, api_id: &str) -> Result<(), ApiError> {
        self.rest.get(api_id)?;
        self.publisher
            .store
            .commit(&[Change::DeleteApi {
                api_id: api_id.to_string(),
            }])
            .map_err(ApiError::from)?;
        self.rest.remove(api_id);
        self.publish(|current, generation| current.without_api(generation, api_id));
        Ok(())
    }

    /// Follows a self-hosted function's creation (`hosted`) or deletion: every served API with
    /// a Lambda integration naming `name` that was compiled for the other side is recompiled,
    /// so it now invokes the function here (or, after a delete, at the Lambda endpoint). Which
    /// functions are local stays a compile-time decision; the request path never asks. An API
    /// that no longer compiles (a delete whose fallback endpoint does not resolve) keeps what
    /// it served, and the problem is logged: its calls then fail as for a missing function.
    pub(crate) fn rebind_function(&mut self, name: &str, hosted: bool) {
        let stale: Vec<Box<str>> = self
            .publisher
            .cell
            .load()
            .apis()
            .filter(|a| a.lambda_target_stale(name, hosted))
            .map(|a| a.id.clone())
            .collect();
        for api_id in stale {
            let compiled = if let Some(state) = self.apis.get(&*api_id) {
                compile(state, &mut self.publisher.ctx)
            } else if let Ok(state) = self.rest.get(&api_id) {
                crate::v1::compile(state, &mut self.publisher.ctx)
            } else {
                continue;
            };
            match compiled {
                Ok(api) => {
                    self.publish(|current, generation| current.with_api(generation, Arc::new(api)))
                }
                Err(errors) => tracing::warn!(api_id = %api_id, function = name,
                    errors = ?errors, "the API could not follow the function; it serves what it did"),
            }
        }
    }

    /// Runs `f`, a sequence of ordinary operations (an OpenAPI import), as one change: every
    /// operation validates and compiles as when called alone, but their store changes are
    /// buffered and their publishes go to a scratch cell. If `f` succeeds, the buffered changes
    /// are committed in one transaction and the APIs `f` changed are published once; if it fails
    /// (or the commit does), memory is put back as it was and neither the store nor the cell
    /// saw anything.
    pub(crate) fn atomically<T>(
        &mut self,
        f: impl FnOnce(&mut Catalog) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let buffer = Arc::new(BufferStore::new(Arc::clone(&self.publisher.store)));
        let real_store = std::mem::replace(
            &mut self.publisher.store,
            Arc::clone(&buffer) as Arc<dyn Store>,
        );
        let scratch: SnapshotCell =
            Arc::new(arc_swap::ArcSwap::new(self.publisher.cell.load_full()));
        let real_cell = std::mem::replace(&mut self.publisher.cell, scratch);
        let (apis, rest, generation) = (
            self.apis.clone(),
            self.rest.clone(),
            self.publisher.generation,
        );
        let result = f(self);
        self.publisher.store = real_store;
        self.publisher.cell = real_cell;
        self.publisher.generation = generation;
        let committed = result.and_then(|v| {
            self.publisher
                .store
                .commit(&buffer.take())
                .map_err(ApiError::from)
                .map(|()| v)
        });
        let value = match committed {
            Ok(v) => v,
            Err(e) => {
                self.apis = apis;
                self.rest = rest;
                return Err(e);
            }
        };
        // Publish what changed: APIs replaced, added or removed, compiled once more from their
        // final state (each compiled during `f` already, so this cannot newly fail but for a
        // host that stopped resolving, which is logged and leaves the API as it was served).
        let mut ids: Vec<String> = Vec::new();
        for (id, state) in &self.apis {
            if apis.get(id).is_none_or(|old| !Arc::ptr_eq(old, state)) {
                ids.push(id.clone());
            }
        }
        for (id, state) in self.rest.map() {
            if rest.get(id).map_or(true, |old| !Arc::ptr_eq(old, state)) {
                ids.push(id.clone());
            }
        }
        ids.extend(
            apis.keys()
                .chain(rest.map().keys())
                .filter(|id| !self.apis.contains_key(*id) && !self.rest.contains(id))
                .cloned(),
        );
        for id in ids {
            let compiled = if let Some(state) = self.apis.get(&id) {
                Some(compile(state, &mut self.publisher.ctx))
            } else if let Ok(state) = self.rest.get(&id) {
                Some(crate::v1::compile(state, &mut self.publisher.ctx))
            } else {
                None
            };
            match compiled {
                Some(Ok(api)) => {
                    self.publish(|current, generation| current.with_api(generation, Arc::new(api)))
                }
                Some(Err(errors)) => tracing::error!(api_id = %id, errors = ?errors,
                    "imported API does not compile at publish; it serves what it did"),
                None => self.publish(|current, generation| current.without_api(generation, &id)),
            }
        }
        Ok(value)
    }

    /// Brings `scopes` up to date with `rows` (every stored document under them, read after
    /// another node committed a change to them). APIs (HTTP, WebSocket and REST) are parsed,
    /// compiled and published, or unpublished when they no longer exist; the `$` scopes (VPC
    /// links, usage plans and keys, IAM, custom domains, the account) are rebuilt and published
    /// keeping this node's live state (usage counters, the admin credentials as root). VPC links
    /// go first, since an API compiled after them may name a new one. An API that does not
    /// compile here keeps serving what it did (logged). Functions (`$lambda`) are the function
    /// host's and are not refreshed.
    pub(crate) fn refresh(
        &mut self,
        scopes: &std::collections::BTreeSet<String>,
        rows: Vec<Row>,
    ) -> Result<(), ApiError> {
        let mut by_scope: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for row in rows {
            if scopes.contains(&row.api_id) {
                by_scope.entry(row.api_id.clone()).or_default().push(row);
            }
        }
        let mut take = |scope: &str| by_scope.remove(scope).unwrap_or_default();
        if scopes.contains(VPC_LINK_SCOPE) {
            let rows = take(VPC_LINK_SCOPE);
            for id in self.vpc_links.keys() {
                self.publisher.ctx.vpc_links.remove(id);
            }
            self.vpc_links = crate::vpc_link::load(&rows, &mut self.publisher.ctx)?;
        }
        if scopes.contains(USAGE_SCOPE) {
            self.usage.refresh(take(USAGE_SCOPE))?;
            let usage = Arc::clone(&self.usage.published);
            self.publish(|current, generation| current.with_usage(generation, usage));
        }
        if scopes.contains(crate::store::IAM_SCOPE) {
            self.iam
                .refresh(&mut self.publisher, take(crate::store::IAM_SCOPE))?;
        }
        if scopes.contains(crate::domains::DOMAIN_SCOPE) {
            self.domains = crate::domains::DomainState::load(take(crate::domains::DOMAIN_SCOPE))?;
            let compiled = Arc::new(self.domains.compile_lenient());
            self.publish(|current, generation| current.with_domains(generation, compiled));
        }
        if scopes.contains(crate::account::ACCOUNT_SCOPE) {
            self.account = crate::account::load(&take(crate::account::ACCOUNT_SCOPE))?;
        }
        for id in scopes.iter().filter(|s| !s.starts_with('$')) {
            let (rest_rows, http_rows): (Vec<Row>, Vec<Row>) = take(id)
                .into_iter()
                .partition(|r| crate::v1::is_rest_kind(r.kind));
            let http = http_api_states(http_rows)?.remove(id);
            let rest = RestApis::load(rest_rows)?.take(id);
            let compiled = match (&http, &rest) {
                (Some(state), _) => Some(compile(state, &mut self.publisher.ctx)),
                (None, Some(state)) => Some(crate::v1::compile(state, &mut self.publisher.ctx)),
                (None, None) => None,
            };
            match compiled {
                Some(Ok(api)) => {
                    self.apis.remove(id);
                    self.rest.remove(id);
                    if let Some(state) = http {
                        self.apis.insert(id.clone(), Arc::new(state));
                    }
                    if let Some(state) = rest {
                        self.rest.insert(state);
                    }
                    self.publish(|current, generation| current.with_api(generation, Arc::new(api)));
                }
                Some(Err(errors)) => tracing::error!(api_id = %id, errors = ?errors,
                    "API changed on another node does not compile here; it serves what it did"),
                None => {
                    let known = self.apis.remove(id).is_some() | self.rest.contains(id);
                    self.rest.remove(id);
                    if known {
                        self.publish(|current, generation| current.without_api(generation, id));
                    }
                }
            }
        }
        Ok(())
    }

    /// Swaps in the next snapshot (see [`Publisher::publish`]).
    pub(crate) fn publish(&mut self, next: impl FnOnce(&Snapshot, u64) -> Snapshot) {
        self.publisher.publish(next);
    }
}

// === impl ApiState ===

impl ApiState {
    pub(crate) fn new(api: ApiRecord) -> ApiState {
        ApiState {
            api,
            routes: Arc::default(),
            integrations: Arc::default(),
            authorizers: Arc::default(),
            route_responses: Arc::default(),
            integration_responses: Arc::default(),
            stages: BTreeMap::new(),
            deployments: BTreeMap::new(),
        }
    }

    /// Every document of this API, as store rows.
    pub(crate) fn rows(&self) -> Vec<Row> {
        let id = &self.api.api_id;
        let mut rows = vec![row(id, Kind::Api, id, &self.api)];
        rows.extend(self.routes.iter().map(|(k, v)| row(id, Kind::Route, k, v)));
        rows.extend(
            self.integrations
                .iter()
                .map(|(k, v)| row(id, Kind::Integration, k, v)),
        );
        rows.extend(
            self.authorizers
                .iter()
                .map(|(k, v)| row(id, Kind::Authorizer, k, v)),
        );
        rows.extend(
            self.route_responses
                .iter()
                .map(|(k, v)| row(id, Kind::RouteResponse, k, v)),
        );
        rows.extend(
            self.integration_responses
                .iter()
                .map(|(k, v)| row(id, Kind::IntegrationResponse, k, v)),
        );
        rows.extend(self.stages.iter().map(|(k, v)| row(id, Kind::Stage, k, v)));
        rows.extend(
            self.deployments
                .iter()
                .map(|(k, v)| row(id, Kind::Deployment, k, &**v)),
        );
        rows
    }

    /// The route `route_id`, or 404.
    pub(crate) fn route(&self, route_id: &str) -> Result<&RouteRecord, ApiError> {
        self.routes.get(route_id).ok_or_else(|| {
            ApiError::NotFound(format!("Invalid Route identifier specified {route_id}"))
        })
    }

    /// The integration `integration_id`, or 404.
    pub(crate) fn integration(&self, integration_id: &str) -> Result<&IntegrationRecord, ApiError> {
        self.integrations.get(integration_id).ok_or_else(|| {
            ApiError::NotFound(format!(
                "Invalid Integration identifier specified {integration_id}"
            ))
        })
    }

    /// The authorizer `authorizer_id`, or 404.
    pub(crate) fn authorizer(&self, authorizer_id: &str) -> Result<&AuthorizerRecord, ApiError> {
        self.authorizers.get(authorizer_id).ok_or_else(|| {
            ApiError::NotFound(format!(
                "Invalid Authorizer identifier specified {authorizer_id}"
            ))
        })
    }

    /// The stage `stage_name`, or 404.
    pub(crate) fn stage(&self, stage_name: &str) -> Result<&StageRecord, ApiError> {
        self.stages.get(stage_name).ok_or_else(|| {
            ApiError::NotFound(format!("Invalid stage identifier specified {stage_name}"))
        })
    }

    /// The deployment `deployment_id`, or 404.
    pub(crate) fn deployment(&self, deployment_id: &str) -> Result<&Arc<Deployment>, ApiError> {
        self.deployments.get(deployment_id).ok_or_else(|| {
            ApiError::NotFound(format!(
                "Invalid Deployment identifier specified {deployment_id}"
            ))
        })
    }

    /// A new child id (route, integration or deployment) unused in this API.
    pub(crate) fn new_child_id(&self) -> String {
        loop {
            let id = ids::generate(CHILD_ID_CHARS);
            if !self.routes.contains_key(&id)
                && !self.integrations.contains_key(&id)
                && !self.deployments.contains_key(&id)
                && !self.authorizers.contains_key(&id)
            {
                return id;
            }
        }
    }

    /// The stages that serve something: those whose deployment exists.
    pub(crate) fn served_stages(&self) -> impl Iterator<Item = (&StageRecord, &Arc<Deployment>)> {
        self.stages.values().filter_map(|s| {
            s.deployment_id
                .as_ref()
                .and_then(|d| self.deployments.get(d))
                .map(|d| (s, d))
        })
    }
}

// === impl Draft ===

impl Draft {
    pub(crate) fn new(state: ApiState) -> Draft {
        Draft {
            state,
            changes: Vec::new(),
            content_changed: false,
            republish: false,
            now: ids::now_iso8601(),
        }
    }

    /// Records the API record as changed. `served`: the change affects what is served.
    pub(crate) fn put_api(&mut self, served: bool) {
        let id = self.state.api.api_id.clone();
        self.changes
            .push(Change::Put(row(&id, Kind::Api, &id, &self.state.api)));
        self.republish |= served;
    }

    pub(crate) fn put_route(&mut self, r: RouteRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::Route,
            &r.route_id,
            &r,
        )));
        Arc::make_mut(&mut self.state.routes).insert(r.route_id.clone(), r);
        self.content_changed = true;
    }

    pub(crate) fn remove_route(&mut self, route_id: &str) {
        self.changes.push(self.delete(Kind::Route, route_id));
        Arc::make_mut(&mut self.state.routes).remove(route_id);
        self.content_changed = true;
    }

    /// Puts a route response (`key` is `{routeId}/{routeResponseId}`).
    pub(crate) fn put_route_response(&mut self, key: String, r: RouteResponseRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::RouteResponse,
            &key,
            &r,
        )));
        Arc::make_mut(&mut self.state.route_responses).insert(key, r);
        self.content_changed = true;
    }

    pub(crate) fn remove_route_response(&mut self, key: &str) {
        self.changes.push(self.delete(Kind::RouteResponse, key));
        Arc::make_mut(&mut self.state.route_responses).remove(key);
        self.content_changed = true;
    }

    /// Puts an integration response (`key` is `{integrationId}/{integrationResponseId}`).
    pub(crate) fn put_integration_response(&mut self, key: String, r: IntegrationResponseRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::IntegrationResponse,
            &key,
            &r,
        )));
        Arc::make_mut(&mut self.state.integration_responses).insert(key, r);
        self.content_changed = true;
    }

    pub(crate) fn remove_integration_response(&mut self, key: &str) {
        self.changes
            .push(self.delete(Kind::IntegrationResponse, key));
        Arc::make_mut(&mut self.state.integration_responses).remove(key);
        self.content_changed = true;
    }

    pub(crate) fn put_integration(&mut self, i: IntegrationRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::Integration,
            &i.integration_id,
            &i,
        )));
        Arc::make_mut(&mut self.state.integrations).insert(i.integration_id.clone(), i);
        self.content_changed = true;
    }

    pub(crate) fn remove_integration(&mut self, integration_id: &str) {
        self.changes
            .push(self.delete(Kind::Integration, integration_id));
        Arc::make_mut(&mut self.state.integrations).remove(integration_id);
        self.content_changed = true;
    }

    pub(crate) fn put_authorizer(&mut self, a: AuthorizerRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::Authorizer,
            &a.authorizer_id,
            &a,
        )));
        Arc::make_mut(&mut self.state.authorizers).insert(a.authorizer_id.clone(), a);
        self.content_changed = true;
    }

    pub(crate) fn remove_authorizer(&mut self, authorizer_id: &str) {
        self.changes
            .push(self.delete(Kind::Authorizer, authorizer_id));
        Arc::make_mut(&mut self.state.authorizers).remove(authorizer_id);
        self.content_changed = true;
    }

    /// Stores a stage; what it serves may change, so the API is recompiled.
    pub(crate) fn put_stage(&mut self, s: StageRecord) {
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::Stage,
            &s.stage_name,
            &s,
        )));
        self.state.stages.insert(s.stage_name.clone(), s);
        self.republish = true;
    }

    pub(crate) fn remove_stage(&mut self, stage_name: &str) {
        self.changes.push(self.delete(Kind::Stage, stage_name));
        self.state.stages.remove(stage_name);
        self.republish = true;
    }

    pub(crate) fn put_deployment_record(
        &mut self,
        record: DeploymentRecord,
    ) -> Result<(), ApiError> {
        let d = self.state.deployment(&record.deployment_id)?;
        let d = Arc::new(Deployment {
            record,
            content: d.content.clone(),
        });
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::Deployment,
            &d.record.deployment_id,
            &*d,
        )));
        self.state
            .deployments
            .insert(d.record.deployment_id.clone(), d);
        Ok(())
    }

    pub(crate) fn remove_deployment(&mut self, deployment_id: &str) {
        self.changes
            .push(self.delete(Kind::Deployment, deployment_id));
        self.state.deployments.remove(deployment_id);
    }

    /// Freezes the current routes and integrations into a new deployment; returns its id.
    pub(crate) fn deploy(&mut self, auto_deployed: bool, description: Option<String>) -> String {
        let id = self.state.new_child_id();
        let d = Deployment {
            record: DeploymentRecord {
                auto_deployed,
                created_date: self.now.clone(),
                deployment_id: id.clone(),
                deployment_status: "DEPLOYED".into(),
                description,
            },
            content: DeploymentContent {
                routes: self
                    .state
                    .routes
                    .values()
                    .map(|r| model::Route {
                        route_response: crate::ws::has_route_response(&self.state, r),
                        ..r.to_model()
                    })
                    .collect(),
                integrations: self
                    .state
                    .integrations
                    .values()
                    .map(|i| model::Integration {
                        integration_responses: crate::ws::integration_responses(&self.state, i),
                        ..i.to_model()
                    })
                    .collect(),
                authorizers: self
                    .state
                    .authorizers
                    .values()
                    .map(AuthorizerRecord::to_model)
                    .collect(),
            },
        };
        self.changes.push(Change::Put(row(
            &self.state.api.api_id,
            Kind::Deployment,
            &id,
            &d,
        )));
        self.state.deployments.insert(id.clone(), Arc::new(d));
        id
    }

    /// Points stage `stage_name` at `deployment_id`, dropping the auto-deployment it replaces if
    /// nothing else uses it (auto-deploy would otherwise keep one full copy of the API per
    /// change).
    pub(crate) fn point_stage(&mut self, stage_name: &str, deployment_id: &str) {
        let Some(mut stage) = self.state.stages.get(stage_name).cloned() else {
            return;
        };
        let old = stage.deployment_id.replace(deployment_id.to_string());
        stage.last_deployment_status_message = Some(format!(
            "Successfully deployed stage with deployment ID '{deployment_id}'"
        ));
        stage.last_updated_date = self.now.clone();
        self.put_stage(stage);
        if let Some(old) = old {
            self.prune(&old);
        }
    }

    /// Removes `deployment_id` if it was auto-deployed and no stage points at it.
    fn prune(&mut self, deployment_id: &str) {
        let auto = self
            .state
            .deployments
            .get(deployment_id)
            .is_some_and(|d| d.record.auto_deployed);
        let used = self
            .state
            .stages
            .values()
            .any(|s| s.deployment_id.as_deref() == Some(deployment_id));
        if auto && !used {
            self.remove_deployment(deployment_id);
        }
    }

    fn delete(&self, kind: Kind, id: &str) -> Change {
        deletion(&self.state.api.api_id, kind, id)
    }

    /// Auto-deploys if routes or integrations changed; returns the state, the changes to commit
    /// and whether to recompile.
    fn finish(mut self) -> (ApiState, Vec<Change>, bool) {
        if self.content_changed {
            let auto: Vec<String> = self
                .state
                .stages
                .values()
                .filter(|s| s.auto_deploy)
                .map(|s| s.stage_name.clone())
                .collect();
            if !auto.is_empty() {
                let id = self.deploy(true, None);
                for stage in auto {
                    self.point_stage(&stage, &id);
                }
            }
        }
        (self.state, self.changes, self.republish)
    }
}

/// Compiles what `state`'s stages serve: each stage with a deployment, with its own variables.
pub(crate) fn compile(
    state: &ApiState,
    ctx: &mut CompileContext,
) -> Result<snapshot::Api, Vec<ConfigError>> {
    let served: Vec<(model::Stage, &Arc<Deployment>)> = state
        .served_stages()
        .map(|(s, d)| (s.to_model(), d))
        .collect();
    let input = portico_shared::compile::ApiInput {
        api_id: &state.api.api_id,
        protocol: state.api.protocol_type,
        disable_execute_api_endpoint: state.api.disable_execute_api_endpoint,
        cors: state.api.cors_configuration.as_ref(),
        route_selection_expression: Some(state.api.route_selection_expression.as_str()),
        stages: served
            .iter()
            .map(|(stage, d)| StageInput {
                stage,
                routes: &d.content.routes,
                integrations: &d.content.integrations,
                authorizers: &d.content.authorizers,
            })
            .collect(),
    };
    compile_api(&input, ctx)
}

/// The HTTP and WebSocket APIs in `rows` (documents of API scopes only), parsed.
fn http_api_states(rows: Vec<Row>) -> Result<BTreeMap<String, ApiState>, ApiError> {
    let mut apis: BTreeMap<String, ApiState> = BTreeMap::new();
    let mut children: Vec<Row> = Vec::new();
    for row in rows {
        if row.kind == Kind::Api {
            let mut api: ApiRecord = parse_doc(&row)?;
            if api.route_selection_expression == crate::records::ROUTE_SELECTION_EXPRESSION_BRACED {
                // Stored before HTTP APIs echoed AWS's own form.
                api.route_selection_expression = crate::records::ROUTE_SELECTION_EXPRESSION.into();
            }
            apis.insert(row.api_id.clone(), ApiState::new(api));
        } else {
            children.push(row);
        }
    }
    for row in children {
        let Some(state) = apis.get_mut(&row.api_id) else {
            tracing::warn!(api_id = %row.api_id, kind = row.kind.as_str(), id = %row.id,
                    "stored document belongs to no API; ignored");
            continue;
        };
        match row.kind {
            // REST API documents were taken out above.
            Kind::Api
            | Kind::RestApi
            | Kind::RestResource
            | Kind::RestDeployment
            | Kind::RestStage
            | Kind::RestGatewayResponse
            | Kind::RestModel
            | Kind::RestRequestValidator
            | Kind::RestAuthorizer => {}
            Kind::Route => {
                let r: RouteRecord = parse_doc(&row)?;
                Arc::make_mut(&mut state.routes).insert(row.id.clone(), r);
            }
            Kind::Integration => {
                let i: IntegrationRecord = parse_doc(&row)?;
                Arc::make_mut(&mut state.integrations).insert(row.id.clone(), i);
            }
            Kind::Authorizer => {
                let a: AuthorizerRecord = parse_doc(&row)?;
                Arc::make_mut(&mut state.authorizers).insert(row.id.clone(), a);
            }
            Kind::RouteResponse => {
                let r: RouteResponseRecord = parse_doc(&row)?;
                Arc::make_mut(&mut state.route_responses).insert(row.id.clone(), r);
            }
            Kind::IntegrationResponse => {
                let r: IntegrationResponseRecord = parse_doc(&row)?;
                Arc::make_mut(&mut state.integration_responses).insert(row.id.clone(), r);
            }
            Kind::Stage => {
                let s: StageRecord = parse_doc(&row)?;
                state.stages.insert(row.id.clone(), s);
            }
            Kind::Deployment => {
                let d: Deployment = parse_doc(&row)?;
                state.deployments.insert(row.id.clone(), Arc::new(d));
            }
            // Under USAGE_SCOPE, LAMBDA_SCOPE, DOMAIN_SCOPE and VPC_LINK_SCOPE, taken out above.
            Kind::ApiKey
            | Kind::UsagePlan
            | Kind::UsagePlanKey
            | Kind::Function
            | Kind::Certificate
            | Kind::DomainName
            | Kind::ApiMapping
            | Kind::VpcLink
            | Kind::Account
            | Kind::Region => {}
            // Under IAM_SCOPE, partitioned out above.
            Kind::IamUser | Kind::IamPolicy => {}
        }
    }
    Ok(apis)
}
