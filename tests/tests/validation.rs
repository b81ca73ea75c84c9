//! REST request validation end to end: models and request validators configured through the
//! admin API, enforced by the data plane before the integration. Asserts what a caller sees
//! (status, body, `x-amzn-ErrorType`) and that a refused request reaches no upstream.

use portico_tests::*;
use serde_json::{json, Value};

const PET_SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "title": "Pet",
  "type": "object",
  "required": ["name", "kind", "owner"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "minLength": 1},
    "kind": {"type": "string", "enum": ["dog", "cat"]},
    "age": {"type": "integer", "minimum": 0},
    "tags": {"type": "array", "items": {"type": "string"}},
    "owner": {
      "type": "object",
      "required": ["id"],
      "properties": {"id": {"type": "integer"}, "email": {"type": "string"}}
    }
  }
}"#;

/// A REST API with `/pets` and `/pets/{id}`, a `Pet` model, a validator that checks both body
/// and parameters (`all`) and one that checks only the body (`body`). Methods proxy to `up`.
struct Api {
    id: String,
    pets: String,
    pet: String,
    all: String,
    body: String,
}

impl Api {
    fn create(gw: &Gateway) -> Api {
        let api = gw.admin_json("POST", "/restapis", json!({"name": "validated"}));
        let id = api["id"].as_str().expect("id").to_string();
        let root = api["rootResourceId"].as_str().expect("root").to_string();
        let pets = gw.admin_json(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            json!({"pathPart": "pets"}),
        )["id"]
            .as_str()
            .expect("id")
            .to_string();
        let pet = gw.admin_json(
            "POST",
            &format!("/restapis/{id}/resources/{pets}"),
            json!({"pathPart": "{id}"}),
        )["id"]
            .as_str()
            .expect("id")
            .to_string();
        gw.admin_json(
            "POST",
            &format!("/restapis/{id}/models"),
            json!({"name": "Pet", "contentType": "application/json", "schema": PET_SCHEMA}),
        );
        gw.admin_json(
            "POST",
            &format!("/restapis/{id}/models"),
            json!({"name": "Object", "contentType": "application/json",
                   "schema": "{\"type\": \"object\"}"}),
        );
        let validator = |name: &str, body: bool, params: bool| {
            gw.admin_json(
                "POST",
                &format!("/restapis/{id}/requestvalidators"),
                json!({"name": name, "validateRequestBody": body,
                       "validateRequestParameters": params}),
            )["id"]
                .as_str()
                .expect("id")
                .to_string()
        };
        let all = validator("all", true, true);
        let body = validator("body", true, false);
        Api {
            id,
            pets,
            pet,
            all,
            body,
        }
    }

    /// `PUT` a method with `method` (PutMethod input) and an `HTTP_PROXY` integration to `up`.
    fn method(&self, gw: &Gateway, resource: &str, verb: &str, method: Value, up: &MockUpstream) {
        let base = format!("/restapis/{}/resources/{resource}/methods/{verb}", self.id);
        let mut input = json!({"authorizationType": "NONE"});
        if let (Some(i), Some(m)) = (input.as_object_mut(), method.as_object()) {
            i.extend(m.clone());
        }
        gw.admin_json("PUT", &base, input);
        gw.admin_json(
            "PUT",
            &format!("{base}/integration"),
            json!({"type": "HTTP_PROXY", "httpMethod": "ANY", "uri": up.url("/backend")}),
        );
    }

    fn deploy(&self, gw: &Gateway) {
        gw.admin_json(
            "POST",
            &format!("/restapis/{}/deployments", self.id),
            json!({"stageName": "prod"}),
        );
    }

    fn post(&self, gw: &Gateway, path: &str, content_type: Option<&str>, body: &str) -> Response {
        let mut req = Request::post(path, body).host(&gw.host(&self.id));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        gw.call(&req)
    }
}

#[track_caller]
fn assert_refused(r: &Response, message: &str) {
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(r.json(), json!({ "message": message }), "{r}");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("BadRequestException"),
        "{r}"
    );
    assert_eq!(r.header("content-type"), Some("application/json"), "{r}");
    assert!(r.header("x-amzn-requestid").is_some(), "{r}");
}

