//! The `apigateway` operations that decide what is served: deployments (frozen copies of the
//! resource tree and gateway responses), stages (named pointers to a deployment with variables
//! and method settings) and the gateway responses a deployment freezes.
//!
//! # Architecture
//! 1. `CreateDeployment` copies the current resources (with methods, integrations, responses),
//!    customised gateway responses, models and request validators into an immutable
//!    [`RestDeployment`] (a model's schema is compiled per stage from that copy); with `stageName` it also
//!    creates or repoints that stage, which recompiles the API.
//! 2. Every stage change (create, repoint, variables, method settings, delete) recompiles the API
//!    through `Catalog::apply_rest`: a compile error (say, an integration type not served yet) is
//!    a 400 and nothing changes.
//! 3. Gateway responses are stored per type, only when customised; reads merge them with AWS's
//!    defaults. They reach the data plane with the next deployment.
//!
//! Invariants: a deployment a stage points at cannot be deleted; method settings are keyed `*/*`
//! or `{resource~1path}/{METHOD}`, verbatim from the patch path.

use std::collections::BTreeMap;

use portico_shared::gateway_response::{GatewayResponses, DEFAULT_TEMPLATE};
use portico_shared::limits::{
    CACHE_CLUSTER_SIZES, CACHE_TTL_MAX_S, DESCRIPTION_MAX_CHARS, STAGES_PER_API_MAX,
    STAGE_THROTTLE_BURST_MAX, STAGE_THROTTLE_RATE_MAX_PER_S,
};
use portico_shared::model::rest::{GatewayResponse, MethodSetting, GATEWAY_RESPONSE_TYPES};
use portico_shared::model::{AuthorizationType, AuthorizerType};
use portico_shared::vpc_link::Plane;

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::patch::{Op, PatchInput, PatchOp};
use crate::records::{check_len, check_stage_name, check_stage_variables, check_tags};
use crate::v1::records::{
    cache_cluster_status, check_enum, check_status_code, unsupported, CanarySettings,
    DeploymentInput, DeploymentRecord, GatewayResponseInput, MethodSnapshot, RestDeployment,
    StageInput, StageRecord, HTTP_METHODS,
};
use crate::v1::state::RestApiState;

const LOGGING_LEVELS: [&str; 3] = ["OFF", "ERROR", "INFO"];
const CACHE_CONTROL_STRATEGIES: [&str; 3] = [
    "FAIL_WITH_403",
    "SUCCEED_WITH_RESPONSE_HEADER",
    "SUCCEED_WITHOUT_RESPONSE_HEADER",
];

// === deployments ===

