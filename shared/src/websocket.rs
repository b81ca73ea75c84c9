//! WebSocket APIs compiled: route selection, the route table of a stage and the integrations
//! (`MOCK`, `HTTP`, `HTTP_PROXY`) with their request templates and integration responses.
//!
//! # Architecture
//! 1. [`Selection`] is a selection expression (`$request.body.action`,
//!    `${request.body.a}/${request.body.b}`, `\$default`) parsed once; [`Selection::evaluate`]
//!    renders it against a message's JSON.
//! 2. [`compile_stage`] builds a [`WsStage`]: routes by key, with `$connect`, `$disconnect` and
//!    `$default` found once, so the data plane picks a route with one hash lookup.
//! 3. `AWS_PROXY` integrations compile to a Lambda target ([`WsTarget::Lambda`]): the function's
//!    endpoint, credentials and timeout, as for HTTP APIs (`lambda::compile_target`).
//!
//! Invariants: nothing here is mutated after compilation; route stats keys are stable across
//! compiles (`snapshot::stats_key`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use regex::Regex;

use crate::compile::{compile_http_proxy, err, ConfigError};
use crate::limits::MAPPINGS_MAX;
use crate::limits::WS_ROUTES_MAX;
use crate::model::{self, IntegrationType};
use crate::snapshot::{stats_key, HttpProxy, Passthrough};
use crate::template::Template;

pub use crate::rest::mock_status;

/// The route keys AWS predefines.
pub const CONNECT: &str = "$connect";
pub const DISCONNECT: &str = "$disconnect";
pub const DEFAULT: &str = "$default";

/// A selection expression, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<str>),
    /// `request.body.a.b`: the path below the body.
    Body(Vec<Box<str>>),
}

/// A WebSocket API's settings the data plane reads on every message.
#[derive(Debug)]
pub struct WsApi {
    pub route_selection: Selection,
}

/// One stage of a WebSocket API.
#[derive(Debug)]
pub struct WsStage {
    pub routes: Vec<WsRoute>,
    /// Route key → index into `routes`.
    by_key: HashMap<Box<str>, u32, foldhash::fast::FixedState>,
    pub connect: Option<u32>,
    pub disconnect: Option<u32>,
    pub default: Option<u32>,
    /// `defaultRouteSettings`' execution logging: what a message no route took is logged at.
    pub trace: crate::snapshot::Trace,
}

/// One route of a WebSocket API stage.
#[derive(Debug)]
pub struct WsRoute {
    pub route_key: Box<str>,
    /// Stats are keyed by it (stable across compiles).
    pub stats_key: u64,
    /// Send the integration's answer back to the client (a `$default` route response exists).
    pub route_response: bool,
    /// `None`: the route has no target; a message to it answers the error frame.
    pub integration: Option<Arc<WsIntegration>>,
    /// `$connect` with `authorizationType: AWS_IAM`: the upgrade request must be SigV4-signed
    /// (headers or presigned query) by a caller allowed `execute-api:Invoke` on the route.
    pub aws_iam: bool,
    /// `$connect` with `authorizationType: CUSTOM`: the Lambda `REQUEST` authorizer that
    /// decides the upgrade (`dataplane/src/ws/auth.rs`).
    pub authorizer: Option<Arc<crate::authorizer::LambdaAuthorizer>>,
    /// Execution logging (`loggingLevel`, `dataTraceEnabled`): the route's own settings, field
    /// by field over `defaultRouteSettings`; `Off` costs one branch per event.
    pub trace: crate::snapshot::Trace,
}

/// A WebSocket integration.
#[derive(Debug)]
pub struct WsIntegration {
    pub integration_id: Box<str>,
    pub target: WsTarget,
    /// Request templates by selection key.
    pub templates: Vec<(Box<str>, Template)>,
    /// `None`: the `$default` template (if any) is used.
    pub template_selection: Option<Selection>,
    pub passthrough: Passthrough,
    pub responses: Vec<WsIntegrationResponse>,
    pub timeout_ms: u32,
}

