//! REST API (`apigateway` v1) handler tests: `app(state).oneshot(req)`, no socket, an in-memory
//! store. Each asserts what a caller sees: status, `x-amzn-ErrorType`, message and fields.

use std::sync::Arc;

use axum::http::Method;
use portico_shared::model::ProtocolType;
use portico_shared::Snapshot;
use serde_json::{json, Value};

use crate::test_support::{self, json_bytes, Answer};
use crate::{AdminState, MemoryStore, SnapshotCell};

mod validation;

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
    async fn call(&self, method: &str, uri: &str, body: Value) -> Answer {
        test_support::send(&self.state, method, uri, json_bytes(&body)).await
    }

    /// A call that must answer `status`; returns the body.
    async fn expect(&self, status: u16, method: &str, uri: &str, body: Value) -> Value {
        let a = self.call(method, uri, body).await;
        assert_eq!(
            a.status.as_u16(),
            status,
            "{method} {uri}: {:?} {}",
            a.kind,
            a.body
        );
        a.body
    }

    /// A call that must fail with `status` and `code`; returns the message.
    async fn error(&self, status: u16, code: &str, method: &str, uri: &str, body: Value) -> String {
        let a = self.call(method, uri, body).await;
        assert_eq!(a.status.as_u16(), status, "{method} {uri}: {}", a.body);
        assert_eq!(a.kind.as_deref(), Some(code), "{method} {uri}: {}", a.body);
        a.message().to_string()
    }

    /// A REST API with `/pets` and its ids: (api, root, pets).
    async fn api_with_pets(&self) -> (String, String, String) {
        let api = self
            .expect(201, "POST", "/restapis", json!({"name": "pets"}))
            .await;
        let id = api["id"].as_str().unwrap().to_string();
        let root = api["rootResourceId"].as_str().unwrap().to_string();
        let pets = self
            .expect(
                201,
                "POST",
                &format!("/restapis/{id}/resources/{root}"),
                json!({"pathPart": "pets"}),
            )
            .await;
        (id, root, pets["id"].as_str().unwrap().to_string())
    }

    /// `GET /pets` with a MOCK integration answering 200.
    async fn mock_get(&self, id: &str, resource: &str) {
        let m = format!("/restapis/{id}/resources/{resource}/methods/GET");
        self.expect(201, "PUT", &m, json!({"authorizationType": "NONE"}))
            .await;
        self.expect(
            201,
            "PUT",
            &format!("{m}/integration"),
            json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
        )
        .await;
        self.expect(
            201,
            "PUT",
            &format!("{m}/integration/responses/200"),
            json!({"responseTemplates": {"application/json": "{\"ok\": true}"}}),
        )
        .await;
        self.expect(201, "PUT", &format!("{m}/responses/200"), json!({}))
            .await;
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }
}

fn patch(ops: Value) -> Value {
    json!({ "patchOperations": ops })
}

// === REST APIs ===

#[tokio::test]
async fn create_rest_api_answers_defaults_and_a_root_resource() {
    let h = harness();
    let api = h
        .expect(
            201,
            "POST",
            "/restapis",
            json!({"name": "pets", "description": "d", "tags": {"team": "a"}, "binaryMediaTypes": ["image/png"]}),
        )
        .await;
    let id = api["id"].as_str().unwrap();
    assert_eq!(id.len(), 10);
    assert_eq!(api["name"], "pets");
    assert_eq!(api["apiKeySource"], "HEADER");
    assert_eq!(api["endpointConfiguration"]["types"], json!(["EDGE"]));
    assert_eq!(api["disableExecuteApiEndpoint"], false);
    assert_eq!(api["binaryMediaTypes"], json!(["image/png"]));
    assert_eq!(api["tags"], json!({"team": "a"}));
    assert!(api["createdDate"].is_i64(), "epoch seconds: {api}");
    let root = api["rootResourceId"].as_str().unwrap();

    let resources = h
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/resources"),
            Value::Null,
        )
        .await;
    assert_eq!(resources["item"], json!([{"id": root, "path": "/"}]));
    assert_eq!(
        h.expect(200, "GET", &format!("/restapis/{id}"), Value::Null)
            .await,
        api
    );
    // Published (with no stages yet), as a REST API.
    let s = h.snapshot();
    assert_eq!(s.api(id).unwrap().protocol, ProtocolType::Rest);
}

#[tokio::test]
async fn create_rest_api_refuses_bad_input() {
    let h = harness();
    let m = h
        .error(400, "BadRequestException", "POST", "/restapis", json!({}))
        .await;
    assert_eq!(m, "name is required");
    let m = h
        .error(
            400,
            "ValidationException",
            "POST",
            "/restapis",
            json!({"name": "a", "apiKeySource": "QUERY"}),
        )
        .await;
    assert!(m.contains("apiKeySource"), "{m}");
    let m = h
        .error(
            400,
            "ValidationException",
            "POST",
            "/restapis",
            json!({"name": "a", "endpointConfiguration": {"types": ["MOON"]}}),
        )
        .await;
    assert!(m.contains("MOON"), "{m}");
}

