//! The `apigateway` operations on REST APIs and their resource trees: APIs, resources, methods,
//! method responses, integrations and integration responses. Each validates (every problem of a
//! body at once), changes a [`RestDraft`] and hands it to `Catalog::apply_rest`.
//!
//! Error order, as AWS: an unknown REST API, resource, method, integration or response in the
//! path is a 404 first; then every problem with the body is one 400; then a conflict (a sibling
//! with the same path part, a method that exists) is a 409.
//!
//! Invariants: a resource's `path` is always its parent's path plus its `pathPart` (moving or
//! renaming one recomputes its subtree); a greedy `{name+}` resource has no children; siblings
//! have distinct path parts and at most one variable among them.

use std::collections::BTreeMap;

use portico_shared::limits::{
    DESCRIPTION_MAX_CHARS, INTEGRATION_TIMEOUT_MIN_MS, MINIMUM_COMPRESSION_SIZE_MAX_BYTES,
    RESOURCES_PER_API_MAX,
};
use portico_shared::limits::{
    REST_INTEGRATION_TIMEOUT_DEFAULT_MS, REST_INTEGRATION_TIMEOUT_MAX_MS,
};
use portico_shared::model::rest::{
    ApiKeySource, Integration, IntegrationResponse, Method, MethodResponse, Resource,
};
use portico_shared::model::{AuthorizationType, ConnectionType, EndpointType, IntegrationType};

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::patch::{Op, PatchInput};
use crate::records::{check_len, check_tags, check_timeout};
use crate::v1::models::check_method_refs;
use crate::v1::records::{
    check_enum, check_http_method, check_status_code, unsupported, EndpointConfiguration,
    IntegrationInput, IntegrationResponseInput, MethodInput, MethodResponseInput, ResourceInput,
    RestApiInput, RestApiRecord,
};
use crate::v1::state::{RestApiState, RestDraft};

/// REST APIs' subset of [`AuthorizationType`], in the order AWS's messages list them.
const AUTHORIZATION_TYPES: [&str; 4] = [
    AuthorizationType::None.as_str(),
    AuthorizationType::AwsIam.as_str(),
    AuthorizationType::Custom.as_str(),
    AuthorizationType::CognitoUserPools.as_str(),
];
const INTEGRATION_TYPES: [&str; 5] = [
    IntegrationType::Http.as_str(),
    IntegrationType::HttpProxy.as_str(),
    IntegrationType::Mock.as_str(),
    IntegrationType::Aws.as_str(),
    IntegrationType::AwsProxy.as_str(),
];
const PASSTHROUGH_BEHAVIORS: [&str; 3] = ["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"];
const CONTENT_HANDLINGS: [&str; 2] = ["CONVERT_TO_BINARY", "CONVERT_TO_TEXT"];
const ENDPOINT_TYPES: [&str; 3] = [
    EndpointType::Edge.as_str(),
    EndpointType::Regional.as_str(),
    EndpointType::Private.as_str(),
];
const IP_ADDRESS_TYPES: [&str; 2] = ["ipv4", "dualstack"];

const PATH_PART_RULE: &str = "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace.";

/// What a path part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathPart {
    Static,
    /// `{name}`.
    Variable,
    /// `{name+}`: one or more segments; only as a leaf.
    Greedy,
}

// === REST APIs ===