/// Where a WebSocket integration sends the event.
#[derive(Debug)]
pub enum WsTarget {
    /// Answered by the gateway: the rendered request (its `statusCode` member, else 200) selects
    /// the integration response.
    Mock,
    /// `HTTP`: the rendered request template is the upstream body; the answer goes through the
    /// integration responses.
    Http(HttpProxy),
    /// `HTTP_PROXY`: the message is the upstream body; the answer is sent back as is.
    HttpProxy(HttpProxy),
    /// `AWS_PROXY`: the WebSocket Lambda proxy event goes to the function; its `statusCode`
    /// decides (`$connect`), its `body` is the answer.
    Lambda(crate::lambda::LambdaTarget),
}

/// What an integration request carries.
#[derive(Debug, Clone, Copy)]
pub enum RequestBody<'t> {
    /// The selected request template, rendered.
    Template(&'t Template),
    /// The message as received (no template matched, `passthroughBehavior` allows it).
    Passthrough,
    /// No template matched and `passthroughBehavior` forbids passing the message.
    Unsupported,
}

/// One integration response.
#[derive(Debug)]
pub struct WsIntegrationResponse {
    /// `None`: `$default`.
    pub pattern: Option<Regex>,
    /// `None`: the integration's output passes through.
    pub template: Option<Template>,
}

// === impl Selection ===

impl Selection {
    /// Parses `$request.body.PATH`, a template of `${request.body.PATH}` and static text, or
    /// static text alone (`\$default` is the literal `$default`).
    pub fn parse(expr: &str) -> Result<Selection, String> {
        let bad = || {
            format!(
                "Invalid selection expression '{expr}': use $request.body.NAME, ${{request.body.NAME}} with static text, or \\$default"
            )
        };
        if expr.is_empty() {
            return Err(bad());
        }
        if let Some(path) = expr.strip_prefix("$request.body.") {
            return Ok(Selection {
                parts: vec![Part::Body(body_path(path).ok_or_else(bad)?)],
            });
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = expr;
        while let Some(i) = rest.find(['$', '\\']) {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if rest.as_bytes()[i] == b'\\' {
                // `\$` is a literal dollar.
                let c = after.chars().next().ok_or_else(bad)?;
                lit.push(c);
                rest = &after[c.len_utf8()..];
                continue;
            }
            let inner = after.strip_prefix('{').ok_or_else(bad)?;
            let end = inner.find('}').ok_or_else(bad)?;
            let path = inner[..end].strip_prefix("request.body.").ok_or_else(bad)?;
            if !lit.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut lit).into()));
            }
            parts.push(Part::Body(body_path(path).ok_or_else(bad)?));
            rest = &inner[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Literal(lit.into()));
        }
        Ok(Selection { parts })
    }

    /// Whether evaluating needs the message parsed as JSON.
    pub fn needs_body(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Body(_)))
    }

    /// Renders the expression into `out` against the message's JSON (`None`: the message is not
    /// JSON). Returns `false` when it cannot be evaluated (a body path on a non-JSON message):
    /// the caller uses `$default`. A missing member renders as nothing; an object or array as
    /// its JSON text; a string as its value.
    pub fn evaluate(&self, body: Option<&serde_json::Value>, out: &mut String) -> bool {
        out.clear();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Body(path) => {
                    let Some(mut v) = body else { return false };
                    let mut found = true;
                    for seg in path {
                        match v.get(&**seg) {
                            Some(next) => v = next,
                            None => {
                                found = false;
                                break;
                            }
                        }
                    }
                    if found {
                        match v {
                            serde_json::Value::String(s) => out.push_str(s),
                            serde_json::Value::Null => {}
                            other => out.push_str(&other.to_string()),
                        }
                    }
                }
            }
        }
        true
    }
}

