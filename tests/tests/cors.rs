//! CORS end to end: HTTP APIs' `corsConfiguration` (preflights answered by the gateway before
//! routing and admission, CORS lines on actual responses and gateway errors, the upstream's own
//! dropped; UpdateApi and DeleteCors through the admin API) and REST's "Enable CORS" (an
//! `OPTIONS` `MOCK` method with header mappings).

use portico_tests::*;
use serde_json::{json, Value};

const APP: &str = "https://app.test";

fn cors_config(uri: &str, cors: Value) -> String {
    let mut a = api(
        API,
        vec![route("GET /items", "i1"), route("GET /items/{id}", "i1")],
        vec![integration("i1", uri)],
        vec![stage("$default")],
    );
    a["corsConfiguration"] = cors;
    config(vec![a])
}

fn preflight(
    gw: &Gateway,
    path: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> Response {
    let mut req = Request::new("OPTIONS", path)
        .host(&gw.host(API))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if let Some(h) = headers {
        req = req.header("Access-Control-Request-Headers", h);
    }
    gw.call(&req)
}

fn cors_headers(r: &Response) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with("access-control-"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn preflights_are_answered_by_the_gateway() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(
        &cors_config(
            &up.url(""),
            json!({"allowOrigins": [APP, "https://*.example.org"], "allowMethods": ["GET", "PUT"],
                   "allowHeaders": ["X-Custom", "content-type"], "exposeHeaders": ["x-total"],
                   "maxAge": 600, "allowCredentials": true}),
        ),
        &[],
    );
    let allowed = |origin: &str| {
        vec![
            (
                "access-control-allow-credentials".to_string(),
                "true".to_string(),
            ),
            (
                "access-control-allow-headers".into(),
                "x-custom,content-type".into(),
            ),
            ("access-control-allow-methods".into(), "GET,PUT".into()),
            ("access-control-allow-origin".into(), origin.to_string()),
            ("access-control-max-age".into(), "600".into()),
        ]
    };
    // Allowed: 204 with every line; a path no route matches is answered too.
    for (path, origin) in [
        ("/items", APP),
        ("/items/7", "https://shop.example.org"),
        ("/no/route/here", APP),
    ] {
        let r = preflight(&gw, path, origin, "PUT", Some("x-custom, Content-Type"));
        assert_eq!(r.status, 204, "{r}");
        assert_eq!(cors_headers(&r), allowed(origin), "{r}");
        assert_eq!(r.header("vary"), Some("origin"), "{r}");
        assert!(r.body.is_empty(), "{r}");
        r.request_id();
    }
    // Refused origin, method or header: 204 without any access-control line.
    for (origin, method, headers) in [
        ("https://evil.test", "PUT", None),
        ("https://example.org", "GET", None),
        (APP, "DELETE", None),
        (APP, "PUT", Some("x-other")),
    ] {
        let r = preflight(&gw, "/items", origin, method, headers);
        assert_eq!(r.status, 204, "{origin} {method}: {r}");
        assert_eq!(cors_headers(&r), vec![], "{origin} {method}: {r}");
    }
    assert_eq!(up.request_count(), 0, "a preflight reached the upstream");

    // An OPTIONS without Access-Control-Request-Method is not a preflight: routed (no route).
    let r = gw.call(
        &Request::new("OPTIONS", "/items")
            .host(&gw.host(API))
            .header("Origin", APP),
    );
    assert_gateway_error(&r, 404, "Not Found");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP), "{r}");

    // Actual requests: CORS lines for an allowed Origin only.
    let r = gw.call(
        &Request::get("/items")
            .host(&gw.host(API))
            .header("Origin", APP),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        cors_headers(&r),
        vec![
            (
                "access-control-allow-credentials".to_string(),
                "true".to_string()
            ),
            ("access-control-allow-origin".into(), APP.into()),
            ("access-control-expose-headers".into(), "x-total".into()),
        ]
    );
    assert_eq!(r.header("vary"), Some("origin"));
    let r = gw.call(&Request::get("/items").host(&gw.host(API)));
    assert_eq!((r.status, cors_headers(&r)), (200, vec![]), "{r}");
    let r = gw.call(
        &Request::get("/items")
            .host(&gw.host(API))
            .header("Origin", "https://evil.test"),
    );
    assert_eq!((r.status, cors_headers(&r)), (200, vec![]), "{r}");
    // Gateway errors carry them too.
    let r = gw.call(
        &Request::get("/nope")
            .host(&gw.host(API))
            .header("Origin", APP),
    );
    assert_gateway_error(&r, 404, "Not Found");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP), "{r}");
}

#[test]
fn upstream_cors_headers_are_replaced() {
    let up = MockUpstream::start(Behaviour::Fixed {
        status: 200,
        headers: vec![
            ("Access-Control-Allow-Origin".into(), "*".into()),
            ("Access-Control-Allow-Methods".into(), "DELETE".into()),
            ("X-Other".into(), "kept".into()),
        ],
        body: b"ok".to_vec(),
    });
    let gw = Gateway::spawn(
        &cors_config(&up.url(""), json!({"allowOrigins": [APP]})),
        &[],
    );
    let r = gw.call(
        &Request::get("/items")
            .host(&gw.host(API))
            .header("Origin", APP),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        cors_headers(&r),
        vec![("access-control-allow-origin".to_string(), APP.to_string())]
    );
    assert_eq!(r.header("x-other"), Some("kept"));
    // Without an Origin the upstream's CORS headers are still not passed on.
    let r = gw.get(API, "/items");
    assert_eq!(cors_headers(&r), vec![], "{r}");
}

