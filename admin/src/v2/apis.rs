//! `CreateApi`, `GetApis`, `GetApi`, `UpdateApi`, `DeleteApi`, `DeleteCorsConfiguration`: the handlers and the catalog operations behind them.

use axum::extract::State;
use axum::response::Response;
use portico_shared::limits::DESCRIPTION_MAX_CHARS;
use portico_shared::model::{ConnectionType, IntegrationType, ProtocolType, DEFAULT_STAGE};

use super::stages::stage_record;
use super::{route_record, set, set_opt};
use crate::catalog::{ApiState, Catalog, Draft};
use crate::error::ApiError;
use crate::records::{
    check_http_uri, check_len, check_route_key, check_tags, ApiInput, ApiRecord, IntegrationRecord,
    RouteRecord, StageRecord, API_KEY_SELECTION_EXPRESSION, ROUTE_SELECTION_EXPRESSION,
    ROUTE_SELECTION_EXPRESSION_BRACED,
};
use crate::wire::{created, no_content, ok, page_where, Body, Paging, Params};
use crate::AdminState;

pub(super) async fn create_api(
    State(s): State<AdminState>,
    Body(input): Body<ApiInput>,
) -> Response {
    let endpoint = s.endpoint_fn();
    created(s.write(move |c| c.create_api(input)).await.map(endpoint))
}

pub(super) async fn get_apis(State(s): State<AdminState>, q: Paging) -> Response {
    let endpoint = s.endpoint_fn();
    let here = s.regions().here(crate::region::Class::Api);
    ok(s.read(|c| {
        page_where(
            c.apis(),
            &q.0,
            |id| here.contains(id),
            |a| endpoint(a.api.clone()),
        )
    })
    .await)
}

pub(super) async fn get_api(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
) -> Response {
    let endpoint = s.endpoint_fn();
    ok(s.read(|c| Ok(endpoint(c.api(&api_id)?.api.clone()))).await)
}

pub(super) async fn update_api(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<ApiInput>,
) -> Response {
    let endpoint = s.endpoint_fn();
    ok(s.write(move |c| c.update_api(&api_id, input))
        .await
        .map(endpoint))
}

pub(super) async fn delete_api(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
) -> Response {
    no_content(s.write(move |c| c.delete_api(&api_id)).await)
}

pub(super) async fn delete_cors(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
) -> Response {
    no_content(s.write(move |c| c.delete_cors(&api_id)).await)
}

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
            protocol_type: if websocket {
                ProtocolType::Websocket
            } else {
                ProtocolType::Http
            },
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
                connection_type: ConnectionType::Internet,
                credentials_arn: input.credentials_arn,
                description: None,
                integration_id: integration_id.clone(),
                integration_method: "ANY".into(),
                integration_subtype: None,
                integration_type: IntegrationType::HttpProxy,
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
        let websocket = d.state.api.protocol_type == ProtocolType::Websocket;
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
        DESCRIPTION_MAX_CHARS,
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
