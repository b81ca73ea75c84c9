//! Throttling: the admitted rate across every worker matches the configured rate and burst,
//! however the connections spread over cores (HTTP API stage and route settings, the account
//! level). REST usage plan throttles and quotas are in `rest.rs`.

use std::time::Duration;

use portico_tests::*;
use serde_json::json;

/// `rate`/`burst` as the stage default, with a route that overrides it.
fn throttled_config(uri: &str, rate: f64, burst: u64) -> String {
    let mut st = stage("$default");
    st["defaultRouteSettings"] =
        json!({"throttlingRateLimit": rate, "throttlingBurstLimit": burst});
    st["routeSettings"] =
        json!({"GET /fast": {"throttlingRateLimit": 10000.0, "throttlingBurstLimit": 5000}});
    config(vec![api(
        API,
        vec![
            route("GET /slow", "i1"),
            route("GET /other", "i1"),
            route("GET /fast", "i1"),
        ],
        vec![integration("i1", uri)],
        vec![st],
    )])
}

/// The acceptance figure: 100 rps burst 50, offered 300 rps for 10 s → 100 × 10 + 50 within 2%,
/// with one connection (one worker) and with several (spread over every worker).
#[test]
fn admitted_rate_is_exact_across_workers() {
    let up = MockUpstream::start(Behaviour::fixed(200, "ok"));
    let gw = Gateway::spawn(
        &throttled_config(&up.url(""), 100.0, 50),
        &["--workers", "2"],
    );
    for conns in [1, 6] {
        let req = Request::get(if conns == 1 { "/slow" } else { "/other" }).host(&gw.host(API));
        let t = fixed_rate(gw.addr(), &req, 300, Duration::from_secs(10), conns);
        let want = 100.0 * 10.0 + 50.0;
        let got = t.ok as f64;
        eprintln!(
            "conns={conns}: admitted {} throttled {} other {}",
            t.ok, t.throttled, t.other
        );
        assert!(
            (got - want).abs() <= want * 0.02,
            "conns={conns}: admitted {got}, want {want} ± 2% ({t:?})"
        );
        assert_eq!(t.other, 0, "{t:?}");
        assert_eq!(
            t.throttle_bodies,
            vec![r#"{"message":"Too Many Requests"}"#.to_string()]
        );
    }
}

#[test]
fn burst_then_refusal_and_per_route_isolation() {
    let up = MockUpstream::start(Behaviour::fixed(200, "ok"));
    let gw = Gateway::spawn(&throttled_config(&up.url(""), 1.0, 5), &[]);
    let mut c = gw.client();
    let slow = Request::get("/slow").host(&gw.host(API));
    let statuses: Vec<u16> = (0..8).map(|_| c.request(&slow).status).collect();
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = c.request(&slow);
    assert_gateway_error(&r, 429, "Too Many Requests");
    // Another route has its own bucket; the overridden route its own limits.
    assert_eq!(
        c.request(&Request::get("/other").host(&gw.host(API)))
            .status,
        200
    );
    for _ in 0..20 {
        assert_eq!(
            c.request(&Request::get("/fast").host(&gw.host(API))).status,
            200
        );
    }
    // The connection survives a 429.
    assert!(!r.says_close());
}

/// Out of the box there is no account-level throttle (AWS's 10,000 rps is a shared service's
/// cap); a flag turns it on, and the flag not given takes AWS's value.
#[test]
fn account_limit_is_off_unless_configured() {
    let up = MockUpstream::start(Behaviour::fixed(200, "ok"));
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let started = wait_for_started(&gw);
    assert!(started.contains("account_throttle=\"off\""), "{started}");
    drop(gw);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--account-rate-limit", "7"]);
    let started = wait_for_started(&gw);
    assert!(
        started.contains("account_throttle=\"7 rps, burst 5000\""),
        "{started}"
    );
    // A burst far above 7 passes: the bucket holds AWS's default burst.
    let mut c = gw.client();
    let req = Request::get("/x").host(&gw.host(API));
    assert!((0..20).all(|_| c.request(&req).status == 200));
}

/// The `portico started` log line (stderr), waited for with a deadline.
fn wait_for_started(gw: &Gateway) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(line) = gw.stderr().lines().find(|l| l.contains("portico started")) {
            return line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no started line: {}",
            gw.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn account_limit_applies_to_every_api() {
    let up = MockUpstream::start(Behaviour::fixed(200, "ok"));
    let gw = Gateway::spawn(
        &proxy_config(&up.url("")),
        &["--account-rate-limit", "1", "--account-burst-limit", "3"],
    );
    let mut c = gw.client();
    let req = Request::get("/x").host(&gw.host(API));
    let statuses: Vec<u16> = (0..5).map(|_| c.request(&req).status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    // Refused requests reach no upstream.
    assert_eq!(up.requests().len(), 3);
}