impl Catalog {
    /// `CreateRestApi`: the API and its root resource `/`.
    pub(crate) fn create_rest_api(
        &mut self,
        input: RestApiInput,
    ) -> Result<RestApiRecord, ApiError> {
        let mut problems = Vec::new();
        match input.name.as_deref() {
            None => problems.push("name is required".to_string()),
            Some(n) => check_len(&mut problems, "name", Some(n), 1, 128),
        }
        check_len(
            &mut problems,
            "description",
            input.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        unsupported(&mut problems, "cloneFrom", &input.clone_from);
        unsupported(&mut problems, "securityPolicy", &input.security_policy);
        unsupported(
            &mut problems,
            "endpointAccessMode",
            &input.endpoint_access_mode,
        );
        let api_key_source = parse_key_source(&mut problems, input.api_key_source.as_deref());
        let mut endpoint = input
            .endpoint_configuration
            .unwrap_or(EndpointConfiguration {
                types: vec![EndpointType::Edge.as_str().into()],
                ip_address_type: None,
                vpc_endpoint_ids: Vec::new(),
            });
        // AWS's default: `ipv4`, `dualstack` for a private API (the only one it allows there).
        if endpoint.ip_address_type.is_none() {
            let private = endpoint
                .types
                .iter()
                .any(|t| t == EndpointType::Private.as_str());
            endpoint.ip_address_type = Some(if private { "dualstack" } else { "ipv4" }.into());
        }
        check_endpoint(&mut problems, &endpoint);
        check_policy(&mut problems, input.policy.as_deref());
        check_compression(&mut problems, input.minimum_compression_size);
        check_tags(&mut problems, input.tags.as_ref());
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let id = self.new_api_id();
        let now = crate::ids::now_epoch();
        let mut state = RestApiState::new(RestApiRecord {
            id: id.clone(),
            name: input.name.unwrap_or_default(),
            description: input.description,
            created_date: now,
            version: input.version,
            binary_media_types: input.binary_media_types.unwrap_or_default(),
            minimum_compression_size: input.minimum_compression_size,
            api_key_source,
            endpoint_configuration: endpoint,
            policy: input.policy,
            tags: input.tags.unwrap_or_default(),
            disable_execute_api_endpoint: input.disable_execute_api_endpoint.unwrap_or(false),
            root_resource_id: String::new(),
        });
        let root_id = state.new_child_id();
        state.api.root_resource_id = root_id.clone();
        let mut draft = RestDraft::new(state);
        draft.put_api(true);
        draft.put_resource(Resource {
            id: root_id,
            parent_id: None,
            path_part: None,
            path: "/".into(),
            resource_methods: BTreeMap::new(),
        });
        Ok(self.apply_rest(draft)?.api.clone())
    }

    /// `UpdateRestApi`.
    pub(crate) fn update_rest_api(
        &mut self,
        id: &str,
        patch: PatchInput,
    ) -> Result<RestApiRecord, ApiError> {
        let mut draft = self.rest().draft(id)?;
        let mut api = draft.state.api.clone();
        for op in patch.ops()? {
            let seg = op.segments()?;
            match seg
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["name"] => op.set_required_string(&mut api.name)?,
                ["description"] => op.set_string(&mut api.description)?,
                ["version"] => op.set_string(&mut api.version)?,
                ["policy"] => op.set_string(&mut api.policy)?,
                ["apiKeySource"] => {
                    if op.op != Op::Replace {
                        return Err(op.invalid_path());
                    }
                    let mut problems = Vec::new();
                    api.api_key_source = parse_key_source(&mut problems, Some(op.value()?));
                    if !problems.is_empty() {
                        return Err(ApiError::invalid(&problems));
                    }
                }
                ["disableExecuteApiEndpoint"] => {
                    op.set_bool(&mut api.disable_execute_api_endpoint)?
                }
                ["minimumCompressionSize"] => match op.op {
                    Op::Replace | Op::Add if op.value.as_deref().is_some_and(|v| !v.is_empty()) => {
                        api.minimum_compression_size =
                            Some(op.i64_value(0, MINIMUM_COMPRESSION_SIZE_MAX_BYTES)?);
                    }
                    Op::Replace | Op::Add | Op::Remove => api.minimum_compression_size = None,
                    _ => return Err(op.invalid_path()),
                },
                ["binaryMediaTypes", item] => op.list_string(&mut api.binary_media_types, item)?,
                ["endpointConfiguration", "types", item] => {
                    op.list_string(&mut api.endpoint_configuration.types, item)?
                }
                ["endpointConfiguration", "ipAddressType"] => {
                    op.set_string(&mut api.endpoint_configuration.ip_address_type)?
                }
                _ => return Err(op.invalid_path()),
            }
        }
        let mut problems = Vec::new();
        check_len(&mut problems, "name", Some(&api.name), 1, 128);
        check_len(
            &mut problems,
            "description",
            api.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        check_endpoint(&mut problems, &api.endpoint_configuration);
        check_policy(&mut problems, api.policy.as_deref());
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        let served = api.disable_execute_api_endpoint
            != draft.state.api.disable_execute_api_endpoint
            || api.api_key_source != draft.state.api.api_key_source
            || api.policy != draft.state.api.policy
            || api.endpoint_configuration.types != draft.state.api.endpoint_configuration.types;
        draft.state.api = api;
        draft.put_api(served);
        Ok(self.apply_rest(draft)?.api.clone())
    }
}

// === resources ===

impl Catalog {
    /// `CreateResource`: a child of `parent_id`.
    pub(crate) fn create_resource(
        &mut self,
        api_id: &str,
        parent_id: &str,
        input: ResourceInput,
    ) -> Result<Resource, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let parent = draft.state.resource(parent_id)?.clone();
        let Some(part) = input.path_part else {
            return Err(ApiError::BadRequest("pathPart is required".into()));
        };
        if draft.state.resources.len() >= RESOURCES_PER_API_MAX {
            return Err(ApiError::BadRequest(format!(
                "A REST API can have at most {RESOURCES_PER_API_MAX} resources"
            )));
        }
        check_placement(&draft.state, &parent, &part, None)?;
        let id = draft.state.new_child_id();
        let r = Resource {
            id,
            parent_id: Some(parent.id.clone()),
            path: child_path(&parent.path, &part),
            path_part: Some(part),
            resource_methods: BTreeMap::new(),
        };
        draft.put_resource(r.clone());
        self.apply_rest(draft)?;
        Ok(r)
    }

