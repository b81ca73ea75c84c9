//! HTTP API parameter mapping end to end: `requestParameters` (headers, query string, path)
//! as the upstream receives them, `responseParameters` (headers, status code) as the client
//! sees them, refusal of values with CR/LF/NUL, and the admin API's validation.

use std::collections::BTreeSet;

use portico_tests::*;
use serde_json::{json, Value};

fn mapped_config(uri: &str, request: Value, response: Value) -> String {
    let mut i = integration("i1", uri);
    i["requestParameters"] = request;
    i["responseParameters"] = response;
    let mut st = stage("$default");
    st["stageVariables"] = json!({"v": "from-stage"});
    config(vec![api(
        API,
        vec![route("GET /items/{id}", "i1")],
        vec![i],
        vec![st],
    )])
}

fn query_set(q: &str) -> BTreeSet<String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn request_headers_and_query_string_are_mapped() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(
        &mapped_config(
            &up.url("/backend"),
            json!({
                "append:header.x-added": "${request.path.id}-x",
                "append:header.x-keep": "second",
                "overwrite:header.x-over": "$request.querystring.q",
                "remove:header.x-gone": "''",
                "append:header.x-stage": "$stageVariables.v",
                "append:header.x-path": "$request.path",
                "append:header.x-method": "$context.httpMethod",
                "append:querystring.added": "static value",
                "overwrite:querystring.q": "new",
                "remove:querystring.drop": "''",
            }),
            json!({}),
        ),
        &[],
    );
    let r = gw.call(
        &Request::get("/items/7?q=old%20one&drop=1&keep=2")
            .host(&gw.host(API))
            .header("x-over", "orig")
            .header("x-gone", "bye")
            .header("x-keep", "first"),
    );
    assert_eq!(r.status, 200, "{r}");
    let got = up.single_request();
    assert_eq!(got.path, "/backend");
    assert_eq!(
        query_set(&got.query),
        query_set("keep=2&added=static%20value&q=new"),
        "{}",
        got.query
    );
    assert_eq!(got.header("x-added"), Some("7-x"));
    assert_eq!(got.header_all("x-keep"), vec!["first", "second"]);
    assert_eq!(got.header_all("x-over"), vec!["old one"]);
    assert!(!got.has_header("x-gone"));
    assert_eq!(got.header("x-stage"), Some("from-stage"));
    assert_eq!(got.header("x-path"), Some("/items/7"));
    assert_eq!(got.header("x-method"), Some("GET"));

    // A missing source renders empty: nothing is sent, and an overwrite only removes.
    up.clear();
    let r = gw.call(
        &Request::get("/items/8")
            .host(&gw.host(API))
            .header("x-over", "orig"),
    );
    assert_eq!(r.status, 200, "{r}");
    let got = up.single_request();
    assert!(!got.has_header("x-over"), "{}", got.raw_head_text());
    assert_eq!(
        query_set(&got.query),
        query_set("added=static%20value&q=new")
    );
}

#[test]
fn path_is_overwritten() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(
        &mapped_config(
            &up.url("/ignored"),
            json!({"overwrite:path": "/v2/${request.path.id}/detail"}),
            json!({}),
        ),
        &[],
    );
    let r = gw.call(&Request::get("/items/42?a=b").host(&gw.host(API)));
    assert_eq!(r.status, 200, "{r}");
    let got = up.single_request();
    assert_eq!(got.target, "/v2/42/detail?a=b");
}

#[test]
fn responses_are_mapped_per_status() {
    let up = MockUpstream::start(Behaviour::Fixed {
        status: 404,
        headers: vec![
            ("x-up".into(), "secret".into()),
            ("x-drop".into(), "d".into()),
        ],
        body: b"{\"missing\":true}".to_vec(),
    });
    let gw = Gateway::spawn(
        &mapped_config(
            &up.url(""),
            json!({}),
            json!({
                "404": {
                    "overwrite:statuscode": "200",
                    "append:header.x-from-up": "$response.header.x-up",
                    "overwrite:header.x-up": "masked",
                    "remove:header.x-drop": "''",
                    "append:header.x-request": "${context.httpMethod} ${stageVariables.v}",
                },
                "500": {"overwrite:statuscode": "503"},
            }),
        ),
        &[],
    );
    let r = gw.get(API, "/items/1");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-from-up"), Some("secret"));
    assert_eq!(r.header_all("x-up"), vec!["masked"]);
    assert_eq!(r.header("x-drop"), None);
    assert_eq!(r.header("x-request"), Some("GET from-stage"));
    assert_eq!(r.text(), "{\"missing\":true}");

    // Another status: untouched.
    up.set_behaviour(Behaviour::Fixed {
        status: 201,
        headers: vec![("x-drop".into(), "d".into())],
        body: b"made".to_vec(),
    });
    let r = gw.get(API, "/items/1");
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.header("x-drop"), Some("d"));
    up.set_behaviour(Behaviour::fixed(500, "boom"));
    let r = gw.get(API, "/items/1");
    assert_eq!(r.status, 503, "{r}");
    assert_eq!(r.text(), "boom");
}

