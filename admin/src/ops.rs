//! The `apigatewayv2` operations for HTTP APIs: validate the input (every problem at once), change
//! a [`Draft`], hand it to [`Catalog::apply`].
//!
//! Error order, as AWS: an unknown API, route, integration, stage or deployment in the path is a
//! 404 first; then every problem with the body is reported in one 400; then a body that names a
//! resource that does not exist is a 404; then a duplicate route key or stage name, or a
//! resource still in use, is a 409.

use std::collections::BTreeMap;

use portico_shared::model::DEFAULT_STAGE;
use portico_shared::router::RouterBuilder;

use crate::catalog::{ApiState, Catalog, Draft};
use crate::error::ApiError;
use crate::records::{
    check_http_uri, check_integration_method, check_len, check_route_key, check_route_settings,
    check_stage_name, check_stage_variables, check_tags, check_timeout, target_integration,
    ApiInput, ApiRecord, AuthorizerInput, AuthorizerRecord, DeploymentInput, DeploymentRecord,
    IntegrationInput, IntegrationRecord, RouteInput, RouteRecord, RouteSettings, StageInput,
    StageRecord, API_KEY_SELECTION_EXPRESSION, ROUTE_SELECTION_EXPRESSION,
    ROUTE_SELECTION_EXPRESSION_BRACED,
};

/// Longest description, as AWS.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 1024;

/// `authorizationScopes` per route, as AWS.
const MAX_AUTHORIZATION_SCOPES: usize = 10;

/// Authorizers per API, as AWS.
const MAX_AUTHORIZERS: usize = 10;

/// Audiences per JWT authorizer, as AWS.
const MAX_AUDIENCES: usize = 50;

// === APIs ===

