//! Fuzzes the VTL engine (`vtl::Template::parse` and `render`, `vtl::parse_jsonpath`,
//! `vtl::select`): mapping templates come from the admin API and bodies from downstream clients,
//! so neither may panic, hang or grow without bound.
//!
//! Input: `template \0 body` (lossy UTF-8). Beyond "no panic", each input checks:
//! 1. Parsing is deterministic, and a template that parses renders within
//!    `VTL_OUTPUT_MAX_BYTES` plus one step's output.
//! 2. Text without `$`, `#` or `\` renders to itself (nothing is a directive or reference).
//! 3. Every line of the template that parses as a JSONPath selects from the body without panic,
//!    and a path of plain `.name` steps selects at most one value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_shared::limits::VTL_OUTPUT_MAX_BYTES;
use portico_shared::template::{Context, ContextVar};
use portico_shared::vtl::{parse_jsonpath, select, Step, Template};

struct Cx<'a> {
    body: &'a [u8],
}

impl Context for Cx<'_> {
    fn context(&self, _: ContextVar, out: &mut Vec<u8>) {
        out.extend_from_slice(b"ctx");
    }
    fn stage_variable(&self, name: &str) -> Option<&str> {
        (name.len() % 2 == 0).then_some("sv")
    }
    fn request_header(&self, _: &str) -> Option<&[u8]> {
        Some(b"h")
    }
    fn request_query(&self, _: &str) -> Option<&[u8]> {
        Some(b"a%20b+c")
    }
    fn request_path(&self, _: &str) -> Option<&[u8]> {
        None
    }
    fn body(&self) -> &[u8] {
        self.body
    }
    fn each_request_header(&self, f: &mut dyn FnMut(&str, &[u8])) {
        f("x-a", b"1");
        f("x-b", b"2");
    }
    fn each_request_query(&self, f: &mut dyn FnMut(&str, &[u8])) {
        f("q", b"%zz");
    }
}

fuzz_target!(|data: &[u8]| {
    let (template, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{\"a\": [1, {\"b\": \"x\"}], \"c\": null}"[..]),
    };
    let text = String::from_utf8_lossy(template);
    let parsed = Template::parse(&text);
    assert_eq!(parsed.is_ok(), Template::parse(&text).is_ok());
    if let Ok(t) = parsed {
        let mut out = Vec::new();
        t.render(&Cx { body }, &mut out);
        assert!(out.len() <= VTL_OUTPUT_MAX_BYTES + 2 * data.len() + 1024 * 1024);
        if !text.contains(['$', '#', '\\']) {
            assert_eq!(out, text.as_bytes());
        }
    }
    let doc: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    for line in text.lines().take(16) {
        if let Ok(steps) = parse_jsonpath(line) {
            if let Some(d) = &doc {
                let mut found = Vec::new();
                let many = select(d, &steps, &mut found);
                if steps.iter().all(|s| matches!(s, Step::Child(_))) {
                    assert!(!many && found.len() <= 1);
                }
            }
        }
    }
});
