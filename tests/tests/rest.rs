//! REST APIs (`apigateway` v1) end to end: configured through the admin API on AWS's paths,
//! served by the data plane: stages as the first path segment, 403 "Missing Authentication
//! Token", mocks, HTTP proxy and HTTP (mapped) integrations, API keys, usage plan throttles and
//! quotas, gateway responses.

use std::time::Duration;

use portico_tests::*;
use serde_json::{json, Value};

/// A REST API with `/pets` and `/pets/{id}`; returns (api id, resource id by path).
struct Rest {
    id: String,
    resources: std::collections::HashMap<String, String>,
}

impl Rest {
    fn create(gw: &Gateway, paths: &[&str]) -> Rest {
        let api = gw.admin_json("POST", "/restapis", json!({"name": "pets"}));
        let id = api["id"].as_str().expect("id").to_string();
        let root = api["rootResourceId"]
            .as_str()
            .expect("rootResourceId")
            .to_string();
        let mut resources = std::collections::HashMap::from([("/".to_string(), root)]);
        for path in paths {
            let (parent, part) = path.rsplit_once('/').expect("a path");
            let parent = if parent.is_empty() { "/" } else { parent };
            let parent_id = resources[parent].clone();
            let r = gw.admin_json(
                "POST",
                &format!("/restapis/{id}/resources/{parent_id}"),
                json!({"pathPart": part}),
            );
            resources.insert(path.to_string(), r["id"].as_str().expect("id").to_string());
        }
        Rest { id, resources }
    }

    fn method(
        &self,
        gw: &Gateway,
        path: &str,
        method: &str,
        key_required: bool,
        integration: Value,
        status: u16,
    ) {
        let rid = &self.resources[path];
        let base = format!("/restapis/{}/resources/{rid}/methods/{method}", self.id);
        gw.admin_json(
            "PUT",
            &base,
            json!({"authorizationType": "NONE", "apiKeyRequired": key_required}),
        );
        gw.admin_json("PUT", &format!("{base}/responses/{status}"), json!({}));
        gw.admin_json("PUT", &format!("{base}/integration"), integration);
    }

    fn deploy(&self, gw: &Gateway, stage: &str) {
        gw.admin_json(
            "POST",
            &format!("/restapis/{}/deployments", self.id),
            json!({"stageName": stage}),
        );
    }
}

fn mock(status: u16) -> Value {
    json!({
        "type": "MOCK",
        "requestTemplates": {"application/json": format!("{{\"statusCode\": {status}}}")},
    })
}

/// A mock method answering `status` with `body`.
fn mock_method(
    gw: &Gateway,
    rest: &Rest,
    path: &str,
    method: &str,
    key: bool,
    status: u16,
    body: &str,
) {
    rest.method(gw, path, method, key, mock(status), status);
    let rid = &rest.resources[path];
    let base = format!("/restapis/{}/resources/{rid}/methods/{method}", rest.id);
    gw.admin_json(
        "PUT",
        &format!("{base}/integration/responses/{status}"),
        json!({
            "selectionPattern": "",
            "responseTemplates": {"application/json": body},
            "responseParameters": {"method.response.header.x-mock": "'yes'"},
        }),
    );
}

fn get(gw: &Gateway, api: &str, path: &str, key: Option<&str>) -> Response {
    let mut req = Request::get(path).host(&gw.host(api));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    gw.call(&req)
}

#[track_caller]
fn assert_rest_error(r: &Response, status: u16, message: &str, error_type: &str) {
    assert_eq!(r.status, status, "{r}");
    assert_eq!(r.json(), json!({ "message": message }), "{r}");
    assert_eq!(r.header("x-amzn-errortype"), Some(error_type), "{r}");
    assert!(
        r.header("x-amzn-requestid").is_some_and(|v| v.len() == 36),
        "{r}"
    );
    assert!(r.header("x-amz-apigw-id").is_some(), "{r}");
}

