//! What a `{proxy+}` value becomes on its way upstream: dot segments (plain and percent-encoded)
//! are removed as RFC 3986 says, never above the integration URI's base; encoded separators,
//! NUL and overlong UTF-8 are refused with 400 (policy: `portico_shared::path`,
//! `docs/differences.md`). One table, through the real binary, for a REST `{proxy+}` resource,
//! an HTTP API `/{proxy+}` route and an HTTP API `$default` route (request path appended).

use portico_tests::*;
use serde_json::json;

/// What the upstream receives for a request path under the route's base, or the status the
/// client gets (and then nothing reaches the upstream).
#[derive(Debug, Clone, Copy)]
enum Want {
    Upstream(&'static str),
    Refused(u16),
}
use Want::*;

/// (what follows the route's base in the request path, what the upstream behind
/// `/base/{proxy}` gets)
const TABLE: &[(&str, Want)] = &[
    ("a/b/c.txt", Upstream("/base/a/b/c.txt")),
    ("a/b/", Upstream("/base/a/b/")),
    ("caf%C3%A9/x%20y", Upstream("/base/caf%C3%A9/x%20y")),
    // `.` and `..`, plain
    ("a/./b", Upstream("/base/a/b")),
    ("a/.", Upstream("/base/a/")),
    ("a/../b", Upstream("/base/b")),
    ("a/b/../../c", Upstream("/base/c")),
    ("..", Refused(400)),
    ("a/../../etc/passwd", Refused(400)),
    // percent-encoded dots read as dots, in any case
    ("a/%2e/b", Upstream("/base/a/b")),
    ("a/%2e%2e/b", Upstream("/base/b")),
    ("a/%2E%2e/b", Upstream("/base/b")),
    ("a/.%2e/b", Upstream("/base/b")),
    ("%2e%2e/etc/passwd", Refused(400)),
    ("a/%2E%2e/%2e%2E/etc/passwd", Refused(400)),
    ("a/.%2e/.%2E/etc/passwd", Refused(400)),
    // not dot segments: forwarded as they are
    ("a/.../b", Upstream("/base/a/.../b")),
    ("a/..b/.c", Upstream("/base/a/..b/.c")),
    ("%2e%2e.txt", Upstream("/base/%2e%2e.txt")),
    // empty segments are merged
    ("a//b", Upstream("/base/a/b")),
    ("a///../b", Upstream("/base/b")),
    // encoded separators and NUL inside a segment
    ("..%2fetc/passwd", Refused(400)),
    ("..%2Fetc", Refused(400)),
    ("%2e%2e%2fetc/passwd", Refused(400)),
    ("a%2fb", Refused(400)),
    ("a%5cb", Refused(400)),
    ("..%5c..%5cwin.ini", Refused(400)),
    ("a%00b", Refused(400)),
    ("a%00", Refused(400)),
    // overlong UTF-8 for `.` and `/`
    ("%c0%ae%c0%ae/etc/passwd", Refused(400)),
    ("a/%c0%ae%c0%ae/b", Refused(400)),
    ("a%c0%afb", Refused(400)),
    ("%e0%80%ae%e0%80%ae/x", Refused(400)),
];

fn check(gw: &Gateway, up: &MockUpstream, host: &str, prefix: &str, kind: &str) {
    let mut failures = Vec::new();
    for (tail, want) in TABLE {
        up.clear();
        let target = format!("{prefix}/{tail}");
        let r = gw.call(&Request::get(&target).host(host));
        let seen = up.requests();
        let got = match (r.status, seen.as_slice()) {
            (200, [one]) => format!("upstream {}", one.target),
            (s, []) => format!("status {s} {}", r.text()),
            (s, many) => format!("status {s}, upstream got {many:?}"),
        };
        let ok = match want {
            Upstream(path) => got == format!("upstream {path}"),
            Refused(status) => got == format!("status {status} {{\"message\":\"Bad Request\"}}"),
        };
        if !ok {
            failures.push(format!("{kind} {target}: want {want:?}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dot_segments_never_climb_above_the_integration_base() {
    let up = MockUpstream::start(Behaviour::Echo);
    let http = config(vec![
        api(
            API,
            vec![route("ANY /{proxy+}", "i1")],
            vec![integration("i1", &up.url("/base/{proxy}"))],
            vec![stage("$default")],
        ),
        api(
            "appended",
            vec![route("$default", "i1")],
            vec![integration("i1", &up.url("/base"))],
            vec![stage("$default")],
        ),
    ]);
    let gw = Gateway::spawn(&http, &[]);

    // REST: `/{proxy+}` with ANY → HTTP_PROXY `/base/{proxy}`.
    let rest = gw.admin_json("POST", "/restapis", json!({"name": "dots"}));
    let id = rest["id"].as_str().expect("id");
    let root = rest["rootResourceId"].as_str().expect("root");
    let res = gw.admin_json(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        json!({"pathPart": "{proxy+}"}),
    );
    let rid = res["id"].as_str().expect("resource id");
    let base = format!("/restapis/{id}/resources/{rid}/methods/ANY");
    gw.admin_json(
        "PUT",
        &base,
        json!({"authorizationType": "NONE",
               "requestParameters": {"method.request.path.proxy": true}}),
    );
    gw.admin_json(
        "PUT",
        &format!("{base}/integration"),
        json!({
            "type": "HTTP_PROXY",
            "httpMethod": "ANY",
            "uri": up.url("/base/{proxy}"),
            "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"},
        }),
    );
    gw.admin_json(
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "v1"}),
    );

    check(&gw, &up, &gw.host(API), "", "HTTP API /{proxy+}");
    check(&gw, &up, &gw.host("appended"), "", "HTTP API $default");
    check(&gw, &up, &gw.host(id), "/v1", "REST /{proxy+}");
}
