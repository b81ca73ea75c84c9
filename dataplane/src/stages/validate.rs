//! The `validate` stage: REST request validation, after admission and the body read, before the
//! integration (AWS's order, reference §1.1).
//!
//! # Architecture
//! 1. `pipeline::handle` calls [`validate`] only for a method whose compiled `RestMethod` carries
//!    a `Validation` (one `Option` branch for every other request).
//! 2. Required parameters first (AWS checks them before the body): each must be present and
//!    non-blank (headers case-insensitively, query string parameters by their raw name, path
//!    parameters from the match). The missing ones become a bitmask in
//!    [`GatewayError::MissingParameters`]; the message (`Missing required request parameters:
//!    [a, b]`) is rendered from the method's list only when the response is written.
//! 3. Then the body, when the request's media type (absent: `application/json`) has a model, or
//!    `$default` has one: parsed with simd-json into a `serde_json::Value` (an empty body is
//!    `{}`) and checked against the schema compiled at deployment. Not JSON, or not valid, is
//!    [`GatewayError::InvalidBody`].
//!
//! Invariants: never allocates on the parameter path; a body nested deeper than
//! `REST_BODY_DEPTH_MAX` is refused before parsing (parsing and dropping recurse per level); the body is parsed from a copy in a
//! reused worker buffer (simd-json parses in place), never from the connection buffer; a refusal
//! reaches no upstream.

use portico_shared::limits::{REST_BODY_DEPTH_MAX, REST_VALIDATION_ERRORS_MAX};
use portico_shared::validation::{ParameterIn, Validation};

use crate::error::GatewayError;
use crate::http1::parse::trim;
use crate::request::Request;
use crate::stages::resolve::Resolved;

/// Checks `req` against `v`. `scratch` is a reused buffer the body is copied into.
pub fn validate(
    v: &Validation,
    req: &Request<'_>,
    resolved: &Resolved<'_>,
    scratch: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let mut missing = 0u64;
    for (i, p) in v.required.iter().enumerate() {
        let value = match p.location {
            ParameterIn::Header => req.header(p.name.as_bytes()),
            ParameterIn::Query => req.query(p.name.as_bytes()),
            ParameterIn::Path => resolved
                .matched
                .params
                .get(resolved.route_path(req.buf), &p.name)
                .map(str::as_bytes),
        };
        if value.is_none_or(|v| trim(v).is_empty()) {
            missing |= 1 << i;
        }
    }
    if missing != 0 {
        return Err(GatewayError::MissingParameters { missing });
    }
    let Some(schema) = v.schema_for(media_type(req.header(b"content-type"))) else {
        return Ok(());
    };
    match parse(req.body, scratch) {
        Ok(body) if schema.is_valid(&body) => Ok(()),
        _ => Err(GatewayError::InvalidBody),
    }
}

/// `$context.error.validationErrorString` for a refused body: `[first problem, ...]`, each
/// JSON-escaped so a template may quote it. Runs only when a customised gateway response asks
/// for it, so the `validate` stage never formats anything.
pub fn write_body_errors(
    v: &Validation,
    content_type: Option<&[u8]>,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    let Some(schema) = v.schema_for(media_type(content_type)) else {
        return;
    };
    let mut scratch = Vec::new();
    let mut problems = Vec::new();
    match parse(body, &mut scratch) {
        Ok(value) => {
            for e in schema.iter_errors(&value).take(REST_VALIDATION_ERRORS_MAX) {
                problems.push(e.to_string());
            }
        }
        Err(e) => problems.push(e),
    }
    out.push(b'[');
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        crate::request::escape_json(out, p.as_bytes());
    }
    out.push(b']');
}

/// The media type of a `Content-Type` value (absent or empty: `application/json`, as AWS).
fn media_type(content_type: Option<&[u8]>) -> &[u8] {
    content_type
        .map(|c| trim(c.split(|&b| b == b';').next().unwrap_or(c)))
        .filter(|c| !c.is_empty())
        .unwrap_or(b"application/json")
}