    /// `UpdateResource`: `/pathPart` and `/parentId`; the paths of the subtree follow.
    pub(crate) fn update_resource(
        &mut self,
        api_id: &str,
        resource_id: &str,
        patch: PatchInput,
    ) -> Result<Resource, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut r = draft.state.resource(resource_id)?.clone();
        if r.parent_id.is_none() {
            return Err(ApiError::BadRequest(
                "The root resource cannot be updated".into(),
            ));
        }
        for op in patch.ops()? {
            let seg = op.segments()?;
            match (
                op.op,
                seg.iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
            ) {
                (Op::Replace, ["pathPart"]) => r.path_part = Some(op.value()?.to_string()),
                (Op::Replace, ["parentId"]) => r.parent_id = Some(op.value()?.to_string()),
                _ => return Err(op.invalid_path()),
            }
        }
        let parent_id = r.parent_id.clone().unwrap_or_default();
        let part = r.path_part.clone().unwrap_or_default();
        let parent = draft.state.resource(&parent_id)?.clone();
        if parent.id == r.id || is_descendant(&draft.state, &parent.id, &r.id) {
            return Err(ApiError::BadRequest(
                "A resource cannot be moved under itself or one of its descendants".into(),
            ));
        }
        check_placement(&draft.state, &parent, &part, Some(&r.id))?;
        if classify(&part) == Some(PathPart::Greedy)
            && draft
                .state
                .resources
                .values()
                .any(|c| c.parent_id.as_deref() == Some(&r.id))
        {
            return Err(ApiError::BadRequest(format!(
                "A greedy path variable must be the last segment: {part} has child resources"
            )));
        }
        r.path = child_path(&parent.path, &part);
        draft.put_resource(r.clone());
        repath_children(&mut draft, &r);
        self.apply_rest(draft)?;
        Ok(r)
    }

    /// `DeleteResource`: the resource and its subtree. The root cannot be deleted.
    pub(crate) fn delete_resource(
        &mut self,
        api_id: &str,
        resource_id: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let r = draft.state.resource(resource_id)?;
        if r.parent_id.is_none() {
            return Err(ApiError::BadRequest("Cannot delete root resource".into()));
        }
        let doomed: Vec<String> = draft
            .state
            .resources
            .keys()
            .filter(|id| *id == resource_id || is_descendant(&draft.state, id, resource_id))
            .cloned()
            .collect();
        for id in doomed {
            draft.remove_resource(&id);
        }
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// `parent.path` + `part`.
fn child_path(parent: &str, part: &str) -> String {
    if parent == "/" {
        format!("/{part}")
    } else {
        format!("{parent}/{part}")
    }
}

/// Whether `id` lies under `ancestor`.
fn is_descendant(state: &RestApiState, id: &str, ancestor: &str) -> bool {
    let mut at = state.resources.get(id).and_then(|r| r.parent_id.as_deref());
    // Bounded by the number of resources, so a corrupt cycle cannot loop forever.
    for _ in 0..=state.resources.len() {
        match at {
            None => return false,
            Some(p) if p == ancestor => return true,
            Some(p) => at = state.resources.get(p).and_then(|r| r.parent_id.as_deref()),
        }
    }
    false
}

/// Recomputes the paths under `r` after it moved or was renamed.
fn repath_children(draft: &mut RestDraft, r: &Resource) {
    let mut stack = vec![r.clone()];
    while let Some(parent) = stack.pop() {
        let children: Vec<Resource> = draft
            .state
            .resources
            .values()
            .filter(|c| c.parent_id.as_deref() == Some(parent.id.as_str()))
            .cloned()
            .collect();
        for mut c in children {
            c.path = child_path(&parent.path, c.path_part.as_deref().unwrap_or_default());
            draft.put_resource(c.clone());
            stack.push(c);
        }
    }
}

/// The kind of a path part, or `None` if it is not one.
fn classify(part: &str) -> Option<PathPart> {
    fn plain(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    }
    match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        Some(inner) => match inner.strip_suffix('+') {
            Some(name) => plain(name).then_some(PathPart::Greedy),
            None => plain(inner).then_some(PathPart::Variable),
        },
        None => plain(part).then_some(PathPart::Static),
    }
}

