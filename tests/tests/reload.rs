//! Hot reload through the admin API: atomic swaps under load, validation, and what becomes
//! visible.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portico_tests::*;
use serde_json::json;

/// Sets its flag when dropped, so that threads polling it stop even if the test panics.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A config whose single integration sends every request to `up` under `/v{version}`.
fn versioned(up: &MockUpstream, version: u32) -> String {
    config(vec![api(
        API,
        vec![route("ANY /{proxy+}", "i1"), route("$default", "i1")],
        vec![integration(
            "i1",
            &up.url(&format!("/v{version}/{{proxy}}")),
        )],
        vec![stage("$default")],
    )])
}

#[test]
fn reload_under_load_drops_no_requests() {
    const CLIENTS: usize = 4;
    const RELOADS: u32 = 6;
    let up = MockUpstream::start(Behaviour::Echo);
    // Well over AWS's default account limit (10,000 rps): lift it so only reloads can fail.
    let gw = Gateway::spawn(&versioned(&up, 0), &UNTHROTTLED);
    let stop = Arc::new(AtomicBool::new(false));
    // If an assertion below panics, the client threads must still stop.
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    // Highest version each client has seen, and when.
    let seen_versions = Arc::new(Mutex::new(Vec::<(Instant, u32)>::new()));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (addr, host) = (gw.addr(), gw.host(API));
            let (stop, failures, seen_versions) = (
                Arc::clone(&stop),
                Arc::clone(&failures),
                Arc::clone(&seen_versions),
            );
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let req = Request::get(&format!("/client{id}/req{n}")).host(&host);
                    match c.try_request(&req) {
                        Ok(r) if r.status == 200 => {
                            let path = r.json()["path"].as_str().unwrap_or_default().to_string();
                            let version = path
                                .strip_prefix("/v")
                                .and_then(|p| p.split('/').next())
                                .and_then(|v| v.parse::<u32>().ok());
                            match version {
                                Some(v) if path.ends_with(&format!("/client{id}/req{n}")) => {
                                    seen_versions
                                        .lock()
                                        .expect("lock")
                                        .push((Instant::now(), v));
                                }
                                _ => failures
                                    .lock()
                                    .expect("lock")
                                    .push(format!("client {id} #{n}: upstream path {path}")),
                            }
                        }
                        Ok(r) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("client {id} #{n}: {r}")),
                        Err(e) => {
                            failures
                                .lock()
                                .expect("lock")
                                .push(format!("client {id} #{n}: {e}"));
                            c = Client::connect(addr);
                        }
                    }
                }
                n
            })
        })
        .collect();

    sleep(Duration::from_millis(300));
    let mut generations = Vec::new();
    let mut last_put = Instant::now();
    for version in 1..=RELOADS {
        let r = gw.put_config(&versioned(&up, version));
        last_put = Instant::now();
        assert_eq!(r.status, 200, "PUT config v{version}: {r}");
        generations.push(
            r.json()["generation"]
                .as_u64()
                .unwrap_or_else(|| panic!("no generation in {r}")),
        );
        sleep(Duration::from_millis(300));
    }
    sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let total: u64 = clients
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .sum();

    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed during reloads:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        generations.windows(2).all(|w| w[0] < w[1]),
        "generations must increase: {generations:?}"
    );
    assert!(total > 50, "only {total} requests in ~2.5 s");
    let seen = seen_versions.lock().expect("lock");
    let after_last: Vec<u32> = seen
        .iter()
        .filter(|(t, _)| *t > last_put + Duration::from_millis(100))
        .map(|(_, v)| *v)
        .collect();
    assert!(!after_last.is_empty(), "no requests after the last reload");
    assert!(
        after_last.iter().all(|v| *v == RELOADS),
        "requests more than 100 ms after the last reload still used old configs: {:?}",
        after_last
            .iter()
            .filter(|v| **v != RELOADS)
            .collect::<Vec<_>>()
    );
    let distinct: std::collections::BTreeSet<u32> = seen.iter().map(|(_, v)| *v).collect();
    assert!(
        distinct.len() >= 3,
        "expected to see several config versions under load, saw {distinct:?}"
    );
}

#[test]
fn new_config_is_visible_on_existing_keep_alive_connections() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&versioned(&up, 1), &[]);
    let mut c = gw.client();
    let r = c.request(&Request::get("/x").host(&gw.host(API)));
    assert_eq!(r.json()["path"], "/v1/x");
    assert_eq!(gw.put_config(&versioned(&up, 2)).status, 200);
    let path = eventually(
        Duration::from_secs(2),
        "the new config on an old connection",
        || {
            let r = c.request(&Request::get("/x").host(&gw.host(API)));
            let p = r.json()["path"].as_str().map(str::to_string);
            p.filter(|p| p == "/v2/x")
        },
    );
    assert_eq!(path, "/v2/x");
}

