//! Stages, their access log and route settings, and the authorizer cache reset: the handlers and the catalog operations behind them.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;

use super::{set, set_opt};
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::records::{
    check_len, check_route_key, check_route_settings, check_stage_name, check_stage_variables,
    check_tags, RouteSettings, StageInput, StageRecord,
};
use crate::wire::{created, no_content, ok, page, Body, Paging, Params};
use crate::AdminState;
use portico_shared::limits::DESCRIPTION_MAX_CHARS;
use portico_shared::model::ProtocolType;
use portico_shared::vpc_link::Plane;

pub(super) async fn create_stage(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<StageInput>,
) -> Response {
    created(s.write(move |c| c.create_stage(&api_id, input)).await)
}

pub(super) async fn get_stages(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.stages, &q.0, Clone::clone))
            .await,
    )
}

pub(super) async fn get_stage(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| c.api(&api_id)?.stage(&stage_name).cloned())
        .await)
}

pub(super) async fn update_stage(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
    Body(input): Body<StageInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_stage(&api_id, &stage_name, input))
            .await,
    )
}

pub(super) async fn delete_access_log_settings(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_access_log_settings(&api_id, &stage_name))
            .await,
    )
}

pub(super) async fn delete_stage(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    no_content(s.write(move |c| c.delete_stage(&api_id, &stage_name)).await)
}

pub(super) async fn delete_route_settings(
    State(s): State<AdminState>,
    Params((api_id, stage_name, route_key)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_route_settings(&api_id, &stage_name, &route_key))
            .await,
    )
}

/// `ResetAuthorizersCache`: 204; every worker calls the stage's Lambda authorizers again.
pub(super) async fn reset_authorizers_cache(
    State(s): State<AdminState>,
    Params((api_id, stage_name)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.reset_http_stage_authorizers_cache(&api_id, &stage_name))
            .await,
    )
}

impl Catalog {
    /// `CreateStage`. A stage created with `autoDeploy` is deployed at once.
    pub(crate) fn create_stage(
        &mut self,
        api_id: &str,
        input: StageInput,
    ) -> Result<StageRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let mut problems = Vec::new();
        let name = input.stage_name.clone().unwrap_or_default();
        if input.stage_name.is_none() {
            problems.push("stageName is required".into());
        } else {
            check_stage_name(&mut problems, &name, Plane::V2);
        }
        let protocol = d.state.api.protocol_type;
        check_stage_members(&mut problems, &input, protocol == ProtocolType::Websocket);
        check_execution_logs(&mut problems, protocol, &input);
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        if let Some(id) = &input.deployment_id {
            d.state.deployment(id)?;
        }
        if d.state.stages.contains_key(&name) {
            return Err(ApiError::Conflict(format!(
                "Stage {name} already exists for this API"
            )));
        }
        let deployment = input.deployment_id.clone();
        let stage = merge_stage(stage_record(name.clone(), d.now.clone()), input);
        let auto = stage.auto_deploy && deployment.is_none();
        d.put_stage(stage);
        if let Some(id) = deployment {
            d.point_stage(&name, &id);
        } else if auto {
            let id = d.deploy(true, None);
            d.point_stage(&name, &id);
        }
        Ok(self.apply(d)?.stage(&name)?.clone())
    }

    /// `UpdateStage`. `stageVariables` and `routeSettings` replace the stage's maps; turning
    /// `autoDeploy` on deploys at once.
    pub(crate) fn update_stage(
        &mut self,
        api_id: &str,
        stage_name: &str,
        input: StageInput,
    ) -> Result<StageRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let current = d.state.stage(stage_name)?.clone();
        let mut problems = Vec::new();
        if input.stage_name.as_deref().is_some_and(|n| n != stage_name) {
            problems.push("stageName cannot be changed".into());
        }
        if input.tags.is_some() {
            problems.push("tags are changed with TagResource, not UpdateStage".into());
        }
        let protocol = d.state.api.protocol_type;
        check_stage_members(&mut problems, &input, protocol == ProtocolType::Websocket);
        check_execution_logs(&mut problems, protocol, &input);
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        if let Some(id) = &input.deployment_id {
            d.state.deployment(id)?;
        }
        let was_auto = current.auto_deploy;
        let new_deployment = input.deployment_id.clone();
        let mut stage = merge_stage(current, input);
        stage.last_updated_date = d.now.clone();
        let auto_now = stage.auto_deploy && !was_auto;
        d.put_stage(stage);
        if let Some(id) = new_deployment {
            d.point_stage(stage_name, &id);
        } else if auto_now {
            let id = d.deploy(true, None);
            d.point_stage(stage_name, &id);
        }
        Ok(self.apply(d)?.stage(stage_name)?.clone())
    }

    /// `DeleteAccessLogSettings`: the stage keeps everything but its access log settings.
    pub(crate) fn delete_access_log_settings(
        &mut self,
        api_id: &str,
        stage_name: &str,
    ) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        let mut stage = d.state.stage(stage_name)?.clone();
        stage.access_log_settings = None;
        stage.last_updated_date = d.now.clone();
        d.put_stage(stage);
        self.apply(d).map(drop)
    }

    /// `DeleteStage`.
    pub(crate) fn delete_stage(&mut self, api_id: &str, stage_name: &str) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        let stage = d.state.stage(stage_name)?.clone();
        d.remove_stage(stage_name);
        if let Some(id) = stage.deployment_id {
            let auto = d
                .state
                .deployments
                .get(&id)
                .is_some_and(|x| x.record.auto_deployed);
            let used = d
                .state
                .stages
                .values()
                .any(|s| s.deployment_id.as_deref() == Some(id.as_str()));
            if auto && !used {
                d.remove_deployment(&id);
            }
        }
        self.apply(d).map(drop)
    }

    /// `DeleteRouteSettings`.
    pub(crate) fn delete_route_settings(
        &mut self,
        api_id: &str,
        stage_name: &str,
        route_key: &str,
    ) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        let mut stage = d.state.stage(stage_name)?.clone();
        if stage.route_settings.remove(route_key).is_none() {
            return Err(ApiError::NotFound(format!(
                "Stage {stage_name} has no route settings for {route_key}"
            )));
        }
        stage.last_updated_date = d.now.clone();
        d.put_stage(stage);
        self.apply(d).map(drop)
    }
}

