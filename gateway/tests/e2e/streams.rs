//! Streaming routes over HTTP: uploads (raw and multipart), downloads and
//! exports with file headers, and WatchTask as Server-Sent Events.

use std::time::Duration;

use reqwest::{Method, Response, header};
use serde_json::{Value, json};

use crate::stack::{Events, Stack, error_body, spawn_stack, spawn_stack_with};

/// Uploads `data` as the raw body with `?filename=`.
async fn upload_raw(stack: &Stack, token: &str, filename: &str, data: Vec<u8>) -> Response {
    stack
        .http
        .post(format!("{}/v1/files", stack.base))
        .bearer_auth(token)
        .query(&[("filename", filename)])
        .header(header::CONTENT_TYPE, "text/csv")
        .body(data)
        .send()
        .await
        .unwrap()
}

async fn file_count(stack: &Stack, token: &str) -> u64 {
    let listed: Value = stack
        .call(Method::GET, "/v1/files", Some(token), None)
        .await
        .json()
        .await
        .unwrap();
    listed["total_size"].as_u64().unwrap()
}

#[tokio::test]
async fn a_raw_upload_downloads_with_its_type_length_etag_and_utf8_name() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    // Three upstream chunks' worth, not a multiple of 1 MiB.
    let data: Vec<u8> = (0..(2 << 20) + 12345).map(|i| (i % 251) as u8).collect();
    let response = upload_raw(&stack, &token, "销售 数据.csv", data.clone()).await;
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    let file = &file["file"];
    assert_eq!(file["filename"], "销售 数据.csv");
    assert_eq!(file["mime_type"], "text/csv");
    assert_eq!(
        file["size_bytes"],
        data.len().to_string(),
        "int64 as a string"
    );
    let id = file["file_id"].as_str().unwrap();

    let response = stack
        .call(
            Method::GET,
            &format!("/v1/files/{id}/content"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv");
    assert_eq!(headers[header::CONTENT_LENGTH], data.len().to_string());
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", file["sha256"].as_str().unwrap()));
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"__ __.csv\"; \
         filename*=UTF-8''%E9%94%80%E5%94%AE%20%E6%95%B0%E6%8D%AE.csv"
    );
    assert!(
        response.bytes().await.unwrap() == data,
        "the same bytes back"
    );

    let unchanged = stack
        .http
        .get(format!("{}/v1/files/{id}/content", stack.base))
        .bearer_auth(&token)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
}

