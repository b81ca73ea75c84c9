//! Deployments: the handlers and the catalog operations behind them.

use axum::extract::State;
use axum::response::Response;

use portico_shared::limits::DESCRIPTION_MAX_CHARS;

use super::set_opt;
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::records::{check_len, DeploymentInput, DeploymentRecord};
use crate::wire::{created, no_content, ok, page, Body, Paging, Params};
use crate::AdminState;

pub(super) async fn create_deployment(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<DeploymentInput>,
) -> Response {
    created(s.write(move |c| c.create_deployment(&api_id, input)).await)
}

pub(super) async fn get_deployments(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.deployments, &q.0, |d| d.record.clone()))
            .await,
    )
}

pub(super) async fn get_deployment(
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

pub(super) async fn update_deployment(
    State(s): State<AdminState>,
    Params((api_id, deployment_id)): Params<(String, String)>,
    Body(input): Body<DeploymentInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_deployment(&api_id, &deployment_id, input))
            .await,
    )
}

pub(super) async fn delete_deployment(
    State(s): State<AdminState>,
    Params((api_id, deployment_id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_deployment(&api_id, &deployment_id))
            .await,
    )
}

impl Catalog {
    /// `CreateDeployment`: freezes the API's routes and integrations; with `stageName`, points
    /// that stage at the new deployment.
    pub(crate) fn create_deployment(
        &mut self,
        api_id: &str,
        input: DeploymentInput,
    ) -> Result<DeploymentRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "description",
            input.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        if let Some(stage) = &input.stage_name {
            d.state.stage(stage)?;
        }
        let id = d.deploy(false, input.description);
        if let Some(stage) = &input.stage_name {
            d.point_stage(stage, &id);
        }
        Ok(self.apply(d)?.deployment(&id)?.record.clone())
    }

    /// `UpdateDeployment`: only the description changes; what it serves never does.
    pub(crate) fn update_deployment(
        &mut self,
        api_id: &str,
        deployment_id: &str,
        input: DeploymentInput,
    ) -> Result<DeploymentRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let mut record = d.state.deployment(deployment_id)?.record.clone();
        let mut problems = Vec::new();
        if input.stage_name.is_some() {
            problems.push("stageName is not a member of UpdateDeployment".into());
        }
        check_len(
            &mut problems,
            "description",
            input.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        set_opt(&mut record.description, input.description);
        d.put_deployment_record(record.clone())?;
        self.apply(d)?;
        Ok(record)
    }

    /// `DeleteDeployment`: refused (409) while a stage points at it.
    pub(crate) fn delete_deployment(
        &mut self,
        api_id: &str,
        deployment_id: &str,
    ) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.deployment(deployment_id)?;
        let users: Vec<&str> = d
            .state
            .stages
            .values()
            .filter(|s| s.deployment_id.as_deref() == Some(deployment_id))
            .map(|s| s.stage_name.as_str())
            .collect();
        if !users.is_empty() {
            return Err(ApiError::Conflict(format!(
                "Deployment {deployment_id} is in use by stage(s) {}: point them elsewhere or delete them first",
                users.join(", ")
            )));
        }
        d.remove_deployment(deployment_id);
        self.apply(d).map(drop)
    }
}
