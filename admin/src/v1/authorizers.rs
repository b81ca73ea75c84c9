//! The `apigateway` authorizer operations (`/restapis/{id}/authorizers`): Lambda `TOKEN` and
//! `REQUEST` authorizers and Cognito user pool authorizers, named by methods' `authorizerId`
//! (`authorizationType` `CUSTOM` / `COGNITO_USER_POOLS`).
//!
//! # Architecture
//! 1. Stored per API (`Kind::RestAuthorizer` by id); a deployment freezes them with the
//!    resources, and the stage compile (`portico_shared::authorizer::compile`) builds each
//!    Lambda authorizer once per stage from that copy.
//! 2. Settings are checked with the data plane's own parser (`authorizer::check`): what the
//!    admin API accepts, the compile accepts.
//!
//! Invariant: an authorizer a method names cannot be deleted (AWS refuses it too).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use portico_shared::authorizer::{check, split_rest_sources, AuthorizerInput as Settings};
use portico_shared::limits::AUTHORIZERS_PER_API_MAX;
use portico_shared::model::rest::Authorizer;
use portico_shared::model::AuthorizerType;

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::patch::PatchInput;
use crate::records::check_len;
use crate::v1::records::{page, AuthorizerInput};
use crate::v1::state::RestApiState;
use crate::v1::Listing;
use crate::wire::{accepted, created, ok, Body, Params};
use crate::AdminState;

// === operations ===

impl Catalog {
    /// `CreateAuthorizer`.
    pub(crate) fn create_rest_authorizer(
        &mut self,
        api_id: &str,
        input: AuthorizerInput,
    ) -> Result<Authorizer, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        if draft.state.authorizers.len() >= AUTHORIZERS_PER_API_MAX {
            return Err(ApiError::BadRequest(format!(
                "A REST API can have at most {AUTHORIZERS_PER_API_MAX} authorizers"
            )));
        }
        let given = input.kind.as_deref().unwrap_or_default();
        let kind = given.parse().map_err(|_| given);
        let a = Authorizer {
            id: draft.state.new_child_id(),
            name: input.name.unwrap_or_default(),
            // A placeholder when the type is missing or not one: `validate` then refuses `a`,
            // so it is never stored.
            kind: *kind.as_ref().unwrap_or(&AuthorizerType::Token),
            provider_arns: input.provider_arns.unwrap_or_default(),
            auth_type: input.auth_type,
            authorizer_uri: input.authorizer_uri,
            authorizer_credentials: input.authorizer_credentials,
            identity_source: input.identity_source,
            identity_validation_expression: input.identity_validation_expression,
            authorizer_result_ttl_in_seconds: input.authorizer_result_ttl_in_seconds,
            jwks_uri: input.jwks_uri,
        };
        validate(&a, kind)?;
        draft.put_authorizer(a.clone());
        self.apply_rest(draft)?;
        Ok(a)
    }

    /// `UpdateAuthorizer` (`patchOperations` on the members).
    pub(crate) fn update_rest_authorizer(
        &mut self,
        api_id: &str,
        id: &str,
        patch: PatchInput,
    ) -> Result<Authorizer, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut a = authorizer(&draft.state, id)?.clone();
        let mut rejected_kind = None;
        for op in patch.ops()? {
            match op.segments()?.as_slice() {
                [f] if f == "name" => op.set_required_string(&mut a.name)?,
                [f] if f == "type" => rejected_kind = op.set_required_enum(&mut a.kind)?,
                [f] if f == "authorizerUri" => op.set_string(&mut a.authorizer_uri)?,
                [f] if f == "authorizerCredentials" => {
                    op.set_string(&mut a.authorizer_credentials)?
                }
                [f] if f == "identitySource" => op.set_string(&mut a.identity_source)?,
                [f] if f == "identityValidationExpression" => {
                    op.set_string(&mut a.identity_validation_expression)?
                }
                [f] if f == "authorizerResultTtlInSeconds" => {
                    a.authorizer_result_ttl_in_seconds = Some(op.i64_value(0, 3600)?)
                }
                [f] if f == "jwksUri" => op.set_string(&mut a.jwks_uri)?,
                [f, arn] if f == "providerARNs" => op.list_string(&mut a.provider_arns, arn)?,
                _ => return Err(op.invalid_path()),
            }
        }
        validate(&a, rejected_kind.as_deref().map_or(Ok(a.kind), Err))?;
        draft.put_authorizer(a.clone());
        self.apply_rest(draft)?;
        Ok(a)
    }

    /// `DeleteAuthorizer`; refused while a method names it.
    pub(crate) fn delete_rest_authorizer(
        &mut self,
        api_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        authorizer(&draft.state, id)?;
        for r in draft.state.resources.values() {
            for (verb, m) in &r.resource_methods {
                if m.authorizer_id.as_deref() == Some(id) {
                    return Err(ApiError::Conflict(format!(
                        "Cannot delete authorizer '{id}', is referenced in method: {}/{verb}",
                        r.path
                    )));
                }
            }
        }
        draft.remove_authorizer(id);
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// The authorizer `id`, or 404.
pub(crate) fn authorizer<'a>(
    state: &'a RestApiState,
    id: &str,
) -> Result<&'a Authorizer, ApiError> {
    state
        .authorizers
        .get(id)
        .ok_or_else(|| ApiError::NotFound("Invalid Authorizer identifier specified".into()))
}