fn body_path(path: &str) -> Option<Vec<Box<str>>> {
    let segs: Vec<Box<str>> = path.split('.').map(Into::into).collect();
    segs.iter()
        .all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .then_some(segs)
}

// === impl WsStage ===

impl WsStage {
    /// The route a message selects: the route with key `key`, else `$default`.
    pub fn select(&self, key: Option<&str>) -> Option<(u32, &WsRoute)> {
        let i = key
            .and_then(|k| self.by_key.get(k).copied())
            .filter(|&i| Some(i) != self.connect && Some(i) != self.disconnect)
            .or(self.default)?;
        self.routes.get(i as usize).map(|r| (i, r))
    }

    pub fn route(&self, index: Option<u32>) -> Option<&WsRoute> {
        self.routes.get(index? as usize)
    }

    /// The roles this stage's Lambda integrations are invoked with (added to `out` once each).
    pub fn collect_role_slots(&self, out: &mut Vec<Arc<crate::lambda::RoleSlot>>) {
        for r in &self.routes {
            if let Some(WsTarget::Lambda(crate::lambda::LambdaTarget {
                signer: crate::lambda::Signer::Role(slot),
                ..
            })) = r.integration.as_deref().map(|i| &i.target)
            {
                if !out.iter().any(|s| Arc::ptr_eq(s, slot)) {
                    out.push(Arc::clone(slot));
                }
            }
        }
    }
}

// === impl WsIntegration ===

impl WsIntegration {
    /// What the integration request carries for selection key `key` (`$default` when `None`).
    pub fn template(&self, key: Option<&str>) -> RequestBody<'_> {
        let wanted = key.unwrap_or(DEFAULT);
        if let Some((_, t)) = self
            .templates
            .iter()
            .find(|(k, _)| &**k == wanted)
            .or_else(|| self.templates.iter().find(|(k, _)| &**k == DEFAULT))
        {
            return RequestBody::Template(t);
        }
        match self.passthrough {
            Passthrough::WhenNoMatch => RequestBody::Passthrough,
            Passthrough::WhenNoTemplates if self.templates.is_empty() => RequestBody::Passthrough,
            Passthrough::WhenNoTemplates | Passthrough::Never => RequestBody::Unsupported,
        }
    }

    /// The integration response for `status`: the first whose pattern matches, else `$default`.
    pub fn response_for(&self, status: u16) -> Option<&WsIntegrationResponse> {
        // The status as text, on the stack (at most five digits).
        let mut digits = [0u8; 5];
        let mut n = status;
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let s = std::str::from_utf8(&digits[start..]).unwrap_or("");
        self.responses
            .iter()
            .find(|r| r.pattern.as_ref().is_some_and(|p| p.is_match(s)))
            .or_else(|| self.responses.iter().find(|r| r.pattern.is_none()))
    }
}

// === compile ===

/// Compiles a WebSocket API's route selection expression.
pub fn compile_api(expr: Option<&str>, at: &str) -> Result<WsApi, ConfigError> {
    let expr = expr.ok_or_else(|| {
        err(
            at,
            "routeSelectionExpression is required for WebSocket APIs",
        )
    })?;
    Selection::parse(expr)
        .map(|route_selection| WsApi { route_selection })
        .map_err(|e| err(at, &e))
}

/// Compiles the routes and integrations a WebSocket stage serves, reporting every problem.
/// A route's execution logging: its own `loggingLevel` and `dataTraceEnabled`, each falling
/// back to the stage's `defaultRouteSettings`.
fn trace_of(
    default: Option<&crate::model::RouteSettings>,
    route: Option<&crate::model::RouteSettings>,
) -> crate::snapshot::Trace {
    use crate::model::LoggingLevel;
    let level = route
        .and_then(|r| r.logging_level)
        .or(default.and_then(|d| d.logging_level));
    let data = route
        .and_then(|r| r.data_trace_enabled)
        .or(default.and_then(|d| d.data_trace_enabled))
        .unwrap_or(false);
    let level = match level {
        Some(LoggingLevel::Error) => "ERROR",
        Some(LoggingLevel::Info) => "INFO",
        Some(LoggingLevel::Off) | None => "OFF",
    };
    crate::snapshot::Trace::from_setting(level, data)
}

