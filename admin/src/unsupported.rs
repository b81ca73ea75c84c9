//! Control plane operations of features Portico does not serve, answered with AWS's error shape
//! and a message that says so (never a silent success, never a bare "unknown path"), so a
//! Terraform apply or a script stops with the reason.
//!
//! | AWS feature | paths | why |
//! |---|---|---|
//! | client certificates | `/clientcertificates` | Portico connects to upstreams with its own TLS client settings (`--upstream-ca-file`), not per-stage client certificates |
//! | documentation parts and versions | `/restapis/{id}/documentation/...` | no developer portal is generated |
//! | SDK generation | `/restapis/{id}/stages/{name}/sdks/...`, `/sdktypes` | no client SDK generator |
//! | apigatewayv2 models | `/v2/apis/{id}/models` | WebSocket messages are not validated against models |
//! | private domain name access | `/domainnameaccessassociations` | no private (VPC endpoint) APIs |

use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use axum::Router;

use crate::error::ApiError;
use crate::AdminState;

/// Each unserved feature's paths and the reason given.
const FEATURES: &[(&[&str], &str)] = &[
    (
        &["/clientcertificates", "/clientcertificates/{id}"],
        "Client certificates are not supported by Portico: it calls upstreams with its own TLS client settings (--upstream-ca-file)",
    ),
    (
        &[
            "/restapis/{api}/documentation/parts",
            "/restapis/{api}/documentation/parts/{id}",
            "/restapis/{api}/documentation/versions",
            "/restapis/{api}/documentation/versions/{id}",
        ],
        "API documentation parts and versions are not supported by Portico",
    ),
    (
        &["/restapis/{api}/stages/{stage}/sdks/{sdk}", "/sdktypes", "/sdktypes/{id}"],
        "SDK generation is not supported by Portico",
    ),
    (
        &[
            "/v2/apis/{api}/models",
            "/v2/apis/{api}/models/{id}",
            "/v2/apis/{api}/models/{id}/template",
        ],
        "apigatewayv2 models are not supported by Portico: WebSocket messages are not validated against models",
    ),
    (
        &["/domainnameaccessassociations", "/domainnameaccessassociations/{id}"],
        "Private custom domain names (domain name access associations) are not supported by Portico",
    ),
];

pub(crate) fn router() -> Router<AdminState> {
    let mut r = Router::new();
    for (paths, why) in FEATURES {
        for path in *paths {
            r = r.route(path, any(move || refuse(why)));
        }
    }
    r
}

async fn refuse(why: &'static str) -> Response {
    ApiError::BadRequest(why.into()).into_response()
}
