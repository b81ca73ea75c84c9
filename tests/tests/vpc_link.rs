//! VPC links end to end: both control planes' CRUD, integrations balancing across a pool of
//! three mock upstreams (round robin and least outstanding), a target killed under a fixed-rate
//! load (ejected, no failure beyond the requests in flight, back after it recovers through the
//! active checks), every target down (503 at once), and unknown link ids refused (400).

use std::time::{Duration, Instant};

use portico_tests::*;
use serde_json::{json, Value};

#[track_caller]
fn admin(gw: &Gateway, method: &str, path: &str, body: Value) -> Value {
    let r = gw.admin_call(method, path, body.to_string().as_bytes());
    assert!(
        (200..300).contains(&r.status),
        "{method} {path} {body}: {r}"
    );
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

/// An HTTP API whose `$default` route goes through v2 link `link` to `targets`; its id.
fn http_api(gw: &Gateway, link: &str, targets: &[String]) -> String {
    let api = admin(
        gw,
        "POST",
        "/v2/apis",
        json!({"name": "pool", "protocolType": "HTTP"}),
    );
    let id = api["apiId"].as_str().expect("an id").to_string();
    let i = admin(
        gw,
        "POST",
        &format!("/v2/apis/{id}/integrations"),
        json!({"integrationType": "HTTP_PROXY", "integrationMethod": "ANY",
               "payloadFormatVersion": "1.0", "connectionType": "VPC_LINK", "connectionId": link,
               "integrationUri": format!("http://{}/", targets.join(",")),
               "timeoutInMillis": 2000}),
    );
    let target = format!(
        "integrations/{}",
        i["integrationId"].as_str().expect("an id")
    );
    admin(
        gw,
        "POST",
        &format!("/v2/apis/{id}/routes"),
        json!({"routeKey": "$default", "target": target}),
    );
    admin(
        gw,
        "POST",
        &format!("/v2/apis/{id}/stages"),
        json!({"stageName": "$default", "autoDeploy": true}),
    );
    id
}

fn v2_link(gw: &Gateway, tags: Value) -> String {
    let l = admin(
        gw,
        "POST",
        "/v2/vpclinks",
        json!({"name": "pool", "subnetIds": ["subnet-1"], "tags": tags}),
    );
    assert_eq!(l["vpcLinkStatus"], "AVAILABLE");
    assert_eq!(l["vpcLinkVersion"], "V2");
    l["vpcLinkId"].as_str().expect("an id").to_string()
}

/// Requests each upstream got from clients (health checks left out).
fn counts(ups: &[&MockUpstream]) -> Vec<usize> {
    ups.iter().map(|u| served(u)).collect()
}

fn served(u: &MockUpstream) -> usize {
    u.requests().iter().filter(|r| r.path != "/health").count()
}

#[test]
fn round_robin_survives_a_dead_target_and_takes_it_back() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let a = MockUpstream::start(Behaviour::Echo);
    let mut b = Some(MockUpstream::start(Behaviour::Echo));
    let c = MockUpstream::start(Behaviour::Echo);
    let b_addr = b.as_ref().unwrap().addr();
    let link = v2_link(
        &gw,
        json!({"portico:healthCheckIntervalMs": "200", "portico:healthCheckPath": "/health",
               "portico:healthyThreshold": "2",
               "portico:unhealthyThreshold": "2", "portico:ejectMs": "500"}),
    );
    let targets = [a.authority(), b_addr.to_string(), c.authority()];
    let api = http_api(&gw, &link, &targets);

    // One connection: one worker, whose round robin visits each target in turn.
    let mut client = gw.client();
    let req = Request::get("/x").host(&gw.host(&api));
    for _ in 0..30 {
        assert_eq!(client.request(&req).status, 200);
    }
    let spread = counts(&[&a, b.as_ref().unwrap(), &c]);
    eprintln!("round robin, 30 requests: {spread:?}");
    assert_eq!(spread, [10, 10, 10]);

    // Kill b a second into a 3 s fixed-rate load over 4 connections.
    let addr = gw.addr();
    let load_req = req.clone();
    let load =
        std::thread::spawn(move || fixed_rate(addr, &load_req, 200, Duration::from_secs(3), 4));
    sleep(Duration::from_secs(1));
    let before_kill = served(&a) + served(&c);
    b.take().unwrap().kill();
    let tally = load.join().unwrap();
    eprintln!("load with b killed at 1 s: {tally:?}");
    // At most the requests in flight to b when it died (one per connection) fail.
    assert!(tally.other <= 4, "{tally:?}");
    assert!(tally.ok >= 590, "{tally:?}");
    assert!(served(&a) + served(&c) > before_kill + 300);

    // Back on the same port: the active checks (`GET /health`, 200) let it in again.
    let b = MockUpstream::start_at(b_addr, Behaviour::Echo);
    eventually(Duration::from_secs(5), "b serves again", || {
        client.request(&req);
        (served(&b) > 0).then_some(())
    });
    let check = b
        .requests()
        .into_iter()
        .find(|r| r.path == "/health")
        .expect("a health check reached b");
    assert_eq!(check.header("host"), Some(b_addr.to_string().as_str()));
}

