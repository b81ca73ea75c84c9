//! API keys, usage plans, usage plan keys and usage: `app(state).oneshot(req)`, no socket.
//! Tests that read the clock hold [`CLOCK`] (the offset is process-wide).

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use portico_shared::keys::KeyPlan;
use portico_shared::{clock, quota};
use serde_json::{json, Value};

use crate::store::{MemoryStore, SqliteStore, Store};
use crate::test_support::{self, json_bytes, Answer};
use crate::{AdminState, SnapshotCell};

static CLOCK: Mutex<()> = Mutex::new(());

struct Harness {
    state: AdminState,
    cell: SnapshotCell,
    _clock: MutexGuard<'static, ()>,
}

/// Holds the clock and sets it to `day` (days since the epoch) at noon UTC, or leaves it real.
fn clock_at(day: Option<u64>) -> MutexGuard<'static, ()> {
    let guard = CLOCK.lock().unwrap_or_else(|p| p.into_inner());
    clock::set_offset_secs(0);
    if let Some(day) = day {
        set_day(day);
    }
    guard
}

fn set_day(day: u64) {
    clock::set_offset_secs(0);
    let now = clock::unix_secs() as i64;
    clock::set_offset_secs((day * 86_400 + 43_200) as i64 - now);
    assert_eq!(clock::today(), day);
}

fn harness() -> Harness {
    harness_on(Arc::new(MemoryStore::default()), clock_at(None))
}

fn harness_on(store: Arc<dyn Store>, guard: MutexGuard<'static, ()>) -> Harness {
    let (state, cell) = test_support::open(store);
    Harness {
        state,
        cell,
        _clock: guard,
    }
}

impl Harness {
    async fn call(&self, method: &str, uri: &str, body: Value) -> Answer {
        test_support::send(&self.state, method, uri, json_bytes(&body)).await
    }

    async fn ok(&self, method: &str, uri: &str, body: Value) -> Value {
        self.call(method, uri, body).await.success(method, uri)
    }

    async fn err(&self, method: &str, uri: &str, body: Value, status: u16, kind: &str) -> String {
        let a = self.call(method, uri, body).await;
        assert_eq!(a.status.as_u16(), status, "{method} {uri}: {}", a.body);
        assert_eq!(a.kind.as_deref(), Some(kind), "{method} {uri}");
        a.message().to_string()
    }

    /// A REST API with `GET /pets` (a MOCK integration) deployed to `stage`; returns its id.
    async fn rest_api_stage(&self, stage: &str) -> String {
        let api = self.ok("POST", "/restapis", json!({"name": "x"})).await;
        let (id, root) = (str_of(&api, "id"), str_of(&api, "rootResourceId"));
        let pets = self
            .ok(
                "POST",
                &format!("/restapis/{id}/resources/{root}"),
                json!({"pathPart": "pets"}),
            )
            .await;
        let m = format!(
            "/restapis/{id}/resources/{}/methods/GET",
            str_of(&pets, "id")
        );
        self.ok("PUT", &m, json!({"authorizationType": "NONE"}))
            .await;
        self.ok(
            "PUT",
            &format!("{m}/integration"),
            json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
        )
        .await;
        self.ok(
            "POST",
            &format!("/restapis/{id}/deployments"),
            json!({"stageName": stage}),
        )
        .await;
        id
    }

    /// A key, a plan with `quota` and the key in the plan; returns (key id, value, plan id).
    async fn key_in_plan(&self, quota: Value) -> (String, String, String) {
        let key = self
            .ok("POST", "/apikeys", json!({"name": "k", "enabled": true}))
            .await;
        let plan = self
            .ok(
                "POST",
                "/usageplans",
                json!({"name": "p", "quota": quota, "throttle": {"rateLimit": 100.0, "burstLimit": 50}}),
            )
            .await;
        let (key_id, plan_id) = (str_of(&key, "id"), str_of(&plan, "id"));
        self.ok(
            "POST",
            &format!("/usageplans/{plan_id}/keys"),
            json!({"keyId": key_id, "keyType": "API_KEY"}),
        )
        .await;
        (key_id, str_of(&key, "value"), plan_id)
    }

    /// The published state of key `value` in plan `plan_id`.
    fn key_plan(&self, value: &str, plan_id: &str) -> Arc<KeyPlan> {
        let s = self.cell.load();
        let e = s.usage.keys.get(value.as_bytes()).expect("key published");
        e.plans
            .iter()
            .find(|kp| &*kp.plan_id == plan_id)
            .cloned()
            .expect("key in plan")
    }