pub fn compile_stage(
    api_id: &str,
    input: &crate::compile::StageInput<'_>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut crate::compile::CompileContext,
) -> Option<WsStage> {
    let crate::compile::StageInput {
        stage,
        routes,
        integrations,
        authorizers,
    } = *input;
    let before = errors.len();
    if routes.len() > WS_ROUTES_MAX {
        errors.push(err(at, &format!("more than {WS_ROUTES_MAX} routes")));
        return None;
    }
    let mut compiled: HashMap<&str, Arc<WsIntegration>> = HashMap::new();
    for i in integrations {
        let iat = format!("{at}.integrations[{}]", i.integration_id);
        if let Some(c) = compile_integration(i, &stage.stage_variables, &iat, errors, ctx) {
            compiled.insert(i.integration_id.as_str(), Arc::new(c));
        }
    }
    let mut out = WsStage {
        routes: Vec::with_capacity(routes.len()),
        by_key: HashMap::default(),
        connect: None,
        disconnect: None,
        default: None,
        trace: trace_of(stage.default_route_settings.as_ref(), None),
    };
    for r in routes {
        let rat = format!("{at}.routes[{}]", r.route_key);
        if let Err(e) = check_route_key(&r.route_key) {
            errors.push(err(&rat, &e));
            continue;
        }
        let integration = match r.target.as_deref() {
            None => None,
            Some(t) => match t.strip_prefix("integrations/") {
                Some(id) => {
                    let found = compiled.get(id).cloned();
                    if found.is_none() && !integrations.iter().any(|i| i.integration_id == id) {
                        errors.push(err(
                            &rat,
                            &format!("target names unknown integration '{id}'"),
                        ));
                    }
                    found
                }
                None => {
                    errors.push(err(&rat, "target must be 'integrations/{integrationId}'"));
                    None
                }
            },
        };
        let index = out.routes.len() as u32;
        if out
            .by_key
            .insert(r.route_key.as_str().into(), index)
            .is_some()
        {
            errors.push(err(&rat, "routeKey is defined twice"));
            continue;
        }
        match r.route_key.as_str() {
            CONNECT => out.connect = Some(index),
            DISCONNECT => out.disconnect = Some(index),
            DEFAULT => out.default = Some(index),
            _ => {}
        }
        out.routes.push(WsRoute {
            route_key: r.route_key.as_str().into(),
            stats_key: stats_key(api_id, &stage.stage_name, &r.route_key),
            route_response: r.route_response,
            integration,
            aws_iam: r.authorization_type == Some(model::AuthorizationType::AwsIam),
            authorizer: compile_authorizer(api_id, stage, r, authorizers, &rat, errors, ctx),
            trace: trace_of(
                stage.default_route_settings.as_ref(),
                stage.route_settings.get(&r.route_key),
            ),
        });
    }
    (errors.len() == before).then_some(out)
}

