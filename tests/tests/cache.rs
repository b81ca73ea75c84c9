//! The REST response cache end to end: stage `cacheClusterEnabled`, method settings
//! `caching/*`, `cacheKeyParameters`, `Cache-Control: max-age=0` under each strategy,
//! `FlushStageCache`, the memory bound, request coalescing and a deployment swap that turns
//! caching off. One worker, so every request meets the same per-core shard.

use std::time::Duration;

use portico_tests::*;
use serde_json::{json, Value};

/// A REST API `/items` with GET and POST (`HTTP_PROXY` to `up`, `q` a cache key parameter),
/// deployed to `prod` with the stage cache on and `settings` patched in (`[path, value]`).
struct Cached {
    gw: Gateway,
    id: String,
}

impl Cached {
    fn new(up: &MockUpstream, extra: &[&str], settings: &[(&str, &str)]) -> Cached {
        let mut args = vec!["--workers", "1"];
        args.extend_from_slice(extra);
        let gw = Gateway::spawn(&config(vec![]), &args);
        let api = gw.admin_json("POST", "/restapis", json!({"name": "cached"}));
        let id = api["id"].as_str().expect("id").to_string();
        let root = api["rootResourceId"].as_str().expect("root").to_string();
        let r = gw.admin_json(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            json!({"pathPart": "items"}),
        );
        let rid = r["id"].as_str().expect("id");
        for method in ["GET", "POST"] {
            let base = format!("/restapis/{id}/resources/{rid}/methods/{method}");
            gw.admin_json(
                "PUT",
                &base,
                json!({"authorizationType": "NONE",
                       "requestParameters": {"method.request.querystring.q": false}}),
            );
            gw.admin_json(
                "PUT",
                &format!("{base}/integration"),
                json!({"type": "HTTP_PROXY", "httpMethod": method, "uri": up.url("/items"),
                       "cacheKeyParameters": ["method.request.querystring.q"]}),
            );
        }
        gw.admin_json(
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({"stageName": "prod", "cacheClusterEnabled": true, "cacheClusterSize": "0.5"}),
        );
        let c = Cached { gw, id };
        c.patch(settings);
        c
    }

    fn patch(&self, settings: &[(&str, &str)]) {
        if settings.is_empty() {
            return;
        }
        let ops: Vec<Value> = settings
            .iter()
            .map(|(p, v)| json!({"op": "replace", "path": p, "value": v}))
            .collect();
        self.gw.admin_json(
            "PATCH",
            &format!("/restapis/{}/stages/prod", self.id),
            json!({ "patchOperations": ops }),
        );
    }

    fn call(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::new(method, &format!("/prod{target}")).host(&self.gw.host(&self.id));
        if method == "POST" {
            req = req.body(b"{}".to_vec());
        }
        for (n, v) in headers {
            req = req.header(n, v);
        }
        self.gw.call(&req)
    }

    fn get(&self, target: &str) -> Response {
        let r = self.call("GET", target, &[]);
        assert_eq!(r.status, 200, "{r}");
        r
    }

    /// (hits, misses) of `METHOD /items` once the workers published them.
    fn counts(&self, method: &str, want: (u64, u64)) {
        let key = format!("{method} /items");
        self.gw.wait_for_stats(Duration::from_secs(5), |s| {
            s["routes"].as_array().is_some_and(|routes| {
                routes.iter().any(|r| {
                    r["routeKey"] == key.as_str()
                        && r["cacheHitCount"] == want.0
                        && r["cacheMissCount"] == want.1
                })
            })
        });
    }
}

