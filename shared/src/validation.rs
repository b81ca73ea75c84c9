//! REST request validation, compiled: what a method's request validator checks, ready for the
//! data plane's `validate` stage.
//!
//! # Architecture
//! 1. The control plane checks each model's schema with [`compile_schema`] when it is created or
//!    updated (JSON, then a valid JSON Schema draft 4 document), so a bad schema is a 400 then.
//! 2. Compiling a stage ([`compile_method`]) looks up the method's `requestValidatorId` and
//!    `requestModels` in its deployment's validators and models, and compiles each model's
//!    schema once per stage compile (shared by every method of the stage through an `Arc`).
//! 3. The data plane reads [`Validation`]: the required parameters in AWS's message order, and
//!    the schema for the request's content type (`$default` when the type has none).
//!
//! Invariants: a method without a validator, or whose validator checks nothing that applies, has
//! no `Validation` (the data plane pays one `Option` branch); a method has at most
//! [`REST_REQUIRED_PARAMETERS_MAX`] required parameters, so the data plane reports the missing
//! ones as a `u64` bitmask that never allocates.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::limits::REST_REQUIRED_PARAMETERS_MAX;
use crate::model::rest::{Method, Model, RequestValidator};

/// The `requestModels` key of the model used for content types without their own.
pub const DEFAULT_MODEL_KEY: &str = "$default";

/// What one method's request validator checks.
#[derive(Debug)]
pub struct Validation {
    /// The required parameters, in the order AWS lists missing ones (sorted by their
    /// `method.request.{header|path|querystring}.NAME` key). Empty: parameters are not checked.
    pub required: Box<[RequiredParameter]>,
    /// Schemas by content type (lowercase media type, no parameters). Empty: the body is not
    /// checked.
    pub models: Box<[(Box<str>, Arc<jsonschema::Validator>)]>,
    /// The `$default` model: for content types without their own.
    pub default_model: Option<Arc<jsonschema::Validator>>,
}

/// One required method request parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredParameter {
    pub location: ParameterIn,
    /// The name as configured; headers match it case-insensitively.
    pub name: Box<str>,
}

/// Where a method request parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterIn {
    Header,
    Path,
    Query,
}

/// Parses and compiles a model's schema: a JSON document that is a valid JSON Schema draft 4
/// (checked against the draft 4 meta-schema). The error says what is wrong.
pub fn compile_schema(schema: &str) -> Result<jsonschema::Validator, String> {
    let value: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| format!("the schema is not JSON: {e}"))?;
    if !value.is_object() && !value.is_boolean() {
        return Err("the schema must be a JSON object".into());
    }
    jsonschema::draft4::new(&value).map_err(|e| format!("the schema is not valid draft 4: {e}"))
}

