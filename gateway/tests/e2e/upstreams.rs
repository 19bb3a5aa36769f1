//! Upstream failures: a service that is down is 503 and the gateway
//! recovers by itself once it is back; one that is too slow is 504.

use std::time::Duration;

use reqwest::Method;

use crate::stack::{Stack, error_body, eventually, spawn_stack, spawn_stack_with};

async fn list(stack: &Stack, token: &str) -> reqwest::Response {
    stack
        .call(Method::GET, "/v1/conversations", Some(token), None)
        .await
}

#[tokio::test]
async fn a_service_that_is_down_is_503_and_back_without_restarting_the_gateway() {
    let mut stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    assert_eq!(list(&stack, &token).await.status(), 200);

    stack.stop_workspace();
    let down = eventually(Duration::from_secs(15), || async {
        list(&stack, &token).await.status() == 503
    })
    .await;
    assert!(down, "503 once the service is gone");
    let body = error_body(list(&stack, &token).await, 503, "UNAVAILABLE").await;
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "no internals: {body}"
    );
    // The auth routes, on the other upstream, are unaffected.
    assert_eq!(
        stack
            .call(Method::GET, "/v1/auth/me", Some(&token), None)
            .await
            .status(),
        200
    );

    stack.restart_workspace().await;
    let back = eventually(Duration::from_secs(15), || async {
        list(&stack, &token).await.status() == 200
    })
    .await;
    assert!(back, "the same gateway reaches the service again");
}

#[tokio::test]
async fn a_service_slower_than_the_route_deadline_is_504() {
    let stack = spawn_stack_with(|config| {
        config.upstream_timeout = Duration::from_millis(300);
    })
    .await;
    let token = stack.signed_in("ada@example.com").await;
    // Hold a lock the listing needs, from a connection of our own.
    let client = stack.stack.workspace().database.client().await;
    client
        .batch_execute("BEGIN; LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let response = stack
        .call(Method::GET, "/v1/conversations", Some(&token), None)
        .await;
    error_body(response, 504, "DEADLINE_EXCEEDED").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the deadline"
    );

    client.batch_execute("COMMIT").await.unwrap();
    let recovered = eventually(Duration::from_secs(10), || {
        let request = stack.call(Method::GET, "/v1/conversations", Some(&token), None);
        async move { request.await.status() == 200 }
    })
    .await;
    assert!(recovered, "fine again once the lock is gone");
}