#[tokio::test]
async fn rest_and_http_apis_share_ids_but_not_listings() {
    let h = harness();
    let http = h
        .expect(
            201,
            "POST",
            "/v2/apis",
            json!({"name": "h", "protocolType": "HTTP"}),
        )
        .await;
    let http_id = http["apiId"].as_str().unwrap();
    let rest = h
        .expect(201, "POST", "/restapis", json!({"name": "r"}))
        .await;
    let rest_id = rest["id"].as_str().unwrap();
    assert_ne!(http_id, rest_id);

    let v2 = h.expect(200, "GET", "/v2/apis", Value::Null).await;
    assert_eq!(v2["items"].as_array().unwrap().len(), 1);
    assert_eq!(v2["items"][0]["apiId"], http_id);
    let v1 = h.expect(200, "GET", "/restapis", Value::Null).await;
    assert_eq!(v1["item"].as_array().unwrap().len(), 1);
    assert_eq!(v1["item"][0]["id"], rest_id);

    let m = h
        .error(
            404,
            "NotFoundException",
            "GET",
            &format!("/restapis/{http_id}"),
            Value::Null,
        )
        .await;
    // AWS's text: the account and the id.
    assert_eq!(
        m,
        format!("Invalid API identifier specified 000000000000:{http_id}")
    );
    h.error(
        404,
        "NotFoundException",
        "GET",
        &format!("/v2/apis/{rest_id}"),
        Value::Null,
    )
    .await;
    h.error(
        404,
        "NotFoundException",
        "DELETE",
        &format!("/restapis/{http_id}"),
        Value::Null,
    )
    .await;
}

#[tokio::test]
async fn update_rest_api_applies_patch_operations() {
    let h = harness();
    let api = h
        .expect(201, "POST", "/restapis", json!({"name": "a"}))
        .await;
    let uri = format!("/restapis/{}", api["id"].as_str().unwrap());
    let updated = h
        .expect(
            200,
            "PATCH",
            &uri,
            patch(json!([
                {"op": "replace", "path": "/name", "value": "b"},
                {"op": "replace", "path": "/description", "value": "about b"},
                {"op": "add", "path": "/binaryMediaTypes/image~1png"},
                {"op": "replace", "path": "/endpointConfiguration/types/EDGE", "value": "REGIONAL"},
                {"op": "replace", "path": "/apiKeySource", "value": "AUTHORIZER"},
                {"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "true"},
            ])),
        )
        .await;
    assert_eq!(updated["name"], "b");
    assert_eq!(updated["description"], "about b");
    assert_eq!(updated["binaryMediaTypes"], json!(["image/png"]));
    assert_eq!(
        updated["endpointConfiguration"]["types"],
        json!(["REGIONAL"])
    );
    assert_eq!(updated["apiKeySource"], "AUTHORIZER");
    assert_eq!(updated["disableExecuteApiEndpoint"], true);

    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &uri,
            patch(json!([{"op": "replace", "path": "/colour", "value": "red"}])),
        )
        .await;
    assert_eq!(m, "Invalid patch path '/colour' specified for op 'replace'");
    // All or nothing: a bad op after a good one changes nothing.
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &uri,
        patch(json!([
            {"op": "replace", "path": "/name", "value": "c"},
            {"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "maybe"},
        ])),
    )
    .await;
    assert_eq!(h.expect(200, "GET", &uri, Value::Null).await["name"], "b");
    // An op outside the model's enum is AWS's request validation error.
    h.error(
        400,
        "ValidationException",
        "PATCH",
        &uri,
        patch(json!([{"op": "jump", "path": "/name"}])),
    )
    .await;
}

#[tokio::test]
async fn get_rest_apis_pages_with_position_and_limit() {
    let h = harness();
    for n in 0..3 {
        h.expect(201, "POST", "/restapis", json!({"name": format!("a{n}")}))
            .await;
    }
    let first = h.expect(200, "GET", "/restapis?limit=2", Value::Null).await;
    assert_eq!(first["item"].as_array().unwrap().len(), 2);
    let pos = first["position"].as_str().unwrap();
    let second = h
        .expect(
            200,
            "GET",
            &format!("/restapis?limit=2&position={pos}"),
            Value::Null,
        )
        .await;
    assert_eq!(second["item"].as_array().unwrap().len(), 1);
    assert!(second.get("position").is_none());
    let all = h.expect(200, "GET", "/restapis", Value::Null).await;
    assert_eq!(all["item"].as_array().unwrap().len(), 3);
    for bad in ["limit=0", "limit=501", "limit=x", "position=zz"] {
        h.error(
            400,
            "BadRequestException",
            "GET",
            &format!("/restapis?{bad}"),
            Value::Null,
        )
        .await;
    }
}

#[tokio::test]
async fn delete_rest_api_unpublishes_it() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.mock_get(&id, &pets).await;
    h.expect(
        201,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    )
    .await;
    assert!(h.snapshot().api(&id).is_some());
    let body = h
        .expect(202, "DELETE", &format!("/restapis/{id}"), Value::Null)
        .await;
    assert_eq!(body, Value::Null);
    assert!(h.snapshot().api(&id).is_none());
    h.error(
        404,
        "NotFoundException",
        "GET",
        &format!("/restapis/{id}/resources"),
        Value::Null,
    )
    .await;
}

// === resources ===

