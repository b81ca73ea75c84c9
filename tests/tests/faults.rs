//! Upstream faults and large payloads: what the client sees when the backend misbehaves, and that
//! the gateway keeps serving afterwards.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use portico_tests::*;

/// An address on which nothing listens: bind port 0, note the port, close the listener.
fn refused_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a throwaway listener");
    let addr = l.local_addr().expect("bound listener has an address");
    drop(l);
    addr.to_string()
}

#[test]
fn upstream_refusing_connections_is_502() {
    let gw = Gateway::spawn(&proxy_config(&format!("http://{}", refused_addr())), &[]);
    let mut c = gw.client();
    for _ in 0..3 {
        let r = c.request(&Request::get("/down").host(&gw.host(API)));
        assert_gateway_error(&r, 502, "Internal Server Error");
    }
}

#[test]
fn upstream_misbehaviour_is_502() {
    let cases: Vec<(&str, Behaviour)> = vec![
        ("close without answer", Behaviour::CloseWithoutAnswer),
        ("reset", Behaviour::Reset),
        (
            "garbage response",
            Behaviour::Raw(b"HELLO THERE\r\n\r\n".to_vec()),
        ),
        (
            "bad status line",
            Behaviour::Raw(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        ),
        (
            "truncated head",
            Behaviour::Raw(b"HTTP/1.1 200 OK\r\nContent-Len".to_vec()),
        ),
        (
            "truncated content-length body",
            Behaviour::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec()),
        ),
        (
            "truncated chunked body",
            Behaviour::Raw(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel".to_vec(),
            ),
        ),
        (
            "bad chunk size",
            Behaviour::Raw(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                    .to_vec(),
            ),
        ),
        (
            "conflicting content-lengths",
            Behaviour::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            ),
        ),
        (
            "non-numeric content-length",
            Behaviour::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello".to_vec()),
        ),
        (
            "content-length with transfer-encoding",
            Behaviour::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                    .to_vec(),
            ),
        ),
        (
            "transfer-encoding other than chunked",
            Behaviour::Raw(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nhello"
                    .to_vec(),
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (name, behaviour) in cases {
        let up = MockUpstream::start(behaviour);
        let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
        let started = Instant::now();
        let r = gw
            .client()
            .try_request(&Request::get("/fault").host(&gw.host(API)));
        match r {
            Ok(r)
                if r.status == 502
                    && r.json() == serde_json::json!({"message": "Internal Server Error"}) => {}
            Ok(r) => failures.push(format!("{name}: want 502 Internal Server Error, got:\n{r}")),
            Err(e) => failures.push(format!(
                "{name}: want 502, got {e} after {:?}",
                started.elapsed()
            )),
        }
        // The gateway is still serving.
        up.set_behaviour(Behaviour::Echo);
        let r = gw
            .client()
            .try_request(&Request::get("/after").host(&gw.host(API)));
        if !matches!(&r, Ok(r) if r.status == 200) {
            failures.push(format!(
                "{name}: the next request (upstream healthy again) got {r:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn slow_upstream_beyond_timeout_is_503_and_the_gateway_keeps_serving() {
    let slow = MockUpstream::start(Behaviour::delay(Duration::from_secs(2), Behaviour::Echo));
    let fast = MockUpstream::start(Behaviour::Echo);
    let a = api(
        API,
        vec![route("GET /slow", "slow"), route("GET /fast", "fast")],
        vec![
            integration_with_timeout("slow", &slow.url("/s"), 300),
            integration("fast", &fast.url("/f")),
        ],
        vec![stage("$default")],
    );
    let gw = Gateway::spawn(&config(vec![a]), &[]);
    let mut c = gw.client();
    let started = Instant::now();
    let r = c.request(&Request::get("/slow").host(&gw.host(API)));
    let took = started.elapsed();
    assert_gateway_error(&r, 503, "Service Unavailable");
    assert!(
        took >= Duration::from_millis(250),
        "503 after {took:?}, before the 300 ms timeout"
    );
    assert!(
        took < Duration::from_millis(1500),
        "503 after {took:?}: the 300 ms timeout was not enforced"
    );
    assert_eq!(slow.request_count(), 1);

    // Same connection, then a new one: both served.
    let r = c.try_request(&Request::get("/fast").host(&gw.host(API)));
    assert!(
        matches!(&r, Ok(r) if r.status == 200),
        "next request on the same connection: {r:?}"
    );
    assert_eq!(gw.get(API, "/fast").status, 200);
}

/// An HTTP integration's exchange is one more phase of the downstream connection's one timer:
/// it may outlast the phases armed before it (head read, idle) and end before them.
#[test]
fn upstream_exchange_outlasts_and_undercuts_the_connections_other_timeouts() {
    let slow = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(700),
        Behaviour::Echo,
    ));
    let a = api(
        API,
        vec![route("GET /slow", "slow"), route("GET /short", "short")],
        vec![
            integration_with_timeout("slow", &slow.url("/s"), 3000),
            integration_with_timeout("short", &slow.url("/t"), 300),
        ],
        vec![stage("$default")],
    );
    let gw = Gateway::spawn(
        &config(vec![a]),
        &[
            "--header-read-timeout-ms",
            "200",
            "--idle-timeout-ms",
            "1000",
        ],
    );
    let mut c = gw.client();
    for i in 0..2 {
        let r = c.try_request(&Request::get("/slow").host(&gw.host(API)));
        assert!(
            matches!(&r, Ok(r) if r.status == 200),
            "request {i}: a 700 ms exchange under a 3 s timeout, past the 200 ms header-read \
             timeout: {r:?}"
        );
    }
    let started = Instant::now();
    let r = c.request(&Request::get("/short").host(&gw.host(API)));
    let took = started.elapsed();
    assert_gateway_error(&r, 503, "Service Unavailable");
    assert!(
        (Duration::from_millis(250)..Duration::from_millis(650)).contains(&took),
        "503 after {took:?}: the 300 ms timeout must end the exchange before the 1 s idle timer"
    );
}

#[test]
fn upstream_within_timeout_is_served() {
    let up = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(200),
        Behaviour::Echo,
    ));
    let gw = Gateway::spawn(&proxy_config_with_timeout(&up.url(""), 2000), &[]);
    let r = gw.get(API, "/slowish");
    assert_eq!(r.status, 200, "{r}");
}

#[test]
fn concurrent_slow_requests_do_not_block_each_other() {
    let up = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(500),
        Behaviour::Echo,
    ));
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--workers", "1"]);
    let started = Instant::now();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let addr = gw.addr();
            let host = gw.host(API);
            std::thread::spawn(move || {
                Client::connect(addr)
                    .request(&Request::get(&format!("/c/{i}")).host(&host))
                    .status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("client thread"), 200);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "8 concurrent 500 ms requests on one worker took {took:?}"
    );
}

