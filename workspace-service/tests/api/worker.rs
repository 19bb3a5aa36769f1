use std::collections::HashSet;
use std::time::Duration;

use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_stack};

#[tokio::test]
async fn worker_rpcs_need_the_tasks_process_scope() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let other = stack.service_token(&["reports.read"]).await;
    for token in [&ada.token, &other] {
        let status = stack.claim(token, "w").await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    // And a worker token cannot act as a user.
    let worker = stack.service_token(&["tasks.process"]).await;
    let status = stack
        .list_conversations(&worker, Default::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn claims_take_the_oldest_pending_task_and_nothing_when_empty() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    assert!(stack.claim(&worker, "w").await.unwrap().task.is_none());
    let first = stack.create_task(&ada.token, "first", &[]).await;
    stack.clock.advance(chrono::Duration::seconds(1));
    stack.create_task(&ada.token, "second", &[]).await;
    let claimed = stack.claim(&worker, "w").await.unwrap();
    let task = claimed.task.unwrap();
    assert_eq!(task.task_id, first.task_id);
    assert_eq!(task.status(), pb::TaskStatus::Processing);
    assert_eq!(task.attempt, 1);
    assert!(task.started_at.is_some());
    assert!(claimed.lease_expires_at.is_some());
}

#[tokio::test]
async fn ten_concurrent_workers_never_get_the_same_task() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    for i in 0..30 {
        stack.create_task(&ada.token, &format!("t{i}"), &[]).await;
    }
    let workers = (0..10).map(|w| {
        let stack = &stack;
        let token = worker.clone();
        async move {
            let mut mine = Vec::new();
            while let Some(task) = stack.claim(&token, &format!("w{w}")).await.unwrap().task {
                mine.push(task.task_id.clone());
                stack
                    .complete(
                        &token,
                        &format!("w{w}"),
                        &task.task_id,
                        serde_json::json!({}),
                    )
                    .await
                    .unwrap();
            }
            mine
        }
    });
    let all: Vec<String> = futures::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect();
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 30);
    assert_eq!(distinct.len(), 30);
}

#[tokio::test]
async fn completing_a_cancelled_task_is_refused_and_it_stays_cancelled() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    stack
        .tasks
        .clone()
        .cancel_task(authorized(
            &ada.token,
            pb::CancelTaskRequest {
                task_id: task.task_id.clone(),
            },
        ))
        .await
        .unwrap();
    let status = stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("cancelled"),
        "{}",
        status.message()
    );
    assert_eq!(
        stack
            .get_task(&ada.token, &task.task_id)
            .await
            .unwrap()
            .status(),
        pb::TaskStatus::Cancelled
    );
}

#[tokio::test]
async fn an_expired_lease_goes_back_to_pending_then_fails_after_the_last_attempt() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    for attempt in 1..=3 {
        // Past the retry backoff of the previous attempt (2 s, then 4 s).
        stack.clock.advance(chrono::Duration::seconds(5));
        let claimed = stack.claim(&worker, "w").await.unwrap().task.unwrap();
        assert_eq!(claimed.attempt, attempt);
        stack.clock.advance(chrono::Duration::seconds(61));
        assert_eq!(
            workspace_service::queue::reap_expired(&stack.state)
                .await
                .unwrap(),
            1
        );
    }
    let task = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(task.status(), pb::TaskStatus::Failed);
    assert!(task.error_message.contains("lease"));
    // A late report from the last worker is refused.
    let status = stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn heartbeats_keep_the_lease_and_another_worker_cannot_report() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w1").await.unwrap();
    stack.clock.advance(chrono::Duration::seconds(50));
    stack
        .worker
        .clone()
        .heartbeat_task(authorized(
            &worker,
            pb::HeartbeatTaskRequest {
                task_id: task.task_id.clone(),
                worker_id: "w1".into(),
                lease_seconds: 60,
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    stack.clock.advance(chrono::Duration::seconds(50));
    assert_eq!(
        workspace_service::queue::reap_expired(&stack.state)
            .await
            .unwrap(),
        0
    );
    let status = stack
        .complete(&worker, "w2", &task.task_id, serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        stack
            .complete(
                &worker,
                "w1",
                &task.task_id,
                serde_json::json!({"ok": true})
            )
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_retryable_failure_requeues_and_a_final_one_fails() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let fail = |retryable: bool| {
        let mut client = stack.worker.clone();
        let request = authorized(
            &worker,
            pb::FailTaskRequest {
                task_id: task.task_id.clone(),
                worker_id: "w".into(),
                error_message: "boom".into(),
                retryable,
            },
        );
        async move {
            client
                .fail_task(request)
                .await
                .map(|r| r.into_inner().task.unwrap())
        }
    };
    stack.claim(&worker, "w").await.unwrap();
    assert_eq!(fail(true).await.unwrap().status(), pb::TaskStatus::Pending);
    // The retry waits out its backoff (at most 2 s after a first attempt).
    stack.clock.advance(chrono::Duration::seconds(2));
    stack.claim(&worker, "w").await.unwrap().task.unwrap();
    let failed = fail(false).await.unwrap();
    assert_eq!(failed.status(), pb::TaskStatus::Failed);
    assert_eq!(failed.error_message, "boom");
}

#[tokio::test]
async fn watch_task_delivers_every_transition_until_terminal() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let mut stream = stack
        .tasks
        .clone()
        .watch_task(authorized(
            &ada.token,
            pb::WatchTaskRequest {
                task_id: task.task_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    async fn next(
        stream: &mut tonic::Streaming<pb::WatchTaskResponse>,
    ) -> Result<Option<pb::WatchTaskResponse>, tonic::Status> {
        tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("a state within 5 s")
    }
    assert_eq!(
        next(&mut stream)
            .await
            .unwrap()
            .unwrap()
            .task
            .unwrap()
            .status(),
        pb::TaskStatus::Pending
    );
    stack.claim(&worker, "w").await.unwrap();
    assert_eq!(
        next(&mut stream)
            .await
            .unwrap()
            .unwrap()
            .task
            .unwrap()
            .status(),
        pb::TaskStatus::Processing
    );
    stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(
        next(&mut stream)
            .await
            .unwrap()
            .unwrap()
            .task
            .unwrap()
            .status(),
        pb::TaskStatus::Completed
    );
    // Terminal: the stream ends.
    assert!(next(&mut stream).await.unwrap().is_none());
}

#[tokio::test]
async fn a_bad_lease_or_an_output_file_of_another_user_is_invalid_argument() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let eve = stack.user("eve@example.com").await;
    let eves_file = stack
        .upload(&eve.token, "eve.csv", vec![b"e".to_vec()])
        .await
        .unwrap();
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    for lease_seconds in [-1, 1, 4000] {
        let status = stack
            .worker
            .clone()
            .claim_task(authorized(
                &worker,
                pb::ClaimTaskRequest {
                    worker_id: "w".into(),
                    lease_seconds,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{lease_seconds}");
    }
    stack.claim(&worker, "w").await.unwrap();
    let status = stack
        .worker
        .clone()
        .complete_task(authorized(
            &worker,
            pb::CompleteTaskRequest {
                task_id: task.task_id.clone(),
                worker_id: "w".into(),
                output_file_id: eves_file.file_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // Nothing was half-written: the task is still the worker's to finish.
    assert_eq!(
        stack
            .get_task(&ada.token, &task.task_id)
            .await
            .unwrap()
            .status(),
        pb::TaskStatus::Processing
    );
    assert!(
        stack
            .complete(&worker, "w", &task.task_id, serde_json::json!({}))
            .await
            .is_ok()
    );
}