/// Every problem of an authorizer's settings, as one 400. `kind` is `a.kind`, or (`Err`) the
/// `type` as given when it is not a type (empty when absent).
fn validate(a: &Authorizer, kind: Result<AuthorizerType, &str>) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    check_len(&mut problems, "name", Some(&a.name), 1, 128);
    match kind {
        Ok(AuthorizerType::Token | AuthorizerType::Request) => {
            let sources = a
                .identity_source
                .as_deref()
                .map(split_rest_sources)
                .unwrap_or_default();
            if a.authorizer_uri.is_none() {
                problems.push("authorizerUri is required for TOKEN and REQUEST authorizers".into());
            }
            problems.extend(check(&Settings {
                api_id: "",
                stage: "",
                authorizer_id: "",
                rest: true,
                websocket: false,
                token: a.kind == AuthorizerType::Token,
                uri: a.authorizer_uri.as_deref().unwrap_or_default(),
                credentials: a.authorizer_credentials.as_deref(),
                identity_sources: &sources,
                identity_validation_expression: a.identity_validation_expression.as_deref(),
                ttl_s: a.authorizer_result_ttl_in_seconds,
                payload_format_version: None,
                simple_responses: false,
            }));
            // With no URI, `check` adds its own message about it: keep the clearer one.
            if a.authorizer_uri.is_none() {
                problems.retain(|p| !p.starts_with("Invalid authorizerUri"));
            }
        }
        Ok(AuthorizerType::CognitoUserPools) => {
            if a.provider_arns.is_empty() {
                problems.push("providerARNs is required for COGNITO_USER_POOLS authorizers".into());
            }
            match a.jwks_uri.as_deref() {
                Some(u) if u.starts_with("http://") && u.len() > "http://".len() => {}
                _ => problems.push(
                    "COGNITO_USER_POOLS authorizers need jwksUri (Portico extension: the pool's \
                     http:// JWKS URL) until https key fetching lands"
                        .into(),
                ),
            }
            if a.provider_arns.len() > 1 {
                problems.push("Portico supports one providerARN per authorizer".into());
            }
            for arn in &a.provider_arns {
                if cognito_pool(arn).is_none() {
                    problems.push(format!(
                        "Invalid providerARN '{arn}': use arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID"
                    ));
                }
            }
        }
        Err("") => problems.push("type is required".into()),
        // `JWT` is an HTTP API authorizer type.
        Ok(AuthorizerType::Jwt) | Err(_) => problems.push(format!(
            "Invalid authorizer type '{}': use TOKEN, REQUEST or COGNITO_USER_POOLS",
            match kind {
                Ok(k) => k.as_str(),
                Err(t) => t,
            }
        )),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&problems))
    }
}

/// `arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}` → (region, pool id).
pub(crate) fn cognito_pool(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:cognito-idp:")?;
    let (region, rest) = rest.split_once(':')?;
    let (_account, rest) = rest.split_once(':')?;
    let pool = rest.strip_prefix("userpool/")?;
    (!region.is_empty() && !pool.is_empty()).then_some((region, pool))
}

// === handlers ===

pub(crate) async fn create_authorizer(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<AuthorizerInput>,
) -> Response {
    created(
        s.write(move |c| c.create_rest_authorizer(&api_id, input))
            .await,
    )
}

pub(crate) async fn get_authorizers(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    RawQuery(q): RawQuery,
) -> Response {
    ok(s.read(|c| {
        let state = c.rest().get(&api_id)?;
        let q = Listing::parse(q.as_deref())?;
        page(&state.authorizers, &q, Clone::clone)
    })
    .await)
}

pub(crate) async fn get_authorizer(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| authorizer(c.rest().get(&api_id)?, &id).cloned())
        .await)
}

pub(crate) async fn update_authorizer(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
    Body(patch): Body<PatchInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_rest_authorizer(&api_id, &id, patch))
            .await,
    )
}

pub(crate) async fn delete_authorizer(
    State(s): State<AdminState>,
    Params((api_id, id)): Params<(String, String)>,
) -> Response {
    accepted(
        s.write(move |c| c.delete_rest_authorizer(&api_id, &id))
            .await,
    )
}