#[test]
fn hits_within_ttl_by_key_parameters_get_only() {
    let up = MockUpstream::start(Behaviour::Echo);
    let c = Cached::new(&up, &[], &[]);
    let first = c.get("/items?q=a");
    let second = c.get("/items?q=a");
    assert_eq!(up.request_count(), 1, "a hit does not reach the upstream");
    assert_eq!(first.body, second.body);
    assert_eq!(second.header("x-amzn-requestid").map(str::len), Some(36));
    assert_ne!(
        first.header("x-amzn-requestid"),
        second.header("x-amzn-requestid"),
        "a hit gets fresh request ids"
    );
    assert_eq!(
        second.header("content-length"),
        Some(second.body.len().to_string().as_str())
    );
    // `q` is a key parameter; `other` is not.
    c.get("/items?q=b");
    assert_eq!(up.request_count(), 2);
    c.get("/items?q=a&other=1");
    c.get("/items?other=2&q=b");
    assert_eq!(up.request_count(), 2);
    // Only GET is cached by default.
    for _ in 0..2 {
        assert_eq!(c.call("POST", "/items?q=a", &[]).status, 200);
    }
    assert_eq!(up.request_count(), 4);
    c.counts("GET", (3, 2));
    // The counters reach Prometheus too.
    let text = c.gw.admin_call("GET", "/metrics", b"").text();
    assert!(
        text.contains("portico_cache_hits_total{") && text.contains("portico_cache_bytes "),
        "{text}"
    );
}

#[test]
fn expiry_after_ttl() {
    let up = MockUpstream::start(Behaviour::Echo);
    let c = Cached::new(
        &up,
        &[],
        &[
            ("/*/*/caching/enabled", "true"),
            ("/*/*/caching/ttlInSeconds", "1"),
        ],
    );
    c.get("/items?q=a");
    c.get("/items?q=a");
    assert_eq!(up.request_count(), 1);
    sleep(Duration::from_millis(1_200));
    c.get("/items?q=a");
    assert_eq!(up.request_count(), 2, "an expired entry is fetched again");
}

#[test]
fn only_small_2xx_responses_are_cached() {
    let up = MockUpstream::start(Behaviour::fixed(404, "nope"));
    let c = Cached::new(&up, &[], &[]);
    for _ in 0..2 {
        assert_eq!(c.call("GET", "/items", &[]).status, 404);
    }
    assert_eq!(up.request_count(), 2, "non-2xx is not cached");
    up.set_behaviour(Behaviour::Large {
        len: 1024 * 1024 + 1,
    });
    for _ in 0..2 {
        assert_eq!(c.get("/items").body.len(), 1024 * 1024 + 1);
    }
    assert_eq!(up.request_count(), 4, "over 1 MB is not cached");
    // Bigger than the inline limit but under 1 MB: stored from the tail and served whole.
    up.set_behaviour(Behaviour::Large { len: 300_000 });
    let fetched = c.get("/items?q=big");
    let hit = c.get("/items?q=big");
    assert_eq!(up.request_count(), 5);
    assert_eq!(fetched.body, hit.body);
    assert_eq!(hit.body, pattern(300_000));
}

#[test]
fn invalidation_allowed_and_refused_under_each_strategy() {
    let up = MockUpstream::start(Behaviour::Echo);
    let max_age_0 = [("cache-control", "max-age=0")];
    // Allowed: the requirement is off. The fresh response replaces the entry.
    let c = Cached::new(
        &up,
        &[],
        &[
            ("/*/*/caching/enabled", "true"),
            ("/*/*/caching/requireAuthorizationForCacheControl", "false"),
        ],
    );
    c.get("/items");
    let r = c.call("GET", "/items", &max_age_0);
    assert_eq!(r.status, 200);
    assert_eq!(up.request_count(), 2, "max-age=0 goes upstream");
    c.get("/items");
    assert_eq!(up.request_count(), 2, "and refreshed the entry");
    drop(c);

    // Required (no caller is authorized without IAM): each strategy. (A `*/*` setting is
    // created with `cachingEnabled: false`, as on AWS: enable it alongside.)
    for (strategy, status, warning) in [
        ("FAIL_WITH_403", 403, false),
        ("SUCCEED_WITH_RESPONSE_HEADER", 200, true),
        ("SUCCEED_WITHOUT_RESPONSE_HEADER", 200, false),
    ] {
        up.clear();
        let c = Cached::new(
            &up,
            &[],
            &[
                ("/*/*/caching/enabled", "true"),
                (
                    "/*/*/caching/unauthorizedCacheControlHeaderStrategy",
                    strategy,
                ),
            ],
        );
        c.get("/items");
        let r = c.call("GET", "/items", &max_age_0);
        assert_eq!(r.status, status, "{strategy}: {r}");
        assert_eq!(up.request_count(), 1, "{strategy}: not invalidated");
        if status == 403 {
            assert_eq!(
                r.json(),
                json!({"message": "User is not authorized to access this resource"})
            );
        }
        assert_eq!(r.header("warning").is_some(), warning, "{strategy}: {r}");
        if warning {
            assert!(r.header("warning").is_some_and(|w| w.starts_with("199 ")));
        }
    }
}

