//! `https://` integrations: a rustls upstream with a test CA, trusted through
//! `--upstream-ca-file`, reached by name (`localhost`, the SNI and the certificate's name) over
//! pooled keep-alive connections; without the CA the handshake fails fast with a gateway error.

use std::time::{Duration, Instant};

use portico_tests::*;

#[test]
fn https_upstream_with_a_private_ca() {
    let up = TlsUpstream::start("hello over tls");
    let ca = up.ca_file.to_str().expect("utf-8 path").to_string();
    let uri = format!("https://localhost:{}/", up.addr.port());
    let gw = Gateway::spawn(&proxy_config(&uri), &["--upstream-ca-file", &ca]);
    let mut client = gw.client();
    let req = Request::get("/a").host(&gw.host(API));
    for _ in 0..20 {
        let r = client.request(&req);
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.text(), "hello over tls");
    }
    assert_eq!(up.requests.load(std::sync::atomic::Ordering::SeqCst), 20);

    // Not trusted without the CA: a 502 at once, not a hang.
    let untrusted = Gateway::spawn(&proxy_config(&uri), &[]);
    let started = Instant::now();
    let r = untrusted.call(&Request::get("/a").host(&untrusted.host(API)));
    assert_gateway_error(&r, 502, "Internal Server Error");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A bundle without certificates is refused at start.
    let empty = TempDir::new("empty-ca");
    let path = empty.path().join("ca.pem");
    std::fs::write(&path, "").unwrap();
    let err = Gateway::try_spawn(
        &proxy_config(&uri),
        &["--upstream-ca-file", path.to_str().unwrap()],
    )
    .expect_err("an empty CA bundle is refused");
    assert!(err.to_string().contains("no certificate"), "{err}");
}
