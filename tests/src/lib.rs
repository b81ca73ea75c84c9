//! End-to-end harness: the real `portico` binary, real sockets on 127.0.0.1, real upstreams.
//!
//! # Architecture
//! - [`Gateway`] starts `portico serve` on `127.0.0.1:0` (data plane and admin), with its config
//!   in a per-test temp dir, waits for its ready line and kills it on drop (printing its stderr if
//!   the test panicked).
//! - [`MockUpstream`] is an HTTP/1.1 server on std threads that records every request it receives,
//!   so tests can assert what was forwarded, and that nothing was (request smuggling).
//! - [`Client`] writes raw bytes and parses responses by hand, so tests can send what no client
//!   library would.
//!
//! Invariants: only 127.0.0.1 and port 0; every socket read has a timeout; every wait has a
//! deadline; nothing is shared between tests, so they run in parallel.
//!
//! Scenarios live in `tests/tests/*.rs`, one file per concern: `proxy` (API, stage and route
//! selection, what is forwarded), `framing` (keep-alive, pipelining, strict parsing), `limits`,
//! `faults` (upstream failures, large bodies), `reload`, `shutdown`, `admin` (stats), and
//! `harness` (the harness against itself, no gateway).
//!
//! Running:
//! ```text
//! cargo build -p portico-dataplane --bin portico     # the binary under test
//! cargo test -p portico-tests --no-fail-fast         # every scenario
//! cargo test -p portico-tests --test framing         # one file
//! ```
//! Environment: `PORTICO_BIN` (binary to test; default `target/debug/portico`, built once per test
//! process when missing), `PORTICO_TEST_DRIVER` (`io-uring` or `legacy`: passed as `--driver`),
//! `PORTICO_TEST_LOG` (the gateway's `RUST_LOG`, default `info`). Other `PORTICO_*` variables are
//! not passed to the gateway. A failing test prints the tail of the gateway's stderr.

mod client;
mod gateway;
mod lambda;
mod load;
mod postgres;
mod redis;
mod tls;
mod tls_upstream;
mod upstream;
mod ws;

use std::time::Duration;

pub use client::{find, preview, Client, Closed, ReadError, Request, Response, IO_TIMEOUT};
pub use gateway::{parse_ready_line, portico_bin, Gateway, TempDir, DEFAULT_DOMAIN};
pub use lambda::{zip_stored, LambdaFn, AUTHORIZER_FUNCTION, FUNCTION, FUNCTION_ARN};
pub use load::{fixed_rate, Tally};
pub use postgres::Postgres;
pub use redis::Redis;
pub use tls::{exchange as tls_exchange, https_get, Pki, TlsClient, TlsResponse};
pub use tls_upstream::TlsUpstream;
pub use upstream::{echo_json, fnv1a, pattern, Behaviour, MockUpstream, Recorded};
pub use ws::{whoami_api, Ws};

use serde_json::{json, Value};

/// The API id most tests use.
pub const API: &str = "abc123";

/// One `HTTP_PROXY` integration, as JSON.
pub fn integration(id: &str, uri: &str) -> Value {
    json!({"integrationId": id, "integrationType": "HTTP_PROXY", "integrationUri": uri})
}

/// One `HTTP_PROXY` integration with `timeoutInMillis`.
pub fn integration_with_timeout(id: &str, uri: &str, timeout_ms: u32) -> Value {
    json!({"integrationId": id, "integrationType": "HTTP_PROXY", "integrationUri": uri,
           "timeoutInMillis": timeout_ms})
}

/// A route `route_key` → `integrations/{integration_id}`.
pub fn route(route_key: &str, integration_id: &str) -> Value {
    json!({"routeKey": route_key, "target": format!("integrations/{integration_id}")})
}

/// A stage with no variables.
pub fn stage(name: &str) -> Value {
    json!({"stageName": name})
}

/// An API with the given routes, integrations and stages.
pub fn api(
    api_id: &str,
    routes: Vec<Value>,
    integrations: Vec<Value>,
    stages: Vec<Value>,
) -> Value {
    json!({"apiId": api_id, "protocolType": "HTTP", "routes": routes, "integrations": integrations,
           "stages": stages})
}

/// Arguments that lift the account-level throttle (AWS's default, 10,000 rps with a burst of
/// 5,000) for load tests that measure something else.
pub const UNTHROTTLED: [&str; 4] = [
    "--account-rate-limit",
    "100000000",
    "--account-burst-limit",
    "100000000",
];

/// A whole config from APIs.
pub fn config(apis: Vec<Value>) -> String {
    json!({ "apis": apis }).to_string()
}

/// The simplest useful config: API [`API`], stage `$default`, route `$default` → `uri`.
pub fn proxy_config(uri: &str) -> String {
    config(vec![api(
        API,
        vec![route("$default", "i1")],
        vec![integration("i1", uri)],
        vec![stage("$default")],
    )])
}

/// Like [`proxy_config`] with the integration's `timeoutInMillis`.
pub fn proxy_config_with_timeout(uri: &str, timeout_ms: u32) -> String {
    config(vec![api(
        API,
        vec![route("$default", "i1")],
        vec![integration_with_timeout("i1", uri, timeout_ms)],
        vec![stage("$default")],
    )])
}

/// Starts an echo upstream and a gateway proxying every request of [`API`] to it.
pub fn echo_setup(extra: &[&str]) -> (MockUpstream, Gateway) {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), extra);
    (up, gw)
}

/// `std::thread::sleep`, the one place this crate may block a thread on purpose: the workspace
/// bans it (clippy.toml) because it stalls a data plane worker, which is fine in tests.
#[allow(
    clippy::disallowed_methods,
    reason = "test code; clippy.toml allows sleeping in tests"
)]
pub fn sleep(d: Duration) {
    std::thread::sleep(d);
}

/// Polls `f` every 10 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {timeout:?}: {what}"
        );
        sleep(Duration::from_millis(10));
    }
}

/// Asserts a gateway error response: `status`, a JSON body `{"message": message}` and an
/// `apigw-requestid`.
#[track_caller]
pub fn assert_gateway_error(r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "status; response:\n{r}");
    let body = r.json();
    assert_eq!(body, json!({ "message": message }), "body; response:\n{r}");
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?}; response:\n{r}"
    );
    r.request_id();
}
