//! `ApiError`: every admin failure, answered as Amazon API Gateway's control plane answers, so
//! the AWS SDKs, boto3 and the AWS CLI raise the right error code.
//!
//! Wire shape: the status, an `x-amzn-ErrorType: <Code>` header (botocore reads the code from it)
//! and a JSON body `{"message": "..."}`. Validation reports every problem in one message. A 5xx
//! detail is logged, never sent.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An admin API error. Each variant is one of the models' error shapes, or a code AWS sends
/// that no model names (`ValidationException`, `UnknownOperationException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request is malformed or fails validation.
    BadRequest(String),
    /// 400 `ValidationException`: a member breaks a constraint of the model (an enum value), in
    /// AWS's request validation text (`operations.rs`). AWS sends it for `apigateway`, though
    /// the model lists no such shape; botocore raises it as a `ClientError` with that code.
    Validation(String),
    /// 400 `UnknownOperationException`: the request names no operation of any service on the
    /// admin listener.
    UnknownOperation(String),
    /// 404: a named resource (API, route, integration, stage, deployment) does not exist.
    NotFound(String),
    /// 409: the change conflicts with what exists (a duplicate route key or stage name, a
    /// resource still in use).
    Conflict(String),
    /// 413: the request body is larger than the admin API accepts. Coded `BadRequestException`
    /// (the model has no dedicated shape) so SDKs raise a client error.
    PayloadTooLarge(String),
    /// 429: too many requests (rate limits on the admin API).
    TooManyRequests(String),
    /// 403: the caller is not allowed (SigV4 verification).
    AccessDenied(String),
    /// 503: the store cannot be reached (PostgreSQL down): nothing was applied; reads keep
    /// working from the node's copy. The detail is logged.
    Unavailable(String),
    /// 500: a bug or a failing disk. The detail is logged; the caller gets a generic message.
    Internal(String),
}

// === impl ApiError ===

impl ApiError {
    /// A validation failure listing every problem.
    pub fn invalid(problems: &[String]) -> ApiError {
        debug_assert!(!problems.is_empty());
        if problems.len() == 1 {
            ApiError::BadRequest(problems[0].clone())
        } else {
            ApiError::BadRequest(format!(
                "{} validation errors: {}",
                problems.len(),
                problems.join("; ")
            ))
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) | ApiError::UnknownOperation(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::AccessDenied(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `x-amzn-ErrorType` code, which the SDKs surface as the error's code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::PayloadTooLarge(_) => "BadRequestException",
            ApiError::Validation(_) => "ValidationException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::NotFound(_) => "NotFoundException",
            ApiError::Conflict(_) => "ConflictException",
            ApiError::TooManyRequests(_) => "TooManyRequestsException",
            ApiError::AccessDenied(_) => "AccessDeniedException",
            ApiError::Internal(_) => "InternalServerErrorException",
            ApiError::Unavailable(_) => "ServiceUnavailableException",
        }
    }

    /// The message sent to the caller.
    pub fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Validation(m)
            | ApiError::UnknownOperation(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::TooManyRequests(m)
            | ApiError::AccessDenied(m) => m,
            ApiError::Internal(_) => "Internal server error",
            ApiError::Unavailable(_) => "The configuration store is unavailable; try again later",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "admin internal error"),
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "admin store unavailable")
            }
            _ => {}
        }
        let mut r = (
            self.status(),
            Json(serde_json::json!({ "message": self.message() })),
        )
            .into_response();
        r.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.code()));
        r
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// A failed commit: 503 when the store could not be reached, else 500.
    fn from(e: crate::store::StoreError) -> ApiError {
        if e.is_unavailable() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// The 404 for an unknown API (REST, HTTP or WebSocket), in AWS's words:
/// `Invalid API identifier specified {account}:{id}`.
pub(crate) fn not_found_api(api_id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Invalid API identifier specified {}:{api_id}",
        portico_shared::aws::account_id()
    ))
}

/// The 404 for an unknown REST API, in AWS's words.
pub(crate) fn not_found_rest_api(id: &str) -> ApiError {
    not_found_api(id)
}
