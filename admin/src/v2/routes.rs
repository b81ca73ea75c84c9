//! Routes and (WebSocket APIs) route responses: the handlers and the catalog operations behind them (route responses' operations are in `ws.rs`).

use axum::extract::State;
use axum::response::Response;
use portico_shared::limits::AUTHORIZATION_SCOPES_MAX;
use portico_shared::router::RouterBuilder;

use super::{parsed, set, set_opt};
use crate::catalog::{ApiState, Catalog};
use crate::error::ApiError;
use crate::records::{
    check_len, check_route_key, target_integration, RouteInput, RouteRecord, RouteResponseInput,
};
use crate::wire::{created, no_content, ok, page, Body, Paging, Params};
use crate::AdminState;
use portico_shared::model::{AuthorizationType, AuthorizerType, ProtocolType};

pub(super) async fn delete_route_request_parameter(
    State(s): State<AdminState>,
    Params((api_id, route_id, key)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_route_request_parameter(&api_id, &route_id, &key))
            .await,
    )
}

pub(super) async fn create_route(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<RouteInput>,
) -> Response {
    created(s.write(move |c| c.create_route(&api_id, input)).await)
}

pub(super) async fn get_routes(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.routes, &q.0, Clone::clone))
            .await,
    )
}

pub(super) async fn get_route(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
) -> Response {
    ok(s.read(|c| c.api(&api_id)?.route(&route_id).cloned()).await)
}

pub(super) async fn update_route(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
    Body(input): Body<RouteInput>,
) -> Response {
    ok(s.write(move |c| c.update_route(&api_id, &route_id, input))
        .await)
}

pub(super) async fn delete_route(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
) -> Response {
    no_content(s.write(move |c| c.delete_route(&api_id, &route_id)).await)
}

pub(super) async fn create_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id)): Params<(String, String)>,
    Body(input): Body<RouteResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.create_route_response(&api_id, &route_id, input))
            .await,
    )
}

pub(super) async fn get_route_responses(
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

pub(super) async fn get_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id, id)): Params<(String, String, String)>,
) -> Response {
    ok(s.read(|c| c.route_response(&api_id, &route_id, &id)).await)
}

pub(super) async fn update_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id, id)): Params<(String, String, String)>,
    Body(input): Body<RouteResponseInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_route_response(&api_id, &route_id, &id, input))
            .await,
    )
}

pub(super) async fn delete_route_response(
    State(s): State<AdminState>,
    Params((api_id, route_id, id)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_route_response(&api_id, &route_id, &id))
            .await,
    )
}

impl Catalog {
    /// `CreateRoute`.
    pub(crate) fn create_route(
        &mut self,
        api_id: &str,
        input: RouteInput,
    ) -> Result<RouteRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let route_id = d.state.new_child_id();
        let Some(key) = input.route_key.clone() else {
            let mut problems = vec!["routeKey is required".to_string()];
            check_route_members(&mut problems, &d.state, &input);
            return Err(ApiError::invalid(&problems));
        };
        let route = merge_route(&d.state, route_record(route_id, key), input)?;
        d.put_route(route.clone());
        self.apply(d)?;
        Ok(route)
    }

    /// `UpdateRoute`.
    pub(crate) fn update_route(
        &mut self,
        api_id: &str,
        route_id: &str,
        input: RouteInput,
    ) -> Result<RouteRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let current = d.state.route(route_id)?.clone();
        let route = merge_route(&d.state, current, input)?;
        d.put_route(route.clone());
        self.apply(d)?;
        Ok(route)
    }

    /// `DeleteRouteRequestParameter`: removes one key of the route's `requestParameters`
    /// (WebSocket APIs); a key the route does not have is a 404, as AWS.
    pub(crate) fn delete_route_request_parameter(
        &mut self,
        api_id: &str,
        route_id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        let mut route = d.state.route(route_id)?.clone();
        let removed = route
            .request_parameters
            .as_mut()
            .and_then(|p| p.remove(key))
            .is_some();
        if !removed {
            return Err(ApiError::NotFound(format!(
                "Invalid request parameter key specified: {key}"
            )));
        }
        if route
            .request_parameters
            .as_ref()
            .is_some_and(|p| p.is_empty())
        {
            route.request_parameters = None;
        }
        d.put_route(route);
        self.apply(d).map(drop)
    }

    /// `DeleteRoute`.
    pub(crate) fn delete_route(&mut self, api_id: &str, route_id: &str) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.route(route_id)?;
        d.remove_route(route_id);
        crate::ws::remove_route_responses(&mut d, route_id);
        self.apply(d).map(drop)
    }
}

