//! Every annotated RPC, taken from the descriptors (so a new one is covered
//! without editing this test), is reachable at its HTTP path with its
//! method, asks for a token exactly when the proto says so, and answers 405
//! to a method it does not bind.

use gateway::routes::{BodyRule, RouteTable, Streaming};
use reqwest::Method;
use serde_json::Value;

use crate::stack::spawn_stack_with;

/// The route's path with every variable filled with a fresh id.
fn concrete_path(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&uuid::Uuid::new_v4().to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, message)
}

#[tokio::test]
async fn every_annotated_rpc_is_reachable_with_its_method_and_access_rule() {
    // Many calls in a row from one address: no rate limits here.
    let stack = spawn_stack_with(|config| {
        config.rate_limit_per_ip = 0;
        config.rate_limit_per_user = 0;
    })
    .await;
    stack.signed_in("ada@example.com").await;
    let table = RouteTable::from_descriptors(proto::descriptor_pool()).unwrap();
    assert!(table.routes().len() >= 40, "the whole API is in the table");
    for route in table.routes() {
        let path = concrete_path(&route.template.openapi_path());
        let url = format!("{}{path}", stack.base);
        let name = format!("{} {} ({})", route.http_method, path, route.grpc_path);
        let request = |token: Option<&str>| {
            let mut request = stack.http.request(route.http_method.clone(), &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            match (&route.streaming, &route.body) {
                (Streaming::ByteUpload { .. }, _) => {
                    request.query(&[("filename", "a.txt")]).body("x")
                }
                (_, BodyRule::None) => request,
                _ => request.json(&serde_json::json!({})),
            }
        };

        let (status, message) = answer(request(None).send().await.unwrap()).await;
        if route.access.public {
            assert!(
                !message.contains("bearer"),
                "{name} is public: {status} {message}"
            );
        } else {
            assert_eq!(status, 401, "{name} needs a token: {message}");
        }

        // A token of its own: some routes (logout) end the session they use.
        let token = stack.logged_in("ada@example.com").await;
        let (status, message) = answer(request(Some(&token)).send().await.unwrap()).await;
        assert!(
            ![405, 501].contains(&status) && !message.starts_with("no route"),
            "{name} reached its service: {status} {message}"
        );
        if route.access.superuser {
            assert_eq!(status, 403, "{name} is for superusers: {message}");
        }

        let other = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ]
        .into_iter()
        .find(|m| {
            table
                .routes()
                .iter()
                .all(|r| r.http_method != *m || r.template.matches(&path).is_none())
        });
        if let Some(other) = other {
            let response = stack
                .http
                .request(other.clone(), &url)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "{other} {path}");
            let allow = response.headers()["allow"].to_str().unwrap().to_owned();
            assert!(
                allow.contains(route.http_method.as_str()),
                "{other} {path}: Allow {allow}"
            );
        }
    }
}
