use super::*;

#[test]
fn parses_json_and_yaml_and_names_the_version() {
    let j = parse(br#"{"swagger": "2.0", "info": {"title": "t"}, "paths": {}}"#).unwrap();
    assert_eq!(j.flavor, Flavor::Swagger2);
    let y = parse(b"openapi: 3.0.1\ninfo:\n  title: t\n  version: 1.0\npaths: {}\n").unwrap();
    assert_eq!(y.flavor, Flavor::OpenApi3);
    assert_eq!(y.info("version").as_deref(), Some("1.0"));
}

#[test]
fn refuses_what_is_not_a_definition() {
    for (body, want) in [
        (&b""[..], "empty"),
        (&b"{not json"[..], "not valid JSON"),
        (&b"openapi: [unclosed"[..], "YAML"),
        (
            &b"openapi: 3.1.0\ninfo: {title: t}\n"[..],
            "Unsupported OpenAPI version",
        ),
        (&b"swagger: '1.2'\n"[..], "Unsupported Swagger version"),
        (&b"info: {title: t}\n"[..], "no version"),
        (&b"- a list\n"[..], "must be a JSON or YAML object"),
    ] {
        let e = parse(body).unwrap_err();
        assert!(e.message().contains(want), "{want}: {}", e.message());
        assert_eq!(e.code(), "BadRequestException");
    }
}

#[test]
fn base_paths_follow_the_basepath_mode() {
    let d = parse(br#"{"swagger": "2.0", "basePath": "/v1/api", "paths": {}}"#).unwrap();
    assert_eq!(d.full_path("/pets", BasePath::Ignore), "/pets");
    assert_eq!(d.full_path("/pets", BasePath::Prepend), "/v1/api/pets");
    assert_eq!(d.full_path("/pets", BasePath::Split), "/api/pets");
    let o = parse(
        br#"{"openapi": "3.0.1", "servers": [{"url": "https://x.example/{basePath}", "variables": {"basePath": {"default": "prod"}}}], "paths": {}}"#,
    )
    .unwrap();
    assert_eq!(o.full_path("/", BasePath::Prepend), "/prod");
}

// === imports through the admin app ===

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::store::{Change, MemoryStore, Row, Store, StoreError, UsageRow};
use crate::test_support::{open, send};

/// A memory store whose commits fail while `broken` is set.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    broken: AtomicBool,
    commits: std::sync::atomic::AtomicUsize,
}

impl Store for Flaky {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        self.inner.load()
    }
    fn commit(&self, changes: &[Change]) -> Result<(), StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError("disk full".into()));
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(changes)
    }
    fn put_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError> {
        self.inner.put_usage(rows)
    }
    fn load_usage(&self, plan: &str, from: u64, to: u64) -> Result<Vec<UsageRow>, StoreError> {
        self.inner.load_usage(plan, from, to)
    }
}

const DEFINITION: &str = r##"{
  "openapi": "3.0.1",
  "info": {"title": "atomic", "version": "1"},
  "components": {"schemas": {"Thing": {"type": "object"}}},
  "x-amazon-apigateway-request-validators": {"body": {"validateRequestBody": true}},
  "paths": {
    "/a/b/c": {"post": {
      "x-amazon-apigateway-request-validator": "body",
      "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
      "responses": {"200": {"description": "ok"}},
      "x-amazon-apigateway-integration": {"type": "mock",
        "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
        "responses": {"default": {"statusCode": "200"}}}
    }}
  }
}"##;

#[tokio::test]
async fn an_import_is_one_commit_and_one_publish() {
    let store = Arc::new(Flaky::default());
    let (state, cell) = open(store.clone());
    let generation = cell.load().generation;
    let a = send(&state, "POST", "/restapis?mode=import", DEFINITION.into()).await;
    let api = a.success("POST", "/restapis?mode=import");
    assert_eq!(store.commits.load(Ordering::SeqCst), 1, "one transaction");
    assert_eq!(cell.load().generation, generation + 1, "one publish");
    let id = api["id"].as_str().unwrap();
    let rows = store.load().unwrap();
    // The API, its model, validator and the resources /, /a, /a/b, /a/b/c.
    assert_eq!(
        rows.iter().filter(|r| r.api_id == id).count(),
        7,
        "{rows:?}"
    );
    let r = send(
        &state,
        "GET",
        &format!("/restapis/{id}/resources"),
        Vec::new(),
    )
    .await;
    let paths: Vec<String> = r.body["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
}

#[tokio::test]
async fn a_failed_commit_leaves_memory_the_store_and_the_cell_as_they_were() {
    let store = Arc::new(Flaky::default());
    let (state, cell) = open(store.clone());
    let before = cell.load_full();
    store.broken.store(true, Ordering::SeqCst);
    let a = send(&state, "POST", "/restapis?mode=import", DEFINITION.into()).await;
    assert_eq!(a.status, 500, "{:?}", a.body);
    let body = serde_json::json!({"body": DEFINITION.replace("\"paths\"", "\"x-paths\"")});
    let a = send(&state, "PUT", "/v2/apis", body.to_string().into_bytes()).await;
    assert_eq!(a.status, 500, "{:?}", a.body);
    assert!(
        Arc::ptr_eq(&before, &cell.load_full()),
        "nothing was published"
    );
    store.broken.store(false, Ordering::SeqCst);
    let rest = send(&state, "GET", "/restapis", Vec::new()).await;
    assert_eq!(rest.body["item"], serde_json::json!([]), "{:?}", rest.body);
    let http = send(&state, "GET", "/v2/apis", Vec::new()).await;
    assert_eq!(http.body["items"], serde_json::json!([]));
    assert!(store.load().unwrap().is_empty());
}

#[test]
fn a_yaml_alias_bomb_is_refused_not_expanded() {
    let mut doc = String::from("openapi: 3.0.1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let e = parse(doc.as_bytes()).unwrap_err();
    assert_eq!(e.code(), "BadRequestException");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
