//! The task lifecycle of the OCR tool (seed 002): drafts that are edited
//! and then started, and deleting finished tasks with their outputs.

use proto::workspace::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{TestStack, authorized, spawn_stack, spawn_stack_with};

async fn draft(stack: &TestStack, token: &str, query: &str) -> pb::Task {
    stack
        .create(
            token,
            pb::CreateTaskRequest {
                query: query.into(),
                start: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

async fn start(stack: &TestStack, token: &str, task_id: &str) -> Result<pb::Task, tonic::Status> {
    stack
        .tasks
        .clone()
        .start_task(authorized(
            token,
            pb::StartTaskRequest {
                task_id: task_id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().task.unwrap())
}

async fn update(
    stack: &TestStack,
    token: &str,
    request: pb::UpdateTaskRequest,
) -> Result<pb::Task, tonic::Status> {
    stack
        .tasks
        .clone()
        .update_task(authorized(token, request))
        .await
        .map(|r| r.into_inner().task.unwrap())
}

async fn delete(stack: &TestStack, token: &str, task_id: &str) -> Result<(), tonic::Status> {
    stack
        .tasks
        .clone()
        .delete_task(authorized(
            token,
            pb::DeleteTaskRequest {
                task_id: task_id.into(),
            },
        ))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_draft_is_not_claimed_until_it_is_started() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = draft(&stack, &ada.token, "ocr later").await;
    assert_eq!(task.status(), pb::TaskStatus::Draft);
    assert!(task.run_after.is_none());
    assert!(stack.claim(&worker, "w").await.unwrap().task.is_none());

    let started = start(&stack, &ada.token, &task.task_id).await.unwrap();
    assert_eq!(started.status(), pb::TaskStatus::Pending);
    let claimed = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert_eq!(claimed.task_id, task.task_id);

    // Started twice: the second is refused with the current status.
    let again = start(&stack, &ada.token, &task.task_id).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(
        again.message().contains("processing"),
        "{}",
        again.message()
    );
}

#[tokio::test]
async fn a_drafts_query_kind_and_files_are_replaced_only_while_it_is_a_draft() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let first = stack
        .upload(&ada.token, "a.csv", vec![b"a".to_vec()])
        .await
        .unwrap();
    let second = stack
        .upload(&ada.token, "b.csv", vec![b"b".to_vec()])
        .await
        .unwrap();
    let bobs = stack
        .upload(&bob.token, "c.csv", vec![b"c".to_vec()])
        .await
        .unwrap();
    let task = draft(&stack, &ada.token, "ocr").await;

    let updated = update(
        &stack,
        &ada.token,
        pb::UpdateTaskRequest {
            task_id: task.task_id.clone(),
            query: Some("ocr the invoices".into()),
            kind: Some("ocr.document".into()),
            files: Some(pb::TaskFileSelection {
                file_ids: vec![first.file_id.clone(), second.file_id.clone()],
            }),
        },
    )
    .await
    .unwrap();
    assert_eq!(updated.query, "ocr the invoices");
    assert_eq!(updated.kind, "ocr.document");
    assert_eq!(updated.files.len(), 2);

    // Only the fields present change.
    let updated = update(
        &stack,
        &ada.token,
        pb::UpdateTaskRequest {
            task_id: task.task_id.clone(),
            files: Some(pb::TaskFileSelection {
                file_ids: vec![second.file_id.clone()],
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(updated.query, "ocr the invoices");
    assert_eq!(updated.kind, "ocr.document");
    assert_eq!(updated.files.len(), 1);
    assert_eq!(updated.files[0].file_id, second.file_id);

    // Bad input changes nothing.
    for (request, code) in [
        (
            pb::UpdateTaskRequest {
                task_id: task.task_id.clone(),
                query: Some("  ".into()),
                ..Default::default()
            },
            Code::InvalidArgument,
        ),
        (
            pb::UpdateTaskRequest {
                task_id: task.task_id.clone(),
                kind: Some("Not A Kind".into()),
                ..Default::default()
            },
            Code::InvalidArgument,
        ),
        (
            pb::UpdateTaskRequest {
                task_id: task.task_id.clone(),
                query: Some("with bob's file".into()),
                files: Some(pb::TaskFileSelection {
                    file_ids: vec![bobs.file_id.clone()],
                }),
                ..Default::default()
            },
            Code::NotFound,
        ),
    ] {
        let error = update(&stack, &ada.token, request).await.unwrap_err();
        assert_eq!(error.code(), code, "{error:?}");
    }
    let unchanged = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(unchanged.query, "ocr the invoices");
    assert_eq!(unchanged.files.len(), 1);

    // Bob cannot see Ada's draft.
    let foreign = update(
        &stack,
        &bob.token,
        pb::UpdateTaskRequest {
            task_id: task.task_id.clone(),
            query: Some("mine".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // Once started it is no longer a draft.
    start(&stack, &ada.token, &task.task_id).await.unwrap();
    let late = update(
        &stack,
        &ada.token,
        pb::UpdateTaskRequest {
            task_id: task.task_id.clone(),
            query: Some("too late".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn starting_a_draft_counts_against_the_pending_limit() {
    let stack = spawn_stack_with(|c| c.max_pending_tasks_per_user = 1).await;
    let ada = stack.user("ada@example.com").await;
    let waiting = draft(&stack, &ada.token, "later").await;
    stack.create_task(&ada.token, "now", &[]).await;
    let refused = start(&stack, &ada.token, &waiting.task_id)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let quota = refused.get_details_quota_failure().unwrap();
    assert_eq!(quota.violations[0].subject, "pending_tasks");
    let task = stack.get_task(&ada.token, &waiting.task_id).await.unwrap();
    assert_eq!(task.status(), pb::TaskStatus::Draft);
}

#[tokio::test]
async fn a_finished_task_is_deleted_with_its_outputs_and_a_running_one_is_not() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let input = stack
        .upload(&ada.token, "scan.csv", vec![b"scan".to_vec()])
        .await
        .unwrap();
    let task = stack
        .create_task(&ada.token, "ocr", &[input.file_id.parse().unwrap()])
        .await;
    stack.claim(&worker, "w").await.unwrap();

    // Running: refused, and it keeps running.
    let running = delete(&stack, &ada.token, &task.task_id).await.unwrap_err();
    assert_eq!(running.code(), Code::FailedPrecondition);
    assert!(
        running.message().contains("cancel"),
        "{}",
        running.message()
    );

    let output = stack
        .upload_output(
            &worker,
            "w",
            &task.task_id,
            "scan.md",
            vec![b"# text".to_vec()],
        )
        .await
        .unwrap();
    stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap();
    stack.download(&ada.token, &output.file_id).await.unwrap();

    // Bob's delete of Ada's task: NOT_FOUND, nothing removed.
    let foreign = delete(&stack, &bob.token, &task.task_id).await.unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    stack.get_task(&ada.token, &task.task_id).await.unwrap();

    delete(&stack, &ada.token, &task.task_id).await.unwrap();
    let gone = stack.get_task(&ada.token, &task.task_id).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let output_gone = stack
        .download(&ada.token, &output.file_id)
        .await
        .unwrap_err();
    assert_eq!(output_gone.code(), Code::NotFound);
    // The input file is the user's own and stays.
    stack.download(&ada.token, &input.file_id).await.unwrap();
    // The output's content is freed; the input's is kept.
    assert_eq!(stack.stored("blobs").len(), 1);
    // The counters follow.
    let stats = stack
        .tasks
        .clone()
        .get_task_stats(authorized(&ada.token, pb::GetTaskStatsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total, 0);

    // Deleted twice: NOT_FOUND.
    let twice = delete(&stack, &ada.token, &task.task_id).await.unwrap_err();
    assert_eq!(twice.code(), Code::NotFound);
    // A draft can be deleted too.
    let waiting = draft(&stack, &ada.token, "never mind").await;
    delete(&stack, &ada.token, &waiting.task_id).await.unwrap();
}
