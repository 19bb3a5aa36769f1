//! The token lifecycle through the gateway: refresh, logout and revocation
//! seen at the edge and by a service called directly.

use std::time::{Duration, Instant};

use proto::workspace::v1::{
    ListConversationsRequest, conversation_service_client::ConversationServiceClient,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::stack::{error_body, eventually, spawn_stack};

#[tokio::test]
async fn refresh_answers_a_flat_token_pair_and_the_old_token_is_spent() {
    let stack = spawn_stack().await;
    let pair = stack.signed_in_pair("ada@example.com").await;
    assert!(
        pair["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 43)
    );
    assert_eq!(pair["refresh_expires_in"], 604800);
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let next: Value = response.json().await.unwrap();
    assert_eq!(next["session_id"], pair["session_id"]);
    assert_ne!(next["refresh_token"], pair["refresh_token"]);
    let reuse = stack
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": pair["refresh_token"]})),
        )
        .await;
    error_body(reuse, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn after_logout_the_token_is_refused_by_the_gateway_and_the_service_within_a_second() {
    let stack = spawn_stack().await;
    let pair = stack.signed_in_pair("ada@example.com").await;
    let token = pair["access_token"].as_str().unwrap().to_owned();
    // Verifiers are subscribed before the logout.
    assert_eq!(
        stack
            .call(Method::GET, "/v1/conversations", Some(&token), None)
            .await
            .status(),
        200
    );

    let logout = stack
        .call(
            Method::POST,
            "/v1/auth/logout",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(logout.status(), 200);
    let started = Instant::now();

    let refused_at_gateway = eventually(Duration::from_secs(1), || async {
        stack
            .call(Method::GET, "/v1/conversations", Some(&token), None)
            .await
            .status()
            == 401
    })
    .await;
    assert!(refused_at_gateway, "the gateway still accepts the token");

    let channel = tonic::transport::Channel::from_shared(stack.workspace_url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = ConversationServiceClient::new(channel);
    let refused_directly = eventually(Duration::from_secs(1), || {
        let mut client = client.clone();
        let token = token.clone();
        async move {
            let mut request = tonic::Request::new(ListConversationsRequest::default());
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            client
                .list_conversations(request)
                .await
                .is_err_and(|s| s.code() == tonic::Code::Unauthenticated)
        }
    })
    .await;
    assert!(
        refused_directly,
        "the workspace-service still accepts the token"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(client);
}

#[tokio::test]
async fn a_locked_account_is_429_with_retry_after() {
    let stack = spawn_stack().await;
    stack.signed_in("ada@example.com").await;
    for _ in 0..5 {
        let response = stack
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": "ada@example.com", "password": "nope nope"})),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "ada@example.com", "password": testkit::PASSWORD})),
        )
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    let body = error_body(response, 429, "RESOURCE_EXHAUSTED").await;
    assert_eq!(
        body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.RetryInfo"
    );
}

#[tokio::test]
async fn admin_routes_are_403_for_normal_users() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    for (method, path) in [
        (Method::GET, "/v1/admin/users"),
        (Method::GET, "/v1/admin/audit-events"),
        (
            Method::PATCH,
            "/v1/admin/users/00000000-0000-0000-0000-000000000000",
        ),
    ] {
        let body = if method == Method::PATCH {
            Some(json!({"is_active": false}))
        } else {
            None
        };
        let response = stack.call(method, path, Some(&token), body).await;
        error_body(response, 403, "PERMISSION_DENIED").await;
    }
}

#[tokio::test]
async fn sessions_and_login_history_are_served_over_http() {
    let stack = spawn_stack().await;
    let pair = stack.signed_in_pair("ada@example.com").await;
    let token = pair["access_token"].as_str().unwrap();
    let sessions: Value = stack
        .call(Method::GET, "/v1/auth/sessions", Some(token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"][0]["current"], true);
    assert_eq!(sessions["sessions"][0]["ip_address"], "127.0.0.1");
    let events: Value = stack
        .call(Method::GET, "/v1/auth/login-events", Some(token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"][0]["type"], "login_succeeded");
    let path = format!("/v1/auth/sessions/{}", pair["session_id"].as_str().unwrap());
    assert_eq!(
        stack
            .call(Method::DELETE, &path, Some(token), None)
            .await
            .status(),
        200
    );
}