/// Checks that `part` may go under `parent` (`moving`: the resource being moved, not its own
/// sibling): a valid path part, a parent that is not greedy, no sibling with the same part and no
/// second variable among siblings.
fn check_placement(
    state: &RestApiState,
    parent: &Resource,
    part: &str,
    moving: Option<&str>,
) -> Result<(), ApiError> {
    let Some(kind) = classify(part) else {
        return Err(ApiError::BadRequest(PATH_PART_RULE.into()));
    };
    if parent
        .path_part
        .as_deref()
        .and_then(classify)
        .is_some_and(|k| k == PathPart::Greedy)
    {
        return Err(ApiError::BadRequest(format!(
            "A greedy path variable must be the last segment: {} cannot have child resources",
            parent.path
        )));
    }
    for sibling in state.resources.values().filter(|s| {
        s.parent_id.as_deref() == Some(parent.id.as_str()) && Some(s.id.as_str()) != moving
    }) {
        let Some(other) = sibling.path_part.as_deref() else {
            continue;
        };
        if other == part {
            return Err(ApiError::Conflict(format!(
                "Another resource with the same parent already has this name: {part}"
            )));
        }
        if kind != PathPart::Static && classify(other).is_some_and(|k| k != PathPart::Static) {
            return Err(ApiError::BadRequest(format!(
                "A sibling ({other}) of this resource already has a variable path part -- only one is allowed"
            )));
        }
    }
    Ok(())
}

// === methods ===

impl Catalog {
    /// `PutMethod`. A method that exists is a 409, as AWS.
    pub(crate) fn put_method(
        &mut self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        input: MethodInput,
    ) -> Result<Method, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut r = draft.state.resource(resource_id)?.clone();
        check_http_method(http_method)?;
        let mut problems = Vec::new();
        match input.authorization_type.as_deref() {
            None => problems.push("authorizationType is required".to_string()),
            t => check_enum(&mut problems, "authorizationType", t, &AUTHORIZATION_TYPES),
        }
        let m = Method {
            http_method: http_method.to_string(),
            // `NONE` when missing or not a type: already a problem, so `m` is not stored.
            authorization_type: crate::v2::parsed(input.authorization_type.as_deref())
                .unwrap_or_default(),
            authorizer_id: input.authorizer_id,
            api_key_required: input.api_key_required.unwrap_or(false),
            request_validator_id: input.request_validator_id,
            operation_name: input.operation_name,
            request_parameters: input.request_parameters.unwrap_or_default(),
            request_models: input.request_models.unwrap_or_default(),
            method_responses: BTreeMap::new(),
            method_integration: None,
            authorization_scopes: input.authorization_scopes.unwrap_or_default(),
        };
        check_method(&mut problems, &m);
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        check_method_refs(&draft.state, &m)?;
        if r.resource_methods.contains_key(http_method) {
            return Err(ApiError::Conflict(
                "Method already exists for this resource".into(),
            ));
        }
        r.resource_methods
            .insert(http_method.to_string(), m.clone());
        draft.put_resource(r);
        self.apply_rest(draft)?;
        Ok(m)
    }

    /// `UpdateMethod`.
    pub(crate) fn update_method(
        &mut self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        patch: PatchInput,
    ) -> Result<Method, ApiError> {
        self.change_method(api_id, resource_id, http_method, |m| {
            let mut rejected_type = None;
            for op in patch.ops()? {
                let seg = op.segments()?;
                match seg
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["apiKeyRequired"] => op.set_bool(&mut m.api_key_required)?,
                    ["authorizationType"] => {
                        rejected_type = op.set_required_enum(&mut m.authorization_type)?
                    }
                    ["authorizerId"] => op.set_string(&mut m.authorizer_id)?,
                    ["operationName"] => op.set_string(&mut m.operation_name)?,
                    ["requestValidatorId"] => op.set_string(&mut m.request_validator_id)?,
                    ["requestParameters", name] => op.map_bool(&mut m.request_parameters, name)?,
                    ["requestModels", ct] => op.map_string(&mut m.request_models, ct)?,
                    ["authorizationScopes", scope] => {
                        op.list_string(&mut m.authorization_scopes, scope)?
                    }
                    _ => return Err(op.invalid_path()),
                }
            }
            let mut problems = Vec::new();
            check_enum(
                &mut problems,
                "authorizationType",
                Some(
                    rejected_type
                        .as_deref()
                        .unwrap_or(m.authorization_type.as_str()),
                ),
                &AUTHORIZATION_TYPES,
            );
            check_method(&mut problems, m);
            if problems.is_empty() {
                Ok(m.clone())
            } else {
                Err(ApiError::invalid(&problems))
            }
        })
    }

    /// `DeleteMethod`.
    pub(crate) fn delete_method(
        &mut self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut r = draft.state.resource(resource_id)?.clone();
        if r.resource_methods.remove(http_method).is_none() {
            return Err(not_found_method());
        }
        draft.put_resource(r);
        self.apply_rest(draft)?;
        Ok(())
    }

    /// Runs `f` on a copy of one method and stores it if `f` succeeds.
    fn change_method<T>(
        &mut self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        f: impl FnOnce(&mut Method) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut r = draft.state.resource(resource_id)?.clone();
        let m = r
            .resource_methods
            .get_mut(http_method)
            .ok_or_else(not_found_method)?;
        let out = f(m)?;
        check_method_refs(&draft.state, m)?;
        draft.put_resource(r);
        self.apply_rest(draft)?;
        Ok(out)
    }
}

