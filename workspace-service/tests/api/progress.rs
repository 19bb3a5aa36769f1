//! Progress reports (coalesced, kept on the task, sent to watchers) and
//! cancellation reaching the worker.

use std::time::Duration;

use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_stack, spawn_stack_with};

fn progress(fraction: f64, message: &str) -> pb::TaskProgress {
    pb::TaskProgress {
        fraction,
        message: message.into(),
        ..Default::default()
    }
}

async fn next(stream: &mut tonic::Streaming<pb::WatchTaskResponse>) -> pb::Task {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a state within 5 s")
        .unwrap()
        .expect("the stream goes on")
        .task
        .unwrap()
}

async fn watch(
    stack: &crate::helpers::TestStack,
    token: &str,
    task_id: &str,
) -> tonic::Streaming<pb::WatchTaskResponse> {
    stack
        .tasks
        .clone()
        .watch_task(authorized(
            token,
            pb::WatchTaskRequest {
                task_id: task_id.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn progress_is_kept_on_the_task_and_each_change_reaches_the_watchers() {
    let stack = spawn_stack_with(|c| c.task_progress_flush = Duration::from_millis(20)).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let mut stream = watch(&stack, &ada.token, &task.task_id).await;
    assert_eq!(next(&mut stream).await.status(), pb::TaskStatus::Pending);
    stack.claim(&worker, "w").await.unwrap();
    assert_eq!(next(&mut stream).await.status(), pb::TaskStatus::Processing);
    for (fraction, message) in [(0.25, "sheet 1 of 4"), (0.5, "sheet 2 of 4")] {
        let mut report = progress(fraction, message);
        report.partial = Some(crate::helpers::json_value(&serde_json::json!({"rows": 10})));
        stack
            .heartbeat(&worker, "w", &task.task_id, Some(report))
            .await
            .unwrap();
        let seen = next(&mut stream).await;
        let shown = seen.progress.expect("the progress");
        assert_eq!(
            (shown.fraction, shown.message.as_str()),
            (fraction, message)
        );
        assert!(shown.partial.is_some() && shown.reported_at.is_some());
    }
    stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap();
    let last = next(&mut stream).await;
    assert_eq!(last.status(), pb::TaskStatus::Completed);
    assert_eq!(last.progress.unwrap().fraction, 0.5);
}

#[tokio::test]
async fn fifty_quick_heartbeats_make_one_progress_write() {
    // A flush interval longer than the test: the test flushes by hand.
    let stack = spawn_stack_with(|c| c.task_progress_flush = Duration::from_secs(60)).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    // The first flush happens when the flusher starts: let it pass.
    stack
        .state
        .progress
        .flush(&stack.state.pool, stack.state.clock.now())
        .await
        .unwrap();
    let updated_at = stack
        .get_task(&ada.token, &task.task_id)
        .await
        .unwrap()
        .updated_at;
    for i in 1..=50 {
        let response = stack
            .heartbeat(
                &worker,
                "w",
                &task.task_id,
                Some(progress(f64::from(i) / 50.0, "")),
            )
            .await
            .unwrap();
        assert!(!response.cancel_requested);
    }
    // Nothing written yet: the task shows no progress and has not changed.
    let unwritten = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert!(unwritten.progress.is_none());
    assert_eq!(unwritten.updated_at, updated_at);
    assert_eq!(
        stack
            .state
            .progress
            .flush(&stack.state.pool, stack.state.clock.now())
            .await
            .unwrap(),
        1
    );
    let shown = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(shown.progress.unwrap().fraction, 1.0);
    // Nothing left to write.
    assert_eq!(
        stack
            .state
            .progress
            .flush(&stack.state.pool, stack.state.clock.now())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_fraction_outside_zero_to_one_is_invalid_and_changes_nothing() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    for bad in [-0.1, 1.5, f64::NAN] {
        let status = stack
            .heartbeat(&worker, "w", &task.task_id, Some(progress(bad, "")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}");
    }
    stack
        .state
        .progress
        .flush(&stack.state.pool, stack.state.clock.now())
        .await
        .unwrap();
    assert!(
        stack
            .get_task(&ada.token, &task.task_id)
            .await
            .unwrap()
            .progress
            .is_none()
    );
}

#[tokio::test]
async fn a_cancellation_reaches_the_next_heartbeat_and_refuses_the_rest() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    let before = stack
        .heartbeat(&worker, "w", &task.task_id, None)
        .await
        .unwrap();
    assert!(!before.cancel_requested);
    stack.cancel(&ada.token, &task.task_id).await.unwrap();
    let after = stack
        .heartbeat(&worker, "w", &task.task_id, Some(progress(0.9, "almost")))
        .await
        .unwrap();
    assert!(after.cancel_requested);
    assert!(after.lease_expires_at.is_none());
    let upload = stack
        .upload_output(&worker, "w", &task.task_id, "late.md", vec![b"x".to_vec()])
        .await
        .unwrap_err();
    assert_eq!(upload.code(), Code::FailedPrecondition);
    assert!(
        upload.message().contains("cancelled"),
        "{}",
        upload.message()
    );
    let complete = stack
        .complete(&worker, "w", &task.task_id, serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(complete.code(), Code::FailedPrecondition);
    stack
        .state
        .progress
        .flush(&stack.state.pool, stack.state.clock.now())
        .await
        .unwrap();
    let task = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(task.status(), pb::TaskStatus::Cancelled);
    assert!(task.outputs.is_empty());
    assert!(
        task.progress.is_none(),
        "a report after the cancellation is not kept"
    );
    assert_eq!(
        task.attempts.last().unwrap().outcome(),
        pb::AttemptOutcome::Cancelled
    );
    // Another account's worker of the same name learns nothing.
    let other = stack.service_token(&["tasks.process"]).await;
    let status = stack
        .heartbeat(&other, "w", &task.task_id, None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}
