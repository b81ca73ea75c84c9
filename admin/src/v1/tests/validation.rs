//! Models and request validators: CRUD, patch operations, the errors AWS answers, and what a
//! deployment makes of them.

use axum::http::Method;
use serde_json::{json, Value};

use super::{harness, patch, Harness};

const PET_SCHEMA: &str = r#"{"$schema": "http://json-schema.org/draft-04/schema#",
  "type": "object", "required": ["name"],
  "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}"#;

impl Harness {
    async fn model(&self, api: &str, name: &str, schema: &str) -> Value {
        self.expect(
            201,
            "POST",
            &format!("/restapis/{api}/models"),
            json!({"name": name, "contentType": "application/json", "schema": schema}),
        )
        .await
    }

    async fn validator(&self, api: &str, body: bool, params: bool) -> String {
        let v = self
            .expect(
                201,
                "POST",
                &format!("/restapis/{api}/requestvalidators"),
                json!({"name": "v", "validateRequestBody": body, "validateRequestParameters": params}),
            )
            .await;
        v["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn models_create_get_list_update_delete() {
    let h = harness();
    let (id, _, _) = h.api_with_pets().await;
    let models = format!("/restapis/{id}/models");
    let m = h.model(&id, "Pet", PET_SCHEMA).await;
    assert_eq!(m["name"], "Pet");
    assert_eq!(m["contentType"], "application/json");
    assert_eq!(m["schema"], PET_SCHEMA);
    assert_eq!(m["id"].as_str().unwrap().len(), 10);
    h.model(&id, "Error", r#"{"type": "object"}"#).await;

    let list = h.expect(200, "GET", &models, Value::Null).await;
    let names: Vec<&str> = list["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Error", "Pet"]);
    let page = h
        .expect(200, "GET", &format!("{models}?limit=1"), Value::Null)
        .await;
    assert_eq!(page["item"].as_array().unwrap().len(), 1);
    assert!(page["position"].is_string());

    let got = h
        .expect(200, "GET", &format!("{models}/Pet"), Value::Null)
        .await;
    assert_eq!(got, m);

    let updated = h
        .expect(
            200,
            "PATCH",
            &format!("{models}/Pet"),
            patch(json!([
                {"op": "replace", "path": "/description", "value": "a pet"},
                {"op": "replace", "path": "/schema", "value": "{\"type\": \"object\"}"},
            ])),
        )
        .await;
    assert_eq!(updated["description"], "a pet");
    assert_eq!(updated["schema"], "{\"type\": \"object\"}");
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &format!("{models}/Pet"),
            patch(json!([{"op": "replace", "path": "/name", "value": "Dog"}])),
        )
        .await;
    assert!(m.contains("/name"), "{m}");

    h.expect(202, "DELETE", &format!("{models}/Error"), Value::Null)
        .await;
    let m = h
        .error(
            404,
            "NotFoundException",
            "GET",
            &format!("{models}/Error"),
            Value::Null,
        )
        .await;
    assert_eq!(m, "Invalid model name specified: Error");
}

#[tokio::test]
async fn models_refuse_bad_input() {
    let h = harness();
    let (id, _, _) = h.api_with_pets().await;
    let models = format!("/restapis/{id}/models");
    h.model(&id, "Pet", PET_SCHEMA).await;
    let m = h
        .error(
            409,
            "ConflictException",
            "POST",
            &models,
            json!({"name": "Pet", "contentType": "application/json"}),
        )
        .await;
    assert_eq!(m, "Model name already exists for this REST API");
    for (body, expect) in [
        (
            json!({"name": "Bad", "contentType": "application/json", "schema": "{not json"}),
            "Invalid model specified",
        ),
        (
            json!({"name": "Bad", "contentType": "application/json",
                   "schema": "{\"type\": \"objekt\"}"}),
            "Invalid model specified",
        ),
        (
            json!({"name": "Bad", "contentType": "application/json",
                   "schema": "{\"properties\": {\"a\": {\"required\": 3}}}"}),
            "Invalid model specified",
        ),
        (
            json!({"name": "not-alnum", "contentType": "application/json"}),
            "alphanumeric",
        ),
        (json!({"name": "NoType"}), "contentType is required"),
        (
            json!({"contentType": "application/json"}),
            "name is required",
        ),
    ] {
        let m = h
            .error(400, "BadRequestException", "POST", &models, body.clone())
            .await;
        assert!(m.contains(expect), "{body}: {m}");
    }
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &format!("{models}/Pet"),
            patch(json!([{"op": "replace", "path": "/schema", "value": "[1, 2"}])),
        )
        .await;
    assert!(m.starts_with("Invalid model specified"), "{m}");
    // Nothing changed.
    let got = h
        .expect(200, "GET", &format!("{models}/Pet"), Value::Null)
        .await;
    assert_eq!(got["schema"], PET_SCHEMA);
}

