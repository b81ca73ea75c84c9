//! The operation table against the router and `docs/operations.md`, and AWS's request
//! validation text.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::Method;
use serde_json::{json, Value};

use super::*;
use crate::test_support::{json_bytes, open, send, Answer};
use crate::MemoryStore;

/// The botocore service name.
fn service_name(s: Service) -> &'static str {
    match s {
        Service::V1 => "apigateway",
        Service::V2 => "apigatewayv2",
    }
}

/// The request an SDK sends for `op`, with every label filled in.
fn probe_uri(op: &Operation) -> String {
    let path: Vec<String> = op
        .path()
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                "probe1".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect();
    match op.qualifier() {
        Some(q) => format!("{}?{q}", path.join("/")),
        None => path.join("/"),
    }
}

#[test]
fn every_operation_is_found_from_its_own_request() {
    for op in OPERATIONS {
        let uri = probe_uri(op);
        let (path, query) = uri
            .split_once('?')
            .map_or((uri.as_str(), None), |(p, q)| (p, Some(q)));
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let found = find(&method, path, query).map(|o| (o.service, o.name));
        assert_eq!(found, Some((op.service, op.name)), "{} {uri}", op.method);
    }
    assert!(find(&Method::GET, "/nowhere", None).is_none());
    // A literal segment wins over a label: `.../stages/{s}/cache/data` is not a stage.
    let op = find(&Method::DELETE, "/restapis/a/stages/b/cache/data", None).unwrap();
    assert_eq!(op.name, "FlushStageCache");
    // The query qualifier picks the import over the create.
    let op = find(&Method::POST, "/apikeys", Some("format=csv&mode=import")).unwrap();
    assert_eq!(op.name, "ImportApiKeys");
    assert_eq!(
        find(&Method::POST, "/apikeys", None).unwrap().name,
        "CreateApiKey"
    );
    assert_eq!(
        OPERATIONS
            .iter()
            .filter(|o| o.service == Service::V1)
            .count(),
        124
    );
    assert_eq!(
        OPERATIONS
            .iter()
            .filter(|o| o.service == Service::V2)
            .count(),
        103
    );
}

/// Whether the admin router serves `op`: anything but the 400 naming it.
async fn served(state: &crate::AdminState, op: &Operation) -> bool {
    let uri = probe_uri(op);
    let body = if matches!(op.method, "GET" | "DELETE" | "HEAD") {
        Value::Null
    } else {
        json!({})
    };
    let a: Answer = send(state, op.method, &uri, json_bytes(&body)).await;
    let refused = a.status == 400
        && a.kind.as_deref() == Some("BadRequestException")
        && a.message()
            .starts_with(&format!("{} is not supported by Portico", op.name));
    assert!(
        a.kind.as_deref() != Some("UnknownOperationException"),
        "{} {uri}: the router does not know the operation",
        op.name
    );
    !refused
}

/// `docs/operations.md`: `(service, operation) -> status` from its table rows.
fn documented() -> BTreeMap<(String, String), String> {
    let text = include_str!("../../../docs/operations.md");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !matches!(cells[1], "apigateway" | "apigatewayv2") {
            continue;
        }
        let op = cells[2].trim_matches('`').to_owned();
        let status = cells[3].to_owned();
        assert!(
            matches!(status.as_str(), "served" | "differs" | "refused"),
            "docs/operations.md: {op}: status {status:?}"
        );
        let before = out.insert((cells[1].to_owned(), op.clone()), status);
        assert!(before.is_none(), "docs/operations.md lists {op} twice");
    }
    out
}

