//! WebSocket API control plane: `app(state).oneshot(req)`, in-memory store.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::store::MemoryStore;
use crate::test_support::{self, Answer};
use crate::{AdminState, SnapshotCell};

async fn call(s: &AdminState, method: &str, uri: &str, body: Value) -> Answer {
    test_support::send(s, method, uri, test_support::json_bytes(&body)).await
}

async fn ok(s: &AdminState, method: &str, uri: &str, body: Value) -> Value {
    call(s, method, uri, body).await.success(method, uri)
}

/// A WebSocket API with a MOCK `$default` route, its responses and an auto-deployed stage.
async fn echo_api(s: &AdminState) -> (String, String, String) {
    let api = ok(
        s,
        "POST",
        "/v2/apis",
        json!({"name": "ws", "protocolType": "WEBSOCKET",
               "routeSelectionExpression": "${request.body.a}/${request.body.b}"}),
    )
    .await;
    assert_eq!(api["protocolType"], "WEBSOCKET");
    assert!(api["apiEndpoint"].as_str().unwrap().starts_with("ws://"));
    let id = api["apiId"].as_str().unwrap().to_string();
    let base = format!("/v2/apis/{id}");
    let i = ok(
        s,
        "POST",
        &format!("{base}/integrations"),
        json!({"integrationType": "MOCK", "templateSelectionExpression": "\\$default",
               "requestTemplates": {"$default": "{\"statusCode\": 200}"}}),
    )
    .await;
    let iid = i["integrationId"].as_str().unwrap().to_string();
    let r = ok(
        s,
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "$default", "target": format!("integrations/{iid}"),
               "routeResponseSelectionExpression": "$default"}),
    )
    .await;
    let rid = r["routeId"].as_str().unwrap().to_string();
    ok(
        s,
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "prod", "autoDeploy": true}),
    )
    .await;
    (id, iid, rid)
}

fn route_response(cell: &SnapshotCell, id: &str) -> bool {
    let s = cell.load();
    let stage = s.api(id).unwrap().stages().next().unwrap();
    let ws = stage.websocket.as_deref().unwrap();
    ws.route(ws.default).unwrap().route_response
}

#[tokio::test]
async fn route_and_integration_responses_are_served_and_survive_a_restart() {
    let store = Arc::new(MemoryStore::default());
    let (s, cell) = test_support::open(store.clone());
    let (id, iid, rid) = echo_api(&s).await;
    let base = format!("/v2/apis/{id}");
    assert!(!route_response(&cell, &id), "no route response yet");
    let rr = ok(
        &s,
        "POST",
        &format!("{base}/routes/{rid}/routeresponses"),
        json!({"routeResponseKey": "$default"}),
    )
    .await;
    assert!(
        route_response(&cell, &id),
        "auto-deployed with the route response"
    );
    let dup = call(
        &s,
        "POST",
        &format!("{base}/routes/{rid}/routeresponses"),
        json!({"routeResponseKey": "$default"}),
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let ir = ok(
        &s,
        "POST",
        &format!("{base}/integrations/{iid}/integrationresponses"),
        json!({"integrationResponseKey": "/4\\d\\d/", "responseTemplates": {"$default": "$input.body"}}),
    )
    .await;
    assert_eq!(ir["integrationResponseKey"], "/4\\d\\d/");

    // A restart from the store serves the same.
    let (s2, cell2) = test_support::open(store);
    assert!(route_response(&cell2, &id));
    let list = ok(
        &s2,
        "GET",
        &format!("{base}/integrations/{iid}/integrationresponses"),
        json!({}),
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let got = ok(
        &s2,
        "GET",
        &format!(
            "{base}/routes/{rid}/routeresponses/{}",
            rr["routeResponseId"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(got["routeResponseKey"], "$default");

    // Deleting the route deletes its route responses.
    ok(
        &s2,
        "PATCH",
        &format!("{base}/routes/{rid}"),
        json!({"routeKey": "other"}),
    )
    .await;
    let del = call(&s2, "DELETE", &format!("{base}/routes/{rid}"), json!({})).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = call(
        &s2,
        "GET",
        &format!("{base}/routes/{rid}/routeresponses"),
        json!({}),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn websocket_refusals_list_every_problem() {
    let (s, _cell) = test_support::open(Arc::new(MemoryStore::default()));
    let (id, iid, rid) = echo_api(&s).await;
    let base = format!("/v2/apis/{id}");
    let table: Vec<(String, Value, Vec<&str>)> = vec![
        (
            "/v2/apis".into(),
            json!({"name": "x", "protocolType": "WEBSOCKET", "routeSelectionExpression": "$request.header.x"}),
            vec!["Invalid routeSelectionExpression"],
        ),
        (
            format!("{base}/routes"),
            json!({"routeKey": "$custom", "routeResponseSelectionExpression": "x"}),
            vec![
                "must not start with '$'",
                "only value supported is $default",
            ],
        ),
        (
            format!("{base}/integrations"),
            json!({"integrationType": "HTTP", "requestTemplates": {"$default": "#if($x == 1) unclosed"},
                   "passthroughBehavior": "SOMETIMES"}),
            vec![
                "integrationUri is required",
                "requestTemplates['$default']",
                "passthroughBehavior",
            ],
        ),
        (
            format!("{base}/routes/{rid}/routeresponses"),
            json!({"routeResponseKey": "other"}),
            vec!["only key supported is $default"],
        ),
        (
            format!("{base}/integrations/{iid}/integrationresponses"),
            json!({"integrationResponseKey": "/(/"}),
            vec!["Invalid integrationResponseKey"],
        ),
    ];
    for (uri, body, parts) in table {
        let a = call(&s, "POST", &uri, body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri} {body}");
        for p in parts {
            assert!(
                a.message().contains(p),
                "{uri}: {p:?} not in {}",
                a.message()
            );
        }
    }
    // Route responses belong to WebSocket APIs only.
    let http = ok(
        &s,
        "POST",
        "/v2/apis",
        json!({"name": "h", "protocolType": "HTTP"}),
    )
    .await;
    let hid = http["apiId"].as_str().unwrap();
    let r = ok(
        &s,
        "POST",
        &format!("/v2/apis/{hid}/routes"),
        json!({"routeKey": "GET /a"}),
    )
    .await;
    let a = call(
        &s,
        "POST",
        &format!(
            "/v2/apis/{hid}/routes/{}/routeresponses",
            r["routeId"].as_str().unwrap()
        ),
        json!({"routeResponseKey": "$default"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}