/// The method `http_method` of a resource, or 404.
pub(crate) fn method<'a>(r: &'a Resource, http_method: &str) -> Result<&'a Method, ApiError> {
    r.resource_methods
        .get(http_method)
        .ok_or_else(not_found_method)
}

fn not_found_method() -> ApiError {
    ApiError::NotFound("Invalid Method identifier specified".into())
}

fn not_found_response() -> ApiError {
    ApiError::NotFound("Invalid Response status code specified".into())
}

fn no_integration() -> ApiError {
    ApiError::NotFound("No integration defined for method".into())
}

fn check_method(problems: &mut Vec<String>, m: &Method) {
    if matches!(
        m.authorization_type,
        AuthorizationType::Custom | AuthorizationType::CognitoUserPools
    ) && m.authorizer_id.is_none()
    {
        problems.push(format!(
            "Invalid authorizer ID specified. Setting the authorization type to {} requires a valid authorizer.",
            m.authorization_type
        ));
    }
    for k in m.request_parameters.keys() {
        if ![
            "method.request.path.",
            "method.request.querystring.",
            "method.request.header.",
        ]
        .iter()
        .any(|p| k.strip_prefix(p).is_some_and(|n| !n.is_empty()))
        {
            problems.push(format!(
                "Invalid request parameter '{k}': use method.request.{{path|querystring|header}}.NAME"
            ));
        }
    }
}

// === method responses ===

impl Catalog {
    /// `PutMethodResponse`: creates or replaces the response.
    pub(crate) fn put_method_response(
        &mut self,
        at: (&str, &str, &str),
        status_code: &str,
        input: MethodResponseInput,
    ) -> Result<MethodResponse, ApiError> {
        check_status_code(status_code)?;
        let mr = MethodResponse {
            status_code: status_code.to_string(),
            response_parameters: input.response_parameters.unwrap_or_default(),
            response_models: input.response_models.unwrap_or_default(),
        };
        let mut problems = Vec::new();
        check_response_header_keys(&mut problems, mr.response_parameters.keys());
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        self.change_method(at.0, at.1, at.2, |m| {
            m.method_responses
                .insert(status_code.to_string(), mr.clone());
            Ok(mr)
        })
    }

    /// `UpdateMethodResponse`.
    pub(crate) fn update_method_response(
        &mut self,
        at: (&str, &str, &str),
        status_code: &str,
        patch: PatchInput,
    ) -> Result<MethodResponse, ApiError> {
        self.change_method(at.0, at.1, at.2, |m| {
            let mr = m
                .method_responses
                .get_mut(status_code)
                .ok_or_else(not_found_response)?;
            for op in patch.ops()? {
                let seg = op.segments()?;
                match seg
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["responseParameters", name] => {
                        op.map_bool(&mut mr.response_parameters, name)?
                    }
                    ["responseModels", ct] => op.map_string(&mut mr.response_models, ct)?,
                    _ => return Err(op.invalid_path()),
                }
            }
            let mut problems = Vec::new();
            check_response_header_keys(&mut problems, mr.response_parameters.keys());
            if problems.is_empty() {
                Ok(mr.clone())
            } else {
                Err(ApiError::invalid(&problems))
            }
        })
    }

    /// `DeleteMethodResponse`.
    pub(crate) fn delete_method_response(
        &mut self,
        at: (&str, &str, &str),
        status_code: &str,
    ) -> Result<(), ApiError> {
        self.change_method(at.0, at.1, at.2, |m| {
            m.method_responses
                .remove(status_code)
                .map(drop)
                .ok_or_else(not_found_response)
        })
    }
}

/// The method response `status_code`, or 404.
pub(crate) fn method_response<'a>(
    m: &'a Method,
    status_code: &str,
) -> Result<&'a MethodResponse, ApiError> {
    m.method_responses
        .get(status_code)
        .ok_or_else(not_found_response)
}

fn check_response_header_keys<'a>(
    problems: &mut Vec<String>,
    keys: impl Iterator<Item = &'a String>,
) {
    for k in keys {
        if k.strip_prefix("method.response.header.")
            .is_none_or(str::is_empty)
        {
            problems.push(format!(
                "Invalid response parameter '{k}': use method.response.header.NAME"
            ));
        }
    }
}

// === integrations ===