/// Compiles what `m`'s validator checks, with `validators` and `models` its deployment's.
/// `compiled` caches schemas by model name across the methods of one stage. `Ok(None)`: nothing
/// to check.
pub fn compile_method(
    m: &Method,
    validators: &[RequestValidator],
    models: &[Model],
    compiled: &mut BTreeMap<String, Arc<jsonschema::Validator>>,
) -> Result<Option<Validation>, Vec<String>> {
    let Some(id) = m.request_validator_id.as_deref() else {
        return Ok(None);
    };
    let Some(v) = validators.iter().find(|v| v.id == id) else {
        return Err(vec![format!("request validator '{id}' does not exist")]);
    };
    let mut problems = Vec::new();
    let mut required = Vec::new();
    if v.validate_request_parameters {
        // `request_parameters` is a BTreeMap: its keys are already in AWS's message order.
        for (key, &is_required) in &m.request_parameters {
            if !is_required {
                continue;
            }
            match parse_parameter(key) {
                Some(p) => required.push(p),
                None => problems.push(format!("invalid request parameter '{key}'")),
            }
        }
        if required.len() > REST_REQUIRED_PARAMETERS_MAX {
            problems.push(format!(
                "at most {REST_REQUIRED_PARAMETERS_MAX} required request parameters per method"
            ));
        }
    }
    let mut by_type = Vec::new();
    let mut default_model = None;
    if v.validate_request_body {
        for (content_type, name) in &m.request_models {
            let schema = match compiled.get(name) {
                Some(s) => Arc::clone(s),
                None => match models.iter().find(|x| &x.name == name) {
                    None => {
                        problems.push(format!("model '{name}' does not exist"));
                        continue;
                    }
                    Some(model) => match compile_schema(model.schema.as_deref().unwrap_or("{}")) {
                        Ok(s) => {
                            let s = Arc::new(s);
                            compiled.insert(name.clone(), Arc::clone(&s));
                            s
                        }
                        Err(e) => {
                            problems.push(format!("model '{name}': {e}"));
                            continue;
                        }
                    },
                },
            };
            if content_type == DEFAULT_MODEL_KEY {
                default_model = Some(schema);
            } else {
                by_type.push((content_type.to_ascii_lowercase().into_boxed_str(), schema));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if required.is_empty() && by_type.is_empty() && default_model.is_none() {
        return Ok(None);
    }
    Ok(Some(Validation {
        required: required.into_boxed_slice(),
        models: by_type.into_boxed_slice(),
        default_model,
    }))
}

/// `method.request.{header|path|querystring}.NAME`.
fn parse_parameter(key: &str) -> Option<RequiredParameter> {
    let rest = key.strip_prefix("method.request.")?;
    let (location, name) = rest.split_once('.')?;
    let location = match location {
        "header" => ParameterIn::Header,
        "path" => ParameterIn::Path,
        "querystring" => ParameterIn::Query,
        _ => return None,
    };
    (!name.is_empty()).then(|| RequiredParameter {
        location,
        name: name.into(),
    })
}

// === impl Validation ===

impl Validation {
    /// The schema for a request's media type (lowercase, without parameters): its own, else
    /// `$default`'s, else none (the body is not checked).
    pub fn schema_for(&self, media_type: &[u8]) -> Option<&jsonschema::Validator> {
        self.models
            .iter()
            .find(|(ct, _)| ct.as_bytes().eq_ignore_ascii_case(media_type))
            .map(|(_, s)| &**s)
            .or(self.default_model.as_deref())
    }

    /// Writes `Missing required request parameters: [a, b]` for the parameters set in `missing`
    /// (bit `i` is `required[i]`).
    pub fn write_missing_message(&self, missing: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Missing required request parameters: [");
        let mut first = true;
        for (i, p) in self.required.iter().enumerate() {
            if i < 64 && missing & (1 << i) != 0 {
                if !first {
                    out.extend_from_slice(b", ");
                }
                first = false;
                out.extend_from_slice(p.name.as_bytes());
            }
        }
        out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(params: &[(&str, bool)], models: &[(&str, &str)]) -> Method {
        Method {
            request_validator_id: Some("v1".into()),
            request_parameters: params.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            request_models: models
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn validator(body: bool, params: bool) -> RequestValidator {
        RequestValidator {
            id: "v1".into(),
            name: None,
            validate_request_body: body,
            validate_request_parameters: params,
        }
    }

    fn model(name: &str, schema: &str) -> Model {
        Model {
            id: "m1".into(),
            name: name.into(),
            description: None,
            schema: Some(schema.into()),
            content_type: "application/json".into(),
        }
    }

    #[test]
    fn schemas_must_be_json_and_draft_4() {
        assert!(compile_schema(r#"{"type":"object"}"#).is_ok());
        assert!(compile_schema("{not json").is_err());
        assert!(compile_schema(r#"{"type":"nope"}"#).is_err());
        assert!(compile_schema(r#"{"required": "x"}"#).is_err());
        assert!(compile_schema("[1]").is_err());
    }

    #[test]
    fn required_parameters_in_aws_order_and_message() {
        let m = method(
            &[
                ("method.request.querystring.q", true),
                ("method.request.header.X-Trace", true),
                ("method.request.querystring.opt", false),
            ],
            &[],
        );
        let v = compile_method(&m, &[validator(false, true)], &[], &mut BTreeMap::new())
            .unwrap()
            .unwrap();
        let names: Vec<&str> = v.required.iter().map(|p| &*p.name).collect();
        assert_eq!(names, ["X-Trace", "q"]);
        let mut out = Vec::new();
        v.write_missing_message(0b11, &mut out);
        assert_eq!(out, b"Missing required request parameters: [X-Trace, q]");
        out.clear();
        v.write_missing_message(0b10, &mut out);
        assert_eq!(out, b"Missing required request parameters: [q]");
    }

    #[test]
    fn nothing_to_check_is_none() {
        let m = method(&[("method.request.querystring.q", true)], &[]);
        // Body-only validator, no models: nothing applies.
        let v = compile_method(&m, &[validator(true, false)], &[], &mut BTreeMap::new()).unwrap();
        assert!(v.is_none());
        let mut no_validator = m.clone();
        no_validator.request_validator_id = None;
        assert!(
            compile_method(&no_validator, &[], &[], &mut BTreeMap::new())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn models_by_content_type_and_default() {
        let m = method(
            &[],
            &[("application/json", "Pet"), ("$default", "Anything")],
        );
        let models = [
            model("Pet", r#"{"type":"object","required":["name"]}"#),
            model("Anything", "{}"),
        ];
        let mut cache = BTreeMap::new();
        let v = compile_method(&m, &[validator(true, false)], &models, &mut cache)
            .unwrap()
            .unwrap();
        let pet = v.schema_for(b"Application/JSON").unwrap();
        assert!(!pet.is_valid(&serde_json::json!({})));
        assert!(pet.is_valid(&serde_json::json!({"name": "rex"})));
        let other = v.schema_for(b"text/plain").unwrap();
        assert!(other.is_valid(&serde_json::json!({})));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn unknown_references_are_errors() {
        let m = method(&[], &[("application/json", "Nope")]);
        assert!(compile_method(&m, &[validator(true, true)], &[], &mut BTreeMap::new()).is_err());
        assert!(compile_method(&m, &[], &[], &mut BTreeMap::new()).is_err());
    }
}
