//! CORS for HTTP APIs (`corsConfiguration`), compiled once per publish into a [`CorsPolicy`]
//! whose constant header lines are ready-made bytes.
//!
//! # Architecture
//! 1. The control plane calls [`CorsPolicy::compile`] (through `compile::compile_api`); it
//!    refuses what AWS refuses (every problem at once) and precomputes the header lines that do
//!    not depend on the request.
//! 2. The data plane asks, before route selection, whether an `OPTIONS` request with `Origin`
//!    and `Access-Control-Request-Method` is a preflight of an API with CORS, and answers it with
//!    [`CorsPolicy::write_preflight`] (never admitted, never forwarded). Every other response of
//!    such an API to a request with an allowed `Origin` gets [`CorsPolicy::write_actual`]'s
//!    lines, gateway errors included; CORS headers from the upstream are dropped.
//!
//! Invariants: a policy is immutable; writing its lines appends to the caller's buffer and
//! never allocates. A refused origin, method or header gets no `access-control-*` line at all
//! (the browser then blocks the call), as AWS.

use crate::limits::{CORS_LIST_MAX, CORS_MAX_AGE_MAX_S};
use crate::model;

/// A compiled `corsConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    /// `allowOrigins` contains `*`.
    any_origin: bool,
    origins: Vec<OriginPattern>,
    /// `allowMethods` contains `*`.
    any_method: bool,
    methods: Vec<Box<str>>,
    /// `allowHeaders` contains `*`.
    any_header: bool,
    /// Lowercase.
    headers: Vec<Box<str>>,
    credentials: bool,
    /// `access-control-allow-methods`, `-allow-headers` (when lists), `-max-age` and
    /// `-allow-credentials` lines of a preflight answer.
    preflight_lines: Box<[u8]>,
    /// `access-control-expose-headers` and `-allow-credentials` lines of an actual response.
    actual_lines: Box<[u8]>,
}

/// One `allowOrigins` entry other than `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginPattern {
    /// `https://app.example.com[:port]`, compared case-insensitively.
    Exact(Box<str>),
    /// `https://*`: any origin of that scheme (`prefix` is `https://`), or `https://*.example.com`:
    /// any subdomain (`prefix` `https://`, `suffix` `.example.com`).
    Wildcard { prefix: Box<str>, suffix: Box<str> },
}

// === impl CorsPolicy ===