#[test]
fn large_bodies_up_and_down_are_intact() {
    const SIZE: usize = 5 * 1024 * 1024;
    let up = MockUpstream::start(Behaviour::EchoBody);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let body = pattern(SIZE);
    let mut c = gw.client();

    let r = c.request(&Request::post("/big", body.clone()).host(&gw.host(API)));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), SIZE);
    assert!(
        r.body == body,
        "5 MB echoed body differs (fnv {:x} vs {:x})",
        fnv1a(&r.body),
        fnv1a(&body)
    );
    assert_eq!(up.requests()[0].body.len(), SIZE);

    // Chunked up, with odd chunk sizes.
    let chunks: Vec<Vec<u8>> = body.chunks(65_537).map(<[u8]>::to_vec).collect();
    let r = c.request(
        &Request::new("PUT", "/big-chunked")
            .host(&gw.host(API))
            .chunked(chunks),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body == body,
        "5 MB chunked upload differs (len {})",
        r.body.len()
    );
    let seen = up.requests();
    assert_eq!(
        seen[1].header("content-length"),
        Some(SIZE.to_string().as_str())
    );

    // Large down only.
    up.set_behaviour(Behaviour::Large { len: SIZE });
    let r = c.request(&Request::get("/download").host(&gw.host(API)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(SIZE.to_string().as_str()));
    assert!(
        r.body == body,
        "5 MB download differs (len {})",
        r.body.len()
    );
}