#[tokio::test]
async fn create_resource_validates_path_parts() {
    let h = harness();
    let (id, root, pets) = h.api_with_pets().await;
    let under = |p: &str| format!("/restapis/{id}/resources/{p}");
    let pet = h
        .expect(201, "POST", &under(&pets), json!({"pathPart": "{petId}"}))
        .await;
    assert_eq!(pet["path"], "/pets/{petId}");
    assert_eq!(pet["parentId"], pets);
    assert_eq!(pet["pathPart"], "{petId}");

    let m = h
        .error(
            409,
            "ConflictException",
            "POST",
            &under(&root),
            json!({"pathPart": "pets"}),
        )
        .await;
    assert!(
        m.starts_with("Another resource with the same parent already has this name"),
        "{m}"
    );
    for bad in ["pe ts", "{a}b", "a{b}", "{}", "{a+b}", "", "a/b"] {
        let m = h
            .error(
                400,
                "BadRequestException",
                "POST",
                &under(&root),
                json!({ "pathPart": bad }),
            )
            .await;
        assert!(
            m.starts_with("Resource's path part only allow"),
            "{bad}: {m}"
        );
    }
    h.error(400, "BadRequestException", "POST", &under(&root), json!({}))
        .await;
    // One variable per level.
    let m = h
        .error(
            400,
            "BadRequestException",
            "POST",
            &under(&pets),
            json!({"pathPart": "{name}"}),
        )
        .await;
    assert!(m.contains("only one is allowed"), "{m}");
    // A greedy variable is a leaf.
    let proxy = h
        .expect(201, "POST", &under(&root), json!({"pathPart": "{proxy+}"}))
        .await;
    assert_eq!(proxy["path"], "/{proxy+}");
    let m = h
        .error(
            400,
            "BadRequestException",
            "POST",
            &under(proxy["id"].as_str().unwrap()),
            json!({"pathPart": "x"}),
        )
        .await;
    assert!(m.contains("greedy"), "{m}");
    let m = h
        .error(
            404,
            "NotFoundException",
            "POST",
            &under("nope"),
            json!({"pathPart": "x"}),
        )
        .await;
    assert_eq!(m, "Invalid Resource identifier specified");
    h.error(
        404,
        "NotFoundException",
        "POST",
        &format!("/restapis/nope/resources/{root}"),
        json!({"pathPart": "x"}),
    )
    .await;
}

#[tokio::test]
async fn update_resource_moves_and_renames_subtrees() {
    let h = harness();
    let (id, root, pets) = h.api_with_pets().await;
    let res = |p: &str| format!("/restapis/{id}/resources/{p}");
    let pet = h
        .expect(201, "POST", &res(&pets), json!({"pathPart": "{petId}"}))
        .await;
    let pet_id = pet["id"].as_str().unwrap();
    let toys = h
        .expect(201, "POST", &res(pet_id), json!({"pathPart": "toys"}))
        .await;
    let renamed = h
        .expect(
            200,
            "PATCH",
            &res(&pets),
            patch(json!([{"op": "replace", "path": "/pathPart", "value": "animals"}])),
        )
        .await;
    assert_eq!(renamed["path"], "/animals");
    let toys_now = h
        .expect(200, "GET", &res(toys["id"].as_str().unwrap()), Value::Null)
        .await;
    assert_eq!(toys_now["path"], "/animals/{petId}/toys");

    // Move {petId} to the root.
    let moved = h
        .expect(
            200,
            "PATCH",
            &res(pet_id),
            patch(json!([{"op": "replace", "path": "/parentId", "value": root}])),
        )
        .await;
    assert_eq!(moved["path"], "/{petId}");
    let toys_now = h
        .expect(200, "GET", &res(toys["id"].as_str().unwrap()), Value::Null)
        .await;
    assert_eq!(toys_now["path"], "/{petId}/toys");

    // Not under itself, not the root, not an unknown path.
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &res(pet_id),
        patch(json!([{"op": "replace", "path": "/parentId", "value": toys["id"]}])),
    )
    .await;
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &res(&root),
        patch(json!([{"op": "replace", "path": "/pathPart", "value": "x"}])),
    )
    .await;
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &res(&pets),
            patch(json!([{"op": "replace", "path": "/path", "value": "/x"}])),
        )
        .await;
    assert_eq!(m, "Invalid patch path '/path' specified for op 'replace'");
}

