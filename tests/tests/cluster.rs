//! Portico on a PostgreSQL store (`serve --store postgres://...`), against a real PostgreSQL
//! server started for the test: two nodes share the store; PostgreSQL down means admin writes
//! answer 503 `ServiceUnavailableException` with nothing applied while reads and the data plane
//! keep serving the node's copy; the node reconnects without a restart when PostgreSQL returns;
//! changes committed on one node reach the other through the changelog poll, also after an
//! outage;
//! a node killed with -9 reloads everything at restart; a newer schema is refused.

use std::time::Duration;

use portico_tests::*;
use serde_json::{json, Value};

/// A node on `pg`'s store, importing nothing.
fn node(pg: &Postgres) -> Gateway {
    Gateway::spawn(&config(vec![]), &["--store", &pg.url()])
}

fn create_api(gw: &Gateway, name: &str, up: &MockUpstream) -> String {
    let api = gw.admin_json(
        "POST",
        "/v2/apis",
        json!({"name": name, "protocolType": "HTTP", "target": up.url("")}),
    );
    api["apiId"].as_str().expect("an apiId").to_string()
}

fn served(gw: &Gateway, api_id: &str) -> bool {
    gw.get(api_id, "/x").status == 200
}

/// A node that cannot reach its store refuses a create and a delete with 503 in AWS's shape
/// (`ServiceUnavailableException`), and its API list still holds only `first`: nothing
/// half-applied.
fn writes_are_refused_and_change_nothing(gw: &Gateway, first: &str, up: &MockUpstream) {
    let r = gw.admin_call(
        "POST",
        "/v2/apis",
        json!({"name": "lost", "protocolType": "HTTP", "target": up.url("")})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 503, "{r}");
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("ServiceUnavailableException")
    );
    assert!(r.json()["message"].is_string(), "{r}");
    let r = gw.admin_call("DELETE", &format!("/v2/apis/{first}"), b"");
    assert_eq!(r.status, 503, "{r}");
    let apis = gw.admin_json("GET", "/v2/apis", Value::Null);
    let names: Vec<&str> = apis["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["first"], "nothing half-applied");
}