/// The table in `docs/operations.md` lists every operation of both models once, and says
/// "refused" exactly for the ones the router answers with the 400 naming them.
#[tokio::test]
async fn operations_doc_matches_the_router() {
    let (state, _cell) = open(Arc::new(MemoryStore::default()));
    let docs = documented();
    let mut wrong = Vec::new();
    for op in OPERATIONS {
        let key = (service_name(op.service).to_owned(), op.name.to_owned());
        let is_served = served(&state, op).await;
        let want = if is_served { "served" } else { "refused" };
        match docs.get(&key).map(String::as_str) {
            None => wrong.push(format!("missing: | {} | {} | {want} |", key.0, key.1)),
            Some("refused") if is_served => {
                wrong.push(format!("served, documented refused: {}", key.1))
            }
            Some("served" | "differs") if !is_served => {
                wrong.push(format!("refused, documented served: {}", key.1))
            }
            Some(_) => {}
        }
    }
    for key in docs.keys() {
        if !OPERATIONS
            .iter()
            .any(|o| service_name(o.service) == key.0 && o.name == key.1)
        {
            wrong.push(format!("not an operation of the models: {key:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn enum_violations_answer_aws_validation_text() {
    let (state, _cell) = open(Arc::new(MemoryStore::default()));
    // Recorded against AWS (LocalStack's snapshot tests hold the same texts).
    let a = send(
        &state,
        "POST",
        "/restapis",
        json_bytes(&json!({"name": "x", "endpointConfiguration": {"types": ["wrong"], "ipAddressType": "wrong"}})),
    )
    .await;
    assert_eq!(
        (a.status.as_u16(), a.kind.as_deref()),
        (400, Some("ValidationException"))
    );
    assert_eq!(
        a.message(),
        "2 validation errors detected: Value '[wrong]' at \
         'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: Member \
         must satisfy constraint: [Member must satisfy enum value set: [PRIVATE, EDGE, \
         REGIONAL]]; Value 'wrong' at 'createRestApiInput.endpointConfiguration.ipAddressType' \
         failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]"
    );
    let a = send(
        &state,
        "PATCH",
        "/restapis/nosuchapi",
        json_bytes(&json!({"patchOperations": [
            {"op": "wrong", "path": "/name", "value": "x"},
            {"op": "replace", "path": "/name", "value": "x"},
            {"op": "wrong", "path": "/name", "value": "x"}]})),
    )
    .await;
    assert_eq!(a.kind.as_deref(), Some("ValidationException"));
    assert_eq!(
        a.message(),
        "2 validation errors detected: Value 'wrong' at \
         'updateRestApiInput.patchOperations.1.member.op' failed to satisfy constraint: Member \
         must satisfy enum value set: [add, remove, move, test, replace, copy]; Value 'wrong' at \
         'updateRestApiInput.patchOperations.3.member.op' failed to satisfy constraint: Member \
         must satisfy enum value set: [add, remove, move, test, replace, copy]"
    );
    let a = send(
        &state,
        "PUT",
        "/restapis/nosuchapi/gatewayresponses/FAKE_RESPONSE_TYPE",
        json_bytes(&json!({})),
    )
    .await;
    assert_eq!(a.kind.as_deref(), Some("ValidationException"));
    assert!(
        a.message().starts_with(
            "1 validation error detected: Value 'FAKE_RESPONSE_TYPE' at 'responseType' failed \
             to satisfy constraint: Member must satisfy enum value set: [REQUEST_TOO_LARGE, "
        ),
        "{}",
        a.message()
    );
    // A valid value goes on to the handler: here, the API does not exist.
    let a = send(
        &state,
        "PATCH",
        "/restapis/nosuchapi",
        json_bytes(&json!({"patchOperations": [{"op": "replace", "path": "/name", "value": "x"}]})),
    )
    .await;
    assert_eq!(a.kind.as_deref(), Some("NotFoundException"));
}

#[tokio::test]
async fn unserved_and_unknown_requests_are_400s_naming_them() {
    let (state, _cell) = open(Arc::new(MemoryStore::default()));
    let a = send(
        &state,
        "GET",
        "/restapis/a1/stages/s/sdks/javascript",
        vec![],
    )
    .await;
    assert_eq!(
        (a.status.as_u16(), a.kind.as_deref()),
        (400, Some("BadRequestException"))
    );
    assert_eq!(
        a.message(),
        "GetSdk is not supported by Portico: SDK generation: no client SDK generator"
    );
    let a = send(&state, "GET", "/no/such/thing", vec![]).await;
    assert_eq!(
        (a.status.as_u16(), a.kind.as_deref()),
        (400, Some("UnknownOperationException"))
    );
    assert_eq!(
        a.message(),
        "No operation of the admin API matches GET /no/such/thing"
    );
}
