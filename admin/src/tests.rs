//! Admin handler tests: `app(state).oneshot(req)`, no socket, an in-memory store.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use portico_shared::limits::V2_BODY_MAX_BYTES;

use super::*;
use crate::test_support::{self, Answer};

struct Harness {
    state: AdminState,
    cell: SnapshotCell,
    store: Arc<MemoryStore>,
}

fn harness() -> Harness {
    harness_on(Arc::new(MemoryStore::default()))
}

fn harness_on(store: Arc<MemoryStore>) -> Harness {
    let (state, cell) = test_support::open(store.clone());
    Harness { state, cell, store }
}

impl Harness {
    async fn call(&self, method: &str, uri: &str, body: &str) -> Answer {
        self.call_bytes(method, uri, body.as_bytes().to_vec()).await
    }

    async fn call_bytes(&self, method: &str, uri: &str, body: Vec<u8>) -> Answer {
        test_support::send(&self.state, method, uri, body).await
    }

    async fn ok(&self, method: &str, uri: &str, body: Value) -> Value {
        self.call(method, uri, &body.to_string())
            .await
            .success(method, uri)
    }

    /// The compiled API `id` as the workers see it.
    fn served(&self, id: &str) -> Option<Vec<String>> {
        let s = self.cell.load();
        let api = s.api(id)?;
        let mut stages: Vec<String> = api.stages().map(|s| s.name.to_string()).collect();
        stages.sort();
        Some(stages)
    }
}

fn message(a: &Answer) -> &str {
    a.message()
}

#[tokio::test]
async fn quick_create_serves_at_once() {
    let h = harness();
    let api = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "pets", "protocolType": "HTTP", "target": "http://127.0.0.1:9/x"}),
        )
        .await;
    let id = api["apiId"].as_str().unwrap();
    assert_eq!(id.len(), 10);
    assert_eq!(
        api["apiEndpoint"],
        format!("http://{id}.execute-api.localhost:8080")
    );
    assert_eq!(
        api["routeSelectionExpression"],
        "$request.method $request.path"
    );
    assert!(api["createdDate"].as_str().unwrap().ends_with('Z'));
    assert_eq!(h.served(id), Some(vec!["$default".to_string()]));
    let routes = h
        .ok("GET", &format!("/v2/apis/{id}/routes"), json!({}))
        .await;
    assert_eq!(routes["items"][0]["routeKey"], "$default");
    assert_eq!(routes["items"][0]["apiGatewayManaged"], true);
    let stage = h
        .ok("GET", &format!("/v2/apis/{id}/stages/$default"), json!({}))
        .await;
    assert_eq!(stage["autoDeploy"], true);
    let deployment = stage["deploymentId"].as_str().unwrap();
    assert_eq!(deployment.len(), 7);
    let d = h
        .ok(
            "GET",
            &format!("/v2/apis/{id}/deployments/{deployment}"),
            json!({}),
        )
        .await;
    assert_eq!(d["autoDeployed"], true);
    assert_eq!(d["deploymentStatus"], "DEPLOYED");
}