/// The Lambda `REQUEST` authorizer of a `CUSTOM` route (`$connect` only: the admin API refuses
/// it elsewhere, and JWT authorizers on WebSocket APIs), compiled for this stage.
fn compile_authorizer(
    api_id: &str,
    stage: &model::Stage,
    r: &model::Route,
    authorizers: &[model::Authorizer],
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut crate::compile::CompileContext,
) -> Option<Arc<crate::authorizer::LambdaAuthorizer>> {
    // The model names the authorizer of a `CUSTOM` (or `JWT`) route only.
    let id = r.authorizer_id.as_deref()?;
    let Some(l) = authorizers
        .iter()
        .find(|a| a.authorizer_id == id)
        .and_then(|a| a.lambda.as_ref())
    else {
        errors.push(err(
            at,
            &format!("authorizerId '{id}' names no REQUEST authorizer"),
        ));
        return None;
    };
    let spec = crate::authorizer::AuthorizerInput {
        api_id,
        stage: &stage.stage_name,
        authorizer_id: id,
        rest: false,
        websocket: true,
        token: false,
        uri: &l.authorizer_uri,
        credentials: l.authorizer_credentials_arn.as_deref(),
        identity_sources: &l.identity_source,
        identity_validation_expression: None,
        ttl_s: l.authorizer_result_ttl_in_seconds,
        payload_format_version: None,
        simple_responses: false,
    };
    match crate::authorizer::compile(&ctx.lambda, &spec, &stage.stage_variables) {
        Ok(c) => Some(Arc::new(c)),
        Err(problems) => {
            let aat = format!("{at}.authorizers[{id}]");
            errors.extend(problems.iter().map(|p| err(&aat, p)));
            None
        }
    }
}

/// A WebSocket route key: `$connect`, `$disconnect`, `$default`, or a custom key that does not
/// start with `$` (1 to 128 characters).
pub fn check_route_key(key: &str) -> Result<(), String> {
    if matches!(key, CONNECT | DISCONNECT | DEFAULT) {
        return Ok(());
    }
    if key.starts_with('$') {
        return Err(format!(
            "Invalid routeKey '{key}': custom route keys must not start with '$' (predefined: $connect, $disconnect, $default)"
        ));
    }
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!(
            "Invalid routeKey '{key}': it must be 1 to 128 characters"
        ));
    }
    Ok(())
}