    /// Counts `n` requests as the data plane does (quota, then the day); returns how many were
    /// admitted.
    fn count(&self, value: &str, plan_id: &str, n: usize) -> usize {
        let kp = self.key_plan(value, plan_id);
        let s = self.cell.load();
        let plan = s.usage.plans.get(plan_id).unwrap();
        let today = clock::today();
        let mut admitted = 0;
        for _ in 0..n {
            if let Some(q) = &plan.quota {
                let start = quota::period_start_day(today, q.period);
                if !kp.quota.try_take(start, q.limit_for(start)) {
                    continue;
                }
            }
            kp.days.add(today);
            admitted += 1;
        }
        admitted
    }
}

fn str_of(v: &Value, member: &str) -> String {
    v[member].as_str().unwrap().to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "portico-usage-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn api_keys() {
    let h = harness();
    let api = h.rest_api_stage("prod").await;
    let value = "abcdefghij0123456789XYZ";
    let k = h
        .call(
            "POST",
            "/apikeys",
            json!({"name": "alice", "description": "d", "value": value, "customerId": "c1",
                   "tags": {"team": "a"}, "generateDistinctId": true,
                   "stageKeys": [{"restApiId": api, "stageName": "prod"}]}),
        )
        .await;
    assert_eq!(k.status, StatusCode::CREATED);
    let id = str_of(&k.body, "id");
    assert_eq!(id.len(), 10);
    assert_eq!(k.body["value"], value);
    assert_eq!(k.body["enabled"], false, "AWS's default");
    assert!(k.body["createdDate"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(k.body["stageKeys"], json!([format!("{api}/prod")]));
    assert_eq!(k.body["tags"]["team"], "a");

    // Generated values: 40 letters and digits.
    let g = h
        .ok("POST", "/apikeys", json!({"name": "bob", "enabled": true}))
        .await;
    let gv = str_of(&g, "value");
    assert_eq!(gv.len(), 40);
    assert!(gv.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(g["enabled"], true);

    // Values are unique; they must be 20 to 128 letters and digits.
    let m = h
        .err(
            "POST",
            "/apikeys",
            json!({"value": value}),
            409,
            "ConflictException",
        )
        .await;
    assert_eq!(m, "API Key already exists");
    let m = h
        .err(
            "POST",
            "/apikeys",
            json!({"value": "short"}),
            400,
            "BadRequestException",
        )
        .await;
    assert!(m.contains("at least 20 characters"), "{m}");
    h.err(
        "POST",
        "/apikeys",
        json!({"value": "has-dashes-aaaaaaaaaaaaaaa"}),
        400,
        "BadRequestException",
    )
    .await;
    // A member the model does not have (a newer SDK's) is ignored.
    let k = h.ok("POST", "/apikeys", json!({"nope": 1})).await;
    h.ok(
        "DELETE",
        &format!("/apikeys/{}", k["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    h.err(
        "POST",
        "/apikeys?mode=import&format=csv",
        Value::Null,
        400,
        "BadRequestException",
    )
    .await;

    // Values are shown only on request.
    let all = h.ok("GET", "/apikeys", Value::Null).await;
    assert_eq!(all["item"].as_array().unwrap().len(), 2);
    assert!(all["item"][0].get("value").is_none());
    let all = h
        .ok("GET", "/apikeys?includeValues=true", Value::Null)
        .await;
    assert!(all["item"][0]["value"].is_string());
    let one = h.ok("GET", &format!("/apikeys/{id}"), Value::Null).await;
    assert!(one.get("value").is_none());
    assert_eq!(one["name"], "alice");
    let one = h
        .ok(
            "GET",
            &format!("/apikeys/{id}?includeValue=true"),
            Value::Null,
        )
        .await;
    assert_eq!(one["value"], value);
    h.err(
        "GET",
        "/apikeys?includeValues=maybe",
        Value::Null,
        400,
        "BadRequestException",
    )
    .await;

    // Filters and paging.
    let by_name = h.ok("GET", "/apikeys?name=ali", Value::Null).await;
    assert_eq!(by_name["item"].as_array().unwrap().len(), 1);
    assert_eq!(by_name["item"][0]["id"], id.as_str());
    let by_customer = h.ok("GET", "/apikeys?customerId=c1", Value::Null).await;
    assert_eq!(by_customer["item"].as_array().unwrap().len(), 1);
    let p1 = h.ok("GET", "/apikeys?limit=1", Value::Null).await;
    assert_eq!(p1["item"].as_array().unwrap().len(), 1);
    let pos = str_of(&p1, "position");
    let p2 = h
        .ok(
            "GET",
            &format!("/apikeys?limit=1&position={pos}"),
            Value::Null,
        )
        .await;
    assert_eq!(p2["item"].as_array().unwrap().len(), 1);
    assert!(p2.get("position").is_none());
    assert_ne!(p1["item"][0]["id"], p2["item"][0]["id"]);
    h.err(
        "GET",
        "/apikeys?limit=501",
        Value::Null,
        400,
        "BadRequestException",
    )
    .await;
    h.err(
        "GET",
        "/apikeys?position=zz",
        Value::Null,
        400,
        "BadRequestException",
    )
    .await;

    // Updates.
    let u = h
        .ok(
            "PATCH",
            &format!("/apikeys/{id}"),
            json!({"patchOperations": [
                {"op": "replace", "path": "/name", "value": "alice2"},
                {"op": "replace", "path": "/enabled", "value": "true"},
                {"op": "replace", "path": "/customerId", "value": "c2"},
                {"op": "replace", "path": "/description", "value": "d2"}]}),
        )
        .await;
    assert_eq!(u["name"], "alice2");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["customerId"], "c2");
    assert!(u.get("value").is_none());
    assert!(
        h.cell
            .load()
            .usage
            .keys
            .get(value.as_bytes())
            .unwrap()
            .enabled
    );
    let m = h
        .err(
            "PATCH",
            &format!("/apikeys/{id}"),
            json!({"patchOperations": [{"op": "replace", "path": "/value", "value": "x"}]}),
            400,
            "BadRequestException",
        )
        .await;
    assert!(m.contains("/value"), "{m}");
    h.err(
        "PATCH",
        &format!("/apikeys/{id}"),
        json!({"patchOperations": [{"op": "replace", "path": "/enabled", "value": "yes"}]}),
        400,
        "BadRequestException",
    )
    .await;

    // Deletes.
    let d = h
        .call("DELETE", &format!("/apikeys/{id}"), Value::Null)
        .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let m = h
        .err(
            "GET",
            &format!("/apikeys/{id}"),
            Value::Null,
            404,
            "NotFoundException",
        )
        .await;
    assert!(m.starts_with("Invalid API Key identifier specified"), "{m}");
    h.err(
        "DELETE",
        &format!("/apikeys/{id}"),
        Value::Null,
        404,
        "NotFoundException",
    )
    .await;
    assert!(h.cell.load().usage.keys.get(value.as_bytes()).is_none());
}

#[tokio::test]
async fn one_key_change_copies_one_shard() {
    let h = harness();
    for i in 0..50 {
        h.ok("POST", "/apikeys", json!({"name": format!("k{i}")}))
            .await;
    }
    let before = h.cell.load_full();
    let value = "incrementalKeyValue0123456789";
    h.ok("POST", "/apikeys", json!({"value": value, "enabled": true}))
        .await;
    let after = h.cell.load_full();
    let e = after.usage.keys.get(value.as_bytes()).expect("published");
    assert!(e.enabled);
    assert_eq!(after.usage.keys.len(), 51);
    assert_eq!(
        after.usage.keys.shared_shards(&before.usage.keys),
        portico_shared::limits::API_KEY_SHARDS - 1
    );
    assert!(after.generation > before.generation);
    // Disabled keys are published, disabled. (The list is in id order, and ids are random: take
    // one of the 50 created without `enabled`, not whichever comes first.)
    let listed = h.ok("GET", "/apikeys?limit=500", Value::Null).await;
    let first_disabled = listed["item"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| k["enabled"] == json!(false))
        .expect("a disabled key")
        .clone();
    let id = str_of(&first_disabled, "id");
    let v = h
        .ok(
            "GET",
            &format!("/apikeys/{id}?includeValue=true"),
            Value::Null,
        )
        .await;
    let e = h
        .cell
        .load()
        .usage
        .keys
        .get(str_of(&v, "value").as_bytes())
        .cloned();
    assert!(!e.unwrap().enabled);
}

#[tokio::test]
async fn usage_plans() {
    let h = harness();
    let (api, beta_api) = (
        h.rest_api_stage("prod").await,
        h.rest_api_stage("beta").await,
    );
    let p = h
        .call(
            "POST",
            "/usageplans",
            json!({"name": "gold", "description": "g",
                   "apiStages": [{"apiId": api, "stage": "prod",
                                  "throttle": {"/pets/GET": {"rateLimit": 5.0, "burstLimit": 2}}}],
                   "throttle": {"rateLimit": 10.5, "burstLimit": 20},
                   "quota": {"limit": 1000, "offset": 10, "period": "MONTH"},
                   "productCode": "pc", "tags": {"a": "b"}}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let id = str_of(&p.body, "id");
    assert_eq!(
        p.body["quota"],
        json!({"limit": 1000, "offset": 10, "period": "MONTH"})
    );
    assert_eq!(
        p.body["throttle"],
        json!({"rateLimit": 10.5, "burstLimit": 20})
    );
    assert_eq!(
        p.body["apiStages"][0]["throttle"]["/pets/GET"]["burstLimit"],
        2
    );
    let compiled = h.cell.load().usage.plans.get(id.as_str()).cloned().unwrap();
    assert_eq!(compiled.quota.unwrap().limit, 1000);
    assert!(compiled.stage(&api, "prod").is_some());

    // Validation: every problem at once.
    for (body, needle) in [
        (
            json!({"name": "x", "throttle": {"rateLimit": -1.0}}),
            "rateLimit",
        ),
        (
            json!({"name": "x", "throttle": {"burstLimit": -1}}),
            "burstLimit",
        ),
        (
            json!({"name": "x", "quota": {"limit": -1, "period": "DAY"}}),
            "limit",
        ),
        (
            json!({"name": "x", "quota": {"limit": 10, "offset": 10, "period": "DAY"}}),
            "offset",
        ),
        (
            json!({"name": "x", "quota": {"limit": 10, "period": "YEAR"}}),
            "period",
        ),
        (
            json!({"name": "x", "apiStages": [{"apiId": "BAD!", "stage": "prod"}]}),
            "Invalid API identifier specified 000000000000:BAD!",
        ),
        (
            json!({"name": "x", "apiStages": [{"apiId": api, "stage": "nope"}]}),
            "Invalid stage identifier specified",
        ),
        (json!({"description": "no name"}), "name"),
    ] {
        // A value outside the model's enum is AWS's request validation error.
        let kind = if needle == "period" {
            "ValidationException"
        } else {
            "BadRequestException"
        };
        let m = h.err("POST", "/usageplans", body, 400, kind).await;
        assert!(m.contains(needle), "{needle}: {m}");
    }

    let got = h.ok("GET", &format!("/usageplans/{id}"), Value::Null).await;
    assert_eq!(got["name"], "gold");
    let m = h
        .err(
            "GET",
            "/usageplans/nope",
            Value::Null,
            404,
            "NotFoundException",
        )
        .await;
    assert!(m.starts_with("Invalid Usage Plan ID specified"), "{m}");

    // Updates.
    let u = h
        .ok(
            "PATCH",
            &format!("/usageplans/{id}"),
            json!({"patchOperations": [
                {"op": "replace", "path": "/name", "value": "platinum"},
                {"op": "replace", "path": "/throttle/rateLimit", "value": "50"},
                {"op": "replace", "path": "/throttle/burstLimit", "value": "100"},
                {"op": "replace", "path": "/quota/limit", "value": "5000"},
                {"op": "replace", "path": "/quota/period", "value": "WEEK"},
                {"op": "replace", "path": "/quota/offset", "value": "0"},
                {"op": "add", "path": "/apiStages", "value": format!("{beta_api}:beta")},
                {"op": "replace", "path": format!("/apiStages/{beta_api}:beta/throttle/~1/GET/rateLimit"), "value": "3"},
                {"op": "remove", "path": format!("/apiStages/{api}:prod/throttle/~1pets/GET")}]}),
        )
        .await;
    assert_eq!(u["name"], "platinum");
    assert_eq!(u["throttle"], json!({"rateLimit": 50.0, "burstLimit": 100}));
    assert_eq!(
        u["quota"],
        json!({"limit": 5000, "offset": 0, "period": "WEEK"})
    );
    assert_eq!(
        u["apiStages"][1],
        json!({"apiId": beta_api, "stage": "beta", "throttle": {"//GET": {"rateLimit": 3.0}}})
    );
    assert!(u["apiStages"][0].get("throttle").is_none());
    let compiled = h.cell.load().usage.plans.get(id.as_str()).cloned().unwrap();
    assert_eq!(compiled.quota.unwrap().limit, 5000);
    assert!(compiled.stage(&beta_api, "beta").is_some());

    // Adding a stage checks it: an unknown API or an unknown stage of a known API is a 404.
    for (value, message) in [
        (
            "BAD!:prod".to_string(),
            "Invalid API identifier specified 000000000000:BAD!".to_string(),
        ),
        (
            format!("{api}:beta"),
            format!("Invalid stage identifier specified {api}:beta"),
        ),
    ] {
        let m = h
            .err(
                "PATCH",
                &format!("/usageplans/{id}"),
                json!({"patchOperations": [{"op": "add", "path": "/apiStages", "value": value}]}),
                404,
                "NotFoundException",
            )
            .await;
        assert_eq!(m, message);
    }

    let u = h
        .ok(
            "PATCH",
            &format!("/usageplans/{id}"),
            json!({"patchOperations": [{"op": "remove", "path": "/apiStages", "value": format!("{api}:prod")}]}),
        )
        .await;
    assert_eq!(u["apiStages"].as_array().unwrap().len(), 1);
    for (op, path, value) in [
        ("replace", "/nope", "1"),
        ("replace", "/quota/limit", "many"),
        ("replace", "/quota/period", "YEAR"),
        ("replace", "/throttle/rateLimit", "-5"),
        ("move", "/name", "x"),
        ("add", "/apiStages", "nocolon"),
    ] {
        h.err(
            "PATCH",
            &format!("/usageplans/{id}"),
            json!({"patchOperations": [{"op": op, "path": path, "value": value}]}),
            400,
            "BadRequestException",
        )
        .await;
    }
    // A failed update changes nothing.
    let got = h.ok("GET", &format!("/usageplans/{id}"), Value::Null).await;
    assert_eq!(got["throttle"]["rateLimit"], 50.0);

    // keyId filter.
    let key = h.ok("POST", "/apikeys", json!({"name": "k"})).await;
    let key_id = str_of(&key, "id");
    let other = h.ok("POST", "/usageplans", json!({"name": "other"})).await;
    h.ok(
        "POST",
        &format!("/usageplans/{id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    )
    .await;
    let all = h.ok("GET", "/usageplans", Value::Null).await;
    assert_eq!(all["item"].as_array().unwrap().len(), 2);
    let with_key = h
        .ok("GET", &format!("/usageplans?keyId={key_id}"), Value::Null)
        .await;
    assert_eq!(with_key["item"].as_array().unwrap().len(), 1);
    assert_eq!(with_key["item"][0]["id"], id.as_str());

    let d = h
        .call(
            "DELETE",
            &format!("/usageplans/{}", str_of(&other, "id")),
            Value::Null,
        )
        .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    let d = h
        .call("DELETE", &format!("/usageplans/{id}"), Value::Null)
        .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    assert!(h.cell.load().usage.plans.is_empty());
    let v = h
        .ok(
            "GET",
            &format!("/apikeys/{key_id}?includeValue=true"),
            Value::Null,
        )
        .await;
    let e = h
        .cell
        .load()
        .usage
        .keys
        .get(str_of(&v, "value").as_bytes())
        .cloned()
        .unwrap();
    assert!(
        e.plans.is_empty(),
        "the deleted plan's state is gone from the key"
    );
}

#[tokio::test]
async fn usage_plan_keys() {
    let h = harness();
    let api = h.rest_api_stage("prod").await;
    let plan = h
        .ok(
            "POST",
            "/usageplans",
            json!({"name": "a", "apiStages": [{"apiId": api, "stage": "prod"}]}),
        )
        .await;
    let plan_id = str_of(&plan, "id");
    let key = h
        .ok(
            "POST",
            "/apikeys",
            json!({"name": "alice", "enabled": true}),
        )
        .await;
    let (key_id, value) = (str_of(&key, "id"), str_of(&key, "value"));
    let pk = h
        .call(
            "POST",
            &format!("/usageplans/{plan_id}/keys"),
            json!({"keyId": key_id, "keyType": "API_KEY"}),
        )
        .await;
    assert_eq!(pk.status, StatusCode::CREATED);
    assert_eq!(
        pk.body,
        json!({"id": key_id, "type": "API_KEY", "value": value, "name": "alice"})
    );
    assert_eq!(h.key_plan(&value, &plan_id).key_id.as_ref(), key_id);

    h.err(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
        409,
        "ConflictException",
    )
    .await;
    h.err(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "COGNITO"}),
        400,
        "BadRequestException",
    )
    .await;
    let m = h
        .err(
            "POST",
            &format!("/usageplans/{plan_id}/keys"),
            json!({"keyId": "nope", "keyType": "API_KEY"}),
            404,
            "NotFoundException",
        )
        .await;
    assert!(m.starts_with("Invalid API Key identifier specified"), "{m}");
    h.err(
        "POST",
        "/usageplans/nope/keys",
        json!({"keyId": key_id, "keyType": "API_KEY"}),
        404,
        "NotFoundException",
    )
    .await;

    // One plan per API stage for a key.
    let second = h
        .ok(
            "POST",
            "/usageplans",
            json!({"name": "b", "apiStages": [{"apiId": api, "stage": "prod"}]}),
        )
        .await;
    let m = h
        .err(
            "POST",
            &format!("/usageplans/{}/keys", str_of(&second, "id")),
            json!({"keyId": key_id, "keyType": "API_KEY"}),
            400,
            "BadRequestException",
        )
        .await;
    assert!(
        m.contains("cannot reference multiple Usage Plans with the same API Stage"),
        "{m}"
    );
    // ... also when a stage is added to a plan the key is in.
    let third = h.ok("POST", "/usageplans", json!({"name": "c"})).await;
    let third_id = str_of(&third, "id");
    h.ok(
        "POST",
        &format!("/usageplans/{third_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    )
    .await;
    h.err(
        "PATCH",
        &format!("/usageplans/{third_id}"),
        json!({"patchOperations": [{"op": "add", "path": "/apiStages", "value": format!("{api}:prod")}]}),
        400,
        "BadRequestException",
    )
    .await;
    assert_eq!(
        h.cell
            .load()
            .usage
            .keys
            .get(value.as_bytes())
            .unwrap()
            .plans
            .len(),
        2
    );

    // Listing, name filter, one key.
    let other = h.ok("POST", "/apikeys", json!({"name": "bob"})).await;
    h.ok(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": str_of(&other, "id"), "keyType": "API_KEY"}),
    )
    .await;
    let all = h
        .ok("GET", &format!("/usageplans/{plan_id}/keys"), Value::Null)
        .await;
    assert_eq!(all["item"].as_array().unwrap().len(), 2);
    let bob = h
        .ok(
            "GET",
            &format!("/usageplans/{plan_id}/keys?name=bo"),
            Value::Null,
        )
        .await;
    assert_eq!(bob["item"].as_array().unwrap().len(), 1);
    assert_eq!(bob["item"][0]["name"], "bob");
    let page = h
        .ok(
            "GET",
            &format!("/usageplans/{plan_id}/keys?limit=1"),
            Value::Null,
        )
        .await;
    assert!(page["position"].is_string());
    let one = h
        .ok(
            "GET",
            &format!("/usageplans/{plan_id}/keys/{key_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(one["value"], value.as_str());
    h.err(
        "GET",
        &format!("/usageplans/{}/keys/{key_id}", str_of(&second, "id")),
        Value::Null,
        404,
        "NotFoundException",
    )
    .await;

    let d = h
        .call(
            "DELETE",
            &format!("/usageplans/{plan_id}/keys/{key_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    h.err(
        "DELETE",
        &format!("/usageplans/{plan_id}/keys/{key_id}"),
        Value::Null,
        404,
        "NotFoundException",
    )
    .await;
    let e = h
        .cell
        .load()
        .usage
        .keys
        .get(value.as_bytes())
        .cloned()
        .unwrap();
    assert_eq!(e.plans.len(), 1);
    assert_eq!(&*e.plans[0].plan_id, third_id);
    // Deleting a key takes it out of its plans.
    h.ok("DELETE", &format!("/apikeys/{key_id}"), Value::Null)
        .await;
    let keys = h
        .ok("GET", &format!("/usageplans/{third_id}/keys"), Value::Null)
        .await;
    assert!(keys["item"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn counters_survive_a_plan_update() {
    let h = harness();
    let (_, value, plan_id) = h
        .key_in_plan(json!({"limit": 100, "period": "MONTH"}))
        .await;
    assert_eq!(h.count(&value, &plan_id, 7), 7);
    let before = h.key_plan(&value, &plan_id);
    h.ok(
        "PATCH",
        &format!("/usageplans/{plan_id}"),
        json!({"patchOperations": [{"op": "replace", "path": "/throttle/rateLimit", "value": "7"},
                                   {"op": "replace", "path": "/quota/limit", "value": "8"}]}),
    )
    .await;
    let after = h.key_plan(&value, &plan_id);
    assert!(
        !Arc::ptr_eq(&before, &after),
        "a new state for the new limits"
    );
    let start = after.quota.period();
    assert_eq!(after.quota.used(start), 7);
    assert_eq!(after.days.get(clock::today()), Some(7));
    assert_eq!(
        h.count(&value, &plan_id, 5),
        1,
        "the new limit applies to the kept count"
    );
    // A change that does not touch the limits keeps the state.
    h.ok(
        "PATCH",
        &format!("/usageplans/{plan_id}"),
        json!({"patchOperations": [{"op": "replace", "path": "/description", "value": "x"}]}),
    )
    .await;
    assert!(Arc::ptr_eq(&after, &h.key_plan(&value, &plan_id)));
}

#[tokio::test]
async fn flush_and_reload_restore_counts() {
    let dir = temp_dir("reload");
    let guard = clock_at(None);
    let (key_id, value, plan_id);
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
        let h = harness_on(store, guard);
        (key_id, value, plan_id) = h
            .key_in_plan(json!({"limit": 1000, "period": "MONTH"}))
            .await;
        assert_eq!(h.count(&value, &plan_id, 12), 12);
        h.state.flush_usage_blocking().unwrap();
        // Nothing changed: the next flush writes nothing.
        assert_eq!(h.state.inner.usage_counters.flush().unwrap(), 0);
        assert_eq!(h.count(&value, &plan_id, 3), 3);
        h.state.flush_usage_blocking().unwrap();
        let Harness {
            state,
            cell,
            _clock,
        } = h;
        drop((state, cell));
        // Reopen in the same process: the store's lock goes with the last reference.
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
        let h = harness_on(store, _clock);
        let kp = h.key_plan(&value, &plan_id);
        assert_eq!(kp.quota.used(kp.quota.period()), 15);
        assert_eq!(kp.days.get(clock::today()), Some(15));
        let today = quota::format_day(clock::today());
        let u = h
            .ok(
                "GET",
                &format!("/usageplans/{plan_id}/usage?startDate={today}&endDate={today}"),
                Value::Null,
            )
            .await;
        assert_eq!(u["values"][&key_id], json!([[15, 985]]));
        drop(h);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn get_usage_per_day_and_rollover() {
    // 2026-11-25, a Wednesday; DAY quota of 3.
    let day = quota::parse_day("2026-11-25").unwrap();
    let h = harness_on(Arc::new(MemoryStore::default()), clock_at(Some(day)));
    let (key_id, value, plan_id) = h.key_in_plan(json!({"limit": 3, "period": "DAY"})).await;
    assert_eq!(
        h.count(&value, &plan_id, 5),
        3,
        "the quota stops the fourth"
    );
    h.state.flush_usage_blocking().unwrap();
    set_day(day + 1);
    assert_eq!(h.count(&value, &plan_id, 1), 1, "a new period starts over");
    set_day(day + 2);
    assert_eq!(h.count(&value, &plan_id, 2), 2);
    // Day 0 is no longer in the live counters (two days only): it comes from the store.
    let u = h
        .ok(
            "GET",
            &format!(
                "/usageplans/{plan_id}/usage?startDate=2026-11-24&endDate=2026-11-28&keyId={key_id}"
            ),
            Value::Null,
        )
        .await;
    assert_eq!(u["usagePlanId"], plan_id.as_str());
    assert_eq!(u["startDate"], "2026-11-24");
    assert_eq!(u["endDate"], "2026-11-28");
    assert_eq!(
        u["values"][&key_id],
        json!([[0, 3], [3, 0], [1, 2], [2, 1], [0, 3]])
    );
    for q in [
        "startDate=2026-11-24",
        "startDate=2026-11-30&endDate=2026-11-24",
        "startDate=2026-13-01&endDate=2026-12-02",
        "startDate=2020-01-01&endDate=2026-01-01",
    ] {
        h.err(
            "GET",
            &format!("/usageplans/{plan_id}/usage?{q}"),
            Value::Null,
            400,
            "BadRequestException",
        )
        .await;
    }
    h.err(
        "GET",
        "/usageplans/nope/usage?startDate=2026-11-24&endDate=2026-11-24",
        Value::Null,
        404,
        "NotFoundException",
    )
    .await;
}

#[tokio::test]
async fn monthly_remaining_counts_down_and_update_usage() {
    // 2026-11-02 .. 2026-11-03 in a MONTH quota of 100 with an offset of 10 (first period).
    let day = quota::parse_day("2026-11-02").unwrap();
    let dir = temp_dir("update");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
    let h = harness_on(Arc::clone(&store), clock_at(Some(day)));
    let (key_id, value, plan_id) = h
        .key_in_plan(json!({"limit": 100, "offset": 10, "period": "MONTH"}))
        .await;
    assert_eq!(h.count(&value, &plan_id, 4), 4);
    set_day(day + 1);
    assert_eq!(h.count(&value, &plan_id, 6), 6);
    let usage = format!("/usageplans/{plan_id}/usage?startDate=2026-11-01&endDate=2026-11-04");
    let u = h.ok("GET", &usage, Value::Null).await;
    assert_eq!(
        u["values"][&key_id],
        json!([[0, 90], [4, 86], [6, 80], [0, 80]])
    );

    // UpdateUsage: 500 remaining from now on (more than the limit: a negative "used").
    let r = h
        .ok(
            "PATCH",
            &format!("/usageplans/{plan_id}/keys/{key_id}/usage"),
            json!({"patchOperations": [{"op": "replace", "path": "/remaining", "value": "500"}]}),
        )
        .await;
    assert_eq!(r["startDate"], "2026-11-03");
    assert_eq!(r["values"][&key_id], json!([[6, 500]]));
    let kp = h.key_plan(&value, &plan_id);
    assert_eq!(kp.quota.used(kp.quota.period()), 90 - 500);
    assert_eq!(h.count(&value, &plan_id, 1), 1);
    let u = h.ok("GET", &usage, Value::Null).await;
    assert_eq!(u["values"][&key_id][3], json!([0, 499]));
    // Written at once, not at the next flush.
    let rows = store
        .load_usage(&plan_id, day - 1, day + 1)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == crate::store::UsageKind::Period)
        .collect::<Vec<_>>();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].used, -410);

    for (body, status, kind) in [
        (
            json!({"patchOperations": [{"op": "replace", "path": "/used", "value": "1"}]}),
            400,
            "BadRequestException",
        ),
        (
            json!({"patchOperations": [{"op": "replace", "path": "/remaining", "value": "x"}]}),
            400,
            "BadRequestException",
        ),
        (json!({"patchOperations": []}), 400, "BadRequestException"),
    ] {
        h.err(
            "PATCH",
            &format!("/usageplans/{plan_id}/keys/{key_id}/usage"),
            body,
            status,
            kind,
        )
        .await;
    }
    h.err(
        "PATCH",
        &format!("/usageplans/{plan_id}/keys/nope/usage"),
        json!({"patchOperations": [{"op": "replace", "path": "/remaining", "value": "1"}]}),
        404,
        "NotFoundException",
    )
    .await;
    // Next month: the full limit again, no offset.
    set_day(quota::parse_day("2026-12-01").unwrap());
    assert_eq!(h.count(&value, &plan_id, 2), 2);
    let u = h
        .ok(
            "GET",
            &format!("/usageplans/{plan_id}/usage?startDate=2026-12-01&endDate=2026-12-01"),
            Value::Null,
        )
        .await;
    assert_eq!(u["values"][&key_id], json!([[2, 98]]));
    drop(h);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn deleting_a_membership_forgets_its_usage() {
    let h = harness();
    let (key_id, value, plan_id) = h.key_in_plan(json!({"limit": 10, "period": "DAY"})).await;
    assert_eq!(h.count(&value, &plan_id, 4), 4);
    h.state.flush_usage_blocking().unwrap();
    h.ok(
        "DELETE",
        &format!("/usageplans/{plan_id}/keys/{key_id}"),
        Value::Null,
    )
    .await;
    h.ok(
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    )
    .await;
    let today = quota::format_day(clock::today());
    let u = h
        .ok(
            "GET",
            &format!("/usageplans/{plan_id}/usage?startDate={today}&endDate={today}"),
            Value::Null,
        )
        .await;
    assert_eq!(u["values"][&key_id], json!([[0, 10]]));
}

#[tokio::test]
async fn replacing_the_configuration_keeps_keys_and_plans() {
    let dir = temp_dir("config");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
    let h = harness_on(store, clock_at(None));
    let (key_id, value, plan_id) = h.key_in_plan(json!({"limit": 10, "period": "DAY"})).await;
    h.ok("PUT", "/portico/config", json!({"apis": []})).await;
    assert_eq!(h.key_plan(&value, &plan_id).key_id.as_ref(), key_id);
    let Harness {
        state,
        cell,
        _clock,
    } = h;
    drop((state, cell));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
    let h = harness_on(store, _clock);
    assert_eq!(h.key_plan(&value, &plan_id).key_id.as_ref(), key_id);
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}
