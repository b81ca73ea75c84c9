//! The web console: `GET /console`, a read-only page on the admin listener that browses APIs,
//! stages, routes and integrations and charts each route's latency and rates.
//!
//! # Architecture
//! 1. The page, its script and uPlot (vendored from npm with its licence, under `assets/`) are
//!    compiled into the binary: nothing to install or serve besides the gateway.
//! 2. The page holds no data. Every figure comes from the admin API (`/v2/apis...`,
//!    `/restapis...`, `/portico/stats`, `/portico/history`, `/portico/histograms`), called by the
//!    browser and signed there with SigV4 (WebCrypto) when the user gave the admin key pair,
//!    which the page keeps in `sessionStorage` (gone with the tab). So the static files are
//!    public and the data is not: the SigV4 check that guards the AWS clients guards the console.
//! 3. A strict Content-Security-Policy: scripts, styles and calls only from this origin.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const UPLOT_JS: &str = include_str!("assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("assets/uPlot.LICENSE");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// The console's routes, ready to merge into an app of any state type (unsigned: see above).
pub(crate) fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/console",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/uPlot.iife.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS) }),
        )
        .route(
            "/console/uPlot.min.css",
            get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS) }),
        )
        .route(
            "/console/uPlot.LICENSE",
            get(|| async { asset("text/plain; charset=utf-8", UPLOT_LICENSE) }),
        )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn serves_the_page_and_its_assets_with_a_strict_policy() {
        let app: Router = router();
        for (path, kind, needle) in [
            ("/console", "text/html", "console.js"),
            ("/console/console.js", "text/javascript", "AWS4-HMAC-SHA256"),
            ("/console/uPlot.iife.min.js", "text/javascript", "uPlot"),
            ("/console/uPlot.min.css", "text/css", ".uplot"),
            ("/console/uPlot.LICENSE", "text/plain", "MIT"),
        ] {
            let res = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let h = res.headers();
            assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with(kind));
            assert!(h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("connect-src 'self'"));
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert!(
                String::from_utf8_lossy(&body).contains(needle),
                "{path} lacks {needle}"
            );
        }
    }
}
