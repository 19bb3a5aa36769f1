use reqwest::Method;
use serde_json::json;

use crate::stack::{error_body, spawn_stack};

#[tokio::test]
async fn requests_without_or_with_a_bad_token_are_401_with_www_authenticate() {
    let stack = spawn_stack().await;
    for token in [None, Some("garbage"), Some("a.b.c")] {
        let response = stack
            .call(Method::GET, "/v1/conversations", token, None)
            .await;
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        error_body(response, 401, "UNAUTHENTICATED").await;
    }
    let response = stack.call(Method::GET, "/v1/auth/me", None, None).await;
    error_body(response, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn bad_fields_are_400_with_field_violations() {
    let stack = spawn_stack().await;
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": "ada@example.com", "password": "short"})),
        )
        .await;
    let body = error_body(response, 400, "INVALID_ARGUMENT").await;
    let details = &body["error"]["details"][0];
    assert_eq!(
        details["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(details["field_violations"][0]["field"], "password");
}

#[tokio::test]
async fn a_duplicate_email_is_409() {
    let stack = spawn_stack().await;
    stack.signed_in("ada@example.com").await;
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": "ada@example.com", "password": "another password"})),
        )
        .await;
    error_body(response, 409, "ALREADY_EXISTS").await;
}

#[tokio::test]
async fn a_failed_login_is_401_and_does_not_say_whether_the_account_exists() {
    let stack = spawn_stack().await;
    stack.signed_in("ada@example.com").await;
    let mut messages = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let response = stack
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": email, "password": "wrong password"})),
            )
            .await;
        let body = error_body(response, 401, "UNAUTHENTICATED").await;
        messages.push(body["error"]["message"].clone());
    }
    assert_eq!(messages[0], messages[1]);
}

#[tokio::test]
async fn malformed_json_unknown_fields_and_wrong_shapes_are_400() {
    let stack = spawn_stack().await;
    let url = format!("{}/v1/auth/register", stack.base);
    for body in [
        "{not json",
        "[1, 2]",
        r#"{"email": "a@b.co", "colour": "red"}"#,
        r#"{"email": 42}"#,
    ] {
        let response = stack
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        error_body(response, 400, "INVALID_ARGUMENT").await;
    }
}

#[tokio::test]
async fn an_unknown_query_parameter_is_400_naming_it() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let response = stack
        .call(
            Method::GET,
            "/v1/conversations?colour=red",
            Some(&token),
            None,
        )
        .await;
    let body = error_body(response, 400, "INVALID_ARGUMENT").await;
    assert_eq!(
        body["error"]["details"][0]["field_violations"][0]["field"],
        "colour"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .post(format!("{}/v1/auth/login", stack.base))
        .header("content-type", "text/plain")
        .body("email=ada")
        .send()
        .await
        .unwrap();
    error_body(response, 415, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let stack = spawn_stack().await;
    let huge = format!(r#"{{"email": "{}"}}"#, "a".repeat(2 << 20));
    let response = stack
        .http
        .post(format!("{}/v1/auth/register", stack.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    error_body(response, 413, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let stack = spawn_stack().await;
    let response = stack
        .call(Method::GET, "/v1/nothing/here", None, None)
        .await;
    error_body(response, 404, "NOT_FOUND").await;
    let response = stack.call(Method::GET, "/v1/auth/login", None, None).await;
    assert_eq!(response.headers()["allow"], "POST");
    error_body(response, 405, "UNIMPLEMENTED").await;
}

#[tokio::test]
async fn another_users_file_is_404() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let response = stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(&token),
            Some(json!({"title": "x", "file_ids": [uuid::Uuid::new_v4()]})),
        )
        .await;
    error_body(response, 404, "NOT_FOUND").await;
}