#[tokio::test]
async fn step_by_step_with_auto_deploy() {
    let h = harness();
    let api = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "a", "protocolType": "HTTP"}),
        )
        .await;
    let id = api["apiId"].as_str().unwrap().to_string();
    let base = format!("/v2/apis/{id}");
    let i = h
        .ok(
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9/{id}",
                   "integrationMethod": "GET", "payloadFormatVersion": "1.0"}),
        )
        .await;
    let target = format!("integrations/{}", i["integrationId"].as_str().unwrap());
    assert_eq!(i["timeoutInMillis"], 30000);
    let r = h
        .ok(
            "POST",
            &format!("{base}/routes"),
            json!({"routeKey": "GET /pets/{id}", "target": target}),
        )
        .await;
    assert_eq!(r["authorizationType"], "NONE");
    assert_eq!(h.served(&id), Some(vec![]), "no stage yet: nothing served");

    let a = h
        .call(
            "POST",
            &format!("{base}/stages"),
            r#"{"stageName": "prod", "autoDeploy": true, "stageVariables": {"v": "1"},
               "defaultRouteSettings": {"throttlingBurstLimit": 5, "throttlingRateLimit": 2.5},
               "routeSettings": {"GET /pets/{id}": {"detailedMetricsEnabled": true}}}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["defaultRouteSettings"]["throttlingBurstLimit"], 5);
    assert_eq!(
        a.body["routeSettings"]["GET /pets/{id}"]["detailedMetricsEnabled"],
        true
    );
    assert_eq!(h.served(&id), Some(vec!["prod".to_string()]));
    let first = a.body["deploymentId"].as_str().unwrap().to_string();

    // A route change redeploys the auto-deploy stage and drops the replaced auto-deployment.
    let generation = h.cell.load().generation;
    h.ok(
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "POST /pets", "target": target}),
    )
    .await;
    assert_eq!(h.cell.load().generation, generation + 1);
    let stage = h.ok("GET", &format!("{base}/stages/prod"), json!({})).await;
    assert_ne!(stage["deploymentId"], first.as_str());
    let deployments = h.ok("GET", &format!("{base}/deployments"), json!({})).await;
    assert_eq!(deployments["items"].as_array().unwrap().len(), 1);
    let routes = h.cell.load();
    let prod = routes.api(&id).unwrap().stages().next().unwrap();
    assert_eq!(prod.routes.len(), 2);

    // A manual stage serves nothing until deployed, then the deployment it points at.
    h.ok(
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "beta"}),
    )
    .await;
    assert_eq!(h.served(&id), Some(vec!["prod".to_string()]));
    let d = h
        .ok(
            "POST",
            &format!("{base}/deployments"),
            json!({"stageName": "beta", "description": "first"}),
        )
        .await;
    assert_eq!(d["autoDeployed"], false);
    assert_eq!(
        h.served(&id),
        Some(vec!["beta".to_string(), "prod".to_string()])
    );
    let a = h
        .call(
            "DELETE",
            &format!("{base}/deployments/{}", d["deploymentId"].as_str().unwrap()),
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "in use by beta: {}", a.body);

    let a = h.call("DELETE", &format!("{base}/stages/beta"), "").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = h.call("DELETE", &base, "").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(h.served(&id), None);
    assert!(
        h.store.load().unwrap().is_empty(),
        "delete removes everything"
    );
}