#[test]
fn a_postgres_store_is_shared_survives_outages_and_refuses_newer_schemas() {
    let pg = Postgres::start();
    let up = MockUpstream::start(Behaviour::Echo);

    // Node A creates an API: committed to PostgreSQL with a changelog version, served on A.
    let a = node(&pg);
    let first = create_api(&a, "first", &up);
    assert!(served(&a, &first));
    let versions: u64 = pg
        .psql("SELECT count(*) FROM changelog")
        .parse()
        .expect("a count");
    assert!(versions >= 1, "a committed change is in the changelog");
    assert_eq!(pg.psql("SELECT max(version) FROM schema_migrations"), "3");

    // Node B, started on the same store, loads and serves it.
    let mut b = node(&pg);
    assert!(served(&b, &first), "{}", b.stderr());

    // A change committed on B reaches A without a restart (NOTIFY, else the poll), and back.
    // B's 2xx names the version it committed; `portico wait` (asked of A) returns once every
    // live node serves it, and A then serves the API.
    let r = b.admin_call(
        "POST",
        "/v2/apis",
        json!({"name": "on-b", "protocolType": "HTTP", "target": up.url("")})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let on_b = r.json()["apiId"].as_str().expect("an apiId").to_string();
    let version = r
        .header("x-portico-version")
        .expect("a write names the version it committed")
        .to_string();
    let waited = std::process::Command::new(portico_bin())
        .args(["wait", "--admin", &format!("http://{}", a.admin_addr())])
        .args(["--version", &version, "--timeout", "20"])
        .env_remove("PORTICO_ADMIN_ACCESS_KEY_ID")
        .env_remove("PORTICO_ADMIN_SECRET_ACCESS_KEY")
        .output()
        .expect("portico wait runs");
    assert!(waited.status.success(), "portico wait: {waited:?}");
    assert!(served(&a, &on_b), "served on every node once wait returned");
    let later = (version.parse::<u64>().expect("a number") + 1000).to_string();
    let timed_out = std::process::Command::new(portico_bin())
        .args(["wait", "--admin", &format!("http://{}", a.admin_addr())])
        .args(["--version", &later, "--timeout", "1"])
        .output()
        .expect("portico wait runs");
    assert!(
        !timed_out.status.success(),
        "a version nobody serves: {timed_out:?}"
    );
    a.admin_json("DELETE", &format!("/v2/apis/{on_b}"), Value::Null);
    eventually(Duration::from_secs(10), "B drops the API A deleted", || {
        (!served(&b, &on_b)).then_some(())
    });

    // PostgreSQL down: writes are 503 in AWS's shape and change nothing; reads and the data
    // plane keep serving the node's copy.
    pg.stop();
    writes_are_refused_and_change_nothing(&a, &first, &up);
    assert!(served(&a, &first));
    assert!(served(&b, &first));
    // Partitioned from its store, a node reports itself stale from its own memory.
    let view = eventually(Duration::from_secs(10), "A reports itself stale", || {
        let v = a.admin_json("GET", "/portico/cluster", Value::Null);
        (v["stale"] == true).then_some(v)
    });
    assert_eq!(view["storeReachable"], false, "{view}");

    // PostgreSQL back: the same node writes again, no restart.
    pg.start_again();
    let second = eventually(
        Duration::from_secs(10),
        "a write after PostgreSQL returns",
        || {
            let r = a.admin_call(
                "POST",
                "/v2/apis",
                json!({"name": "second", "protocolType": "HTTP", "target": up.url("")})
                    .to_string()
                    .as_bytes(),
            );
            (r.status == 201).then(|| r.json()["apiId"].as_str().map(str::to_string))?
        },
    );
    assert!(served(&a, &second));
    // B, which could not poll during the outage, catches up by version without a restart.
    eventually(
        Duration::from_secs(10),
        "B serves what A committed after the outage",
        || served(&b, &second).then_some(()),
    );

    // Node B killed with -9 and restarted on the same store: it serves what A committed since.
    b.signal("KILL");
    assert!(b.wait_exit(Duration::from_secs(5)).is_some());
    let b = node(&pg);
    assert!(served(&b, &first));
    assert!(served(&b, &second), "{}", b.stderr());

    // A schema newer than this build knows: a node refuses to start, saying why.
    pg.psql("INSERT INTO schema_migrations (version) VALUES (999)");
    let Err(err) = Gateway::try_spawn(&config(vec![]), &["--store", &pg.url()]) else {
        panic!("a node started against a newer schema");
    };
    let text = format!("{err:#}");
    assert!(text.contains("newer than this build"), "{text}");
}

/// A REST API's GET on node `gw` with an optional API key.
fn rest_get(gw: &Gateway, api: &str, path: &str, key: Option<&str>) -> Response {
    let mut req = Request::get(path).host(&gw.host(api));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    gw.call(&req)
}

#[test]
fn every_kind_of_change_reaches_the_other_node() {
    let pg = Postgres::start();
    let a = node(&pg);
    let b = node(&pg);

    // A REST API with a key-required MOCK method, deployed on A, is served on B.
    let api = a.admin_json("POST", "/restapis", json!({"name": "rest"}));
    let id = api["id"].as_str().expect("id").to_string();
    let root = api["rootResourceId"].as_str().expect("root").to_string();
    let res = a.admin_json(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        json!({"pathPart": "pets"}),
    );
    let rid = res["id"].as_str().expect("id");
    let base = format!("/restapis/{id}/resources/{rid}/methods/GET");
    a.admin_json(
        "PUT",
        &base,
        json!({"authorizationType": "NONE", "apiKeyRequired": true}),
    );
    a.admin_json("PUT", &format!("{base}/responses/200"), json!({}));
    a.admin_json(
        "PUT",
        &format!("{base}/integration"),
        json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
    );
    a.admin_json(
        "PUT",
        &format!("{base}/integration/responses/200"),
        json!({"selectionPattern": "", "responseTemplates": {"application/json": "{\"from\": \"mock\"}"}}),
    );
    a.admin_json(
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    );
    eventually(
        Duration::from_secs(10),
        "B serves the REST API (403 without a key)",
        || (rest_get(&b, &id, "/prod/pets", None).status == 403).then_some(()),
    );

    // A key and a usage plan created on A admit the key on B.
    let key = a.admin_json("POST", "/apikeys", json!({"name": "k", "enabled": true}));
    let key_id = key["id"].as_str().expect("id").to_string();
    let value = key["value"].as_str().expect("value").to_string();
    let plan = a.admin_json(
        "POST",
        "/usageplans",
        json!({"name": "p", "apiStages": [{"apiId": id, "stage": "prod"}]}),
    );
    let plan_id = plan["id"].as_str().expect("id").to_string();
    a.admin_json(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    );
    eventually(
        Duration::from_secs(10),
        "B admits the key created on A",
        || (rest_get(&b, &id, "/prod/pets", Some(&value)).status == 200).then_some(()),
    );
    // B's admin lists them too.
    let listed = b.admin_json("GET", "/apikeys", Value::Null);
    assert!(listed.to_string().contains(&key_id), "{listed}");

    // The key disabled on B is refused on A.
    b.admin_json(
        "PATCH",
        &format!("/apikeys/{key_id}"),
        json!({"patchOperations": [{"op": "replace", "path": "/enabled", "value": "false"}]}),
    );
    eventually(
        Duration::from_secs(10),
        "A refuses the key disabled on B",
        || (rest_get(&a, &id, "/prod/pets", Some(&value)).status == 403).then_some(()),
    );

    // A VPC link and the account's settings changed on A are read on B.
    let link = a.admin_json(
        "POST",
        "/vpclinks",
        json!({"name": "l", "targetArns": ["127.0.0.1:9"]}),
    );
    let link_id = link["id"].as_str().expect("id").to_string();
    a.admin_json(
        "PATCH",
        "/account",
        json!({"patchOperations": [{"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/logs"}]}),
    );
    eventually(
        Duration::from_secs(10),
        "B has the VPC link and the account settings",
        || {
            let l = b.admin_call("GET", &format!("/vpclinks/{link_id}"), b"");
            let acct = b.admin_json("GET", "/account", Value::Null);
            (l.status == 200 && acct["cloudwatchRoleArn"] == "arn:aws:iam::123456789012:role/logs")
                .then_some(())
        },
    );

    // The REST API deleted on B stops being served on A.
    b.admin_call("DELETE", &format!("/restapis/{id}"), b"");
    eventually(
        Duration::from_secs(10),
        "A no longer serves the REST API deleted on B",
        || (rest_get(&a, &id, "/prod/pets", Some(&value)).status == 404).then_some(()),
    );
}

/// A `provided.al2023` function whose `bootstrap` (Python, standard library only) speaks the
/// Runtime API and answers every event with an API Gateway proxy response saying `marker`.
fn function_zip(marker: &str) -> String {
    use base64::Engine as _;
    let bootstrap = format!(
        r#"#!/usr/bin/env python3
import json, os, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(base + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        r.read()
    body = json.dumps({{"statusCode": 200, "headers": {{"content-type": "text/plain"}}, "body": "{marker}"}}).encode()
    urllib.request.urlopen(urllib.request.Request(base + rid + "/response", data=body, method="POST")).read()
"#
    );
    let zip = zip_stored(&[("bootstrap", 0o755, bootstrap.as_bytes())]);
    base64::engine::general_purpose::STANDARD.encode(zip)
}

/// `Invoke` on node `gw`'s admin listener: the status and the answer's text.
fn invoke(gw: &Gateway, name: &str) -> (u16, String) {
    let r = gw.admin_call(
        "POST",
        &format!("/2015-03-31/functions/{name}/invocations"),
        b"{}",
    );
    (r.status, r.text())
}

#[test]
fn a_function_created_on_one_node_runs_on_every_node() {
    let pg = Postgres::start();
    let a = node(&pg);
    let b = node(&pg);
    let name = "greet";

    // Created on A: the zip is stored in PostgreSQL with the function's record.
    let created = a.admin_json(
        "POST",
        "/2015-03-31/functions",
        json!({"FunctionName": name, "Runtime": "provided.al2023",
               "Role": "arn:aws:iam::000000000000:role/fn", "Handler": "bootstrap", "Timeout": 5,
               "Code": {"ZipFile": function_zip("code-v1")}}),
    );
    assert_eq!(created["State"], "Active", "{created}");
    assert_eq!(
        pg.psql("SELECT count(*) FROM function_code WHERE function_name = 'greet'"),
        "1"
    );

    // B unpacks the revision from the store and runs it: through Invoke...
    let (status, text) = eventually(Duration::from_secs(20), "B invokes the function", || {
        let (status, text) = invoke(&b, name);
        (status == 200).then_some((status, text))
    });
    assert_eq!(status, 200);
    assert!(text.contains("code-v1"), "{text}");

    // ... and through an HTTP API's AWS_PROXY integration created on B.
    let api = b.admin_json(
        "POST",
        "/v2/apis",
        json!({"name": "fn", "protocolType": "HTTP"}),
    );
    let api_id = api["apiId"].as_str().expect("an apiId").to_string();
    let arn = created["FunctionArn"].as_str().expect("an ARN");
    let integration = b.admin_json(
        "POST",
        &format!("/v2/apis/{api_id}/integrations"),
        json!({"integrationType": "AWS_PROXY", "integrationUri": arn,
               "payloadFormatVersion": "2.0"}),
    );
    let iid = integration["integrationId"].as_str().expect("an id");
    b.admin_json(
        "POST",
        &format!("/v2/apis/{api_id}/routes"),
        json!({"routeKey": "$default", "target": format!("integrations/{iid}")}),
    );
    b.admin_json(
        "POST",
        &format!("/v2/apis/{api_id}/stages"),
        json!({"stageName": "$default", "autoDeploy": true}),
    );
    let r = b.get(&api_id, "/hello");
    assert_eq!((r.status, r.text()), (200, "code-v1".to_string()), "{r}");

    // The code updated on B: A unpacks the new revision and runs it (Invoke and the API), and
    // the store keeps only the current revision.
    b.admin_json(
        "PUT",
        &format!("/2015-03-31/functions/{name}/code"),
        json!({"ZipFile": function_zip("code-v2")}),
    );
    eventually(
        Duration::from_secs(20),
        "A runs the code updated on B",
        || {
            let (status, text) = invoke(&a, name);
            (status == 200 && text.contains("code-v2")).then_some(())
        },
    );
    eventually(
        Duration::from_secs(20),
        "A's API serves the new code",
        || {
            let r = a.get(&api_id, "/hello");
            (r.status == 200 && r.text() == "code-v2").then_some(())
        },
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM function_code WHERE function_name = 'greet'"),
        "1"
    );

    // A node started later (its data dir empty) unpacks the code at start.
    let c = node(&pg);
    let (status, text) = invoke(&c, name);
    assert_eq!(status, 200, "{text}\n{}", c.stderr());
    assert!(text.contains("code-v2"), "{text}");

    // Deleted on A: gone on B, its code gone from the store.
    let r = a.admin_call("DELETE", &format!("/2015-03-31/functions/{name}"), b"");
    assert_eq!(r.status, 204, "{r}");
    eventually(
        Duration::from_secs(20),
        "B forgets the deleted function",
        || (invoke(&b, name).0 == 404).then_some(()),
    );
    assert_eq!(pg.psql("SELECT count(*) FROM function_code"), "0");
}

/// A TCP relay on 127.0.0.1 between one node and PostgreSQL (std threads): `cut` closes every
/// relayed connection and refuses new ones (the node is partitioned from its store while the
/// others keep theirs), `restore` relays again.
struct Relay {
    addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(to: std::net::SocketAddr) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("an address");
        let relay = Relay {
            addr,
            cut: Default::default(),
            open: Default::default(),
        };
        let (cut, open) = (relay.cut.clone(), relay.open.clone());
        std::thread::spawn(move || {
            for downstream in listener.incoming() {
                let Ok(downstream) = downstream else { continue };
                if cut.load(Ordering::SeqCst) {
                    let _ = downstream.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = std::net::TcpStream::connect(to) else {
                    continue;
                };
                let mut list = open.lock().unwrap_or_else(|p| p.into_inner());
                for s in [&downstream, &upstream] {
                    if let Ok(c) = s.try_clone() {
                        list.push(c);
                    }
                }
                drop(list);
                for (mut from, mut into) in [
                    (downstream.try_clone(), upstream.try_clone()),
                    (upstream.try_clone(), downstream.try_clone()),
                ]
                .into_iter()
                .filter_map(|(f, i)| Some((f.ok()?, i.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        relay
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr)
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Node `id`'s row in `view`'s `nodes`.
fn node_row<'a>(view: &'a Value, gw: &Gateway) -> Option<&'a Value> {
    let id = gw.admin_addr().to_string();
    view["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["nodeId"] == json!(id))
}

#[test]
fn a_node_partitioned_from_the_store_serves_its_copy_and_catches_up() {
    let pg = Postgres::start();
    let up = MockUpstream::start(Behaviour::Echo);
    let pg_addr: std::net::SocketAddr = format!(
        "127.0.0.1:{}",
        pg.url()
            .split(':')
            .nth(2)
            .and_then(|p| p.split('/').next())
            .expect("a port")
    )
    .parse()
    .expect("an address");
    let relay = Relay::start(pg_addr);
    // A reaches PostgreSQL only through the relay; B directly.
    let a = Gateway::spawn(&config(vec![]), &["--store", &relay.url()]);
    let b = node(&pg);
    let first = create_api(&a, "first", &up);
    eventually(Duration::from_secs(10), "B serves A's API", || {
        served(&b, &first).then_some(())
    });

    // A is cut off; B keeps committing.
    relay.cut();
    let during = create_api(&b, "during", &up);
    assert!(served(&b, &during));

    // A: writes are 503 in AWS's shape and change nothing (here or in the store); reads and
    // the data plane keep serving its last-known-good copy.
    writes_are_refused_and_change_nothing(&a, &first, &up);
    assert_eq!(
        pg.psql("SELECT count(*) FROM docs WHERE doc LIKE '%\"lost\"%'"),
        "0",
        "the refused write reached the store"
    );
    assert!(served(&a, &first));
    assert!(!served(&a, &during));

    // A reports itself stale; B's view shows A lagging behind the version B committed.
    let view = eventually(Duration::from_secs(10), "A reports itself stale", || {
        let v = a.admin_json("GET", "/portico/cluster", Value::Null);
        (v["stale"] == true).then_some(v)
    });
    assert_eq!(view["storeReachable"], false, "{view}");
    let view = eventually(Duration::from_secs(10), "B sees A lagging", || {
        let v = b.admin_json("GET", "/portico/cluster", Value::Null);
        let lag = node_row(&v, &a)?["lag"].as_u64()?;
        (lag >= 1).then_some(v)
    });
    assert_eq!(view["stale"], false, "B itself is fresh: {view}");
    let version = view["version"].as_u64().expect("a version");
    assert!(
        node_row(&view, &a).expect("A's row")["servedVersion"]
            .as_u64()
            .expect("a version")
            < version,
        "{view}"
    );

    // The relay restored: A catches up by version without a restart and reports fresh.
    relay.restore();
    eventually(Duration::from_secs(15), "A serves what B committed", || {
        served(&a, &during).then_some(())
    });
    let view = eventually(Duration::from_secs(15), "A reports fresh", || {
        let v = a.admin_json("GET", "/portico/cluster", Value::Null);
        (v["stale"] == false && v["storeReachable"] == true).then_some(v)
    });
    assert!(
        view["servedVersion"].as_u64().expect("a version") >= version,
        "{view}"
    );
    eventually(Duration::from_secs(15), "B sees A caught up", || {
        let v = b.admin_json("GET", "/portico/cluster", Value::Null);
        (node_row(&v, &a)?["lag"] == json!(0)).then_some(())
    });
    // And A writes again.
    let again = create_api(&a, "again", &up);
    assert!(served(&a, &again));
}