impl Catalog {
    /// `CreateDeployment`, optionally creating or repointing `stageName`.
    pub(crate) fn create_rest_deployment(
        &mut self,
        api_id: &str,
        input: DeploymentInput,
    ) -> Result<DeploymentRecord, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let input = input.without_empty_stage();
        let mut problems = Vec::new();
        if let Some(c) = &input.canary_settings {
            check_percent(&mut problems, c.percent_traffic.unwrap_or(0.0));
            if let Some(v) = &c.stage_variable_overrides {
                check_stage_variables(&mut problems, v, Plane::V1);
            }
            match &input.stage_name {
                Some(name) if draft.state.stages.contains_key(name) => {}
                _ => problems.push(
                    "canarySettings need the stageName of an existing stage: a canary is deployed on a stage".into(),
                ),
            }
        }
        check_len(
            &mut problems,
            "description",
            input.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        check_len(
            &mut problems,
            "stageDescription",
            input.stage_description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if let Some(name) = &input.stage_name {
            check_stage_name(&mut problems, name, Plane::V1);
        } else if input.stage_description.is_some()
            || input.variables.is_some()
            || input.cache_cluster_enabled.is_some()
            || input.cache_cluster_size.is_some()
            || input.tracing_enabled.is_some()
        {
            problems.push(
                "stageDescription, variables, cacheClusterEnabled, cacheClusterSize and tracingEnabled need a stageName".into(),
            );
        }
        if let Some(v) = &input.variables {
            check_stage_variables(&mut problems, v, Plane::V1);
        }
        check_enum(
            &mut problems,
            "cacheClusterSize",
            input.cache_cluster_size.as_deref(),
            &CACHE_CLUSTER_SIZES.map(|(size, _)| size),
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        check_deployable(&draft.state)?;
        let id = draft.state.new_child_id();
        let d = freeze(&draft.state, id.clone(), input.description, draft.now);
        let record = d.record.view(false);
        draft.put_deployment(d);
        if let Some(name) = input.stage_name {
            let now = draft.now;
            let stage = match draft.state.stages.get(&name).cloned() {
                Some(mut s) => {
                    match input.canary_settings {
                        // The stage keeps serving its deployment; the new one is the canary.
                        Some(c) => {
                            s.canary_settings = Some(CanarySettings {
                                deployment_id: id,
                                percent_traffic: c.percent_traffic.unwrap_or(0.0),
                                stage_variable_overrides: c
                                    .stage_variable_overrides
                                    .unwrap_or_default(),
                                use_stage_cache: c.use_stage_cache.unwrap_or(false),
                            })
                        }
                        None => s.deployment_id = id,
                    }
                    if input.stage_description.is_some() {
                        s.description = input.stage_description;
                    }
                    s.variables.extend(input.variables.unwrap_or_default());
                    if let Some(e) = input.cache_cluster_enabled {
                        s.cache_cluster_enabled = e;
                        s.cache_cluster_status = cache_cluster_status(e);
                    }
                    if input.cache_cluster_size.is_some() {
                        s.cache_cluster_size = input.cache_cluster_size;
                    }
                    if let Some(t) = input.tracing_enabled {
                        s.tracing_enabled = t;
                    }
                    s.last_updated_date = now;
                    s
                }
                None => {
                    check_stage_room(&draft.state)?;
                    let cache = input.cache_cluster_enabled.unwrap_or(false);
                    StageRecord {
                        deployment_id: id,
                        stage_name: name,
                        description: input.stage_description,
                        cache_cluster_enabled: cache,
                        cache_cluster_size: input.cache_cluster_size,
                        cache_cluster_status: cache_cluster_status(cache),
                        method_settings: BTreeMap::new(),
                        variables: input.variables.unwrap_or_default(),
                        tracing_enabled: input.tracing_enabled.unwrap_or(false),
                        tags: BTreeMap::new(),
                        canary_settings: None,
                        access_log_settings: None,
                        created_date: now,
                        last_updated_date: now,
                    }
                }
            };
            draft.put_stage(stage);
        }
        self.apply_rest(draft)?;
        Ok(record)
    }

    /// `UpdateDeployment`: `/description`.
    pub(crate) fn update_rest_deployment(
        &mut self,
        api_id: &str,
        deployment_id: &str,
        patch: PatchInput,
    ) -> Result<DeploymentRecord, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut d = RestDeployment::clone(draft.state.deployment(deployment_id)?);
        for op in patch.ops()? {
            match op.segments()?.as_slice() {
                [m] if m == "description" => op.set_string(&mut d.record.description)?,
                _ => return Err(op.invalid_path()),
            }
        }
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "description",
            d.record.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let record = d.record.view(false);
        draft.put_deployment(d);
        self.apply_rest(draft)?;
        Ok(record)
    }

    /// `DeleteDeployment`; refused while a stage points at it.
    pub(crate) fn delete_rest_deployment(
        &mut self,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        draft.state.deployment(deployment_id)?;
        if draft.state.stages.values().any(|s| {
            s.deployment_id == deployment_id
                || s.canary_settings
                    .as_ref()
                    .is_some_and(|c| c.deployment_id == deployment_id)
        }) {
            return Err(ApiError::BadRequest(
                "Active stages pointing to this deployment must be moved or deleted".into(),
            ));
        }
        draft.remove_deployment(deployment_id);
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// AWS refuses to deploy an API without methods, or with a method without integration.
/// Portico also refuses a method whose authorization it does not enforce yet: serving it open
/// would be worse than not serving it.
fn check_deployable(state: &RestApiState) -> Result<(), ApiError> {
    let mut any = false;
    for r in state.resources.values() {
        for (name, m) in &r.resource_methods {
            any = true;
            if m.method_integration.is_none() {
                return Err(ApiError::BadRequest(
                    "No integration defined for method".into(),
                ));
            }
            let lambda = |id: &Option<String>| {
                id.as_deref()
                    .and_then(|id| state.authorizers.get(id))
                    .is_some_and(|a| a.kind != AuthorizerType::CognitoUserPools)
            };
            let enforced = match m.authorization_type {
                AuthorizationType::None | AuthorizationType::AwsIam => true,
                AuthorizationType::Custom => lambda(&m.authorizer_id),
                AuthorizationType::CognitoUserPools => m
                    .authorizer_id
                    .as_deref()
                    .and_then(|id| state.authorizers.get(id))
                    .is_some_and(|a| a.kind == AuthorizerType::CognitoUserPools),
                AuthorizationType::Jwt => false,
            };
            if !enforced {
                return Err(ApiError::BadRequest(format!(
                    "{name} {}: authorizationType {} is not enforced by Portico yet; use NONE",
                    r.path, m.authorization_type
                )));
            }
        }
    }
    if any {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "The REST API doesn't contain any methods".into(),
        ))
    }
}

/// Freezes what `state` serves into a deployment.
fn freeze(
    state: &RestApiState,
    id: String,
    description: Option<String>,
    now: i64,
) -> RestDeployment {
    let mut api_summary: BTreeMap<String, BTreeMap<String, MethodSnapshot>> = BTreeMap::new();
    for r in state.resources.values() {
        if r.resource_methods.is_empty() {
            continue;
        }
        let methods = api_summary.entry(r.path.clone()).or_default();
        for (name, m) in &r.resource_methods {
            methods.insert(
                name.clone(),
                MethodSnapshot {
                    authorization_type: m.authorization_type,
                    api_key_required: m.api_key_required,
                },
            );
        }
    }
    RestDeployment {
        record: DeploymentRecord {
            id,
            description,
            created_date: now,
            api_summary,
        },
        resources: state.resources.values().cloned().collect(),
        gateway_responses: state.gateway_responses.values().cloned().collect(),
        models: state.models.values().cloned().collect(),
        request_validators: state.request_validators.values().cloned().collect(),
        authorizers: state.authorizers.values().cloned().collect(),
    }
}

// === canary releases ===

fn check_percent(problems: &mut Vec<String>, p: f64) {
    if !(0.0..=100.0).contains(&p) {
        problems.push(format!(
            "Invalid percentTraffic {p}: it must be between 0.0 and 100.0"
        ));
    }
}

/// `UpdateStage` on `/canarySettings[/...]`: `remove` of the whole, `replace` of
/// `percentTraffic`, `deploymentId`, `useStageCache`, and `stageVariableOverrides/NAME`
/// (also `add`/`remove`). A stage without a canary gets one on its own deployment.
fn patch_canary(
    op: &PatchOp,
    rest: &[String],
    s: &mut StageRecord,
    state: &RestApiState,
) -> Result<(), ApiError> {
    if rest.is_empty() {
        if op.op != Op::Remove {
            return Err(op.invalid_path());
        }
        s.canary_settings = None;
        return Ok(());
    }
    let c = s.canary_settings.get_or_insert_with(|| CanarySettings {
        deployment_id: s.deployment_id.clone(),
        percent_traffic: 0.0,
        stage_variable_overrides: BTreeMap::new(),
        use_stage_cache: false,
    });
    match rest.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["percentTraffic"] if op.op == Op::Replace => {
            c.percent_traffic = op.f64_value(0.0, 100.0)?;
        }
        ["deploymentId"] if op.op == Op::Replace => {
            let id = op.value()?;
            state.deployment(id)?;
            c.deployment_id = id.to_string();
        }
        ["useStageCache"] if op.op == Op::Replace => c.use_stage_cache = op.bool_value()?,
        ["stageVariableOverrides", name] => op.map_string(&mut c.stage_variable_overrides, name)?,
        _ => return Err(op.invalid_path()),
    }
    Ok(())
}

