//! Portico's own configuration document ([`Config`], what `--config FILE` and
//! `PUT /portico/config` take) as a declarative import into the catalog, and `GET /portico/config`
//! as an export of what is deployed.
//!
//! # Architecture
//! 1. Each API of the document becomes a whole [`ApiState`]: its routes, integrations and stages,
//!    plus one fresh deployment of those routes that every stage points at, so the stages serve
//!    them at once. Route ids the document omits are generated.
//! 2. [`Catalog::replace`] compiles every API before committing anything, then replaces the APIs
//!    with the same ids (or, for `PUT /portico/config`, the whole store).
//! 3. The export takes, per API, the newest deployment a stage serves and the stages that serve
//!    one. Stages on older deployments are exported with the newest one's routes: the document
//!    has one route table per API.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use portico_shared::limits::CHILD_ID_CHARS;
use portico_shared::model::{
    self, AuthorizationType, Config, ConnectionType, IntegrationType, ProtocolType,
};
use portico_shared::vpc_link::Plane;

use crate::catalog::{ApiState, Catalog, Deployment};
use crate::error::ApiError;
use crate::ids;
use crate::records::{
    check_access_log_format, check_route_settings, check_stage_variables, AccessLogSettings,
    ApiRecord, DeploymentContent, DeploymentRecord, IntegrationRecord, RouteRecord, RouteSettings,
    StageRecord, API_KEY_SELECTION_EXPRESSION, ROUTE_SELECTION_EXPRESSION,
};

/// How an import treats the APIs the document does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Keep them (`--config FILE` at start).
    Merge,
    /// Delete them (`PUT /portico/config`).
    ReplaceAll,
}

// === impl Catalog ===

