//! Authorizers: the handlers and the catalog operations behind them.

use axum::extract::State;
use axum::response::Response;

use super::{parsed, set, set_opt};
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::records::{check_len, AuthorizerInput, AuthorizerRecord};
use crate::wire::{created, no_content, ok, page, Body, Paging, Params};
use crate::AdminState;
use portico_shared::limits::{AUTHORIZERS_PER_API_MAX, JWT_AUDIENCES_MAX};
use portico_shared::model::{AuthorizerType, ProtocolType};

pub(super) async fn create_authorizer(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    Body(input): Body<AuthorizerInput>,
) -> Response {
    created(s.write(move |c| c.create_authorizer(&api_id, input)).await)
}

pub(super) async fn get_authorizers(
    State(s): State<AdminState>,
    Params(api_id): Params<String>,
    q: Paging,
) -> Response {
    ok(
        s.read(|c| page(&c.api(&api_id)?.authorizers, &q.0, Clone::clone))
            .await,
    )
}

pub(super) async fn get_authorizer(
    State(s): State<AdminState>,
    Params((api_id, authorizer_id)): Params<(String, String)>,
) -> Response {
    ok(
        s.read(|c| c.api(&api_id)?.authorizer(&authorizer_id).cloned())
            .await,
    )
}

pub(super) async fn update_authorizer(
    State(s): State<AdminState>,
    Params((api_id, authorizer_id)): Params<(String, String)>,
    Body(input): Body<AuthorizerInput>,
) -> Response {
    ok(
        s.write(move |c| c.update_authorizer(&api_id, &authorizer_id, input))
            .await,
    )
}

pub(super) async fn delete_authorizer(
    State(s): State<AdminState>,
    Params((api_id, authorizer_id)): Params<(String, String)>,
) -> Response {
    no_content(
        s.write(move |c| c.delete_authorizer(&api_id, &authorizer_id))
            .await,
    )
}

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
        let authorizer_type = parsed(input.authorizer_type.as_deref());
        let lambda = authorizer_type == Some(AuthorizerType::Request);
        let websocket = d.state.api.protocol_type == ProtocolType::Websocket;
        if websocket && authorizer_type == Some(AuthorizerType::Jwt) {
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
        if d.state.authorizers.len() >= AUTHORIZERS_PER_API_MAX {
            problems.push(format!(
                "an API has at most {AUTHORIZERS_PER_API_MAX} authorizers"
            ));
        }
        let id = d.state.new_child_id();
        let record = AuthorizerRecord {
            authorizer_id: id,
            authorizer_type: if lambda {
                AuthorizerType::Request
            } else {
                AuthorizerType::Jwt
            },
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
        let websocket = d.state.api.protocol_type == ProtocolType::Websocket;
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
    if let Some(t) = input.authorizer_type.as_deref() {
        match t.parse() {
            Ok(given @ (AuthorizerType::Jwt | AuthorizerType::Request)) => {
                if given != record.authorizer_type {
                    problems.push(format!(
                        "authorizerType cannot change from {}",
                        record.authorizer_type
                    ))
                }
            }
            Ok(AuthorizerType::Token | AuthorizerType::CognitoUserPools) | Err(_) => {
                problems.push(format!("Invalid authorizerType '{t}': use JWT or REQUEST"))
            }
        }
    }
    let lambda = record.authorizer_type == AuthorizerType::Request;
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
        Some(a) if a.is_empty() || a.len() > JWT_AUDIENCES_MAX => problems.push(format!(
            "jwtConfiguration.audience must have 1 to {JWT_AUDIENCES_MAX} entries"
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
