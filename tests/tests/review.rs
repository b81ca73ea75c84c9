//! Regressions for defects found in review: each test failed before its fix.

use portico_tests::*;
use serde_json::json;

/// An upstream status line without a reason phrase (or with a non-ASCII one) used to crash the
/// worker thread; the gateway must pass the status on and keep serving.
#[test]
fn status_line_without_reason_is_served_and_the_worker_survives() {
    for raw in [
        &b"HTTP/1.1 204\r\n\r\n"[..],
        b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 R\xc3\xa9ussi\r\nContent-Length: 2\r\n\r\nok",
    ] {
        let up = MockUpstream::start(Behaviour::Raw(raw.to_vec()));
        let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--workers", "1"]);
        let mut c = gw.client();
        for _ in 0..3 {
            let r = c.request(&Request::get("/x").host(&gw.host(API)));
            assert!(r.status == 204 || r.status == 200, "{r}");
        }
    }
}

/// X-Forwarded-For before other headers used to glue the next header onto its value.
#[test]
fn x_forwarded_for_before_other_headers_keeps_them_intact() {
    let (up, gw) = echo_setup(&[]);
    let r = gw.call(
        &Request::get("/xff")
            .host(&gw.host(API))
            .header("X-Forwarded-For", "203.0.113.7")
            .header("Accept", "*/*")
            .header("X-Forwarded-For", "198.51.100.1")
            .header("User-Agent", "review"),
    );
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    assert_eq!(
        seen.header_all("x-forwarded-for"),
        vec!["203.0.113.7, 198.51.100.1, 127.0.0.1"]
    );
    assert_eq!(
        seen.header_all("accept"),
        vec!["*/*"],
        "{}",
        seen.raw_head_text()
    );
    assert_eq!(
        seen.header_all("user-agent"),
        vec!["review"],
        "{}",
        seen.raw_head_text()
    );
}

/// `disableExecuteApiEndpoint` applies to the `x-apigw-api-id` header as to the host name.
#[test]
fn disabled_execute_api_endpoint_refuses_the_api_id_header_too() {
    let up = MockUpstream::start(Behaviour::Echo);
    let mut a = api(
        API,
        vec![route("$default", "i1")],
        vec![integration("i1", &up.url(""))],
        vec![stage("$default")],
    );
    a["disableExecuteApiEndpoint"] = json!(true);
    let gw = Gateway::spawn(&config(vec![a]), &[]);
    let r = gw.call(
        &Request::get("/x")
            .host("127.0.0.1")
            .header("x-apigw-api-id", API),
    );
    assert_eq!(r.status, 403, "{r}");
    let r = gw.call(&Request::get("/x").host(&gw.host(API)));
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(up.request_count(), 0);
}

/// A client's HEAD through an integration whose method is GET: the head only, with the length
/// of the body the GET would have carried, and the connection stays usable.
#[test]
fn head_through_a_get_integration_sends_no_body() {
    let up = MockUpstream::start(Behaviour::Echo);
    let mut i = integration("i1", &up.url(""));
    i["integrationMethod"] = json!("GET");
    let gw = Gateway::spawn(
        &config(vec![api(
            API,
            vec![route("$default", "i1")],
            vec![i],
            vec![stage("$default")],
        )]),
        &[],
    );
    let mut c = gw.client();
    let r = c.request(&Request::new("HEAD", "/h").host(&gw.host(API)));
    assert_eq!(r.status, 200, "{r}");
    assert!(r.body.is_empty());
    let len: usize = r
        .header("content-length")
        .expect("content-length")
        .parse()
        .expect("number");
    assert!(len > 0);
    let r = c.request(&Request::get("/after").host(&gw.host(API)));
    assert_eq!(r.status, 200, "{r}");
}

/// A body over the limit is refused before it is read; the client, still sending, must get the
/// 413 rather than a connection reset (the gateway drains what it sends before closing).
#[test]
fn refused_body_still_being_sent_gets_its_413() {
    use std::io::{Read, Write};
    let (up, gw) = echo_setup(&["--max-body-bytes", "1000"]);
    let mut s = std::net::TcpStream::connect(gw.addr()).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /big HTTP/1.1\r\nHost: {}\r\nContent-Length: 300000\r\n\r\n",
        gw.host(API)
    );
    s.write_all(head.as_bytes()).expect("head");
    // Keep sending after the gateway has answered: part of this arrives after its decision.
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..16 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", got.len()),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(up.request_count(), 0);
}