/// The `requestParameters` of a WebSocket `HTTP` or `HTTP_PROXY` integration, as AWS documents
/// them: keys `integration.request.header.NAME` and `integration.request.querystring.NAME`;
/// values `route.request.header.NAME` and `route.request.querystring.NAME` (the `$connect`
/// handshake's), `context.NAME` (`connectionId`, `routeKey`, `eventType`, `requestId`, ...,
/// `authorizer.KEY`), `stageVariables.NAME` and `'static'` text. Each replaces what the gateway
/// would send under that name. `None` when the map is empty; every problem at once.
pub fn compile_parameters(
    map: &BTreeMap<String, String>,
) -> Result<Option<crate::mapping::RequestMapping>, Vec<String>> {
    use crate::mapping::{Op, ParamOp, RequestMapping, Value};
    use crate::template::Source;
    let mut problems = Vec::new();
    if map.len() > MAPPINGS_MAX {
        problems.push(format!(
            "requestParameters must have at most {MAPPINGS_MAX} entries"
        ));
    }
    let mut m = RequestMapping::default();
    for (k, v) in map {
        let (header, name) = if let Some(n) = k.strip_prefix("integration.request.header.") {
            (true, n)
        } else if let Some(n) = k.strip_prefix("integration.request.querystring.") {
            (false, n)
        } else {
            problems.push(format!("Invalid mapping expression specified: {k}; use integration.request.header.NAME or integration.request.querystring.NAME"));
            continue;
        };
        let valid = crate::mapping::valid_target_name(header, name);
        let lower = name.to_ascii_lowercase();
        if !valid || (header && WS_OWN_HEADERS.contains(&lower.as_str())) {
            problems.push(format!("Invalid mapping expression specified: {k}"));
            continue;
        }
        let trimmed = v.trim();
        let source = if trimmed.starts_with("method.request.")
            || trimmed.starts_with("route.request.path")
        {
            Err(format!("Invalid mapping expression specified: {v}"))
        } else {
            let translated = match trimmed.strip_prefix("route.request.") {
                Some(rest) => format!("method.request.{rest}"),
                None => trimmed.to_string(),
            };
            Source::parse_parameter(&translated).map_err(|_| {
                format!("Invalid mapping expression specified: {v}; use route.request.header.NAME, route.request.querystring.NAME, context.NAME, stageVariables.NAME or a 'static' value")
            })
        };
        let value = match source.map(|s| Value::from_source(&s)) {
            Ok(Some(value)) => value,
            Ok(None) => {
                problems.push(format!("Invalid mapping expression specified: {v}"));
                continue;
            }
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let op = ParamOp {
            op: Op::Overwrite,
            name: if header { lower.into() } else { name.into() },
            value,
        };
        if header {
            m.headers.push(op);
        } else {
            m.query.push(op);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((!map.is_empty()).then_some(m))
}

/// Headers the gateway writes itself on a WebSocket integration request.
const WS_OWN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
];

fn compile_integration(
    i: &model::Integration,
    vars: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
    ctx: &mut crate::compile::CompileContext,
) -> Option<WsIntegration> {
    use crate::vpc_link::Plane;
    // The HTTP target without the HTTP API syntax of `requestParameters` (WebSocket APIs map
    // with AWS's `integration.request.*` keys, compiled by `compile_parameters`).
    let http = |errors: &mut Vec<ConfigError>, ctx: &mut crate::compile::CompileContext| {
        let plain = model::Integration {
            request_parameters: BTreeMap::new(),
            ..i.clone()
        };
        let mut t = compile_http_proxy(&plain, vars, at, errors, ctx, Plane::V2)?;
        match compile_parameters(&i.request_parameters) {
            Ok(m) => t.request_mapping = m.map(Box::new),
            Err(problems) => errors.extend(problems.iter().map(|p| err(at, p))),
        }
        Some(t)
    };
    let target = match i.integration_type {
        IntegrationType::Mock => WsTarget::Mock,
        IntegrationType::Http => WsTarget::Http(http(errors, ctx)?),
        IntegrationType::HttpProxy => WsTarget::HttpProxy(http(errors, ctx)?),
        IntegrationType::AwsProxy => {
            let timeout_ms = i
                .timeout_in_millis
                .unwrap_or(crate::limits::WS_INTEGRATION_TIMEOUT_DEFAULT_MS);
            let target = crate::lambda::substitute(&i.integration_uri, vars).and_then(|uri| {
                crate::lambda::compile_target(
                    &ctx.lambda,
                    &uri,
                    false,
                    i.credentials_arn.as_deref(),
                    timeout_ms,
                )
            });
            match target {
                Ok(t) => WsTarget::Lambda(t),
                Err(e) => {
                    errors.push(err(at, &e));
                    return None;
                }
            }
        }
        IntegrationType::Aws => {
            errors.push(err(
                at,
                "integrationType AWS is not supported for WebSocket APIs: use MOCK, HTTP, HTTP_PROXY or AWS_PROXY",
            ));
            return None;
        }
    };
    let passthrough = match i.passthrough_behavior.as_deref() {
        None | Some("WHEN_NO_MATCH") => Passthrough::WhenNoMatch,
        Some("WHEN_NO_TEMPLATES") => Passthrough::WhenNoTemplates,
        Some("NEVER") => Passthrough::Never,
        Some(p) => {
            errors.push(err(
                at,
                &format!(
                    "passthroughBehavior '{p}' must be WHEN_NO_MATCH, WHEN_NO_TEMPLATES or NEVER"
                ),
            ));
            Passthrough::WhenNoMatch
        }
    };
    let mut templates = Vec::new();
    for (k, t) in &i.request_templates {
        match Template::parse(t) {
            Ok(t) => templates.push((k.as_str().into(), t)),
            Err(e) => errors.push(err(at, &format!("requestTemplates '{k}': {e}"))),
        }
    }
    let template_selection = match i.template_selection_expression.as_deref() {
        None => None,
        Some(e) => match Selection::parse(e) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(err(at, &e));
                None
            }
        },
    };
    let mut responses = Vec::new();
    for r in &i.integration_responses {
        let key = r.integration_response_key.as_str();
        let pattern = if key == DEFAULT {
            None
        } else {
            match key
                .strip_prefix('/')
                .and_then(|k| k.strip_suffix('/'))
                .map(|p| Regex::new(&format!("^(?:{p})$")))
            {
                Some(Ok(re)) => Some(re),
                _ => {
                    errors.push(err(
                        at,
                        &format!("integrationResponseKey '{key}' must be $default or /regex/ on the status code"),
                    ));
                    continue;
                }
            }
        };
        let text = r
            .response_templates
            .get(DEFAULT)
            .or_else(|| r.response_templates.values().next());
        let template = match text.map(|t| Template::parse(t)) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                errors.push(err(at, &format!("responseTemplates of '{key}': {e}")));
                continue;
            }
        };
        responses.push(WsIntegrationResponse { pattern, template });
    }
    // `$default` last, so patterns are tried first whatever the order they were made in.
    responses.sort_by_key(|r| r.pattern.is_none());
    Some(WsIntegration {
        integration_id: i.integration_id.as_str().into(),
        target,
        templates,
        template_selection,
        passthrough,
        responses,
        timeout_ms: i
            .timeout_in_millis
            .unwrap_or(crate::limits::WS_INTEGRATION_TIMEOUT_DEFAULT_MS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parameters_take_aws_websocket_forms() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let m = compile_parameters(&map(&[
            (
                "integration.request.header.connectionId",
                "context.connectionId",
            ),
            (
                "integration.request.header.x-h",
                "route.request.header.X-Client",
            ),
            (
                "integration.request.querystring.q",
                "route.request.querystring.user",
            ),
            ("integration.request.querystring.s", "'static'"),
        ]))
        .expect("valid")
        .expect("some");
        let names: Vec<&str> = m.headers.iter().map(|o| &*o.name).collect();
        assert_eq!(names, ["connectionid", "x-h"]);
        assert_eq!(m.query.len(), 2);
        assert!(m.drops_header(b"ConnectionId") && m.drops_query(b"q"));
        assert_eq!(compile_parameters(&BTreeMap::new()), Ok(None));
        for bad in [
            ("integration.request.path.x", "context.connectionId"),
            ("integration.request.header.x", "method.request.header.y"),
            ("integration.request.header.Host", "'h'"),
            ("integration.request.header.x", "context"),
            ("integration.request.header.x", "route.request.path.p"),
            ("request.header.x", "'v'"),
        ] {
            assert!(compile_parameters(&map(&[bad])).is_err(), "{bad:?}");
        }
    }

    fn eval(expr: &str, body: &str) -> Option<String> {
        let s = Selection::parse(expr).unwrap();
        let v: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let mut out = String::new();
        s.evaluate(v.as_ref(), &mut out).then_some(out)
    }

    #[test]
    fn selection() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("$request.body.action", r#"{"action":"join"}"#, Some("join")),
            ("$request.body.action", r#"{"other":1}"#, Some("")),
            ("$request.body.action", "not json", None),
            ("$request.body.a.b", r#"{"a":{"b":7}}"#, Some("7")),
            ("$request.body.a", r#"{"a":{"b":7}}"#, Some(r#"{"b":7}"#)),
            (
                "${request.body.a}/${request.body.b}",
                r#"{"a":"x","b":"y"}"#,
                Some("x/y"),
            ),
            ("\\$default", "anything", Some("$default")),
            ("static", "anything", Some("static")),
        ];
        for (expr, body, want) in table {
            assert_eq!(eval(expr, body).as_deref(), *want, "{expr} on {body}");
        }
        for bad in [
            "",
            "$request.body.",
            "${request.header.x}",
            "$x",
            "${request.body.a",
        ] {
            assert!(Selection::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_keys() {
        for ok in [
            "$connect",
            "$disconnect",
            "$default",
            "sendmessage",
            "a b/c",
        ] {
            assert!(check_route_key(ok).is_ok(), "{ok}");
        }
        for bad in ["$other", ""] {
            assert!(check_route_key(bad).is_err(), "{bad}");
        }
    }
}