#[tokio::test]
async fn request_validators_create_get_list_update_delete() {
    let h = harness();
    let (id, _, _) = h.api_with_pets().await;
    let validators = format!("/restapis/{id}/requestvalidators");
    let v = h
        .expect(
            201,
            "POST",
            &validators,
            json!({"name": "body-only", "validateRequestBody": true}),
        )
        .await;
    assert_eq!(v["name"], "body-only");
    assert_eq!(v["validateRequestBody"], true);
    assert_eq!(v["validateRequestParameters"], false);
    let vid = v["id"].as_str().unwrap();

    let list = h.expect(200, "GET", &validators, Value::Null).await;
    assert_eq!(list["item"], json!([v]));
    let one = format!("{validators}/{vid}");
    let updated = h
        .expect(
            200,
            "PATCH",
            &one,
            patch(json!([
                {"op": "replace", "path": "/validateRequestParameters", "value": "true"},
                {"op": "replace", "path": "/validateRequestBody", "value": "false"},
                {"op": "replace", "path": "/name", "value": "params"},
            ])),
        )
        .await;
    assert_eq!(updated["validateRequestParameters"], true);
    assert_eq!(updated["validateRequestBody"], false);
    assert_eq!(updated["name"], "params");
    assert_eq!(h.expect(200, "GET", &one, Value::Null).await, updated);
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &one,
            patch(json!([{"op": "replace", "path": "/id", "value": "x"}])),
        )
        .await;
    assert!(m.contains("/id"), "{m}");
    h.expect(202, "DELETE", &one, Value::Null).await;
    let m = h
        .error(404, "NotFoundException", "GET", &one, Value::Null)
        .await;
    assert_eq!(m, "Invalid Request Validator identifier specified");
}

#[tokio::test]
async fn methods_name_only_existing_validators_and_models() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    let post = format!("/restapis/{id}/resources/{pets}/methods/POST");
    let m = h
        .error(
            400,
            "BadRequestException",
            "PUT",
            &post,
            json!({"authorizationType": "NONE", "requestValidatorId": "nope000000"}),
        )
        .await;
    assert_eq!(m, "Invalid Request Validator identifier specified");
    let m = h
        .error(
            400,
            "BadRequestException",
            "PUT",
            &post,
            json!({"authorizationType": "NONE", "requestModels": {"application/json": "Pet"}}),
        )
        .await;
    assert_eq!(m, "Invalid model identifier specified: Pet");

    h.model(&id, "Pet", PET_SCHEMA).await;
    let vid = h.validator(&id, true, true).await;
    let method = h
        .expect(
            201,
            "PUT",
            &post,
            json!({"authorizationType": "NONE", "requestValidatorId": vid,
                   "requestModels": {"application/json": "Pet"},
                   "requestParameters": {"method.request.querystring.q": true}}),
        )
        .await;
    assert_eq!(method["requestValidatorId"], vid.as_str());
    assert_eq!(method["requestModels"], json!({"application/json": "Pet"}));

    // UpdateMethod checks the same references.
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &post,
            patch(json!([{"op": "replace", "path": "/requestValidatorId", "value": "nope000000"}])),
        )
        .await;
    assert_eq!(m, "Invalid Request Validator identifier specified");
    let m = h
        .error(
            400,
            "BadRequestException",
            "PATCH",
            &post,
            patch(json!([{"op": "add", "path": "/requestModels/text~1plain", "value": "Nope"}])),
        )
        .await;
    assert_eq!(m, "Invalid model identifier specified: Nope");
    h.model(&id, "Anything", "{}").await;
    let updated = h
        .expect(
            200,
            "PATCH",
            &post,
            patch(json!([{"op": "add", "path": "/requestModels/$default", "value": "Anything"}])),
        )
        .await;
    assert_eq!(
        updated["requestModels"],
        json!({"application/json": "Pet", "$default": "Anything"})
    );

    // What a method names cannot be deleted.
    let m = h
        .error(
            400,
            "BadRequestException",
            "DELETE",
            &format!("/restapis/{id}/models/Pet"),
            Value::Null,
        )
        .await;
    assert_eq!(
        m,
        "Cannot delete model 'Pet', is referenced in method request: /pets/POST"
    );
    let m = h
        .error(
            400,
            "BadRequestException",
            "DELETE",
            &format!("/restapis/{id}/requestvalidators/{vid}"),
            Value::Null,
        )
        .await;
    assert!(m.starts_with("Cannot delete request validator"), "{m}");
    // Once the method lets go, they can.
    h.expect(
        200,
        "PATCH",
        &post,
        patch(json!([
            {"op": "remove", "path": "/requestModels/application~1json"},
            {"op": "remove", "path": "/requestValidatorId"},
        ])),
    )
    .await;
    h.expect(
        202,
        "DELETE",
        &format!("/restapis/{id}/models/Pet"),
        Value::Null,
    )
    .await;
    h.expect(
        202,
        "DELETE",
        &format!("/restapis/{id}/requestvalidators/{vid}"),
        Value::Null,
    )
    .await;
}

