//! Input abuse through the gateway: what a hostile or broken client sends.
//! Each gets a clear 4xx (or, for text that is merely unusual, a faithful
//! round trip), the processes stay up, and nothing partial is stored.
//! Oversized headers and bodies, malformed JSON and uploads cut short have
//! their own tests (`edge`, `errors`, `streams`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::stack::{PASSWORD, Stack, error_body, spawn_stack};

/// Counts of what Ada has, to show that refused requests stored nothing.
async fn holdings(stack: &Stack, token: &str) -> [Value; 3] {
    let mut counts = [Value::Null, Value::Null, Value::Null];
    for (i, path) in ["/v1/files", "/v1/conversations", "/v1/tasks"]
        .iter()
        .enumerate()
    {
        let listed: Value = stack
            .call(Method::GET, path, Some(token), None)
            .await
            .json()
            .await
            .unwrap();
        counts[i] = listed["total_size"].clone();
    }
    counts
}

async fn post_raw(stack: &Stack, path: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
    stack
        .http
        .post(format!("{}{path}", stack.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn hostile_bodies_are_400_and_store_nothing() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let before = holdings(&stack, &token).await;

    // Deeply nested JSON: refused by the parser's depth limit, no overflow.
    let nested = format!(
        r#"{{"title": "x", "file_ids": {}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    // Invalid UTF-8 inside a JSON string.
    let mut invalid_utf8 = br#"{"title": "caf"#.to_vec();
    invalid_utf8.extend([0xc3, 0x28, b'"', b'}']);
    for body in [nested.into_bytes(), invalid_utf8] {
        let response = post_raw(&stack, "/v1/conversations", &token, body).await;
        error_body(response, 400, "INVALID_ARGUMENT").await;
    }

    // NUL in text fields: PostgreSQL text cannot hold it, so it is refused
    // before it gets there.
    for (path, body) in [
        ("/v1/conversations", json!({"title": "a\u{0}b"})),
        ("/v1/tasks", json!({"query": "a\u{0}b"})),
    ] {
        let response = stack
            .call(Method::POST, path, Some(&token), Some(body))
            .await;
        error_body(response, 400, "INVALID_ARGUMENT").await;
    }
    let response = stack
        .call(
            Method::PATCH,
            "/v1/auth/me",
            Some(&token),
            Some(json!({"full_name": "Ada\u{0}Lovelace"})),
        )
        .await;
    error_body(response, 400, "INVALID_ARGUMENT").await;
    let response = stack.upload(&token, "a\u{0}.txt", "data").await;
    error_body(response, 400, "INVALID_ARGUMENT").await;

    // A 10 MB username: over the body limit.
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": "big@example.com", "password": PASSWORD, "username": "u".repeat(10 << 20)})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // And one just under it: a field violation, no account.
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": "big@example.com", "password": PASSWORD, "username": "u".repeat(500_000)})),
        )
        .await;
    error_body(response, 400, "INVALID_ARGUMENT").await;
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "big@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), 401, "no account was made");

    assert_eq!(holdings(&stack, &token).await, before);
    let response = stack.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unusual_text_round_trips_exactly() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let texts = [
        "'; DROP TABLE conversations; --",
        r#"" OR 1=1 -- \ % _ $1 ::uuid"#,
        "销售数据 第二季度",
        "🚀 launch 👩‍🚀",
        "\u{202e}txt.exe مرحبا بالعالم",
    ];
    for text in texts {
        // A conversation title and a task query.
        let created: Value = stack
            .call(
                Method::POST,
                "/v1/conversations",
                Some(&token),
                Some(json!({"title": text})),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = created["conversation"]["conversation_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{text:?}: {created}"));
        let read: Value = stack
            .call(
                Method::GET,
                &format!("/v1/conversations/{id}"),
                Some(&token),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["conversation"]["title"], text);
        let task: Value = stack
            .call(
                Method::POST,
                "/v1/tasks",
                Some(&token),
                Some(json!({"query": text})),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(task["task"]["query"], text);
        // A full name.
        let me: Value = stack
            .call(
                Method::PATCH,
                "/v1/auth/me",
                Some(&token),
                Some(json!({"full_name": text})),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["user"]["full_name"], text);
        // A file name (path separators are refused, see below).
        if text.contains(['/', '\\']) {
            continue;
        }
        let uploaded: Value = stack
            .upload(&token, text, format!("contents of {text}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(uploaded["file"]["filename"], text, "{uploaded}");
    }
    // Control characters: refused in a one-line title, kept in a question.
    let multi_line = "first line\n\tsecond line";
    let response = stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(&token),
            Some(json!({"title": multi_line})),
        )
        .await;
    error_body(response, 400, "INVALID_ARGUMENT").await;
    let task: Value = stack
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&token),
            Some(json!({"query": multi_line})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(task["task"]["query"], multi_line, "{task}");
    // The SQL-looking title did nothing: every conversation is there.
    let listed: Value = stack
        .call(Method::GET, "/v1/conversations", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total_size"], texts.len());
}

#[tokio::test]
async fn a_file_name_with_a_path_in_it_is_refused_and_stores_nothing() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let before = holdings(&stack, &token).await;
    for name in [
        "../../../../etc/passwd",
        "/etc/shadow",
        "..\\..\\boot.ini",
        "a/../../b",
        "..",
    ] {
        let response = stack.upload(&token, name, "not a password file").await;
        let body = error_body(response, 400, "INVALID_ARGUMENT").await;
        assert_eq!(
            body["error"]["details"][0]["field_violations"][0]["field"], "filename",
            "{name}"
        );
    }
    assert_eq!(holdings(&stack, &token).await, before);
    // Nothing named by a client was written anywhere under the stack's data.
    let mut dirs = vec![stack.stack.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !["passwd", "shadow", "boot.ini", "b"].contains(&name.as_str()),
                "{}",
                entry.path().display()
            );
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
    }
}

#[tokio::test]
async fn page_tokens_and_sizes_from_hostile_clients() {
    let stack = spawn_stack().await;
    let ada = stack.signed_in("ada@example.com").await;
    let eve = stack.signed_in("eve@example.com").await;
    for i in 0..25 {
        for token in [&ada, &eve] {
            let response = stack
                .call(
                    Method::POST,
                    "/v1/conversations",
                    Some(token),
                    Some(json!({"title": format!("c{i}")})),
                )
                .await;
            assert_eq!(response.status(), 200);
        }
    }
    let list = |token: &str, query: &str| {
        let path = format!("/v1/conversations?{query}");
        let token = token.to_owned();
        let stack = &stack;
        async move { stack.call(Method::GET, &path, Some(&token), None).await }
    };
    let first: Value = list(&ada, "page_size=10").await.json().await.unwrap();
    let next = first["next_page_token"].as_str().unwrap().to_owned();
    assert!(!next.is_empty());

    // Forged, altered, from another user, from another query: 400.
    let mut altered = next.clone().into_bytes();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for (token, query) in [
        (&ada, "page_token=bm90IGEgdG9rZW4.AAAA".to_owned()),
        (&ada, format!("page_token={altered}")),
        (&ada, "page_token=%00%01".to_owned()),
        (&eve, format!("page_token={next}")),
        (&ada, format!("page_token={next}&status=archived")),
    ] {
        let response = list(token, &query).await;
        error_body(response, 400, "INVALID_ARGUMENT").await;
    }
    // The genuine token goes on.
    let response = list(&ada, &format!("page_token={next}&page_size=10")).await;
    assert_eq!(response.status(), 200);

    // Page sizes: 0 and negative are the default, huge is clamped, not a
    // number is 400.
    for (query, expected) in [
        ("page_size=0", 20),
        ("page_size=-5", 20),
        ("page_size=2147483647", 25),
    ] {
        let page: Value = list(&ada, query).await.json().await.unwrap();
        assert_eq!(
            page["conversations"].as_array().unwrap().len(),
            expected,
            "{query}"
        );
    }
    for query in ["page_size=ten", "page_size=99999999999", "page_size=1.5"] {
        let response = list(&ada, query).await;
        error_body(response, 400, "INVALID_ARGUMENT").await;
    }
}
