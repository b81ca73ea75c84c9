//! The `apigatewayv2` operations only WebSocket APIs have: route responses
//! (`/routes/{routeId}/routeresponses`), integration responses
//! (`/integrations/{integrationId}/integrationresponses`), and the checks of their integrations
//! (`MOCK`, `HTTP`, `HTTP_PROXY`, `AWS_PROXY`; templates chosen by
//! `templateSelectionExpression`).
//!
//! Route and integration responses are stored as their own documents keyed
//! `{parentId}/{childId}`; a deployment freezes them into its routes (`route_response`) and
//! integrations (`integration_responses`).

use std::collections::BTreeMap;

use portico_shared::limits::{DESCRIPTION_MAX_CHARS, WS_RESPONSES_MAX};
use portico_shared::model;
use portico_shared::websocket::{Selection, DEFAULT};

use crate::catalog::{ApiState, Catalog, Draft};
use crate::error::ApiError;
use crate::records::{
    check_http_uri, check_integration_method, check_len, check_timeout, IntegrationInput,
    IntegrationRecord, IntegrationResponseInput, IntegrationResponseRecord, RouteRecord,
    RouteResponseInput, RouteResponseRecord,
};
use crate::v2::{set, set_opt};
use portico_shared::model::{ConnectionType, IntegrationType, ProtocolType};

// === what a deployment freezes ===

/// Whether `route` sends its integration's answer back: it has a route response selection
/// expression and a `$default` route response.
pub(crate) fn has_route_response(state: &ApiState, route: &RouteRecord) -> bool {
    route.route_response_selection_expression.is_some()
        && children(&state.route_responses, &route.route_id)
            .any(|(_, r)| r.route_response_key == DEFAULT)
}

/// The integration responses of `integration`, in the compiler's model.
pub(crate) fn integration_responses(
    state: &ApiState,
    integration: &IntegrationRecord,
) -> Vec<model::IntegrationResponse> {
    children(&state.integration_responses, &integration.integration_id)
        .map(|(_, r)| model::IntegrationResponse {
            integration_response_key: r.integration_response_key.clone(),
            response_templates: r.response_templates.clone().unwrap_or_default(),
        })
        .collect()
}

/// The entries of `map` under `parent`, keyed by their own id.
fn children<'m, V>(
    map: &'m BTreeMap<String, V>,
    parent: &str,
) -> impl Iterator<Item = (&'m str, &'m V)> {
    let prefix = format!("{parent}/");
    map.range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k.rsplit('/').next().unwrap_or_default(), v))
}

/// The children of `parent` as a map keyed by their own id (for paging).
pub(crate) fn children_map<V: Clone>(
    map: &BTreeMap<String, V>,
    parent: &str,
) -> BTreeMap<String, V> {
    children(map, parent)
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub(crate) fn remove_route_responses(d: &mut Draft, route_id: &str) {
    let keys: Vec<String> = children(&d.state.route_responses, route_id)
        .map(|(k, _)| format!("{route_id}/{k}"))
        .collect();
    for k in keys {
        d.remove_route_response(&k);
    }
}

pub(crate) fn remove_integration_responses(d: &mut Draft, integration_id: &str) {
    let keys: Vec<String> = children(&d.state.integration_responses, integration_id)
        .map(|(k, _)| format!("{integration_id}/{k}"))
        .collect();
    for k in keys {
        d.remove_integration_response(&k);
    }
}

fn websocket_only(state: &ApiState) -> Result<(), ApiError> {
    if state.api.protocol_type == ProtocolType::Websocket {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "Route responses and integration responses are supported only for WebSocket APIs"
                .into(),
        ))
    }
}

// === route responses ===

