//! The `apigateway` operations behind REST request validation: models (`/restapis/{id}/models`,
//! JSON Schema draft 4 documents named by methods' `requestModels`) and request validators
//! (`/restapis/{id}/requestvalidators`, named by methods' `requestValidatorId`).
//!
//! # Architecture
//! 1. `CreateModel`/`UpdateModel` parse and compile the schema (`validation::compile_schema`):
//!    not JSON, or not a valid draft 4 schema, is a 400 and nothing is stored.
//! 2. Models and validators are stored per API (`Kind::RestModel` by name,
//!    `Kind::RestRequestValidator` by id) and reach the data plane with the next deployment,
//!    which freezes them with the resources; the stage compile builds each method's
//!    `Validation` from that copy.
//! 3. `PutMethod`/`UpdateMethod` call [`check_method_refs`]: a method can only name a validator
//!    and models that exist.
//!
//! Invariants: a model or validator a method names cannot be deleted (AWS refuses it too), so the
//! current resource tree never refers to a missing one; a model's name never changes (it is the
//! key methods use).

use portico_shared::limits::{
    DESCRIPTION_MAX_CHARS, MODELS_PER_API_MAX, MODEL_NAME_MAX_CHARS, MODEL_SCHEMA_MAX_BYTES,
    MODEL_TEMPLATE_DEPTH_MAX, REQUEST_VALIDATORS_PER_API_MAX,
};
use portico_shared::model::rest::{Method, Model, RequestValidator};
use portico_shared::model::AuthorizationType;
use portico_shared::validation::{compile_schema, DEFAULT_MODEL_KEY};

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::patch::PatchInput;
use crate::records::check_len;
use crate::v1::records::{ModelInput, RequestValidatorInput};
use crate::v1::state::RestApiState;

// === models ===

impl Catalog {
    /// `CreateModel`.
    pub(crate) fn create_model(
        &mut self,
        api_id: &str,
        input: ModelInput,
    ) -> Result<Model, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut problems = Vec::new();
        match input.name.as_deref() {
            None => problems.push("name is required".to_string()),
            Some(n) => check_model_name(&mut problems, n),
        }
        match input.content_type.as_deref() {
            None | Some("") => problems.push("contentType is required".to_string()),
            Some(c) => check_len(
                &mut problems,
                "contentType",
                Some(c),
                1,
                MODEL_NAME_MAX_CHARS,
            ),
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
        if let Some(s) = input.schema.as_deref() {
            check_schema(s)?;
        }
        let name = input.name.unwrap_or_default();
        if draft.state.models.contains_key(&name) {
            return Err(ApiError::Conflict(
                "Model name already exists for this REST API".into(),
            ));
        }
        if draft.state.models.len() >= MODELS_PER_API_MAX {
            return Err(ApiError::BadRequest(format!(
                "A REST API can have at most {MODELS_PER_API_MAX} models"
            )));
        }
        let m = Model {
            id: draft.state.new_child_id(),
            name,
            description: input.description,
            schema: input.schema,
            content_type: input.content_type.unwrap_or_default(),
        };
        draft.put_model(m.clone());
        self.apply_rest(draft)?;
        Ok(m)
    }

    /// `UpdateModel`: `/description` and `/schema`.
    pub(crate) fn update_model(
        &mut self,
        api_id: &str,
        name: &str,
        patch: PatchInput,
    ) -> Result<Model, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut m = model(&draft.state, name)?.clone();
        for op in patch.ops()? {
            match op.segments()?.as_slice() {
                [f] if f == "description" => op.set_string(&mut m.description)?,
                [f] if f == "schema" => op.set_string(&mut m.schema)?,
                _ => return Err(op.invalid_path()),
            }
        }
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "description",
            m.description.as_deref(),
            0,
            DESCRIPTION_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        if let Some(s) = m.schema.as_deref() {
            check_schema(s)?;
        }
        draft.put_model(m.clone());
        self.apply_rest(draft)?;
        Ok(m)
    }

    /// `DeleteModel`; refused while a method names it.
    pub(crate) fn delete_model(&mut self, api_id: &str, name: &str) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        model(&draft.state, name)?;
        for r in draft.state.resources.values() {
            for (verb, m) in &r.resource_methods {
                if m.request_models.values().any(|n| n == name) {
                    return Err(ApiError::BadRequest(format!(
                        "Cannot delete model '{name}', is referenced in method request: {}/{verb}",
                        r.path
                    )));
                }
            }
        }
        draft.remove_model(name);
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// The model `name`, or 404.
pub(crate) fn model<'a>(state: &'a RestApiState, name: &str) -> Result<&'a Model, ApiError> {
    state
        .models
        .get(name)
        .ok_or_else(|| ApiError::NotFound(format!("Invalid model name specified: {name}")))
}

