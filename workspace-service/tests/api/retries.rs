//! Retries wait out an exponential backoff (on the service's clock), and
//! every attempt is kept with how it ended.

use proto::workspace::v1 as pb;

use crate::helpers::spawn_stack_with;

fn millis(ms: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(ms)
}

#[tokio::test]
async fn a_retryable_failure_waits_out_a_growing_backoff() {
    let stack = spawn_stack_with(|c| {
        c.task_backoff.base = std::time::Duration::from_secs(2);
        c.task_backoff.max = std::time::Duration::from_secs(60);
        c.task_max_attempts = 3;
    })
    .await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    // After attempt n the wait is between half and all of 2 s · 2^(n-1).
    for (attempt, ceiling_ms) in [(1, 2000), (2, 4000)] {
        let claimed = stack.claim(&worker, "w").await.unwrap().task.unwrap();
        assert_eq!(claimed.attempt, attempt);
        let failed = stack.fail(&worker, "w", &task.task_id, true).await.unwrap();
        assert_eq!(failed.status(), pb::TaskStatus::Pending);
        let run_after = failed
            .run_after
            .expect("a pending task says when it may run");
        let now = stack.clock.now().timestamp_millis();
        let wait = run_after.seconds * 1000 + i64::from(run_after.nanos) / 1_000_000 - now;
        assert!(
            (ceiling_ms / 2..=ceiling_ms).contains(&wait),
            "waits {wait} ms"
        );
        // Not a moment before.
        stack.clock.advance(millis(wait - 1));
        assert!(stack.claim(&worker, "w").await.unwrap().task.is_none());
        stack.clock.advance(millis(2));
    }
    // The third attempt is the last: a failure now is final.
    stack.claim(&worker, "w").await.unwrap().task.unwrap();
    let failed = stack.fail(&worker, "w", &task.task_id, true).await.unwrap();
    assert_eq!(failed.status(), pb::TaskStatus::Failed);
    let outcomes: Vec<pb::AttemptOutcome> = failed.attempts.iter().map(|a| a.outcome()).collect();
    assert_eq!(
        outcomes,
        [
            pb::AttemptOutcome::Requeued,
            pb::AttemptOutcome::Requeued,
            pb::AttemptOutcome::Failed
        ]
    );
    assert!(
        failed
            .attempts
            .iter()
            .all(|a| a.error_message == "boom" && a.worker_id == "w")
    );
    assert_eq!(
        failed.attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[tokio::test]
async fn an_expired_lease_is_retried_after_the_backoff_and_recorded() {
    let stack =
        spawn_stack_with(|c| c.task_backoff.base = std::time::Duration::from_secs(10)).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w").await.unwrap().task.unwrap();
    stack.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        workspace_service::queue::reap_expired(&stack.state)
            .await
            .unwrap(),
        1
    );
    assert!(stack.claim(&worker, "w2").await.unwrap().task.is_none());
    stack.clock.advance(chrono::Duration::seconds(10));
    let again = stack.claim(&worker, "w2").await.unwrap().task.unwrap();
    assert_eq!(again.task_id, task.task_id);
    assert_eq!(
        again.attempts[0].outcome(),
        pb::AttemptOutcome::LeaseExpired
    );
    assert_eq!(again.attempts[0].worker_id, "w");
    assert_eq!(again.attempts[1].outcome(), pb::AttemptOutcome::Unspecified);
    assert!(again.attempts[1].ended_at.is_none());
}

#[tokio::test]
async fn an_owners_retry_starts_at_once_with_all_its_attempts() {
    let stack = spawn_stack_with(|c| c.task_max_attempts = 1).await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack.claim(&worker, "w").await.unwrap();
    let failed = stack.fail(&worker, "w", &task.task_id, true).await.unwrap();
    assert_eq!(failed.status(), pb::TaskStatus::Failed);
    stack
        .tasks
        .clone()
        .retry_task(crate::helpers::authorized(
            &ada.token,
            pb::RetryTaskRequest {
                task_id: task.task_id.clone(),
            },
        ))
        .await
        .unwrap();
    let again = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert_eq!(again.attempt, 1);
    // The history goes on across the owner's retry.
    assert_eq!(again.attempts.len(), 2);
}