impl Catalog {
    /// `PutIntegration`: creates or replaces the method's integration. Every valid type is
    /// stored; the ones the data plane does not serve yet are refused when a stage starts serving
    /// them (`CreateDeployment` with a stage, `CreateStage`, `UpdateStage`).
    pub(crate) fn put_integration(
        &mut self,
        at: (&str, &str, &str),
        input: IntegrationInput,
    ) -> Result<Integration, ApiError> {
        let mut problems = Vec::new();
        if input.integration_type.is_none() {
            problems.push("type is required".to_string());
        }
        unsupported(
            &mut problems,
            "integrationTarget",
            &input.integration_target,
        );
        if input
            .response_transfer_mode
            .as_deref()
            .is_some_and(|m| m != "BUFFERED")
        {
            problems.push("responseTransferMode: only BUFFERED is supported by Portico".into());
        }
        let timeout = match input.timeout_in_millis {
            None => REST_INTEGRATION_TIMEOUT_DEFAULT_MS,
            Some(t) => check_timeout(&mut problems, t, REST_INTEGRATION_TIMEOUT_MAX_MS)
                .unwrap_or(REST_INTEGRATION_TIMEOUT_DEFAULT_MS),
        };
        let (api_id, resource_id, http_method) = at;
        let rejected = Rejected {
            integration_type: rejected::<IntegrationType>(input.integration_type.as_deref()),
            connection_type: rejected::<ConnectionType>(input.connection_type.as_deref()),
        };
        let integration_type = crate::v2::parsed(input.integration_type.as_deref());
        let connection_type = match input.connection_type.as_deref() {
            None => Some(ConnectionType::Internet),
            Some(t) => t.parse().ok(),
        };
        let i = Integration {
            // `MOCK` when missing or not a type: already a problem, so `i` is not stored.
            integration_type: integration_type.unwrap_or(IntegrationType::Mock),
            http_method: input.integration_http_method,
            uri: input.uri,
            connection_type,
            connection_id: input.connection_id,
            credentials: input.credentials,
            request_parameters: input.request_parameters.unwrap_or_default(),
            request_templates: input.request_templates.unwrap_or_default(),
            passthrough_behavior: Some(
                input
                    .passthrough_behavior
                    .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
            ),
            content_handling: input.content_handling,
            timeout_in_millis: Some(timeout),
            cache_namespace: Some(
                input
                    .cache_namespace
                    .unwrap_or_else(|| resource_id.to_string()),
            ),
            cache_key_parameters: input.cache_key_parameters.unwrap_or_default(),
            integration_responses: BTreeMap::new(),
            tls_config: input.tls_config,
        };
        if input.integration_type.is_some() {
            check_integration(&mut problems, &i, &rejected);
        }
        if !problems.is_empty() {
            // A missing method is still a 404 first.
            method(self.rest().get(api_id)?.resource(resource_id)?, http_method)?;
            return Err(ApiError::invalid(&problems));
        }
        self.change_method(api_id, resource_id, http_method, |m| {
            m.method_integration = Some(i.clone());
            Ok(i)
        })
    }

    /// `UpdateIntegration`.
    pub(crate) fn update_rest_integration(
        &mut self,
        at: (&str, &str, &str),
        patch: PatchInput,
    ) -> Result<Integration, ApiError> {
        self.change_method(at.0, at.1, at.2, |m| {
            let i = m.method_integration.as_mut().ok_or_else(no_integration)?;
            let mut rejected = Rejected::default();
            for op in patch.ops()? {
                let seg = op.segments()?;
                match seg
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["type"] => {
                        rejected.integration_type = op.set_required_enum(&mut i.integration_type)?
                    }
                    ["httpMethod"] => op.set_string(&mut i.http_method)?,
                    ["uri"] => op.set_string(&mut i.uri)?,
                    ["connectionType"] => {
                        rejected.connection_type = op.set_enum(&mut i.connection_type)?
                    }
                    ["connectionId"] => op.set_string(&mut i.connection_id)?,
                    ["credentials"] => op.set_string(&mut i.credentials)?,
                    ["passthroughBehavior"] => op.set_string(&mut i.passthrough_behavior)?,
                    ["contentHandling"] => op.set_string(&mut i.content_handling)?,
                    ["cacheNamespace"] => op.set_string(&mut i.cache_namespace)?,
                    ["tlsConfig", "insecureSkipVerification"] => op.set_bool(
                        &mut i
                            .tls_config
                            .get_or_insert_with(Default::default)
                            .insecure_skip_verification,
                    )?,
                    ["timeoutInMillis"] => {
                        let t = op.i64_value(
                            i64::from(INTEGRATION_TIMEOUT_MIN_MS),
                            i64::from(REST_INTEGRATION_TIMEOUT_MAX_MS),
                        )?;
                        i.timeout_in_millis = u32::try_from(t).ok();
                    }
                    ["requestParameters", name] => {
                        op.map_string(&mut i.request_parameters, name)?
                    }
                    ["requestTemplates", ct] => op.map_string(&mut i.request_templates, ct)?,
                    ["cacheKeyParameters", p] => op.list_string(&mut i.cache_key_parameters, p)?,
                    _ => return Err(op.invalid_path()),
                }
            }
            let mut problems = Vec::new();
            check_integration(&mut problems, i, &rejected);
            if problems.is_empty() {
                Ok(i.clone())
            } else {
                Err(ApiError::invalid(&problems))
            }
        })
    }

    /// `DeleteIntegration`.
    pub(crate) fn delete_rest_integration(
        &mut self,
        at: (&str, &str, &str),
    ) -> Result<(), ApiError> {
        self.change_method(at.0, at.1, at.2, |m| {
            m.method_integration
                .take()
                .map(drop)
                .ok_or_else(no_integration)
        })
    }
}