impl Catalog {
    /// Imports `config`; returns the published generation. On error nothing changed.
    pub(crate) fn import(&mut self, config: &Config, mode: ImportMode) -> Result<u64, ApiError> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        let mut states = Vec::with_capacity(config.apis.len());
        for api in &config.apis {
            if !seen.insert(api.api_id.as_str()) {
                problems.push(format!("apis[{}]: apiId is defined twice", api.api_id));
                continue;
            }
            if let Some(state) = self.state_from_model(api, &mut problems) {
                states.push(state);
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        self.replace(states, mode == ImportMode::ReplaceAll)
    }

    fn state_from_model(&self, api: &model::Api, problems: &mut Vec<String>) -> Option<ApiState> {
        let at = format!("apis[{}]", api.api_id);
        let before = problems.len();
        if !ids::valid_api_id(&api.api_id) {
            problems.push(format!(
                "{at}: apiId must be 1 to 63 lowercase letters and digits"
            ));
            return None;
        }
        if api.protocol_type != ProtocolType::Http {
            problems.push(format!(
                "{at}: configuration documents carry HTTP APIs only (create REST and WebSocket APIs with the admin API)"
            ));
        }
        let now = ids::now_iso8601();
        let created = self
            .apis()
            .get(&api.api_id)
            .map_or_else(|| now.clone(), |s| s.api.created_date.clone());
        let mut state = ApiState::new(ApiRecord {
            api_id: api.api_id.clone(),
            api_endpoint: None,
            api_gateway_managed: false,
            api_key_selection_expression: API_KEY_SELECTION_EXPRESSION.into(),
            cors_configuration: api.cors_configuration.clone(),
            created_date: created,
            description: None,
            disable_execute_api_endpoint: api.disable_execute_api_endpoint,
            disable_schema_validation: None,
            ip_address_type: None,
            name: if api.name.is_empty() {
                api.api_id.clone()
            } else {
                api.name.clone()
            },
            protocol_type: ProtocolType::Http,
            route_selection_expression: ROUTE_SELECTION_EXPRESSION.into(),
            tags: BTreeMap::new(),
            version: None,
        });

        let mut integrations = BTreeMap::new();
        for i in &api.integrations {
            let iat = format!("{at}.integrations[{}]", i.integration_id);
            if !ids::valid_child_id(&i.integration_id) {
                problems.push(format!(
                    "{iat}: integrationId must be 1 to 63 letters, digits, '-' and '_'"
                ));
                continue;
            }
            match i.integration_type {
                IntegrationType::HttpProxy | IntegrationType::AwsProxy => {}
                other @ (IntegrationType::Http | IntegrationType::Aws | IntegrationType::Mock) => {
                    problems.push(format!(
                        "{iat}: integrationType {other:?}: an API with a protocol type of HTTP may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)"
                    ));
                    continue;
                }
            }
            // `AWS_PROXY` without a subtype is a Lambda proxy; with one, a first-class integration.
            let lambda =
                i.integration_type == IntegrationType::AwsProxy && i.integration_subtype.is_none();
            let record = IntegrationRecord {
                api_gateway_managed: false,
                connection_id: i.connection_id.clone(),
                connection_type: i.connection_type.unwrap_or(ConnectionType::Internet),
                credentials_arn: i.credentials_arn.clone(),
                description: None,
                integration_id: i.integration_id.clone(),
                integration_method: if lambda {
                    "POST".into()
                } else {
                    i.integration_method.clone().unwrap_or_else(|| "ANY".into())
                },
                integration_subtype: i.integration_subtype.clone(),
                integration_type: i.integration_type,
                integration_uri: i.integration_uri.clone(),
                payload_format_version: i
                    .payload_format_version
                    .clone()
                    .unwrap_or_else(|| "1.0".into()),
                request_parameters: (!i.request_parameters.is_empty())
                    .then(|| i.request_parameters.clone()),
                response_parameters: (!i.response_parameters.is_empty())
                    .then(|| i.response_parameters.clone()),
                timeout_in_millis: i
                    .timeout_in_millis
                    .unwrap_or(portico_shared::limits::INTEGRATION_TIMEOUT_DEFAULT_MS),
                content_handling_strategy: None,
                integration_response_selection_expression: None,
                passthrough_behavior: None,
                request_templates: None,
                template_selection_expression: None,
                tls_config: None,
            };
            if integrations
                .insert(i.integration_id.clone(), record)
                .is_some()
            {
                problems.push(format!("{iat}: integrationId is defined twice"));
            }
        }
        state.integrations = Arc::new(integrations);

        let mut routes = BTreeMap::new();
        for r in &api.routes {
            let rat = format!("{at}.routes[{}]", r.route_key);
            let route_id = if r.route_id.is_empty() {
                loop {
                    let id = ids::generate(CHILD_ID_CHARS);
                    if !routes.contains_key(&id) && !state.integrations.contains_key(&id) {
                        break id;
                    }
                }
            } else if ids::valid_child_id(&r.route_id) {
                r.route_id.clone()
            } else {
                problems.push(format!(
                    "{rat}: routeId must be 1 to 63 letters, digits, '-' and '_'"
                ));
                continue;
            };
            let authorization_type = match r.authorization_type {
                None | Some(AuthorizationType::None) => AuthorizationType::None,
                Some(AuthorizationType::AwsIam) => AuthorizationType::AwsIam,
                Some(
                    t @ (AuthorizationType::Custom
                    | AuthorizationType::Jwt
                    | AuthorizationType::CognitoUserPools),
                ) => {
                    problems.push(format!(
                        "{rat}: authorizationType {t} cannot be imported; use NONE or AWS_IAM"
                    ));
                    continue;
                }
            };
            let record = RouteRecord {
                target: r.target.clone(),
                authorization_type,
                ..crate::v2::route_record(route_id.clone(), r.route_key.clone())
            };
            if routes.insert(route_id, record).is_some() {
                problems.push(format!("{rat}: routeId {} is defined twice", r.route_id));
            }
        }
        state.routes = Arc::new(routes);

        let deployment_id = state.new_child_id();
        for s in &api.stages {
            let sat = format!("{at}.stages[{}]", s.stage_name);
            let mut vars = Vec::new();
            check_stage_variables(&mut vars, &s.stage_variables, Plane::V2);
            let settings = |r: &model::RouteSettings| RouteSettings {
                throttling_burst_limit: r.throttling_burst_limit,
                throttling_rate_limit: r.throttling_rate_limit,
                logging_level: r.logging_level.map(|l| {
                    match l {
                        model::LoggingLevel::Off => "OFF",
                        model::LoggingLevel::Error => "ERROR",
                        model::LoggingLevel::Info => "INFO",
                    }
                    .to_string()
                }),
                data_trace_enabled: r.data_trace_enabled,
                ..RouteSettings::default()
            };
            let default_route_settings = RouteSettings {
                detailed_metrics_enabled: Some(false),
                ..s.default_route_settings
                    .as_ref()
                    .map(settings)
                    .unwrap_or_default()
            };
            check_route_settings(&mut vars, "defaultRouteSettings", &default_route_settings);
            let route_settings: BTreeMap<String, RouteSettings> = s
                .route_settings
                .iter()
                .map(|(k, v)| (k.clone(), settings(v)))
                .collect();
            for (k, v) in &route_settings {
                check_route_settings(&mut vars, &format!("routeSettings[{k}]"), v);
            }
            let access_log = s.access_log_settings.as_ref();
            check_access_log_format(&mut vars, access_log.and_then(|a| a.format.as_deref()));
            problems.extend(vars.drain(..).map(|p| format!("{sat}: {p}")));
            let record = StageRecord {
                access_log_settings: access_log.map(|a| AccessLogSettings {
                    destination_arn: a.destination_arn.clone(),
                    format: a.format.clone(),
                }),
                api_gateway_managed: false,
                auto_deploy: false,
                created_date: now.clone(),
                default_route_settings,
                deployment_id: Some(deployment_id.clone()),
                description: None,
                last_deployment_status_message: Some(format!(
                    "Successfully deployed stage with deployment ID '{deployment_id}'"
                )),
                last_updated_date: now.clone(),
                route_settings,
                stage_name: s.stage_name.clone(),
                stage_variables: s.stage_variables.clone(),
                tags: BTreeMap::new(),
            };
            if state.stages.insert(s.stage_name.clone(), record).is_some() {
                problems.push(format!("{sat}: stage is defined twice"));
            }
        }
        let content = DeploymentContent {
            routes: state.routes.values().map(RouteRecord::to_model).collect(),
            integrations: state
                .integrations
                .values()
                .map(IntegrationRecord::to_model)
                .collect(),
            // The declarative document carries no authorizers yet.
            authorizers: Vec::new(),
        };
        state.deployments.insert(
            deployment_id.clone(),
            Arc::new(Deployment {
                record: DeploymentRecord {
                    auto_deployed: false,
                    created_date: now,
                    deployment_id,
                    deployment_status: "DEPLOYED".into(),
                    description: Some("Imported configuration".into()),
                },
                content,
            }),
        );
        (problems.len() == before).then_some(state)
    }

    /// What is deployed, as a [`Config`] document.
    pub(crate) fn export(&self) -> Config {
        let apis = self
            .apis()
            .values()
            // Configuration documents describe HTTP APIs only.
            .filter(|state| state.api.protocol_type != ProtocolType::Websocket)
            .map(|state| {
                let newest = state
                    .served_stages()
                    .map(|(_, d)| d)
                    .max_by(|a, b| a.record.created_date.cmp(&b.record.created_date));
                let (routes, integrations) = match newest {
                    Some(d) => (d.content.routes.clone(), d.content.integrations.clone()),
                    None => (
                        state.routes.values().map(RouteRecord::to_model).collect(),
                        state
                            .integrations
                            .values()
                            .map(IntegrationRecord::to_model)
                            .collect(),
                    ),
                };
                model::Api {
                    api_id: state.api.api_id.clone(),
                    name: state.api.name.clone(),
                    protocol_type: ProtocolType::Http,
                    route_selection_expression: None,
                    disable_execute_api_endpoint: state.api.disable_execute_api_endpoint,
                    cors_configuration: state.api.cors_configuration.clone(),
                    routes,
                    integrations,
                    stages: state.served_stages().map(|(s, _)| s.to_model()).collect(),
                }
            })
            .collect();
        Config { apis }
    }
}
