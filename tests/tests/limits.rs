//! Limits: head size, header count, body size, and the timeouts that stop slow or idle clients
//! from holding connections.

use std::time::{Duration, Instant};

use portico_tests::*;

#[test]
fn head_larger_than_max_header_bytes_is_431() {
    let (up, gw) = echo_setup(&["--max-header-bytes", "2048"]);
    let host = gw.host(API);

    let fits = gw.call(
        &Request::get("/small")
            .host(&host)
            .header("X-Pad", &"a".repeat(1024)),
    );
    assert_eq!(
        fits.status, 200,
        "a 1 KiB header under a 2 KiB limit: {fits}"
    );

    let mut c = gw.client();
    let r = c.request(
        &Request::get("/big")
            .host(&host)
            .header("X-Pad", &"a".repeat(4096)),
    );
    assert_eq!(r.status, 431, "{r}");
    assert!(
        c.is_closed_within(Duration::from_secs(3)),
        "connection kept open after 431"
    );

    // Many small headers adding up to more than the limit.
    let mut req = Request::get("/many-small").host(&host);
    for i in 0..40 {
        req = req.header(&format!("X-H{i}"), &"b".repeat(60));
    }
    let r = gw.call(&req);
    assert_eq!(r.status, 431, "{r}");

    // A request line longer than the limit.
    let r = gw.call(&Request::get(&format!("/{}", "p".repeat(4096))).host(&host));
    assert!(
        r.status == 431 || r.status == 414,
        "long request line: want 431 or 414, got:\n{r}"
    );

    // A head that never ends is cut off at the limit rather than buffered forever.
    let mut c = gw.client();
    let mut bytes = format!("GET /endless HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    bytes.extend(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(200));
    let _ = c.try_send(&bytes);
    let r = c.try_read_response();
    assert!(
        matches!(&r, Ok(r) if r.status == 431),
        "endless head: want 431, got {r:?}"
    );

    assert_eq!(
        up.request_count(),
        1,
        "only the request that fits reaches the upstream"
    );
}

#[test]
fn more_headers_than_max_header_count_is_431() {
    let (up, gw) = echo_setup(&["--max-header-count", "10"]);
    let host = gw.host(API);
    let with_headers = |n: usize| {
        // Host counts as one header.
        let mut req = Request::get(&format!("/h{n}")).host(&host);
        for i in 1..n {
            req = req.header(&format!("X-H{i}"), "v");
        }
        req
    };
    let r = gw.call(&with_headers(10));
    assert_eq!(
        r.status, 200,
        "exactly --max-header-count headers are allowed: {r}"
    );
    let mut c = gw.client();
    let r = c.request(&with_headers(11));
    assert_eq!(r.status, 431, "{r}");
    assert!(
        c.is_closed_within(Duration::from_secs(3)),
        "connection kept open after 431"
    );
    let r = gw.call(&with_headers(300));
    assert_eq!(r.status, 431, "{r}");
    assert_eq!(up.request_count(), 1);
}

#[test]
fn body_larger_than_max_body_bytes_is_413() {
    let (up, gw) = echo_setup(&["--max-body-bytes", "1000"]);
    let host = gw.host(API);

    let r = gw.call(&Request::post("/fits", vec![b'a'; 1000]).host(&host));
    assert_eq!(
        r.status, 200,
        "a body of exactly --max-body-bytes is allowed: {r}"
    );
    let r = gw.call(
        &Request::new("PUT", "/fits-chunked")
            .host(&host)
            .chunked(vec![vec![b'a'; 500], vec![b'b'; 500]]),
    );
    assert_eq!(
        r.status, 200,
        "a chunked body of exactly --max-body-bytes is allowed: {r}"
    );

    // Declared too large: refused from the head alone, before the body is sent.
    let mut c = gw.client();
    c.send(
        format!("POST /declared HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1001\r\n\r\n")
            .as_bytes(),
    );
    let r = c.read_response();
    assert_eq!(r.status, 413, "{r}");

    // Declared too large, body sent along.
    let r = gw.call(&Request::post("/declared-sent", vec![b'a'; 5000]).host(&host));
    assert_eq!(r.status, 413, "{r}");

    // Chunked, found too large only while reading.
    let chunks: Vec<Vec<u8>> = (0..10).map(|_| vec![b'c'; 300]).collect();
    let mut c = gw.client();
    let _ = c.try_send(
        &Request::post("/chunked", Vec::new())
            .host(&host)
            .chunked(chunks)
            .to_bytes(),
    );
    let r = c.try_read_response();
    assert!(
        matches!(&r, Ok(r) if r.status == 413),
        "chunked over the limit: want 413, got {r:?}"
    );

    // Chunked where one chunk header alone declares too much.
    let mut c = gw.client();
    let _ = c.try_send(format!("POST /bigchunk HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n").as_bytes());
    let r = c.try_read_response();
    assert!(
        matches!(&r, Ok(r) if r.status == 413),
        "one chunk over the limit: want 413, got {r:?}"
    );

    sleep(Duration::from_millis(200));
    let paths: Vec<String> = up.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/fits", "/fits-chunked"],
        "nothing over the limit reaches the upstream"
    );
}