/// Parses a body (empty: `{}`) from a copy in `scratch`; a body nested too deep is refused
/// before parsing.
fn parse(body: &[u8], scratch: &mut Vec<u8>) -> Result<serde_json::Value, String> {
    if too_deep(body, REST_BODY_DEPTH_MAX) {
        return Err(format!(
            "the body nests deeper than {REST_BODY_DEPTH_MAX} levels"
        ));
    }
    scratch.clear();
    scratch.extend_from_slice(if trim(body).is_empty() { b"{}" } else { body });
    simd_json::serde::from_slice(scratch).map_err(|e| format!("the body is not JSON: {e}"))
}

/// Whether `body` nests arrays and objects deeper than `max` (brackets inside strings do not
/// count). Parsing recurses per level; this scan does not.
fn too_deep(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portico_shared::validation::{compile_schema, RequiredParameter};

    use super::*;
    use crate::stages::testing;

    /// Each request of the table through `validate`: required header, query and path
    /// parameters (present and non-blank), then the body against the content type's schema.
    #[test]
    fn validates_required_parameters_then_the_body() {
        let snapshot = testing::snapshot(
            r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"POST /pets/{id}",
                "target":"integrations/up"}],
              "integrations":[{"integrationId":"up","integrationType":"HTTP_PROXY",
                "integrationUri":"http://127.0.0.1:9"}],
              "stages":[{"stageName":"$default"}]}]}"#,
        );
        let required = |location, name: &str| RequiredParameter {
            location,
            name: name.into(),
        };
        let schema = compile_schema(r#"{"type":"object","required":["n"]}"#).expect("a schema");
        let v = Validation {
            required: Box::new([
                required(ParameterIn::Header, "X-A"),
                required(ParameterIn::Query, "q"),
                required(ParameterIn::Path, "id"),
            ]),
            models: Box::new([("application/json".into(), Arc::new(schema))]),
            default_model: None,
        };
        // (query, extra header lines, content type, body, outcome)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            Result<(), GatewayError>,
        );
        let missing = |missing| Err(GatewayError::MissingParameters { missing });
        let cases: &[Case] = &[
            (
                "q=1",
                "X-A: 1\r\n",
                "application/json",
                r#"{"n":1}"#,
                Ok(()),
            ),
            (
                "q=1",
                "x-a: 1\r\n",
                "application/json; charset=utf-8",
                r#"{"n":1}"#,
                Ok(()),
            ),
            ("q=1", "", "application/json", r#"{"n":1}"#, missing(0b001)),
            (
                "q=1",
                "X-A:   \r\n",
                "application/json",
                r#"{"n":1}"#,
                missing(0b001),
            ),
            (
                "",
                "X-A: 1\r\n",
                "application/json",
                r#"{"n":1}"#,
                missing(0b010),
            ),
            ("q=", "", "application/json", r#"{"n":1}"#, missing(0b011)),
            (
                "q=1",
                "X-A: 1\r\n",
                "application/json",
                r#"{"m":1}"#,
                Err(GatewayError::InvalidBody),
            ),
            (
                "q=1",
                "X-A: 1\r\n",
                "application/json",
                "not json",
                Err(GatewayError::InvalidBody),
            ),
            ("q=1", "X-A: 1\r\n", "text/plain", "not json", Ok(())),
        ];
        for (query, lines, content_type, body, want) in cases {
            let raw = format!(
                "POST /pets/7?{query} HTTP/1.1\r\nHost: abc.execute-api.localhost\r\n{lines}\
                 Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let buf = raw.as_bytes();
            let (head, headers) = testing::head(buf);
            let rng = std::cell::Cell::new(1);
            let resolved = crate::stages::resolve::resolve(
                &snapshot,
                "execute-api.localhost",
                &head,
                buf,
                None,
                &rng,
            )
            .map_err(|m| m.error)
            .expect("resolves");
            let req = testing::request(&head, buf, &headers, &buf[head.head_len..]);
            let got = validate(&v, &req, &resolved, &mut Vec::new());
            assert_eq!(got, *want, "{query:?} {lines:?} {content_type} {body}");
        }
    }

    #[test]
    fn nesting_depth_ignores_brackets_in_strings() {
        assert!(!too_deep(br#"{"a": [1, {"b": []}]}"#, 4));
        assert!(too_deep(br#"{"a": [1, {"b": []}]}"#, 3));
        assert!(!too_deep(br#"{"a": "[[[[[[[[", "b": "\"{{{{"}"#, 1));
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(too_deep(deep.as_bytes(), 128));
        assert!(!too_deep(deep.as_bytes(), 129));
    }
}