/// AWS: model names are alphanumeric.
/// `GetModelTemplate`: a VTL mapping template that builds the model's shape from the request
/// body, in the layout AWS generates (`#set($inputRoot = $input.path('$'))`, then one
/// `"member" : value` line per property; strings quoted, numbers and booleans bare, arrays
/// through `#foreach`). `$ref`s to other models are followed by name, once per path.
pub(crate) fn model_template(state: &RestApiState, name: &str) -> Result<String, ApiError> {
    let m = model(state, name)?;
    let schema: serde_json::Value = m
        .schema
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut out = String::from("#set($inputRoot = $input.path('$'))\n");
    let mut seen = vec![m.name.clone()];
    template_value(state, &schema, "$inputRoot", 0, &mut seen, &mut out);
    Ok(out)
}

/// Writes the template of one schema node reached at `path` (a VTL reference).
fn template_value(
    state: &RestApiState,
    schema: &serde_json::Value,
    path: &str,
    depth: usize,
    seen: &mut Vec<String>,
    out: &mut String,
) {
    let indent = "  ".repeat(depth);
    let referenced = schema
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.rsplit('/').next())
        .filter(|name| !seen.iter().any(|s| s == name) && depth < MODEL_TEMPLATE_DEPTH_MAX)
        .and_then(|name| model(state, name).ok())
        .and_then(|m| {
            let parsed: Option<serde_json::Value> = m
                .schema
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok());
            parsed.map(|p| (m.name.clone(), p))
        });
    if let Some((name, resolved)) = referenced {
        seen.push(name);
        template_value(state, &resolved, path, depth, seen, out);
        seen.pop();
        return;
    }
    let kind = schema
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_else(|| {
            if schema.get("properties").is_some() {
                "object"
            } else if schema.get("items").is_some() {
                "array"
            } else {
                "string"
            }
        });
    match kind {
        "object" => {
            out.push_str("{\n");
            let props = schema.get("properties").and_then(|p| p.as_object());
            let count = props.map_or(0, |p| p.len());
            for (i, (name, prop)) in props.into_iter().flatten().enumerate() {
                out.push_str(&format!("{indent}  \"{name}\" : "));
                if depth < MODEL_TEMPLATE_DEPTH_MAX {
                    template_value(state, prop, &format!("{path}.{name}"), depth + 1, seen, out);
                } else {
                    out.push_str(&format!("\"${path}.{name}\""));
                }
                out.push_str(if i + 1 < count { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{indent}}}"));
        }
        "array" => {
            let elem = format!("$elem{depth}");
            out.push_str(&format!("[\n#foreach({elem} in {path})\n{indent}  "));
            let items = schema.get("items").cloned().unwrap_or_default();
            if depth < MODEL_TEMPLATE_DEPTH_MAX {
                template_value(state, &items, &elem, depth + 1, seen, out);
            }
            out.push_str(&format!("#if($foreach.hasNext),#end\n#end\n{indent}]"));
        }
        "number" | "integer" | "boolean" => out.push_str(path),
        _ => out.push_str(&format!("\"{path}\"")),
    }
}

fn check_model_name(problems: &mut Vec<String>, name: &str) {
    if name.is_empty()
        || name.chars().count() > MODEL_NAME_MAX_CHARS
        || !name.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        problems.push(format!(
            "Model name must be 1 to {MODEL_NAME_MAX_CHARS} alphanumeric characters: '{name}'"
        ));
    }
}

/// A schema must be JSON and a valid draft 4 JSON Schema, in AWS's words.
fn check_schema(schema: &str) -> Result<(), ApiError> {
    if schema.len() > MODEL_SCHEMA_MAX_BYTES {
        return Err(invalid_model(&format!(
            "the schema is larger than {MODEL_SCHEMA_MAX_BYTES} bytes"
        )));
    }
    compile_schema(schema)
        .map(drop)
        .map_err(|e| invalid_model(&e))
}

fn invalid_model(detail: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "Invalid model specified: Validation Result: warnings : [], errors : [Invalid model schema specified: {detail}]"
    ))
}