/// The method's integration, or 404.
pub(crate) fn integration(m: &Method) -> Result<&Integration, ApiError> {
    m.method_integration.as_ref().ok_or_else(no_integration)
}

/// Values given for an integration's enum members that are not wire names: the member keeps its
/// old value and the given one is reported, in AWS's words.
#[derive(Default)]
struct Rejected {
    integration_type: Option<String>,
    connection_type: Option<String>,
}

/// `value` when it is given and not a wire name of `T`.
fn rejected<T: std::str::FromStr>(value: Option<&str>) -> Option<String> {
    value
        .filter(|v| v.parse::<T>().is_err())
        .map(str::to_string)
}

fn check_integration(problems: &mut Vec<String>, i: &Integration, rejected: &Rejected) {
    // `None`: the given type is not one (reported here); the type-specific checks are skipped.
    let kind = Some(i.integration_type).filter(|_| rejected.integration_type.is_none());
    let t = rejected
        .integration_type
        .as_deref()
        .unwrap_or(i.integration_type.as_str());
    check_enum(problems, "type", Some(t), &INTEGRATION_TYPES);
    check_enum(
        problems,
        "passthroughBehavior",
        i.passthrough_behavior.as_deref(),
        &PASSTHROUGH_BEHAVIORS,
    );
    check_enum(
        problems,
        "contentHandling",
        i.content_handling.as_deref(),
        &CONTENT_HANDLINGS,
    );
    match (rejected.connection_type.as_deref(), i.connection_type) {
        (Some(other), _) => problems.push(format!(
            "Invalid connectionType '{other}': use INTERNET or VPC_LINK"
        )),
        (None, None | Some(ConnectionType::Internet)) => {
            if i.connection_id.is_some() {
                problems.push("connectionId is only used with connectionType VPC_LINK".into());
            }
        }
        (None, Some(ConnectionType::VpcLink)) => {
            if i.connection_id.is_none() {
                problems.push("connectionId is required when connectionType is VPC_LINK".into());
            }
        }
    }
    if kind != Some(IntegrationType::Mock) {
        match i.http_method.as_deref() {
            None => problems.push(format!(
                "Enumeration value for HttpMethod must be non-empty: {t} integrations need httpMethod (integrationHttpMethod)"
            )),
            Some(m) if !crate::v1::records::HTTP_METHODS.contains(&m) => problems.push(format!(
                "Invalid integration HttpMethod '{m}'. Valid options are {}",
                crate::v1::records::HTTP_METHODS.join(",")
            )),
            Some(_) => {}
        }
    }
    match (kind, i.uri.as_deref()) {
        (Some(k), None) if k.is_http() || k.is_aws() => {
            problems.push(format!("{t} integrations need a uri"));
        }
        (Some(k), Some(u))
            if k.is_http() && !(u.starts_with("http://") || u.starts_with("https://")) =>
        {
            problems.push(format!(
                "Invalid HTTP endpoint specified for URI '{u}': use an http:// or https:// URL"
            ));
        }
        (Some(k), Some(u)) if k.is_aws() && !u.starts_with("arn:") => {
            problems.push(format!(
                "Invalid ARN specified for URI '{u}': use arn:aws:apigateway:REGION:SERVICE:..."
            ));
        }
        _ => {}
    }
    for k in i.request_parameters.keys() {
        if ![
            "integration.request.path.",
            "integration.request.querystring.",
            "integration.request.header.",
        ]
        .iter()
        .any(|p| k.strip_prefix(p).is_some_and(|n| !n.is_empty()))
        {
            problems.push(format!(
                "Invalid mapping expression specified: '{k}': use integration.request.{{path|querystring|header}}.NAME"
            ));
        }
    }
}

// === integration responses ===

impl Catalog {
    /// `PutIntegrationResponse`: creates or replaces the response.
    pub(crate) fn put_integration_response(
        &mut self,
        at: (&str, &str, &str),
        status_code: &str,
        input: IntegrationResponseInput,
    ) -> Result<IntegrationResponse, ApiError> {
        check_status_code(status_code)?;
        let ir = IntegrationResponse {
            status_code: status_code.to_string(),
            selection_pattern: input.selection_pattern,
            response_parameters: input.response_parameters.unwrap_or_default(),
            response_templates: input.response_templates.unwrap_or_default(),
            content_handling: input.content_handling,
        };
        let mut problems = Vec::new();
        check_integration_response(&mut problems, &ir);
        self.change_method(at.0, at.1, at.2, |m| {
            let i = m.method_integration.as_mut().ok_or_else(no_integration)?;
            if !problems.is_empty() {
                return Err(ApiError::invalid(&problems));
            }
            i.integration_responses
                .insert(status_code.to_string(), ir.clone());
            Ok(ir)
        })
    }