#[tokio::test]
async fn errors_have_aws_shape_and_list_every_problem() {
    let h = harness();
    let api = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "a", "protocolType": "HTTP"}),
        )
        .await;
    let base = format!("/v2/apis/{}", api["apiId"].as_str().unwrap());

    /// (method, uri, body, status, error code, parts of the message)
    type Case<'a> = (&'a str, String, &'a str, StatusCode, &'a str, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            "GET",
            "/v2/apis/nope".into(),
            "",
            StatusCode::NOT_FOUND,
            "NotFoundException",
            vec!["Invalid API identifier specified 000000000000:nope"],
        ),
        (
            "GET",
            format!("{base}/routes/zzz"),
            "",
            StatusCode::NOT_FOUND,
            "NotFoundException",
            vec!["Invalid Route identifier"],
        ),
        (
            "POST",
            "/v2/apis".into(),
            "{",
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec!["Invalid request body"],
        ),
        (
            "POST",
            "/v2/apis".into(),
            r#"{"name": 3, "protocolType": "HTTP"}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec!["invalid type"],
        ),
        (
            "POST",
            "/v2/apis".into(),
            r#"{"protocolType": "WEBSOCKET"}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec![
                "2 validation errors",
                "name is required",
                "routeSelectionExpression is required for WebSocket APIs",
            ],
        ),
        (
            "POST",
            format!("{base}/routes"),
            r#"{"routeKey": "GET nope", "target": "lambda"}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec![
                "2 validation errors",
                "Invalid routeKey",
                "Invalid target 'lambda'",
            ],
        ),
        (
            "POST",
            format!("{base}/routes"),
            r#"{"routeKey": "GET /a", "target": "integrations/nope"}"#,
            StatusCode::NOT_FOUND,
            "NotFoundException",
            vec!["Invalid target integrations/nope: the integration does not exist"],
        ),
        (
            "POST",
            format!("{base}/integrations"),
            r#"{"integrationType": "AWS"}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec!["may only be associated with proxy integrations (AWS_PROXY, HTTP_PROXY)"],
        ),
        (
            "POST",
            format!("{base}/integrations"),
            r#"{"integrationType": "AWS_PROXY", "integrationUri": "arn:aws:lambda:us-east-1:1:function:f"}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec![
                "payloadFormatVersion is required for AWS_PROXY integrations",
                "is not a Lambda function ARN",
            ],
        ),
        (
            "POST",
            format!("{base}/integrations"),
            r#"{"integrationType": "HTTP_PROXY", "integrationUri": "ftp://x", "timeoutInMillis": 31000, "payloadFormatVersion": "2.0"}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec![
                "3 validation errors",
                "absolute http://",
                "timeoutInMillis",
                "payloadFormatVersion",
            ],
        ),
        (
            "POST",
            format!("{base}/stages"),
            r#"{"stageName": "bad name", "stageVariables": {"a-b": "x y"}}"#,
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec![
                "3 validation errors",
                "Invalid stageName",
                "stage variable name",
                "Invalid value",
            ],
        ),
        (
            "POST",
            format!("{base}/stages"),
            r#"{"stageName": "s", "deploymentId": "nope"}"#,
            StatusCode::NOT_FOUND,
            "NotFoundException",
            vec!["Invalid Deployment identifier"],
        ),
        (
            "GET",
            "/v2/apis?maxResults=0".into(),
            "",
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec!["maxResults"],
        ),
        (
            "GET",
            "/v2/apis?nextToken=zz".into(),
            "",
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            vec!["Invalid nextToken"],
        ),
        (
            "PUT",
            "/v2/apis/x/routes".into(),
            "",
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            vec!["No operation of the admin API matches PUT /v2/apis/x/routes"],
        ),
        (
            "GET",
            "/nope".into(),
            "",
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            vec!["No operation of the admin API matches GET /nope"],
        ),
    ];
    for (method, uri, body, status, kind, parts) in cases {
        let a = h.call(method, &uri, body).await;
        assert_eq!(a.status, status, "{method} {uri} {body}: {}", a.body);
        assert_eq!(a.kind.as_deref(), Some(kind), "{method} {uri}");
        for p in parts {
            assert!(
                message(&a).contains(p),
                "{method} {uri}: {p:?} not in {}",
                a.body
            );
        }
    }

    let big = format!(
        r#"{{"name": "{}", "protocolType": "HTTP"}}"#,
        "x".repeat(V2_BODY_MAX_BYTES)
    );
    let a = h.call("POST", "/v2/apis", &big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.kind.as_deref(), Some("BadRequestException"));

    // Duplicates are conflicts.
    let i = h
        .ok(
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9"}),
        )
        .await;
    let target = format!("integrations/{}", i["integrationId"].as_str().unwrap());
    h.ok(
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "GET /a", "target": target}),
    )
    .await;
    let a = h
        .call(
            "POST",
            &format!("{base}/routes"),
            &json!({"routeKey": "GET /a"}).to_string(),
        )
        .await;
    assert_eq!(
        (a.status, a.kind.as_deref()),
        (StatusCode::CONFLICT, Some("ConflictException"))
    );
    h.ok("POST", &format!("{base}/stages"), json!({"stageName": "s"}))
        .await;
    let a = h
        .call(
            "POST",
            &format!("{base}/stages"),
            &json!({"stageName": "s"}).to_string(),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = h
        .call(
            "DELETE",
            &format!(
                "{base}/integrations/{}",
                i["integrationId"].as_str().unwrap()
            ),
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "still a route's target");
}

