//! The proto3 JSON mapping at the edge: both field spellings in, proto
//! names out, RFC 3339 timestamps (64-bit integers as strings: tasks.rs), enums by
//! short or full name, unknown fields and bad values refused naming them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::stack::{Stack, error_body, spawn_stack};

#[tokio::test]
async fn both_spellings_in_proto_names_out() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    for (body, expected) in [
        (json!({"fullName": "Ada Lovelace"}), "Ada Lovelace"),
        (json!({"full_name": "Ada King"}), "Ada King"),
    ] {
        let response = stack
            .call(Method::PATCH, "/v1/auth/me", Some(&token), Some(body))
            .await;
        assert_eq!(response.status(), 200);
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["user"]["full_name"], expected, "{user}");
        assert!(
            user["user"].get("fullName").is_none(),
            "proto names on output"
        );
        let created = user["user"]["created_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok(),
            "an RFC 3339 timestamp: {created}"
        );
    }
}

async fn list_tasks(stack: &Stack, token: &str, query: &str) -> reqwest::Response {
    let path = format!("/v1/tasks?{query}");
    stack.call(Method::GET, &path, Some(token), None).await
}

#[tokio::test]
async fn timestamps_and_enums_in_the_query_string() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    stack.create_task(&token, "q").await;
    for query in [
        "status=pending",
        "status=TASK_STATUS_PENDING",
        "created_after=2020-01-01T00:00:00Z",
        "createdAfter=2020-01-01T00:00:00Z&page_size=5",
    ] {
        let response = list_tasks(&stack, &token, query).await;
        assert_eq!(response.status(), 200, "{query}");
        let listed: Value = response.json().await.unwrap();
        assert_eq!(listed["total_size"], 1, "{query}: {listed}");
        assert_eq!(listed["tasks"][0]["status"], "pending");
    }
    for query in ["status=bogus", "created_after=yesterday", "page_size=lots"] {
        let response = list_tasks(&stack, &token, query).await;
        let body = error_body(response, 400, "INVALID_ARGUMENT").await;
        let violation = &body["error"]["details"][0]["field_violations"][0];
        assert!(
            violation["field"].as_str().is_some(),
            "{query}: a field violation: {body}"
        );
    }
}
