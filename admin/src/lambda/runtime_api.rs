//! Lambda's Runtime API (`2018-06-01`), one loopback listener per instance, as the official
//! runtime clients expect it at `AWS_LAMBDA_RUNTIME_API`:
//! `GET /runtime/invocation/next` (long poll), `POST /runtime/invocation/{id}/response`,
//! `POST /runtime/invocation/{id}/error`, `POST /runtime/init/error`.
//!
//! A listener per instance (rather than one shared) is what lets the host know which process
//! asks, without any token the runtime clients would not send.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use portico_shared::limits::LAMBDA_RESPONSE_MAX_BYTES;

use super::host::{error_doc, lock, Instance, Outcome};

/// The header naming a runtime's error type.
const ERROR_TYPE: &str = "lambda-runtime-function-error-type";

/// Serves the Runtime API of `instance` until the task is aborted (when the process exits).
pub(crate) async fn serve(listener: tokio::net::TcpListener, instance: Arc<Instance>) {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(|| async { runtime_error(StatusCode::NOT_FOUND, "InvalidPath", "Not found") })
        .with_state(instance);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "runtime API listener stopped");
    }
}

async fn next(State(instance): State<Arc<Instance>>) -> Response {
    let Some(d) = instance.next().await else {
        return runtime_error(
            StatusCode::GONE,
            "InstanceStopped",
            "This instance was stopped",
        );
    };
    let mut r = Response::new(Body::from(d.payload));
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&d.request_id) {
        h.insert("lambda-runtime-aws-request-id", v);
    }
    h.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from(d.deadline_ms),
    );
    if let Ok(v) = HeaderValue::from_str(&instance.function.arn) {
        h.insert("lambda-runtime-invoked-function-arn", v);
    }
    if let Ok(v) = HeaderValue::from_str(&trace_id(&d.request_id)) {
        h.insert("lambda-runtime-trace-id", v);
    }
    if let Some(cc) = d.client_context {
        h.insert("lambda-runtime-client-context", cc);
    }
    r
}

async fn response(
    State(instance): State<Arc<Instance>>,
    Path(request_id): Path<String>,
    body: Body,
) -> Response {
    match read(body).await {
        Ok(bytes) => {
            let Some(f) = instance.take_in_flight(&request_id) else {
                return unknown_request(&request_id);
            };
            let _ = f.reply.send(Ok(Outcome::Response(bytes)));
            accepted()
        }
        Err(Read::TooLarge) => {
            if let Some(f) = instance.take_in_flight(&request_id) {
                let _ = f.reply.send(Ok(Outcome::FunctionError(error_doc(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size \
                         ({LAMBDA_RESPONSE_MAX_BYTES} bytes)."
                    ),
                ))));
            }
            runtime_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!(
                    "Exceeded maximum allowed payload size ({LAMBDA_RESPONSE_MAX_BYTES} bytes)."
                ),
            )
        }
        Err(Read::Broken) => runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The body could not be read",
        ),
    }
}

async fn error(
    State(instance): State<Arc<Instance>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let doc = match read(body).await {
        Ok(b) => error_body(&headers, b),
        Err(_) => error_doc(error_type(&headers), "The error document could not be read"),
    };
    let Some(f) = instance.take_in_flight(&request_id) else {
        return unknown_request(&request_id);
    };
    let _ = f.reply.send(Ok(Outcome::FunctionError(doc)));
    accepted()
}

async fn init_error(
    State(instance): State<Arc<Instance>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let doc = match read(body).await {
        Ok(b) => error_body(&headers, b),
        Err(_) => error_doc(error_type(&headers), "The error document could not be read"),
    };
    tracing::info!(function = %instance.function.name, instance = instance.id,
        error = %String::from_utf8_lossy(&doc), "function init failed");
    // AWS stops the sandbox after an init error; the invocation waiting for it gets `doc`.
    lock(&instance.state).init_error = Some(doc);
    instance.signal(nix::sys::signal::Signal::SIGKILL);
    accepted()
}

/// The runtime's error document as it posted it when it is JSON, else one built from the
/// error type header.
fn error_body(headers: &HeaderMap, body: Bytes) -> Bytes {
    if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
        body
    } else {
        error_doc(error_type(headers), &String::from_utf8_lossy(&body))
    }
}

fn error_type(headers: &HeaderMap) -> &str {
    headers
        .get(ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
}

enum Read {
    TooLarge,
    Broken,
}

async fn read(body: Body) -> Result<Bytes, Read> {
    match Limited::new(body, LAMBDA_RESPONSE_MAX_BYTES)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Read::TooLarge),
        Err(_) => Err(Read::Broken),
    }
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn unknown_request(request_id: &str) -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("Invalid request ID: {request_id}"),
    )
}

/// The Runtime API's own error shape.
fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string(),
    )
        .into_response()
}

/// An X-Ray trace header derived from the request id (no X-Ray here; runtimes expect one).
fn trace_id(request_id: &str) -> String {
    let hex: String = request_id.chars().filter(|c| *c != '-').take(24).collect();
    format!(
        "Root=1-{:08x}-{hex};Parent={};Sampled=0",
        super::host::now_ms() / 1000,
        &hex[..16.min(hex.len())]
    )
}