/// A route record with AWS's defaults and no target.
pub(crate) fn route_record(route_id: String, route_key: String) -> RouteRecord {
    RouteRecord {
        api_gateway_managed: false,
        api_key_required: false,
        authorization_scopes: None,
        authorization_type: AuthorizationType::None,
        authorizer_id: None,
        model_selection_expression: None,
        operation_name: None,
        request_models: None,
        request_parameters: None,
        route_id,
        route_key,
        route_response_selection_expression: None,
        target: None,
    }
}

fn check_route_members(problems: &mut Vec<String>, state: &ApiState, input: &RouteInput) -> bool {
    let websocket = state.api.protocol_type == ProtocolType::Websocket;
    if let Some(key) = &input.route_key {
        if websocket {
            if let Err(e) = portico_shared::websocket::check_route_key(key) {
                problems.push(e);
            }
        } else {
            check_route_key(problems, key);
        }
    }
    if let Some(e) = input.route_response_selection_expression.as_deref() {
        if !websocket {
            problems.push(
                "routeResponseSelectionExpression is supported only for WebSocket APIs".into(),
            );
        } else if e != "$default" {
            problems.push(format!(
                "Invalid routeResponseSelectionExpression '{e}': the only value supported is $default"
            ));
        }
    }
    if let Some(t) = input.authorization_type.as_deref() {
        match t.parse() {
            Ok(AuthorizationType::None | AuthorizationType::AwsIam | AuthorizationType::Custom) => {
            }
            Ok(AuthorizationType::Jwt) if websocket => {
                problems.push("authorizationType JWT is supported only for HTTP APIs".into())
            }
            Ok(AuthorizationType::Jwt) => {}
            Ok(AuthorizationType::CognitoUserPools) | Err(_) => problems.push(format!(
                "Invalid authorizationType '{t}': use NONE, AWS_IAM, CUSTOM or JWT"
            )),
        }
    }
    if let Some(scopes) = &input.authorization_scopes {
        if scopes.len() > AUTHORIZATION_SCOPES_MAX {
            problems.push(format!(
                "authorizationScopes must have at most {AUTHORIZATION_SCOPES_MAX} entries"
            ));
        }
        if scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            problems.push("authorizationScopes must be non-empty and contain no spaces".into());
        }
    }
    if input.api_key_required == Some(true) {
        problems.push(if websocket {
            "apiKeyRequired is not supported yet for WebSocket APIs (API keys land with usage plans for them)".into()
        } else {
            "apiKeyRequired is supported only for WebSocket APIs".into()
        });
    }
    check_len(
        problems,
        "operationName",
        input.operation_name.as_deref(),
        1,
        64,
    );
    let mut unknown_target = false;
    if let Some(target) = &input.target {
        if let Some(id) = target_integration(problems, target) {
            unknown_target = !state.integrations.contains_key(id);
        }
    }
    unknown_target
}

