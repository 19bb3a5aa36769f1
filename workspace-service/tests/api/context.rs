//! A worker processing a conversation turn reads the earlier turns and
//! their outputs, with its lease as the only key.

use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{TestStack, authorized, json_value, spawn_stack};

async fn turn(stack: &TestStack, token: &str, conversation_id: &str, query: &str) -> pb::Turn {
    stack
        .conversations
        .clone()
        .create_turn(authorized(
            token,
            pb::CreateTurnRequest {
                conversation_id: conversation_id.into(),
                query: query.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .turn
        .unwrap()
}

async fn context(
    stack: &TestStack,
    token: &str,
    worker: &str,
    task_id: &str,
) -> Result<pb::GetTaskContextResponse, tonic::Status> {
    stack
        .worker
        .clone()
        .get_task_context(authorized(
            token,
            pb::GetTaskContextRequest {
                task_id: task_id.into(),
                worker_id: worker.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn read(
    stack: &TestStack,
    token: &str,
    task_id: &str,
    file_id: &str,
) -> Result<Vec<u8>, tonic::Status> {
    use pb::read_task_file_response::Part;
    let mut stream = stack
        .worker
        .clone()
        .read_task_file(authorized(
            token,
            pb::ReadTaskFileRequest {
                task_id: task_id.into(),
                worker_id: "w".into(),
                file_id: file_id.into(),
            },
        ))
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        if let Some(Part::Chunk(chunk)) = message.part {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(bytes)
}

#[tokio::test]
async fn the_second_turns_worker_reads_the_first_turns_result_and_outputs() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let sheet = stack
        .upload(&ada.token, "sales.csv", vec![b"a,b\n1,2\n".to_vec()])
        .await
        .unwrap();
    let conversation = stack
        .create_conversation(&ada.token, "sales", &[sheet.file_id.parse().unwrap()])
        .await
        .unwrap();
    let id = conversation.conversation_id.clone();
    let first = turn(&stack, &ada.token, &id, "add a total column").await;

    // Turn 1: the worker writes an output and completes with it.
    let task1 = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert_eq!(task1.turn_id, first.turn_id);
    let first_context = context(&stack, &worker, "w", &task1.task_id).await.unwrap();
    assert_eq!(first_context.conversation_id, id);
    assert_eq!(first_context.files.len(), 1);
    assert!(first_context.earlier_turns.is_empty());
    let output = stack
        .upload_output(
            &worker,
            "w",
            &task1.task_id,
            "sales-total.csv",
            vec![b"a,b,total\n1,2,3\n".to_vec()],
        )
        .await
        .unwrap();
    stack
        .worker
        .clone()
        .complete_task(authorized(
            &worker,
            pb::CompleteTaskRequest {
                task_id: task1.task_id.clone(),
                worker_id: "w".into(),
                analysis: "added total".into(),
                result: Some(json_value(&serde_json::json!({"new_columns": ["total"]}))),
                output_file_id: output.file_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();

    // Turn 2 sees turn 1 with its analysis and output, and reads it.
    let second = turn(&stack, &ada.token, &id, "now chart the total").await;
    let task2 = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert_eq!(task2.turn_id, second.turn_id);
    let ctx = context(&stack, &worker, "w", &task2.task_id).await.unwrap();
    assert_eq!(ctx.earlier_turns.len(), 1);
    let earlier = &ctx.earlier_turns[0];
    let earlier_turn = earlier.turn.as_ref().unwrap();
    assert_eq!(earlier_turn.turn_number, 1);
    assert_eq!(earlier_turn.query, "add a total column");
    assert_eq!(earlier_turn.analysis, "added total");
    assert_eq!(earlier_turn.output_file_id, output.file_id);
    assert_eq!(earlier.outputs.len(), 1);
    assert_eq!(earlier.outputs[0].file_id, output.file_id);
    let bytes = read(&stack, &worker, &task2.task_id, &output.file_id)
        .await
        .unwrap();
    assert_eq!(bytes, b"a,b,total\n1,2,3\n");
    let input = read(&stack, &worker, &task2.task_id, &sheet.file_id)
        .await
        .unwrap();
    assert_eq!(input, b"a,b\n1,2\n");
}

#[tokio::test]
async fn context_is_limited_to_the_leases_conversation() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let other_worker = stack.service_token(&["tasks.process"]).await;
    let private = stack
        .upload(&ada.token, "private.csv", vec![b"secret".to_vec()])
        .await
        .unwrap();
    let elsewhere = stack
        .create_conversation(&ada.token, "other", &[private.file_id.parse().unwrap()])
        .await
        .unwrap();
    let here = stack
        .create_conversation(&ada.token, "here", &[])
        .await
        .unwrap();
    turn(&stack, &ada.token, &here.conversation_id, "q").await;
    let task = stack.claim(&worker, "w").await.unwrap().task.unwrap();

    // Another conversation's file, even the same owner's: NOT_FOUND.
    let foreign = read(&stack, &worker, &task.task_id, &private.file_id)
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let ctx = context(&stack, &worker, "w", &task.task_id).await.unwrap();
    assert!(ctx.files.is_empty());
    assert_ne!(ctx.conversation_id, elsewhere.conversation_id);

    // Without the lease: another account naming the same worker, another
    // worker name, or after the task ended.
    let stolen = context(&stack, &other_worker, "w", &task.task_id)
        .await
        .unwrap_err();
    assert_eq!(stolen.code(), Code::FailedPrecondition);
    let renamed = context(&stack, &worker, "w2", &task.task_id)
        .await
        .unwrap_err();
    assert_eq!(renamed.code(), Code::FailedPrecondition);
    stack.cancel(&ada.token, &task.task_id).await.unwrap();
    let ended = context(&stack, &worker, "w", &task.task_id)
        .await
        .unwrap_err();
    assert_eq!(ended.code(), Code::FailedPrecondition);

    // A task of no turn has an empty context.
    stack.create_task(&ada.token, "plain", &[]).await;
    let plain = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    let ctx = context(&stack, &worker, "w", &plain.task_id).await.unwrap();
    assert!(ctx.conversation_id.is_empty());
    assert!(ctx.earlier_turns.is_empty());
    // A user token is not a worker.
    let user = context(&stack, &ada.token, "w", &plain.task_id)
        .await
        .unwrap_err();
    assert_eq!(user.code(), Code::PermissionDenied);
}
