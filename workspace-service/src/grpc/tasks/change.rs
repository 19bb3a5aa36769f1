//! The owner's transitions: start, cancel and retry share their shape.

use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::db::tasks::TaskFile;
use crate::db::tasks::attempts::Attempt;
use crate::db::tasks::attempts::Outcome;
use crate::db::tasks::{Changes, Task};
use crate::domain::task_state::{Action, Status};
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

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
    let (task, freed) = conn
        .transaction(async |conn| -> Result<(Task, Vec<String>)> {
            let task = Task::find_for_update(conn, id)
                .await?
                .filter(|t| t.user_id == user_id)
                .ok_or(Error::NotFound("task"))?;
            let to = task.status().after(action).map_err(Error::Transition)?;
            if to == Status::Pending {
                super::create_task::check_limits(
                    conn,
                    state,
                    user_id,
                    super::create_task::Admit::Queue,
                )
                .await?;
            }
            let mut freed = Vec::new();
            let changes = match action {
                // The lease ends with the cancellation, but the worker's name
                // stays: its next heartbeat learns of the cancellation, and
                // its outputs and completion are refused. What it uploaded
                // so far is removed.
                Action::Cancel => {
                    Attempt::end(conn, task.id, Outcome::Cancelled, None, now).await?;
                    freed = TaskFile::discard_outputs(conn, task.id).await?;
                    state.progress.take(task.id);
                    Changes {
                        lease_expires_at: Some(None),
                        completed_at: Some(Some(now)),
                        ..Default::default()
                    }
                }
                // A retry starts afresh, with all its attempts, at once.
                Action::Retry => Changes {
                    attempt: Some(0),
                    error_message: Some(None),
                    completed_at: Some(None),
                    worker_id: Some(None),
                    worker_subject: Some(None),
                    progress: Some(None),
                    run_after: Some(now),
                    ..Default::default()
                },
                // A draft is queued now.
                Action::Start => Changes {
                    run_after: Some(now),
                    ..Default::default()
                },
                _ => Changes::default(),
            };
            let task = Task::transition(conn, &task, to, changes, None, now).await?;
            Ok((task, freed))
        })
        .await?;
    crate::blobs::free_all(state, &freed).await;
    super::one_to_wire(&mut conn, &task).await
}
