//! Integrations and (WebSocket APIs) integration responses: the handlers and the catalog operations behind them (integration responses' operations are in `ws.rs`).

use axum::extract::State;
use axum::response::Response;

use super::{parsed, set, set_opt};
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::records::{
    check_http_uri, check_integration_method, check_len, check_timeout, IntegrationInput,
    IntegrationRecord, IntegrationResponseInput,
};
use crate::wire::{created, no_content, ok, page, Body, Paging, Params};
use crate::AdminState;
use portico_shared::limits::DESCRIPTION_MAX_CHARS;
use portico_shared::model::{ConnectionType, IntegrationType, ProtocolType};

pub(super) async fn create_integration(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<IntegrationInput>,
) -> Response {
    created(s.write(move |c| c.create_integration(&api_id, input)).await)
}

pub(super) async fn get_integrations(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.integrations, &q.0, Clone::clone))
            .await,
    )
}

pub(super) async fn get_integration(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| c.api(&api_id)?.integration(&integration_id).cloned())
            .await,
    )
}

pub(super) async fn update_integration(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
    Body(input): Body<IntegrationInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_integration(&api_id, &integration_id, input))
            .await,
    )
}

pub(super) async fn delete_integration(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_integration(&api_id, &integration_id))
            .await,
    )
}

pub(super) async fn create_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
    Body(input): Body<IntegrationResponseInput>,
) -> Response {
    created(
        s.write(move |c| c.create_ws_integration_response(&api_id, &integration_id, input))
            .await,
    )
}

pub(super) async fn get_integration_responses(
    State(s): State<AdminState>,
    Params((api_id, integration_id)): Params<(String, String)>,
    q: Paging,
) -> Response {
    ok(s.read(|c| {
        let state = c.api(&api_id)?;
        state.integration(&integration_id)?;
        let map = crate::ws::children_map(&state.integration_responses, &integration_id);
        page(&map, &q.0, Clone::clone)
    })
    .await)
}

pub(super) async fn get_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id, id)): Params<(String, String, String)>,
) -> Response {
    ok(
        s.read(|c| c.ws_integration_response(&api_id, &integration_id, &id))
            .await,
    )
}

pub(super) async fn update_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id, id)): Params<(String, String, String)>,
    Body(input): Body<IntegrationResponseInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_ws_integration_response(&api_id, &integration_id, &id, input))
            .await,
    )
}

pub(super) async fn delete_integration_response(
    State(s): State<AdminState>,
    Params((api_id, integration_id, id)): Params<(String, String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_ws_integration_response(&api_id, &integration_id, &id))
            .await,
    )
}

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
        let websocket = d.state.api.protocol_type == ProtocolType::Websocket;
        // First-class integrations (`AWS_PROXY` with a subtype) have no URI: their parameters
        // name the resource.
        let integration_type = parsed(input.integration_type.as_deref());
        if let Some(
            t @ (IntegrationType::HttpProxy | IntegrationType::Http | IntegrationType::AwsProxy),
        ) = integration_type
        {
            if input.integration_uri.is_none() && input.integration_subtype.is_none() {
                problems.push(format!("integrationUri is required for {t} integrations"));
            }
        }
        if !websocket
            && integration_type == Some(IntegrationType::AwsProxy)
            && input.payload_format_version.is_none()
        {
            problems.push("payloadFormatVersion is required for AWS_PROXY integrations".into());
        }
        let record = IntegrationRecord {
            api_gateway_managed: false,
            connection_type: ConnectionType::Internet,
            connection_id: None,
            credentials_arn: None,
            description: None,
            integration_id: d.state.new_child_id(),
            integration_method: "ANY".into(),
            integration_subtype: None,
            integration_type: IntegrationType::HttpProxy,
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
        let websocket = d.state.api.protocol_type == ProtocolType::Websocket;
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
    let integration_type = parsed(input.integration_type.as_deref());
    let service = match (integration_type, &subtype) {
        (Some(IntegrationType::AwsProxy), Some(_)) => true,
        (None, Some(_)) => record.integration_type == IntegrationType::AwsProxy,
        _ => false,
    };
    match (integration_type, input.integration_type.as_deref()) {
        (None, None) | (Some(IntegrationType::HttpProxy | IntegrationType::AwsProxy), _) => {}
        // AWS's answer, word for word: HTTP APIs have proxy integrations only (`MOCK`, `HTTP`
        // and `AWS` exist for REST and WebSocket APIs).
        (Some(IntegrationType::Aws | IntegrationType::Http | IntegrationType::Mock), _) => {
            problems.push(HTTP_API_PROXY_ONLY.to_string())
        }
        (None, Some(t)) => problems.push(format!(
            "Invalid integrationType '{t}': use AWS, AWS_PROXY, HTTP, HTTP_PROXY or MOCK"
        )),
    }
    let lambda = !service
        && integration_type.unwrap_or(record.integration_type) == IntegrationType::AwsProxy;
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
        check_timeout(
            &mut problems,
            ms,
            portico_shared::limits::INTEGRATION_TIMEOUT_MAX_MS,
        );
    }
    let connection_type = match input.connection_type.as_deref() {
        None => record.connection_type,
        Some(t) => t.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "Invalid connectionType '{t}': use INTERNET or VPC_LINK"
            ));
            record.connection_type
        }),
    };
    let connection_id = input
        .connection_id
        .clone()
        .or_else(|| record.connection_id.clone())
        .filter(|_| connection_type == ConnectionType::VpcLink);
    if connection_type == ConnectionType::VpcLink {
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
        DESCRIPTION_MAX_CHARS,
    );
    if !problems.is_empty() {
        return Err(ApiError::invalid(&problems));
    }
    set(&mut record.integration_type, integration_type);
    if service {
        record.integration_type = IntegrationType::AwsProxy;
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
