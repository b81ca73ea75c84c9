//! WebSocket `@connections` across the nodes of a cluster on a real PostgreSQL: a connection
//! lives on one node, and `PostToConnection`, `GetConnection` and `DeleteConnection` signed and
//! sent to any node reach it (the receiving node checks the caller and forwards the call to the
//! owner, authenticated with the cluster's secret). A forged forward is refused; an owner
//! killed with -9 answers 410 `GoneException` at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portico_shared::sigv4::{sign, Credentials};
use portico_tests::*;

const KEY_ID: &str = "AKIDPORTICO";
const SECRET: &str = "s3cret";

/// A node on `pg`'s store. No admin credentials: `@connections` is not signature-checked
/// (the loopback development setup), so what refuses a forged forward is the MAC alone.
fn node(pg: &Postgres) -> Gateway {
    Gateway::spawn(&config(vec![]), &["--store", &pg.url()])
}

/// A request signed with `secret` for `service` (`execute-api`: `@connections`, as the SDKs
/// send it), sent to `addr` on a new connection.
fn signed(
    addr: SocketAddr,
    host: &str,
    service: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Response {
    let creds = Credentials::new(KEY_ID, secret, None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let sig = sign(
        &creds,
        "us-east-1",
        service,
        now,
        method,
        path,
        "",
        &[("host", host)],
        body,
    );
    let mut req = Request::new(method, path)
        .host(host)
        .header("x-amz-date", &sig.amz_date)
        .header("x-amz-content-sha256", &sig.content_sha256)
        .header("authorization", &sig.authorization)
        .header("Connection", "close")
        .body(body.to_vec());
    if !body.is_empty() {
        req = req.header("Content-Type", "application/json");
    }
    Client::connect(addr).request(&req)
}

/// A signed `@connections` call to node `gw` for API `api`, stage `prod`.
fn manage(gw: &Gateway, api: &str, method: &str, id: &str, body: &[u8]) -> Response {
    let host = gw.host(api);
    let path = format!("/prod/@connections/{}", encode(id));
    signed(gw.addr(), &host, "execute-api", SECRET, method, &path, body)
}

/// A connection id in a path (base64 has `/`, `+` and `=`), as the SDKs send it.
fn encode(id: &str) -> String {
    id.replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D")
}

/// `id` with its node number (byte 5 of the 11) replaced.
fn on_node(id: &str, node: u8) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(id).expect("base64");
    raw[5] = node;
    b64.encode(raw)
}

#[test]
fn connections_are_reached_through_any_node() {
    let pg = Postgres::start();
    let a = node(&pg);
    let mut b = node(&pg);
    let numbers = pg.psql("SELECT string_agg(number::text, ',' ORDER BY number) FROM node_numbers");
    assert_eq!(numbers, "1,2", "each node claims its own number");

    // The API is created on A; the client connects to B once B serves it.
    let api = whoami_api(&a);
    let mut ws = eventually(
        Duration::from_secs(10),
        "B serves the WebSocket API",
        || Ws::connect(&b, &api),
    );
    let id = ws.id();
    assert_eq!(id.len(), 16, "AWS's shape: {id}");
    assert!(id.ends_with('='), "{id}");

    // Once A knows B's address (its first heartbeats), a post signed and sent to A reaches the
    // client on B.
    let r = eventually(Duration::from_secs(10), "a post through A", || {
        let r = manage(&a, &api, "POST", &id, b"hello from A");
        (r.status != 410).then_some(r)
    });
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(ws.recv_text(), "hello from A");

    // GetConnection through A: B's facts about the connection.
    let r = manage(&a, &api, "GET", &id, b"");
    assert_eq!(r.status, 200, "{r}");
    let info = r.json();
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1", "{info}");
    assert_eq!(info["identity"]["userAgent"], "cluster-ws-test", "{info}");
    assert!(
        info["connectedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{info}"
    );

    let path = format!("/prod/@connections/{}", encode(&id));

    // A forged forward straight to B (a MAC without the cluster's secret) is refused, and so
    // is one with a stale time; the client receives nothing from them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock")
        .as_secs();
    for tag in [format!("{now}.{}", "00".repeat(32)), "1.abcd".to_string()] {
        let forged = Request::post(&path, b"forged".to_vec())
            .host(&b.host(&api))
            .header("x-apigw-api-id", &api)
            .header("x-portico-forwarded", &tag)
            .header("Connection", "close");
        let r = Client::connect(b.addr()).request(&forged);
        assert_eq!(r.status, 403, "{r}");
        assert_eq!(r.header("x-amzn-ErrorType"), Some("ForbiddenException"));
    }

    // An id naming a node nobody holds: 410 from any node.
    let r = manage(&a, &api, "POST", &on_node(&id, 200), b"x");
    assert_eq!(r.status, 410, "{r}");
    assert_eq!(r.header("x-amzn-ErrorType"), Some("GoneException"));

    // A second post through A: the next frame the client sees is it (not the forged ones).
    assert_eq!(manage(&a, &api, "POST", &id, b"second").status, 200);
    assert_eq!(ws.recv_text(), "second");

    // DeleteConnection through A closes the connection on B.
    let r = manage(&a, &api, "DELETE", &id, b"");
    assert_eq!(r.status, 204, "{r}");
    match ws.recv() {
        Some((8, _)) | None => {}
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(manage(&a, &api, "GET", &id, b"").status, 410);

    // B killed with -9: a post through A for B's connection is 410 at once (B's port refuses,
    // later B's heartbeat is stale).
    let mut ws = Ws::connect(&b, &api).expect("a second connection to B");
    let id = ws.id();
    assert_eq!(manage(&a, &api, "POST", &id, b"still here").status, 200);
    assert_eq!(ws.recv_text(), "still here");
    b.signal("KILL");
    assert!(b.wait_exit(Duration::from_secs(5)).is_some());
    let started = Instant::now();
    let r = manage(&a, &api, "POST", &id, b"gone");
    assert_eq!(r.status, 410, "{r}");
    assert_eq!(r.header("x-amzn-ErrorType"), Some("GoneException"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "410 within the forward timeout: {:?}",
        started.elapsed()
    );
}