#[test]
fn values_with_cr_lf_or_nul_are_refused() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(
        &mapped_config(
            &up.url(""),
            json!({"overwrite:header.x-q": "$request.querystring.q"}),
            json!({}),
        ),
        &[],
    );
    for q in ["a%0D%0Ainjected:%201", "a%0Ab", "a%00b", "a%0Db"] {
        let r = gw.get(API, &format!("/items/1?q={q}"));
        assert_gateway_error(&r, 500, "Internal Server Error");
    }
    assert_eq!(
        up.request_count(),
        0,
        "a refused mapping reached the upstream"
    );
    // Clean values pass (decoded).
    let r = gw.get(API, "/items/1?q=a%20b");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(up.single_request().header("x-q"), Some("a b"));
}

#[test]
fn admin_api_validates_and_round_trips_mappings() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let r = gw.admin_call(
        "POST",
        "/v2/apis",
        json!({"name": "m", "protocolType": "HTTP"})
            .to_string()
            .as_bytes(),
    );
    let id = r.json()["apiId"].as_str().unwrap().to_string();
    let create = |body: Value| {
        gw.admin_call(
            "POST",
            &format!("/v2/apis/{id}/integrations"),
            body.to_string().as_bytes(),
        )
    };
    let base = json!({"integrationType": "HTTP_PROXY", "integrationUri": up.url(""),
                      "payloadFormatVersion": "1.0"});
    for (params, words) in [
        (
            json!({"requestParameters": {"overwrite:header.Host": "x"}}),
            "reserved",
        ),
        (
            json!({"requestParameters": {"append:header.Access-Control-Allow-Origin": "*"}}),
            "reserved",
        ),
        (
            json!({"requestParameters": {"append:header.apigw-x": "1"}}),
            "reserved",
        ),
        (
            json!({"requestParameters": {"append:header.x": "$request.body.a"}}),
            "not supported yet",
        ),
        (
            json!({"responseParameters": {"200": {"overwrite:statuscode": "abc"}}}),
            "status code",
        ),
    ] {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(params.as_object().unwrap().clone());
        let r = create(body.clone());
        assert_eq!(r.status, 400, "{body}: {r}");
        assert!(r.text().contains(words), "{body}: {r}");
        assert_eq!(
            r.header("x-amzn-errortype"),
            Some("BadRequestException"),
            "{r}"
        );
    }
    let mut body = base.clone();
    body["requestParameters"] = json!({"append:header.x-from": "$request.header.user-agent"});
    let r = create(body);
    assert_eq!(r.status, 201, "{r}");
    let iid = r.json()["integrationId"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (
            "POST",
            format!("/v2/apis/{id}/routes"),
            json!({"routeKey": "GET /m", "target": format!("integrations/{iid}")}),
        ),
        (
            "POST",
            format!("/v2/apis/{id}/stages"),
            json!({"stageName": "$default", "autoDeploy": true}),
        ),
    ] {
        let r = gw.admin_call(method, &path, body.to_string().as_bytes());
        assert_eq!(r.status, 201, "{r}");
    }
    let r = gw.admin_call("POST", &format!("/v2/apis/{id}/deployments"), b"{}");
    assert_eq!(r.status, 201, "{r}");
    let r = gw.call(
        &Request::get("/m")
            .host(&gw.host(&id))
            .header("User-Agent", "agent/1"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(up.single_request().header("x-from"), Some("agent/1"));
    let exported = gw.get_config().json();
    assert_eq!(
        exported["apis"][0]["integrations"][0]["requestParameters"],
        json!({"append:header.x-from": "$request.header.user-agent"})
    );
}
