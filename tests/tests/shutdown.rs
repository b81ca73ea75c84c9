//! Graceful shutdown: SIGTERM/SIGINT stop accepting, let in-flight requests finish within the
//! drain timeout, and exit 0.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use portico_tests::*;

/// Polls until a new connection to `gw` is refused; returns how long that took.
fn wait_until_refused(gw: &Gateway, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        match TcpStream::connect_timeout(&gw.addr(), Duration::from_millis(200)) {
            Err(_) => return Some(started.elapsed()),
            Ok(_) => sleep(Duration::from_millis(20)),
        }
    }
    None
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_0() {
    let up = MockUpstream::start(Behaviour::delay(Duration::from_secs(1), Behaviour::Echo));
    let mut gw = Gateway::spawn(&proxy_config(&up.url("")), &["--drain-timeout-ms", "5000"]);
    let (addr, host) = (gw.addr(), gw.host(API));
    let in_flight = thread::spawn(move || {
        let mut c = Client::connect(addr);
        let started = Instant::now();
        let r = c.try_request(&Request::get("/in-flight").host(&host));
        (r, started.elapsed())
    });
    up.wait_for_requests(1, Duration::from_secs(5));
    let signalled = Instant::now();
    gw.signal("TERM");

    let refused = wait_until_refused(&gw, Duration::from_secs(2));
    assert!(
        refused.is_some(),
        "new connections were still accepted 2 s after SIGTERM"
    );

    let (r, took) = in_flight.join().expect("client thread");
    match r {
        Ok(r) => {
            assert_eq!(r.status, 200, "the in-flight request must complete: {r}");
            assert_eq!(r.json()["path"], "/in-flight");
        }
        Err(e) => panic!("the in-flight request failed after {took:?}: {e}"),
    }
    let status = gw.wait_exit(Duration::from_secs(6));
    let status =
        status.unwrap_or_else(|| panic!("still running {:?} after SIGTERM", signalled.elapsed()));
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        signalled.elapsed()
    );
}

#[test]
fn sigint_exits_0() {
    let (_up, mut gw) = echo_setup(&[]);
    assert_eq!(gw.get(API, "/x").status, 200);
    gw.signal("INT");
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .expect("exit within 5 s of SIGINT");
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

#[test]
fn sigterm_with_idle_keep_alive_connections_exits_promptly() {
    let (_up, mut gw) = echo_setup(&["--drain-timeout-ms", "8000"]);
    let mut idle = gw.client();
    assert_eq!(
        idle.request(&Request::get("/x").host(&gw.host(API))).status,
        200
    );
    let signalled = Instant::now();
    gw.signal("TERM");
    // Idle connections have nothing in flight: they are closed, not waited for.
    assert!(
        idle.is_closed_within(Duration::from_secs(3)),
        "idle keep-alive connection left open during drain"
    );
    let status = gw
        .wait_exit(Duration::from_secs(9))
        .expect("exit within the drain timeout");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "exit took {:?} with only idle connections (drain timeout 8 s)",
        signalled.elapsed()
    );
}

#[test]
fn drain_timeout_bounds_shutdown() {
    let up = MockUpstream::start(Behaviour::delay(Duration::from_secs(10), Behaviour::Echo));
    let mut gw = Gateway::spawn(
        &proxy_config_with_timeout(&up.url(""), 29_000),
        &["--drain-timeout-ms", "500"],
    );
    let (addr, host) = (gw.addr(), gw.host(API));
    let stuck = thread::spawn(move || {
        let mut c = Client::connect(addr);
        let _ = c.try_request(&Request::get("/stuck").host(&host));
    });
    up.wait_for_requests(1, Duration::from_secs(5));
    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(5));
    let took = signalled.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!("still running {took:?} after SIGTERM with a 500 ms drain timeout")
    });
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        took < Duration::from_secs(3),
        "exit took {took:?} with a 500 ms drain timeout"
    );
    // The abandoned client sees its connection closed, not a hang (its reads time out anyway).
    stuck.join().expect("client thread");
}

#[test]
fn requests_on_keep_alive_connections_during_drain_are_closed_cleanly() {
    let up = MockUpstream::start(Behaviour::delay(
        Duration::from_millis(800),
        Behaviour::Echo,
    ));
    let mut gw = Gateway::spawn(&proxy_config(&up.url("")), &["--drain-timeout-ms", "5000"]);
    let mut c = gw.client();
    c.send(&Request::get("/first").host(&gw.host(API)).to_bytes());
    up.wait_for_requests(1, Duration::from_secs(5));
    gw.signal("TERM");
    let r = c.read_response();
    assert_eq!(r.status, 200, "{r}");
    // Once draining, the gateway must close the connection after the response...
    assert!(
        c.is_closed_within(Duration::from_secs(3)),
        "connection left open after the drained response"
    );
    // ...and should say so, so that the client does not race it with another request
    // (RFC 9112 section 9.6).
    assert!(
        r.says_close(),
        "a response written while draining should carry Connection: close:\n{r}"
    );
    let status = gw
        .wait_exit(Duration::from_secs(6))
        .expect("exit after drain");
    assert_eq!(status.code(), Some(0));
}
