//! Lambda proxy integrations (`AWS_PROXY`) end to end: a real `lambda_http` function behind
//! `cargo lambda watch` (Lambda's Invoke API), reached through HTTP APIs (payload 1.0 and 2.0)
//! and a REST API; and a mock Invoke endpoint for what a real function cannot easily do
//! (malformed answers, Lambda's function-error header, Invoke API errors), for the request
//! Portico sends (path, signature) and for a dead endpoint.

use std::time::{Duration, Instant};

use portico_tests::*;
use serde_json::{json, Value};

const INVOCATION_URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:portico-lambda-fn/invocations";

fn lambda_integration(id: &str, uri: &str, version: &str, timeout_ms: u32) -> Value {
    json!({"integrationId": id, "integrationType": "AWS_PROXY", "integrationUri": uri,
           "payloadFormatVersion": version, "timeoutInMillis": timeout_ms})
}

/// HTTP API `lam1`: payload 2.0 under `/v2/...`, 1.0 under `/v1/...`, a 500 ms timeout on
/// `/slow`; stage `$default` with variable `v`.
fn http_api_config() -> String {
    config(vec![json!({
        "apiId": "lam1", "protocolType": "HTTP",
        "routes": [
            route("GET /v2/items/{id}", "i2"),
            route("POST /v2/bin", "i2"),
            route("ANY /v1/{proxy+}", "i1"),
            route("GET /slow", "i3"),
        ],
        "integrations": [
            lambda_integration("i1", INVOCATION_URI, "1.0", 30_000),
            lambda_integration("i2", FUNCTION_ARN, "2.0", 30_000),
            lambda_integration("i3", FUNCTION_ARN, "2.0", 500),
        ],
        "stages": [{"stageName": "$default", "stageVariables": {"v": "1"}}],
    })])
}

#[track_caller]
fn admin(gw: &Gateway, method: &str, path: &str, body: Value) -> Value {
    let r = gw.admin_call(method, path, body.to_string().as_bytes());
    assert!((200..300).contains(&r.status), "{method} {path}: {r}");
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

/// A REST API with `ANY /{proxy+}` → the function (`AWS_PROXY`), `application/octet-stream`
/// as binary media type, deployed to `prod`. Returns its id.
fn rest_api(gw: &Gateway, timeout_ms: u32) -> String {
    let api = admin(
        gw,
        "POST",
        "/restapis",
        json!({"name": "lam", "binaryMediaTypes": ["application/octet-stream"]}),
    );
    let id = api["id"].as_str().expect("id").to_string();
    let root = api["rootResourceId"].as_str().expect("root").to_string();
    let r = admin(
        gw,
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        json!({"pathPart": "{proxy+}"}),
    );
    let rid = r["id"].as_str().expect("id");
    let base = format!("/restapis/{id}/resources/{rid}/methods/ANY");
    admin(gw, "PUT", &base, json!({"authorizationType": "NONE"}));
    admin(
        gw,
        "PUT",
        &format!("{base}/integration"),
        json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": INVOCATION_URI,
               "timeoutInMillis": timeout_ms}),
    );
    admin(
        gw,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    );
    id
}

/// A REST gateway response: status, `{"message"}`, REST's request id header.
#[track_caller]
fn assert_rest_error(r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "{r}");
    assert_eq!(r.json()["message"], message, "{r}");
    assert!(r.header("x-amzn-requestid").is_some(), "{r}");
    assert!(r.header("x-amzn-errortype").is_some(), "{r}");
}

fn to(gw: &Gateway, api: &str, req: Request) -> Response {
    gw.call(&req.host(&gw.host(api)))
}