impl Catalog {
    /// `CreateRouteResponse`.
    pub(crate) fn create_route_response(
        &mut self,
        api_id: &str,
        route_id: &str,
        input: RouteResponseInput,
    ) -> Result<RouteResponseRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.route(route_id)?;
        websocket_only(&d.state)?;
        let mut problems = Vec::new();
        if input.route_response_key.is_none() {
            problems.push("routeResponseKey is required".to_string());
        }
        if children(&d.state.route_responses, route_id).count() >= WS_RESPONSES_MAX {
            problems.push(format!(
                "a route has at most {WS_RESPONSES_MAX} route responses"
            ));
        }
        let record = RouteResponseRecord {
            model_selection_expression: None,
            response_models: None,
            response_parameters: None,
            route_response_id: d.state.new_child_id(),
            route_response_key: String::new(),
        };
        let record = merge_route_response(&d.state, route_id, record, input, problems)?;
        d.put_route_response(
            format!("{route_id}/{}", record.route_response_id),
            record.clone(),
        );
        self.apply(d)?;
        Ok(record)
    }

    /// `GetRouteResponse`.
    pub(crate) fn route_response(
        &self,
        api_id: &str,
        route_id: &str,
        id: &str,
    ) -> Result<RouteResponseRecord, ApiError> {
        let state = self.api(api_id)?;
        state.route(route_id)?;
        state
            .route_responses
            .get(&format!("{route_id}/{id}"))
            .cloned()
            .ok_or_else(|| {
                ApiError::NotFound(format!("Invalid RouteResponse identifier specified {id}"))
            })
    }

    /// `UpdateRouteResponse`.
    pub(crate) fn update_route_response(
        &mut self,
        api_id: &str,
        route_id: &str,
        id: &str,
        input: RouteResponseInput,
    ) -> Result<RouteResponseRecord, ApiError> {
        let current = self.route_response(api_id, route_id, id)?;
        let mut d = self.draft(api_id)?;
        let record = merge_route_response(&d.state, route_id, current, input, Vec::new())?;
        d.put_route_response(format!("{route_id}/{id}"), record.clone());
        self.apply(d)?;
        Ok(record)
    }

    /// `DeleteRouteResponse`.
    pub(crate) fn delete_route_response(
        &mut self,
        api_id: &str,
        route_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        self.route_response(api_id, route_id, id)?;
        let mut d = self.draft(api_id)?;
        d.remove_route_response(&format!("{route_id}/{id}"));
        self.apply(d).map(drop)
    }
}

fn merge_route_response(
    state: &ApiState,
    route_id: &str,
    mut record: RouteResponseRecord,
    input: RouteResponseInput,
    mut problems: Vec<String>,
) -> Result<RouteResponseRecord, ApiError> {
    if let Some(k) = &input.route_response_key {
        if k != DEFAULT {
            problems.push(format!(
                "Invalid routeResponseKey '{k}': the only key supported is $default"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(&problems));
    }
    if let Some(k) = &input.route_response_key {
        if children(&state.route_responses, route_id)
            .any(|(id, r)| &r.route_response_key == k && id != record.route_response_id)
        {
            return Err(ApiError::Conflict(format!(
                "RouteResponse with key {k} already exists for this route"
            )));
        }
    }
    set(&mut record.route_response_key, input.route_response_key);
    set_opt(
        &mut record.model_selection_expression,
        input.model_selection_expression,
    );
    set_opt(&mut record.response_models, input.response_models);
    set_opt(&mut record.response_parameters, input.response_parameters);
    Ok(record)
}

// === integration responses ===

impl Catalog {
    /// `CreateIntegrationResponse`.
    pub(crate) fn create_ws_integration_response(
        &mut self,
        api_id: &str,
        integration_id: &str,
        input: IntegrationResponseInput,
    ) -> Result<IntegrationResponseRecord, ApiError> {
        let mut d = self.draft(api_id)?;
        d.state.integration(integration_id)?;
        websocket_only(&d.state)?;
        let mut problems = Vec::new();
        if input.integration_response_key.is_none() {
            problems.push("integrationResponseKey is required".to_string());
        }
        if children(&d.state.integration_responses, integration_id).count() >= WS_RESPONSES_MAX {
            problems.push(format!(
                "an integration has at most {WS_RESPONSES_MAX} integration responses"
            ));
        }
        let record = IntegrationResponseRecord {
            content_handling_strategy: None,
            integration_response_id: d.state.new_child_id(),
            integration_response_key: String::new(),
            response_parameters: None,
            response_templates: None,
            template_selection_expression: None,
        };
        let record = merge_integration_response(&d.state, integration_id, record, input, problems)?;
        d.put_integration_response(
            format!("{integration_id}/{}", record.integration_response_id),
            record.clone(),
        );
        self.apply(d)?;
        Ok(record)
    }

    /// `GetIntegrationResponse`.
    pub(crate) fn ws_integration_response(
        &self,
        api_id: &str,
        integration_id: &str,
        id: &str,
    ) -> Result<IntegrationResponseRecord, ApiError> {
        let state = self.api(api_id)?;
        state.integration(integration_id)?;
        state
            .integration_responses
            .get(&format!("{integration_id}/{id}"))
            .cloned()
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "Invalid IntegrationResponse identifier specified {id}"
                ))
            })
    }

    /// `UpdateIntegrationResponse`.
    pub(crate) fn update_ws_integration_response(
        &mut self,
        api_id: &str,
        integration_id: &str,
        id: &str,
        input: IntegrationResponseInput,
    ) -> Result<IntegrationResponseRecord, ApiError> {
        let current = self.ws_integration_response(api_id, integration_id, id)?;
        let mut d = self.draft(api_id)?;
        let record =
            merge_integration_response(&d.state, integration_id, current, input, Vec::new())?;
        d.put_integration_response(format!("{integration_id}/{id}"), record.clone());
        self.apply(d)?;
        Ok(record)
    }

    /// `DeleteIntegrationResponse`.
    pub(crate) fn delete_ws_integration_response(
        &mut self,
        api_id: &str,
        integration_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        self.ws_integration_response(api_id, integration_id, id)?;
        let mut d = self.draft(api_id)?;
        d.remove_integration_response(&format!("{integration_id}/{id}"));
        self.apply(d).map(drop)
    }
}

