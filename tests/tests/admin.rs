//! The admin API's read side: per-route stats and gateway counters.

use std::time::Duration;

use portico_tests::*;
use serde_json::Value;

fn route_entry<'a>(stats: &'a Value, route_key: &str) -> Option<&'a Value> {
    stats["routes"]
        .as_array()?
        .iter()
        .find(|r| r["apiId"] == API && r["routeKey"] == route_key)
}

#[test]
fn stats_count_requests_per_route() {
    let up = MockUpstream::start(Behaviour::Echo);
    let teapot = MockUpstream::start(Behaviour::fixed(418, "short and stout"));
    let a = api(
        API,
        vec![
            route("GET /ok", "i1"),
            route("GET /teapot", "i2"),
            route("GET /broken", "i3"),
        ],
        vec![
            integration("i1", &up.url("")),
            integration("i2", &teapot.url("")),
            integration("i3", "http://127.0.0.1:1"),
        ],
        vec![stage("$default")],
    );
    let gw = Gateway::spawn(&config(vec![a]), &[]);
    let mut c = gw.client();
    for _ in 0..5 {
        assert_eq!(
            c.request(&Request::get("/ok").host(&gw.host(API))).status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            c.request(&Request::get("/teapot").host(&gw.host(API)))
                .status,
            418
        );
    }
    assert_eq!(
        c.request(&Request::get("/broken").host(&gw.host(API)))
            .status,
        502
    );
    assert_eq!(
        c.request(&Request::get("/nowhere").host(&gw.host(API)))
            .status,
        404
    );

    let stats = gw.wait_for_stats(Duration::from_secs(10), |s| {
        let done = |k: &str, n: u64| route_entry(s, k).and_then(|r| r["count"].as_u64()) == Some(n);
        done("GET /ok", 5) && done("GET /teapot", 2) && done("GET /broken", 1)
    });
    let ok = route_entry(&stats, "GET /ok").expect("checked above");
    assert_eq!(ok["stage"], "$default", "{ok:#}");
    assert_eq!(ok["status2xx"], 5, "{ok:#}");
    assert_eq!(ok["status4xx"], 0, "{ok:#}");
    assert_eq!(ok["status5xx"], 0, "{ok:#}");
    for field in ["p50", "p90", "p99", "p999", "max", "mean"] {
        assert!(
            ok["latencyUs"][field].is_number(),
            "latencyUs.{field} missing: {ok:#}"
        );
        assert!(
            ok["integrationLatencyUs"][field].is_number(),
            "integrationLatencyUs.{field} missing: {ok:#}"
        );
    }
    assert!(
        ok["latencyUs"]["max"].as_f64().unwrap_or(0.0) > 0.0,
        "{ok:#}"
    );
    assert!(
        ok["latencyUs"]["max"].as_f64() >= ok["latencyUs"]["p50"].as_f64(),
        "max below the median: {ok:#}"
    );
    let teapot_stats = route_entry(&stats, "GET /teapot").expect("checked above");
    assert_eq!(teapot_stats["status4xx"], 2, "{teapot_stats:#}");
    let broken = route_entry(&stats, "GET /broken").expect("checked above");
    assert_eq!(broken["status5xx"], 1, "{broken:#}");

    let counters = &stats["counters"];
    assert!(counters.is_object(), "{stats:#}");
    assert!(
        counters["requests"].as_u64().unwrap_or(0) >= 9,
        "counters.requests: {counters:#}"
    );
    assert!(
        counters["notFound"].as_u64().unwrap_or(0) >= 1,
        "counters.notFound: {counters:#}"
    );
    assert!(
        counters["connectionsAccepted"].as_u64().unwrap_or(0) >= 1,
        "counters.connectionsAccepted: {counters:#}"
    );
}

#[test]
fn stats_count_across_workers_and_stages() {
    let up = MockUpstream::start(Behaviour::Echo);
    let a = api(
        API,
        vec![route("ANY /{proxy+}", "i1")],
        vec![integration("i1", &up.url(""))],
        vec![stage("$default"), stage("prod")],
    );
    let gw = Gateway::spawn(&config(vec![a]), &["--workers", "2"]);
    // New connections spread over both workers.
    for i in 0..20 {
        assert_eq!(gw.get(API, &format!("/x/{i}")).status, 200);
    }
    for i in 0..3 {
        assert_eq!(gw.get(API, &format!("/prod/x/{i}")).status, 200);
    }
    let stats = gw.wait_for_stats(Duration::from_secs(10), |s| {
        let count = |stage: &str| {
            s["routes"].as_array().and_then(|rs| {
                rs.iter()
                    .find(|r| r["stage"] == stage && r["routeKey"] == "ANY /{proxy+}")
                    .and_then(|r| r["count"].as_u64())
            })
        };
        count("$default") == Some(20) && count("prod") == Some(3)
    });
    assert!(
        stats["routes"].as_array().is_some_and(|r| r.len() >= 2),
        "{stats:#}"
    );
}

#[test]
fn bad_requests_are_counted() {
    let (_up, gw) = echo_setup(&[]);
    let mut c = gw.client();
    c.send(b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    gw.wait_for_stats(Duration::from_secs(10), |s| {
        s["counters"]["badRequests"].as_u64().unwrap_or(0) >= 1
    });
}

/// A path that names no operation is a 400 an SDK cannot take for a missing resource; an AWS
/// operation Portico does not serve is a 400 naming it.
#[test]
fn unknown_admin_path_is_a_400_naming_no_operation() {
    let (_up, gw) = echo_setup(&[]);
    let r = gw.admin_call("GET", "/portico/nope", b"");
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("UnknownOperationException"),
        "{r}"
    );
    let r = gw.admin_call("GET", "/restapis/a1/stages/s/sdks/javascript", b"");
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
    assert_eq!(
        r.json()["message"],
        "GetSdk is not supported by Portico: SDK generation: no client SDK generator"
    );
    assert!(r.header("x-amzn-requestid").is_some(), "{r}");
}
