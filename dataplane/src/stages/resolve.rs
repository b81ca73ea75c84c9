//! Pipeline stage `resolve`: Host (or `x-apigw-api-id`) → API → stage → route.
//!
//! Synchronous, allocation-free and runtime-free: it reads the snapshot and the request head.
//! A Host that names a custom domain (`domain.rs`) selects the API and stage of the API mapping
//! its path starts with, and the route sees the path without the mapping key. A domain with
//! mutual TLS is served only on a connection whose handshake verified a client certificate for
//! that domain (a Host header naming it on another connection gets 403).

use std::cell::Cell;

use portico_shared::domain::Mapping;
use portico_shared::model::ProtocolType;
use portico_shared::router::Match;
use portico_shared::snapshot::{Api, Route, Stage};
use portico_shared::Snapshot;

use crate::error::GatewayError;
use crate::http1::parse::bytes;
use crate::http1::RequestHead;
use crate::tls::TlsSession;

/// What `resolve` found. Borrows the snapshot only, so the connection buffer stays free to
/// read the body into.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'s> {
    pub api: &'s Api,
    pub stage: &'s Stage,
    pub route: &'s Route,
    pub matched: Match<'s>,
    /// Where the request path without the stage prefix starts in the buffer (it ends where
    /// the path ends); parameter spans index into that route path.
    route_path_start: u32,
    path_end: u32,
}

// === impl Resolved ===

impl<'s> Resolved<'s> {
    /// The route's integration; a route without one is refused.
    pub fn integration(&self) -> Result<&'s portico_shared::snapshot::Integration, GatewayError> {
        self.route
            .integration
            .as_deref()
            .ok_or(GatewayError::NoIntegration)
    }

    /// The REST method's request validation, if it has one.
    pub fn validation(&self) -> Option<&'s portico_shared::validation::Validation> {
        self.route.rest.as_ref()?.validation.as_deref()
    }
}

impl Resolved<'_> {
    /// The request path with the stage prefix removed (`/` for a bare stage name).
    pub fn route_path<'b>(&self, buf: &'b [u8]) -> &'b str {
        if self.route_path_start == self.path_end {
            return "/";
        }
        crate::sys::utf8(&buf[self.route_path_start as usize..self.path_end as usize])
            .unwrap_or("/")
    }
}

/// A request that matched no route: the error, and how far resolution got (REST APIs answer
/// with the gateway responses of the stage, when one matched).
#[derive(Debug, Clone, Copy)]
pub struct Miss<'s> {
    pub error: GatewayError,
    pub api: Option<&'s Api>,
    pub stage: Option<&'s Stage>,
}

/// Selects the API, stage and route for a request, sending a REST stage's canary share of
/// requests to its canary: `rng` is the worker's generator, advanced only for stages with a
/// canary.
pub fn resolve<'s>(
    snapshot: &'s Snapshot,
    domain: &str,
    head: &RequestHead,
    buf: &[u8],
    tls: Option<&TlsSession>,
    rng: &Cell<u64>,
) -> Result<Resolved<'s>, Miss<'s>> {
    let (api, mapping) = select_api(snapshot, domain, head, buf, tls).map_err(|error| Miss {
        error,
        api: None,
        stage: None,
    })?;
    // REST APIs answer an unknown stage, resource or method 403 "Missing Authentication Token".
    let not_found = if api.protocol == ProtocolType::Rest {
        GatewayError::MissingAuthenticationToken
    } else {
        GatewayError::NotFound
    };
    let miss = |stage| Miss {
        error: not_found,
        api: Some(api),
        stage,
    };
    // httparse took the request target as UTF-8 (visible ASCII, or UTF-8 above it).
    let path = crate::sys::utf8(bytes(buf, head.path)).map_err(|_| miss(None))?;
    let (stage, route_path) = match mapping {
        None => api.select_stage(path),
        // A custom domain: the mapping key is stripped; the mapping names the stage, or (a v1
        // base path mapping without one) the next segment does.
        Some((m, rest)) => match &m.stage {
            Some(name) => api.stage(name).map(|s| (s, rest)),
            None => api.select_stage(rest),
        },
    }
    .ok_or(miss(None))?;
    let stage = match &stage.canary {
        Some(c) if roll(rng) < c.share_bp => &c.stage,
        _ => stage,
    };
    let matched = stage
        .router
        .resolve(&head.method, route_path)
        .ok_or(miss(Some(stage)))?;
    let route = &stage.routes[matched.route as usize];
    let within = route_path.as_ptr() as usize >= path.as_ptr() as usize
        && (route_path.as_ptr() as usize) < path.as_ptr() as usize + path.len();
    let route_path_start = if within {
        head.path.0 + (route_path.as_ptr() as usize - path.as_ptr() as usize) as u32
    } else {
        head.path.1
    };
    Ok(Resolved {
        api,
        stage,
        route,
        matched,
        route_path_start,
        path_end: head.path.1,
    })
}