#[test]
fn flush_stage_cache() {
    let up = MockUpstream::start(Behaviour::Echo);
    let c = Cached::new(&up, &[], &[]);
    c.get("/items");
    c.get("/items");
    assert_eq!(up.request_count(), 1);
    let r = c.gw.admin_call(
        "DELETE",
        &format!("/restapis/{}/stages/prod/cache/data", c.id),
        b"",
    );
    assert_eq!(r.status, 202, "{r}");
    c.get("/items");
    assert_eq!(up.request_count(), 2, "a flushed stage misses");
    c.get("/items");
    assert_eq!(up.request_count(), 2);
    let missing = c.gw.admin_call(
        "DELETE",
        &format!("/restapis/{}/stages/nope/cache/data", c.id),
        b"",
    );
    assert_eq!(missing.status, 404, "{missing}");
}

#[test]
fn memory_bound_holds_under_a_key_flood() {
    const BOUND: u64 = 200_000;
    let up = MockUpstream::start(Behaviour::fixed(200, vec![b'x'; 2_000]));
    let c = Cached::new(
        &up,
        &["--cache-capacity-bytes-override", &BOUND.to_string()],
        &[],
    );
    for i in 0..400 {
        c.get(&format!("/items?q={i}"));
    }
    assert_eq!(up.request_count(), 400);
    let stats = c.gw.wait_for_stats(Duration::from_secs(5), |s| {
        s["counters"]["cacheEntries"].as_u64().unwrap_or(0) > 0
    });
    let bytes = stats["counters"]["cacheBytes"]
        .as_u64()
        .expect("cacheBytes");
    let entries = stats["counters"]["cacheEntries"].as_u64().expect("entries");
    assert!(bytes <= BOUND, "{bytes} bytes over the {BOUND} bound");
    assert!(
        entries < 400 && bytes > BOUND / 2,
        "{entries} entries, {bytes} bytes"
    );
}

#[test]
fn concurrent_misses_are_coalesced() {
    let up = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(400),
        Behaviour::fixed(200, "slow"),
    ));
    let c = Cached::new(&up, &[], &[]);
    let host = c.gw.host(&c.id);
    let addr = c.gw.addr();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                Client::connect(addr).request(&Request::get("/prod/items").host(&host))
            })
        })
        .collect();
    for t in threads {
        let r = t.join().expect("thread");
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.body, b"slow");
    }
    assert_eq!(up.request_count(), 1, "one request upstream for 8 misses");
    c.counts("GET", (7, 1));
}

#[test]
fn a_deployment_swap_with_caching_off_stops_hits() {
    let up = MockUpstream::start(Behaviour::Echo);
    let c = Cached::new(&up, &[], &[]);
    c.get("/items");
    c.get("/items");
    assert_eq!(up.request_count(), 1);
    c.patch(&[("/*/*/caching/enabled", "false")]);
    c.get("/items");
    c.get("/items");
    assert_eq!(up.request_count(), 3, "method caching off: no hits");
    c.patch(&[
        ("/*/*/caching/enabled", "true"),
        ("/cacheClusterEnabled", "false"),
    ]);
    c.get("/items");
    assert_eq!(up.request_count(), 4, "stage cache off: no hits");
}