#[test]
fn wildcards_and_preflights_pass_an_exhausted_throttle() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(
        &cors_config(
            &up.url(""),
            json!({"allowOrigins": ["*"], "allowMethods": ["*"], "allowHeaders": ["*"],
                   "maxAge": -1}),
        ),
        &["--account-rate-limit", "1", "--account-burst-limit", "1"],
    );
    let origin = "http://anywhere.test:8080";
    // Spend the account's only token, then see the throttle refuse (with CORS lines).
    let first = gw.call(
        &Request::get("/items")
            .host(&gw.host(API))
            .header("Origin", origin),
    );
    assert_eq!(first.status, 200, "{first}");
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        first.header("vary"),
        None,
        "a wildcard origin does not vary"
    );
    let refused = gw.call(
        &Request::get("/items")
            .host(&gw.host(API))
            .header("Origin", origin),
    );
    assert_gateway_error(&refused, 429, "Too Many Requests");
    assert_eq!(refused.header("access-control-allow-origin"), Some("*"));
    for _ in 0..5 {
        let r = preflight(&gw, "/items", origin, "PATCH", Some("x-anything"));
        assert_eq!(r.status, 204, "{r}");
        assert_eq!(
            cors_headers(&r),
            vec![
                ("access-control-allow-headers".to_string(), "*".to_string()),
                ("access-control-allow-methods".into(), "*".into()),
                ("access-control-allow-origin".into(), "*".into()),
                ("access-control-max-age".into(), "-1".into()),
            ]
        );
    }
    assert_eq!(up.request_count(), 1);
}

#[test]
fn update_api_and_delete_cors_republish() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let r = gw.admin_call(
        "POST",
        "/v2/apis",
        json!({"name": "c", "protocolType": "HTTP", "target": up.url("")})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{r}");
    let id = r.json()["apiId"].as_str().unwrap().to_string();
    let call_preflight = || {
        gw.call(
            &Request::new("OPTIONS", "/x")
                .host(&gw.host(&id))
                .header("Origin", APP)
                .header("Access-Control-Request-Method", "GET"),
        )
    };
    // No CORS yet: the $default route forwards the OPTIONS.
    assert_eq!(call_preflight().status, 200);
    assert_eq!(up.request_count(), 1);

    let bad = json!({"corsConfiguration": {"allowOrigins": ["*"], "allowCredentials": true}});
    let r = gw.admin_call(
        "PATCH",
        &format!("/v2/apis/{id}"),
        bad.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("allowCredentials"), "{r}");

    let good = json!({"corsConfiguration": {"allowOrigins": [APP]}});
    let r = gw.admin_call(
        "PATCH",
        &format!("/v2/apis/{id}"),
        good.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{r}");
    let r = call_preflight();
    assert_eq!(r.status, 204, "{r}");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(up.request_count(), 1);
    // Export keeps it.
    let exported = gw.get_config().json();
    assert_eq!(
        exported["apis"][0]["corsConfiguration"],
        good["corsConfiguration"]
    );

    let r = gw.admin_call("DELETE", &format!("/v2/apis/{id}/cors"), b"");
    assert_eq!(r.status, 204, "{r}");
    assert_eq!(call_preflight().status, 200);
    assert_eq!(up.request_count(), 2);
}

// === REST "Enable CORS" ===

#[test]
fn rest_enable_cors_mock_answers_preflights_without_a_key() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let api = gw.admin_json("POST", "/restapis", json!({"name": "pets"}));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap();
    let pets = gw.admin_json(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        json!({"pathPart": "pets"}),
    );
    let base = format!(
        "/restapis/{id}/resources/{}/methods",
        pets["id"].as_str().unwrap()
    );
    let mock = json!({"type": "MOCK",
                      "requestTemplates": {"application/json": "{\"statusCode\": 200}"}});
    // GET needs an API key; OPTIONS is what the console's "Enable CORS" makes.
    for (method, key) in [("GET", true), ("OPTIONS", false)] {
        gw.admin_json(
            "PUT",
            &format!("{base}/{method}"),
            json!({"authorizationType": "NONE", "apiKeyRequired": key}),
        );
        gw.admin_json("PUT", &format!("{base}/{method}/integration"), mock.clone());
    }
    gw.admin_json(
        "PUT",
        &format!("{base}/OPTIONS/responses/200"),
        json!({"responseParameters": {
            "method.response.header.Access-Control-Allow-Headers": false,
            "method.response.header.Access-Control-Allow-Methods": false,
            "method.response.header.Access-Control-Allow-Origin": false}}),
    );
    gw.admin_json(
        "PUT",
        &format!("{base}/OPTIONS/integration/responses/200"),
        json!({"selectionPattern": "", "responseParameters": {
            "method.response.header.Access-Control-Allow-Headers":
                "'Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token'",
            "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS'",
            "method.response.header.Access-Control-Allow-Origin": "'*'"}}),
    );
    gw.admin_json("PUT", &format!("{base}/GET/responses/200"), json!({}));
    gw.admin_json(
        "PUT",
        &format!("{base}/GET/integration/responses/200"),
        json!({"selectionPattern": ""}),
    );
    gw.admin_json(
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    );

    let r = gw.call(
        &Request::new("OPTIONS", "/prod/pets")
            .host(&gw.host(&id))
            .header("Origin", APP)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "x-api-key"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        cors_headers(&r),
        vec![
            (
                "access-control-allow-headers".to_string(),
                "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token".to_string()
            ),
            ("access-control-allow-methods".into(), "GET,OPTIONS".into()),
            ("access-control-allow-origin".into(), "*".into()),
        ]
    );
    // The GET itself still needs its key.
    let r = gw.call(
        &Request::get("/prod/pets")
            .host(&gw.host(&id))
            .header("Origin", APP),
    );
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.json(), json!({"message": "Forbidden"}));
}
