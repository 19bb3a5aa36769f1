use reqwest::Method;
use serde_json::{Value, json};

use crate::stack::spawn_stack;

#[tokio::test]
async fn register_login_create_and_list_through_the_gateway() {
    let stack = spawn_stack().await;

    let response = stack
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": "Ada@Example.com", "password": testkit::PASSWORD, "fullName": "Ada Lovelace"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["user"]["email"], "ada@example.com");
    assert_eq!(registered["user"]["full_name"], "Ada Lovelace");
    assert!(registered["user"].get("password_hash").is_none());

    let response = stack
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "ada@example.com", "password": testkit::PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let token = pair["access_token"].as_str().unwrap();

    let me: Value = stack
        .call(Method::GET, "/v1/auth/me", Some(token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "ada@example.com");

    let response = stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(token),
            Some(json!({"title": "Sales 2026"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["conversation"]["status"], "active");
    assert_eq!(created["conversation"]["turn_count"], 0);

    let listed: Value = stack
        .call(
            Method::GET,
            "/v1/conversations?page_size=10",
            Some(token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total_size"], 1);
    assert_eq!(listed["conversations"][0]["title"], "Sales 2026");
    assert_eq!(
        listed["conversations"][0]["conversation_id"],
        created["conversation"]["conversation_id"]
    );
    assert_eq!(listed["next_page_token"], "");
}

#[tokio::test]
async fn a_second_user_does_not_see_the_first_users_conversations() {
    let stack = spawn_stack().await;
    let ada = stack.signed_in("ada@example.com").await;
    let grace = stack.signed_in("grace@example.com").await;
    stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(&ada),
            Some(json!({"title": "private"})),
        )
        .await;
    let listed: Value = stack
        .call(Method::GET, "/v1/conversations", Some(&grace), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total_size"], 0);
    assert_eq!(listed["conversations"], json!([]));
}

#[tokio::test]
async fn list_filters_come_from_the_query_string_with_short_enum_names() {
    let stack = spawn_stack().await;
    let ada = stack.signed_in("ada@example.com").await;
    stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(&ada),
            Some(json!({"title": "one"})),
        )
        .await;
    let active: Value = stack
        .call(
            Method::GET,
            "/v1/conversations?status=active&pageSize=5",
            Some(&ada),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["total_size"], 1);
    let archived: Value = stack
        .call(
            Method::GET,
            "/v1/conversations?status=archived",
            Some(&ada),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(archived["total_size"], 0);
}

#[tokio::test]
async fn the_public_keys_are_served_as_a_jwks() {
    let stack = spawn_stack().await;
    let response = stack
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_one_is_kept() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .get(format!("{}/healthz", stack.base))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    let response = stack.call(Method::GET, "/v1/nothing", None, None).await;
    assert!(uuid::Uuid::parse_str(response.headers()["x-request-id"].to_str().unwrap()).is_ok());
}

#[tokio::test]
async fn readyz_is_ready_when_both_services_answer() {
    let stack = spawn_stack().await;
    let response = stack.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let id = uuid::Uuid::new_v4();
    stack
        .call(
            Method::GET,
            &format!("/v1/conversations/{id}"),
            Some(&token),
            None,
        )
        .await;
    stack
        .call(Method::GET, "/v1/nothing/here", None, None)
        .await;
    let response = stack.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"http_server_requests_total{method="GET",route="/v1/conversations/{conversation_id}",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_server_requests_total{method="POST",route="/v1/auth/login",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains(&id.to_string()), "no raw paths as labels");
    assert!(text.contains("http_server_request_duration_seconds_bucket"));
    assert!(text.contains("http_server_requests_in_flight"));
}