/// `copy` from `/canarySettings/deploymentId` to `/deploymentId`, or from
/// `/canarySettings/stageVariableOverrides` to `/variables` (merged).
fn copy_from_canary(op: &PatchOp, to: &str, s: &mut StageRecord) -> Result<(), ApiError> {
    let from = op.from.as_deref().unwrap_or_default();
    let Some(c) = &s.canary_settings else {
        return Err(ApiError::BadRequest(
            "The stage has no canarySettings to copy from".into(),
        ));
    };
    match (to, from) {
        ("deploymentId", "/canarySettings/deploymentId") => {
            s.deployment_id = c.deployment_id.clone()
        }
        ("variables", "/canarySettings/stageVariableOverrides") => {
            let overrides = c.stage_variable_overrides.clone();
            s.variables.extend(overrides);
        }
        _ => return Err(op.invalid_path()),
    }
    Ok(())
}

// === stages ===

impl Catalog {
    /// `CreateStage`.
    pub(crate) fn create_rest_stage(
        &mut self,
        api_id: &str,
        input: StageInput,
    ) -> Result<StageRecord, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut problems = Vec::new();
        match input.stage_name.as_deref() {
            None => problems.push("stageName is required".to_string()),
            Some(n) => check_stage_name(&mut problems, n, Plane::V1),
        }
        if input.deployment_id.is_none() {
            problems.push("deploymentId is required".to_string());
        }
        if let Some(c) = &input.canary_settings {
            check_percent(&mut problems, c.percent_traffic);
            check_stage_variables(&mut problems, &c.stage_variable_overrides, Plane::V1);
        }
        unsupported(
            &mut problems,
            "documentationVersion",
            &input.documentation_version,
        );
        check_len(
            &mut problems,
            "description",
            input.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if let Some(v) = &input.variables {
            check_stage_variables(&mut problems, v, Plane::V1);
        }
        check_enum(
            &mut problems,
            "cacheClusterSize",
            input.cache_cluster_size.as_deref(),
            &CACHE_CLUSTER_SIZES.map(|(size, _)| size),
        );
        check_tags(&mut problems, input.tags.as_ref());
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let name = input.stage_name.unwrap_or_default();
        let deployment_id = input.deployment_id.unwrap_or_default();
        draft.state.deployment(&deployment_id)?;
        if let Some(c) = &input.canary_settings {
            draft.state.deployment(&c.deployment_id)?;
        }
        if draft.state.stages.contains_key(&name) {
            return Err(ApiError::Conflict("Stage already exists".into()));
        }
        check_stage_room(&draft.state)?;
        let cache = input.cache_cluster_enabled.unwrap_or(false);
        let now = draft.now;
        let stage = StageRecord {
            deployment_id,
            stage_name: name,
            description: input.description,
            cache_cluster_enabled: cache,
            cache_cluster_size: input.cache_cluster_size,
            cache_cluster_status: cache_cluster_status(cache),
            method_settings: BTreeMap::new(),
            variables: input.variables.unwrap_or_default(),
            tracing_enabled: input.tracing_enabled.unwrap_or(false),
            tags: input.tags.unwrap_or_default(),
            canary_settings: input.canary_settings,
            access_log_settings: None,
            created_date: now,
            last_updated_date: now,
        };
        draft.put_stage(stage.clone());
        self.apply_rest(draft)?;
        Ok(stage)
    }

