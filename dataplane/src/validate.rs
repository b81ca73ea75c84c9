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
//! Invariants: never allocates on the parameter path; the body is parsed from a copy in a
//! reused worker buffer (simd-json parses in place), never from the connection buffer; a refusal
//! reaches no upstream.

use portico_shared::validation::{ParameterIn, Validation};

use crate::error::GatewayError;
use crate::http1::parse::{bytes, trim};
use crate::integration::DownstreamRequest;
use crate::route::Resolved;

/// Checks `req` against `v`. `scratch` is a reused buffer the body is copied into.
pub fn validate(
    v: &Validation,
    req: &DownstreamRequest<'_>,
    resolved: &Resolved<'_>,
    scratch: &mut Vec<u8>,
) -> Result<(), GatewayError> {
    let mut missing = 0u64;
    for (i, p) in v.required.iter().enumerate() {
        let value = match p.location {
            ParameterIn::Header => header(req, &p.name),
            ParameterIn::Query => query(req, &p.name),
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
    let media = header(req, "content-type")
        .map(|c| trim(c.split(|&b| b == b';').next().unwrap_or(c)))
        .filter(|c| !c.is_empty())
        .unwrap_or(b"application/json");
    let Some(schema) = v.schema_for(media) else {
        return Ok(());
    };
    scratch.clear();
    scratch.extend_from_slice(if trim(req.body).is_empty() {
        b"{}"
    } else {
        req.body
    });
    let body: serde_json::Value =
        simd_json::serde::from_slice(scratch).map_err(|_| GatewayError::InvalidBody)?;
    if schema.is_valid(&body) {
        Ok(())
    } else {
        Err(GatewayError::InvalidBody)
    }
}

/// The first value of header `name` (case-insensitive).
fn header<'a>(req: &DownstreamRequest<'a>, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|(n, _)| bytes(req.buf, *n).eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| bytes(req.buf, *v))
}

/// The first value of query string parameter `name` (raw, as sent).
fn query<'a>(req: &DownstreamRequest<'a>, name: &str) -> Option<&'a [u8]> {
    let q = bytes(req.buf, req.head.query);
    if q.is_empty() {
        return None;
    }
    q.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        (k == name.as_bytes()).then_some(v)
    })
}