#[tokio::test]
async fn delete_resource_removes_its_subtree_but_never_the_root() {
    let h = harness();
    let (id, root, pets) = h.api_with_pets().await;
    let res = |p: &str| format!("/restapis/{id}/resources/{p}");
    let pet = h
        .expect(201, "POST", &res(&pets), json!({"pathPart": "{petId}"}))
        .await;
    let m = h
        .error(
            400,
            "BadRequestException",
            "DELETE",
            &res(&root),
            Value::Null,
        )
        .await;
    assert_eq!(m, "Cannot delete root resource");
    h.expect(202, "DELETE", &res(&pets), Value::Null).await;
    h.error(
        404,
        "NotFoundException",
        "GET",
        &res(pet["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    let all = h
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/resources"),
            Value::Null,
        )
        .await;
    assert_eq!(all["item"].as_array().unwrap().len(), 1);
    h.error(404, "NotFoundException", "DELETE", &res(&pets), Value::Null)
        .await;
}

// === methods ===

#[tokio::test]
async fn methods_put_get_update_delete() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    let put = h
        .expect(
            201,
            "PUT",
            &m,
            json!({"authorizationType": "NONE", "apiKeyRequired": true,
                   "requestParameters": {"method.request.querystring.q": false},
                   "operationName": "ListPets"}),
        )
        .await;
    assert_eq!(
        put,
        json!({"httpMethod": "GET", "authorizationType": "NONE", "apiKeyRequired": true,
               "requestParameters": {"method.request.querystring.q": false},
               "operationName": "ListPets"})
    );
    let m409 = h
        .error(
            409,
            "ConflictException",
            "PUT",
            &m,
            json!({"authorizationType": "NONE"}),
        )
        .await;
    assert_eq!(m409, "Method already exists for this resource");
    let missing = h
        .error(
            400,
            "BadRequestException",
            "PUT",
            &format!("/restapis/{id}/resources/{pets}/methods/POST"),
            json!({}),
        )
        .await;
    assert_eq!(missing, "authorizationType is required");
    h.error(
        400,
        "BadRequestException",
        "PUT",
        &format!("/restapis/{id}/resources/{pets}/methods/FETCH"),
        json!({"authorizationType": "NONE"}),
    )
    .await;
    h.error(
        400,
        "BadRequestException",
        "PUT",
        &format!("/restapis/{id}/resources/{pets}/methods/POST"),
        json!({"authorizationType": "MAGIC"}),
    )
    .await;

    let updated = h
        .expect(
            200,
            "PATCH",
            &m,
            patch(json!([
                {"op": "replace", "path": "/apiKeyRequired", "value": "false"},
                {"op": "add", "path": "/requestParameters/method.request.header.x-id", "value": "true"},
                {"op": "remove", "path": "/requestParameters/method.request.querystring.q"},
                {"op": "replace", "path": "/operationName", "value": "Pets"},
                {"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"},
            ])),
        )
        .await;
    assert_eq!(updated["apiKeyRequired"], false);
    assert_eq!(
        updated["requestParameters"],
        json!({"method.request.header.x-id": true})
    );
    assert_eq!(updated["authorizationType"], "AWS_IAM");
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &m,
        patch(json!([{"op": "replace", "path": "/httpMethod", "value": "POST"}])),
    )
    .await;

    // Listed as `{}` without embed, in full with it.
    let plain = h
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/resources"),
            Value::Null,
        )
        .await;
    let pets_item = plain["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/pets")
        .unwrap()
        .clone();
    assert_eq!(pets_item["resourceMethods"], json!({"GET": {}}));
    let embedded = h
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/resources?embed=methods"),
            Value::Null,
        )
        .await;
    let pets_item = embedded["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/pets")
        .unwrap()
        .clone();
    assert_eq!(pets_item["resourceMethods"]["GET"]["operationName"], "Pets");

    assert_eq!(
        h.expect(200, "GET", &m, Value::Null).await["operationName"],
        "Pets"
    );
    h.expect(204, "DELETE", &m, Value::Null).await;
    let gone = h
        .error(404, "NotFoundException", "GET", &m, Value::Null)
        .await;
    assert_eq!(gone, "Invalid Method identifier specified");
}

#[tokio::test]
async fn method_responses_put_update_get_delete() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    h.expect(201, "PUT", &m, json!({"authorizationType": "NONE"}))
        .await;
    let r = format!("{m}/responses/200");
    let put = h
        .expect(
            201,
            "PUT",
            &r,
            json!({"responseParameters": {"method.response.header.x-a": true}}),
        )
        .await;
    assert_eq!(put["statusCode"], "200");
    // UpdateMethodResponse answers 201, as the model says.
    let updated = h
        .expect(
            201,
            "PATCH",
            &r,
            patch(json!([
                {"op": "add", "path": "/responseModels/application~1json", "value": "Empty"},
            ])),
        )
        .await;
    assert_eq!(
        updated["responseModels"],
        json!({"application/json": "Empty"})
    );
    assert_eq!(
        h.expect(200, "GET", &r, Value::Null).await["responseModels"]["application/json"],
        "Empty"
    );
    h.error(
        400,
        "BadRequestException",
        "PUT",
        &format!("{m}/responses/700"),
        json!({}),
    )
    .await;
    h.expect(204, "DELETE", &r, Value::Null).await;
    let m404 = h
        .error(404, "NotFoundException", "GET", &r, Value::Null)
        .await;
    assert_eq!(m404, "Invalid Response status code specified");
}

// === integrations ===

#[tokio::test]
async fn integrations_put_get_update_delete() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    let i = format!("{m}/integration");
    h.error(404, "NotFoundException", "PUT", &i, json!({"type": "MOCK"}))
        .await;
    h.expect(201, "PUT", &m, json!({"authorizationType": "NONE"}))
        .await;
    let none = h
        .error(404, "NotFoundException", "GET", &i, Value::Null)
        .await;
    assert_eq!(none, "No integration defined for method");

    let m400 = h
        .error(
            400,
            "BadRequestException",
            "PUT",
            &i,
            json!({"type": "HTTP_PROXY", "httpMethod": "GET"}),
        )
        .await;
    assert!(m400.contains("uri"), "{m400}");
    h.error(400, "BadRequestException", "PUT", &i, json!({}))
        .await;
    h.error(
        400,
        "BadRequestException",
        "PUT",
        &i,
        json!({"type": "MOCK", "timeoutInMillis": 10}),
    )
    .await;
    h.error(
        400,
        "ValidationException",
        "PUT",
        &i,
        json!({"type": "SOAP"}),
    )
    .await;

    // `integrationHttpMethod` travels (and reads back) as `httpMethod`.
    let put = h
        .expect(
            201,
            "PUT",
            &i,
            json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:9/pets",
                   "requestParameters": {"integration.request.header.x-a": "'b'"}}),
        )
        .await;
    assert_eq!(put["type"], "HTTP_PROXY");
    assert_eq!(put["httpMethod"], "GET");
    assert_eq!(put["uri"], "http://127.0.0.1:9/pets");
    assert_eq!(put["timeoutInMillis"], 29000);
    assert_eq!(put["passthroughBehavior"], "WHEN_NO_MATCH");
    assert_eq!(put["connectionType"], "INTERNET");
    assert_eq!(put["cacheNamespace"], pets.as_str());
    assert_eq!(h.expect(200, "GET", &i, Value::Null).await, put);

    let updated = h
        .expect(
            200,
            "PATCH",
            &i,
            patch(json!([
                {"op": "replace", "path": "/timeoutInMillis", "value": "5000"},
                {"op": "replace", "path": "/uri", "value": "http://127.0.0.1:9/animals"},
                {"op": "remove", "path": "/requestParameters/integration.request.header.x-a"},
            ])),
        )
        .await;
    assert_eq!(updated["timeoutInMillis"], 5000);
    assert_eq!(updated["uri"], "http://127.0.0.1:9/animals");
    assert!(updated.get("requestParameters").is_none());
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &i,
        patch(json!([{"op": "replace", "path": "/timeoutInMillis", "value": "30000"}])),
    )
    .await;
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &i,
        patch(json!([{"op": "remove", "path": "/uri"}])),
    )
    .await;

    // Integration responses.
    let r = format!("{i}/responses/200");
    let ir = h
        .expect(
            201,
            "PUT",
            &r,
            json!({"selectionPattern": "2\\d\\d", "responseTemplates": {"application/json": "{}"}}),
        )
        .await;
    assert_eq!(ir["statusCode"], "200");
    assert_eq!(ir["selectionPattern"], "2\\d\\d");
    let ir = h
        .expect(
            200,
            "PATCH",
            &r,
            patch(json!([
                {"op": "add", "path": "/responseParameters/method.response.header.x-b", "value": "'c'"},
                {"op": "remove", "path": "/selectionPattern"},
            ])),
        )
        .await;
    assert_eq!(
        ir["responseParameters"],
        json!({"method.response.header.x-b": "'c'"})
    );
    assert!(ir.get("selectionPattern").is_none());
    assert_eq!(
        h.expect(200, "GET", &i, Value::Null).await["integrationResponses"]["200"]["statusCode"],
        "200"
    );
    h.expect(204, "DELETE", &r, Value::Null).await;
    h.error(404, "NotFoundException", "GET", &r, Value::Null)
        .await;

    // Every valid type is stored; AWS ones need an ARN.
    let aws = h
        .expect(
            201,
            "PUT",
            &i,
            json!({"type": "AWS_PROXY", "httpMethod": "POST",
                   "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations"}),
        )
        .await;
    assert_eq!(aws["type"], "AWS_PROXY");
    h.expect(204, "DELETE", &i, Value::Null).await;
    h.error(404, "NotFoundException", "GET", &i, Value::Null)
        .await;
}