#[tokio::test]
async fn a_multipart_upload_takes_the_file_part_with_its_name_and_type() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let part = reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec())
        .file_name("报告.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("note_is_not_a_field", "x")
        .part("file", part);
    let response = stack
        .http
        .post(format!("{}/v1/files", stack.base))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_body(response, 400, "INVALID_ARGUMENT").await;
    // A metadata part is short text: 5000 bytes of it is refused.
    let form = reqwest::multipart::Form::new()
        .text("filename", "x".repeat(5000))
        .part("file", reqwest::multipart::Part::bytes(b"a".to_vec()));
    let response = stack
        .http
        .post(format!("{}/v1/files", stack.base))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_body(response, 400, "INVALID_ARGUMENT").await;
    assert_eq!(file_count(&stack, &token).await, 0, "nothing kept");

    let part = reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec())
        .file_name("报告.csv")
        .mime_str("text/csv")
        .unwrap();
    let response = stack
        .http
        .post(format!("{}/v1/files", stack.base))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    assert_eq!(file["file"]["filename"], "报告.csv");
    assert_eq!(file["file"]["mime_type"], "text/csv");
    assert_eq!(file["file"]["size_bytes"], "8");
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_empty_or_unnamed_ones_400_keeping_nothing() {
    let stack = spawn_stack_with(|config| config.upload_limit = 3 << 20).await;
    let token = stack.signed_in("ada@example.com").await;
    let response = upload_raw(&stack, &token, "big.bin", vec![7; (3 << 20) + 1]).await;
    let body = error_body(response, 413, "INVALID_ARGUMENT").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("limit"));

    error_body(
        upload_raw(&stack, &token, "empty.csv", Vec::new()).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    error_body(
        upload_raw(&stack, &token, "../etc/passwd", b"x".to_vec()).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    let unnamed = stack
        .http
        .post(format!("{}/v1/files", stack.base))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    error_body(unnamed, 400, "INVALID_ARGUMENT").await;
    let unknown = stack
        .http
        .post(format!("{}/v1/files?colour=red", stack.base))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    let body = error_body(unknown, 400, "INVALID_ARGUMENT").await;
    assert_eq!(
        body["error"]["details"][0]["field_violations"][0]["field"],
        "colour"
    );
    assert_eq!(file_count(&stack, &token).await, 0, "nothing kept");

    let anonymous = stack
        .http
        .post(format!("{}/v1/files?filename=a.csv", stack.base))
        .body("x")
        .send()
        .await
        .unwrap();
    error_body(anonymous, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn a_task_exports_as_json_markdown_and_pdf_downloads() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let created: Value = stack
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&token),
            Some(json!({"query": "按月汇总"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["task"]["task_id"].as_str().unwrap();
    for (format, extension, content_type) in [
        ("json", "json", "application/json"),
        ("markdown", "md", "text/markdown; charset=utf-8"),
        ("pdf", "pdf", "application/pdf"),
    ] {
        let response = stack
            .call(
                Method::GET,
                &format!("/v1/tasks/{id}:export?format={format}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(response.status(), 200, "{format}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
        let disposition = response.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap();
        assert!(
            disposition.contains(&format!("filename=\"task-{id}.{extension}\"")),
            "{disposition}"
        );
        let bytes = response.bytes().await.unwrap();
        match format {
            "json" => {
                let document: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(document["query"], "按月汇总");
            }
            "markdown" => assert!(
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .contains("按月汇总")
            ),
            _ => assert!(bytes.starts_with(b"%PDF-")),
        }
    }
    let bad = stack
        .call(
            Method::GET,
            &format!("/v1/tasks/{id}:export?format=docx"),
            Some(&token),
            None,
        )
        .await;
    error_body(bad, 400, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn watch_task_is_server_sent_events_until_the_task_is_terminal() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let id = stack.create_task(&token, "q").await;
    let response = stack
        .call(
            Method::GET,
            &format!("/v1/tasks/{id}:watch"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut events = Events::new(response);
    let (name, first) = events.next().await.unwrap();
    assert_eq!(name, "message");
    assert_eq!(first["task"]["status"], "pending");

    let cancelled = stack
        .call(
            Method::POST,
            &format!("/v1/tasks/{id}:cancel"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let (_, next) = events.next().await.unwrap();
    assert_eq!(next["task"]["status"], "cancelled");
    assert!(
        events.next().await.is_none(),
        "the stream ends at a terminal status"
    );
}

#[tokio::test]
async fn an_error_after_the_stream_started_is_an_error_event_with_the_aip193_body() {
    let mut stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    let id = stack.create_task(&token, "q").await;
    let response = stack
        .call(
            Method::GET,
            &format!("/v1/tasks/{id}:watch"),
            Some(&token),
            None,
        )
        .await;
    let mut events = Events::new(response);
    assert_eq!(events.next().await.unwrap().1["task"]["status"], "pending");

    // The service shuts down: its watch streams end with UNAVAILABLE.
    stack.stop_workspace();
    let (name, body) = events.next().await.unwrap();
    assert_eq!(name, "error");
    assert_eq!(body["error"]["status"], "UNAVAILABLE", "{body}");
    assert_eq!(body["error"]["code"], 503);
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn an_upload_whose_body_stops_arriving_is_408_and_keeps_nothing() {
    let stack = spawn_stack_with(|config| config.idle_timeout = Duration::from_millis(300)).await;
    let token = stack.signed_in("ada@example.com").await;
    // The first bytes, then silence (the sender stays open).
    let (feed, body) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    feed.send(Ok(b"a,b\n".to_vec())).await.unwrap();
    let response = stack
        .http
        .post(format!("{}/v1/files?filename=slow.csv", stack.base))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(body),
        ))
        .send()
        .await
        .unwrap();
    error_body(response, 408, "DEADLINE_EXCEEDED").await;
    drop(feed);
    assert_eq!(file_count(&stack, &token).await, 0, "nothing kept");
}

#[tokio::test]
async fn a_body_that_breaks_off_mid_upload_keeps_nothing() {
    let stack = spawn_stack().await;
    let token = stack.signed_in("ada@example.com").await;
    // Two full upstream chunks go through, then the client's body fails.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(vec![1; 1 << 20]),
        Ok(vec![2; 1 << 20]),
        Ok(vec![3; 1000]),
        Err(std::io::Error::other("the client gave up")),
    ];
    let result = stack
        .http
        .post(format!("{}/v1/files?filename=broken.bin", stack.base))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await;
    if let Ok(response) = result {
        assert_ne!(response.status(), 200, "a broken body is not a file");
    }
    // A complete upload afterwards is stored; the broken one never is.
    let ok = upload_raw(&stack, &token, "whole.csv", b"a,b\n".to_vec()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(file_count(&stack, &token).await, 1, "only the whole file");
}
