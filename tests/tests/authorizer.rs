//! Lambda authorizers end to end: a real authorizer function built on `lambda_runtime`
//! (`tests/lambda-fn/src/bin/portico-authorizer.rs`, steered by the token) behind
//! `cargo lambda watch`, in front of the `lambda_http` echo function (`AWS_PROXY`), so each
//! test sees what the authorizer was sent and what reached the integration. HTTP APIs (REQUEST,
//! payload 1.0 and 2.0, simple and IAM policy answers) and REST APIs (TOKEN, REQUEST,
//! `usageIdentifierKey`, gateway responses). The authorizer counts its calls per token and
//! returns the count in `context.calls`: that is how the decision cache is observed.
//!
//! One gateway and one `cargo lambda watch` serve every case (starting them dominates the
//! cost); the cache cases use one keep-alive connection so they stay on one core's cache.

use std::time::{Duration, Instant};

use portico_tests::*;
use serde_json::{json, Value};

const INVOCATION_URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:portico-lambda-fn/invocations";
const AUTHORIZER_URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:portico-authorizer/invocations";

fn id(v: &Value, field: &str) -> String {
    v[field].as_str().expect("an id").to_string()
}

/// An HTTP API: `/s` (2.0, simple responses, TTL 2 s), `/p` (2.0, IAM policy, header and
/// query string, TTL 0), `/one` (1.0, TTL 300 s); each → the echo function (2.0; `/one` 1.0);
/// `/h` (the 1.0 authorizer) → `upstream` with `$context.authorizer.*` mapped into headers.
fn http_api(gw: &Gateway, upstream: &MockUpstream) -> String {
    let api = id(
        &gw.admin_json(
            "POST",
            "/v2/apis",
            json!({"name": "authz", "protocolType": "HTTP"}),
        ),
        "apiId",
    );
    let base = format!("/v2/apis/{api}");
    let integration = |format: &str| {
        id(
            &gw.admin_json(
                "POST",
                &format!("{base}/integrations"),
                json!({"integrationType": "AWS_PROXY", "integrationUri": FUNCTION_ARN,
                       "payloadFormatVersion": format}),
            ),
            "integrationId",
        )
    };
    let (i2, i1) = (integration("2.0"), integration("1.0"));
    let ih = id(
        &gw.admin_json(
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": upstream.url("/h"),
                   "integrationMethod": "GET", "payloadFormatVersion": "1.0",
                   "requestParameters": {
                       "overwrite:header.x-principal": "$context.authorizer.principalId",
                       "overwrite:header.x-auth-token": "$context.authorizer.token"}}),
        ),
        "integrationId",
    );
    let authorizer = |body: Value| {
        let mut body = body;
        body["authorizerType"] = json!("REQUEST");
        body["authorizerUri"] = json!(AUTHORIZER_URI);
        id(
            &gw.admin_json("POST", &format!("{base}/authorizers"), body),
            "authorizerId",
        )
    };
    let simple = authorizer(
        json!({"name": "simple", "authorizerPayloadFormatVersion": "2.0",
        "enableSimpleResponses": true, "identitySource": ["$request.header.x-token"],
        "authorizerResultTtlInSeconds": 2}),
    );
    let policy = authorizer(
        json!({"name": "policy", "authorizerPayloadFormatVersion": "2.0",
        "identitySource": ["$request.header.x-token", "$request.querystring.q"],
        "authorizerResultTtlInSeconds": 0}),
    );
    let one = authorizer(
        json!({"name": "one", "authorizerPayloadFormatVersion": "1.0",
        "identitySource": ["$request.header.x-token"], "authorizerResultTtlInSeconds": 300}),
    );
    for (key, integration, authorizer) in [
        ("GET /s", &i2, &simple),
        ("GET /p", &i2, &policy),
        ("GET /one", &i1, &one),
        ("GET /h", &ih, &one),
    ] {
        gw.admin_json(
            "POST",
            &format!("{base}/routes"),
            json!({"routeKey": key, "target": format!("integrations/{integration}"),
                   "authorizationType": "CUSTOM", "authorizerId": authorizer}),
        );
    }
    gw.admin_json(
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "$default", "autoDeploy": true}),
    );
    api
}