#[test]
fn least_outstanding_avoids_a_slow_target() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let slow = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(150),
        Behaviour::Echo,
    ));
    let b = MockUpstream::start(Behaviour::Echo);
    let c = MockUpstream::start(Behaviour::Echo);
    let link = v2_link(&gw, json!({"portico:balance": "LEAST_OUTSTANDING"}));
    let api = http_api(
        &gw,
        &link,
        &[slow.authority(), b.authority(), c.authority()],
    );
    let req = Request::get("/x").host(&gw.host(&api));
    let tally = fixed_rate(gw.addr(), &req, 200, Duration::from_secs(2), 6);
    let spread = counts(&[&slow, &b, &c]);
    eprintln!("least outstanding, one target 150 ms slow: {spread:?} {tally:?}");
    assert_eq!(tally.other, 0, "{tally:?}");
    // Round robin would give it a third; it gets what its slowness allows.
    let total: usize = spread.iter().sum();
    assert!(spread[0] * 5 < total, "{spread:?}");
}

#[test]
fn every_target_down_answers_503_at_once() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    // Ports that nobody listens on (bound, then released).
    let dead: Vec<String> = (0..3)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        })
        .collect();
    let link = v2_link(&gw, json!({}));
    let api = http_api(&gw, &link, &dead);
    let req = Request::get("/x").host(&gw.host(&api));
    let mut client = gw.client();
    for _ in 0..3 {
        let started = Instant::now();
        let r = client.request(&req);
        assert_gateway_error(&r, 503, "Service Unavailable");
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}

#[test]
fn control_planes_and_bad_input() {
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let up = MockUpstream::start(Behaviour::Echo);

    // v1: created 202, AVAILABLE at once; bad targets and tags are refused with every problem.
    let r = gw.admin_call(
        "POST",
        "/vpclinks",
        json!({"name": "nlb", "targetArns": [up.authority()], "tags": {"team": "a"}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 202, "{r}");
    let v1 = r.json();
    assert_eq!(v1["status"], "AVAILABLE");
    assert_eq!(v1["targetArns"], json!([up.authority()]));
    let v1_id = v1["id"].as_str().expect("an id").to_string();
    let bad = gw.admin_call(
        "POST",
        "/vpclinks",
        json!({"name": "x", "targetArns": ["arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1"],
               "tags": {"portico:balance": "RANDOM"}})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(bad.status, 400, "{bad}");
    assert!(
        bad.text().contains("host:port") && bad.text().contains("ROUND_ROBIN"),
        "{bad}"
    );
    let patched = admin(
        &gw,
        "PATCH",
        &format!("/vpclinks/{v1_id}"),
        json!({"patchOperations": [{"op": "replace", "path": "/name", "value": "renamed"}]}),
    );
    assert_eq!(patched["name"], "renamed");
    let listed = admin(&gw, "GET", "/vpclinks", Value::Null);
    assert_eq!(listed["item"].as_array().unwrap().len(), 1);
    // A v1 link is not a v2 link.
    assert_eq!(
        gw.admin_call("GET", &format!("/v2/vpclinks/{v1_id}"), b"")
            .status,
        404
    );

    // A REST API through the v1 link; an unknown link id is refused at deployment.
    let rest = admin(&gw, "POST", "/restapis", json!({"name": "r"}));
    let rest_id = rest["id"].as_str().expect("an id").to_string();
    let root = rest["rootResourceId"].as_str().expect("an id").to_string();
    let method = format!("/restapis/{rest_id}/resources/{root}/methods/GET");
    admin(&gw, "PUT", &method, json!({"authorizationType": "NONE"}));
    admin(
        &gw,
        "PUT",
        &format!("{method}/integration"),
        json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://nlb.internal/",
               "connectionType": "VPC_LINK", "connectionId": "nope1"}),
    );
    let r = gw.admin_call(
        "POST",
        &format!("/restapis/{rest_id}/deployments"),
        json!({"stageName": "prod"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("Invalid VPC link identifier"), "{r}");
    admin(
        &gw,
        "PUT",
        &format!("{method}/integration"),
        json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://nlb.internal/",
               "connectionType": "VPC_LINK", "connectionId": v1_id}),
    );
    admin(
        &gw,
        "POST",
        &format!("/restapis/{rest_id}/deployments"),
        json!({"stageName": "prod"}),
    );
    let r = gw.call(&Request::get("/prod").host(&gw.host(&rest_id)));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(up.single_request().header("host"), Some("nlb.internal"));
    // In use by a served stage: not deleted.
    assert_eq!(
        gw.admin_call("DELETE", &format!("/vpclinks/{v1_id}"), b"")
            .status,
        409
    );

    // v2: an unknown id is refused when the integration is created, as AWS does.
    let api = admin(
        &gw,
        "POST",
        "/v2/apis",
        json!({"name": "h", "protocolType": "HTTP"}),
    );
    let api_id = api["apiId"].as_str().expect("an id");
    let r = gw.admin_call(
        "POST",
        &format!("/v2/apis/{api_id}/integrations"),
        json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:1/",
               "payloadFormatVersion": "1.0", "connectionType": "VPC_LINK", "connectionId": "nope2"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(r.status, 400, "{r}");
    assert!(r.text().contains("Invalid VPC link identifier"), "{r}");
    let v2 = v2_link(&gw, json!({}));
    let got = admin(
        &gw,
        "PATCH",
        &format!("/v2/vpclinks/{v2}"),
        json!({"name": "n2"}),
    );
    assert_eq!(got["name"], "n2");
    assert_eq!(
        admin(&gw, "GET", "/v2/vpclinks", Value::Null)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        gw.admin_call("DELETE", &format!("/v2/vpclinks/{v2}"), b"")
            .status,
        202
    );
    assert_eq!(
        gw.admin_call("GET", &format!("/v2/vpclinks/{v2}"), b"")
            .status,
        404
    );
}