#[test]
fn slowloris_head_is_cut_off_after_header_read_timeout() {
    let (up, gw) = echo_setup(&["--header-read-timeout-ms", "500"]);
    let host = gw.host(API);

    // Partial head, then silence.
    let started = Instant::now();
    let mut c = gw.client();
    c.send(format!("GET /slow HTTP/1.1\r\nHost: {host}\r\nX-A: ").as_bytes());
    let closed = c.read_until_closed(Duration::from_secs(5));
    let took = started.elapsed();
    assert!(
        closed.is_closed(),
        "a stalled partial head kept the connection open for 5 s"
    );
    assert!(
        took >= Duration::from_millis(400),
        "closed after {took:?}, before the 500 ms timeout"
    );
    assert!(
        took < Duration::from_secs(3),
        "closed after {took:?}, long after the 500 ms timeout"
    );
    if !closed.bytes().is_empty() {
        let text = String::from_utf8_lossy(closed.bytes()).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 408"),
            "only a 408 may be sent before closing: {text:?}"
        );
    }

    // A trickle: one byte every 100 ms never completes the head. The timeout covers the whole
    // head, not each read.
    let started = Instant::now();
    let mut c = gw.client();
    let head = format!(
        "GET /trickle HTTP/1.1\r\nHost: {host}\r\nX-Long: {}\r\n\r\n",
        "z".repeat(100)
    );
    let mut closed_after = None;
    for b in head.as_bytes() {
        if c.try_send(&[*b]).is_err() || c.is_closed_within(Duration::from_millis(100)) {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let took = closed_after.unwrap_or_else(|| {
        panic!(
            "a 1-byte-per-100-ms trickle kept the connection open for {:?}",
            started.elapsed()
        )
    });
    assert!(
        took < Duration::from_secs(3),
        "trickle closed only after {took:?}"
    );

    // A connection that never sends anything is closed too.
    let started = Instant::now();
    let mut c = gw.client();
    assert!(
        c.is_closed_within(Duration::from_secs(5)),
        "a silent connection stayed open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "silent connection closed after {:?}",
        started.elapsed()
    );

    assert_eq!(up.request_count(), 0);
    assert_eq!(
        gw.get(API, "/fine").status,
        200,
        "normal requests still work"
    );
}

#[test]
fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let (_up, gw) = echo_setup(&["--idle-timeout-ms", "500"]);
    let mut c = gw.client();
    assert_eq!(
        c.request(&Request::get("/1").host(&gw.host(API))).status,
        200
    );
    // Activity resets the clock: three requests 300 ms apart outlive one idle timeout.
    for i in 0..3 {
        sleep(Duration::from_millis(300));
        let r = c.try_request(&Request::get(&format!("/again/{i}")).host(&gw.host(API)));
        assert!(
            matches!(&r, Ok(r) if r.status == 200),
            "request {i} 300 ms after the last: {r:?}"
        );
    }
    let started = Instant::now();
    let closed = c.read_until_closed(Duration::from_secs(5));
    let took = started.elapsed();
    assert!(
        closed.is_closed(),
        "an idle keep-alive connection stayed open for 5 s"
    );
    assert!(
        took >= Duration::from_millis(400),
        "closed after {took:?}, before the 500 ms idle timeout"
    );
    assert!(
        took < Duration::from_secs(3),
        "closed after {took:?}, long after the 500 ms idle timeout"
    );
    assert!(
        closed.bytes().is_empty(),
        "bytes sent on idle close: {:?}",
        preview(closed.bytes())
    );
}

