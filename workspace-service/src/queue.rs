//! The queue's housekeeping: an attempt that ends without a result (a failure
//! reported by the worker, a lease that ran out, a cancellation) takes its
//! outputs with it, and sends the task back to pending after a backoff while
//! attempts are left, or to failed after that.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::db::tasks::TaskFile;
use crate::db::tasks::attempts::Attempt;
use crate::db::tasks::attempts::Outcome;
use crate::db::tasks::{Changes, Task, TurnResult};
use crate::domain::backoff::Backoff;
use crate::domain::task_state::{Action, Status};
use crate::state::AppState;

/// Why an attempt ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The worker reported a failure it says another attempt may not have.
    Final,
    /// The worker reported a failure another attempt may not have.
    Retryable,
    /// The lease ran out.
    LeaseExpired,
}

/// What ending an attempt did: the task after it, and the contents its
/// discarded outputs used (to free once the transaction commits).
#[derive(Debug)]
pub struct Ended {
    pub task: Task,
    pub freed: Vec<String>,
}

/// Ends the current attempt of `task` (locked, processing) with `message`.
pub async fn end_attempt(
    conn: &mut AsyncPgConnection,
    task: &Task,
    message: &str,
    ending: Ending,
    backoff: &Backoff,
    now: DateTime<Utc>,
) -> diesel::QueryResult<Ended> {
    let requeue = ending != Ending::Final && task.attempt < task.max_attempts;
    let action = if requeue {
        Action::Requeue
    } else {
        Action::Fail
    };
    let to = task.status().after(action).unwrap_or(Status::Failed);
    let outcome = match (ending, requeue) {
        (Ending::LeaseExpired, _) => Outcome::LeaseExpired,
        (_, true) => Outcome::Requeued,
        (_, false) => Outcome::Failed,
    };
    Attempt::end(conn, task.id, outcome, Some(message), now).await?;
    let freed = TaskFile::discard_outputs(conn, task.id).await?;
    let delay = backoff.delay(task.attempt, rand::random::<f64>());
    let changes = Changes {
        error_message: Some(Some(message.to_owned())),
        worker_id: Some(None),
        worker_subject: Some(None),
        lease_expires_at: Some(None),
        completed_at: Some((to == Status::Failed).then_some(now)),
        run_after: requeue.then(|| now + chrono::Duration::from_std(delay).unwrap_or_default()),
        ..Default::default()
    };
    let turn_result = (to == Status::Failed).then(|| TurnResult {
        errors: Some(serde_json::json!([message])),
        ..Default::default()
    });
    let task = Task::transition(conn, task, to, changes, turn_result, now).await?;
    Ok(Ended { task, freed })
}

/// Ends the attempts whose lease ran out; returns how many.
pub async fn reap_expired(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let backoff = state.config.task_backoff;
    let mut conn = state.pool.get().await?;
    let (reaped, freed, requeued) = conn
        .transaction(
            async |conn| -> diesel::QueryResult<(usize, Vec<String>, Vec<String>)> {
                let expired = Task::expired_leases(conn, now, 100).await?;
                let (mut freed, mut requeued) = (Vec::new(), Vec::new());
                for task in &expired {
                    let ended = end_attempt(
                        conn,
                        task,
                        "the worker's lease ran out",
                        Ending::LeaseExpired,
                        &backoff,
                        now,
                    )
                    .await?;
                    freed.extend(ended.freed);
                    if ended.task.status() == Status::Pending {
                        requeued.push(task.kind.clone());
                    }
                }
                Ok((expired.len(), freed, requeued))
            },
        )
        .await?;
    for kind in &requeued {
        state
            .metrics
            .retried(kind, crate::metrics::RetryReason::LeaseExpired);
    }
    drop(conn);
    crate::blobs::free_all(state, &freed).await;
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
    let on_drain = service_runtime::shutdown::OnDrain::Stop;
    service_runtime::shutdown::spawn_every(
        state.draining.clone(),
        state,
        interval,
        on_drain,
        |state| async move {
            if let Err(e) = reap_expired(&state).await {
                tracing::warn!(error = ?e, "reaping expired leases failed");
            }
        },
    );
}