fn merge_integration_response(
    state: &ApiState,
    integration_id: &str,
    mut record: IntegrationResponseRecord,
    input: IntegrationResponseInput,
    mut problems: Vec<String>,
) -> Result<IntegrationResponseRecord, ApiError> {
    if let Some(k) = &input.integration_response_key {
        let ok = k == DEFAULT
            || k.strip_prefix('/')
                .and_then(|p| p.strip_suffix('/'))
                .is_some_and(|p| !p.is_empty() && regex::Regex::new(p).is_ok());
        if !ok {
            problems.push(format!(
                "Invalid integrationResponseKey '{k}': use $default or /regex/ on the status code (e.g. /4\\d\\d/)"
            ));
        }
    }
    check_templates(
        &mut problems,
        "responseTemplates",
        input.response_templates.as_ref(),
    );
    if let Some(e) = &input.template_selection_expression {
        if let Err(e) = Selection::parse(e) {
            problems.push(e);
        }
    }
    if input.response_parameters.is_some() {
        problems.push(
            "responseParameters of WebSocket integration responses are not supported yet".into(),
        );
    }
    check_content_handling(&mut problems, input.content_handling_strategy.as_deref());
    if !problems.is_empty() {
        return Err(ApiError::invalid(&problems));
    }
    if let Some(k) = &input.integration_response_key {
        if children(&state.integration_responses, integration_id)
            .any(|(id, r)| &r.integration_response_key == k && id != record.integration_response_id)
        {
            return Err(ApiError::Conflict(format!(
                "IntegrationResponse with key {k} already exists for this integration"
            )));
        }
    }
    set(
        &mut record.integration_response_key,
        input.integration_response_key,
    );
    set_opt(&mut record.response_templates, input.response_templates);
    set_opt(
        &mut record.template_selection_expression,
        input.template_selection_expression,
    );
    set_opt(
        &mut record.content_handling_strategy,
        input.content_handling_strategy,
    );
    Ok(record)
}

// === integrations ===