#[test]
fn many_idle_connections_do_not_block_new_ones() {
    let (_up, gw) = echo_setup(&[]);
    let idle: Vec<Client> = (0..200).map(|_| gw.client()).collect();
    let r = gw.get(API, "/still-serving");
    assert_eq!(r.status, 200, "{r}");
    drop(idle);
}

#[test]
fn idle_timeout_does_not_cut_off_a_request_in_flight() {
    let up = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(1000),
        Behaviour::Echo,
    ));
    let gw = Gateway::spawn(
        &proxy_config_with_timeout(&up.url(""), 5000),
        &[
            "--idle-timeout-ms",
            "300",
            "--header-read-timeout-ms",
            "300",
        ],
    );
    let mut c = gw.client();
    let r = c.try_request(&Request::get("/slow").host(&gw.host(API)));
    assert!(
        matches!(&r, Ok(r) if r.status == 200),
        "a 1 s upstream exchange under a 300 ms idle timeout: {r:?}"
    );
}

#[test]
fn header_read_timeout_does_not_apply_to_the_body() {
    let (up, gw) = echo_setup(&["--header-read-timeout-ms", "300"]);
    let mut c = gw.client();
    c.send(
        format!(
            "POST /slow-body HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\n\r\n",
            gw.host(API)
        )
        .as_bytes(),
    );
    for b in b"0123456789" {
        sleep(Duration::from_millis(100));
        if c.try_send(&[*b]).is_err() {
            break;
        }
    }
    let r = c.try_read_response();
    assert!(
        matches!(&r, Ok(r) if r.status == 200),
        "a 1 s body after a fast head under a 300 ms header-read timeout: {r:?}"
    );
    assert_eq!(up.single_request().body, b"0123456789");
}