#[test]
fn bodies_are_checked_against_the_model_of_their_content_type() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let api = Api::create(&gw);
    api.method(
        &gw,
        &api.pets,
        "POST",
        json!({"requestValidatorId": api.body, "requestModels": {"application/json": "Pet"}}),
        &up,
    );
    api.deploy(&gw);
    let json_ct = Some("application/json");

    let valid = r#"{"name": "Rex", "kind": "dog", "age": 3, "tags": ["good"], "owner": {"id": 7}}"#;
    let r = api.post(&gw, "/prod/pets", json_ct, valid);
    assert_eq!(r.status, 200, "{r}");
    let seen = up.single_request();
    assert_eq!(seen.body, valid.as_bytes());
    up.clear();
    // A media type with parameters and another case selects the same model.
    let r = api.post(
        &gw,
        "/prod/pets",
        Some("Application/JSON; charset=utf-8"),
        valid,
    );
    assert_eq!(r.status, 200, "{r}");
    // No content type is application/json.
    let r = api.post(&gw, "/prod/pets", None, valid);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(up.request_count(), 2);
    up.clear();

    for invalid in [
        // required field missing
        r#"{"name": "Rex", "kind": "dog"}"#,
        // nested required field missing
        r#"{"name": "Rex", "kind": "dog", "owner": {}}"#,
        // wrong types
        r#"{"name": 5, "kind": "dog", "owner": {"id": 7}}"#,
        r#"{"name": "Rex", "kind": "dog", "owner": {"id": "seven"}}"#,
        r#"{"name": "Rex", "kind": "dog", "age": 2.5, "owner": {"id": 7}}"#,
        // below the minimum, empty string
        r#"{"name": "Rex", "kind": "dog", "age": -1, "owner": {"id": 7}}"#,
        r#"{"name": "", "kind": "dog", "owner": {"id": 7}}"#,
        // not in the enum
        r#"{"name": "Rex", "kind": "fish", "owner": {"id": 7}}"#,
        // an array item of the wrong type
        r#"{"name": "Rex", "kind": "dog", "tags": ["a", 1], "owner": {"id": 7}}"#,
        // additionalProperties: false
        r#"{"name": "Rex", "kind": "dog", "owner": {"id": 7}, "colour": "brown"}"#,
        // not an object at all
        r#"["Rex"]"#,
        // not JSON
        r#"{"name": "Rex", "kind": "dog", "owner": {"id": 7}"#,
        "name=Rex",
        // empty: validated as {}
        "",
    ] {
        let r = api.post(&gw, "/prod/pets", json_ct, invalid);
        assert_refused(&r, "Invalid request body");
    }
    // Nesting deep enough to overflow a recursive parser is refused, and the gateway lives on.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_refused(
        &api.post(&gw, "/prod/pets", json_ct, &deep),
        "Invalid request body",
    );
    let nested = format!(
        r#"{{"name": "Rex", "kind": "dog", "owner": {{"id": 7, "email": {}1{}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_refused(
        &api.post(&gw, "/prod/pets", json_ct, &nested),
        "Invalid request body",
    );
    assert!(
        up.requests().is_empty(),
        "a refused request reached the upstream"
    );

    // A content type without a model (and no $default) is not validated.
    let r = api.post(&gw, "/prod/pets", Some("text/plain"), "anything at all");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(up.single_request().body, b"anything at all");
}