#[test]
fn lambda_http_function_through_http_and_rest_apis() {
    assert!(
        LambdaFn::available(),
        "cargo lambda is not installed: pip install cargo-lambda (tools/test.sh does)"
    );
    let f = LambdaFn::start();
    eprintln!(
        "cargo lambda watch served the function after {:?}",
        f.started_in
    );
    let endpoint = f.endpoint();
    let gw = Gateway::spawn_env(
        &http_api_config(),
        &[],
        &[
            ("AWS_ENDPOINT_URL_LAMBDA", &endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
    );

    // Payload 2.0: path parameters, repeated query parameters, cookies, stage variables.
    let r = to(
        &gw,
        "lam1",
        Request::get("/v2/items/4%202?a=1&a=2&b=x%20y")
            .header("cookie", "c1=v1; c2=v2")
            .header("x-multi", "m1")
            .header("x-multi", "m2")
            .header("user-agent", "portico-test"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-fn"), Some("portico-lambda-fn"));
    assert!(r.header("apigw-requestid").is_some(), "{r}");
    let e: Value = r.json();
    assert_eq!(e["kind"], "v2", "{e}");
    assert_eq!(e["method"], "GET");
    assert_eq!(e["pathParameters"], json!({"id": "4 2"}));
    assert_eq!(e["stageVariables"], json!({"v": "1"}));
    assert_eq!(e["query"]["b"], json!(["x y"]), "{e}");
    assert_eq!(e["headers"]["x-multi"], json!(["m1,m2"]), "{e}");
    // lambda_http joins the event's `cookies` back into one header with `;`.
    assert_eq!(e["headers"]["cookie"], json!(["c1=v1;c2=v2"]), "{e}");
    let cx = &e["requestContext"];
    assert_eq!(cx["apiId"], "lam1");
    assert_eq!(cx["stage"], "$default");
    assert_eq!(cx["routeKey"], "GET /v2/items/{id}");
    assert_eq!(cx["http"]["method"], "GET");
    assert_eq!(cx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(cx["http"]["userAgent"], "portico-test");
    assert_eq!(cx["domainPrefix"], "lam1");
    assert!(
        cx["timeEpoch"].as_i64().unwrap_or(0) > 1_700_000_000_000,
        "{cx}"
    );

    // Payload 1.0 on an HTTP API: multi-value headers and query strings.
    let r = to(
        &gw,
        "lam1",
        Request::post("/v1/a/b?q=1&q=2", b"hello".to_vec())
            .header("content-type", "text/plain")
            .header("x-fn-cookies", "1"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        r.header_all("set-cookie"),
        vec!["a=1; Path=/", "b=2"],
        "{r}"
    );
    let e: Value = r.json();
    assert_eq!(e["kind"], "v1", "{e}");
    assert_eq!(e["method"], "POST");
    assert_eq!(e["pathParameters"], json!({"proxy": "a/b"}));
    assert_eq!(e["query"]["q"], json!(["1", "2"]));
    assert_eq!(e["body"], "hello");
    assert_eq!(e["requestContext"]["resourcePath"], "/v1/{proxy+}");

    // Binary bodies both ways (base64 in the event and in the answer).
    let bytes = vec![0u8, 1, 2, 0xff, b'\r', b'\n'];
    let r = to(
        &gw,
        "lam1",
        Request::post("/v2/bin", bytes.clone())
            .header("content-type", "application/octet-stream")
            .header("x-fn-binary", "1"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body, bytes);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    // Function errors and timeouts, in HTTP API's words.
    let r = to(
        &gw,
        "lam1",
        Request::get("/v2/items/1").header("x-fn-fail", "1"),
    );
    assert_gateway_error(&r, 500, "Internal Server Error");
    let started = Instant::now();
    let r = to(
        &gw,
        "lam1",
        Request::get("/slow").header("x-fn-sleep-ms", "3000"),
    );
    assert_gateway_error(&r, 503, "Service Unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // A status of the function's own.
    let r = to(
        &gw,
        "lam1",
        Request::get("/v2/items/1").header("x-fn-status", "418"),
    );
    assert_eq!(r.status, 418, "{r}");

    // REST: payload 1.0 with REST's context, multi-value headers in the answer, binary media
    // types, and REST's error wording.
    let rest = rest_api(&gw, 500);
    let r = to(
        &gw,
        &rest,
        Request::get("/prod/x/y?k=1&k=2")
            .header("x-fn-cookies", "1")
            .header("x-multi", "m1")
            .header("x-multi", "m2"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert!(r.header("x-amzn-requestid").is_some(), "{r}");
    assert_eq!(
        r.header_all("set-cookie"),
        vec!["a=1; Path=/", "b=2"],
        "{r}"
    );
    let e: Value = r.json();
    assert_eq!(e["kind"], "v1", "{e}");
    assert_eq!(e["pathParameters"], json!({"proxy": "x/y"}));
    assert_eq!(e["query"]["k"], json!(["1", "2"]));
    // lambda_http lets the event's `headers` (last value) override `multiValueHeaders`; the
    // event itself is checked in the mock endpoint test.
    assert_eq!(e["headers"]["x-multi"], json!(["m2"]), "{e}");
    let cx = &e["requestContext"];
    assert_eq!(cx["stage"], "prod");
    assert_eq!(cx["path"], "/prod/x/y");
    assert_eq!(cx["resourcePath"], "/{proxy+}");
    assert_eq!(cx["httpMethod"], "GET");
    assert_eq!(cx["identity"]["sourceIp"], "127.0.0.1");
    assert!(
        cx["resourceId"].as_str().is_some_and(|s| !s.is_empty()),
        "{cx}"
    );
    let r = to(
        &gw,
        &rest,
        Request::post("/prod/bin", bytes.clone())
            .header("content-type", "application/octet-stream")
            .header("accept", "application/octet-stream")
            .header("x-fn-binary", "1"),
    );
    assert_eq!((r.status, &r.body), (200, &bytes), "{r}");
    let r = to(&gw, &rest, Request::get("/prod/x").header("x-fn-fail", "1"));
    assert_rest_error(&r, 502, "Internal server error");
    let r = to(
        &gw,
        &rest,
        Request::get("/prod/x").header("x-fn-sleep-ms", "3000"),
    );
    assert_rest_error(&r, 504, "Endpoint request timed out");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("InternalServerErrorException")
    );

    // Warm round trips through the gateway to the function, sequential.
    let mut client = gw.client();
    let req = Request::get("/v2/items/1").host(&gw.host("lam1"));
    let mut us: Vec<u128> = (0..300)
        .map(|_| {
            let t = Instant::now();
            let r = client.request(&req);
            assert_eq!(r.status, 200);
            t.elapsed().as_micros()
        })
        .collect();
    us.sort_unstable();
    eprintln!(
        "warm round trip gateway → cargo lambda watch → function: p50 {} µs, p99 {} µs (300 sequential, debug build)",
        us[us.len() / 2],
        us[us.len() * 99 / 100]
    );
}

/// A mock Invoke endpoint answering `body` (with `headers`).
fn stub(status: u16, headers: &[(&str, &str)], body: &str) -> Behaviour {
    Behaviour::Fixed {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn invoke_requests_answers_and_failures_against_a_mock_endpoint() {
    let up = MockUpstream::start(stub(
        200,
        &[],
        r#"{"statusCode":201,"headers":{"a":"b","n":1},"multiValueHeaders":{"m":["1","2"]},"body":"aGk=","isBase64Encoded":true}"#,
    ));
    let endpoint = format!("http://{}", up.addr());
    let gw = Gateway::spawn_env(
        &http_api_config(),
        &[],
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
        ],
    );
    let r = to(
        &gw,
        "lam1",
        Request::get("/v1/x?q=1&q=2&r=%2F")
            .header("x-multi", "m1")
            .header("x-multi", "m2")
            .header("x-forwarded-for", "10.0.0.1"),
    );
    assert_eq!(r.status, 201, "{r}");
    assert_eq!((r.header("a"), r.header("n")), (Some("b"), Some("1")));
    assert_eq!(r.header_all("m"), vec!["1", "2"]);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, b"hi");
    // What the Invoke API received: the function by name, signed for lambda in the ARN's
    // region, the 1.0 event as the payload.
    let call = up.single_request();
    assert_eq!(call.method, "POST");
    assert_eq!(
        call.target,
        "/2015-03-31/functions/portico-lambda-fn/invocations"
    );
    assert_eq!(
        call.header("x-amz-invocation-type"),
        Some("RequestResponse")
    );
    assert_eq!(call.header("x-amz-security-token"), Some("session"));
    let auth = call.header("authorization").unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/us-east-1/lambda/aws4_request"),
        "{auth}"
    );
    let event: Value = serde_json::from_slice(&call.body).expect("the event is JSON");
    assert_eq!(event["version"], "1.0");
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["path"], "/v1/x");
    assert_eq!(event["body"], Value::Null);
    assert_eq!(event["headers"]["x-multi"], "m2");
    assert_eq!(event["multiValueHeaders"]["x-multi"], json!(["m1", "m2"]));
    // API Gateway's forwarding headers: the client's list then the peer.
    assert_eq!(event["headers"]["X-Forwarded-For"], "10.0.0.1, 127.0.0.1");
    assert_eq!(event["headers"]["X-Forwarded-Proto"], "http");
    assert_eq!(
        event["multiValueHeaders"]["X-Forwarded-For"],
        json!(["10.0.0.1, 127.0.0.1"])
    );
    assert!(event["headers"].get("x-forwarded-for").is_none(), "{event}");
    assert_eq!(event["queryStringParameters"], json!({"q": "2", "r": "/"}));
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"q": ["1", "2"], "r": ["/"]})
    );
    assert_eq!(event["pathParameters"], json!({"proxy": "x"}));
    assert_eq!(event["stageVariables"], json!({"v": "1"}));
    assert_eq!(event["requestContext"]["accountId"], "000000000000");

    // 2.0's inferred responses: JSON without statusCode is the body; a string is the body.
    up.set_behaviour(stub(200, &[], r#"{"hello":"world"}"#));
    let r = to(&gw, "lam1", Request::get("/v2/items/1"));
    assert_eq!(
        (r.status, r.text()),
        (200, r#"{"hello":"world"}"#.to_string()),
        "{r}"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    up.set_behaviour(stub(200, &[], r#""plain text""#));
    let r = to(&gw, "lam1", Request::get("/v2/items/1"));
    assert_eq!((r.status, r.text()), (200, "plain text".to_string()), "{r}");
    // 2.0 cookies become Set-Cookie lines.
    up.set_behaviour(stub(
        200,
        &[],
        r#"{"statusCode":200,"cookies":["a=1","b=2; Path=/"],"body":"ok"}"#,
    ));
    let r = to(&gw, "lam1", Request::get("/v2/items/1"));
    assert_eq!(
        r.header_all("set-cookie"),
        vec!["a=1", "b=2; Path=/"],
        "{r}"
    );

    // Malformed answers: HTTP API 500, REST 502.
    let rest = rest_api(&gw, 1000);
    for (why, body) in [
        ("not JSON", "not json"),
        ("body not a string", r#"{"statusCode":200,"body":{"a":1}}"#),
        ("unknown key", r#"{"statusCode":200,"extra":1}"#),
        ("bad status", r#"{"statusCode":99}"#),
        (
            "header with CRLF",
            r#"{"statusCode":200,"headers":{"a":"b\r\nc: d"}}"#,
        ),
    ] {
        up.set_behaviour(stub(200, &[], body));
        let r = to(&gw, "lam1", Request::get("/v1/x"));
        assert_eq!(r.status, 500, "{why}: {r}");
        let r = to(&gw, &rest, Request::get("/prod/x"));
        assert_rest_error(&r, 502, "Internal server error");
    }
    // Base64 that does not decode: HTTP APIs decode every flagged body (500); REST decodes only
    // binary media types and otherwise returns the text as it came.
    up.set_behaviour(stub(
        200,
        &[],
        r#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#,
    ));
    assert_eq!(to(&gw, "lam1", Request::get("/v1/x")).status, 500);
    let r = to(&gw, &rest, Request::get("/prod/x"));
    assert_eq!((r.status, r.text()), (200, "%%%".to_string()), "{r}");
    // Lambda's function error (200 with X-Amz-Function-Error), an Invoke API error
    // (throttled) and a slow function: AWS's answers per API type.
    let function_error = stub(
        200,
        &[("X-Amz-Function-Error", "Unhandled")],
        r#"{"errorMessage":"boom","errorType":"Error"}"#,
    );
    let throttled = stub(
        429,
        &[("x-amzn-ErrorType", "TooManyRequestsException")],
        r#"{"message":"Rate exceeded"}"#,
    );
    let slow = Behaviour::delay(Duration::from_secs(3), stub(200, &[], "{}"));
    let cases = [
        (
            "function error",
            function_error,
            "/v2/items/1",
            (500, "Internal Server Error"),
            (502, "Internal server error"),
        ),
        (
            "Invoke API error",
            throttled,
            "/v2/items/1",
            (500, "Internal Server Error"),
            (500, "Internal server error"),
        ),
        (
            "timeout",
            slow,
            "/slow",
            (503, "Service Unavailable"),
            (504, "Endpoint request timed out"),
        ),
    ];
    for (why, behaviour, http_path, (http_status, http_message), (rest_status, rest_message)) in
        cases
    {
        up.set_behaviour(behaviour);
        let r = to(&gw, "lam1", Request::get(http_path));
        assert_eq!(r.status, http_status, "{why}: {r}");
        assert_gateway_error(&r, http_status, http_message);
        let r = to(&gw, &rest, Request::get("/prod/x"));
        assert_eq!(r.status, rest_status, "{why}: {r}");
        assert_rest_error(&r, rest_status, rest_message);
    }
}

#[test]
fn a_dead_endpoint_answers_500_without_hanging() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let gw = Gateway::spawn_env(
        &http_api_config(),
        &[],
        &[("AWS_ENDPOINT_URL_LAMBDA", &endpoint)],
    );
    let rest = rest_api(&gw, 1000);
    let started = Instant::now();
    assert_gateway_error(
        &to(&gw, "lam1", Request::get("/v2/items/1")),
        500,
        "Internal Server Error",
    );
    assert_rest_error(
        &to(&gw, &rest, Request::get("/prod/x")),
        500,
        "Internal server error",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unresolvable_endpoints_and_bad_uris_are_refused_at_start() {
    // Endpoints are resolved when the configuration compiles: no DNS on the request path.
    let e = Gateway::try_spawn_env(
        &http_api_config(),
        &[],
        &[("AWS_ENDPOINT_URL_LAMBDA", "https://lambda.invalid")],
    )
    .expect_err("an endpoint that does not resolve is refused");
    assert!(
        format!("{e:#}").contains("'lambda.invalid' did not resolve"),
        "{e:#}"
    );
    let bad = config(vec![api(
        "lam2",
        vec![route("$default", "i1")],
        vec![lambda_integration(
            "i1",
            "arn:aws:lambda:us-east-1:1:function:f",
            "2.0",
            1000,
        )],
        vec![stage("$default")],
    )]);
    let e = Gateway::try_spawn_env(&bad, &[], &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")])
        .expect_err("a malformed function ARN is refused");
    assert!(
        format!("{e:#}").contains("is not a Lambda function ARN"),
        "{e:#}"
    );
}

#[test]
fn an_integration_role_is_assumed_through_sts_and_signs_the_calls() {
    let expiration = "2099-01-01T00:00:00Z";
    let sts = MockUpstream::start(stub(
        200,
        &[("content-type", "text/xml")],
        &format!("<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken><Expiration>{expiration}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"),
    ));
    let lambda = MockUpstream::start(stub(200, &[], r#"{"statusCode":200,"body":"ok"}"#));
    let role = "arn:aws:iam::123456789012:role/invoker";
    let mut integration = lambda_integration("i1", FUNCTION_ARN, "2.0", 1000);
    integration["credentialsArn"] = json!(role);
    let cfg = config(vec![api(
        "lam3",
        vec![route("$default", "i1")],
        vec![integration],
        vec![stage("$default")],
    )]);
    let gw = Gateway::spawn_env(
        &cfg,
        &[],
        &[
            (
                "AWS_ENDPOINT_URL_LAMBDA",
                &format!("http://{}", lambda.addr()),
            ),
            ("AWS_ENDPOINT_URL_STS", &format!("http://{}", sts.addr())),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
    );
    // Until STS answered the call fails (500); then the role's credentials sign it.
    eventually(Duration::from_secs(10), "the role is assumed", || {
        (to(&gw, "lam3", Request::get("/x")).status == 200).then_some(())
    });
    let call = lambda.requests().pop().expect("an invocation");
    let auth = call.header("authorization").unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIAROLE/"),
        "{auth}"
    );
    assert_eq!(call.header("x-amz-security-token"), Some("role-token"));
    // The AssumeRole call: STS's Query protocol, signed for sts with the environment's keys.
    let assume = sts.requests().first().cloned().expect("an AssumeRole call");
    let body = String::from_utf8_lossy(&assume.body).to_string();
    assert!(
        body.starts_with("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Finvoker&"),
        "{body}"
    );
    let auth = assume.header("authorization").unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/sts/aws4_request"),
        "{auth}"
    );
    // Credentials valid for long are not asked for again.
    sleep(Duration::from_millis(500));
    assert_eq!(sts.request_count(), 1);
}

/// The same `lambda_http` function, hosted by Portico this time: `CreateFunction` with a
/// `provided.al2023` zip whose `bootstrap` runs the built binary (it finds Portico's Runtime API
/// in `AWS_LAMBDA_RUNTIME_API`), then an HTTP API (payload 2.0 and 1.0) and a REST API whose
/// integrations name it. lambda_http deserializes each event into `aws_lambda_events`' strict
/// types (`ApiGatewayV2httpRequest`, `ApiGatewayProxyRequest`): an event that does not fit them
/// is a function error (500/502), so the echoed `kind` proves the shape.
#[test]
fn lambda_http_function_hosted_by_portico_through_http_and_rest_apis() {
    use base64::Engine as _;
    let bin = LambdaFn::build_binary();
    let bootstrap = format!("#!/bin/sh\nexec '{}'\n", bin.display());
    let zip = zip_stored(&[("bootstrap", 0o755, bootstrap.as_bytes())]);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let created = admin(
        &gw,
        "POST",
        "/2015-03-31/functions",
        json!({"FunctionName": FUNCTION, "Runtime": "provided.al2023",
               "Role": "arn:aws:iam::000000000000:role/fn", "Handler": "bootstrap", "Timeout": 1,
               "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)}}),
    );
    assert_eq!(created["State"], "Active", "{created}");
    // The function exists before the APIs are deployed: integrations naming it are compiled
    // to Portico's own Invoke API (no AWS endpoint or credentials in this gateway's env).
    let r = gw.put_config(&http_api_config());
    assert_eq!(r.status, 200, "{r}");

    let r = to(
        &gw,
        "lam1",
        Request::get("/v2/items/7?a=1&a=2").header("cookie", "c1=v1"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-fn"), Some("portico-lambda-fn"));
    let e: Value = r.json();
    assert_eq!(e["kind"], "v2", "{e}");
    assert_eq!(e["pathParameters"], json!({"id": "7"}));
    assert_eq!(e["query"]["a"], json!(["1", "2"]), "{e}");
    assert_eq!(e["stageVariables"], json!({"v": "1"}));
    assert_eq!(e["requestContext"]["routeKey"], "GET /v2/items/{id}");

    let r = to(
        &gw,
        "lam1",
        Request::post("/v1/a/b?q=1", b"hello".to_vec()).header("x-fn-cookies", "1"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header_all("set-cookie"), vec!["a=1; Path=/", "b=2"]);
    let e: Value = r.json();
    assert_eq!(
        (&e["kind"], &e["body"]),
        (&json!("v1"), &json!("hello")),
        "{e}"
    );
    assert_eq!(e["requestContext"]["resourcePath"], "/v1/{proxy+}");

    let rest = rest_api(&gw, 2000);
    let r = to(&gw, &rest, Request::get("/prod/x/y?k=1&k=2"));
    assert_eq!(r.status, 200, "{r}");
    let e: Value = r.json();
    assert_eq!(e["kind"], "v1", "{e}");
    assert_eq!(e["pathParameters"], json!({"proxy": "x/y"}));
    assert_eq!(e["requestContext"]["stage"], "prod");
    assert_eq!(e["requestContext"]["resourcePath"], "/{proxy+}");
    let bytes = vec![0u8, 1, 0xff];
    let r = to(
        &gw,
        &rest,
        Request::post("/prod/bin", bytes.clone())
            .header("content-type", "application/octet-stream")
            .header("accept", "application/octet-stream")
            .header("x-fn-binary", "1"),
    );
    assert_eq!((r.status, &r.body), (200, &bytes), "{r}");

    // Errors in each API type's words: a function error, and the function's 1 s timeout
    // (Lambda's own, reported as a function error by the host).
    let r = to(
        &gw,
        "lam1",
        Request::get("/v2/items/1").header("x-fn-fail", "1"),
    );
    assert_gateway_error(&r, 500, "Internal Server Error");
    let r = to(&gw, &rest, Request::get("/prod/x").header("x-fn-fail", "1"));
    assert_rest_error(&r, 502, "Internal server error");
    let r = to(
        &gw,
        &rest,
        Request::get("/prod/x").header("x-fn-sleep-ms", "1500"),
    );
    assert_rest_error(&r, 502, "Internal server error");
    // ... and the next instance (the timed-out one was killed) serves again.
    let r = to(&gw, "lam1", Request::get("/v2/items/1"));
    assert_eq!(r.status, 200, "{r}");
}

#[test]
fn an_https_endpoint_is_served_through_the_tls_client() {
    // AWS's own Lambda endpoints are https: the Invoke call goes through the TLS upstream client
    // (the test CA trusted with `--upstream-ca-file`; SNI and certificate name `localhost`).
    let up = TlsUpstream::start(r#"{"statusCode":201,"body":"over tls"}"#);
    let ca = up.ca_file.to_str().expect("utf-8 path").to_string();
    let endpoint = format!("https://localhost:{}", up.addr.port());
    let gw = Gateway::spawn_env(
        &http_api_config(),
        &["--upstream-ca-file", &ca],
        &[("AWS_ENDPOINT_URL_LAMBDA", &endpoint)],
    );
    for _ in 0..3 {
        let r = to(&gw, "lam1", Request::get("/v2/items/1"));
        assert_eq!(r.status, 201, "{r}");
        assert_eq!(r.text(), "over tls");
    }
    assert_eq!(up.requests.load(std::sync::atomic::Ordering::SeqCst), 3);
}