#[test]
fn slow_reading_client_gets_the_whole_large_response() {
    const SIZE: usize = 3 * 1024 * 1024;
    let up = MockUpstream::start(Behaviour::Large { len: SIZE });
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let mut c = gw.client();
    c.send(&Request::get("/slow-reader").host(&gw.host(API)).to_bytes());
    // Let the gateway fill the socket buffers and wait on us.
    sleep(Duration::from_millis(500));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(
        r.body == pattern(SIZE),
        "body differs (len {})",
        r.body.len()
    );
}

/// Responses up to 64 KiB go out with their head in one write, straight into the socket while
/// it has room and through the ring for the rest: a client that pipelines many requests, with a
/// small receive buffer, and reads late fills the socket buffers, so at least the write that
/// meets the full buffer is split between the two (and later ones, as the client drains).
#[test]
fn pipelined_responses_read_late_arrive_whole_and_in_order() {
    const SIZE: usize = 60_000;
    const COUNT: usize = 200;
    let up = MockUpstream::start(Behaviour::Large { len: SIZE });
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let mut c = gw.client();
    // Locked small, so the 12 MB cannot all sit in an autotuned receive buffer (tcp_rmem may
    // allow 32 MB); the gateway's send buffer stops growing at tcp_wmem's 4 MB.
    socket2::SockRef::from(c.stream())
        .set_recv_buffer_size(16 * 1024)
        .expect("SO_RCVBUF");
    let mut pipelined = Vec::new();
    for i in 0..COUNT {
        pipelined.extend(
            Request::get(&format!("/late/{i}"))
                .host(&gw.host(API))
                .to_bytes(),
        );
    }
    c.send(&pipelined);
    // 12 MB of responses: more than the socket buffers hold, so the gateway waits on us.
    sleep(Duration::from_millis(500));
    let body = pattern(SIZE);
    for i in 0..COUNT {
        if i % 10 == 0 {
            // Drain slowly at times, so writes keep meeting a full buffer.
            sleep(Duration::from_millis(5));
        }
        let r = c.read_response();
        assert_eq!(r.status, 200, "response {i}: {r}");
        assert!(
            r.body == body,
            "response {i}: body differs (len {}, fnv {:x})",
            r.body.len(),
            fnv1a(&r.body)
        );
    }
    let seen: Vec<String> = up.requests().iter().map(|r| r.path.clone()).collect();
    let want: Vec<String> = (0..COUNT).map(|i| format!("/late/{i}")).collect();
    assert_eq!(seen, want, "the upstream saw the requests out of order");
}

/// A client that sends requests and never reads their responses is disconnected once a
/// response has waited the write timeout, and other clients are served meanwhile.
#[test]
fn client_that_never_reads_is_cut_off_after_the_write_timeout() {
    const SIZE: usize = 60_000;
    let up = MockUpstream::start(Behaviour::Large { len: SIZE });
    // One worker: the other client is served by the same worker as the stalled one.
    let gw = Gateway::spawn(
        &proxy_config(&up.url("")),
        &["--write-timeout-ms", "500", "--workers", "1"],
    );
    let mut c = gw.client();
    let mut pipelined = Vec::new();
    for i in 0..300 {
        pipelined.extend(
            Request::get(&format!("/never-read/{i}"))
                .host(&gw.host(API))
                .to_bytes(),
        );
    }
    c.send(&pipelined);
    sleep(Duration::from_millis(1500));
    let other = gw.call(&Request::get("/other").host(&gw.host(API)));
    assert_eq!(
        other.status, 200,
        "another client while one stalls: {other}"
    );
    let closed = c.read_until_closed(Duration::from_secs(10));
    assert!(
        closed.is_closed(),
        "the stalled connection is still open after 1.5 s + 10 s with a 500 ms write timeout"
    );
    let got = closed.bytes().len();
    assert!(
        got < 300 * SIZE,
        "the client got every response ({got} bytes) though it stalled past the write timeout"
    );
}