// === deployments and stages ===

#[tokio::test]
async fn deployment_with_stage_publishes_the_api() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    let deployments = format!("/restapis/{id}/deployments");
    let m = h
        .error(400, "BadRequestException", "POST", &deployments, json!({}))
        .await;
    assert_eq!(m, "The REST API doesn't contain any methods");
    h.expect(
        201,
        "PUT",
        &format!("/restapis/{id}/resources/{pets}/methods/GET"),
        json!({"authorizationType": "NONE"}),
    )
    .await;
    let m = h
        .error(400, "BadRequestException", "POST", &deployments, json!({}))
        .await;
    assert_eq!(m, "No integration defined for method");
    h.expect(
        204,
        "DELETE",
        &format!("/restapis/{id}/resources/{pets}/methods/GET"),
        Value::Null,
    )
    .await;
    h.mock_get(&id, &pets).await;
    // A method names only an authorizer that exists.
    let get = format!("/restapis/{id}/resources/{pets}/methods/GET");
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &get,
            patch(json!([{"op": "replace", "path": "/authorizationType", "value": "CUSTOM"}, {"op": "replace", "path": "/authorizerId", "value": "x"}])),
        )
        .await;
    assert!(m.contains("Invalid authorizer ID specified"), "{m}");
    h.expect(
        200,
        "PATCH",
        &get,
        patch(json!([{"op": "replace", "path": "/authorizationType", "value": "NONE"}])),
    )
    .await;

    let d = h
        .expect(
            201,
            "POST",
            &deployments,
            json!({"stageName": "prod", "description": "first", "stageDescription": "production",
                   "variables": {"v": "1"}}),
        )
        .await;
    let did = d["id"].as_str().unwrap();
    assert_eq!(d["description"], "first");
    assert!(d["createdDate"].is_i64());
    assert!(d.get("apiSummary").is_none(), "only with embed: {d}");
    let embedded = h
        .expect(
            200,
            "GET",
            &format!("{deployments}/{did}?embed=apisummary"),
            Value::Null,
        )
        .await;
    assert_eq!(
        embedded["apiSummary"],
        json!({"/pets": {"GET": {"authorizationType": "NONE", "apiKeyRequired": false}}})
    );

    // Served: the stage and the route resolve as the data plane sees them.
    let s = h.snapshot();
    let api = s.api(&id).unwrap();
    assert_eq!(api.protocol, ProtocolType::Rest);
    let (stage, path) = api.select_stage("/prod/pets").unwrap();
    assert_eq!(&*stage.name, "prod");
    assert_eq!(path, "/pets");
    let route = stage.router.resolve(&Method::GET, path).unwrap();
    assert_eq!(&*stage.routes[route.route as usize].route_key, "GET /pets");
    assert_eq!(stage.variables.get("v").map(String::as_str), Some("1"));

    let stages = h
        .expect(200, "GET", &format!("/restapis/{id}/stages"), Value::Null)
        .await;
    let prod = &stages["item"][0];
    assert_eq!(prod["stageName"], "prod");
    assert_eq!(prod["deploymentId"], did);
    assert_eq!(prod["description"], "production");
    assert_eq!(prod["variables"], json!({"v": "1"}));
    assert_eq!(prod["methodSettings"], json!({}));
    assert_eq!(prod["cacheClusterEnabled"], false);
    assert_eq!(prod["cacheClusterStatus"], "NOT_AVAILABLE");

    // Later changes are not served until deployed again.
    h.expect(
        201,
        "POST",
        &format!("/restapis/{id}/resources/{pets}"),
        json!({"pathPart": "{petId}"}),
    )
    .await;
    let (stage, path) = h
        .snapshot()
        .api(&id)
        .unwrap()
        .select_stage("/prod/pets/1")
        .map(|(s, p)| (s.name.to_string(), p.to_string()))
        .unwrap();
    assert_eq!(stage, "prod");
    assert!(h
        .snapshot()
        .api(&id)
        .unwrap()
        .select_stage("/prod/pets/1")
        .unwrap()
        .0
        .router
        .resolve(&Method::GET, &path)
        .is_none());

    // Deployments: listed, described, not deleted while in use.
    let list = h.expect(200, "GET", &deployments, Value::Null).await;
    assert_eq!(list["item"][0]["id"], did);
    let dep = format!("{deployments}/{did}");
    let updated = h
        .expect(
            200,
            "PATCH",
            &dep,
            patch(json!([{"op": "replace", "path": "/description", "value": "renamed"}])),
        )
        .await;
    assert_eq!(updated["description"], "renamed");
    let m = h
        .error(400, "BadRequestException", "DELETE", &dep, Value::Null)
        .await;
    assert_eq!(
        m,
        "Active stages pointing to this deployment must be moved or deleted"
    );
    h.expect(
        202,
        "DELETE",
        &format!("/restapis/{id}/stages/prod"),
        Value::Null,
    )
    .await;
    assert!(h
        .snapshot()
        .api(&id)
        .unwrap()
        .select_stage("/prod/pets")
        .is_none());
    h.expect(202, "DELETE", &dep, Value::Null).await;
    let m = h
        .error(404, "NotFoundException", "GET", &dep, Value::Null)
        .await;
    assert_eq!(m, "Invalid Deployment identifier specified");
}

