//! The queue's housekeeping: an attempt that ends without a result (a failure
//! reported by the worker, or a lease that ran out) sends the task back to
//! pending while attempts are left, and to failed after that.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::app::AppState;
use crate::db::tasks::{self, Changes, Task, TurnResult};
use crate::domain::task_state::{Action, Status};

/// Ends the current attempt of `task` (locked, processing) with `message`.
pub async fn end_attempt(
    conn: &mut AsyncPgConnection,
    task: &Task,
    message: &str,
    retryable: bool,
    now: DateTime<Utc>,
) -> diesel::QueryResult<Task> {
    let requeue = retryable && task.attempt < task.max_attempts;
    let action = if requeue {
        Action::Requeue
    } else {
        Action::Fail
    };
    let to = task.status().after(action).unwrap_or(Status::Failed);
    let changes = Changes {
        error_message: Some(Some(message.to_owned())),
        worker_id: Some(None),
        lease_expires_at: Some(None),
        completed_at: Some((to == Status::Failed).then_some(now)),
        ..Default::default()
    };
    let turn_result = (to == Status::Failed).then(|| TurnResult {
        errors: Some(serde_json::json!([message])),
        ..Default::default()
    });
    tasks::transition(conn, task, to, changes, turn_result, now).await
}

/// Ends the attempts whose lease ran out; returns how many.
pub async fn reap_expired(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let reaped = conn
        .transaction(async |conn| -> diesel::QueryResult<usize> {
            let expired = tasks::expired_leases(conn, now, 100).await?;
            for task in &expired {
                end_attempt(conn, task, "the worker's lease ran out", true, now).await?;
            }
            Ok(expired.len())
        })
        .await?;
    if reaped > 0 {
        tracing::warn!(
            count = reaped,
            "tasks whose lease ran out were requeued or failed"
        );
    }
    Ok(reaped)
}

/// Reaps expired leases every `interval` until the service drains.
pub fn spawn_reaper(state: AppState, interval: Duration) {
    tokio::spawn(async move {
        let drained = crate::app::drained(state.draining.clone());
        tokio::pin!(drained);
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(e) = reap_expired(&state).await {
                        tracing::warn!(error = ?e, "reaping expired leases failed");
                    }
                }
                () = &mut drained => return,
            }
        }
    });
}
