//! Client-chosen request ids (AIP-155) on CreateTask, CreateTurn and
//! UploadFile: a retry returns the first result, concurrent retries make
//! one resource, and the same id for a different request is refused.

use std::sync::Arc;

use proto::workspace::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{TestStack, authorized, spawn_stack};

fn create_request(request_id: &str, query: &str) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        query: query.into(),
        kind: "ocr.document".into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_retried_create_returns_the_first_task() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let id = uuid::Uuid::new_v4().to_string();
    let first = stack
        .create(&ada.token, create_request(&id, "ocr"))
        .await
        .unwrap();
    let again = stack
        .create(&ada.token, create_request(&id, "ocr"))
        .await
        .unwrap();
    assert_eq!(again.task_id, first.task_id);
    assert_eq!(stack.count("SELECT count(*) FROM tasks").await, 1);

    // The same id with another body: INVALID_ARGUMENT naming the field.
    let other = stack
        .create(&ada.token, create_request(&id, "something else"))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::InvalidArgument);
    let bad = other.get_details_bad_request().unwrap();
    assert_eq!(bad.field_violations[0].field, "request_id");

    // Not a UUID: INVALID_ARGUMENT.
    let malformed = stack
        .create(&ada.token, create_request("retry-1", "ocr"))
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);

    // Another user's same id is theirs: a task of their own.
    let bob = stack.user("bob@example.com").await;
    let bobs = stack
        .create(&bob.token, create_request(&id, "ocr"))
        .await
        .unwrap();
    assert_ne!(bobs.task_id, first.task_id);
    // Without an id, every call creates.
    stack.create_task(&ada.token, "ocr", &[]).await;
    stack.create_task(&ada.token, "ocr", &[]).await;
    assert_eq!(stack.count("SELECT count(*) FROM tasks").await, 4);
}

#[tokio::test]
async fn sixteen_concurrent_retries_make_one_task() {
    let stack = Arc::new(spawn_stack().await);
    let ada = stack.user("ada@example.com").await;
    let id = uuid::Uuid::new_v4().to_string();
    let barrier = Arc::new(Barrier::new(16));
    let calls = (0..16).map(|_| {
        let (stack, barrier, token, id) = (
            stack.clone(),
            barrier.clone(),
            ada.token.clone(),
            id.clone(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            stack.create(&token, create_request(&id, "ocr")).await
        })
    });
    let ids: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().task_id)
        .collect();
    assert!(ids.iter().all(|t| *t == ids[0]), "{ids:?}");
    assert_eq!(stack.count("SELECT count(*) FROM tasks").await, 1);
    assert_eq!(
        stack.count("SELECT pending::bigint FROM task_queues").await,
        1
    );
}

async fn upload_with_id(
    stack: &TestStack,
    token: &str,
    request_id: &str,
    bytes: &[u8],
) -> Result<pb::File, tonic::Status> {
    use pb::upload_file_request::Part;
    let messages = vec![
        pb::UploadFileRequest {
            part: Some(Part::Metadata(pb::UploadFileMetadata {
                filename: "photo.png".into(),
                mime_type: "image/png".into(),
                request_id: request_id.into(),
            })),
        },
        pb::UploadFileRequest {
            part: Some(Part::Chunk(bytes.to_vec().into())),
        },
    ];
    stack
        .files
        .clone()
        .upload_file(authorized(token, tokio_stream::iter(messages)))
        .await
        .map(|r| r.into_inner().file.unwrap())
}

#[tokio::test]
async fn a_retried_upload_returns_the_first_file() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let id = uuid::Uuid::new_v4().to_string();
    let first = upload_with_id(&stack, &ada.token, &id, b"pixels")
        .await
        .unwrap();
    let again = upload_with_id(&stack, &ada.token, &id, b"pixels")
        .await
        .unwrap();
    assert_eq!(again.file_id, first.file_id);
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 1);
    // Other content under the same id: refused, nothing stored.
    let other = upload_with_id(&stack, &ada.token, &id, b"other pixels")
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::InvalidArgument);
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 1);
    assert_eq!(stack.stored("blobs").len(), 1);
    assert!(stack.stored("tmp").is_empty());
}

#[tokio::test]
async fn a_retried_turn_returns_the_first_turn() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let conversation = stack
        .create_conversation(&ada.token, "c", &[])
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let turn = |query: &'static str| {
        let mut conversations = stack.conversations.clone();
        let request = authorized(
            &ada.token,
            pb::CreateTurnRequest {
                conversation_id: conversation.conversation_id.clone(),
                query: query.into(),
                request_id: id.clone(),
                ..Default::default()
            },
        );
        async move {
            conversations
                .create_turn(request)
                .await
                .map(|r| r.into_inner().turn.unwrap())
        }
    };
    let first = turn("sum column B").await.unwrap();
    let again = turn("sum column B").await.unwrap();
    assert_eq!(again.turn_id, first.turn_id);
    assert_eq!(again.turn_number, 1);
    let other = turn("sum column C").await.unwrap_err();
    assert_eq!(other.code(), Code::InvalidArgument);
    assert_eq!(
        stack.count("SELECT count(*) FROM conversation_turns").await,
        1
    );
    assert_eq!(stack.count("SELECT count(*) FROM tasks").await, 1);
}
