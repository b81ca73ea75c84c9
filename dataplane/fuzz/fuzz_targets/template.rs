//! Fuzzes the REST template and mapping-expression parsers (`template::Template::parse`,
//! `Source::parse_parameter`, `Source::parse_response_parameter`), gateway response compilation
//! and `quota::parse_day`: inputs come from the admin API, so none may panic.
//!
//! Input: lines (lossy UTF-8). Beyond "no panic", each input checks:
//! 1. Text without `$`, `#` or `\` (no VTL) renders to itself.
//! 2. A rendered template never contains the text of a variable it substituted (rendering is
//!    one pass; a value is not parsed again).
//! 3. `parse_day` accepts only what `format_day` gives back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_shared::gateway_response::GatewayResponses;
use portico_shared::model::rest::GatewayResponse;
use portico_shared::quota::{format_day, parse_day};
use portico_shared::template::{Context, ContextVar, Source, Template};

/// Renders every variable as a marker that cannot appear in fuzz input after lossy decoding.
struct Marker;

const MARK: &str = "\u{fffe}";

impl Context for Marker {
    fn context(&self, _: ContextVar, out: &mut Vec<u8>) {
        out.extend_from_slice(MARK.as_bytes());
    }
    fn stage_variable(&self, _: &str) -> Option<&str> {
        Some(MARK)
    }
    fn request_header(&self, _: &str) -> Option<&[u8]> {
        Some(MARK.as_bytes())
    }
    fn request_query(&self, _: &str) -> Option<&[u8]> {
        None
    }
    fn request_path(&self, _: &str) -> Option<&[u8]> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).replace(MARK, "");
    let mut out = Vec::new();
    // VTL itself is fuzzed by the `vtl` target; here: plain text stays plain.
    if let Ok(t) = Template::parse(&text) {
        t.render(&Marker, &mut out);
        if !text.contains(['$', '#', '\\']) {
            assert_eq!(out, text.as_bytes());
        }
    }
    let mut responses = Vec::new();
    for line in text.lines().take(32) {
        for parsed in [
            Source::parse_parameter(line),
            Source::parse_response_parameter(line),
        ] {
            if let Ok(s) = parsed {
                out.clear();
                s.render(&Marker, &mut out);
            }
        }
        if let Some(day) = parse_day(line) {
            assert_eq!(format_day(day), line);
        }
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        responses.push(GatewayResponse {
            response_type: kind.to_string(),
            status_code: Some(rest.chars().take(3).collect()),
            response_parameters: [(format!("gatewayresponse.header.{rest}"), rest.to_string())]
                .into(),
            response_templates: [("application/json".to_string(), rest.to_string())].into(),
            default_response: false,
        });
    }
    let _ = GatewayResponses::compile(&responses);
});
