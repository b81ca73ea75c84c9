//! The harness tested against itself (no gateway): the client talks straight to the mock
//! upstream. When a gateway test fails, these say whether to suspect the harness.

use std::time::{Duration, Instant};

use portico_tests::*;

#[test]
fn echo_round_trip_with_keep_alive_and_chunked_bodies() {
    let up = MockUpstream::start(Behaviour::Echo);
    let mut c = Client::connect(up.addr());
    let r = c.request(
        &Request::post("/a?x=1", "hello")
            .host("h")
            .header("X-T", "v"),
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["path"], "/a");
    assert_eq!(body["query"], "x=1");
    assert_eq!(body["bodyLen"], 5);
    assert_eq!(body["headers"]["x-t"][0], "v");
    let r = c.request(
        &Request::new("PUT", "/b")
            .host("h")
            .chunked(vec![b"ab".to_vec(), b"cde".to_vec()]),
    );
    assert_eq!(r.json()["bodyLen"], 5);
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].chunked);
    assert_eq!(seen[1].body, b"abcde");
    assert_eq!(
        seen[0].connection, seen[1].connection,
        "keep-alive reused the connection"
    );
}

#[test]
fn chunked_and_large_responses_are_read_whole() {
    let up = MockUpstream::start(Behaviour::Chunked {
        headers: vec![],
        chunks: vec![b"ab".to_vec(), b"c".to_vec()],
    });
    let r = Client::connect(up.addr()).request(&Request::get("/").host("h"));
    assert!(r.chunked);
    assert_eq!(r.body, b"abc");
    up.set_behaviour(Behaviour::Large {
        len: 3 * 1024 * 1024,
    });
    let r = Client::connect(up.addr()).request(&Request::get("/").host("h"));
    assert!(r.body == pattern(3 * 1024 * 1024));
}

#[test]
fn head_and_interim_responses_have_no_body() {
    let up = MockUpstream::start(Behaviour::fixed(200, "body"));
    let mut c = Client::connect(up.addr());
    let r = c.request(&Request::new("HEAD", "/").host("h"));
    assert_eq!(r.header("content-length"), Some("4"));
    assert!(r.body.is_empty());
    assert_eq!(c.request(&Request::get("/").host("h")).body, b"body");
}

#[test]
fn close_and_reset_behaviours_are_seen_as_such() {
    let up = MockUpstream::start(Behaviour::CloseWithoutAnswer);
    let mut c = Client::connect(up.addr());
    c.send(&Request::get("/").host("h").to_bytes());
    assert!(matches!(c.read_until_closed(Duration::from_secs(3)), Closed::Eof(b) if b.is_empty()));

    up.set_behaviour(Behaviour::Reset);
    let mut c = Client::connect(up.addr());
    c.send(&Request::post("/", vec![b'x'; 1000]).host("h").to_bytes());
    let closed = c.read_until_closed(Duration::from_secs(3));
    assert!(
        matches!(closed, Closed::Reset(_)),
        "want RST, got {closed:?}"
    );
}

#[test]
fn delay_is_observable_while_in_flight() {
    let up = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(300),
        Behaviour::Echo,
    ));
    let addr = up.addr();
    let started = Instant::now();
    let t = std::thread::spawn(move || {
        Client::connect(addr)
            .request(&Request::get("/").host("h"))
            .status
    });
    up.wait_for_requests(1, Duration::from_secs(2));
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "recorded before answering"
    );
    assert_eq!(t.join().expect("client thread"), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn read_until_closed_reports_an_open_connection() {
    let up = MockUpstream::start(Behaviour::Echo);
    let mut c = Client::connect(up.addr());
    let started = Instant::now();
    assert!(matches!(
        c.read_until_closed(Duration::from_millis(200)),
        Closed::StillOpen(_)
    ));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn ready_line_parses() {
    let (listen, admin, workers, driver) = parse_ready_line(
        "portico ready: listen=127.0.0.1:1234 admin=127.0.0.1:5678 workers=2 driver=io_uring",
    )
    .expect("a well-formed ready line");
    assert_eq!(
        (listen.port(), admin.port(), workers, driver.as_str()),
        (1234, 5678, 2, "io_uring")
    );
    assert!(parse_ready_line("portico ready: listen=x").is_none());
}

#[test]
fn request_serialization_adds_framing_only_when_missing() {
    let bytes = Request::post("/p", "abc").host("h").to_bytes();
    assert_eq!(
        bytes,
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    );
    let bytes = Request::get("/g").host("h").to_bytes();
    assert_eq!(bytes, b"GET /g HTTP/1.1\r\nHost: h\r\n\r\n");
    let bytes = Request::new("PUT", "/c")
        .host("h")
        .chunked(vec![b"xy".to_vec()])
        .to_bytes();
    assert_eq!(
        bytes,
        b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
    );
}