#[test]
fn chunked_upstream_response_is_dechunked() {
    let chunks: Vec<Vec<u8>> = vec![
        b"hello ".to_vec(),
        b"chunked ".to_vec(),
        vec![b'z'; 10_000],
        b" world".to_vec(),
    ];
    let whole = chunks.concat();
    let up = MockUpstream::start(Behaviour::Chunked {
        headers: vec![
            ("Content-Type".into(), "text/plain".into()),
            ("Trailer".into(), "X-T".into()),
        ],
        chunks,
    });
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let mut c = gw.client();
    for _ in 0..3 {
        let r = c.request(&Request::get("/chunky").host(&gw.host(API)));
        assert_eq!(r.status, 200, "{r}");
        assert!(
            !r.chunked,
            "the gateway re-frames with Content-Length:\n{r}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(whole.len().to_string().as_str()),
            "{r}"
        );
        assert!(
            r.header("transfer-encoding").is_none() && r.header("trailer").is_none(),
            "{r}"
        );
        assert_eq!(r.body, whole);
    }
}

#[test]
fn close_delimited_upstream_response_is_reframed() {
    let up = MockUpstream::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end"
            .to_vec(),
    ));
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let mut c = gw.client();
    for _ in 0..2 {
        let r = c.request(&Request::get("/eof").host(&gw.host(API)));
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.body, b"until the end");
        assert_eq!(r.header("content-length"), Some("13"), "{r}");
    }
}

#[test]
fn upstream_closing_pooled_connections_is_not_a_client_error() {
    // The upstream answers and closes each connection: the gateway must not reuse it.
    let up = MockUpstream::start(Behaviour::Fixed {
        status: 200,
        headers: vec![("Connection".into(), "close".into())],
        body: b"bye".to_vec(),
    });
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--workers", "1"]);
    let mut c = gw.client();
    for i in 0..10 {
        let r = c.request(&Request::get(&format!("/pool/{i}")).host(&gw.host(API)));
        assert_eq!(r.status, 200, "request {i}: {r}");
    }
    assert_eq!(up.request_count(), 10);
}

#[test]
fn upstream_keep_alive_connections_are_reused() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--workers", "1"]);
    let mut c = gw.client();
    for i in 0..20 {
        assert_eq!(
            c.request(&Request::get(&format!("/reuse/{i}")).host(&gw.host(API)))
                .status,
            200
        );
    }
    assert!(
        up.connection_count() <= 2,
        "20 sequential requests used {} upstream connections",
        up.connection_count()
    );
}

/// Six requests on one downstream connection to an upstream that answers keep-alive and then
/// closes (`behaviour`), 100 ms apart so the close reaches the gateway's pooled socket; every
/// other one a POST when `posts`. Returns the upstream and the requests not answered 200.
fn across_upstream_closes(behaviour: Behaviour, posts: bool) -> (MockUpstream, Vec<String>) {
    let up = MockUpstream::start(behaviour);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--workers", "1"]);
    let mut c = gw.client();
    let mut failures = Vec::new();
    for i in 0..6 {
        let req = if posts && i % 2 == 1 {
            Request::post(&format!("/closed/{i}"), "once")
        } else {
            Request::get(&format!("/closed/{i}"))
        };
        let r = c.request(&req.host(&gw.host(API)));
        if r.status != 200 {
            failures.push(format!("request {i}: {} {}", r.status, r.text()));
        }
        sleep(Duration::from_millis(100));
    }
    (up, failures)
}