#[tokio::test]
async fn stages_create_update_method_settings_and_variables() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.mock_get(&id, &pets).await;
    let d = h
        .expect(
            201,
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({}),
        )
        .await;
    let did = d["id"].as_str().unwrap();
    let stages = format!("/restapis/{id}/stages");
    h.error(
        400,
        "BadRequestException",
        "POST",
        &stages,
        json!({"stageName": "prod"}),
    )
    .await;
    h.error(
        404,
        "NotFoundException",
        "POST",
        &stages,
        json!({"stageName": "prod", "deploymentId": "nope"}),
    )
    .await;
    h.error(
        400,
        "BadRequestException",
        "POST",
        &stages,
        json!({"stageName": "bad name", "deploymentId": did}),
    )
    .await;
    let created = h
        .expect(
            201,
            "POST",
            &stages,
            json!({"stageName": "prod", "deploymentId": did, "tracingEnabled": true,
                   "cacheClusterEnabled": true, "cacheClusterSize": "0.5"}),
        )
        .await;
    assert_eq!(created["tracingEnabled"], true);
    assert_eq!(created["cacheClusterSize"], "0.5");
    assert_eq!(created["cacheClusterStatus"], "AVAILABLE");
    let m = h
        .error(
            409,
            "ConflictException",
            "POST",
            &stages,
            json!({"stageName": "prod", "deploymentId": did}),
        )
        .await;
    assert_eq!(m, "Stage already exists");

    let stage = format!("{stages}/prod");
    let updated = h
        .expect(
            200,
            "PATCH",
            &stage,
            patch(json!([
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
                {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "50"},
                {"op": "replace", "path": "/~1pets/GET/throttling/burstLimit", "value": "5"},
                {"op": "replace", "path": "/~1pets/GET/caching/ttlInSeconds", "value": "60"},
                {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
                {"op": "add", "path": "/variables/colour", "value": "blue"},
                {"op": "replace", "path": "/description", "value": "live"},
            ])),
        )
        .await;
    let settings = &updated["methodSettings"];
    assert_eq!(settings["*/*"]["throttlingRateLimit"], 100.0);
    assert_eq!(settings["*/*"]["throttlingBurstLimit"], 50);
    assert_eq!(settings["*/*"]["loggingLevel"], "INFO");
    assert_eq!(settings["~1pets/GET"]["throttlingBurstLimit"], 5);
    assert_eq!(settings["~1pets/GET"]["throttlingRateLimit"], -1.0);
    assert_eq!(settings["~1pets/GET"]["cacheTtlInSeconds"], 60);
    assert_eq!(
        settings["~1pets/GET"]["unauthorizedCacheControlHeaderStrategy"],
        "SUCCEED_WITH_RESPONSE_HEADER"
    );
    assert_eq!(updated["variables"], json!({"colour": "blue"}));
    assert_eq!(updated["description"], "live");

    // The throttle is compiled into the served route: its own burst, the stage's rate.
    let s = h.snapshot();
    let (served, path) = s.api(&id).unwrap().select_stage("/prod/pets").unwrap();
    let route = served.router.resolve(&Method::GET, path).unwrap();
    let bucket = served.routes[route.route as usize]
        .throttle
        .as_ref()
        .unwrap();
    assert_eq!(bucket.limits.burst, 5);
    assert_eq!(bucket.limits.rate, 100.0);

    let updated = h
        .expect(
            200,
            "PATCH",
            &stage,
            patch(json!([
                {"op": "remove", "path": "/~1pets/GET"},
                {"op": "remove", "path": "/variables/colour"},
            ])),
        )
        .await;
    assert!(updated["methodSettings"].get("~1pets/GET").is_none());
    assert!(updated["methodSettings"].get("*/*").is_some());
    assert!(updated.get("variables").is_none());

    for (path, value) in [
        ("/*/*/throttling/speed", "1"),
        ("/pets/GET/throttling/rateLimit", "1"),
        ("/*/*/throttling/rateLimit", "fast"),
        ("/*/*/logging/loglevel", "LOUD"),
        ("/deploymentId", "nope"),
        ("/colour", "red"),
    ] {
        let a = h
            .call(
                "PATCH",
                &stage,
                patch(json!([{"op": "replace", "path": path, "value": value}])),
            )
            .await;
        assert!(a.status.is_client_error(), "{path}: {}", a.status);
    }
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &stage,
            patch(json!([{"op": "replace", "path": "/*/*/throttling/speed", "value": "1"}])),
        )
        .await;
    assert_eq!(
        m,
        "Invalid patch path '/*/*/throttling/speed' specified for op 'replace'"
    );

    let one = h.expect(200, "GET", &stage, Value::Null).await;
    assert_eq!(one["stageName"], "prod");
    h.error(
        404,
        "NotFoundException",
        "GET",
        &format!("{stages}/nope"),
        Value::Null,
    )
    .await;
    let filtered = h
        .expect(
            200,
            "GET",
            &format!("{stages}?deploymentId=other"),
            Value::Null,
        )
        .await;
    assert_eq!(filtered["item"], json!([]));
}