pub(super) fn stage_record(stage_name: String, now: String) -> StageRecord {
    StageRecord {
        access_log_settings: None,
        api_gateway_managed: false,
        auto_deploy: false,
        created_date: now.clone(),
        default_route_settings: RouteSettings {
            detailed_metrics_enabled: Some(false),
            ..RouteSettings::default()
        },
        deployment_id: None,
        description: None,
        last_deployment_status_message: None,
        last_updated_date: now,
        route_settings: BTreeMap::new(),
        stage_name,
        stage_variables: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

/// Execution logs (`loggingLevel` `ERROR`/`INFO`, `dataTraceEnabled`) exist for WebSocket APIs
/// only; AWS refuses them on an HTTP API's stage with this message.
fn check_execution_logs(problems: &mut Vec<String>, protocol: ProtocolType, input: &StageInput) {
    if protocol == ProtocolType::Websocket {
        return;
    }
    let logs = |s: &RouteSettings| {
        matches!(s.logging_level.as_deref(), Some("ERROR" | "INFO"))
            || s.data_trace_enabled == Some(true)
    };
    if input.default_route_settings.as_ref().is_some_and(logs)
        || input.route_settings.iter().flatten().any(|(_, s)| logs(s))
    {
        problems.push("Execution logs are not supported on protocolType HTTP".into());
    }
}

fn check_stage_members(problems: &mut Vec<String>, input: &StageInput, websocket: bool) {
    if let Some(vars) = &input.stage_variables {
        check_stage_variables(problems, vars, Plane::V2);
    }
    if let Some(s) = &input.default_route_settings {
        check_route_settings(problems, "defaultRouteSettings", s);
    }
    if let Some(map) = &input.route_settings {
        for (key, s) in map {
            // A WebSocket route key is any name (`$connect`, `sendmessage`, ...).
            if !websocket {
                check_route_key(problems, key);
            }
            check_route_settings(problems, &format!("routeSettings[{key}]"), s);
        }
    }
    if input.client_certificate_id.is_some() {
        problems.push("clientCertificateId is supported only for WebSocket APIs".into());
    }
    check_len(
        problems,
        "description",
        input.description.as_deref(),
        0,
        DESCRIPTION_MAX_CHARS,
    );
    if let Some(log) = &input.access_log_settings {
        crate::records::check_access_log_format(problems, log.format.as_deref());
    }
    check_tags(problems, input.tags.as_ref());
}

fn merge_stage(mut stage: StageRecord, input: StageInput) -> StageRecord {
    set_opt(&mut stage.access_log_settings, input.access_log_settings);
    set(&mut stage.auto_deploy, input.auto_deploy);
    set(
        &mut stage.default_route_settings,
        input.default_route_settings,
    );
    set_opt(&mut stage.description, input.description);
    set(&mut stage.route_settings, input.route_settings);
    set(&mut stage.stage_variables, input.stage_variables);
    set(&mut stage.tags, input.tags);
    // `deploymentId` is applied by `Draft::point_stage`, which also prunes what it replaces.
    stage
}