#[test]
fn upstream_silently_closing_idle_pooled_connections_is_not_a_client_error() {
    // Keep-alive response (no Connection: close), then the upstream closes the connection, as
    // servers with short idle timeouts do. A pooled connection the upstream has closed must not
    // surface as a 502.
    let (_up, failures) = across_upstream_closes(
        Behaviour::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye".to_vec()),
        false,
    );
    assert!(
        failures.is_empty(),
        "stale pooled connections reused:\n{}",
        failures.join("\n")
    );
}

/// A pooled connection the upstream reset while it was idle: writing the next request fails at
/// once (the direct send returns the error), which must be a retry on a fresh connection for a
/// GET, and never reach the upstream twice or answer 502 for a POST (it is checked before use).
#[test]
fn upstream_resetting_idle_pooled_connections_is_not_a_client_error() {
    let (up, failures) = across_upstream_closes(
        Behaviour::RawThenReset(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye".to_vec()),
        true,
    );
    assert!(
        failures.is_empty(),
        "reset pooled connections surfaced:\n{}",
        failures.join("\n")
    );
    let paths: Vec<String> = up.requests().iter().map(|r| r.path.clone()).collect();
    let want: Vec<String> = (0..6).map(|i| format!("/closed/{i}")).collect();
    assert_eq!(
        paths, want,
        "each request reached the upstream exactly once"
    );
}

#[test]
fn upstream_interim_1xx_response_is_skipped() {
    let up = MockUpstream::start(Behaviour::Raw(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            .to_vec(),
    ));
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let mut c = gw.client();
    let r = c.request(&Request::post("/interim", "x").host(&gw.host(API)));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body, b"ok");
}

#[test]
fn upstream_response_over_10_mb_is_502() {
    let up = MockUpstream::start(Behaviour::Large {
        len: 10 * 1024 * 1024 + 1,
    });
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let r = gw.get(API, "/huge");
    assert_gateway_error(&r, 502, "Internal Server Error");
    assert_eq!(
        gw.get(API, "/after").status,
        502,
        "still over the limit, still 502"
    );
    up.set_behaviour(Behaviour::Echo);
    assert_eq!(gw.get(API, "/after").status, 200);
}

#[test]
fn many_concurrent_clients_all_succeed() {
    const CLIENTS: usize = 16;
    const REQUESTS: usize = 50;
    let (up, gw) = echo_setup(&[]);
    let handles: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (addr, host) = (gw.addr(), gw.host(API));
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut bad = Vec::new();
                for n in 0..REQUESTS {
                    let body = format!("client {id} request {n}");
                    let r = c.request(
                        &Request::post(&format!("/load/{id}/{n}"), body.clone()).host(&host),
                    );
                    let json = r.json();
                    if r.status != 200
                        || json["path"] != format!("/load/{id}/{n}")
                        || json["bodyLen"] != body.len()
                    {
                        bad.push(format!("client {id} #{n}: {r}"));
                    }
                }
                bad
            })
        })
        .collect();
    let bad: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(up.request_count(), CLIENTS * REQUESTS);
}

#[test]
fn post_after_upstream_closed_an_idle_pooled_connection_is_not_502() {
    // Upstreams close idle keep-alive connections (Node.js after 5 s, for one). When the FIN has
    // already arrived, the pooled connection is known dead before anything is written, so even
    // a non-idempotent request must go out on a fresh connection rather than fail.
    let up = MockUpstream::start(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--workers", "1"]);
    let mut c = gw.client();
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r =
            c.request(&Request::post(&format!("/stale-post/{i}"), "payload").host(&gw.host(API)));
        statuses.push(r.status);
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200],
        "POSTs reusing a pooled connection the upstream had closed; upstream saw {} request(s)",
        up.request_count()
    );
}
