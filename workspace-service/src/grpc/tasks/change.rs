//! The owner's transitions: cancel and retry share their shape.

use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::tasks::{self, Changes, Task};
use crate::domain::task_state::Action;
use crate::error::{Error, Result};
use crate::grpc::ids;

/// Applies `action` to the caller's task `raw_id`.
pub async fn apply(
    state: &AppState,
    user_id: Uuid,
    raw_id: &str,
    action: Action,
) -> Result<proto::workspace::v1::Task> {
    let id = ids::parse_resource("task", raw_id)?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let task = conn
        .transaction(async |conn| -> Result<Task> {
            let task = tasks::find_for_update(conn, id)
                .await?
                .filter(|t| t.user_id == user_id)
                .ok_or(Error::NotFound("task"))?;
            let to = task.status().after(action).map_err(Error::Transition)?;
            let changes = match action {
                // The lease ends with the cancellation: a worker still on it
                // gets FAILED_PRECONDITION when it reports.
                Action::Cancel => Changes {
                    worker_id: Some(None),
                    lease_expires_at: Some(None),
                    completed_at: Some(Some(now)),
                    ..Default::default()
                },
                // A retry starts afresh, with all its attempts.
                Action::Retry => Changes {
                    attempt: Some(0),
                    error_message: Some(None),
                    completed_at: Some(None),
                    ..Default::default()
                },
                _ => Changes::default(),
            };
            Ok(tasks::transition(conn, &task, to, changes, None, now).await?)
        })
        .await?;
    super::one_to_wire(&mut conn, &task).await
}
