//! Task routes with custom verbs (`:cancel`, `:retry`, `:stats`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::stack::{error_body, spawn_stack};

#[tokio::test]
async fn tasks_are_created_cancelled_retried_and_counted_over_http() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let created: Value = stack
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&token),
            Some(json!({"query": "sum column B"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let task = &created["task"];
    assert_eq!(task["status"], "pending");
    assert_eq!(task["attempt"], 0);
    let id = task["task_id"].as_str().unwrap();

    let cancelled: Value = stack
        .call(
            Method::POST,
            &format!("/v1/tasks/{id}:cancel"),
            Some(&token),
            Some(json!({})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["task"]["status"], "cancelled");

    let again = stack
        .call(
            Method::POST,
            &format!("/v1/tasks/{id}:cancel"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    let body = error_body(again, 400, "FAILED_PRECONDITION").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );

    let retried = stack
        .call(
            Method::POST,
            &format!("/v1/tasks/{id}:retry"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(retried.status(), 200);

    let stats: Value = stack
        .call(Method::GET, "/v1/tasks:stats", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    // int64 counters are strings in the JSON mapping.
    assert_eq!(stats["total"], "1");
    assert_eq!(stats["pending"], "1");

    let listed: Value = stack
        .call(
            Method::GET,
            "/v1/tasks?status=pending&order_by=created_at%20desc",
            Some(&token),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total_size"], 1);
}

#[tokio::test]
async fn another_users_task_is_404_also_when_watched_or_exported() {
    let stack = spawn_stack().await;
    let ada = stack.signed_in("ada@example.com").await;
    let eve = stack.signed_in("eve@example.com").await;
    let created: Value = stack
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&ada),
            Some(json!({"query": "q"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["task"]["task_id"].as_str().unwrap();
    error_body(
        stack
            .call(Method::GET, &format!("/v1/tasks/{id}"), Some(&eve), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    // Watching and exporting another user's task is 404 too.
    for path in [
        format!("/v1/tasks/{id}:watch"),
        format!("/v1/tasks/{id}:export"),
    ] {
        error_body(
            stack.call(Method::GET, &path, Some(&eve), None).await,
            404,
            "NOT_FOUND",
        )
        .await;
    }
}