#[tokio::test]
async fn deployments_freeze_models_and_validators_into_the_snapshot() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.model(&id, "Pet", PET_SCHEMA).await;
    let vid = h.validator(&id, true, true).await;
    h.mock_get(&id, &pets).await;
    let get = format!("/restapis/{id}/resources/{pets}/methods/GET");
    h.expect(
        200,
        "PATCH",
        &get,
        patch(json!([
            {"op": "replace", "path": "/requestValidatorId", "value": vid},
            {"op": "add", "path": "/requestParameters/method.request.header.x-trace", "value": "true"},
            {"op": "add", "path": "/requestModels/application~1json", "value": "Pet"},
        ])),
    )
    .await;
    h.expect(
        201,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    )
    .await;
    let s = h.snapshot();
    let (stage, path) = s.api(&id).unwrap().select_stage("/prod/pets").unwrap();
    let m = stage.router.resolve(&Method::GET, path).unwrap();
    let rest = stage.routes[m.route as usize].rest.as_ref().unwrap();
    let v = rest.validation.as_deref().expect("validation compiled");
    assert_eq!(&*v.required[0].name, "x-trace");
    let schema = v.schema_for(b"application/json").unwrap();
    assert!(schema.is_valid(&json!({"name": "rex"})));
    assert!(!schema.is_valid(&json!({"age": 3})));

    // A later change to the model is served only after the next deployment.
    h.expect(
        200,
        "PATCH",
        &format!("/restapis/{id}/models/Pet"),
        patch(json!([{"op": "replace", "path": "/schema", "value": "{}"}])),
    )
    .await;
    let s = h.snapshot();
    let (stage, path) = s.api(&id).unwrap().select_stage("/prod/pets").unwrap();
    let m = stage.router.resolve(&Method::GET, path).unwrap();
    let v = stage.routes[m.route as usize]
        .rest
        .as_ref()
        .unwrap()
        .validation
        .as_deref()
        .unwrap();
    assert!(!v
        .schema_for(b"application/json")
        .unwrap()
        .is_valid(&json!({"age": 3})));
}

#[tokio::test]
async fn models_and_validators_survive_a_restart() {
    let h = harness();
    let (id, _, pets) = h.api_with_pets().await;
    h.model(&id, "Pet", PET_SCHEMA).await;
    let vid = h.validator(&id, true, true).await;
    h.mock_get(&id, &pets).await;
    h.expect(
        200,
        "PATCH",
        &format!("/restapis/{id}/resources/{pets}/methods/GET"),
        patch(json!([
            {"op": "replace", "path": "/requestValidatorId", "value": vid},
            {"op": "add", "path": "/requestParameters/method.request.querystring.q", "value": "true"},
        ])),
    )
    .await;
    h.expect(
        201,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    )
    .await;

    let again = super::harness_on(std::sync::Arc::clone(&h.store));
    let m = again
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/models/Pet"),
            Value::Null,
        )
        .await;
    assert_eq!(m["schema"], PET_SCHEMA);
    let v = again
        .expect(
            200,
            "GET",
            &format!("/restapis/{id}/requestvalidators/{vid}"),
            Value::Null,
        )
        .await;
    assert_eq!(v["validateRequestParameters"], true);
    let s = again.snapshot();
    let (stage, path) = s.api(&id).unwrap().select_stage("/prod/pets").unwrap();
    let m = stage.router.resolve(&Method::GET, path).unwrap();
    let validation = stage.routes[m.route as usize]
        .rest
        .as_ref()
        .unwrap()
        .validation
        .as_deref()
        .expect("validation served after a restart");
    assert_eq!(&*validation.required[0].name, "q");
}