#[tokio::test]
async fn integrations_that_do_not_compile_are_refused_when_a_stage_would_serve_them() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    h.expect(201, "PUT", &m, json!({"authorizationType": "NONE"}))
        .await;
    h.expect(
        201,
        "PUT",
        &format!("{m}/integration"),
        json!({"type": "HTTP_PROXY", "httpMethod": "GET",
               "uri": "http://127.0.0.1:9/${stageVariables.missing}/pets"}),
    )
    .await;
    let generation = h.snapshot().generation;
    let msg = h
        .error(
            400,
            "BadRequestException",
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({"stageName": "prod"}),
        )
        .await;
    assert!(msg.contains("stage variable 'missing'"), "{msg}");
    // Nothing changed: no deployment, no stage, nothing published.
    assert_eq!(h.snapshot().generation, generation);
    let list = h
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/deployments"),
            Value::Null,
        )
        .await;
    assert_eq!(list["item"], json!([]));
    // A deployment without a stage serves nothing, so it is accepted; pointing a stage at it
    // is refused.
    let d = h
        .expect(
            201,
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({}),
        )
        .await;
    h.error(
        400,
        "BadRequestException",
        "POST",
        &format!("/restapis/{id}/stages"),
        json!({"stageName": "prod", "deploymentId": d["id"]}),
    )
    .await;
    let stages = h
        .expect(200, "GET", &format!("/restapis/{id}/stages"), Value::Null)
        .await;
    assert_eq!(stages["item"], json!([]));
}

// === gateway responses ===

#[tokio::test]
async fn gateway_responses_default_customise_and_reset() {
    let h = harness();
    let (id, _, _) = h.api_with_pets().await;
    let all = h
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/gatewayresponses"),
            Value::Null,
        )
        .await;
    let items = all["item"].as_array().unwrap();
    assert_eq!(
        items.len(),
        portico_shared::model::rest::GATEWAY_RESPONSE_TYPES.len()
    );
    assert!(items.iter().all(|g| g["defaultResponse"] == true));
    let throttled = items
        .iter()
        .find(|g| g["responseType"] == "THROTTLED")
        .unwrap();
    assert_eq!(throttled["statusCode"], "429");
    assert_eq!(
        throttled["responseTemplates"]["application/json"],
        "{\"message\":$context.error.messageString}"
    );
    let d4 = items
        .iter()
        .find(|g| g["responseType"] == "DEFAULT_4XX")
        .unwrap();
    assert!(d4.get("statusCode").is_none());

    let uri = format!("/restapis/{id}/gatewayresponses/THROTTLED");
    let put = h
        .expect(
            201,
            "PUT",
            &uri,
            json!({"statusCode": "503",
                   "responseParameters": {"gatewayresponse.header.Retry-After": "'1'"},
                   "responseTemplates": {"application/json": "{\"slow\":\"down\"}"}}),
        )
        .await;
    assert_eq!(put["defaultResponse"], false);
    assert_eq!(put["statusCode"], "503");
    let updated = h
        .expect(
            200,
            "PATCH",
            &uri,
            patch(json!([
                {"op": "replace", "path": "/statusCode", "value": "429"},
                {"op": "replace", "path": "/responseTemplates/application~1json", "value": "{}"},
            ])),
        )
        .await;
    assert_eq!(updated["statusCode"], "429");
    assert_eq!(
        updated["responseTemplates"],
        json!({"application/json": "{}"})
    );
    assert_eq!(h.expect(200, "GET", &uri, Value::Null).await, updated);

    h.error(
        400,
        "BadRequestException",
        "PUT",
        &uri,
        json!({"statusCode": "99"}),
    )
    .await;
    h.error(
        400,
        "BadRequestException",
        "PUT",
        &uri,
        json!({"responseParameters": {"x-header": "'1'"}}),
    )
    .await;
    h.error(
        400,
        "ValidationException",
        "GET",
        &format!("/restapis/{id}/gatewayresponses/NOPE"),
        Value::Null,
    )
    .await;
    h.error(
        400,
        "BadRequestException",
        "PATCH",
        &uri,
        patch(json!([{"op": "replace", "path": "/responseType", "value": "X"}])),
    )
    .await;

    h.expect(202, "DELETE", &uri, Value::Null).await;
    let back = h.expect(200, "GET", &uri, Value::Null).await;
    assert_eq!(back["defaultResponse"], true);
    assert_eq!(back["statusCode"], "429");
}