    /// `UpdateIntegrationResponse`.
    pub(crate) fn update_integration_response(
        &mut self,
        at: (&str, &str, &str),
        status_code: &str,
        patch: PatchInput,
    ) -> Result<IntegrationResponse, ApiError> {
        self.change_method(at.0, at.1, at.2, |m| {
            let i = m.method_integration.as_mut().ok_or_else(no_integration)?;
            let ir = i
                .integration_responses
                .get_mut(status_code)
                .ok_or_else(not_found_response)?;
            for op in patch.ops()? {
                let seg = op.segments()?;
                match seg
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["selectionPattern"] => op.set_string(&mut ir.selection_pattern)?,
                    ["contentHandling"] => op.set_string(&mut ir.content_handling)?,
                    ["responseParameters", name] => {
                        op.map_string(&mut ir.response_parameters, name)?
                    }
                    ["responseTemplates", ct] => op.map_string(&mut ir.response_templates, ct)?,
                    _ => return Err(op.invalid_path()),
                }
            }
            let mut problems = Vec::new();
            check_integration_response(&mut problems, ir);
            if problems.is_empty() {
                Ok(ir.clone())
            } else {
                Err(ApiError::invalid(&problems))
            }
        })
    }

    /// `DeleteIntegrationResponse`.
    pub(crate) fn delete_integration_response(
        &mut self,
        at: (&str, &str, &str),
        status_code: &str,
    ) -> Result<(), ApiError> {
        self.change_method(at.0, at.1, at.2, |m| {
            let i = m.method_integration.as_mut().ok_or_else(no_integration)?;
            i.integration_responses
                .remove(status_code)
                .map(drop)
                .ok_or_else(not_found_response)
        })
    }
}

/// The integration response `status_code`, or 404.
pub(crate) fn integration_response<'a>(
    i: &'a Integration,
    status_code: &str,
) -> Result<&'a IntegrationResponse, ApiError> {
    i.integration_responses
        .get(status_code)
        .ok_or_else(not_found_response)
}

fn check_integration_response(problems: &mut Vec<String>, ir: &IntegrationResponse) {
    check_enum(
        problems,
        "contentHandling",
        ir.content_handling.as_deref(),
        &CONTENT_HANDLINGS,
    );
    check_response_header_keys(problems, ir.response_parameters.keys());
    if let Some(p) = ir.selection_pattern.as_deref() {
        if p.len() > 1024 {
            problems.push("selectionPattern must be at most 1024 characters long".into());
        }
    }
}

// === helpers ===

fn parse_key_source(problems: &mut Vec<String>, v: Option<&str>) -> ApiKeySource {
    match v {
        None | Some("HEADER") => ApiKeySource::Header,
        Some("AUTHORIZER") => ApiKeySource::Authorizer,
        Some(other) => {
            problems.push(format!(
                "Invalid apiKeySource '{other}': use HEADER or AUTHORIZER"
            ));
            ApiKeySource::Header
        }
    }
}

/// A resource policy Portico cannot evaluate is refused up front (AWS: `Invalid policy
/// document`), so a deployment never fails on it later.
fn check_policy(problems: &mut Vec<String>, policy: Option<&str>) {
    let Some(text) = policy.filter(|p| !p.trim().is_empty()) else {
        return;
    };
    let prefix = "arn:aws:execute-api:us-east-1:000000000000:api";
    if let Err(found) = portico_shared::iam::Policy::parse(text, true, prefix) {
        problems.extend(
            found
                .into_iter()
                .map(|m| format!("Invalid policy document: {m}")),
        );
    }
}

fn check_endpoint(problems: &mut Vec<String>, e: &EndpointConfiguration) {
    if e.types.len() != 1 {
        problems.push("endpointConfiguration.types must name exactly one type".into());
    }
    for t in &e.types {
        check_enum(
            problems,
            "endpointConfiguration type",
            Some(t),
            &ENDPOINT_TYPES,
        );
    }
    check_enum(
        problems,
        "endpointConfiguration.ipAddressType",
        e.ip_address_type.as_deref(),
        &IP_ADDRESS_TYPES,
    );
}

fn check_compression(problems: &mut Vec<String>, v: Option<i64>) {
    if v.is_some_and(|n| !(0..=MINIMUM_COMPRESSION_SIZE_MAX_BYTES).contains(&n)) {
        problems.push(format!(
            "minimumCompressionSize must be between 0 and {MINIMUM_COMPRESSION_SIZE_MAX_BYTES}"
        ));
    }
}
