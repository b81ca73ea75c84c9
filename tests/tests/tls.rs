//! TLS termination, custom domain names, API mappings and mutual TLS, end to end: certificates
//! from a private CA made with the `openssl` CLI, imported through the ACM-shaped admin service;
//! curl, `openssl s_client` and a rustls client on the `--tls-listen` listener.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use portico_tests::{
    api, config, integration, route, stage, Behaviour, Client, Closed, Gateway, MockUpstream, Pki,
    Request, Response, TlsClient,
};
use serde_json::{json, Value};

const API_HOST: &str = "api.example.test";
const SHOP_HOST: &str = "shop.example.test";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// An ACM call on the admin listener.
fn acm(gw: &Gateway, op: &str, body: &Value) -> Response {
    let req = Request::post("/", body.to_string())
        .host(&gw.admin_addr().to_string())
        .header("Connection", "close")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", &format!("CertificateManager.{op}"));
    Client::connect(gw.admin_addr()).request(&req)
}

/// Imports `{name}.pem`/`{name}.key` (under `arn` when re-importing); returns the ARN.
fn import(gw: &Gateway, pki: &Pki, name: &str, arn: Option<&str>) -> String {
    let mut body = json!({"Certificate": b64(&pki.read(&format!("{name}.pem"))),
                          "PrivateKey": b64(&pki.read(&format!("{name}.key")))});
    if let Some(a) = arn {
        body["CertificateArn"] = json!(a);
    }
    let r = acm(gw, "ImportCertificate", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["CertificateArn"]
        .as_str()
        .expect("an ARN")
        .to_string()
}

fn admin_json(gw: &Gateway, method: &str, path: &str, body: &Value) -> Response {
    gw.admin_call(method, path, body.to_string().as_bytes())
}

/// Two APIs proxying to `up` (`orders1`, `shop1`, stage `$default`) and a TLS listener.
fn setup(up: &MockUpstream) -> Gateway {
    let apis = ["orders1", "shop1"]
        .iter()
        .map(|id| {
            api(
                id,
                vec![route("$default", "i1")],
                vec![integration("i1", &up.url(""))],
                vec![stage("$default")],
            )
        })
        .collect();
    Gateway::spawn(&config(apis), &["--tls-listen", "127.0.0.1:0"])
}

fn create_domain(gw: &Gateway, name: &str, arn: &str, policy: &str, extra: Value) -> Response {
    let mut body = json!({"domainName": name, "domainNameConfigurations": [
        {"certificateArn": arn, "endpointType": "REGIONAL", "securityPolicy": policy}]});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    admin_json(gw, "POST", "/v2/domainnames", &body)
}

fn map(gw: &Gateway, domain: &str, api_id: &str, key: &str) {
    let r = admin_json(
        gw,
        "POST",
        &format!("/v2/domainnames/{domain}/apimappings"),
        &json!({"apiId": api_id, "stage": "$default", "apiMappingKey": key}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn sni_policy_mappings_and_admin_errors() {
    let pki = Pki::new();
    pki.leaf("api", API_HOST, "ca", 10);
    pki.leaf("shop", SHOP_HOST, "ca", 10);
    let up = MockUpstream::start(Behaviour::fixed(200, "up"));
    let gw = setup(&up);
    let api_arn = import(&gw, &pki, "api", None);
    let shop_arn = import(&gw, &pki, "shop", None);
    assert_eq!(
        create_domain(&gw, API_HOST, &api_arn, "TLS_1_2", json!({})).status,
        201
    );
    // v1 shape for the second domain: regionalCertificateArn and a base path mapping.
    let r = admin_json(
        &gw,
        "POST",
        "/domainnames",
        &json!({"domainName": SHOP_HOST, "regionalCertificateArn": shop_arn,
                "endpointConfiguration": {"types": ["REGIONAL"]}, "securityPolicy": "TLS_1_0"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["regionalCertificateArn"], json!(shop_arn));
    let r = admin_json(
        &gw,
        "POST",
        &format!("/domainnames/{SHOP_HOST}/basepathmappings"),
        &json!({"restApiId": "shop1", "stage": "$default"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["basePath"], "(none)");
    map(&gw, API_HOST, "orders1", "orders/v1");
    map(&gw, API_HOST, "shop1", "");

    // SNI selects the certificate.
    let client = TlsClient::new(&pki.read("ca.pem"), None, false);
    let (status, body, leaf) = client
        .get(gw.tls_addr(), API_HOST, "/orders/v1/items")
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "up"));
    assert_eq!(leaf, pki.der("api.pem"));
    let (_, _, leaf) = client.get(gw.tls_addr(), SHOP_HOST, "/x").unwrap();
    assert_eq!(leaf, pki.der("shop.pem"));
    // Session resumption: a client that was given tickets resumes, on whichever worker.
    let resumed = (0..4)
        .filter(|_| {
            let mut s = client.connect(gw.tls_addr(), API_HOST).unwrap();
            portico_tests::tls_exchange(&mut s, API_HOST, "/x").unwrap();
            s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
        })
        .count();
    assert_eq!(resumed, 4);
    // Unknown name: refused in the handshake.
    let refused = client.get(gw.tls_addr(), "other.example.test", "/");
    assert!(refused.is_err(), "{refused:?}");

    // The mapping key is stripped; the most specific mapping wins; HTTPS is said upstream.
    up.clear();
    let (status, ..) = client
        .get(gw.tls_addr(), API_HOST, "/orders/v1/items")
        .unwrap();
    assert_eq!(status, 200);
    let rec = up.single_request();
    assert_eq!(rec.path, "/items");
    assert_eq!(rec.header("x-forwarded-proto"), Some("https"));
    up.clear();
    client.get(gw.tls_addr(), API_HOST, "/orders/v2").unwrap();
    assert_eq!(
        up.single_request().path,
        "/orders/v2",
        "the empty key maps the rest"
    );
    // curl, TLS 1.2 only and TLS 1.3, and the plain listener by Host.
    let ca = pki.path("ca.pem");
    for v in [&["--tls-max", "1.2"][..], &["--tlsv1.3"][..]] {
        let (rc, out) = portico_tests::https_get(gw.tls_addr(), API_HOST, "/orders/v1/a", &ca, v);
        assert_eq!((rc, out.lines().last()), (0, Some("200")), "{v:?}: {out}");
    }
    let r = Client::connect(gw.addr()).request(&Request::get("/orders/v1/a").host(API_HOST));
    assert_eq!(r.status, 200);
    // TLS 1.1 is refused by the server (the client is allowed to offer it).
    for host in [API_HOST, SHOP_HOST] {
        let out = std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &gw.tls_addr().to_string(),
                "-servername",
                host,
            ])
            .args(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("SSL alert number"), "{host}: {text}");
    }

    // disableExecuteApiEndpoint: the generated host name is refused, the domain still serves.
    let r = admin_json(
        &gw,
        "PATCH",
        "/v2/apis/orders1",
        &json!({"disableExecuteApiEndpoint": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(gw.get("orders1", "/items").status, 403);
    assert_eq!(
        client
            .get(gw.tls_addr(), API_HOST, "/orders/v1/a")
            .unwrap()
            .0,
        200
    );

    // Bad input: AWS-shaped 400s, nothing changed.
    let r = acm(
        &gw,
        "ImportCertificate",
        &json!({"Certificate": b64("not a pem"),
        "PrivateKey": b64(&pki.read("api.key"))}),
    );
    assert_eq!(
        (r.status, r.json()["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    let r = acm(
        &gw,
        "ImportCertificate",
        &json!({"Certificate": b64(&pki.read("api.pem")),
        "PrivateKey": b64(&pki.read("shop.key"))}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does not match"), "{}", r.text());
    let unknown =
        "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000";
    let r = create_domain(&gw, "new.example.test", unknown, "TLS_1_2", json!({}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
    let r = create_domain(&gw, "new.example.test", &api_arn, "TLS_9", json!({}));
    assert_eq!(r.status, 400);
    let r = acm(
        &gw,
        "DeleteCertificate",
        &json!({"CertificateArn": api_arn}),
    );
    assert_eq!(r.json()["__type"], "ResourceInUseException");
    let r = acm(
        &gw,
        "DescribeCertificate",
        &json!({"CertificateArn": unknown}),
    );
    assert_eq!(r.json()["__type"], "ResourceNotFoundException");
    let r = acm(
        &gw,
        "DescribeCertificate",
        &json!({"CertificateArn": api_arn}),
    );
    assert_eq!(r.json()["Certificate"]["DomainName"], API_HOST);
    assert_eq!(r.json()["Certificate"]["InUseBy"], json!([API_HOST]));
    let r = admin_json(
        &gw,
        "POST",
        &format!("/v2/domainnames/{API_HOST}/apimappings"),
        &json!({"apiId": "orders1", "stage": "$default", "apiMappingKey": "/bad/"}),
    );
    assert_eq!(r.status, 400);
    let r = admin_json(
        &gw,
        "POST",
        &format!("/v2/domainnames/{API_HOST}/apimappings"),
        &json!({"apiId": "nosuchapi", "stage": "$default", "apiMappingKey": "x"}),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn certificate_rotation_under_load_fails_no_request() {
    let pki = Pki::new();
    pki.leaf("v1", API_HOST, "ca", 10);
    pki.leaf("v2", API_HOST, "ca", 10);
    let up = MockUpstream::start(Behaviour::fixed(200, "up"));
    let gw = setup(&up);
    let arn = import(&gw, &pki, "v1", None);
    assert_eq!(
        create_domain(&gw, API_HOST, &arn, "TLS_1_2", json!({})).status,
        201
    );
    map(&gw, API_HOST, "orders1", "");
    let client = TlsClient::new(&pki.read("ca.pem"), None, false);
    let addr = gw.tls_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // One keep-alive connection opened before the rotation, and new handshakes throughout.
    let mut kept = client.connect(addr, API_HOST).unwrap();
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let (client, stop, ok, failed) =
                (client.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut conn = (i == 0).then(|| client.connect(addr, API_HOST).unwrap());
                while !stop.load(Ordering::Relaxed) {
                    let r = match conn.as_mut() {
                        Some(c) => portico_tests::tls_exchange(c, API_HOST, "/k").map(|r| r.0),
                        None => client.get(addr, API_HOST, "/n").map(|r| r.0),
                    };
                    match r {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("failed: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    portico_tests::sleep(Duration::from_millis(300));
    let before = ok.load(Ordering::Relaxed);
    assert_eq!(import(&gw, &pki, "v2", Some(&arn)), arn);
    // The next full handshake gets the new certificate (a fresh client: `client` would resume
    // its session, which carries the certificate it was first given).
    let fresh = TlsClient::new(&pki.read("ca.pem"), None, false);
    let (_, _, leaf) = fresh.get(addr, API_HOST, "/").unwrap();
    assert_eq!(leaf, pki.der("v2.pem"));
    portico_tests::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    // The connection opened before the rotation still serves, with its old certificate.
    let (status, _) = portico_tests::tls_exchange(&mut kept, API_HOST, "/").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        kept.conn.peer_certificates().unwrap()[0].to_vec(),
        pki.der("v1.pem")
    );
    let total = ok.load(Ordering::Relaxed);
    assert!(
        before > 0 && total > before,
        "no load ran: {before} {total}"
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{total} succeeded");
}

#[test]
fn certificate_files_in_the_data_directory_are_imported_and_rotated() {
    let pki = Pki::new();
    pki.leaf("v1", API_HOST, "ca", 10);
    pki.leaf("v2", API_HOST, "ca", 10);
    let up = MockUpstream::start(Behaviour::fixed(200, "up"));
    let gw = setup(&up);
    let dir = gw.data_dir().join("certificates");
    std::fs::create_dir_all(&dir).unwrap();
    // A chain after the leaf is taken as the chain; a key that does not match is refused.
    let bundle = format!("{}{}", pki.read("v1.pem"), pki.read("ca.pem"));
    std::fs::write(dir.join("api.pem"), &bundle).unwrap();
    std::fs::write(dir.join("api.key"), pki.read("v2.key")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a certificate").unwrap();
    let describe = |gw: &Gateway| {
        let arns: Vec<String> = acm(gw, "ListCertificates", &json!({})).json()
            ["CertificateSummaryList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["CertificateArn"].as_str().unwrap().to_string())
            .collect();
        arns
    };
    portico_tests::sleep(Duration::from_millis(2_500));
    assert!(
        describe(&gw).is_empty(),
        "a certificate whose key does not match was imported"
    );
    std::fs::write(dir.join("api.key"), pki.read("v1.key")).unwrap();
    let arn = "arn:aws:acm:us-east-1:000000000000:certificate/file-api";
    portico_tests::eventually(Duration::from_secs(10), "the file pair is imported", || {
        (describe(&gw) == [arn]).then_some(())
    });
    let r = acm(&gw, "GetCertificate", &json!({"CertificateArn": arn}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["CertificateChain"]
        .as_str()
        .is_some_and(|c| c.contains("BEGIN CERTIFICATE")));
    assert_eq!(
        create_domain(&gw, API_HOST, arn, "TLS_1_2", json!({})).status,
        201
    );
    map(&gw, API_HOST, "orders1", "");
    let fresh = || TlsClient::new(&pki.read("ca.pem"), None, false);
    let (status, _, leaf) = fresh().get(gw.tls_addr(), API_HOST, "/").unwrap();
    assert_eq!((status, leaf), (200, pki.der("v1.pem")));
    // A renewal rewrites the files: the next handshake gets the new certificate.
    std::fs::write(dir.join("api.key"), pki.read("v2.key")).unwrap();
    std::fs::write(dir.join("api.pem"), pki.read("v2.pem")).unwrap();
    portico_tests::eventually(
        Duration::from_secs(10),
        "the renewed certificate is served",
        || {
            fresh()
                .get(gw.tls_addr(), API_HOST, "/")
                .is_ok_and(|(_, _, leaf)| leaf == pki.der("v2.pem"))
                .then_some(())
        },
    );
    assert_eq!(describe(&gw), [arn], "a renewal made a second certificate");
}

#[test]
fn mutual_tls_accepts_trusted_clients_only() {
    let pki = Pki::new();
    pki.ca("other");
    pki.leaf("api", API_HOST, "ca", 10);
    pki.leaf("client", "partner-1", "ca", 10);
    pki.leaf("rogue", "partner-2", "other", 10);
    pki.leaf("old", "partner-3", "ca", -1);
    let up = MockUpstream::start(Behaviour::fixed(200, "up"));
    let gw = setup(&up);
    std::fs::write(gw.data_dir().join("truststore.pem"), pki.read("ca.pem")).unwrap();
    let arn = import(&gw, &pki, "api", None);
    let r = create_domain(
        &gw,
        API_HOST,
        &arn,
        "TLS_1_2",
        json!({"mutualTlsAuthentication": {"truststoreUri": "file://nosuch.pem"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = create_domain(
        &gw,
        API_HOST,
        &arn,
        "TLS_1_2",
        json!({"mutualTlsAuthentication": {"truststoreUri": "file://truststore.pem"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["mutualTlsAuthentication"]["truststoreUri"],
        "file://truststore.pem"
    );
    map(&gw, API_HOST, "orders1", "");
    let ca = pki.read("ca.pem");

    let trusted = TlsClient::new(
        &ca,
        Some((&pki.read("client.pem"), &pki.read("client.key"))),
        false,
    );
    let (status, ..) = trusted.get(gw.tls_addr(), API_HOST, "/who").unwrap();
    assert_eq!(status, 200);
    let rec = up.single_request();
    let subject = rec
        .header("x-amzn-mtls-clientcert-subject")
        .unwrap_or_default();
    assert_eq!(subject, "O=Portico Tests,CN=partner-1");
    assert_eq!(
        rec.header("x-amzn-mtls-clientcert-issuer"),
        Some("CN=ca test CA")
    );
    assert!(rec
        .header("x-amzn-mtls-clientcert-validity")
        .unwrap()
        .starts_with("NotBefore="));
    assert!(rec.header("x-amzn-mtls-clientcert-serial-number").is_some());
    assert!(rec
        .header("x-amzn-mtls-clientcert-leaf")
        .unwrap()
        .starts_with("-----BEGIN"));
    // Over TLS 1.2 too (the certificate request differs).
    let trusted12 = TlsClient::new(
        &ca,
        Some((&pki.read("client.pem"), &pki.read("client.key"))),
        true,
    );
    assert_eq!(trusted12.get(gw.tls_addr(), API_HOST, "/").unwrap().0, 200);

    up.clear();
    let refused = [
        ("no certificate", TlsClient::new(&ca, None, false)),
        (
            "untrusted CA",
            TlsClient::new(
                &ca,
                Some((&pki.read("rogue.pem"), &pki.read("rogue.key"))),
                false,
            ),
        ),
        (
            "expired",
            TlsClient::new(
                &ca,
                Some((&pki.read("old.pem"), &pki.read("old.key"))),
                false,
            ),
        ),
    ];
    for (what, client) in refused {
        let r = client.get(gw.tls_addr(), API_HOST, "/");
        assert!(r.is_err(), "{what}: {r:?}");
    }
    // curl, with and without a certificate.
    let ca_path = pki.path("ca.pem");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let (rc, out) = portico_tests::https_get(
        gw.tls_addr(),
        API_HOST,
        "/",
        &ca_path,
        &[
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
        ],
    );
    assert_eq!((rc, out.lines().last()), (0, Some("200")), "{out}");
    let (rc, _) = portico_tests::https_get(gw.tls_addr(), API_HOST, "/", &ca_path, &[]);
    assert_ne!(rc, 0);
    // The domain's Host on the plain listener, or a forged client-cert header: refused or
    // dropped, never trusted.
    up.clear();
    let r = Client::connect(gw.addr()).request(
        &Request::get("/")
            .host(API_HOST)
            .header("X-Amzn-Mtls-Clientcert-Subject", "CN=forged"),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        up.request_count(),
        0,
        "refused requests never reach the upstream"
    );
}

#[test]
fn handshake_deadline_and_garbage() {
    let up = MockUpstream::start(Behaviour::fixed(200, "up"));
    let gw = Gateway::spawn(
        &config(vec![api(
            "orders1",
            vec![route("$default", "i1")],
            vec![integration("i1", &up.url(""))],
            vec![stage("$default")],
        )]),
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--header-read-timeout-ms",
            "300",
        ],
    );
    // Not TLS at all: closed without an answer the pipeline made.
    let mut c = Client::connect(gw.tls_addr());
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let closed = c.read_until_closed(Duration::from_secs(3));
    assert!(closed.is_closed(), "{closed:?}");
    let (Closed::Eof(r) | Closed::Reset(r) | Closed::StillOpen(r)) = closed;
    assert!(!String::from_utf8_lossy(&r).contains("HTTP/1.1"), "{r:?}");
    // Silent client: closed at the deadline.
    let started = Instant::now();
    let mut c = Client::connect(gw.tls_addr());
    assert!(c.is_closed_within(Duration::from_secs(3)));
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(up.request_count(), 0);
}