    /// `UpdateStage`: `/deploymentId`, `/description`, `/variables/NAME`, `/tracingEnabled`,
    /// `/cacheClusterEnabled`, `/cacheClusterSize` and method settings
    /// (`/{key}/{group}/{field}`, or `remove` of `/{key}`).
    pub(crate) fn update_rest_stage(
        &mut self,
        api_id: &str,
        stage_name: &str,
        patch: PatchInput,
    ) -> Result<StageRecord, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut s = draft.state.stage(stage_name)?.clone();
        for op in patch.ops()? {
            let raw = op.raw_segments()?;
            let seg = op.segments()?;
            match seg
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                // Promotion, as AWS documents it: copy the canary's deployment and variables
                // onto the stage.
                ["deploymentId" | "variables"] if op.op == Op::Copy => {
                    copy_from_canary(op, &seg[0], &mut s)?
                }
                ["deploymentId"] => {
                    if op.op != Op::Replace {
                        return Err(op.invalid_path());
                    }
                    let id = op.value()?;
                    draft.state.deployment(id)?;
                    s.deployment_id = id.to_string();
                }
                ["description"] => op.set_string(&mut s.description)?,
                ["variables", name] => op.map_string(&mut s.variables, name)?,
                ["tracingEnabled"] => op.set_bool(&mut s.tracing_enabled)?,
                ["cacheClusterEnabled"] => {
                    op.set_bool(&mut s.cache_cluster_enabled)?;
                    s.cache_cluster_status = cache_cluster_status(s.cache_cluster_enabled);
                }
                ["cacheClusterSize"] => op.set_string(&mut s.cache_cluster_size)?,
                ["canarySettings", ..] => patch_canary(op, &seg[1..], &mut s, &draft.state)?,
                ["accessLogSettings", ..] => patch_access_log(op, &seg[1..], &mut s)?,
                _ => patch_method_setting(op, &raw, &mut s.method_settings)?,
            }
        }
        let mut problems = Vec::new();
        check_stage_variables(&mut problems, &s.variables, Plane::V1);
        if let Some(c) = &s.canary_settings {
            check_percent(&mut problems, c.percent_traffic);
            check_stage_variables(&mut problems, &c.stage_variable_overrides, Plane::V1);
        }
        check_len(
            &mut problems,
            "description",
            s.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        check_enum(
            &mut problems,
            "cacheClusterSize",
            s.cache_cluster_size.as_deref(),
            &CACHE_CLUSTER_SIZES.map(|(size, _)| size),
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        s.last_updated_date = draft.now;
        draft.put_stage(s.clone());
        self.apply_rest(draft)?;
        Ok(s)
    }

    /// `DeleteStage`.
    pub(crate) fn delete_rest_stage(
        &mut self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        draft.state.stage(stage_name)?;
        draft.remove_stage(stage_name);
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// `/accessLogSettings/format` and `/accessLogSettings/destinationArn` (`replace`/`add` set,
/// `remove` clears), and `remove /accessLogSettings`; AWS's messages.
fn patch_access_log(op: &PatchOp, rest: &[String], s: &mut StageRecord) -> Result<(), ApiError> {
    let settings = &mut s.access_log_settings;
    match (rest, op.op) {
        ([], Op::Remove) => {
            *settings = None;
            Ok(())
        }
        ([field], Op::Add | Op::Replace | Op::Remove)
            if matches!(field.as_str(), "format" | "destinationArn") =>
        {
            let value = match op.op {
                Op::Remove => None,
                _ => match op.value.as_deref() {
                    Some(v) if !v.is_empty() => Some(v.to_string()),
                    _ => {
                        return Err(ApiError::BadRequest(
                            "Access Log value must not be empty".into(),
                        ))
                    }
                },
            };
            let current = settings.get_or_insert_with(Default::default);
            if field == "format" {
                current.format = value;
            } else {
                current.destination_arn = value;
            }
            if current.format.is_none() && current.destination_arn.is_none() {
                *settings = None;
            }
            Ok(())
        }
        _ => Err(ApiError::BadRequest(
            "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, \
             /accessLogSettings/format]"
                .into(),
        )),
    }
}

/// Refuses an 11th stage.
fn check_stage_room(state: &RestApiState) -> Result<(), ApiError> {
    if state.stages.len() >= STAGES_PER_API_MAX {
        return Err(ApiError::BadRequest(format!(
            "A REST API can have at most {STAGES_PER_API_MAX} stages"
        )));
    }
    Ok(())
}

/// A method settings path: `/{a}/{b}/{group}/{field}` sets one field of key `a/b` (created with
/// AWS's defaults), `remove /{a}/{b}` drops the key. `a/b` is `*/*` or `~1path/METHOD`.
fn patch_method_setting(
    op: &PatchOp,
    raw: &[&str],
    settings: &mut BTreeMap<String, MethodSetting>,
) -> Result<(), ApiError> {
    let (a, b, rest) = match raw {
        [a, b, rest @ ..] if is_setting_key(a, b) => (a, b, rest),
        _ => return Err(op.invalid_path()),
    };
    let key = format!("{a}/{b}");
    match rest {
        [] if op.op == Op::Remove => {
            settings.remove(&key);
            Ok(())
        }
        [group, field] => {
            let s = settings.entry(key).or_default();
            apply_setting(op, s, group, field)
        }
        _ => Err(op.invalid_path()),
    }
}

/// `*/*`, or a resource path (`~1pets~1{id}`, the root is `~1`) and a method: the keys the
/// compiler reads.
fn is_setting_key(a: &str, b: &str) -> bool {
    (a == "*" && b == "*") || (a.starts_with("~1") && HTTP_METHODS.contains(&b))
}

fn apply_setting(
    op: &PatchOp,
    s: &mut MethodSetting,
    group: &str,
    field: &str,
) -> Result<(), ApiError> {
    if !matches!(op.op, Op::Add | Op::Replace | Op::Remove) {
        return Err(op.invalid_path());
    }
    let reset = op.op == Op::Remove;
    let d = MethodSetting::default();
    let flag = |target: &mut bool, default: bool| -> Result<(), ApiError> {
        *target = if reset { default } else { op.bool_value()? };
        Ok(())
    };
    match (group, field) {
        ("throttling", "rateLimit") => {
            s.throttling_rate_limit = if reset {
                d.throttling_rate_limit
            } else {
                op.f64_value(0.0, STAGE_THROTTLE_RATE_MAX_PER_S)?
            }
        }
        ("throttling", "burstLimit") => {
            s.throttling_burst_limit = if reset {
                d.throttling_burst_limit
            } else {
                op.i64_value(0, STAGE_THROTTLE_BURST_MAX)?
            }
        }
        ("caching", "enabled") => flag(&mut s.caching_enabled, d.caching_enabled)?,
        ("caching", "ttlInSeconds") => {
            s.cache_ttl_in_seconds = if reset {
                d.cache_ttl_in_seconds
            } else {
                op.i64_value(0, i64::from(CACHE_TTL_MAX_S))?
            }
        }
        ("caching", "dataEncrypted") => flag(&mut s.cache_data_encrypted, d.cache_data_encrypted)?,
        ("caching", "requireAuthorizationForCacheControl") => flag(
            &mut s.require_authorization_for_cache_control,
            d.require_authorization_for_cache_control,
        )?,
        ("caching", "unauthorizedCacheControlHeaderStrategy") => {
            s.unauthorized_cache_control_header_strategy = if reset {
                d.unauthorized_cache_control_header_strategy
            } else {
                enum_value(op, &CACHE_CONTROL_STRATEGIES)?
            }
        }
        ("logging", "loglevel") => {
            s.logging_level = if reset {
                d.logging_level
            } else {
                enum_value(op, &LOGGING_LEVELS)?
            }
        }
        ("logging", "dataTrace") => flag(&mut s.data_trace_enabled, d.data_trace_enabled)?,
        ("metrics", "enabled") => flag(&mut s.metrics_enabled, d.metrics_enabled)?,
        _ => return Err(op.invalid_path()),
    }
    Ok(())
}

fn enum_value(op: &PatchOp, allowed: &[&str]) -> Result<String, ApiError> {
    let v = op.value()?;
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid value '{v}' for '{}': use one of {}",
            op.path,
            allowed.join(", ")
        )))
    }
}

