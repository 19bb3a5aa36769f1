//! `/openapi.json` (valid by openapi-spec-validator, every route in it) and
//! `/docs` (Swagger UI served from the binary, no network).

use std::path::PathBuf;

use reqwest::{Method, header};
use serde_json::Value;

use crate::stack::spawn_stack;

fn validator() -> PathBuf {
    service_runtime::testing::tool(
        "OPENAPI_SPEC_VALIDATOR",
        &["openapi-spec-validator"],
        "pip install openapi-spec-validator (see .ci/run)",
    )
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_covers_every_route() {
    let stack = spawn_stack().await;
    let response = stack.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();

    let table = gateway::routes::RouteTable::from_descriptors(proto::descriptor_pool()).unwrap();
    for route in table.routes() {
        let method = route.http_method.as_str().to_ascii_lowercase();
        assert!(
            document["paths"][route.template.openapi_path()][&method].is_object(),
            "{} {} is documented",
            route.http_method,
            route.template.as_str()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &text).unwrap();
    let output = std::process::Command::new(validator())
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_docs_page_and_its_assets_come_from_the_gateway() {
    let stack = spawn_stack().await;
    let page = stack.call(Method::GET, "/docs", None, None).await;
    assert_eq!(page.status(), 200);
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("https://"), "no asset from elsewhere");
    for asset in [
        "/docs/ui/swagger-ui-bundle.js",
        "/docs/ui/swagger-ui.css",
        "/docs/init.js",
    ] {
        assert!(html.contains(asset), "{asset}");
        let response = stack.call(Method::GET, asset, None, None).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 100, "{asset}");
    }
}

fn chromium() -> PathBuf {
    service_runtime::testing::tool(
        "CHROMIUM",
        &["chromium", "chromium-headless-shell", "google-chrome"],
        "apt-get install chromium (see .ci/run)",
    )
}

#[tokio::test]
async fn the_docs_page_renders_every_route_in_headless_chromium() {
    let stack = spawn_stack().await;
    let url = format!("{}/docs", stack.base);
    let profile = tempfile::tempdir().unwrap();
    // Chromium blocks: run it off the async workers.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=10000",
                &format!("--user-data-dir={}", profile.path().display()),
                "--dump-dom",
                &url,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let dom = String::from_utf8_lossy(&output.stdout);
    let table = gateway::routes::RouteTable::from_descriptors(proto::descriptor_pool()).unwrap();
    for route in table.routes() {
        let path = format!("data-path=\"{}\"", route.template.openapi_path());
        assert!(dom.contains(&path), "the page lists {path}");
    }
    assert!(
        dom.contains("Authorize"),
        "a person can sign in from the page"
    );
}
