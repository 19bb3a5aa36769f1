//! Per-user limits (tasks, pending tasks) held under concurrency, and the
//! retention cleanup.

use std::sync::Arc;

use proto::workspace::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{authorized, spawn_stack_with};

#[tokio::test]
async fn twelve_concurrent_creations_against_a_limit_of_five_make_five() {
    let stack = Arc::new(
        spawn_stack_with(|c| {
            c.max_tasks_per_user = 5;
            c.max_pending_tasks_per_user = 0;
        })
        .await,
    );
    let ada = stack.user("ada@example.com").await;
    let barrier = Arc::new(Barrier::new(12));
    let calls = (0..12).map(|i| {
        let (stack, barrier, token) = (stack.clone(), barrier.clone(), ada.token.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            stack
                .create(
                    &token,
                    pb::CreateTaskRequest {
                        query: format!("task {i}"),
                        ..Default::default()
                    },
                )
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let made = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(made, 5);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let quota = refused.get_details_quota_failure().unwrap();
        assert_eq!(quota.violations[0].subject, "tasks");
    }
    assert_eq!(stack.count("SELECT count(*) FROM tasks").await, 5);
    // Another user has a limit of their own.
    let bob = stack.user("bob@example.com").await;
    stack.create_task(&bob.token, "bob's", &[]).await;
}

#[tokio::test]
async fn the_pending_limit_refuses_queueing_but_not_drafts() {
    let stack = spawn_stack_with(|c| c.max_pending_tasks_per_user = 2).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    stack.create_task(&ada.token, "one", &[]).await;
    stack.create_task(&ada.token, "two", &[]).await;
    let refused = stack
        .create(
            &ada.token,
            pb::CreateTaskRequest {
                query: "three".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(
        refused.get_details_quota_failure().unwrap().violations[0].subject,
        "pending_tasks"
    );
    // A draft waits outside the queue.
    let draft = stack
        .create(
            &ada.token,
            pb::CreateTaskRequest {
                query: "three, later".into(),
                start: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(draft.status(), pb::TaskStatus::Draft);
    // Once a worker takes one, there is room again.
    stack.claim(&worker, "w").await.unwrap().task.unwrap();
    stack.create_task(&ada.token, "three", &[]).await;
}

#[tokio::test]
async fn the_cleanup_deletes_old_finished_tasks_with_their_outputs() {
    let stack = spawn_stack_with(|c| c.task_retention_days = 30).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    // An old finished task with an output, an old pending one, and a
    // conversation turn's finished task.
    let old = stack.create_task(&ada.token, "old", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    let output = stack
        .upload_output(&worker, "w", &old.task_id, "old.md", vec![b"old".to_vec()])
        .await
        .unwrap();
    stack
        .complete(&worker, "w", &old.task_id, serde_json::json!({}))
        .await
        .unwrap();
    let conversation = stack
        .create_conversation(&ada.token, "c", &[])
        .await
        .unwrap();
    let turn = stack
        .conversations
        .clone()
        .create_turn(authorized(
            &ada.token,
            pb::CreateTurnRequest {
                conversation_id: conversation.conversation_id.clone(),
                query: "turn".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .turn
        .unwrap();
    let turn_task = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert_eq!(turn_task.turn_id, turn.turn_id);
    stack
        .complete(&worker, "w", &turn_task.task_id, serde_json::json!({}))
        .await
        .unwrap();
    let waiting = stack.create_task(&ada.token, "still waiting", &[]).await;

    // 29 days on: nothing is old enough.
    stack.clock.advance(chrono::Duration::days(29));
    let report = workspace_service::retention::clean(&stack.state)
        .await
        .unwrap();
    assert_eq!(report.tasks, 0);
    stack.get_task(&ada.token, &old.task_id).await.unwrap();

    // A finished task created now is recent at the next cleanup.
    let recent = stack.create_task(&ada.token, "recent", &[]).await;
    let claimed = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    // The queue is fair, not FIFO across users: both are Ada's, oldest first.
    assert_eq!(claimed.task_id, waiting.task_id);
    stack
        .complete(&worker, "w", &waiting.task_id, serde_json::json!({}))
        .await
        .unwrap();

    stack.clock.advance(chrono::Duration::days(2));
    let report = workspace_service::retention::clean(&stack.state)
        .await
        .unwrap();
    assert_eq!(report.tasks, 1, "{report:?}");
    let gone = stack.get_task(&ada.token, &old.task_id).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let output_gone = stack
        .download(&ada.token, &output.file_id)
        .await
        .unwrap_err();
    assert_eq!(output_gone.code(), Code::NotFound);
    assert!(stack.stored("blobs").is_empty());
    // The turn's task stays with its conversation; the others are younger.
    stack
        .get_task(&ada.token, &turn_task.task_id)
        .await
        .unwrap();
    stack.get_task(&ada.token, &waiting.task_id).await.unwrap();
    stack.get_task(&ada.token, &recent.task_id).await.unwrap();
}

#[tokio::test]
async fn a_retention_of_zero_keeps_everything_and_one_replica_cleans_at_a_time() {
    let stack = spawn_stack_with(|c| c.task_retention_days = 0).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "keep", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap();
    stack.clock.advance(chrono::Duration::days(10_000));
    let report = workspace_service::retention::clean(&stack.state)
        .await
        .unwrap();
    assert_eq!(report.tasks, 0);
    stack.get_task(&ada.token, &task.task_id).await.unwrap();

    // While another session holds the cleanup's advisory lock, a cleanup
    // skips its turn.
    let db = testkit::Database::at(&stack.workspace_database_url)
        .client()
        .await;
    db.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({})",
        workspace_service::retention::LOCK_KEY
    ))
    .await
    .unwrap();
    let report = workspace_service::retention::clean(&stack.state)
        .await
        .unwrap();
    assert!(report.skipped);
    db.batch_execute("COMMIT").await.unwrap();
    let report = workspace_service::retention::clean(&stack.state)
        .await
        .unwrap();
    assert!(!report.skipped);
}
