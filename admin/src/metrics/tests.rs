use super::*;

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use portico_shared::limits::METRICS_ROUTE_SERIES_MAX;
use portico_shared::stats::{RouteStats, WorkerStats};
use tower::ServiceExt;

/// One parsed sample line: metric name, labels (unescaped), value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A strict reader of what we emit: every line is `# HELP`, `# TYPE` or
/// `name{k="v",...} value` / `name value`, label values with only `\\`, `\"`, `\n` escapes,
/// and every sample belongs to the family most recently typed.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the format ends with a newline");
    let mut samples = Vec::new();
    let mut family: Option<(String, String)> = None;
    let mut seen_families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(rest.split_once(' ').is_some(), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                !seen_families.contains(&name.to_string()),
                "{name} typed twice"
            );
            seen_families.push(name.to_string());
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value: {line}"),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name in {line}"
        );
        let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
            parse_labels(rest, line)
        } else {
            (
                BTreeMap::new(),
                rest.strip_prefix(' ').expect("space before value"),
            )
        };
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (fname, kind) = family.as_ref().expect("sample before any TYPE");
        let base = if kind == "histogram" {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or_else(|| panic!("{name} is not a histogram sample"))
        } else {
            name
        };
        assert_eq!(base, fname, "sample outside its family: {line}");
        samples.push((name.to_string(), labels, value));
    }
    samples
}

