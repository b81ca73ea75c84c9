//! HTTP_PROXY semantics: API selection, stages, route priority, what is forwarded upstream and what
//! comes back.

use std::collections::HashSet;

use portico_tests::*;
use serde_json::json;

#[test]
fn ready_line_reports_listeners_and_driver() {
    let (_up, gw) = echo_setup(&["--workers", "2"]);
    assert_eq!(gw.workers(), 2);
    assert!(
        matches!(gw.driver(), "io_uring" | "legacy"),
        "driver {:?}",
        gw.driver()
    );
    assert_ne!(gw.addr(), gw.admin_addr());
    assert_eq!(gw.addr().ip().to_string(), "127.0.0.1");
    assert_eq!(gw.admin_addr().ip().to_string(), "127.0.0.1");
}

#[test]
fn api_is_selected_by_host_or_api_id_header() {
    let (up, gw) = echo_setup(&[]);
    let port = gw.port();
    let with_port = format!("{API}.execute-api.localhost:{port}");
    let without_port = format!("{API}.execute-api.localhost");
    let unknown = format!("nope99.execute-api.localhost:{port}");
    let cases: Vec<(&str, Request, u16)> = vec![
        ("host with port", Request::get("/a").host(&with_port), 200),
        (
            "host without port",
            Request::get("/a").host(&without_port),
            200,
        ),
        (
            "api id header, any host",
            Request::get("/a")
                .host("localhost")
                .header("x-apigw-api-id", API),
            200,
        ),
        (
            "unknown api id in host",
            Request::get("/a").host(&unknown),
            404,
        ),
        (
            "unknown api id in header",
            Request::get("/a")
                .host("localhost")
                .header("x-apigw-api-id", "nope99"),
            404,
        ),
        (
            "other domain",
            Request::get("/a").host(&format!("{API}.example.com:{port}")),
            404,
        ),
        (
            "bare domain",
            Request::get("/a").host(&format!("execute-api.localhost:{port}")),
            404,
        ),
        (
            "ip literal host",
            Request::get("/a").host(&format!("127.0.0.1:{port}")),
            404,
        ),
    ];
    let mut failures = Vec::new();
    let mut ok = 0;
    for (name, req, want) in &cases {
        let r = gw.call(req);
        if r.status != *want {
            failures.push(format!("{name}: want {want}, got:\n{r}"));
            continue;
        }
        if *want == 200 {
            ok += 1;
        } else if r.json() != json!({"message": "Not Found"}) {
            failures.push(format!(
                "{name}: want {{\"message\":\"Not Found\"}}, got:\n{r}"
            ));
        }
        if r.header("apigw-requestid").is_none_or(str::is_empty) {
            failures.push(format!("{name}: no apigw-requestid:\n{r}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(
        up.request_count(),
        ok,
        "only the matched requests reach the upstream"
    );
}

#[test]
fn domain_flag_changes_the_served_domain() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &["--domain", "api.test"]);
    assert_eq!(gw.host(API), format!("{API}.api.test:{}", gw.port()));
    assert_eq!(gw.get(API, "/x").status, 200);
    let r =
        gw.call(&Request::get("/x").host(&format!("{API}.execute-api.localhost:{}", gw.port())));
    assert_gateway_error(&r, 404, "Not Found");
}

/// Which integration (and so which route) served each request, read from the path the upstream
/// saw: every integration URI starts with its own path prefix.
#[test]
fn route_priority_follows_http_api_rules() {
    let up = MockUpstream::start(Behaviour::Echo);
    let a = api(
        API,
        vec![
            route("GET /pets/dog", "exact"),
            route("GET /pets/{id}", "param"),
            route("ANY /pets/{id}", "anyparam"),
            route("ANY /{proxy+}", "greedy"),
            route("ANY /files/{proxy+}", "files"),
            route("GET /", "root"),
            route("$default", "dflt"),
        ],
        vec![
            integration("exact", &up.url("/exact")),
            integration("param", &up.url("/param/{id}")),
            integration("anyparam", &up.url("/anyparam/{id}")),
            integration("greedy", &up.url("/greedy/{proxy}")),
            integration("files", &up.url("/filesup")),
            integration("root", &up.url("/root")),
            integration("dflt", &up.url("/default")),
        ],
        vec![stage("$default")],
    );
    let b = api(
        "def456",
        vec![route("GET /pets/{id}", "p"), route("$default", "d")],
        vec![
            integration("p", &up.url("/b/{id}")),
            integration("d", &up.url("/bdefault")),
        ],
        vec![stage("$default")],
    );
    let c = api(
        "ghi789",
        vec![route("GET /only", "o")],
        vec![integration("o", &up.url("/only"))],
        vec![stage("$default")],
    );
    let gw = Gateway::spawn(&config(vec![a, b, c]), &[]);

    // (api, method, request target, upstream path, upstream query)
    let cases = [
        (API, "GET", "/pets/dog", "/exact", ""),
        (API, "GET", "/pets/cat", "/param/cat", ""),
        (API, "GET", "/pets/cat?x=1&y=2", "/param/cat", "x=1&y=2"),
        (API, "GET", "/pets/a%20b", "/param/a%20b", ""),
        (API, "POST", "/pets/cat", "/anyparam/cat", ""),
        (API, "DELETE", "/pets/dog", "/anyparam/dog", ""),
        (API, "PURGE", "/pets/cat", "/anyparam/cat", ""),
        (API, "GET", "/pets/cat/toys", "/greedy/pets/cat/toys", ""),
        (API, "PUT", "/a/b/c?q=1", "/greedy/a/b/c", "q=1"),
        (API, "GET", "/files/a/b.txt", "/filesup/files/a/b.txt", ""),
        (API, "GET", "/", "/root", ""),
        ("def456", "GET", "/pets/7", "/b/7", ""),
        ("def456", "POST", "/pets/7", "/bdefault/pets/7", ""),
        (
            "def456",
            "GET",
            "/other/thing?x=1",
            "/bdefault/other/thing",
            "x=1",
        ),
        ("ghi789", "GET", "/only", "/only", ""),
    ];
    let mut failures = Vec::new();
    for (api_id, method, target, want_path, want_query) in cases {
        up.clear();
        let r = gw.call(&Request::new(method, target).host(&gw.host(api_id)));
        if r.status != 200 {
            failures.push(format!("{api_id} {method} {target}: want 200, got:\n{r}"));
            continue;
        }
        let seen = up.requests();
        match seen.as_slice() {
            [one] if one.path == want_path && one.query == want_query && one.method == method => {}
            _ => failures.push(format!(
                "{api_id} {method} {target}: want upstream {method} {want_path}?{want_query}, saw {:?}",
                seen.iter().map(|s| format!("{} {}", s.method, s.target)).collect::<Vec<_>>()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    up.clear();
    for (api_id, method, target) in [
        ("ghi789", "GET", "/nothing"),
        ("ghi789", "POST", "/only"),
        ("ghi789", "GET", "/"),
    ] {
        let r = gw.call(&Request::new(method, target).host(&gw.host(api_id)));
        assert_gateway_error(&r, 404, "Not Found");
    }
    assert_eq!(
        up.request_count(),
        0,
        "unmatched requests must not reach the upstream"
    );
}

#[test]
fn stage_is_selected_by_first_path_segment() {
    let default_up = MockUpstream::start(Behaviour::Echo);
    let prod_up = MockUpstream::start(Behaviour::Echo);
    let routes = || vec![route("GET /pets/{id}", "pets"), route("$default", "any")];
    let integrations = || {
        vec![
            integration("pets", "http://${stageVariables.up}/pets/{id}"),
            integration("any", "http://${stageVariables.up}"),
        ]
    };
    let staged = api(
        API,
        routes(),
        integrations(),
        vec![
            json!({"stageName": "$default", "stageVariables": {"up": default_up.authority()}}),
            json!({"stageName": "prod", "stageVariables": {"up": prod_up.authority()}}),
        ],
    );
    let prod_only = api(
        "prodonly",
        routes(),
        integrations(),
        vec![json!({"stageName": "prod", "stageVariables": {"up": prod_up.authority()}})],
    );
    let gw = Gateway::spawn(&config(vec![staged, prod_only]), &[]);

    // (api, request target, which upstream, upstream target)
    let cases = [
        (API, "/pets/1", "default", "/pets/1"),
        (API, "/prod/pets/1", "prod", "/pets/1"),
        (API, "/prod/x/y?q=1", "prod", "/x/y?q=1"),
        (API, "/prod", "prod", "/"),
        (API, "/prod/", "prod", "/"),
        (API, "/staging/pets/1", "default", "/staging/pets/1"),
        (API, "/production/pets/1", "default", "/production/pets/1"),
        ("prodonly", "/prod/pets/2", "prod", "/pets/2"),
    ];
    let mut failures = Vec::new();
    for (api_id, target, which, want) in cases {
        default_up.clear();
        prod_up.clear();
        let r = gw.call(&Request::get(target).host(&gw.host(api_id)));
        let (hit, miss) = if which == "prod" {
            (&prod_up, &default_up)
        } else {
            (&default_up, &prod_up)
        };
        let seen: Vec<String> = hit.requests().iter().map(|s| s.target.clone()).collect();
        if r.status != 200 || seen != [want] || miss.request_count() != 0 {
            failures.push(format!(
                "{api_id} GET {target}: want 200 from {which} upstream at {want}; got {} with {which}={seen:?}, other={:?}",
                r.status,
                miss.requests().iter().map(|s| s.target.clone()).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    for target in ["/pets/1", "/", "/staging/pets/1"] {
        let r = gw.call(&Request::get(target).host(&gw.host("prodonly")));
        assert_gateway_error(&r, 404, "Not Found");
    }
}

#[test]
fn request_is_forwarded_with_method_path_query_headers_and_body() {
    let (up, gw) = echo_setup(&[]);
    let body = b"{\"name\":\"rex\"}".to_vec();
    let r = gw.call(
        &Request::new("PATCH", "/items/42?a=1&b=two%20x&a=3")
            .host(&gw.host(API))
            .header("Content-Type", "application/json")
            .header("X-Custom", "  value with spaces")
            .header("X-Multi", "one")
            .header("X-Multi", "two")
            .header("User-Agent", "portico-tests")
            .body(body.clone()),
    );
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    assert_eq!(seen.method, "PATCH");
    assert_eq!(seen.path, "/items/42");
    assert_eq!(seen.query, "a=1&b=two%20x&a=3");
    assert_eq!(seen.version, "HTTP/1.1");
    assert_eq!(seen.body, body);
    assert_eq!(
        seen.header("content-length"),
        Some(body.len().to_string().as_str()),
        "{}",
        seen.raw_head_text()
    );
    assert!(!seen.chunked, "forwarded with Content-Length, not chunked");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("x-custom"), Some("value with spaces"));
    let multi: Vec<&str> = seen
        .header_all("x-multi")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    assert_eq!(
        multi,
        ["one", "two"],
        "repeated headers keep their values and order"
    );
    assert_eq!(seen.header("user-agent"), Some("portico-tests"));
    assert_eq!(
        seen.header_all("host"),
        [up.authority().as_str()],
        "Host is the integration URI's authority"
    );
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen.header("x-forwarded-port"),
        Some(gw.port().to_string().as_str())
    );
}

#[test]
fn x_forwarded_for_appends_the_client_address() {
    let (up, gw) = echo_setup(&[]);
    let r = gw.call(
        &Request::get("/xff")
            .host(&gw.host(API))
            .header("X-Forwarded-For", "203.0.113.7"),
    );
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    let xff = seen.header_all("x-forwarded-for").join(", ");
    assert_eq!(xff, "203.0.113.7, 127.0.0.1", "{}", seen.raw_head_text());
}

#[test]
fn hop_by_hop_request_headers_are_not_forwarded() {
    let (up, gw) = echo_setup(&[]);
    // (name, extra request headers, headers that must not reach the upstream)
    type Headers = Vec<(&'static str, &'static str)>;
    let cases: Vec<(&str, Headers, Vec<&str>)> = vec![
        (
            "connection-named headers",
            vec![
                ("Connection", "keep-alive, X-Drop-Me"),
                ("X-Drop-Me", "1"),
                ("Keep-Alive", "timeout=5"),
            ],
            vec!["x-drop-me", "keep-alive"],
        ),
        (
            "te, trailer, proxy-connection",
            vec![
                ("TE", "trailers"),
                ("Trailer", "X-Trailer"),
                ("Proxy-Connection", "keep-alive"),
            ],
            vec!["te", "trailer", "proxy-connection"],
        ),
        (
            "upgrade",
            vec![("Connection", "Upgrade"), ("Upgrade", "websocket")],
            vec!["upgrade"],
        ),
        (
            // Portico's own addressing header selects the API; the upstream never sees it.
            "x-apigw-api-id",
            vec![("x-apigw-api-id", API)],
            vec!["x-apigw-api-id"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, headers, dropped) in cases {
        up.clear();
        let mut req = Request::get("/hop")
            .host(&gw.host(API))
            .header("X-Keep", "yes");
        for (n, v) in &headers {
            req = req.header(n, v);
        }
        let r = gw.call(&req);
        if r.status != 200 {
            failures.push(format!("{name}: want 200, got:\n{r}"));
            continue;
        }
        let seen = up.single_request();
        for h in &dropped {
            if seen.has_header(h) {
                failures.push(format!(
                    "{name}: {h} was forwarded:\n{}",
                    seen.raw_head_text()
                ));
            }
        }
        if seen.header("x-keep") != Some("yes") {
            failures.push(format!(
                "{name}: end-to-end header X-Keep was dropped:\n{}",
                seen.raw_head_text()
            ));
        }
        let conn = seen.header_all("connection").join(",").to_ascii_lowercase();
        if conn.contains("x-drop-me") || conn.contains("upgrade") {
            failures.push(format!(
                "{name}: downstream Connection tokens forwarded:\n{}",
                seen.raw_head_text()
            ));
        }
        if seen.has_header("transfer-encoding") {
            failures.push(format!(
                "{name}: transfer-encoding forwarded:\n{}",
                seen.raw_head_text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn chunked_request_body_is_forwarded_with_content_length() {
    let (up, gw) = echo_setup(&[]);
    let chunks: Vec<Vec<u8>> = vec![
        b"hello ".to_vec(),
        b"chunked ".to_vec(),
        vec![b'x'; 5000],
        b"world".to_vec(),
    ];
    let whole: Vec<u8> = chunks.concat();
    let r = gw.call(
        &Request::new("PUT", "/upload")
            .host(&gw.host(API))
            .chunked(chunks),
    );
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    assert!(
        !seen.chunked,
        "upstream got a chunked body:\n{}",
        seen.raw_head_text()
    );
    assert!(
        !seen.has_header("transfer-encoding"),
        "{}",
        seen.raw_head_text()
    );
    assert_eq!(
        seen.header("content-length"),
        Some(whole.len().to_string().as_str()),
        "{}",
        seen.raw_head_text()
    );
    assert_eq!(seen.body, whole);
}

#[test]
fn chunked_request_with_extensions_and_trailers_is_forwarded() {
    let (up, gw) = echo_setup(&[]);
    let mut c = gw.client();
    let head = format!(
        "POST /t HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        gw.host(API)
    );
    c.send(head.as_bytes());
    c.send(b"3;name=value\r\nabc\r\n4;flag\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    assert_eq!(seen.body, b"abcdefg");
    assert_eq!(
        seen.header("content-length"),
        Some("7"),
        "{}",
        seen.raw_head_text()
    );
}

#[test]
fn response_status_headers_and_body_come_back() {
    let up = MockUpstream::start(Behaviour::Fixed {
        status: 201,
        headers: vec![
            ("X-Up".into(), "yes".into()),
            ("Set-Cookie".into(), "a=1".into()),
            ("Set-Cookie".into(), "b=2".into()),
            ("Keep-Alive".into(), "timeout=5".into()),
            ("Connection".into(), "X-Hop-Resp".into()),
            ("X-Hop-Resp".into(), "1".into()),
            ("Content-Type".into(), "text/plain".into()),
        ],
        body: b"created!".to_vec(),
    });
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let r = gw.get(API, "/thing");
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.body, b"created!");
    assert_eq!(r.header("x-up"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(
        r.header("content-length"),
        Some("8"),
        "the gateway frames with Content-Length:\n{r}"
    );
    assert!(!r.chunked, "{r}");
    let cookies: Vec<&str> = r.header_all("set-cookie");
    assert_eq!(
        cookies,
        ["a=1", "b=2"],
        "Set-Cookie lines must stay separate:\n{r}"
    );
    assert!(
        r.header("keep-alive").is_none(),
        "hop-by-hop Keep-Alive forwarded:\n{r}"
    );
    assert!(
        r.header("x-hop-resp").is_none(),
        "Connection-named header forwarded:\n{r}"
    );
    r.request_id();
}

#[test]
fn upstream_status_codes_pass_through() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&proxy_config(&up.url("")), &[]);
    let mut c = gw.client();
    for status in [
        200u16, 202, 204, 301, 304, 400, 404, 418, 429, 500, 502, 503, 504,
    ] {
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else {
            format!("status {status}").into_bytes()
        };
        let headers = if status == 301 {
            vec![("Location".into(), "/elsewhere".into())]
        } else {
            Vec::new()
        };
        up.set_behaviour(Behaviour::Fixed {
            status,
            headers,
            body: body.clone(),
        });
        // One keep-alive connection: a wrong body length would desynchronize the next response.
        let r = c.request(&Request::get("/s").host(&gw.host(API)));
        assert_eq!(r.status, status, "{r}");
        assert_eq!(r.body, body, "{r}");
        if status == 301 {
            assert_eq!(r.header("location"), Some("/elsewhere"), "{r}");
        }
        r.request_id();
    }
}

#[test]
fn request_ids_are_present_and_unique() {
    let (_up, gw) = echo_setup(&[]);
    let mut ids = HashSet::new();
    let mut c = gw.client();
    for i in 0..30 {
        // Mix proxied and gateway-generated (404) responses.
        let host = if i % 3 == 0 {
            "nope99.execute-api.localhost".to_string()
        } else {
            gw.host(API)
        };
        let r = c.request(&Request::get("/id").host(&host));
        let id = r.request_id().to_string();
        assert!(ids.insert(id.clone()), "duplicate apigw-requestid {id}");
    }
    for _ in 0..10 {
        let id = gw.get(API, "/id").request_id().to_string();
        assert!(ids.insert(id.clone()), "duplicate apigw-requestid {id}");
    }
}

#[test]
fn no_route_is_404_and_route_without_target_is_500() {
    let up = MockUpstream::start(Behaviour::Echo);
    let a = api(
        API,
        vec![
            route("GET /ok", "i1"),
            json!({"routeKey": "GET /untargeted"}),
        ],
        vec![integration("i1", &up.url(""))],
        vec![stage("$default")],
    );
    let gw = Gateway::spawn(&config(vec![a]), &[]);
    assert_eq!(gw.get(API, "/ok").status, 200);
    assert_gateway_error(&gw.get(API, "/missing"), 404, "Not Found");
    assert_gateway_error(
        &gw.call(&Request::new("POST", "/ok").host(&gw.host(API))),
        404,
        "Not Found",
    );
    assert_gateway_error(&gw.get(API, "/untargeted"), 500, "Internal Server Error");
    assert_eq!(up.request_count(), 1, "only GET /ok reaches the upstream");
}

#[test]
fn integration_uri_with_query_and_path_params() {
    let up = MockUpstream::start(Behaviour::Echo);
    let a = api(
        API,
        vec![route("GET /users/{user}/posts/{post}", "i1")],
        vec![integration("i1", &up.url("/api/{post}/by/{user}"))],
        vec![stage("$default")],
    );
    let gw = Gateway::spawn(&config(vec![a]), &[]);
    let r = gw.get(API, "/users/ann/posts/99?full=true");
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    assert_eq!(seen.path, "/api/99/by/ann");
    assert_eq!(seen.query, "full=true");
}

#[test]
fn host_matching_ignores_case() {
    // Host names are case-insensitive (RFC 9110 section 4.2.3); API ids are lowercase.
    let (_up, gw) = echo_setup(&[]);
    let host = format!(
        "{}.EXECUTE-API.localhost:{}",
        API.to_ascii_uppercase(),
        gw.port()
    );
    let r = gw.call(&Request::get("/case").host(&host));
    assert_eq!(r.status, 200, "Host {host}:\n{r}");
}

#[test]
fn request_ids_differ_across_gateway_processes() {
    // Request ids identify a request in logs across a fleet and across restarts; two gateways
    // started in the same second must not hand out the same ids.
    let (_up_a, a) = echo_setup(&["--workers", "1"]);
    let (_up_b, b) = echo_setup(&["--workers", "1"]);
    let ids_a: HashSet<String> = (0..5)
        .map(|_| a.get(API, "/id").request_id().to_string())
        .collect();
    let ids_b: HashSet<String> = (0..5)
        .map(|_| b.get(API, "/id").request_id().to_string())
        .collect();
    let shared: Vec<&String> = ids_a.intersection(&ids_b).collect();
    assert!(
        shared.is_empty(),
        "two gateway processes issued the same apigw-requestid(s): {shared:?}"
    );
}