/// A REST API (`apiKeySource: AUTHORIZER`): `GET|POST /pets` (TOKEN, validation expression),
/// `GET /req` (REQUEST: header and query string), `GET /key` (TOKEN, API key required); a
/// customised `UNAUTHORIZED` gateway response; deployed to `prod`, with a key in a plan.
fn rest_api(gw: &Gateway) -> String {
    let api = gw.admin_json(
        "POST",
        "/restapis",
        json!({"name": "authz", "apiKeySource": "AUTHORIZER"}),
    );
    let (api, root) = (id(&api, "id"), id(&api, "rootResourceId"));
    let token = id(
        &gw.admin_json(
            "POST",
            &format!("/restapis/{api}/authorizers"),
            json!({"name": "token", "type": "TOKEN", "authorizerUri": AUTHORIZER_URI,
                   "identitySource": "method.request.header.Authorization",
                   "identityValidationExpression": "[a-z0-9-]+"}),
        ),
        "id",
    );
    let request = id(
        &gw.admin_json(
            "POST",
            &format!("/restapis/{api}/authorizers"),
            json!({"name": "request", "type": "REQUEST", "authorizerUri": AUTHORIZER_URI,
                   "identitySource": "method.request.header.x-token, method.request.querystring.q, context.protocol, context.domainPrefix, context.accountId, context.resourcePath",
                   "authorizerResultTtlInSeconds": 0}),
        ),
        "id",
    );
    for (path, methods, authorizer, key) in [
        ("pets", &["GET", "POST"][..], &token, false),
        ("req", &["GET"][..], &request, false),
        ("key", &["GET"][..], &token, true),
    ] {
        let r = gw.admin_json(
            "POST",
            &format!("/restapis/{api}/resources/{root}"),
            json!({"pathPart": path}),
        );
        let rid = id(&r, "id");
        for m in methods {
            let base = format!("/restapis/{api}/resources/{rid}/methods/{m}");
            gw.admin_json(
                "PUT",
                &base,
                json!({"authorizationType": "CUSTOM", "authorizerId": authorizer,
                       "apiKeyRequired": key}),
            );
            gw.admin_json(
                "PUT",
                &format!("{base}/integration"),
                json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": INVOCATION_URI}),
            );
        }
    }
    // GET /mock: a MOCK whose response template reads `$context.authorizer.*`.
    let r = gw.admin_json(
        "POST",
        &format!("/restapis/{api}/resources/{root}"),
        json!({"pathPart": "mock"}),
    );
    let base = format!("/restapis/{api}/resources/{}/methods/GET", id(&r, "id"));
    gw.admin_json(
        "PUT",
        &base,
        json!({"authorizationType": "CUSTOM", "authorizerId": token}),
    );
    gw.admin_json("PUT", &format!("{base}/responses/200"), json!({}));
    gw.admin_json(
        "PUT",
        &format!("{base}/integration"),
        json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
    );
    gw.admin_json(
        "PUT",
        &format!("{base}/integration/responses/200"),
        json!({"selectionPattern": "", "responseTemplates": {"application/json":
            "{\"p\":\"$context.authorizer.principalId\",\"n\":\"$context.authorizer.num\",\"b\":\"$context.authorizer['num']\",#if($context.authorizer.flag == \"true\")\"f\":1#end}"}}),
    );
    gw.admin_json(
        "PUT",
        &format!("/restapis/{api}/gatewayresponses/UNAUTHORIZED"),
        json!({"statusCode": "401",
               "responseTemplates": {"application/json": "{\"custom\":$context.error.messageString}"}}),
    );
    gw.admin_json(
        "POST",
        &format!("/restapis/{api}/deployments"),
        json!({"stageName": "prod"}),
    );
    let key = gw.admin_json(
        "POST",
        "/apikeys",
        json!({"name": "k", "enabled": true, "value": "authorizerkey0123456789ab"}),
    );
    let plan = gw.admin_json(
        "POST",
        "/usageplans",
        json!({"name": "p", "apiStages": [{"apiId": api, "stage": "prod"}]}),
    );
    gw.admin_json(
        "POST",
        &format!("/usageplans/{}/keys", id(&plan, "id")),
        json!({"keyId": id(&key, "id"), "keyType": "API_KEY"}),
    );
    api
}

