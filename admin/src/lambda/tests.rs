//! Handler tests without a socket (`app(state).oneshot(req)`): validation and Lambda's error
//! shapes. Processes and the Runtime API are exercised end to end in `tests/aws/test_functions.py`.

use std::io::Write;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::json;

use crate::test_support::{json_bytes, open, send};
use crate::MemoryStore;

fn zip_b64(files: &[(&str, &str, u32)]) -> String {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, body, mode) in files {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(*mode);
            w.start_file(*name, opts).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

fn create(name: &str, zip: &str) -> serde_json::Value {
    json!({
        "FunctionName": name, "Runtime": "python3.11", "Role": "arn:aws:iam::000000000000:role/x",
        "Handler": "app.handler", "Code": {"ZipFile": zip}, "Timeout": 5,
        "Environment": {"Variables": {"GREETING": "hi"}},
    })
}

#[tokio::test]
async fn create_get_list_delete() {
    let (state, _) = open(Arc::new(MemoryStore::default()));
    let zip = zip_b64(&[("app.py", "def handler(e, c):\n    return e\n", 0o644)]);
    let a = send(
        &state,
        "POST",
        "/2015-03-31/functions",
        json_bytes(&create("f1", &zip)),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(
        a.body["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:f1"
    );
    assert_eq!(a.body["Timeout"], 5);
    assert_eq!(a.body["MemorySize"], 128);
    let again = send(
        &state,
        "POST",
        "/2015-03-31/functions",
        json_bytes(&create("f1", &zip)),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.kind.as_deref(), Some("ResourceConflictException"));
    let by_arn = send(
        &state,
        "GET",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af1",
        vec![],
    )
    .await;
    assert_eq!(by_arn.status, StatusCode::OK);
    assert_eq!(by_arn.body["Configuration"]["Handler"], "app.handler");
    assert!(state.functions().directory().load().hosts("f1"));
    let list = send(&state, "GET", "/2015-03-31/functions/", vec![]).await;
    assert_eq!(list.body["Functions"].as_array().unwrap().len(), 1);
    // Portico's extension: reserved concurrency at creation.
    let mut with_limit = create("f2", &zip);
    with_limit["ReservedConcurrentExecutions"] = json!(2);
    let a = send(
        &state,
        "POST",
        "/2015-03-31/functions",
        json_bytes(&with_limit),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let c = send(
        &state,
        "GET",
        "/2019-09-30/functions/f2/concurrency",
        vec![],
    )
    .await;
    assert_eq!(c.body, json!({"ReservedConcurrentExecutions": 2}));
    let page = send(&state, "GET", "/2015-03-31/functions/?MaxItems=1", vec![]).await;
    assert_eq!(page.body["Functions"][0]["FunctionName"], "f1");
    let marker = page.body["NextMarker"].as_str().unwrap().to_owned();
    let rest = send(
        &state,
        "GET",
        &format!("/2015-03-31/functions/?MaxItems=1&Marker={marker}"),
        vec![],
    )
    .await;
    assert_eq!(rest.body["Functions"][0]["FunctionName"], "f2");
    assert!(rest.body.get("NextMarker").is_none());
    let gone = send(&state, "DELETE", "/2015-03-31/functions/f1", vec![]).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let missing = send(&state, "GET", "/2015-03-31/functions/f1", vec![]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.kind.as_deref(), Some("ResourceNotFoundException"));
    assert_eq!(missing.body["Type"], "User");
    assert!(!state.functions().directory().load().hosts("f1"));
}

#[tokio::test]
async fn bad_input_gets_lambdas_errors() {
    let (state, _) = open(Arc::new(MemoryStore::default()));
    let zip = zip_b64(&[("app.py", "x = 1\n", 0o644)]);
    let cases = [
        (json!({}), "ValidationException"),
        (
            json!({"FunctionName": "bad name", "Role": "r", "Code": {"ZipFile": zip}, "Runtime": "python3.11", "Handler": "a.b"}),
            "ValidationException",
        ),
        (
            json!({"FunctionName": "f", "Role": "r", "Code": {"ZipFile": zip}, "Runtime": "cobol85", "Handler": "a.b"}),
            "InvalidParameterValueException",
        ),
        (
            json!({"FunctionName": "f", "Role": "r", "Code": {"ZipFile": "bm90IGEgemlw"}, "Runtime": "python3.11", "Handler": "a.b"}),
            "InvalidParameterValueException",
        ),
        (
            json!({"FunctionName": "f", "Role": "r", "Code": {"ZipFile": "***"}, "Runtime": "python3.11", "Handler": "a.b"}),
            "InvalidParameterValueException",
        ),
        (
            json!({"FunctionName": "f", "Role": "r", "Code": {"ZipFile": zip}, "Runtime": "python3.11", "Handler": "a.b", "Timeout": 0}),
            "ValidationException",
        ),
        (
            json!({"FunctionName": "f", "Role": "r", "Code": {"ZipFile": zip}, "Runtime": "python3.11", "Handler": "a.b", "Environment": {"Variables": {"AWS_REGION": "x"}}}),
            "InvalidParameterValueException",
        ),
    ];
    for (body, kind) in cases {
        let a = send(&state, "POST", "/2015-03-31/functions", json_bytes(&body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {:?}", a.body);
        assert_eq!(a.kind.as_deref(), Some(kind), "{body}: {:?}", a.body);
        assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let not_json = send(&state, "POST", "/2015-03-31/functions", b"{".to_vec()).await;
    assert_eq!(
        not_json.kind.as_deref(),
        Some("InvalidRequestContentException")
    );
    assert!(!state.functions().directory().load().hosts("f"));
}

#[tokio::test]
async fn zip_slip_is_refused() {
    let (state, _) = open(Arc::new(MemoryStore::default()));
    let zip = zip_b64(&[("../evil.py", "x = 1\n", 0o644)]);
    let a = send(
        &state,
        "POST",
        "/2015-03-31/functions",
        json_bytes(&create("f", &zip)),
    )
    .await;
    assert_eq!(
        a.kind.as_deref(),
        Some("InvalidParameterValueException"),
        "{:?}",
        a.body
    );
}

#[tokio::test]
async fn only_latest_exists() {
    let (state, _) = open(Arc::new(MemoryStore::default()));
    let zip = zip_b64(&[("app.py", "x = 1\n", 0o644)]);
    let a = send(
        &state,
        "POST",
        "/2015-03-31/functions",
        json_bytes(&create("q", &zip)),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    for (uri, status) in [
        ("/2015-03-31/functions/q?Qualifier=%24LATEST", StatusCode::OK),
        ("/2015-03-31/functions/q%3A%24LATEST", StatusCode::OK),
        ("/2015-03-31/functions/q?Qualifier=1", StatusCode::NOT_FOUND),
        ("/2015-03-31/functions/q%3Aprod", StatusCode::NOT_FOUND),
        (
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aq%3A7",
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(send(&state, "GET", uri, vec![]).await.status, status, "{uri}");
    }
}

#[test]
fn runtimes() {
    use super::records::Runtime;
    assert_eq!(Runtime::parse("provided.al2023"), Some(Runtime::Provided));
    assert_eq!(Runtime::parse("python3.12"), Some(Runtime::Python));
    assert_eq!(Runtime::parse("python3."), None);
    assert_eq!(Runtime::parse("nodejs20.x"), None);
}