#[test]
fn the_default_model_covers_content_types_without_their_own() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let api = Api::create(&gw);
    api.method(
        &gw,
        &api.pets,
        "PUT",
        json!({"requestValidatorId": api.body,
               "requestModels": {"application/json": "Pet", "$default": "Object"}}),
        &up,
    );
    api.deploy(&gw);
    let put = |ct: &str, body: &str| {
        gw.call(
            &Request::new("PUT", "/prod/pets")
                .host(&gw.host(&api.id))
                .header("content-type", ct)
                .body(body),
        )
    };
    // text/plain falls back to `$default` (any object): a plain string is refused...
    assert_refused(&put("text/plain", "hello"), "Invalid request body");
    // ... an object is accepted, though it is not a Pet.
    assert_eq!(put("text/plain", r#"{"x": 1}"#).status, 200);
    // application/json still has its own model.
    assert_refused(
        &put("application/json", r#"{"x": 1}"#),
        "Invalid request body",
    );
    assert_eq!(up.request_count(), 1);
}

#[test]
fn required_parameters_are_checked_before_the_body() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let api = Api::create(&gw);
    api.method(
        &gw,
        &api.pets,
        "GET",
        json!({"requestValidatorId": api.all, "requestParameters": {
            "method.request.querystring.q": true,
            "method.request.header.X-Trace-Id": true,
            "method.request.querystring.page": false,
        }}),
        &up,
    );
    // Path parameters are present whenever the resource matched.
    api.method(
        &gw,
        &api.pet,
        "POST",
        json!({"requestValidatorId": api.all,
               "requestParameters": {"method.request.path.id": true,
                                     "method.request.header.x-owner": true},
               "requestModels": {"application/json": "Pet"}}),
        &up,
    );
    // A validator that checks only bodies ignores required parameters.
    api.method(
        &gw,
        &api.pet,
        "GET",
        json!({"requestValidatorId": api.body,
               "requestParameters": {"method.request.querystring.q": true}}),
        &up,
    );
    api.deploy(&gw);
    let host = gw.host(&api.id);

    let r = gw.call(&Request::get("/prod/pets").host(&host));
    assert_refused(&r, "Missing required request parameters: [X-Trace-Id, q]");
    let r = gw.call(
        &Request::get("/prod/pets?page=2")
            .host(&host)
            .header("x-trace-id", "t1"),
    );
    assert_refused(&r, "Missing required request parameters: [q]");
    // Present but blank is missing.
    let r = gw.call(
        &Request::get("/prod/pets?q=")
            .host(&host)
            .header("x-trace-id", "t1"),
    );
    assert_refused(&r, "Missing required request parameters: [q]");
    let r = gw.call(
        &Request::get("/prod/pets?q=cats")
            .host(&host)
            .header("x-trace-id", " "),
    );
    assert_refused(&r, "Missing required request parameters: [X-Trace-Id]");
    assert!(
        up.requests().is_empty(),
        "a refused request reached the upstream"
    );

    let r = gw.call(
        &Request::get("/prod/pets?q=cats")
            .host(&host)
            .header("X-TRACE-ID", "t1"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(up.single_request().target, "/backend?q=cats");
    up.clear();

    // Parameters first, then the body.
    let pet = r#"{"name": "Rex", "kind": "cat", "owner": {"id": 1}}"#;
    let r = api.post(&gw, "/prod/pets/7", Some("application/json"), "not json");
    assert_refused(&r, "Missing required request parameters: [x-owner]");
    let post = |body: &str| {
        gw.call(
            &Request::post("/prod/pets/7", body)
                .host(&host)
                .header("content-type", "application/json")
                .header("x-owner", "me"),
        )
    };
    assert_refused(&post("not json"), "Invalid request body");
    assert_eq!(post(pet).status, 200);
    assert_eq!(up.request_count(), 1);

    let r = gw.call(&Request::get("/prod/pets/7").host(&host));
    assert_eq!(r.status, 200, "{r}");

    // The connection survives a refusal: the next request on it is served.
    let mut c = gw.client();
    let r = c.request(&Request::get("/prod/pets").host(&host));
    assert_eq!(r.status, 400, "{r}");
    let r = c.request(
        &Request::post("/prod/pets/7", "{}")
            .host(&host)
            .header("x-owner", "me"),
    );
    assert_eq!(r.status, 400, "{r}");
    let r = c.request(
        &Request::get("/prod/pets?q=a")
            .host(&host)
            .header("x-trace-id", "t"),
    );
    assert_eq!(r.status, 200, "{r}");
}

#[test]
fn validation_gateway_responses_can_be_customised() {
    let up = MockUpstream::start(Behaviour::Echo);
    let gw = Gateway::spawn(&config(vec![]), &[]);
    let api = Api::create(&gw);
    api.method(
        &gw,
        &api.pets,
        "POST",
        json!({"requestValidatorId": api.all,
               "requestParameters": {"method.request.querystring.tenant": true},
               "requestModels": {"application/json": "Pet"}}),
        &up,
    );
    gw.admin_json(
        "PUT",
        &format!("/restapis/{}/gatewayresponses/BAD_REQUEST_BODY", api.id),
        json!({
            "statusCode": "422",
            "responseParameters": {"gatewayresponse.header.x-why": "'schema'"},
            "responseTemplates": {"application/json":
                "{\"error\": $context.error.messageString, \"type\": \"$context.error.responseType\", \"detail\": \"$context.error.validationErrorString\"}"},
        }),
    );
    gw.admin_json(
        "PUT",
        &format!(
            "/restapis/{}/gatewayresponses/BAD_REQUEST_PARAMETERS",
            api.id
        ),
        json!({"responseTemplates": {"application/json":
            "{\"missing\": \"$context.error.message\"}"}}),
    );
    api.deploy(&gw);

    let r = api.post(&gw, "/prod/pets?tenant=t", Some("application/json"), "{}");
    assert_eq!(r.status, 422, "{r}");
    assert_eq!(r.header("x-why"), Some("schema"));
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
    let body = r.json();
    assert_eq!(body["error"], "Invalid request body", "{r}");
    assert_eq!(body["type"], "BAD_REQUEST_BODY", "{r}");
    // validationErrorString: what the schema found wrong, every required member named.
    let detail = body["detail"].as_str().expect("a string");
    assert!(detail.starts_with('[') && detail.ends_with(']'), "{detail}");
    for member in ["name", "kind", "owner"] {
        assert!(
            detail.contains(&format!("\"{member}\" is a required property")),
            "{detail}"
        );
    }
    let r = api.post(
        &gw,
        "/prod/pets?tenant=t",
        Some("application/json"),
        "{oops",
    );
    assert_eq!(r.status, 422, "{r}");
    let detail = r.json()["detail"].as_str().expect("a string").to_string();
    assert!(detail.starts_with("[the body is not JSON"), "{detail}");
    let r = api.post(&gw, "/prod/pets", Some("application/json"), "{}");
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(
        r.json(),
        json!({"missing": "Missing required request parameters: [tenant]"})
    );
    assert!(up.requests().is_empty());
}
