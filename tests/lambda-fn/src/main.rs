//! Echoes the API Gateway event it received, as `lambda_http` parsed it, so the tests can check
//! what Portico sent. Steered by request headers:
//! - `x-fn-fail: 1`: the function returns an error (Lambda's function error);
//! - `x-fn-sleep-ms: N`: it sleeps N ms first;
//! - `x-fn-binary: 1`: it answers the request body back as a binary body (base64 on the wire);
//! - `x-fn-cookies: 1`: it sets two cookies (`Set-Cookie` twice);
//! - `x-fn-status: N`: it answers with status N.

use std::collections::BTreeMap;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    if header(&req, "x-fn-fail").is_some() {
        return Err("the function was told to fail".into());
    }
    if let Some(ms) = header(&req, "x-fn-sleep-ms").and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let status = header(&req, "x-fn-status")
        .and_then(|v| v.parse::<u16>().ok())
        .unwrap_or(200);
    let mut builder = Response::builder()
        .status(status)
        .header("x-fn", "portico-lambda-fn");
    if header(&req, "x-fn-cookies").is_some() {
        builder = builder
            .header("set-cookie", "a=1; Path=/")
            .header("set-cookie", "b=2");
    }
    if header(&req, "x-fn-binary").is_some() {
        let bytes = req.body().to_vec();
        return Ok(builder
            .header("content-type", "application/octet-stream")
            .body(Body::Binary(bytes))?);
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let query: BTreeMap<String, Vec<String>> = req
        .query_string_parameters()
        .iter()
        .map(|(k, _)| {
            let all = req.query_string_parameters_ref().and_then(|q| q.all(k));
            (
                k.to_string(),
                all.unwrap_or_default()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            )
        })
        .collect();
    let path_parameters: BTreeMap<String, String> = req
        .path_parameters()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stage_variables: BTreeMap<String, String> = req
        .stage_variables()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (kind, context) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => ("v1", serde_json::to_value(c)?),
        Some(RequestContext::ApiGatewayV2(c)) => ("v2", serde_json::to_value(c)?),
        _ => ("other", serde_json::Value::Null),
    };
    let (body, binary) = match req.body() {
        Body::Empty => (serde_json::Value::Null, false),
        Body::Text(t) => (serde_json::Value::from(t.as_str()), false),
        Body::Binary(b) => (
            serde_json::Value::from(b.iter().map(|&x| u32::from(x)).collect::<Vec<_>>()),
            true,
        ),
    };
    let echo = serde_json::json!({
        "kind": kind,
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "path": req.uri().path(),
        "rawHttpPath": req.raw_http_path(),
        "headers": headers,
        "query": query,
        "pathParameters": path_parameters,
        "stageVariables": stage_variables,
        "requestContext": context,
        "body": body,
        "binary": binary,
    });
    Ok(builder
        .header("content-type", "application/json")
        .body(Body::Text(echo.to_string()))?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(handle)).await
}