// === request validators ===

impl Catalog {
    /// `CreateRequestValidator`.
    pub(crate) fn create_request_validator(
        &mut self,
        api_id: &str,
        input: RequestValidatorInput,
    ) -> Result<RequestValidator, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "name",
            input.name.as_deref(),
            1,
            MODEL_NAME_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        if draft.state.request_validators.len() >= REQUEST_VALIDATORS_PER_API_MAX {
            return Err(ApiError::BadRequest(format!(
                "A REST API can have at most {REQUEST_VALIDATORS_PER_API_MAX} request validators"
            )));
        }
        let v = RequestValidator {
            id: draft.state.new_child_id(),
            name: input.name,
            validate_request_body: input.validate_request_body.unwrap_or(false),
            validate_request_parameters: input.validate_request_parameters.unwrap_or(false),
        };
        draft.put_request_validator(v.clone());
        self.apply_rest(draft)?;
        Ok(v)
    }

    /// `UpdateRequestValidator`: `/name`, `/validateRequestBody`, `/validateRequestParameters`.
    pub(crate) fn update_request_validator(
        &mut self,
        api_id: &str,
        id: &str,
        patch: PatchInput,
    ) -> Result<RequestValidator, ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        let mut v = request_validator(&draft.state, id)?.clone();
        for op in patch.ops()? {
            match op.segments()?.as_slice() {
                [f] if f == "name" => op.set_string(&mut v.name)?,
                [f] if f == "validateRequestBody" => op.set_bool(&mut v.validate_request_body)?,
                [f] if f == "validateRequestParameters" => {
                    op.set_bool(&mut v.validate_request_parameters)?
                }
                _ => return Err(op.invalid_path()),
            }
        }
        let mut problems = Vec::new();
        check_len(
            &mut problems,
            "name",
            v.name.as_deref(),
            1,
            MODEL_NAME_MAX_CHARS,
        );
        if !problems.is_empty() {
            return Err(ApiError::invalid(&problems));
        }
        draft.put_request_validator(v.clone());
        self.apply_rest(draft)?;
        Ok(v)
    }

    /// `DeleteRequestValidator`; refused while a method names it.
    pub(crate) fn delete_request_validator(
        &mut self,
        api_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        let mut draft = self.rest().draft(api_id)?;
        request_validator(&draft.state, id)?;
        for r in draft.state.resources.values() {
            for (verb, m) in &r.resource_methods {
                if m.request_validator_id.as_deref() == Some(id) {
                    return Err(ApiError::BadRequest(format!(
                        "Cannot delete request validator '{id}', is referenced in method: {}/{verb}",
                        r.path
                    )));
                }
            }
        }
        draft.remove_request_validator(id);
        self.apply_rest(draft)?;
        Ok(())
    }
}

/// The request validator `id`, or 404.
pub(crate) fn request_validator<'a>(
    state: &'a RestApiState,
    id: &str,
) -> Result<&'a RequestValidator, ApiError> {
    state
        .request_validators
        .get(id)
        .ok_or_else(|| ApiError::NotFound("Invalid Request Validator identifier specified".into()))
}

/// A method names only a validator and models that exist (400 otherwise, as AWS), and its
/// `requestModels` keys are media types or `$default`.
pub(crate) fn check_method_refs(state: &RestApiState, m: &Method) -> Result<(), ApiError> {
    if let Some(id) = m.authorizer_id.as_deref() {
        if matches!(
            m.authorization_type,
            AuthorizationType::Custom | AuthorizationType::CognitoUserPools
        ) && !state.authorizers.contains_key(id)
        {
            return Err(ApiError::BadRequest(format!(
                "Invalid authorizer ID specified: {id}"
            )));
        }
    }
    if let Some(id) = m.request_validator_id.as_deref() {
        if !state.request_validators.contains_key(id) {
            return Err(ApiError::BadRequest(
                "Invalid Request Validator identifier specified".into(),
            ));
        }
    }
    for (content_type, name) in &m.request_models {
        if content_type != DEFAULT_MODEL_KEY && !content_type.contains('/') {
            return Err(ApiError::BadRequest(format!(
                "Invalid content type specified: {content_type}"
            )));
        }
        if !state.models.contains_key(name) {
            return Err(ApiError::BadRequest(format!(
                "Invalid model identifier specified: {name}"
            )));
        }
    }
    Ok(())
}
