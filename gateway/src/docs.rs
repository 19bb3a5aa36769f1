//! For people: `GET /openapi.json` (generated from the protos, see
//! [`crate::openapi`]) and `GET /docs`, Swagger UI over it. The UI's files
//! come from the `swagger-ui-dist` crate and are compiled into the binary,
//! so the page works with no network.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, header};
use swagger_ui_dist::{ApiDefinition, OpenApiSource};

/// Scripts and styles from this origin only (Swagger UI sets inline
/// styles); calls to this origin only.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API — identity and workspace backbone</title>
  <link rel="stylesheet" href="/docs/ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/ui/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"##;

/// Kept in a file of its own so the page needs no inline script.
const INIT: &str = r##"window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  tryItOutEnabled: true,
  displayRequestDuration: true
});
"##;

/// The routes: `/openapi.json`, `/docs` and the UI's files under `/docs/ui`.
pub fn routes(openapi: &serde_json::Value) -> Router {
    let openapi = Bytes::from(serde_json::to_vec_pretty(openapi).expect("JSON serializes"));
    let assets = swagger_ui_dist::generate_routes(ApiDefinition {
        uri_prefix: "/docs/ui",
        api_definition: OpenApiSource::Uri("/openapi.json"),
        title: Some("API"),
    });
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], openapi) }
            }),
        )
        .route("/docs", get(page))
        .route(
            "/docs/init.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], INIT) }),
        )
        .merge(assets)
}

async fn page() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_POLICY),
            ),
        ],
        PAGE,
    )
}