/// `CreateIntegration`/`UpdateIntegration` of a WebSocket API.
pub(crate) fn merge_integration(
    mut record: IntegrationRecord,
    input: IntegrationInput,
    mut problems: Vec<String>,
) -> Result<IntegrationRecord, ApiError> {
    // The given type (or the stored one); `Err` holds a given value that is not a type.
    let kind: Result<IntegrationType, &str> = match input.integration_type.as_deref() {
        None => Ok(record.integration_type),
        Some(t) => t.parse().map_err(|_| t),
    };
    let kind_name = match kind {
        Ok(k) => k.as_str(),
        Err(t) => t,
    };
    match kind {
        Ok(
            IntegrationType::Mock
            | IntegrationType::Http
            | IntegrationType::HttpProxy
            | IntegrationType::AwsProxy,
        ) => {}
        Ok(IntegrationType::Aws) => problems.push(
            "integrationType AWS is not supported: use MOCK, HTTP, HTTP_PROXY or AWS_PROXY".into(),
        ),
        Err(t) => problems.push(format!(
            "Invalid integrationType '{t}': use AWS, AWS_PROXY, HTTP, HTTP_PROXY or MOCK"
        )),
    }
    if let Some(uri) = &input.integration_uri {
        match kind {
            Ok(IntegrationType::Http | IntegrationType::HttpProxy) => {
                check_http_uri(&mut problems, uri)
            }
            Ok(IntegrationType::AwsProxy) => {
                if !uri.starts_with("arn:") {
                    problems.push(format!(
                        "Invalid integrationUri '{uri}': AWS_PROXY integrations take a Lambda function ARN"
                    ));
                }
            }
            _ => problems.push("integrationUri is not used by MOCK integrations".into()),
        }
    }
    if let Some(m) = &input.integration_method {
        check_integration_method(&mut problems, m);
    }
    if let Some(ms) = input.timeout_in_millis {
        check_timeout(
            &mut problems,
            ms,
            portico_shared::limits::WS_INTEGRATION_TIMEOUT_DEFAULT_MS,
        );
    }
    if let Some(p) = input.passthrough_behavior.as_deref() {
        if !matches!(p, "WHEN_NO_MATCH" | "WHEN_NO_TEMPLATES" | "NEVER") {
            problems.push(format!(
                "Invalid passthroughBehavior '{p}': use WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER"
            ));
        }
    }
    check_templates(
        &mut problems,
        "requestTemplates",
        input.request_templates.as_ref(),
    );
    for (member, value) in [
        (
            "templateSelectionExpression",
            input.template_selection_expression.as_deref(),
        ),
        (
            "integrationResponseSelectionExpression",
            input.integration_response_selection_expression.as_deref(),
        ),
    ] {
        if let Some(e) = value {
            if member == "integrationResponseSelectionExpression" {
                if e != "${integration.response.statuscode}"
                    && e != "$integration.response.statuscode"
                {
                    problems.push(format!(
                        "Invalid integrationResponseSelectionExpression '{e}': Portico selects integration responses by ${{integration.response.statuscode}}"
                    ));
                }
            } else if let Err(e) = Selection::parse(e) {
                problems.push(format!("Invalid {member}: {e}"));
            }
        }
    }
    check_content_handling(&mut problems, input.content_handling_strategy.as_deref());
    if let Some(map) = input.request_parameters.as_ref().filter(|m| !m.is_empty()) {
        if !matches!(kind, Ok(IntegrationType::Http | IntegrationType::HttpProxy)) {
            problems.push(format!(
                "requestParameters of {kind_name} WebSocket integrations are not supported yet: use HTTP or HTTP_PROXY"
            ));
        } else if let Err(p) = portico_shared::websocket::compile_parameters(map) {
            problems.extend(p);
        }
    }
    if input.response_parameters.is_some() {
        problems.push(
            "responseParameters of WebSocket integrations are not supported yet: use integration responses".into(),
        );
    }
    if let Some(t) = input.connection_type.as_deref() {
        if t.parse() != Ok(ConnectionType::Internet) {
            problems.push(format!("connectionType {t} is not supported: use INTERNET"));
        }
    }
    if input.connection_id.is_some()
        || input.integration_subtype.is_some()
        || input.tls_config.is_some()
    {
        problems.push(
            "connectionId, integrationSubtype and tlsConfig are not supported for WebSocket integrations".into(),
        );
    }
    if let Some(v) = &input.payload_format_version {
        if v != "1.0" {
            problems.push(format!(
                "Invalid payloadFormatVersion '{v}': WebSocket integrations use 1.0"
            ));
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
    if input.integration_type.is_some() && record.integration_method == "ANY" {
        // AWS's default for WebSocket HTTP integrations is POST (a message has a body).
        record.integration_method = "POST".into();
    }
    if let Ok(k) = kind {
        record.integration_type = k;
    }
    set(&mut record.integration_uri, input.integration_uri);
    let method_given = input.integration_method.is_some();
    set(&mut record.integration_method, input.integration_method);
    if record.integration_type == IntegrationType::Mock && !method_given {
        // A MOCK integration calls nothing: AWS stores and shows no method.
        record.integration_method.clear();
    }
    set(
        &mut record.timeout_in_millis,
        input
            .timeout_in_millis
            .and_then(|ms| u32::try_from(ms).ok()),
    );
    set_opt(&mut record.credentials_arn, input.credentials_arn);
    set_opt(&mut record.description, input.description);
    set_opt(&mut record.passthrough_behavior, input.passthrough_behavior);
    // A map replaces the previous one; an empty map removes the mapping.
    if let Some(map) = input.request_parameters {
        record.request_parameters = (!map.is_empty()).then_some(map);
    }
    set_opt(&mut record.request_templates, input.request_templates);
    set_opt(
        &mut record.template_selection_expression,
        input.template_selection_expression,
    );
    set_opt(
        &mut record.integration_response_selection_expression,
        input.integration_response_selection_expression,
    );
    set_opt(
        &mut record.content_handling_strategy,
        input.content_handling_strategy,
    );
    Ok(record)
}

fn check_templates(
    problems: &mut Vec<String>,
    member: &str,
    templates: Option<&BTreeMap<String, String>>,
) {
    for (k, t) in templates.into_iter().flatten() {
        if let Err(e) = portico_shared::template::Template::parse(t) {
            problems.push(format!("{member}['{k}']: {e}"));
        }
        if t.len() > 300 * 1024 {
            problems.push(format!("{member}['{k}'] is larger than 300 KB"));
        }
    }
}

fn check_content_handling(problems: &mut Vec<String>, value: Option<&str>) {
    if let Some(v) = value {
        problems.push(format!(
            "contentHandlingStrategy '{v}' is not supported yet: messages are passed as received"
        ));
    }
}

#[cfg(test)]
mod tests;
