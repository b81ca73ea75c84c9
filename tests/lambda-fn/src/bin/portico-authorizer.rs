//! A Lambda authorizer for the authorizer tests (tests/tests/authorizer.rs), built on the
//! official runtime (`lambda_runtime`, through `lambda_http`'s re-export) and served by
//! `cargo lambda watch` beside `portico-lambda-fn`. It answers by the token: the event's
//! `authorizationToken` (TOKEN, HTTP 1.0), `identitySource[0]` (HTTP 2.0) or the `x-token`
//! header (REST REQUEST):
//! - `allow-*`: Allow `*`; `context` has `calls` (how often this token reached the function),
//!   `token`, a number and a boolean; `principalId` is `user-{token}`;
//! - `key-{value}`: Allow, with `usageIdentifierKey: {value}`;
//! - `method-*`: Allow only the event's own method ARN;
//! - `deny-*`: Deny `*`;
//! - `simple-yes-*` / `simple-no-*`: a simple response (`isAuthorized`), with `context`;
//! - `unauthorized`: raises `Unauthorized`; `error`: raises another error;
//! - `slow`: sleeps 3 s, then allows; `malformed`: answers `{"nope": 1}`.

use std::collections::HashMap;
use std::sync::Mutex;

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

static CALLS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

fn token(event: &Value) -> String {
    let t = event
        .get("authorizationToken")
        .and_then(Value::as_str)
        .or_else(|| event.pointer("/identitySource/0").and_then(Value::as_str))
        .or_else(|| event.pointer("/headers/x-token").and_then(Value::as_str))
        .unwrap_or_default();
    t.split(',').next().unwrap_or_default().to_string()
}

fn policy(effect: &str, resource: &str) -> Value {
    json!({"Version": "2012-10-17",
           "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]})
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let event = event.payload;
    let token = token(&event);
    let calls = {
        let mut map = CALLS.lock().expect("not poisoned");
        let n = map
            .get_or_insert_with(HashMap::new)
            .entry(token.clone())
            .or_insert(0);
        *n += 1;
        *n
    };
    let arn = event
        .get("methodArn")
        .or_else(|| event.get("routeArn"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let context = json!({"calls": calls, "token": token, "num": 7, "flag": true,
                         "type": event.get("type").cloned().unwrap_or(Value::Null)});
    let principal = format!("user-{token}");
    if token == "unauthorized" {
        return Err("Unauthorized".into());
    }
    if token == "error" {
        return Err("the authorizer was told to fail".into());
    }
    if token == "malformed" {
        return Ok(json!({"nope": 1}));
    }
    if token == "slow" {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    if let Some(rest) = token.strip_prefix("simple-") {
        return Ok(json!({"isAuthorized": rest.starts_with("yes"), "context": context}));
    }
    if let Some(key) = token.strip_prefix("key-") {
        return Ok(
            json!({"principalId": principal, "policyDocument": policy("Allow", "*"),
                         "context": context, "usageIdentifierKey": key}),
        );
    }
    if token.starts_with("deny") {
        return Ok(
            json!({"principalId": principal, "policyDocument": policy("Deny", "*"),
                         "context": context}),
        );
    }
    if token.starts_with("method") {
        return Ok(
            json!({"principalId": principal, "policyDocument": policy("Allow", &arn),
                         "context": context}),
        );
    }
    // The event, echoed in the context, lets the tests check what Portico sent.
    let mut context = context;
    context["event"] = Value::from(event.to_string());
    Ok(
        json!({"principalId": principal, "policyDocument": policy("Allow", "*"),
              "context": context}),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