// === gateway responses ===

impl Catalog {
    /// `PutGatewayResponse`: customises (or re-customises) one type.
    pub(crate) fn put_gateway_response(
        &mut self,
        api_id: &str,
        response_type: &str,
        input: GatewayResponseInput,
    ) -> Result<GatewayResponse, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        check_response_type(response_type)?;
        let g = GatewayResponse {
            response_type: response_type.to_string(),
            status_code: input.status_code,
            response_parameters: input.response_parameters.unwrap_or_default(),
            response_templates: input.response_templates.unwrap_or_default(),
            default_response: false,
        };
        check_gateway_response(&g)?;
        draft.put_gateway_response(g.clone());
        self.apply_rest(draft)?;
        Ok(view_gateway_response(g))
    }

    /// `UpdateGatewayResponse`: starts from the current answer (the default one if untouched).
    pub(crate) fn update_gateway_response(
        &mut self,
        api_id: &str,
        response_type: &str,
        patch: PatchInput,
    ) -> Result<GatewayResponse, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        check_response_type(response_type)?;
        let mut g = match draft.state.gateway_responses.get(response_type) {
            Some(g) => g.clone(),
            None => {
                let mut g = default_gateway_response(response_type);
                g.default_response = false;
                g
            }
        };
        for op in patch.ops()? {
            match op
                .segments()?
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["statusCode"] => op.set_string(&mut g.status_code)?,
                ["responseParameters", name] => op.map_string(&mut g.response_parameters, name)?,
                ["responseTemplates", ct] => op.map_string(&mut g.response_templates, ct)?,
                _ => return Err(op.invalid_path()),
            }
        }
        check_gateway_response(&g)?;
        draft.put_gateway_response(g.clone());
        self.apply_rest(draft)?;
        Ok(view_gateway_response(g))
    }

    /// `DeleteGatewayResponse`: back to the default (idempotent).
    pub(crate) fn delete_gateway_response(
        &mut self,
        api_id: &str,
        response_type: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        check_response_type(response_type)?;
        // Resetting an untouched response is a no-op, not an error.
        if draft.state.gateway_responses.contains_key(response_type) {
            draft.remove_gateway_response(response_type);
        }
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// Every gateway response of `state` (customised or default), by type.
pub(crate) fn gateway_responses(state: &RestApiState) -> BTreeMap<String, GatewayResponse> {
    GATEWAY_RESPONSE_TYPES
        .iter()
        .map(|(t, _)| ((*t).to_string(), gateway_response(state, t)))
        .collect()
}

/// The gateway response of type `t` (a valid type).
pub(crate) fn gateway_response(state: &RestApiState, t: &str) -> GatewayResponse {
    match state.gateway_responses.get(t) {
        Some(g) => view_gateway_response(g.clone()),
        None => default_gateway_response(t),
    }
}

/// A customised response as read: the type's default status when it sets none.
fn view_gateway_response(mut g: GatewayResponse) -> GatewayResponse {
    if g.status_code.is_none() {
        g.status_code = default_status(&g.response_type).map(|s| s.to_string());
    }
    g
}

fn default_gateway_response(t: &str) -> GatewayResponse {
    GatewayResponse {
        response_type: t.to_string(),
        status_code: default_status(t).map(|s| s.to_string()),
        response_parameters: BTreeMap::new(),
        response_templates: [("application/json".to_string(), DEFAULT_TEMPLATE.to_string())].into(),
        default_response: true,
    }
}

fn default_status(t: &str) -> Option<u16> {
    GATEWAY_RESPONSE_TYPES
        .iter()
        .find(|(name, _)| *name == t)
        .and_then(|(_, s)| *s)
}

pub(crate) fn check_response_type(t: &str) -> Result<(), ApiError> {
    if GATEWAY_RESPONSE_TYPES.iter().any(|(name, _)| *name == t) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid response type '{t}': use one of {}",
            GATEWAY_RESPONSE_TYPES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Checks a customised response as the data plane will compile it.
fn check_gateway_response(g: &GatewayResponse) -> Result<(), ApiError> {
    if let Some(code) = g.status_code.as_deref() {
        check_status_code(code)?;
    }
    GatewayResponses::compile(std::slice::from_ref(g))
        .map(drop)
        .map_err(|problems| ApiError::invalid(&problems))
}