#[test]
fn header_read_timeout_applies_to_later_requests_on_a_connection() {
    let (up, gw) = echo_setup(&["--header-read-timeout-ms", "500"]);
    let mut c = gw.client();
    assert_eq!(
        c.request(&Request::get("/first").host(&gw.host(API)))
            .status,
        200
    );
    c.send(b"GET /second HTTP/1.1\r\nHost: ");
    let started = Instant::now();
    let closed = c.read_until_closed(Duration::from_secs(5));
    assert!(
        closed.is_closed(),
        "a stalled second head kept the connection open for 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    assert_eq!(up.request_count(), 1);
}

#[test]
fn overlong_request_target_is_refused() {
    let (up, gw) = echo_setup(&[]);
    // Over the 8 KiB URI bound, under the 16 KiB head bound.
    let r = gw.call(&Request::get(&format!("/{}", "u".repeat(10 * 1024))).host(&gw.host(API)));
    assert!(
        r.status == 414 || r.status == 431,
        "want 414 or 431, got:\n{r}"
    );
    assert_eq!(up.request_count(), 0);
}

#[test]
fn limit_responses_carry_a_request_id() {
    let (_up, gw) = echo_setup(&["--max-header-count", "5", "--max-body-bytes", "10"]);
    let mut req = Request::get("/many").host(&gw.host(API));
    for i in 0..10 {
        req = req.header(&format!("X-{i}"), "v");
    }
    let r = gw.call(&req);
    assert_eq!(r.status, 431, "{r}");
    r.request_id();
    let r = gw.call(&Request::post("/big", vec![b'a'; 100]).host(&gw.host(API)));
    assert_eq!(r.status, 413, "{r}");
    r.request_id();
}

#[test]
fn stalled_body_is_cut_off_after_body_read_timeout() {
    let (up, gw) = echo_setup(&["--body-read-timeout-ms", "500"]);
    let mut c = gw.client();
    let started = Instant::now();
    c.send(
        format!(
            "POST /stall HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\n\r\nabc",
            gw.host(API)
        )
        .as_bytes(),
    );
    let closed = c.read_until_closed(Duration::from_secs(5));
    assert!(
        closed.is_closed(),
        "a stalled body kept the connection open for 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    assert_eq!(up.request_count(), 0, "a partial body was forwarded");
}

#[test]
fn max_header_count_above_the_parser_ceiling_is_honoured_or_refused() {
    let up = MockUpstream::start(Behaviour::Echo);
    // The parser's header array has a compile-time ceiling (256). A larger flag must either be
    // refused at start-up or honoured; silently capping it answers 431 below the configured limit.
    let gw = match Gateway::try_spawn(&proxy_config(&up.url("")), &["--max-header-count", "300"]) {
        Ok(gw) => gw,
        Err(e) => {
            let why = format!("{e:#}");
            assert!(
                why.contains("max-header-count"),
                "refused, but not for the flag: {why}"
            );
            return;
        }
    };
    let mut req = Request::get("/many").host(&gw.host(API));
    for i in 1..280 {
        req = req.header(&format!("X-{i}"), "v");
    }
    let r = gw.call(&req);
    assert_eq!(
        r.status, 200,
        "280 headers under --max-header-count 300:\n{r}"
    );
}

/// Resident memory of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// How much `gw`'s resident memory grows per connection `open` makes, over `n` connections kept
/// open after `warm` warm-up ones (also kept).
fn kib_per_connection<T>(
    gw: &Gateway,
    kind: &str,
    open: impl Fn(usize) -> Vec<T>,
    warm: usize,
    n: usize,
) -> f64 {
    let _warm = open(warm);
    sleep(Duration::from_millis(300));
    let before = rss_kib(gw.pid());
    let idle = open(n);
    sleep(Duration::from_millis(300));
    let after = rss_kib(gw.pid());
    let per = after.saturating_sub(before) as f64 / idle.len() as f64;
    println!("{per:.2} KiB per idle {kind} connection ({before} KiB -> {after} KiB)");
    per
}

/// Issue 22's bound: an idle keep-alive connection costs under 1.5 KiB (issue 2's budget was 8.19).
/// Measured on 2,000 connections opened after 200 warm-up ones, each through one full
/// exchange, then left idle (`target/release/idleconns` measures the full 10,000).
#[test]
fn idle_keep_alive_connections_stay_within_the_memory_budget() {
    rlimit::increase_nofile_limit(8192).expect("raise the descriptor limit");
    let gw = Gateway::spawn(
        r#"{"apis":[{"apiId":"idle","routes":[{"routeKey":"GET /ping"}],"stages":[{"stageName":"$default"}]}]}"#,
        &["--workers", "1"],
    );
    let host = gw.host("idle");
    let open = |n: usize| -> Vec<Client> {
        (0..n)
            .map(|i| {
                let mut c = gw.client();
                let r = c.request(&Request::get("/ping").host(&host));
                // A route without an integration: the gateway answers it itself.
                assert_eq!(r.status, 500, "connection {i}: {r}");
                c
            })
            .collect()
    };
    let per = kib_per_connection(&gw, "keep-alive", open, 200, 2000);
    // Issue 22: an idle connection holds no buffer, no monoio timer entry and no per-request
    // future (0.9 KiB in a debug build, on either driver; 5.97 KiB when it held them).
    assert!(
        per < 1.5,
        "{per:.2} KiB per idle connection: more than 1.5 KiB (10,000 would add 15 MiB)"
    );
}

/// Issue 22's bound for WebSocket APIs: an idle connection (upgraded, one message answered)
/// holds no read buffer and no writer task. Measured on 1,000 connections after 100 warm-up
/// ones (`target/release/wsbench idle` measures 10,000).
#[test]
fn idle_websocket_connections_stay_within_the_memory_budget() {
    rlimit::increase_nofile_limit(8192).expect("raise the descriptor limit");
    let gw = Gateway::spawn(r#"{"apis":[]}"#, &["--workers", "1"]);
    let api = whoami_api(&gw);
    let open = |n: usize| -> Vec<Ws> {
        (0..n)
            .map(|i| {
                let mut ws = Ws::connect(&gw, &api)
                    .unwrap_or_else(|| panic!("connection {i}: upgrade refused"));
                assert!(!ws.id().is_empty(), "connection {i}: no id");
                ws
            })
            .collect()
    };
    let per = kib_per_connection(&gw, "WebSocket", open, 100, 1000);
    assert!(
        per < 2.5,
        "{per:.2} KiB per idle WebSocket connection: more than 2.5 KiB"
    );
}