/// Parses `k="v",k2="v2"} value` (after the `{`).
fn parse_labels<'a>(s: &'a str, line: &str) -> (BTreeMap<String, String>, &'a str) {
    let mut labels = BTreeMap::new();
    let mut chars = s.char_indices().peekable();
    loop {
        let start = chars.peek().expect("label or }").0;
        if s[start..].starts_with('}') {
            chars.next();
            break;
        }
        let eq = s[start..]
            .find("=\"")
            .unwrap_or_else(|| panic!("label without =\" in {line}"));
        let key = &s[start..start + eq];
        assert!(
            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        for _ in 0..eq + 2 {
            chars.next();
        }
        let mut value = String::new();
        loop {
            let (_, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unterminated value in {line}"));
            match c {
                '"' => break,
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                '\n' => panic!("raw newline in {line}"),
                c => value.push(c),
            }
        }
        assert!(
            labels.insert(key.to_string(), value).is_none(),
            "repeated label in {line}"
        );
        match chars.next() {
            Some((_, ',')) => continue,
            Some((_, '}')) => break,
            other => panic!("expected , or }} got {other:?} in {line}"),
        }
    }
    let rest = chars.next().map_or("", |(i, _)| &s[i..]);
    (
        labels,
        rest.strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before value: {line}")),
    )
}

/// Checks every histogram: per series, `le` ascends and ends in `+Inf`, counts never decrease,
/// `+Inf` equals `_count`, and `_sum` is there. Returns `_count` per (family, series labels).
fn check_histograms(samples: &[Sample]) -> HashMap<(String, String), f64> {
    let mut buckets: HashMap<(String, String), Vec<(f64, f64)>> = HashMap::new();
    let mut counts = HashMap::new();
    let mut sums = HashMap::new();
    for (name, labels, value) in samples {
        let mut series = labels.clone();
        let le = series.remove("le");
        let key = |suffix: &str| {
            (
                name.strip_suffix(suffix).unwrap().to_string(),
                format!("{series:?}"),
            )
        };
        if name.ends_with("_bucket") {
            let le = le.expect("bucket has le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            buckets
                .entry(key("_bucket"))
                .or_default()
                .push((le, *value));
        } else if name.ends_with("_duration_seconds_count") {
            counts.insert(key("_count"), *value);
        } else if name.ends_with("_duration_seconds_sum") {
            sums.insert(key("_sum"), *value);
        }
    }
    assert!(!buckets.is_empty() || counts.is_empty());
    for (key, b) in &buckets {
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0), "{key:?}: le ascends");
        assert!(
            b.windows(2).all(|w| w[0].1 <= w[1].1),
            "{key:?}: cumulative"
        );
        let (last_le, last) = *b.last().unwrap();
        assert!(last_le.is_infinite(), "{key:?}: ends in +Inf");
        assert_eq!(Some(&last), counts.get(key), "{key:?}: +Inf == _count");
        assert!(sums.contains_key(key), "{key:?}: _sum");
    }
    assert_eq!(buckets.len(), counts.len());
    counts
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

fn board_with(workers: Vec<Vec<(u64, RouteStats)>>, counters: GatewayCounters) -> StatsBoard {
    let board = StatsBoard::new(workers.len());
    for (i, routes) in workers.into_iter().enumerate() {
        let stats = WorkerStats {
            worker: i,
            routes: routes.into_iter().map(|(k, r)| (k, Arc::new(r))).collect(),
            counters,
        };
        board.publish(i, Arc::new(stats));
    }
    board
}

#[test]
fn renders_well_formed_counts_and_buckets() {
    let mut a = RouteStats::new("api1".into(), "$default".into(), "GET /pets".into());
    a.record(200, 50, Some(20)); // 50 µs
    a.record(200, 150, Some(100)); // 150 µs
    a.record(404, 1_000, None); // exactly on the 1 ms bound: inside it
    a.record(502, 40_000_000, Some(30_000_000)); // 40 s: past the last bound
    let mut b = RouteStats::new("api1".into(), "prod".into(), "POST /pets".into());
    b.record(201, 2_000, Some(1_500));
    b.record(302, 3_000, Some(2_000));
    let counters = GatewayCounters {
        connections_accepted: 3,
        requests: 9,
        bad_requests: 1,
        not_found: 2,
        upstream_errors: 4,
        upstream_timeouts: 5,
        cache_bytes: 6,
        cache_entries: 7,
    };
    a.cache_hits = 3;
    a.cache_misses = 1;
    // The same route on two workers is summed.
    let board = board_with(vec![vec![(1, a.clone())], vec![(1, a), (2, b)]], counters);
    let text = render_prometheus(&board, METRICS_ROUTE_SERIES_MAX);
    let samples = parse(&text);
    let counts = check_histograms(&samples);
    assert_eq!(counts.len(), 6, "2 routes × 3 histograms");

    let pets = [
        ("api", "api1"),
        ("stage", "$default"),
        ("route", "GET /pets"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut l = pets.to_vec();
        l.push(extra);
        l
    };
    let req = "portico_requests_total";
    assert_eq!(value(&samples, req, &with(("status_class", "2xx"))), 4.0);
    assert_eq!(value(&samples, req, &with(("status_class", "4xx"))), 2.0);
    assert_eq!(value(&samples, req, &with(("status_class", "5xx"))), 2.0);
    assert_eq!(value(&samples, req, &with(("status_class", "other"))), 0.0);
    let bucket = "portico_request_duration_seconds_bucket";
    for (le, expect) in [
        ("0.0001", 2.0),
        ("0.00025", 4.0),
        ("0.0005", 4.0),
        ("0.001", 6.0),
        ("30", 6.0),
        ("+Inf", 8.0),
    ] {
        assert_eq!(
            value(&samples, bucket, &with(("le", le))),
            expect,
            "le={le}"
        );
    }
    assert_eq!(
        value(&samples, "portico_request_duration_seconds_count", &pets),
        8.0
    );
    let sum = value(&samples, "portico_request_duration_seconds_sum", &pets);
    let exact = 2.0 * (50e-6 + 150e-6 + 1e-3 + 40.0);
    assert!((sum - exact).abs() / exact < 0.01, "sum {sum} vs {exact}");
    // Integration latency only counts requests that reached the integration.
    assert_eq!(
        value(
            &samples,
            "portico_integration_duration_seconds_count",
            &pets
        ),
        6.0
    );
    // Cache hits and misses per route, summed over workers.
    assert_eq!(value(&samples, "portico_cache_hits_total", &pets), 6.0);
    assert_eq!(value(&samples, "portico_cache_misses_total", &pets), 2.0);
    let post = [("api", "api1"), ("stage", "prod"), ("route", "POST /pets")];
    let mut post_other = post.to_vec();
    post_other.push(("status_class", "other"));
    assert_eq!(value(&samples, req, &post_other), 1.0);

    for (name, v) in [
        ("portico_connections_accepted_total", 6.0),
        ("portico_downstream_requests_total", 18.0),
        ("portico_bad_requests_total", 2.0),
        ("portico_not_found_total", 4.0),
        ("portico_upstream_errors_total", 8.0),
        ("portico_upstream_timeouts_total", 10.0),
        ("portico_cache_bytes", 12.0),
        ("portico_cache_entries", 14.0),
        ("portico_metrics_series_dropped", 0.0),
    ] {
        assert_eq!(value(&samples, name, &[]), v, "{name}");
    }
    assert!(samples
        .iter()
        .all(|(_, l, _)| l.values().all(|v| v != OTHER)));
}

#[test]
fn empty_board_is_well_formed() {
    let text = render_prometheus(&StatsBoard::new(2), 10);
    let samples = parse(&text);
    assert!(check_histograms(&samples).is_empty());
    assert_eq!(value(&samples, "portico_metrics_series_dropped", &[]), 0.0);
    assert!(text.contains("# TYPE portico_request_duration_seconds histogram\n"));
}

#[test]
fn cardinality_cap_folds_the_quietest_routes() {
    // Route i gets i requests; keep 3.
    let routes: Vec<(u64, RouteStats)> = (1..=10u64)
        .map(|i| {
            let mut r = RouteStats::new("api".into(), "s".into(), format!("GET /r{i:02}").into());
            for _ in 0..i {
                r.record(200, 100 * i, Some(10));
            }
            (i, r)
        })
        .collect();
    let board = board_with(vec![routes], GatewayCounters::default());
    let samples = parse(&render_prometheus(&board, 3));
    check_histograms(&samples);

    let mut route_labels: Vec<String> = samples
        .iter()
        .filter(|(n, _, _)| n == "portico_requests_total")
        .map(|(_, l, _)| l["route"].clone())
        .collect();
    route_labels.dedup();
    assert_eq!(route_labels, ["GET /r08", "GET /r09", "GET /r10", OTHER]);
    assert_eq!(value(&samples, "portico_metrics_series_dropped", &[]), 7.0);
    let other = [("api", OTHER), ("stage", OTHER), ("route", OTHER)];
    let mut other_2xx = other.to_vec();
    other_2xx.push(("status_class", "2xx"));
    assert_eq!(value(&samples, "portico_requests_total", &other_2xx), 28.0);
    assert_eq!(
        value(&samples, "portico_request_duration_seconds_count", &other),
        28.0
    );
    assert_eq!(
        value(
            &samples,
            "portico_integration_duration_seconds_count",
            &other
        ),
        28.0
    );
    let mut le = other.to_vec();
    le.push(("le", "0.0005"));
    // Routes 1..=5 record 100..=500 µs: 1+2+3+4+5 requests.
    assert_eq!(
        value(&samples, "portico_request_duration_seconds_bucket", &le),
        15.0
    );

    // A cap of 0 folds everything; a cap past the route count folds nothing.
    let samples = parse(&render_prometheus(&board, 0));
    assert_eq!(value(&samples, "portico_metrics_series_dropped", &[]), 10.0);
    assert_eq!(
        value(&samples, "portico_request_duration_seconds_count", &other),
        55.0
    );
    let samples = parse(&render_prometheus(&board, 10));
    assert_eq!(value(&samples, "portico_metrics_series_dropped", &[]), 0.0);
}

#[test]
fn label_values_are_escaped() {
    let nasty = "a\"b\\c\nd";
    let mut r = RouteStats::new(nasty.into(), "st\"age".into(), "GET /{p}\\".into());
    r.record(200, 10, None);
    let board = board_with(vec![vec![(1, r)]], GatewayCounters::default());
    let text = render_prometheus(&board, 10);
    assert!(
        text.contains(r#"api="a\"b\\c\nd",stage="st\"age",route="GET /{p}\\""#),
        "{text}"
    );
    let samples = parse(&text);
    check_histograms(&samples);
    let labels = [
        ("api", nasty),
        ("stage", "st\"age"),
        ("route", "GET /{p}\\"),
    ];
    assert_eq!(
        value(&samples, "portico_request_duration_seconds_count", &labels),
        1.0
    );
}

#[test]
fn seconds_are_exact_decimals() {
    assert_eq!(seconds(0), "0");
    assert_eq!(seconds(1), "0.000001");
    assert_eq!(seconds(1_500_000), "1.5");
    assert_eq!(seconds(30_000_000), "30");
    assert_eq!(seconds(1_234_567), "1.234567");
}

#[tokio::test]
async fn handlers_answer() {
    let mut r = RouteStats::new("api1".into(), "$default".into(), "GET /".into());
    r.record(200, 1_234, Some(1_000));
    let board = Arc::new(board_with(vec![vec![(1, r)]], GatewayCounters::default()));
    let app: Router = router(board);

    let get = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let samples = parse(&text);
    assert_eq!(check_histograms(&samples).len(), 3);
    // The gateway's own share (234 µs) falls in the low buckets' range.
    let gw = [("api", "api1"), ("stage", "$default"), ("route", "GET /")];
    assert_eq!(
        value(&samples, "portico_gateway_duration_seconds_count", &gw),
        1.0
    );

    let res = app.oneshot(get("/portico/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let route = &json["routes"][0];
    assert_eq!(route["routeKey"], "GET /");
    assert_eq!(route["count"], 1);
    for p in ["p50", "p90", "p99", "p999", "max"] {
        let v = route["latencyUs"][p].as_u64().unwrap();
        assert!((1_230..=1_240).contains(&v), "{p}: {v}");
    }
    assert!(json["counters"].is_object());
}

#[tokio::test]
async fn profiling_endpoints_answer_histograms_and_history() {
    use hdrhistogram::serialization::Deserializer;

    let mut r = RouteStats::new("api1".into(), "$default".into(), "GET /".into());
    r.record(200, 1_234, Some(1_000));
    r.record(429, 12, None);
    let board = Arc::new(board_with(
        vec![vec![(1, r.clone())]],
        GatewayCounters::default(),
    ));
    let app: Router = profiling_router(Arc::clone(&board));
    let get = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();
    let json = |res: axum::response::Response| async move {
        let body = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };

    let res = app
        .clone()
        .oneshot(get(
            "/portico/histograms?api=api1&stage=%24default&route=GET%20%2F",
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v = json(res).await;
    for (which, count, max) in [
        ("total", 2, 1_234),
        ("integration", 1, 1_000),
        ("gateway", 2, 234),
    ] {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v[which]["encoded"].as_str().unwrap())
            .unwrap();
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(h.len(), count, "{which}");
        assert!(h.equivalent(h.max(), max), "{which}: {} vs {max}", h.max());
        assert_eq!(v[which]["count"], count);
    }

    let res = app
        .clone()
        .oneshot(get("/portico/histograms?api=api1"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["x-amzn-errortype"], "BadRequestException");
    let res = app
        .clone()
        .oneshot(get("/portico/histograms?api=nope&stage=s&route=r"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(json(res).await["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
    let res = app
        .clone()
        .oneshot(get("/portico/history?since=x"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Three more requests after the sampler's baseline show up in an interval of their own.
    r.record(200, 2_000, Some(1_900));
    r.record(200, 2_000, Some(1_900));
    r.record(503, 50, None);
    board.publish(
        0,
        Arc::new(WorkerStats {
            worker: 0,
            routes: [(1, Arc::new(r))].into(),
            counters: GatewayCounters::default(),
        }),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = json(
            app.clone()
                .oneshot(get("/portico/history?since=0&api=api1"))
                .await
                .unwrap(),
        )
        .await;
        let points: Vec<&serde_json::Value> = v["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["routes"].as_array().unwrap())
            .collect();
        if let Some(p) = points.first() {
            assert_eq!(points.len(), 1, "{v}");
            assert_eq!(
                (
                    p["count"].as_u64(),
                    p["status2xx"].as_u64(),
                    p["status5xx"].as_u64()
                ),
                (Some(3), Some(2), Some(1))
            );
            assert_eq!(p["throttledCount"], 0);
            assert!(v["latest"].as_u64().unwrap() >= 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no interval within 10 s: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