// === persistence ===

#[tokio::test]
async fn rest_apis_survive_a_restart_and_are_served_again() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.mock_get(&id, &pets).await;
    h.expect(
        201,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    )
    .await;
    h.expect(
        201,
        "PUT",
        &format!("/restapis/{id}/gatewayresponses/DEFAULT_4XX"),
        json!({"statusCode": "400"}),
    )
    .await;

    let again = harness_on(Arc::clone(&h.store));
    let api = again
        .expect(200, "GET", &format!("/restapis/{id}"), Value::Null)
        .await;
    assert_eq!(api["name"], "pets");
    let s = again.snapshot();
    let (stage, path) = s.api(&id).unwrap().select_stage("/prod/pets").unwrap();
    assert!(stage.router.resolve(&Method::GET, path).is_some());
    let g = again
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/gatewayresponses/DEFAULT_4XX"),
            Value::Null,
        )
        .await;
    assert_eq!(g["statusCode"], "400");
    let v2 = again.expect(200, "GET", "/v2/apis", Value::Null).await;
    assert_eq!(v2["items"], json!([]));
}

// === limits and what Portico does not implement ===

#[tokio::test]
async fn operations_portico_does_not_implement_are_a_clear_400() {
    let h = harness();
    let (id, _, _) = h.api_with_pets().await;
    for (method, uri, body) in [
        // ImportRestApi and PutRestApi are openapi/'s (tests/aws/test_openapi.py);
        // TestInvokeMethod is served (v1/test_invoke.rs).
        ("POST", "/clientcertificates".to_string(), json!({})),
        (
            "POST",
            format!("/restapis/{id}/documentation/parts"),
            json!({"location": {"type": "API"}, "properties": "{}"}),
        ),
    ] {
        let m = h
            .error(400, "BadRequestException", method, &uri, body)
            .await;
        assert!(m.contains("is not supported by Portico"), "{uri}: {m}");
    }
    let m = h
        .error(
            400,
            "BadRequestException",
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({"canarySettings": {"percentTraffic": 10}}),
        )
        .await;
    assert!(
        m.contains("canarySettings need the stageName of an existing stage"),
        "{m}"
    );
}

#[tokio::test]
async fn a_rest_api_has_at_most_ten_stages() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.mock_get(&id, &pets).await;
    let d = h
        .expect(
            201,
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({}),
        )
        .await;
    for n in 0..10 {
        h.expect(
            201,
            "POST",
            &format!("/restapis/{id}/stages"),
            json!({"stageName": format!("s{n}"), "deploymentId": d["id"]}),
        )
        .await;
    }
    let m = h
        .error(
            400,
            "BadRequestException",
            "POST",
            &format!("/restapis/{id}/stages"),
            json!({"stageName": "s10", "deploymentId": d["id"]}),
        )
        .await;
    assert_eq!(m, "A REST API can have at most 10 stages");
    h.error(
        400,
        "BadRequestException",
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "s10"}),
    )
    .await;
    // Repointing an existing stage is not a new one.
    h.expect(
        201,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "s0"}),
    )
    .await;
}

#[tokio::test]
async fn deleting_an_untouched_gateway_response_is_a_no_op() {
    let h = harness();
    let (id, _, _) = h.api_with_pets().await;
    let uri = format!("/restapis/{id}/gatewayresponses/DEFAULT_5XX");
    h.expect(202, "DELETE", &uri, Value::Null).await;
    let g = h.expect(200, "GET", &uri, Value::Null).await;
    assert_eq!(g["defaultResponse"], true);
    h.error(
        400,
        "ValidationException",
        "DELETE",
        &format!("/restapis/{id}/gatewayresponses/NOPE"),
        Value::Null,
    )
    .await;
}

/// A patch value that is not one of the member's wire values is refused with AWS's message for
/// that member, and the stored method and integration keep their types.
#[tokio::test]
async fn patches_with_unknown_enum_values_are_refused_and_change_nothing() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.mock_get(&id, &pets).await;
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    let i = format!("{m}/integration");
    let replace =
        |path: &str, value: &str| patch(json!([{"op": "replace", "path": path, "value": value}]));

    let bad_type = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &i,
            replace("/type", "SOAP"),
        )
        .await;
    // Listed with the type's other problems (a MOCK's stored method is absent).
    assert!(
        bad_type.contains("Invalid type 'SOAP': use one of HTTP, HTTP_PROXY, MOCK, AWS, AWS_PROXY"),
        "{bad_type}"
    );
    let bad_connection = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &i,
            replace("/connectionType", "DIRECT"),
        )
        .await;
    assert_eq!(
        bad_connection,
        "Invalid connectionType 'DIRECT': use INTERNET or VPC_LINK"
    );
    // `JWT` is an authorization type, but an HTTP API's, not a REST API's.
    let jwt = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &m,
            replace("/authorizationType", "JWT"),
        )
        .await;
    assert_eq!(
        jwt,
        "Invalid authorizationType 'JWT': use one of NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS"
    );

    let got = h.expect(200, "GET", &i, Value::Null).await;
    assert_eq!(got["type"], "MOCK");
    assert_eq!(got["connectionType"], "INTERNET");
    let got = h.expect(200, "GET", &m, Value::Null).await;
    assert_eq!(got["authorizationType"], "NONE");

    // A wire value is taken and read back as written.
    let ok = h
        .expect(200, "PATCH", &m, replace("/authorizationType", "AWS_IAM"))
        .await;
    assert_eq!(ok["authorizationType"], "AWS_IAM");
}