#[track_caller]
fn assert_error(r: &Response, status: u16, field: &str, message: Value, error_type: Option<&str>) {
    assert_eq!(r.status, status, "{r}");
    assert_eq!(r.json()[field], message, "{r}");
    assert_eq!(r.header("x-amzn-errortype"), error_type, "{r}");
}

/// The echo function's view of `requestContext.authorizer`.
fn authorizer_of(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{r}");
    r.json()["requestContext"]["authorizer"].clone()
}

#[test]
fn lambda_authorizers() {
    assert!(
        LambdaFn::available(),
        "cargo lambda is not installed: pip install cargo-lambda (tools/test.sh does)"
    );
    let mut f = LambdaFn::start();
    f.warm(AUTHORIZER_FUNCTION, br#"{"authorizationToken":"warm"}"#);
    eprintln!(
        "cargo lambda watch served both functions after {:?}",
        f.started_in
    );
    let endpoint = f.endpoint();
    let gw = Gateway::spawn_env(
        &config(vec![]),
        &["--authorizer-timeout-ms", "1000"],
        &[
            ("AWS_ENDPOINT_URL_LAMBDA", &endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
    );
    let upstream = MockUpstream::start(Behaviour::Echo);
    let http = http_api(&gw, &upstream);
    let rest = rest_api(&gw);
    let mut c = gw.client();
    let mut to = |api: &str, path: &str, token: Option<(&str, &str)>| {
        let mut req = Request::get(path).host(&gw.host(api));
        if let Some((name, value)) = token {
            req = req.header(name, value);
        }
        c.request(&req)
    };

    // --- HTTP API, 2.0 with simple responses: the decision is cached for 2 s.
    let t = |v| Some(("x-token", v));
    assert_error(
        &to(&http, "/s", None),
        401,
        "message",
        json!("Unauthorized"),
        None,
    );
    let a = authorizer_of(&to(&http, "/s", t("simple-yes-1")));
    assert_eq!(a["lambda"]["calls"], 1, "{a}");
    assert_eq!(a["lambda"]["flag"], true, "{a}");
    assert_eq!(a["lambda"]["type"], "REQUEST", "{a}");
    let cached_at = Instant::now();
    let a = authorizer_of(&to(&http, "/s", t("simple-yes-1")));
    assert_eq!(a["lambda"]["calls"], 1, "served from the cache: {a}");
    assert_error(
        &to(&http, "/s", t("simple-no-1")),
        403,
        "message",
        json!("Forbidden"),
        None,
    );
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(cached_at.elapsed()));
    let a = authorizer_of(&to(&http, "/s", t("simple-yes-1")));
    assert_eq!(a["lambda"]["calls"], 2, "expired after its TTL: {a}");

    // 2.0 with an IAM policy, two identity sources, TTL 0: every request calls the function.
    assert_error(
        &to(&http, "/p", t("allow-p")),
        401,
        "message",
        json!("Unauthorized"),
        None,
    );
    let a = authorizer_of(&to(&http, "/p?q=1", t("allow-p")));
    assert_eq!(a["lambda"]["calls"], 1, "{a}");
    let event: Value = serde_json::from_str(a["lambda"]["event"].as_str().unwrap()).unwrap();
    assert_eq!(event["type"], "REQUEST", "{event}");
    assert_eq!(event["identitySource"], json!(["allow-p", "1"]), "{event}");
    assert_eq!(event["routeKey"], "GET /p", "{event}");
    assert_eq!(event["rawQueryString"], "q=1", "{event}");
    assert_eq!(event["version"], "2.0", "{event}");
    assert!(
        event["routeArn"]
            .as_str()
            .is_some_and(|a| a.ends_with(&format!(":{http}/$default/GET/p"))),
        "{event}"
    );
    assert!(event.get("body").is_none(), "{event}");
    let a = authorizer_of(&to(&http, "/p?q=1", t("allow-p")));
    assert_eq!(a["lambda"]["calls"], 2, "TTL 0 disables the cache: {a}");
    assert_error(
        &to(&http, "/p?q=1", t("deny-p")),
        403,
        "message",
        json!("Forbidden"),
        None,
    );

    // 1.0: the REST-shaped event and principal.
    let a = authorizer_of(&to(&http, "/one", t("allow-one")));
    assert_eq!(a["principalId"], "user-allow-one", "{a}");
    assert_eq!(a["calls"], 1, "{a}");
    assert_eq!(a["num"], 7, "{a}");
    let event: Value = serde_json::from_str(a["event"].as_str().unwrap()).unwrap();
    assert_eq!(event["version"], "1.0", "{event}");
    assert_eq!(event["type"], "REQUEST", "{event}");
    assert_eq!(event["identitySource"], "allow-one", "{event}");
    assert_eq!(event["authorizationToken"], "allow-one", "{event}");
    assert_eq!(event["headers"]["x-token"], "allow-one", "{event}");
    assert!(event["methodArn"]
        .as_str()
        .is_some_and(|a| a.ends_with("/$default/GET/one")));
    let a = authorizer_of(&to(&http, "/one", t("allow-one")));
    assert_eq!(a["calls"], 1, "cached: {a}");
    // `$context.authorizer.*` in HTTP API parameter mapping.
    let r = to(&http, "/h", t("allow-h"));
    assert_eq!(r.status, 200, "{r}");
    let e = r.json();
    assert_eq!(e["headers"]["x-principal"], json!(["user-allow-h"]), "{e}");
    assert_eq!(e["headers"]["x-auth-token"], json!(["allow-h"]), "{e}");

    // Failures, in HTTP API's words.
    assert_error(
        &to(&http, "/one", t("unauthorized")),
        401,
        "message",
        json!("Unauthorized"),
        None,
    );
    for token in ["error", "malformed"] {
        let r = to(&http, "/one", t(token));
        assert_error(&r, 500, "message", json!("Internal Server Error"), None);
    }

    // --- REST TOKEN: AWS's bodies and error types, the default TTL (300 s), the validation
    // expression (refused without a call), a customised UNAUTHORIZED response.
    let auth = |v| Some(("authorization", v));
    let r = to(&rest, "/prod/pets", None);
    assert_eq!(r.status, 401, "{r}");
    assert_eq!(r.json(), json!({"custom": "Unauthorized"}), "{r}");
    let r = to(&rest, "/prod/pets", auth("allow-Upper"));
    assert_eq!(
        r.json(),
        json!({"custom": "Unauthorized"}),
        "not valid: {r}"
    );
    let a = authorizer_of(&to(&rest, "/prod/pets", auth("allow-t")));
    assert_eq!(a["principalId"], "user-allow-t", "{a}");
    assert_eq!(a["calls"], 1, "{a}");
    let event: Value = serde_json::from_str(a["event"].as_str().unwrap()).unwrap();
    assert_eq!(event["type"], "TOKEN", "{event}");
    assert_eq!(event["authorizationToken"], "allow-t", "{event}");
    assert!(
        event["methodArn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:execute-api:")
                && a.ends_with(&format!(":{rest}/prod/GET/pets"))),
        "{event}"
    );
    let a = authorizer_of(&to(&rest, "/prod/pets", auth("allow-t")));
    assert_eq!(a["calls"], 1, "cached: {a}");
    // FlushStageAuthorizersCache: the next request calls the function again, then is cached.
    let flush = |stage: &str| {
        let path = format!("/restapis/{rest}/stages/{stage}/cache/authorizers");
        gw.admin_call("DELETE", &path, b"")
    };
    let r = flush("prod");
    assert_eq!(r.status, 202, "{r}");
    let a = authorizer_of(&to(&rest, "/prod/pets", auth("allow-t")));
    assert_eq!(a["calls"], 2, "flushed: {a}");
    let a = authorizer_of(&to(&rest, "/prod/pets", auth("allow-t")));
    assert_eq!(a["calls"], 2, "cached again: {a}");
    let r = flush("nope");
    assert_error(
        &r,
        404,
        "message",
        json!("Invalid Stage identifier specified"),
        Some("NotFoundException"),
    );
    let r = to(&rest, "/prod/pets", auth("deny-t"));
    assert_error(
        &r,
        403,
        "Message",
        json!("User is not authorized to access this resource with an explicit deny"),
        Some("AccessDeniedException"),
    );
    let r = to(&rest, "/prod/pets", auth("unauthorized"));
    assert_eq!(r.json(), json!({"custom": "Unauthorized"}), "{r}");
    let r = to(&rest, "/prod/pets", auth("error"));
    assert_error(
        &r,
        500,
        "message",
        Value::Null,
        Some("AuthorizerConfigurationException"),
    );
    // `$context.authorizer.*` in a mapping template.
    let r = to(&rest, "/prod/mock", auth("allow-m"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        r.json(),
        json!({"p": "user-allow-m", "n": "7", "b": "7", "f": 1}),
        "{r}"
    );

    // A cached policy naming only GET /pets refuses POST /pets until it expires (AWS's rule).
    assert_eq!(to(&rest, "/prod/pets", auth("method-1")).status, 200);
    let post = Request::post("/prod/pets", b"{}".to_vec())
        .host(&gw.host(&rest))
        .header("authorization", "method-1");
    let r = c.request(&post);
    assert_error(
        &r,
        403,
        "Message",
        json!("User is not authorized to access this resource"),
        Some("AccessDeniedException"),
    );

    // A per-request context variable is no identity source (AWS's 400 at CreateAuthorizer).
    let r = gw.admin_call(
        "POST",
        &format!("/restapis/{rest}/authorizers"),
        json!({"name": "bad", "type": "REQUEST", "authorizerUri": AUTHORIZER_URI,
               "identitySource": "method.request.header.x-token, context.requestId"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("BadRequestException"),
        "{r}"
    );
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("Invalid identity source 'context.requestId'"),
        "{message}"
    );

    // --- REST REQUEST: header, query string and context variables; the REST-shaped event
    // without a body.
    let mut to = |path: &str, token: Option<&str>| {
        let mut req = Request::get(path).host(&gw.host(&rest));
        if let Some(v) = token {
            req = req.header("x-token", v).header("authorization", v);
        }
        c.request(&req)
    };
    assert_eq!(to("/prod/req", Some("allow-r")).status, 401, "no q");
    let a = authorizer_of(&to("/prod/req?q=2", Some("allow-r")));
    let event: Value = serde_json::from_str(a["event"].as_str().unwrap()).unwrap();
    assert_eq!(event["type"], "REQUEST", "{event}");
    assert_eq!(event["httpMethod"], "GET", "{event}");
    assert_eq!(event["resource"], "/req", "{event}");
    assert_eq!(event["queryStringParameters"], json!({"q": "2"}), "{event}");
    assert_eq!(event["requestContext"]["stage"], "prod", "{event}");
    assert!(
        event.get("body").is_none() && event.get("version").is_none(),
        "{event}"
    );

    // --- usageIdentifierKey is the API key (apiKeySource AUTHORIZER).
    let r = to("/prod/key", Some("key-authorizerkey0123456789ab"));
    assert_eq!(r.status, 200, "{r}");
    let e = r.json();
    assert_eq!(
        e["requestContext"]["identity"]["apiKey"], "authorizerkey0123456789ab",
        "{e}"
    );
    let r = to("/prod/key", Some("allow-nokey"));
    assert_error(
        &r,
        403,
        "message",
        json!("Forbidden"),
        Some("ForbiddenException"),
    );

    // Last (the function sleeps through it, and `cargo lambda` runs one instance): a slow
    // authorizer is cut at --authorizer-timeout-ms, with a 500.
    let started = Instant::now();
    let r = gw.call(
        &Request::get("/one")
            .host(&gw.host(&http))
            .header("x-token", "slow"),
    );
    assert_error(&r, 500, "message", json!("Internal Server Error"), None);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2900),
        "{took:?}"
    );
}