#[tokio::test]
async fn compile_error_changes_nothing() {
    let h = harness();
    let api = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "a", "protocolType": "HTTP"}),
        )
        .await;
    let base = format!("/v2/apis/{}", api["apiId"].as_str().unwrap());
    h.ok(
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "$default", "autoDeploy": true, "stageVariables": {"up": "127.0.0.1:9"}}),
    )
    .await;
    let i = h
        .ok(
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://${stageVariables.up}/x"}),
        )
        .await;
    assert_eq!(i["integrationUri"], "http://${stageVariables.up}/x");
    let generation = h.cell.load().generation;
    let stored = h.store.load().unwrap();
    // The stage would no longer define the variable its deployment's integration uses.
    let a = h
        .call(
            "PATCH",
            &format!("{base}/stages/$default"),
            &json!({"stageVariables": {"other": "x"}}).to_string(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(message(&a).contains("stage variable 'up'"), "{}", a.body);
    assert_eq!(h.cell.load().generation, generation, "nothing published");
    assert_eq!(h.store.load().unwrap(), stored, "nothing committed");
    let stage = h
        .ok("GET", &format!("{base}/stages/$default"), json!({}))
        .await;
    assert_eq!(stage["stageVariables"]["up"], "127.0.0.1:9");
}

#[tokio::test]
async fn pages_and_reload() {
    let store = Arc::new(MemoryStore::default());
    let h = harness_on(store.clone());
    let mut ids = Vec::new();
    for n in 0..7 {
        let a = h
            .ok(
                "POST",
                "/v2/apis",
                json!({"name": format!("api{n}"), "protocolType": "HTTP", "target": "http://127.0.0.1:9"}),
            )
            .await;
        ids.push(a["apiId"].as_str().unwrap().to_string());
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let uri = if token.is_empty() {
            "/v2/apis?maxResults=3".to_string()
        } else {
            format!("/v2/apis?maxResults=3&nextToken={token}")
        };
        let page = h.ok("GET", &uri, json!({})).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|a| a["apiId"].as_str().unwrap().to_string()),
        );
        match page["nextToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    // A new admin side on the same store serves the same stages.
    let again = harness_on(store);
    for id in &ids {
        assert_eq!(again.served(id), Some(vec!["$default".to_string()]));
    }
}

#[tokio::test]
async fn portico_config_import_and_export() {
    let h = harness();
    let good = r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"$default","target":"integrations/i"}],
        "integrations":[{"integrationId":"i","integrationType":"HTTP_PROXY","integrationUri":"http://127.0.0.1:9"}],
        "stages":[{"stageName":"$default"}, {"stageName":"prod"}]}]}"#;
    let a = h.call("PUT", "/portico/config", good).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["generation"], h.cell.load().generation);
    assert_eq!(
        h.served("abc"),
        Some(vec!["$default".to_string(), "prod".to_string()])
    );
    let exported = h.ok("GET", "/portico/config", json!({})).await;
    assert_eq!(exported["apis"][0]["apiId"], "abc");
    assert_eq!(
        exported["apis"][0]["integrations"][0]["integrationUri"],
        "http://127.0.0.1:9"
    );
    // The imported API is an ordinary v2 API.
    let stages = h.ok("GET", "/v2/apis/abc/stages", json!({})).await;
    assert_eq!(stages["items"].as_array().unwrap().len(), 2);

    let generation = h.cell.load().generation;
    let bad = r#"{"apis":[{"apiId":"abc","routes":[{"routeKey":"GET x"}],"stages":[{"stageName":"bad name"}]}]}"#;
    let a = h.call("PUT", "/portico/config", bad).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.kind.as_deref(), Some("BadRequestException"));
    assert!(message(&a).contains("2 validation errors"), "{}", a.body);
    assert_eq!(
        h.cell.load().generation,
        generation,
        "a failed publish changes nothing"
    );
    for junk in ["{", r#"{"apis": 3}"#, r#"{"bogus": []}"#, ""] {
        let a = h.call("PUT", "/portico/config", junk).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{junk}: {}", a.body);
        assert_eq!(a.kind.as_deref(), Some("BadRequestException"));
    }
    assert_eq!(
        h.ok("GET", "/portico/config", json!({})).await,
        exported,
        "refused documents change nothing"
    );

    // PUT replaces everything: an API made through /v2/ and not in the document goes away.
    let v2 = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "x", "protocolType": "HTTP"}),
        )
        .await;
    h.call("PUT", "/portico/config", r#"{"apis": []}"#).await;
    let a = h
        .call(
            "GET",
            &format!("/v2/apis/{}", v2["apiId"].as_str().unwrap()),
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(h.served("abc"), None);

    let a = h.call("GET", "/portico/stats", "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["routes"], json!([]));
}

#[tokio::test]
async fn replaced_snapshots_are_freed_on_the_admin_side() {
    let h = harness();
    let held = h.cell.load_full(); // what a worker still reads
    h.ok(
        "POST",
        "/v2/apis",
        json!({"name": "a", "protocolType": "HTTP", "target": "http://127.0.0.1:9"}),
    )
    .await;
    assert_eq!(
        Arc::strong_count(&held),
        2,
        "the admin side keeps the replaced snapshot, so the worker's drop frees nothing"
    );
    let weak = Arc::downgrade(&held);
    drop(held);
    assert!(weak.upgrade().is_some(), "still kept until the next sweep");
    h.ok(
        "POST",
        "/v2/apis",
        json!({"name": "b", "protocolType": "HTTP"}),
    )
    .await;
    assert!(weak.upgrade().is_none(), "freed by the next publish");
}

/// Mutated bodies (truncated, bytes flipped, members of the wrong type) on every write endpoint:
/// always a 4xx or a 2xx in AWS's shape, never a 5xx or a panic.
#[tokio::test]
async fn mutated_requests_never_answer_5xx() {
    let h = harness();
    let api = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "a", "protocolType": "HTTP", "target": "http://127.0.0.1:9"}),
        )
        .await;
    let id = api["apiId"].as_str().unwrap().to_string();
    let base = format!("/v2/apis/{id}");
    let i = h
        .ok(
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9"}),
        )
        .await;
    let iid = i["integrationId"].as_str().unwrap().to_string();
    let targets: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            "/v2/apis".into(),
            json!({"name": "n", "protocolType": "HTTP", "target": "http://127.0.0.1:9/x", "routeKey": "GET /a", "tags": {"k": "v"}}),
        ),
        (
            "PATCH",
            base.clone(),
            json!({"name": "n", "description": "d", "disableExecuteApiEndpoint": true}),
        ),
        (
            "POST",
            format!("{base}/routes"),
            json!({"routeKey": "GET /m/{id}", "target": format!("integrations/{iid}")}),
        ),
        (
            "POST",
            format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9/{id}", "timeoutInMillis": 100}),
        ),
        (
            "PATCH",
            format!("{base}/integrations/{iid}"),
            json!({"integrationUri": "http://127.0.0.1:9/y", "integrationMethod": "GET"}),
        ),
        (
            "POST",
            format!("{base}/stages"),
            json!({"stageName": "s", "stageVariables": {"a": "b"}, "routeSettings": {"GET /a": {"throttlingRateLimit": 1.5}}}),
        ),
        (
            "PATCH",
            format!("{base}/stages/$default"),
            json!({"stageVariables": {"a": "c"}, "autoDeploy": false}),
        ),
        (
            "POST",
            format!("{base}/deployments"),
            json!({"description": "d", "stageName": "$default"}),
        ),
        (
            "PUT",
            "/portico/config".into(),
            json!({"apis": [{"apiId": "zz", "routes": [{"routeKey": "$default", "target": "integrations/i"}],
            "integrations": [{"integrationId": "i", "integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9"}],
            "stages": [{"stageName": "$default", "stageVariables": {"x": "y"}}]}]}),
        ),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (method, uri, body) in &targets {
        let text = body.to_string().into_bytes();
        for round in 0..60 {
            let mut b = text.clone();
            match round % 4 {
                0 => b.truncate((next() as usize) % b.len()),
                1 => {
                    for _ in 0..3 {
                        let at = (next() as usize) % b.len();
                        b[at] = (next() % 256) as u8;
                    }
                }
                2 => {
                    let at = (next() as usize) % b.len();
                    let junk: &[u8] = [
                        &b"null"[..],
                        b"[]",
                        b"{}",
                        b"-1",
                        b"1e999",
                        b"\"\\u0000\"",
                        b"\xff",
                    ][(next() as usize) % 7];
                    b.splice(at..at, junk.iter().copied());
                }
                _ => {
                    // Every string member set to a long odd string.
                    let s = String::from_utf8_lossy(&b).replace(
                        ":\"",
                        &format!(":\"{}", "%{}${/ \u{7f}".repeat((next() % 40) as usize)),
                    );
                    b = s.into_bytes();
                }
            }
            let a = h.call_bytes(method, uri, b.clone()).await;
            assert!(
                a.status.as_u16() < 500,
                "{method} {uri} {:?}: {} {}",
                String::from_utf8_lossy(&b),
                a.status,
                a.body
            );
            if !a.status.is_success() {
                assert!(a.kind.is_some(), "{method} {uri}: no x-amzn-ErrorType");
                assert!(!message(&a).is_empty(), "{method} {uri}: {}", a.body);
            }
        }
    }
}