impl Catalog {
    /// `CreateApi`, including quick create (`target`, `routeKey`): an `HTTP_PROXY` integration,
    /// a route to it and an auto-deploying `$default` stage.
    pub(crate) fn create_api(&mut self, input: ApiInput) -> Result<ApiRecord, ApiError> {
        let mut problems = Vec::new();
        match input.name.as_deref() {
            None => problems.push("name is required".to_string()),
            Some(n) => check_len(&mut problems, "name", Some(n), 1, 128),
        }
        let websocket = input.protocol_type.as_deref() == Some("WEBSOCKET");
        match input.protocol_type.as_deref() {
            None => problems.push("protocolType is required".to_string()),
            Some("HTTP" | "WEBSOCKET") => {}
            Some(other) => problems.push(format!(
                "Invalid protocolType '{other}': use HTTP or WEBSOCKET"
            )),
        }
        if websocket {
            if input.route_selection_expression.is_none() {
                problems.push("routeSelectionExpression is required for WebSocket APIs".into());
            }
            for (member, present) in [
                ("target", input.target.is_some()),
                ("routeKey", input.route_key.is_some()),
                ("credentialsArn", input.credentials_arn.is_some()),
                ("corsConfiguration", input.cors_configuration.is_some()),
            ] {
                if present {
                    problems.push(format!("{member} is supported only for HTTP APIs"));
                }
            }
        }
        check_api_members(&mut problems, &input, websocket);
        if input.route_key.is_some() && input.target.is_none() {
            problems.push("routeKey is only used with target (quick create)".into());
        }
        if let Some(key) = &input.route_key {
            check_route_key(&mut problems, key);
        }
        if let Some(target) = &input.target {
            check_quick_target(&mut problems, target);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let now = crate::ids::now_iso8601();
        let record = ApiRecord {
            api_id: self.new_api_id(),
            api_endpoint: None,
            api_gateway_managed: false,
            api_key_selection_expression: input
                .api_key_selection_expression
                .unwrap_or_else(|| API_KEY_SELECTION_EXPRESSION.into()),
            cors_configuration: input.cors_configuration,
            created_date: now,
            description: input.description,
            disable_execute_api_endpoint: input.disable_execute_api_endpoint.unwrap_or(false),
            disable_schema_validation: input.disable_schema_validation,
            ip_address_type: input.ip_address_type,
            name: input.name.unwrap_or_default(),
            protocol_type: if websocket { "WEBSOCKET" } else { "HTTP" }.into(),
            route_selection_expression: match (websocket, input.route_selection_expression) {
                (true, Some(e)) => e,
                _ => ROUTE_SELECTION_EXPRESSION.into(),
            },
            tags: input.tags.unwrap_or_default(),
            version: input.version,
        };
        let mut d = Draft::new(ApiState::new(record));
        d.put_api(true);
        if let Some(target) = input.target {
            let integration_id = d.state.new_child_id();
            d.put_integration(IntegrationRecord {
                api_gateway_managed: true,
                connection_id: None,
                connection_type: "INTERNET".into(),
                credentials_arn: input.credentials_arn,
                description: None,
                integration_id: integration_id.clone(),
                integration_method: "ANY".into(),
                integration_subtype: None,
                integration_type: "HTTP_PROXY".into(),
                integration_uri: target,
                payload_format_version: "1.0".into(),
                request_parameters: None,
                response_parameters: None,
                timeout_in_millis: portico_shared::limits::INTEGRATION_TIMEOUT_DEFAULT_MS,
                content_handling_strategy: None,
                integration_response_selection_expression: None,
                passthrough_behavior: None,
                request_templates: None,
                template_selection_expression: None,
                tls_config: None,
            });
            let route_id = d.state.new_child_id();
            d.put_route(RouteRecord {
                api_gateway_managed: true,
                target: Some(format!("integrations/{integration_id}")),
                ..route_record(
                    route_id,
                    input.route_key.unwrap_or_else(|| "$default".into()),
                )
            });
            let now = d.now.clone();
            d.put_stage(StageRecord {
                api_gateway_managed: true,
                auto_deploy: true,
                ..stage_record(DEFAULT_STAGE.into(), now)
            });
        }
        Ok(self.apply(d)?.api.clone())
    }

    /// `UpdateApi`. `target` and `routeKey` change quick create's integration and route.
    pub(crate) fn update_api(
        &mut self,
        api_id: &str,
        input: ApiInput,
    ) -> Result<ApiRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let mut problems = Vec::new();
        check_len(&mut problems, "name", input.name.as_deref(), 1, 128);
        if input.protocol_type.is_some() {
            problems.push("protocolType cannot be changed".into());
        }
        if input.tags.is_some() {
            problems.push("tags are changed with TagResource, not UpdateApi".into());
        }
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        check_api_members(&mut problems, &input, websocket);
        if let Some(key) = &input.route_key {
            check_route_key(&mut problems, key);
        }
        if let Some(target) = &input.target {
            check_quick_target(&mut problems, target);
        }
        let managed_route = d
            .state
            .routes
            .values()
            .find(|r| r.api_gateway_managed)
            .cloned();
        let managed_integration = d
            .state
            .integrations
            .values()
            .find(|i| i.api_gateway_managed)
            .cloned();
        if (input.route_key.is_some() && managed_route.is_none())
            || (input.target.is_some() && managed_integration.is_none())
        {
            problems.push(
                "routeKey and target can only be updated on an API made with quick create".into(),
            );
        }
        if let (Some(key), Some(route)) = (&input.route_key, &managed_route) {
            if d.state
                .routes
                .values()
                .any(|r| &r.route_key == key && r.route_id != route.route_id)
            {
                if !problems.is_empty() {
                    return Err(ApiError::invalid(&problems));
                }
                return Err(ApiError::Conflict(format!(
                    "Route with key {key} already exists for this API"
                )));
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let a = &mut d.state.api;
        // CORS is the API's, not a deployment's: a change is served at once.
        let served = input
            .disable_execute_api_endpoint
            .is_some_and(|v| v != a.disable_execute_api_endpoint)
            || input.cors_configuration.is_some();
        set(&mut a.name, input.name);
        set_opt(&mut a.description, input.description);
        set_opt(&mut a.version, input.version);
        set_opt(&mut a.cors_configuration, input.cors_configuration);
        set_opt(&mut a.ip_address_type, input.ip_address_type);
        set_opt(
            &mut a.disable_schema_validation,
            input.disable_schema_validation,
        );
        set(
            &mut a.disable_execute_api_endpoint,
            input.disable_execute_api_endpoint,
        );
        set(
            &mut a.api_key_selection_expression,
            input.api_key_selection_expression,
        );
        let served = served || (websocket && input.route_selection_expression.is_some());
        if websocket {
            set(
                &mut a.route_selection_expression,
                input.route_selection_expression,
            );
        }
        d.put_api(served);
        if let (Some(key), Some(mut route)) = (input.route_key, managed_route) {
            route.route_key = key;
            d.put_route(route);
        }
        if let (Some(target), Some(mut integration)) = (input.target, managed_integration) {
            integration.integration_uri = target;
            d.put_integration(integration);
        }
        Ok(self.apply(d)?.api.clone())
    }

    /// `DeleteCors`: the API answers no preflight and adds no CORS headers from now on.
    pub(crate) fn delete_cors(&mut self, api_id: &str) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.api.cors_configuration = None;
        d.put_api(true);
        self.apply(d).map(drop)
    }
}

fn check_api_members(problems: &mut Vec<String>, input: &ApiInput, websocket: bool) {
    check_len(
        problems,
        "description",
        input.description.as_deref(),
        0,
        MAX_DESCRIPTION_CHARS,
    );
    check_len(problems, "version", input.version.as_deref(), 1, 64);
    if let Some(e) = input.route_selection_expression.as_deref() {
        if websocket {
            if let Err(e) = portico_shared::websocket::Selection::parse(e) {
                problems.push(format!("Invalid routeSelectionExpression: {e}"));
            }
        } else if e != ROUTE_SELECTION_EXPRESSION && e != ROUTE_SELECTION_EXPRESSION_BRACED {
            problems.push(format!(
                "routeSelectionExpression of an HTTP API must be '{ROUTE_SELECTION_EXPRESSION}'"
            ));
        }
    }
    if let Some(e) = input.api_key_selection_expression.as_deref() {
        if e != API_KEY_SELECTION_EXPRESSION && e != "$context.authorizer.usageIdentifierKey" {
            problems.push(format!(
                "Invalid apiKeySelectionExpression '{e}': use {API_KEY_SELECTION_EXPRESSION} or $context.authorizer.usageIdentifierKey"
            ));
        }
    }
    if let Some(t) = input.ip_address_type.as_deref() {
        if t != "ipv4" && t != "dualstack" {
            problems.push(format!(
                "Invalid ipAddressType '{t}': use ipv4 or dualstack"
            ));
        }
    }
    check_tags(problems, input.tags.as_ref());
    if let Some(cors) = &input.cors_configuration {
        if let Err(p) = portico_shared::cors::CorsPolicy::compile(cors) {
            problems.extend(p);
        }
    }
}

fn check_quick_target(problems: &mut Vec<String>, target: &str) {
    if target.starts_with("arn:") {
        problems
            .push("Lambda targets are not supported yet: quick create needs an http:// URL".into());
    } else {
        check_http_uri(problems, target);
    }
}

// === routes ===

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
        authorization_type: "NONE".into(),
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
    let websocket = state.api.protocol_type == "WEBSOCKET";
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
    match input.authorization_type.as_deref() {
        None | Some("NONE") => {}
        Some("JWT") if websocket => {
            problems.push("authorizationType JWT is supported only for HTTP APIs".into())
        }
        Some("JWT" | "AWS_IAM" | "CUSTOM") => {}
        Some(t) => problems.push(format!(
            "Invalid authorizationType '{t}': use NONE, AWS_IAM, CUSTOM or JWT"
        )),
    }
    if let Some(scopes) = &input.authorization_scopes {
        if scopes.len() > MAX_AUTHORIZATION_SCOPES {
            problems.push(format!(
                "authorizationScopes must have at most {MAX_AUTHORIZATION_SCOPES} entries"
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
    let t = route.authorization_type.as_str();
    if t == "JWT" || t == "CUSTOM" {
        let Some(id) = &route.authorizer_id else {
            return Err(ApiError::invalid(&[format!(
                "authorizerId is required when authorizationType is {t}"
            )]));
        };
        let a = state.authorizer(id)?;
        let wanted = if t == "JWT" { "JWT" } else { "REQUEST" };
        if a.authorizer_type != wanted {
            return Err(ApiError::invalid(&[format!(
                "authorizationType {t} needs a {wanted} authorizer; {id} is {}",
                a.authorizer_type
            )]));
        }
        if t == "CUSTOM" && scopes {
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
    let t = input
        .authorization_type
        .as_deref()
        .unwrap_or(&route.authorization_type);
    if matches!(t, "JWT" | "CUSTOM")
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
    set(&mut route.authorization_type, input.authorization_type);
    set(&mut route.api_key_required, input.api_key_required);
    set_opt(&mut route.authorization_scopes, input.authorization_scopes);
    set_opt(&mut route.authorizer_id, input.authorizer_id);
    if route.authorization_type == "NONE" {
        route.authorizer_id = None;
    }
    check_route_authorization(state, &route)?;
    if state.api.protocol_type == "WEBSOCKET"
        && route.authorization_type != "NONE"
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
    if state.api.protocol_type == "WEBSOCKET" {
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

// === integrations ===

impl Catalog {
    /// `CreateIntegration` (`HTTP_PROXY` only, for now).
    pub(crate) fn create_integration(
        &mut self,
        api_id: &str,
        input: IntegrationInput,
    ) -> Result<IntegrationRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let mut problems = Vec::new();
        if input.integration_type.is_none() {
            problems.push("integrationType is required".to_string());
        }
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        // First-class integrations (`AWS_PROXY` with a subtype) have no URI: their parameters
        // name the resource.
        if let Some(t @ ("HTTP_PROXY" | "HTTP" | "AWS_PROXY")) = input.integration_type.as_deref() {
            if input.integration_uri.is_none() && input.integration_subtype.is_none() {
                problems.push(format!("integrationUri is required for {t} integrations"));
            }
        }
        if !websocket
            && input.integration_type.as_deref() == Some("AWS_PROXY")
            && input.payload_format_version.is_none()
        {
            problems.push("payloadFormatVersion is required for AWS_PROXY integrations".into());
        }
        let record = IntegrationRecord {
            api_gateway_managed: false,
            connection_type: "INTERNET".into(),
            connection_id: None,
            credentials_arn: None,
            description: None,
            integration_id: d.state.new_child_id(),
            integration_method: "ANY".into(),
            integration_subtype: None,
            integration_type: "HTTP_PROXY".into(),
            integration_uri: String::new(),
            payload_format_version: "1.0".into(),
            request_parameters: None,
            response_parameters: None,
            timeout_in_millis: if websocket {
                portico_shared::limits::WS_INTEGRATION_TIMEOUT_DEFAULT_MS
            } else {
                portico_shared::limits::INTEGRATION_TIMEOUT_DEFAULT_MS
            },
            content_handling_strategy: None,
            integration_response_selection_expression: None,
            passthrough_behavior: None,
            request_templates: None,
            template_selection_expression: None,
            tls_config: None,
        };
        let record = merge_integration(record, input, problems, websocket, self.vpc_links())?;
        d.put_integration(record.clone());
        self.apply(d)?;
        Ok(record)
    }

    /// `UpdateIntegration`.
    pub(crate) fn update_integration(
        &mut self,
        api_id: &str,
        integration_id: &str,
        input: IntegrationInput,
    ) -> Result<IntegrationRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let current = d.state.integration(integration_id)?.clone();
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        let record = merge_integration(current, input, Vec::new(), websocket, self.vpc_links())?;
        d.put_integration(record.clone());
        self.apply(d)?;
        Ok(record)
    }

    /// `DeleteIntegration`: refused (409) while a route targets it.
    pub(crate) fn delete_integration(
        &mut self,
        api_id: &str,
        integration_id: &str,
    ) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.integration(integration_id)?;
        let target = format!("integrations/{integration_id}");
        let users: Vec<&str> = d
            .state
            .routes
            .values()
            .filter(|r| r.target.as_deref() == Some(target.as_str()))
            .map(|r| r.route_key.as_str())
            .collect();
        if !users.is_empty() {
            return Err(ApiError::Conflict(format!(
                "Integration {integration_id} is the target of route(s) {}: change or delete them first",
                users.join(", ")
            )));
        }
        d.remove_integration(integration_id);
        crate::ws::remove_integration_responses(&mut d, integration_id);
        self.apply(d).map(drop)
    }
}

/// AWS's refusal of a non-proxy `integrationType` on an HTTP API.
const HTTP_API_PROXY_ONLY: &str = "Currently, an API with a protocol type of HTTP may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)";

fn merge_integration(
    mut record: IntegrationRecord,
    input: IntegrationInput,
    mut problems: Vec<String>,
    websocket: bool,
    links: &portico_shared::vpc_link::VpcLinks,
) -> Result<IntegrationRecord, ApiError> {
    if websocket {
        return crate::ws::merge_integration(record, input, problems);
    }
    // First-class integrations (`AWS_PROXY` with a subtype): their parameters are the action's.
    let subtype = input
        .integration_subtype
        .clone()
        .or_else(|| record.integration_subtype.clone());
    let service = match (input.integration_type.as_deref(), &subtype) {
        (Some("AWS_PROXY"), Some(_)) => true,
        (None, Some(_)) => record.integration_type == "AWS_PROXY",
        _ => false,
    };
    match input.integration_type.as_deref() {
        None | Some("HTTP_PROXY" | "AWS_PROXY") => {}
        // AWS's answer, word for word: HTTP APIs have proxy integrations only (`MOCK`, `HTTP`
        // and `AWS` exist for REST and WebSocket APIs).
        Some("AWS" | "HTTP" | "MOCK") => problems.push(HTTP_API_PROXY_ONLY.to_string()),
        Some(t) => problems.push(format!(
            "Invalid integrationType '{t}': use AWS, AWS_PROXY, HTTP, HTTP_PROXY or MOCK"
        )),
    }
    let lambda = !service
        && input
            .integration_type
            .as_deref()
            .unwrap_or(&record.integration_type)
            == "AWS_PROXY";
    if let Some(uri) = &input.integration_uri {
        if !lambda {
            check_http_uri(&mut problems, uri);
        } else if !uri.contains("${") {
            if let Err(e) = portico_shared::lambda::parse_function_uri(uri, false) {
                problems.push(e);
            }
        }
    }
    if let Some(m) = &input.integration_method {
        check_integration_method(&mut problems, m);
    }
    if let Some(v) = &input.payload_format_version {
        match (lambda, v.as_str()) {
            (_, "1.0") | (true, "2.0") => {}
            (true, _) => problems.push(format!(
                "Invalid payloadFormatVersion '{v}': AWS_PROXY integrations use 1.0 or 2.0"
            )),
            (false, _) => problems.push(format!(
                "Invalid payloadFormatVersion '{v}': HTTP_PROXY integrations use 1.0"
            )),
        }
    }
    if lambda
        && (input
            .request_parameters
            .as_ref()
            .is_some_and(|m| !m.is_empty())
            || input
                .response_parameters
                .as_ref()
                .is_some_and(|m| !m.is_empty()))
    {
        problems.push(
            "requestParameters and responseParameters are not supported for AWS_PROXY integrations yet"
                .into(),
        );
    }
    if let Some(ms) = input.timeout_in_millis {
        check_timeout(&mut problems, ms);
    }
    match input.connection_type.as_deref() {
        None | Some("INTERNET" | "VPC_LINK") => {}
        Some(t) => problems.push(format!(
            "Invalid connectionType '{t}': use INTERNET or VPC_LINK"
        )),
    }
    let connection_type = input
        .connection_type
        .clone()
        .unwrap_or_else(|| record.connection_type.clone());
    let connection_id = input
        .connection_id
        .clone()
        .or_else(|| record.connection_id.clone())
        .filter(|_| connection_type == "VPC_LINK");
    if connection_type == "VPC_LINK" {
        match &connection_id {
            None => {
                problems.push("connectionId is required when connectionType is VPC_LINK".into())
            }
            Some(id) if !id.contains("${") && links.get(id).is_none() => {
                problems.push(format!("Invalid VPC link identifier specified: '{id}'"))
            }
            Some(_) => {}
        }
    } else if input.connection_id.is_some() {
        problems.push("connectionId is only used with connectionType VPC_LINK".into());
    }
    if input.integration_subtype.is_some() && !service {
        problems.push("integrationSubtype is only used with AWS_PROXY integrations".into());
    }
    if service {
        let subtype = subtype.as_deref().unwrap_or_default();
        let params = input
            .request_parameters
            .clone()
            .or_else(|| record.request_parameters.clone())
            .unwrap_or_default();
        problems.extend(portico_shared::aws::check_subtype(subtype, &params));
        if input.response_parameters.is_some() {
            problems.push(format!(
                "responseParameters are not supported for integration subtype {subtype}"
            ));
        }
    }
    for (member, present) in [
        (
            "contentHandlingStrategy",
            input.content_handling_strategy.is_some(),
        ),
        ("passthroughBehavior", input.passthrough_behavior.is_some()),
        ("requestTemplates", input.request_templates.is_some()),
        (
            "templateSelectionExpression",
            input.template_selection_expression.is_some(),
        ),
    ] {
        if present {
            problems.push(format!("{member} is supported only for WebSocket APIs"));
        }
    }
    if let Some(map) = input.request_parameters.as_ref().filter(|_| !service) {
        if let Err(p) = portico_shared::mapping::RequestMapping::compile(map) {
            problems.extend(p);
        }
    }
    if let Some(map) = &input.response_parameters {
        if let Err(p) = portico_shared::mapping::ResponseMappings::compile(map) {
            problems.extend(p);
        }
    }
    if let Some(name) = input
        .tls_config
        .as_ref()
        .and_then(|t| t.server_name_to_verify.as_deref())
    {
        if name.is_empty() || name.len() > 253 {
            problems.push("tlsConfig.serverNameToVerify must be a host name".into());
        }
    }
    check_len(
        &mut problems,
        "description",
        input.description.as_deref(),
        0,
        MAX_DESCRIPTION_CHARS,
    );
    if !problems.is_empty() {
        return Err(ApiError::invalid(&problems));
    }
    set(&mut record.integration_type, input.integration_type);
    if service {
        record.integration_type = "AWS_PROXY".into();
        record.integration_subtype = subtype;
    }
    record.connection_type = connection_type;
    record.connection_id = connection_id;
    set(&mut record.integration_uri, input.integration_uri);
    set(&mut record.integration_method, input.integration_method);
    if lambda {
        // Lambda is always invoked with POST (AWS stores it so).
        record.integration_method = "POST".into();
    }
    set(
        &mut record.payload_format_version,
        input.payload_format_version,
    );
    // Checked above: 50..=30,000 fits in u32.
    set(
        &mut record.timeout_in_millis,
        input
            .timeout_in_millis
            .and_then(|ms| u32::try_from(ms).ok()),
    );
    set_opt(&mut record.credentials_arn, input.credentials_arn);
    set_opt(&mut record.description, input.description);
    // A map replaces the previous one; an empty map removes the mapping.
    if let Some(map) = input.request_parameters {
        record.request_parameters = (!map.is_empty()).then_some(map);
    }
    if let Some(map) = input.response_parameters {
        record.response_parameters = (!map.is_empty()).then_some(map);
    }
    set_opt(&mut record.tls_config, input.tls_config);
    Ok(record)
}

// === stages ===

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
            check_stage_name(&mut problems, &name);
        }
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        check_stage_members(&mut problems, &input, websocket);
        check_execution_logs(&mut problems, &d.state.api.protocol_type, &input);
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
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        check_stage_members(&mut problems, &input, websocket);
        check_execution_logs(&mut problems, &d.state.api.protocol_type, &input);
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

fn stage_record(stage_name: String, now: String) -> StageRecord {
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
fn check_execution_logs(problems: &mut Vec<String>, protocol_type: &str, input: &StageInput) {
    if protocol_type == "WEBSOCKET" {
        return;
    }
    let logs = |s: &RouteSettings| {
        matches!(s.logging_level.as_deref(), Some("ERROR" | "INFO"))
            || s.data_trace_enabled == Some(true)
    };
    if input.default_route_settings.as_ref().is_some_and(logs)
        || input.route_settings.iter().flatten().any(|(_, s)| logs(s))
    {
        problems.push(format!(
            "Execution logs are not supported on protocolType {protocol_type}"
        ));
    }
}

fn check_stage_members(problems: &mut Vec<String>, input: &StageInput, websocket: bool) {
    if let Some(vars) = &input.stage_variables {
        check_stage_variables(problems, vars);
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
        MAX_DESCRIPTION_CHARS,
    );
    if let Some(log) = &input.access_log_settings {
        check_len(
            problems,
            "accessLogSettings.format",
            log.format.as_deref(),
            1,
            1024,
        );
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

// === deployments ===

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
            MAX_DESCRIPTION_CHARS,
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
            MAX_DESCRIPTION_CHARS,
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

// === authorizers ===

impl Catalog {
    /// `CreateAuthorizer`: `JWT`, or `REQUEST` (a Lambda authorizer).
    pub(crate) fn create_authorizer(
        &mut self,
        api_id: &str,
        input: AuthorizerInput,
    ) -> Result<AuthorizerRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let mut problems = Vec::new();
        if input.name.is_none() {
            problems.push("name is required".to_string());
        }
        if input.authorizer_type.is_none() {
            problems.push("authorizerType is required".to_string());
        }
        let lambda = input.authorizer_type.as_deref() == Some("REQUEST");
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        if websocket && input.authorizer_type.as_deref() == Some("JWT") {
            problems.push("JWT authorizers are supported only for HTTP APIs".to_string());
        }
        if !lambda && input.identity_source.is_none() {
            problems.push("identitySource is required for JWT authorizers".to_string());
        }
        if !lambda && input.jwt_configuration.is_none() {
            problems.push("jwtConfiguration is required for JWT authorizers".to_string());
        }
        if lambda && input.authorizer_uri.is_none() {
            problems.push("authorizerUri is required for REQUEST authorizers".to_string());
        }
        if d.state.authorizers.len() >= MAX_AUTHORIZERS {
            problems.push(format!("an API has at most {MAX_AUTHORIZERS} authorizers"));
        }
        let id = d.state.new_child_id();
        let record = AuthorizerRecord {
            authorizer_id: id,
            authorizer_type: if lambda { "REQUEST" } else { "JWT" }.into(),
            identity_source: Vec::new(),
            jwt_configuration: Default::default(),
            name: String::new(),
            authorizer_uri: None,
            authorizer_credentials_arn: None,
            authorizer_payload_format_version: None,
            authorizer_result_ttl_in_seconds: None,
            enable_simple_responses: None,
        };
        let record = merge_authorizer(record, input, problems, websocket)?;
        d.put_authorizer(record.clone());
        self.apply(d)?;
        Ok(record)
    }

    /// `UpdateAuthorizer`.
    pub(crate) fn update_authorizer(
        &mut self,
        api_id: &str,
        authorizer_id: &str,
        input: AuthorizerInput,
    ) -> Result<AuthorizerRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        let current = d.state.authorizer(authorizer_id)?.clone();
        let websocket = d.state.api.protocol_type == "WEBSOCKET";
        let record = merge_authorizer(current, input, Vec::new(), websocket)?;
        d.put_authorizer(record.clone());
        self.apply(d)?;
        Ok(record)
    }

    /// `DeleteAuthorizer`: refused (409) while a route uses it.
    pub(crate) fn delete_authorizer(
        &mut self,
        api_id: &str,
        authorizer_id: &str,
    ) -> Result<(), ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.authorizer(authorizer_id)?;
        let users: Vec<&str> = d
            .state
            .routes
            .values()
            .filter(|r| r.authorizer_id.as_deref() == Some(authorizer_id))
            .map(|r| r.route_key.as_str())
            .collect();
        if !users.is_empty() {
            return Err(ApiError::Conflict(format!(
                "Cannot delete authorizer {authorizer_id}: it is used by route(s) {}",
                users.join(", ")
            )));
        }
        d.remove_authorizer(authorizer_id);
        self.apply(d).map(drop)
    }
}

fn merge_authorizer(
    mut record: AuthorizerRecord,
    input: AuthorizerInput,
    mut problems: Vec<String>,
    websocket: bool,
) -> Result<AuthorizerRecord, ApiError> {
    match input.authorizer_type.as_deref() {
        None => {}
        Some(t @ ("JWT" | "REQUEST")) if t == record.authorizer_type => {}
        Some("JWT" | "REQUEST") => problems.push(format!(
            "authorizerType cannot change from {}",
            record.authorizer_type
        )),
        Some(t) => problems.push(format!("Invalid authorizerType '{t}': use JWT or REQUEST")),
    }
    let lambda = record.authorizer_type == "REQUEST";
    if lambda {
        if input.jwt_configuration.is_some() {
            problems.push("jwtConfiguration is only used with JWT authorizers".into());
        }
    } else {
        for (member, present) in [
            ("authorizerUri", input.authorizer_uri.is_some()),
            (
                "authorizerCredentialsArn",
                input.authorizer_credentials_arn.is_some(),
            ),
            (
                "authorizerPayloadFormatVersion",
                input.authorizer_payload_format_version.is_some(),
            ),
            (
                "authorizerResultTtlInSeconds",
                input.authorizer_result_ttl_in_seconds.is_some(),
            ),
            (
                "enableSimpleResponses",
                input.enable_simple_responses.is_some(),
            ),
        ] {
            if present {
                problems.push(format!("{member} is only used with REQUEST authorizers"));
            }
        }
    }
    if input.identity_validation_expression.is_some() {
        problems.push(
            "identityValidationExpression is not used by HTTP or WebSocket API authorizers".into(),
        );
    }
    check_len(&mut problems, "name", input.name.as_deref(), 1, 128);
    if let (false, Some(sources)) = (lambda, &input.identity_source) {
        let ok = matches!(sources.as_slice(), [s] if s
            .strip_prefix("$request.header.")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
        if !ok {
            problems
                .push("identitySource of a JWT authorizer must be one $request.header.NAME".into());
        }
    }
    if lambda {
        let sources = input
            .identity_source
            .as_ref()
            .unwrap_or(&record.identity_source);
        let uri = input
            .authorizer_uri
            .as_ref()
            .or(record.authorizer_uri.as_ref());
        let format = input
            .authorizer_payload_format_version
            .as_ref()
            .or(record.authorizer_payload_format_version.as_ref());
        problems.extend(portico_shared::authorizer::check(
            &portico_shared::authorizer::AuthorizerInput {
                api_id: "",
                stage: "",
                authorizer_id: "",
                rest: false,
                websocket,
                token: false,
                uri: uri.map_or("", String::as_str),
                credentials: None,
                identity_sources: sources,
                identity_validation_expression: None,
                ttl_s: input
                    .authorizer_result_ttl_in_seconds
                    .or(record.authorizer_result_ttl_in_seconds),
                payload_format_version: format.map(String::as_str),
                simple_responses: input
                    .enable_simple_responses
                    .or(record.enable_simple_responses)
                    .unwrap_or(false),
            },
        ));
    }
    if let Some(jwt) = &input.jwt_configuration {
        let jwt = JwtMerged {
            issuer: jwt
                .issuer
                .as_ref()
                .or(record.jwt_configuration.issuer.as_ref()),
            audience: jwt
                .audience
                .as_ref()
                .or(record.jwt_configuration.audience.as_ref()),
            jwks_uri: jwt
                .jwks_uri
                .as_ref()
                .or(record.jwt_configuration.jwks_uri.as_ref()),
        };
        check_jwt_configuration(&mut problems, &jwt);
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(&problems));
    }
    set(&mut record.name, input.name);
    set(&mut record.identity_source, input.identity_source);
    if let Some(jwt) = input.jwt_configuration {
        let c = &mut record.jwt_configuration;
        set_opt(&mut c.issuer, jwt.issuer);
        set_opt(&mut c.audience, jwt.audience);
        set_opt(&mut c.jwks_uri, jwt.jwks_uri);
    }
    set_opt(&mut record.authorizer_uri, input.authorizer_uri);
    set_opt(
        &mut record.authorizer_credentials_arn,
        input.authorizer_credentials_arn,
    );
    set_opt(
        &mut record.authorizer_payload_format_version,
        input.authorizer_payload_format_version,
    );
    set_opt(
        &mut record.authorizer_result_ttl_in_seconds,
        input.authorizer_result_ttl_in_seconds,
    );
    set_opt(
        &mut record.enable_simple_responses,
        input.enable_simple_responses,
    );
    Ok(record)
}

/// `jwtConfiguration` after an update: what the checks look at.
struct JwtMerged<'a> {
    issuer: Option<&'a String>,
    audience: Option<&'a Vec<String>>,
    jwks_uri: Option<&'a String>,
}

fn check_jwt_configuration(problems: &mut Vec<String>, jwt: &JwtMerged<'_>) {
    match jwt.issuer {
        None => problems.push("jwtConfiguration.issuer is required".into()),
        Some(i) if i.is_empty() => problems.push("jwtConfiguration.issuer is required".into()),
        Some(i) if jwt.jwks_uri.is_none() && !i.starts_with("http://") => problems.push(format!(
            "jwtConfiguration.issuer '{i}': keys are found by OpenID discovery over http:// only \
             until TLS lands; give an http:// issuer or jwtConfiguration.jwksUri (http://)"
        )),
        Some(_) => {}
    }
    match jwt.audience {
        None => problems.push("jwtConfiguration.audience is required".into()),
        Some(a) if a.is_empty() || a.len() > MAX_AUDIENCES => problems.push(format!(
            "jwtConfiguration.audience must have 1 to {MAX_AUDIENCES} entries"
        )),
        Some(_) => {}
    }
    if let Some(u) = jwt.jwks_uri {
        if !u.starts_with("http://") || u.len() <= "http://".len() {
            problems.push(format!(
                "jwtConfiguration.jwksUri '{u}' must be an http:// URL (https lands with TLS)"
            ));
        }
    }
}

// === helpers ===

pub(crate) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

pub(crate) fn set_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}