/// A number in `0..10_000` from the worker's xorshift generator (no lock, no syscall): 0% and
/// 100% canary shares are exact, others are a fair coin per request.
pub fn roll(rng: &Cell<u64>) -> u32 {
    let mut x = rng.get();
    if x == 0 {
        x = 0x9e37_79b9_7f4a_7c15;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng.set(x);
    // The high bits are the better ones; the modulo bias over 2^32 is below 3 in a million.
    ((x >> 32) % 10_000) as u32
}

/// The API a request is for (Host, else `x-apigw-api-id`) and, for a custom domain, the API
/// mapping and the path with its key stripped.
#[allow(clippy::type_complexity)]
pub fn select_api<'s, 'b>(
    snapshot: &'s Snapshot,
    domain: &str,
    head: &RequestHead,
    buf: &'b [u8],
    tls: Option<&TlsSession>,
) -> Result<(&'s Api, Option<(&'s Mapping, &'b str)>), GatewayError> {
    if let Some(host) = head.host {
        let host = bytes(buf, host);
        // `Domains::get` answers at once when there are no custom domains.
        if let Some(custom) = snapshot.domains.get(host) {
            if custom.mutual_tls
                && !tls.is_some_and(|t| t.client_cert.is_some() && *t.domain == *custom.name)
            {
                return Err(GatewayError::MutualTlsRequired);
            }
            let path =
                crate::sys::utf8(bytes(buf, head.path)).map_err(|_| GatewayError::NotFound)?;
            let (m, rest) = custom.map(path).ok_or(GatewayError::NotFound)?;
            let api = snapshot.api(&m.api_id).ok_or(GatewayError::NotFound)?;
            return Ok((api, Some((m, rest))));
        }
        if let Some(id) = api_id_from_host(host, domain) {
            // Host names are case-insensitive; API ids are lowercase. Lowercase on the stack.
            let mut lower = [0u8; 64];
            let id = lower.get_mut(..id.len()).map(|l| {
                l.copy_from_slice(id);
                l.make_ascii_lowercase();
                &*l
            });
            if let Some(api) = id
                .and_then(|id| crate::sys::utf8(id).ok())
                .and_then(|id| snapshot.api(id))
            {
                if api.disable_execute_api_endpoint {
                    return Err(GatewayError::EndpointDisabled);
                }
                return Ok((api, None));
            }
        }
    }
    if let Some(id) = head.api_id {
        if let Some(api) = crate::sys::utf8(bytes(buf, id))
            .ok()
            .and_then(|id| snapshot.api(id))
        {
            // The header is one more way into the execute-api endpoint: the same switch applies.
            if api.disable_execute_api_endpoint {
                return Err(GatewayError::EndpointDisabled);
            }
            return Ok((api, None));
        }
    }
    Err(GatewayError::NotFound)
}

/// `{apiId}.{domain}[.][:port]` → `apiId` (case-insensitive domain match). One forward pass:
/// the id ends at the first dot, the domain follows, then what may end a host name.
pub fn api_id_from_host<'h>(host: &'h [u8], domain: &str) -> Option<&'h [u8]> {
    let dot = memchr::memchr(b'.', host)?;
    let (id, rest) = (&host[..dot], &host[dot + 1..]);
    if id.is_empty() || rest.len() < domain.len() {
        return None;
    }
    let (name, tail) = rest.split_at(domain.len());
    // Most clients send the name as configured: one comparison of bytes before the folding one.
    if name != domain.as_bytes() && !crate::text::eq_ignore_case(name, domain.as_bytes()) {
        return None;
    }
    let tail = tail.strip_prefix(b".").unwrap_or(tail);
    match tail {
        [] => Some(id),
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        let d = "execute-api.localhost";
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"abc.execute-api.localhost", Some(b"abc")),
            (b"abc.execute-api.localhost:8080", Some(b"abc")),
            (b"abc.EXECUTE-API.localhost.", Some(b"abc")),
            (b"abc.other.localhost", None),
            (b".execute-api.localhost", None),
            (b"execute-api.localhost", None),
            (b"abc.execute-api.localhost:x", None),
            (b"127.0.0.1:8080", None),
            (b"abc.execute-api.localhost.:80", Some(b"abc")),
            (b"abc.execute-api.localhost:", Some(b"abc")),
            (b"abc.execute-api.localhost:80.", None),
            (b"abc.execute-api.localhost.x", None),
            (b"abc.execute-api.localhostx", None),
            (b"abc.execute-api.local", None),
            (b"[::1]:80", None),
        ];
        for (host, want) in cases {
            assert_eq!(
                api_id_from_host(host, d),
                *want,
                "{:?}",
                String::from_utf8_lossy(host)
            );
        }
    }

    /// Every request of the table through `resolve`, against a snapshot compiled from a
    /// configuration file (no runtime, no socket).
    #[test]
    fn resolves_apis_stages_and_routes() {
        let snapshot = crate::stages::testing::snapshot(
            r#"{"apis":[{"apiId":"abc","routes":[
                {"routeKey":"GET /pets/{id}","target":"integrations/up"},
                {"routeKey":"ANY /files/{proxy+}","target":"integrations/up"},
                {"routeKey":"POST /orders","target":"integrations/up"}],
              "integrations":[{"integrationId":"up","integrationType":"HTTP_PROXY",
                "integrationUri":"http://127.0.0.1:9"}],
              "stages":[{"stageName":"$default"},{"stageName":"prod"}]}]}"#,
        );
        let domain = "execute-api.localhost";
        // (request line, Host, route key or error, stage, route path)
        type Case = (
            &'static str,
            &'static str,
            Result<&'static str, GatewayError>,
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "GET /pets/7",
                "abc.execute-api.localhost",
                Ok("GET /pets/{id}"),
                "$default",
                "/pets/7",
            ),
            (
                "GET /prod/pets/7",
                "abc.execute-api.localhost",
                Ok("GET /pets/{id}"),
                "prod",
                "/pets/7",
            ),
            (
                "PUT /files/a/b",
                "ABC.execute-api.localhost:8080",
                Ok("ANY /files/{proxy+}"),
                "$default",
                "/files/a/b",
            ),
            (
                "POST /orders",
                "abc.execute-api.localhost",
                Ok("POST /orders"),
                "$default",
                "/orders",
            ),
            (
                "GET /orders",
                "abc.execute-api.localhost",
                Err(GatewayError::NotFound),
                "",
                "",
            ),
            (
                "GET /pets/7",
                "zzz.execute-api.localhost",
                Err(GatewayError::NotFound),
                "",
                "",
            ),
            (
                "GET /pets/7",
                "abc.other.localhost",
                Err(GatewayError::NotFound),
                "",
                "",
            ),
        ];
        for (line, host, want, stage, path) in cases {
            let raw = format!("{line} HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let (head, _) = crate::stages::testing::head(raw.as_bytes());
            let rng = Cell::new(1);
            let got = resolve(&snapshot, domain, &head, raw.as_bytes(), None, &rng);
            match (got, want) {
                (Ok(r), Ok(key)) => {
                    assert_eq!(&*r.route.route_key, *key, "{line} {host}");
                    assert_eq!(&*r.stage.name, *stage, "{line} {host}");
                    assert_eq!(r.route_path(raw.as_bytes()), *path, "{line} {host}");
                }
                (Err(miss), Err(e)) => assert_eq!(miss.error, *e, "{line} {host}"),
                (got, want) => panic!(
                    "{line} {host}: {:?} vs {want:?}",
                    got.map(|r| r.route.route_key.clone())
                ),
            }
        }
    }
}