// === CORS and parameter mapping (HTTP APIs) ===

async fn quick_api(h: &Harness) -> String {
    let api = h
        .ok(
            "POST",
            "/v2/apis",
            json!({"name": "c", "protocolType": "HTTP", "target": "http://127.0.0.1:9/x"}),
        )
        .await;
    api["apiId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn cors_is_validated_published_and_deleted() {
    let h = harness();
    let id = quick_api(&h).await;
    let cors = json!({"allowOrigins": ["https://a.test"], "allowMethods": ["GET"],
                      "allowCredentials": true, "maxAge": 60});
    let api = h
        .ok(
            "PATCH",
            &format!("/v2/apis/{id}"),
            json!({"corsConfiguration": cors}),
        )
        .await;
    assert_eq!(api["corsConfiguration"], cors);
    assert!(h.cell.load().api(&id).unwrap().cors.is_some());

    for (bad, words) in [
        (
            json!({"allowOrigins": ["*"], "allowCredentials": true}),
            "allowCredentials",
        ),
        (json!({"maxAge": 86401}), "maxAge"),
        (
            json!({"allowOrigins": ["https://a.test/path"]}),
            "allowOrigins",
        ),
        (json!({"allowHeaders": ["a b"]}), "allowHeaders"),
    ] {
        let a = h
            .call(
                "PATCH",
                &format!("/v2/apis/{id}"),
                &json!({"corsConfiguration": bad}).to_string(),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(message(&a).contains(words), "{bad}: {}", message(&a));
    }
    // Refused changes touch nothing.
    let api = h.ok("GET", &format!("/v2/apis/{id}"), json!({})).await;
    assert_eq!(api["corsConfiguration"], cors);

    let a = h.call("DELETE", &format!("/v2/apis/{id}/cors"), "").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(h.cell.load().api(&id).unwrap().cors.is_none());
    let api = h.ok("GET", &format!("/v2/apis/{id}"), json!({})).await;
    assert!(api.get("corsConfiguration").is_none(), "{api}");
    let a = h.call("DELETE", "/v2/apis/nope123456/cors", "").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn parameter_mapping_is_validated_and_stored() {
    let h = harness();
    let id = quick_api(&h).await;
    let uri = format!("/v2/apis/{id}/integrations");
    let good = json!({
        "integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9/y",
        "payloadFormatVersion": "1.0",
        "requestParameters": {"append:header.x-id": "${request.path.id}-x",
                              "overwrite:path": "/v2/$request.path.id",
                              "remove:querystring.debug": "''"},
        "responseParameters": {"404": {"overwrite:statuscode": "200",
                                       "append:header.x-up": "$response.header.x-up"}},
    });
    let i = h.ok("POST", &uri, good.clone()).await;
    assert_eq!(i["requestParameters"], good["requestParameters"]);
    assert_eq!(i["responseParameters"], good["responseParameters"]);
    let iid = i["integrationId"].as_str().unwrap();
    let got = h.ok("GET", &format!("{uri}/{iid}"), json!({})).await;
    assert_eq!(got["requestParameters"], good["requestParameters"]);

    for (bad, words) in [
        (
            json!({"requestParameters": {"overwrite:header.Authorization": "x"}}),
            "reserved",
        ),
        (
            json!({"requestParameters": {"append:header.x-amz-date": "x"}}),
            "reserved",
        ),
        (
            json!({"requestParameters": {"append:header.x": "$request.body.name"}}),
            "not supported yet",
        ),
        (
            json!({"requestParameters": {"append:path": "/x"}}),
            "overwrite:path",
        ),
        (
            json!({"requestParameters": {"append:header.x": "$response.header.y"}}),
            "request parameters take",
        ),
        (
            json!({"responseParameters": {"700": {"remove:header.x": "''"}}}),
            "200 to 599",
        ),
        (
            json!({"responseParameters": {"200": {"overwrite:statuscode": "99"}}}),
            "status code",
        ),
        (
            json!({"responseParameters": {"200": {"append:header.content-length": "1"}}}),
            "reserved",
        ),
    ] {
        let a = h
            .call("PATCH", &format!("{uri}/{iid}"), &bad.to_string())
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(message(&a).contains(words), "{bad}: {}", message(&a));
    }
    // An empty map removes the mapping.
    let i = h
        .ok(
            "PATCH",
            &format!("{uri}/{iid}"),
            json!({"requestParameters": {}}),
        )
        .await;
    assert!(i.get("requestParameters").is_none(), "{i}");
}

#[tokio::test]
async fn jwt_authorizers_crud_and_route_references() {
    let h = harness();
    let id = quick_api(&h).await;
    let base = format!("/v2/apis/{id}");
    let jwt = json!({"name": "users", "authorizerType": "JWT",
                     "identitySource": ["$request.header.Authorization"],
                     "jwtConfiguration": {"issuer": "http://127.0.0.1:9/iss", "audience": ["app"]}});
    let a = h.ok("POST", &format!("{base}/authorizers"), jwt).await;
    let auth_id = a["authorizerId"].as_str().unwrap().to_string();
    assert_eq!(a["authorizerType"], "JWT");
    assert_eq!(a["jwtConfiguration"]["issuer"], "http://127.0.0.1:9/iss");

    // Every problem at once; https discovery is refused clearly.
    let bad = h
        .call(
            "POST",
            &format!("{base}/authorizers"),
            &json!({"name": "l", "authorizerType": "JWT", "identitySource": ["$request.querystring.t"],
                    "jwtConfiguration": {"issuer": "https://issuer.example", "audience": []}})
            .to_string(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let m = message(&bad);
    for part in ["identitySource", "until TLS lands", "audience must have"] {
        assert!(m.contains(part), "{part} in {m}");
    }
    // A Lambda (REQUEST) authorizer: its own members, every problem at once.
    let bad = h
        .call(
            "POST",
            &format!("{base}/authorizers"),
            &json!({"name": "l", "authorizerType": "REQUEST", "identitySource": ["$request.body.t"],
                    "authorizerResultTtlInSeconds": 4000,
                    "jwtConfiguration": {"issuer": "http://issuer.example", "audience": ["a"]}})
            .to_string(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let m = message(&bad);
    for part in [
        "authorizerUri is required",
        "jwtConfiguration is only used with JWT",
        "Invalid identity source '$request.body.t'",
        "between 0 and 3600",
        "authorizerPayloadFormatVersion is required",
    ] {
        assert!(m.contains(part), "{part} in {m}");
    }
    let lambda = h
        .ok(
            "POST",
            &format!("{base}/authorizers"),
            json!({"name": "l", "authorizerType": "REQUEST", "identitySource": ["$request.header.t"],
                   "authorizerUri": "arn:aws:lambda:us-east-1:123456789012:function:auth",
                   "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": true}),
        )
        .await;
    assert_eq!(lambda["authorizerType"], "REQUEST");
    assert_eq!(lambda["enableSimpleResponses"], true);
    assert!(lambda.get("jwtConfiguration").is_none(), "{lambda}");
    // `jwksUri` (Portico extension) lifts the https issuer's discovery.
    h.ok(
        "PATCH",
        &format!("{base}/authorizers/{auth_id}"),
        json!({"jwtConfiguration": {"issuer": "https://issuer.example", "jwksUri": "http://127.0.0.1:9/jwks"}}),
    )
    .await;
    let got = h
        .ok("GET", &format!("{base}/authorizers/{auth_id}"), json!({}))
        .await;
    assert_eq!(got["jwtConfiguration"]["audience"], json!(["app"]));
    assert_eq!(
        got["jwtConfiguration"]["jwksUri"],
        "http://127.0.0.1:9/jwks"
    );

    // Routes: JWT needs an existing authorizer; scopes need JWT.
    let routes = format!("{base}/routes");
    for (body, status) in [
        (
            json!({"routeKey": "GET /a", "authorizationType": "JWT"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"routeKey": "GET /a", "authorizationType": "JWT", "authorizerId": "nope"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"routeKey": "GET /a", "authorizationScopes": ["s"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"routeKey": "GET /a", "authorizationType": "CUSTOM"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = h.call("POST", &routes, &body.to_string()).await;
        assert_eq!(r.status, status, "{body}: {}", message(&r));
    }
    let route = h
        .ok(
            "POST",
            &routes,
            json!({"routeKey": "GET /a", "authorizationType": "JWT", "authorizerId": auth_id,
                   "authorizationScopes": ["read"]}),
        )
        .await;
    assert_eq!(route["authorizerId"], auth_id.as_str());
    // The auto-deployed stage serves it with the authorizer frozen in.
    {
        let s = h.cell.load();
        let api = s.api(&id).unwrap();
        let stage = api.stages().next().unwrap();
        let r = stage
            .routes
            .iter()
            .find(|r| &*r.route_key == "GET /a")
            .unwrap();
        let auth = r.auth.as_deref().unwrap();
        assert_eq!(&*auth.authorizer.issuer, "https://issuer.example");
        assert_eq!(auth.scopes.len(), 1);
        assert_eq!(api.key_slots.len(), 1);
    }
    // In use: 409; free again once the route is open.
    let del = h
        .call("DELETE", &format!("{base}/authorizers/{auth_id}"), "")
        .await;
    assert_eq!(del.status, StatusCode::CONFLICT);
    let route_id = route["routeId"].as_str().unwrap();
    h.ok(
        "PATCH",
        &format!("{routes}/{route_id}"),
        json!({"authorizationType": "NONE", "authorizationScopes": []}),
    )
    .await;
    // Survives a restart from the store.
    let again = harness_on(h.store.clone());
    let list = again
        .ok("GET", &format!("{base}/authorizers"), json!({}))
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "the JWT and the Lambda authorizer"
    );
    let del = h
        .call("DELETE", &format!("{base}/authorizers/{auth_id}"), "")
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = h
        .call("GET", &format!("{base}/authorizers/{auth_id}"), "")
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

/// HTTP APIs: a value that is not one of the member's wire values, or one that belongs to REST
/// APIs only, is refused with AWS's message; stored records read back in wire spelling.
#[tokio::test]
async fn enum_members_are_checked_and_read_back_in_wire_spelling() {
    let h = harness();
    let id = quick_api(&h).await;
    let base = format!("/v2/apis/{id}");
    for (uri, body, want) in [
        (
            "routes",
            json!({"routeKey": "GET /a", "authorizationType": "COGNITO_USER_POOLS"}),
            "Invalid authorizationType 'COGNITO_USER_POOLS': use NONE, AWS_IAM, CUSTOM or JWT",
        ),
        (
            "authorizers",
            json!({"name": "a", "authorizerType": "TOKEN", "identitySource": ["$request.header.A"],
                   "jwtConfiguration": {"issuer": "http://i", "audience": ["x"]}}),
            "Invalid authorizerType 'TOKEN': use JWT or REQUEST",
        ),
        (
            "integrations",
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9/",
                   "payloadFormatVersion": "1.0", "connectionType": "VPC"}),
            "Invalid connectionType 'VPC': use INTERNET or VPC_LINK",
        ),
    ] {
        let r = h
            .call("POST", &format!("{base}/{uri}"), &body.to_string())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", message(&r));
        assert_eq!(message(&r), want, "{body}");
    }
    let i = h
        .ok(
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "HTTP_PROXY", "integrationUri": "http://127.0.0.1:9/",
                   "payloadFormatVersion": "1.0"}),
        )
        .await;
    assert_eq!(i["integrationType"], "HTTP_PROXY");
    assert_eq!(i["connectionType"], "INTERNET");
    let r = h
        .ok(
            "POST",
            &format!("{base}/routes"),
            json!({"routeKey": "GET /iam", "authorizationType": "AWS_IAM"}),
        )
        .await;
    assert_eq!(r["authorizationType"], "AWS_IAM");
}