/// Checks a merged route's authorization: `JWT` needs an existing authorizer (404 if it does
/// not exist), scopes need `JWT`.
fn check_route_authorization(state: &ApiState, route: &RouteRecord) -> Result<(), ApiError> {
    let scopes = route
        .authorization_scopes
        .as_ref()
        .is_some_and(|s| !s.is_empty());
    let t = route.authorization_type;
    if matches!(t, AuthorizationType::Jwt | AuthorizationType::Custom) {
        let Some(id) = &route.authorizer_id else {
            return Err(ApiError::invalid(&[format!(
                "authorizerId is required when authorizationType is {t}"
            )]));
        };
        let a = state.authorizer(id)?;
        let wanted = if t == AuthorizationType::Jwt {
            AuthorizerType::Jwt
        } else {
            AuthorizerType::Request
        };
        if a.authorizer_type != wanted {
            return Err(ApiError::invalid(&[format!(
                "authorizationType {t} needs a {wanted} authorizer; {id} is {}",
                a.authorizer_type
            )]));
        }
        if t == AuthorizationType::Custom && scopes {
            return Err(ApiError::invalid(&[
                "authorizationScopes are only used with authorizationType JWT".to_string(),
            ]));
        }
    } else if route.authorizer_id.is_some() || scopes {
        return Err(ApiError::invalid(&[
            "authorizerId and authorizationScopes are only used with authorizationType JWT or CUSTOM"
                .to_string(),
        ]));
    }
    Ok(())
}

/// Applies `input` to `route`, checking the result against the API's other routes.
fn merge_route(
    state: &ApiState,
    mut route: RouteRecord,
    input: RouteInput,
) -> Result<RouteRecord, ApiError> {
    let mut problems = Vec::new();
    let unknown_target = check_route_members(&mut problems, state, &input);
    let authorization_type = parsed(input.authorization_type.as_deref());
    let t = authorization_type.unwrap_or(route.authorization_type);
    if matches!(t, AuthorizationType::Jwt | AuthorizationType::Custom)
        && input.authorizer_id.is_none()
        && route.authorizer_id.is_none()
    {
        problems.push(format!(
            "authorizerId is required when authorizationType is {t}"
        ));
    }
    if !problems.is_empty() {
        if unknown_target {
            problems.push(format!(
                "Invalid target {}: the integration does not exist",
                input.target.as_deref().unwrap_or_default()
            ));
        }
        return Err(ApiError::invalid(&problems));
    }
    if unknown_target {
        return Err(ApiError::NotFound(format!(
            "Invalid target {}: the integration does not exist",
            input.target.as_deref().unwrap_or_default()
        )));
    }
    set(&mut route.route_key, input.route_key);
    set_opt(&mut route.target, input.target);
    set(&mut route.authorization_type, authorization_type);
    set(&mut route.api_key_required, input.api_key_required);
    set_opt(&mut route.authorization_scopes, input.authorization_scopes);
    set_opt(&mut route.authorizer_id, input.authorizer_id);
    if route.authorization_type == AuthorizationType::None {
        route.authorizer_id = None;
    }
    check_route_authorization(state, &route)?;
    if state.api.protocol_type == ProtocolType::Websocket
        && route.authorization_type != AuthorizationType::None
        && route.route_key != portico_shared::websocket::CONNECT
    {
        // AWS's own message.
        return Err(ApiError::invalid(&[
            "Currently, authorization is restricted to the $connect route only".to_string(),
        ]));
    }
    set_opt(
        &mut route.model_selection_expression,
        input.model_selection_expression,
    );
    set_opt(&mut route.operation_name, input.operation_name);
    set_opt(&mut route.request_models, input.request_models);
    set_opt(&mut route.request_parameters, input.request_parameters);
    set_opt(
        &mut route.route_response_selection_expression,
        input.route_response_selection_expression,
    );
    if state
        .routes
        .values()
        .any(|r| r.route_key == route.route_key && r.route_id != route.route_id)
    {
        return Err(ApiError::Conflict(format!(
            "Route with key {} already exists for this API",
            route.route_key
        )));
    }
    if state.api.protocol_type == ProtocolType::Websocket {
        return Ok(route);
    }
    // The router refuses what a stage could not serve (two names for one parameter position).
    let mut builder = RouterBuilder::new();
    let others = state
        .routes
        .values()
        .filter(|r| r.route_id != route.route_id);
    for (index, r) in (0u32..).zip(others.chain(std::iter::once(&route))) {
        if let Err(e) = builder.insert(&r.route_key, index) {
            if r.route_id == route.route_id {
                return Err(ApiError::BadRequest(format!("Invalid routeKey: {e}")));
            }
        }
    }
    Ok(route)
}