impl CorsPolicy {
    /// Validates and compiles; every problem is reported, in the admin API's words.
    pub fn compile(c: &model::Cors) -> Result<CorsPolicy, Vec<String>> {
        let mut problems = Vec::new();
        let empty = Vec::new();
        let origins_in = c.allow_origins.as_ref().unwrap_or(&empty);
        let methods_in = c.allow_methods.as_ref().unwrap_or(&empty);
        let headers_in = c.allow_headers.as_ref().unwrap_or(&empty);
        let expose_in = c.expose_headers.as_ref().unwrap_or(&empty);
        for (member, list) in [
            ("allowOrigins", origins_in),
            ("allowMethods", methods_in),
            ("allowHeaders", headers_in),
            ("exposeHeaders", expose_in),
        ] {
            if list.len() > CORS_LIST_MAX {
                problems.push(format!(
                    "corsConfiguration.{member} must have at most {CORS_LIST_MAX} entries"
                ));
            }
        }
        let mut policy = CorsPolicy {
            any_origin: false,
            origins: Vec::new(),
            any_method: false,
            methods: Vec::new(),
            any_header: false,
            headers: Vec::new(),
            credentials: c.allow_credentials.unwrap_or(false),
            preflight_lines: Box::default(),
            actual_lines: Box::default(),
        };
        for o in origins_in {
            match parse_origin(o) {
                Ok(None) => policy.any_origin = true,
                Ok(Some(p)) => policy.origins.push(p),
                Err(e) => {
                    problems.push(format!("Invalid corsConfiguration.allowOrigins '{o}': {e}"))
                }
            }
        }
        for m in methods_in {
            if m == "*" {
                policy.any_method = true;
            } else if is_token(m) {
                policy.methods.push(m.to_ascii_uppercase().into());
            } else {
                problems.push(format!(
                    "Invalid corsConfiguration.allowMethods '{m}': use an HTTP method or *"
                ));
            }
        }
        for h in headers_in {
            if h == "*" {
                policy.any_header = true;
            } else if is_token(h) {
                policy.headers.push(h.to_ascii_lowercase().into());
            } else {
                problems.push(format!(
                    "Invalid corsConfiguration.allowHeaders '{h}': use a header name or *"
                ));
            }
        }
        for h in expose_in {
            if h != "*" && !is_token(h) {
                problems.push(format!(
                    "Invalid corsConfiguration.exposeHeaders '{h}': use a header name or *"
                ));
            }
        }
        if let Some(age) = c.max_age {
            if !(-1..=CORS_MAX_AGE_MAX_S).contains(&age) {
                problems.push(format!(
                    "corsConfiguration.maxAge must be between -1 and {CORS_MAX_AGE_MAX_S}"
                ));
            }
        }
        if policy.credentials && policy.any_origin {
            problems.push(
                "corsConfiguration: allowCredentials cannot be true when allowOrigins contains '*' (browsers refuse credentials with a wildcard origin); list the origins"
                    .into(),
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut pre = Vec::new();
        if !policy.methods.is_empty() && !policy.any_method {
            line(
                &mut pre,
                "access-control-allow-methods",
                &policy.methods.join(","),
            );
        }
        if !policy.headers.is_empty() && !policy.any_header {
            line(
                &mut pre,
                "access-control-allow-headers",
                &policy.headers.join(","),
            );
        }
        if let Some(age) = c.max_age {
            line(&mut pre, "access-control-max-age", &age.to_string());
        }
        let mut actual = Vec::new();
        if !expose_in.is_empty() {
            line(
                &mut actual,
                "access-control-expose-headers",
                &expose_in.join(","),
            );
        }
        if policy.credentials {
            line(&mut pre, "access-control-allow-credentials", "true");
            line(&mut actual, "access-control-allow-credentials", "true");
        }
        policy.preflight_lines = pre.into();
        policy.actual_lines = actual.into();
        Ok(policy)
    }

    /// Whether `origin` (the request's `Origin` value) is allowed.
    pub fn allows_origin(&self, origin: &[u8]) -> bool {
        self.any_origin || self.origins.iter().any(|p| p.matches(origin))
    }

    /// Whether a preflight asking for `method` and `headers` (the comma-separated
    /// `Access-Control-Request-Headers`, if any) is allowed. GET, HEAD and POST need no listing
    /// (CORS-safelisted methods).
    fn allows_request(&self, method: &[u8], headers: Option<&[u8]>) -> bool {
        let method_ok = self.any_method
            || matches!(method, b"GET" | b"HEAD" | b"POST")
            || self
                .methods
                .iter()
                .any(|m| m.as_bytes().eq_ignore_ascii_case(method));
        let headers_ok = self.any_header
            || headers.is_none_or(|list| {
                list.split(|&b| b == b',')
                    .map(trim)
                    .filter(|h| !h.is_empty())
                    .all(|h| {
                        self.headers
                            .iter()
                            .any(|a| a.as_bytes().eq_ignore_ascii_case(h))
                    })
            });
        method_ok && headers_ok
    }

    /// Appends the `access-control-*` lines (and `vary: origin` when the origin is echoed) of a
    /// preflight answer; nothing when the origin, method or a header is not allowed. Returns
    /// whether it was allowed.
    pub fn write_preflight(
        &self,
        origin: &[u8],
        method: &[u8],
        headers: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.allows_origin(origin) || !self.allows_request(method, headers) {
            return false;
        }
        self.write_origin(origin, out);
        // With credentials a `*` is taken literally by browsers: echo what was asked instead.
        if self.any_method {
            let v = if self.credentials { method } else { b"*" };
            raw_line(out, b"access-control-allow-methods", v);
        }
        if self.any_header {
            match (self.credentials, headers) {
                (false, _) => raw_line(out, b"access-control-allow-headers", b"*"),
                (true, Some(h)) => raw_line(out, b"access-control-allow-headers", trim(h)),
                (true, None) => {}
            }
        }
        out.extend_from_slice(&self.preflight_lines);
        true
    }

    /// Appends the lines an actual (non-preflight) response carries for `origin`; nothing when
    /// the origin is not allowed.
    pub fn write_actual(&self, origin: &[u8], out: &mut Vec<u8>) {
        if !self.allows_origin(origin) {
            return;
        }
        self.write_origin(origin, out);
        out.extend_from_slice(&self.actual_lines);
    }

    fn write_origin(&self, origin: &[u8], out: &mut Vec<u8>) {
        if self.any_origin && !self.credentials {
            raw_line(out, b"access-control-allow-origin", b"*");
        } else {
            raw_line(out, b"access-control-allow-origin", origin);
            raw_line(out, b"vary", b"origin");
        }
    }
}

// === impl OriginPattern ===

impl OriginPattern {
    fn matches(&self, origin: &[u8]) -> bool {
        match self {
            OriginPattern::Exact(o) => o.as_bytes().eq_ignore_ascii_case(origin),
            OriginPattern::Wildcard { prefix, suffix } => {
                let (p, s) = (prefix.as_bytes(), suffix.as_bytes());
                origin.len() > p.len() + s.len()
                    && origin[..p.len()].eq_ignore_ascii_case(p)
                    && origin[origin.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }
}

/// `*` → `None`; `scheme://host[:port]`, `scheme://*` or `scheme://*.domain` → a pattern.
fn parse_origin(o: &str) -> Result<Option<OriginPattern>, &'static str> {
    if o == "*" {
        return Ok(None);
    }
    let Some((scheme, host)) = o.split_once("://") else {
        return Err("use *, scheme://host[:port], scheme://* or scheme://*.domain");
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]*".contains(&b));
    if !scheme_ok || !host_ok {
        return Err("an origin is scheme://host[:port] with no path, user or whitespace");
    }
    let prefix: Box<str> = format!("{}://", scheme.to_ascii_lowercase()).into();
    if host == "*" {
        return Ok(Some(OriginPattern::Wildcard {
            prefix,
            suffix: "".into(),
        }));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err("a wildcard origin is scheme://* or scheme://*.domain");
        }
        return Ok(Some(OriginPattern::Wildcard {
            prefix,
            suffix: format!(".{}", domain.to_ascii_lowercase()).into(),
        }));
    }
    if host.contains('*') {
        return Err("a wildcard origin is scheme://* or scheme://*.domain");
    }
    Ok(Some(OriginPattern::Exact(o.into())))
}

/// An HTTP token (RFC 9110): header names and methods.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn line(out: &mut Vec<u8>, name: &str, value: &str) {
    raw_line(out, name.as_bytes(), value.as_bytes());
}

fn raw_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> model::Cors {
        model::Cors {
            allow_origins: Some(origins.iter().map(|s| s.to_string()).collect()),
            allow_credentials: Some(credentials),
            allow_methods: Some(vec!["PUT".into()]),
            allow_headers: Some(vec!["X-Custom".into()]),
            expose_headers: Some(vec!["x-total".into()]),
            max_age: Some(300),
        }
    }

    fn preflight(p: &CorsPolicy, origin: &str, method: &str, headers: Option<&str>) -> String {
        let mut out = Vec::new();
        p.write_preflight(
            origin.as_bytes(),
            method.as_bytes(),
            headers.map(str::as_bytes),
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn origins() {
        let p = CorsPolicy::compile(&cors(
            &[
                "https://app.example.com",
                "http://*",
                "https://*.example.org",
            ],
            false,
        ))
        .unwrap();
        for (origin, ok) in [
            ("https://app.example.com", true),
            ("HTTPS://APP.example.com", true),
            ("https://app.example.com:8443", false),
            ("http://anything.test", true),
            ("https://anything.test", false),
            ("https://a.example.org", true),
            ("https://a.b.example.org", true),
            ("https://example.org", false),
            ("https://evilexample.org", false),
        ] {
            assert_eq!(p.allows_origin(origin.as_bytes()), ok, "{origin}");
        }
    }

    #[test]
    fn preflight_lines() {
        let p = CorsPolicy::compile(&cors(&["https://a.test"], true)).unwrap();
        assert_eq!(
            preflight(&p, "https://a.test", "PUT", Some("x-custom")),
            "access-control-allow-origin: https://a.test\r\nvary: origin\r\n\
             access-control-allow-methods: PUT\r\naccess-control-allow-headers: x-custom\r\n\
             access-control-max-age: 300\r\naccess-control-allow-credentials: true\r\n"
        );
        assert_eq!(preflight(&p, "https://b.test", "PUT", None), "");
        assert_eq!(preflight(&p, "https://a.test", "DELETE", None), "");
        assert_eq!(preflight(&p, "https://a.test", "GET", Some("x-other")), "");
        let mut out = Vec::new();
        p.write_actual(b"https://a.test", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "access-control-allow-origin: https://a.test\r\nvary: origin\r\n\
             access-control-expose-headers: x-total\r\naccess-control-allow-credentials: true\r\n"
        );
        let any = CorsPolicy::compile(&model::Cors {
            allow_origins: Some(vec!["*".into()]),
            allow_methods: Some(vec!["*".into()]),
            allow_headers: Some(vec!["*".into()]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            preflight(&any, "https://x.test", "PATCH", Some("a, b")),
            "access-control-allow-origin: *\r\naccess-control-allow-methods: *\r\n\
             access-control-allow-headers: *\r\n"
        );
    }

    #[test]
    fn refusals() {
        let e = CorsPolicy::compile(&cors(&["*"], true)).unwrap_err();
        assert!(e[0].contains("allowCredentials"), "{e:?}");
        let e = CorsPolicy::compile(&model::Cors {
            allow_origins: Some(vec![
                "https://a.test/path".into(),
                "nope".into(),
                "https://a*b".into(),
            ]),
            allow_methods: Some(vec!["GE T".into()]),
            allow_headers: Some(vec!["a:b".into()]),
            expose_headers: Some(vec!["\r\n".into()]),
            max_age: Some(86_401),
            allow_credentials: None,
        })
        .unwrap_err();
        assert_eq!(e.len(), 7, "{e:?}");
    }
}