#[test]
fn mock_methods_and_missing_authentication_token() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let rest = Rest::create(&gw, &["/pets"]);
    mock_method(
        &gw,
        &rest,
        "/pets",
        "GET",
        false,
        200,
        r#"{"pets":[],"stage":"$context.stage"}"#,
    );
    rest.deploy(&gw, "prod");

    let r = get(&gw, &rest.id, "/prod/pets", None);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json(), json!({"pets": [], "stage": "prod"}));
    assert_eq!(r.header("x-mock"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-amzn-requestid").is_some());

    // Unknown resource, unknown method, unknown stage, no stage: 403, not 404.
    for (method, path) in [
        ("GET", "/prod/cats"),
        ("POST", "/prod/pets"),
        ("GET", "/dev/pets"),
        ("GET", "/pets"),
        ("GET", "/prod"),
    ] {
        let r = gw.call(&Request::new(method, path).host(&gw.host(&rest.id)));
        assert_rest_error(
            &r,
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    }
    // A change is invisible until deployed.
    mock_method(&gw, &rest, "/pets", "POST", false, 201, "{}");
    let r = gw.call(&Request::new("POST", "/prod/pets").host(&gw.host(&rest.id)));
    assert_eq!(r.status, 403, "{r}");
    rest.deploy(&gw, "prod");
    let r = gw.call(&Request::post("/prod/pets", "x").host(&gw.host(&rest.id)));
    assert_eq!(r.status, 201, "{r}");
}

#[test]
fn http_proxy_and_mapped_http_integrations() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let rest = Rest::create(&gw, &["/pets", "/pets/{id}", "/items"]);
    rest.method(
        &gw,
        "/pets/{id}",
        "GET",
        false,
        json!({
            "type": "HTTP_PROXY",
            "httpMethod": "GET",
            "uri": up.url("/animals/{petId}"),
            "requestParameters": {"integration.request.path.petId": "method.request.path.id"},
        }),
        200,
    );
    rest.method(
        &gw,
        "/items",
        "GET",
        false,
        json!({
            "type": "HTTP",
            "httpMethod": "POST",
            "uri": up.url("/backend"),
            "requestParameters": {
                "integration.request.header.x-from-query": "method.request.querystring.q",
                "integration.request.querystring.stage": "context.stage",
            },
            "requestTemplates": {"application/json": "{\"stage\":\"$context.stage\"}"},
        }),
        200,
    );
    let rid = &rest.resources["/items"];
    gw.admin_json(
        "PUT",
        &format!(
            "/restapis/{}/resources/{rid}/methods/GET/integration/responses/200",
            rest.id
        ),
        json!({
            "selectionPattern": "2\\d{2}",
            "responseParameters": {"method.response.header.x-upstream-type": "integration.response.header.content-type"},
        }),
    );
    rest.deploy(&gw, "v1");

    let r = get(&gw, &rest.id, "/v1/pets/42?x=1", None);
    assert_eq!(r.status, 200, "{r}");
    let seen = up.requests();
    let last = seen.last().expect("forwarded");
    assert_eq!(last.target, "/animals/42?x=1");

    let r = gw.call(
        &Request::get("/v1/items?q=hello%20there")
            .host(&gw.host(&rest.id))
            .header("x-not-mapped", "dropped"),
    );
    assert_eq!(r.status, 200, "{r}");
    let seen = up.requests();
    let last = seen.last().expect("forwarded");
    assert_eq!(last.method, "POST");
    assert_eq!(last.target, "/backend?stage=v1");
    assert_eq!(last.header("x-from-query"), Some("hello%20there"));
    assert_eq!(
        last.header("x-not-mapped"),
        None,
        "non-proxy forwards only mapped headers"
    );
    assert_eq!(last.body, br#"{"stage":"v1"}"#.to_vec());
    // The integration response maps an upstream header and passes the upstream body through.
    assert_eq!(r.header("x-upstream-type"), Some("application/json"), "{r}");
    assert_eq!(r.json()["path"], "/backend");
}

/// Creates a key and a plan for `rest`'s stage; returns (key value, key id, plan id).
fn key_in_plan(gw: &Gateway, rest: &Rest, stage: &str, plan: Value) -> (String, String, String) {
    let key = gw.admin_json("POST", "/apikeys", json!({"name": "k", "enabled": true}));
    let key_id = key["id"].as_str().expect("id").to_string();
    let value = key["value"].as_str().expect("value").to_string();
    let mut plan = plan;
    plan["name"] = json!("plan");
    plan["apiStages"] = json!([{"apiId": rest.id, "stage": stage}]);
    let plan = gw.admin_json("POST", "/usageplans", plan);
    let plan_id = plan["id"].as_str().expect("id").to_string();
    gw.admin_json(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    );
    (value, key_id, plan_id)
}

#[test]
fn api_keys_are_checked() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let rest = Rest::create(&gw, &["/pets", "/open"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    mock_method(&gw, &rest, "/open", "GET", false, 200, "{}");
    rest.deploy(&gw, "prod");
    let (value, key_id, _) = key_in_plan(&gw, &rest, "prod", json!({}));

    assert_eq!(get(&gw, &rest.id, "/prod/pets", Some(&value)).status, 200);
    for key in [
        None,
        Some("nope-not-a-key-value-at-all"),
        Some(&value[..value.len() - 1]),
    ] {
        assert_rest_error(
            &get(&gw, &rest.id, "/prod/pets", key),
            403,
            "Forbidden",
            "ForbiddenException",
        );
    }
    // A method without apiKeyRequired ignores keys.
    assert_eq!(get(&gw, &rest.id, "/prod/open", None).status, 200);

    // A key in no plan for this stage is refused.
    let other = gw.admin_json("POST", "/apikeys", json!({"name": "o", "enabled": true}));
    let other = other["value"].as_str().expect("value");
    assert_eq!(get(&gw, &rest.id, "/prod/pets", Some(other)).status, 403);

    // A disabled key is refused, at once.
    gw.admin_json(
        "PATCH",
        &format!("/apikeys/{key_id}"),
        json!({"patchOperations": [{"op": "replace", "path": "/enabled", "value": "false"}]}),
    );
    assert_eq!(get(&gw, &rest.id, "/prod/pets", Some(&value)).status, 403);
}

/// The acceptance figure: a plan of 100 rps burst 50, offered 300 rps for 10 s, admits
/// 100 × 10 + 50 within 2%, with one connection (one worker) and with several.
#[test]
fn usage_plan_throttle_is_exact_across_workers() {
    let gw = Gateway::spawn(&config(vec![]), &["--workers", "2"]);
    let rest = Rest::create(&gw, &["/pets"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    rest.deploy(&gw, "prod");
    for conns in [1, 6] {
        let (value, _, _) = key_in_plan(
            &gw,
            &rest,
            "prod",
            json!({"throttle": {"rateLimit": 100.0, "burstLimit": 50}}),
        );
        let req = Request::get("/prod/pets")
            .host(&gw.host(&rest.id))
            .header("x-api-key", &value);
        let t = fixed_rate(gw.addr(), &req, 300, Duration::from_secs(10), conns);
        eprintln!(
            "plan throttle conns={conns}: admitted {} throttled {} other {}",
            t.ok, t.throttled, t.other
        );
        let want = 1050.0;
        assert!(
            (t.ok as f64 - want).abs() <= want * 0.02,
            "conns={conns}: admitted {}, want {want} ± 2% ({t:?})",
            t.ok
        );
        assert_eq!(t.other, 0, "{t:?}");
        assert_eq!(
            t.throttle_bodies,
            vec![r#"{"message":"Too Many Requests"}"#.to_string()]
        );
    }
}

#[test]
fn per_key_isolation_and_quota_across_a_graceful_restart() {
    let data = TempDir::new("quota");
    let dir = data.path().join("data").display().to_string();
    let args = ["--data-dir", dir.as_str()];
    let mut gw = Gateway::spawn(&config(vec![]), &args);
    let rest = Rest::create(&gw, &["/pets"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    rest.deploy(&gw, "prod");
    let plan = json!({
        "throttle": {"rateLimit": 10000.0, "burstLimit": 5000},
        "quota": {"limit": 1000, "period": "DAY"},
    });
    let (a, a_id, plan_id) = key_in_plan(&gw, &rest, "prod", plan);
    let b = gw.admin_json("POST", "/apikeys", json!({"name": "b", "enabled": true}));
    let b_id = b["id"].as_str().expect("id").to_string();
    let b = b["value"].as_str().expect("value").to_string();
    gw.admin_json(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": b_id, "keyType": "API_KEY"}),
    );
    let host = gw.host(&rest.id);
    let mut c = gw.client();
    let call = |c: &mut Client, key: &str| {
        c.request(
            &Request::get("/prod/pets")
                .host(&host)
                .header("x-api-key", key),
        )
        .status
    };
    for _ in 0..600 {
        assert_eq!(call(&mut c, &a), 200);
    }
    drop(c);
    gw.signal("TERM");
    assert!(gw
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));

    let gw = Gateway::spawn(&config(vec![]), &args);
    let host = gw.host(&rest.id);
    let mut c = gw.client();
    let call = |c: &mut Client, key: &str| {
        c.request(
            &Request::get("/prod/pets")
                .host(&host)
                .header("x-api-key", key),
        )
    };
    for i in 0..400 {
        assert_eq!(
            call(&mut c, &a).status,
            200,
            "request {} after the restart",
            600 + i
        );
    }
    let r = call(&mut c, &a);
    assert_rest_error(&r, 429, "Limit Exceeded", "LimitExceededException");
    // Another key of the same plan has its own quota.
    assert_eq!(call(&mut c, &b).status, 200);

    // GetUsage reports what the data plane counted (flushed within a second).
    let today = {
        let r = gw.admin_json("GET", &format!("/usageplans/{plan_id}"), Value::Null);
        assert_eq!(r["id"], json!(plan_id));
        time_today()
    };
    let usage = eventually(Duration::from_secs(5), "usage flushed", || {
        let u = gw.admin_json(
            "GET",
            &format!("/usageplans/{plan_id}/usage?startDate={today}&endDate={today}"),
            Value::Null,
        );
        (u["values"][&a_id] == json!([[1000, 0]])).then_some(u)
    });
    assert_eq!(usage["values"][&b_id], json!([[1, 999]]), "{usage}");
}

/// Today's date, UTC, `YYYY-MM-DD`, from `date(1)` (the tests do not pull in a date crate).
fn time_today() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn gateway_responses_are_customisable() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let rest = Rest::create(&gw, &["/pets"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    gw.admin_json(
        "PUT",
        &format!("/restapis/{}/gatewayresponses/INVALID_API_KEY", rest.id),
        json!({
            "statusCode": "401",
            "responseParameters": {"gatewayresponse.header.x-why": "'no key'"},
            "responseTemplates": {"application/json": "{\"error\":$context.error.messageString,\"type\":\"$context.error.responseType\",\"stage\":\"$context.stage\"}"},
        }),
    );
    gw.admin_json(
        "PUT",
        &format!("/restapis/{}/gatewayresponses/DEFAULT_4XX", rest.id),
        json!({"responseParameters": {"gatewayresponse.header.x-default": "'4xx'"}}),
    );
    rest.deploy(&gw, "prod");
    let r = get(&gw, &rest.id, "/prod/pets", None);
    assert_eq!(r.status, 401, "{r}");
    assert_eq!(r.header("x-why"), Some("no key"));
    assert_eq!(
        r.json(),
        json!({"error": "Forbidden", "type": "INVALID_API_KEY", "stage": "prod"})
    );
    // Other 4xx types fall back to DEFAULT_4XX's headers, with their own status and body.
    let r = get(&gw, &rest.id, "/prod/nothing", None);
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.header("x-default"), Some("4xx"));
    assert_eq!(r.json(), json!({"message": "Missing Authentication Token"}));
}

#[test]
fn plan_method_throttle_and_per_key_buckets() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let rest = Rest::create(&gw, &["/pets", "/toys"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    mock_method(&gw, &rest, "/toys", "GET", true, 200, "{}");
    rest.deploy(&gw, "prod");
    let plan = json!({"throttle": {"rateLimit": 1.0, "burstLimit": 4}});
    let (a, _, plan_id) = key_in_plan(&gw, &rest, "prod", plan);
    // A per-method throttle for GET /pets in this plan's stage: burst 2.
    gw.admin_json(
        "PATCH",
        &format!("/usageplans/{plan_id}"),
        json!({"patchOperations": [
            {"op": "replace", "path": format!("/apiStages/{}:prod/throttle/~1pets/GET/rateLimit", rest.id), "value": "1"},
            {"op": "replace", "path": format!("/apiStages/{}:prod/throttle/~1pets/GET/burstLimit", rest.id), "value": "2"}]}),
    );
    let b = gw.admin_json("POST", "/apikeys", json!({"name": "b", "enabled": true}));
    gw.admin_json(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": b["id"], "keyType": "API_KEY"}),
    );
    let b = b["value"].as_str().expect("value").to_string();
    let statuses = |key: &str, path: &str, n: usize| -> Vec<u16> {
        (0..n)
            .map(|_| get(&gw, &rest.id, path, Some(key)).status)
            .collect()
    };
    // Key a: GET /pets stops after the method's burst of 2; the plan's per-key burst of 4 is
    // shared with GET /toys, which gets the 2 tokens the refused requests gave back.
    assert_eq!(statuses(&a, "/prod/pets", 3), vec![200, 200, 429]);
    assert_eq!(statuses(&a, "/prod/toys", 3), vec![200, 200, 429]);
    // Key b has buckets of its own.
    assert_eq!(statuses(&b, "/prod/pets", 3), vec![200, 200, 429]);
    let r = get(&gw, &rest.id, "/prod/toys", Some(&a));
    assert_rest_error(&r, 429, "Too Many Requests", "TooManyRequestsException");
}

/// Seconds from now to the next 00:00 UTC.
fn secs_to_midnight() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    86_400 - now % 86_400
}

#[test]
fn quota_period_rolls_over_at_midnight_utc() {
    // The gateway's clock reads 6 to 7 s before midnight UTC when `t0` is taken.
    let t0 = std::time::Instant::now();
    let offset = (secs_to_midnight() - 7).to_string();
    let gw = Gateway::spawn(&config(vec![]), &["--clock-offset-secs", offset.as_str()]);
    let rest = Rest::create(&gw, &["/pets"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    rest.deploy(&gw, "prod");
    let (key, _, _) = key_in_plan(
        &gw,
        &rest,
        "prod",
        json!({"quota": {"limit": 3, "period": "DAY"}}),
    );
    for _ in 0..3 {
        assert_eq!(get(&gw, &rest.id, "/prod/pets", Some(&key)).status, 200);
    }
    let r = get(&gw, &rest.id, "/prod/pets", Some(&key));
    assert_rest_error(&r, 429, "Limit Exceeded", "LimitExceededException");
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "setup took {:?}: too slow to test the rollover before midnight",
        t0.elapsed()
    );
    // Past midnight: a new period, a new quota.
    sleep(Duration::from_millis(7_500).saturating_sub(t0.elapsed()));
    assert_eq!(get(&gw, &rest.id, "/prod/pets", Some(&key)).status, 200);
}

#[test]
fn kill_9_loses_at_most_one_flush_interval_of_counts() {
    let data = TempDir::new("kill9");
    let dir = data.path().join("data").display().to_string();
    let args = ["--data-dir", dir.as_str()];
    let gw = Gateway::spawn(&config(vec![]), &args);
    let rest = Rest::create(&gw, &["/pets"]);
    mock_method(&gw, &rest, "/pets", "GET", true, 200, "{}");
    rest.deploy(&gw, "prod");
    let (key, key_id, plan_id) = key_in_plan(
        &gw,
        &rest,
        "prod",
        json!({"quota": {"limit": 100000, "period": "MONTH"}}),
    );
    let host = gw.host(&rest.id);
    let mut c = gw.client();
    for _ in 0..300 {
        let r = c.request(
            &Request::get("/prod/pets")
                .host(&host)
                .header("x-api-key", &key),
        );
        assert_eq!(r.status, 200);
    }
    // One flush interval (1 s) and a margin: everything counted so far is on disk.
    sleep(Duration::from_millis(1_500));
    gw.signal("KILL");
    drop(gw);

    let gw = Gateway::spawn(&config(vec![]), &args);
    let today = time_today();
    let u = gw.admin_json(
        "GET",
        &format!("/usageplans/{plan_id}/usage?startDate={today}&endDate={today}"),
        Value::Null,
    );
    assert_eq!(u["values"][&key_id], json!([[300, 100000 - 300]]), "{u}");
}