#[test]
fn reload_adds_and_removes_apis() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&proxy_config(&up.url("/one")), &[]);
    assert_eq!(gw.get(API, "/a").status, 200);
    assert_gateway_error(&gw.get("second", "/a"), 404, "Not Found");

    let both = config(vec![
        api(
            API,
            vec![route("$default", "i1")],
            vec![integration("i1", &up.url("/one"))],
            vec![stage("$default")],
        ),
        api(
            "second",
            vec![route("$default", "i1")],
            vec![integration("i1", &up.url("/two"))],
            vec![stage("$default")],
        ),
    ]);
    assert_eq!(gw.put_config(&both).status, 200);
    let r = gw.get("second", "/a");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json()["path"], "/two/a");

    let only_second = config(vec![api(
        "second",
        vec![route("$default", "i1")],
        vec![integration("i1", &up.url("/two"))],
        vec![stage("$default")],
    )]);
    assert_eq!(gw.put_config(&only_second).status, 200);
    assert_gateway_error(&gw.get(API, "/a"), 404, "Not Found");
    assert_eq!(gw.get("second", "/a").status, 200);
}

#[test]
fn invalid_config_is_refused_and_changes_nothing() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&versioned(&up, 1), &[]);
    let before = gw.get_config();
    assert_eq!(before.status, 200, "{before}");

    let bad_route = config(vec![api(
        API,
        vec![route("GET nope", "i1")],
        vec![integration("i1", &up.url(""))],
        vec![stage("$default")],
    )]);
    let unknown_target = config(vec![api(
        API,
        vec![route("GET /a", "missing")],
        vec![],
        vec![stage("$default")],
    )]);
    let bad_timeout = config(vec![api(
        API,
        vec![route("GET /a", "i1")],
        vec![integration_with_timeout("i1", &up.url(""), 10)],
        vec![stage("$default")],
    )]);
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "{".to_string()),
        ("empty body", String::new()),
        ("wrong type", r#"{"apis": 3}"#.to_string()),
        ("unknown field", r#"{"bogus": []}"#.to_string()),
        ("bad route key", bad_route),
        ("unknown integration", unknown_target),
        ("timeout below 50 ms", bad_timeout),
        (
            "bad stage name",
            config(vec![api(API, vec![], vec![], vec![stage("bad name")])]),
        ),
        (
            "bad api id",
            config(vec![api(
                "UPPER_case",
                vec![],
                vec![],
                vec![stage("$default")],
            )]),
        ),
    ];
    let mut failures = Vec::new();
    for (name, body) in cases {
        let r = gw.put_config(&body);
        let ok = r.status == 400
            && r.header("x-amzn-errortype") == Some("BadRequestException")
            && serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(|m| !m.is_empty())
                })
                .unwrap_or(false);
        if !ok {
            failures.push(format!(
                "{name}: want 400 BadRequestException {{\"message\"}}, got:\n{r}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let after = gw.get_config();
    assert_eq!(
        after.json(),
        before.json(),
        "a refused config must not change the stored one"
    );
    let r = gw.get(API, "/still");
    assert_eq!(
        r.json()["path"],
        "/v1/still",
        "a refused config must not change what is served"
    );
}

#[test]
fn get_config_returns_what_was_put() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&versioned(&up, 1), &[]);
    let initial = gw.get_config().json();
    assert_eq!(
        initial["apis"][0]["apiId"], API,
        "GET /portico/config returns the file's config: {initial:#}"
    );
    let r = gw.put_config(&versioned(&up, 7));
    assert_eq!(r.status, 200, "{r}");
    let generation = r.json()["generation"]
        .as_u64()
        .expect("generation is a number");
    assert!(generation >= 1);
    let got = gw.get_config().json();
    let uri = &got["apis"][0]["integrations"][0]["integrationUri"];
    assert_eq!(uri, &json!(up.url("/v7/{proxy}")), "{got:#}");
}

#[test]
fn request_in_flight_during_reload_completes() {
    let slow = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(700),
        Behaviour::Echo,
    ));
    let gw = Gateway::spawn(&proxy_config(&slow.url("/old")), &[]);
    let (addr, host) = (gw.addr(), gw.host(API));
    let in_flight =
        thread::spawn(move || Client::connect(addr).try_request(&Request::get("/x").host(&host)));
    slow.wait_for_requests(1, Duration::from_secs(5));
    let fresh = MockUpstream::start(Behaviour::Echo);
    assert_eq!(gw.put_config(&proxy_config(&fresh.url("/new"))).status, 200);
    let r = in_flight.join().expect("client thread");
    assert!(
        matches!(&r, Ok(r) if r.status == 200 && r.json()["path"] == "/old/x"),
        "the request in flight across the reload: {r:?}"
    );
    let r = gw.get(API, "/y");
    assert_eq!(r.json()["path"], "/new/y", "{r}");
}
