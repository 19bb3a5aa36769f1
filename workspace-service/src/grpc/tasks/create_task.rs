//! `CreateTask`: queues a task (or keeps a draft) on some of the caller's
//! files, within the caller's task limits; a retry with the same
//! `request_id` returns the first call's task.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::files::File;
use crate::db::request_ids::{Claimed, RequestKey};
use crate::db::tasks::{NewTask, Task};
use crate::domain::Query;
use crate::domain::kind::Kind;
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn create_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::CreateTaskRequest,
) -> Result<pb::CreateTaskResponse> {
    let query = Query::parse(&request.query)?.into_inner();
    let file_ids = ids::parse_list("file_ids", &request.file_ids)?;
    let kind = Kind::parse(&request.kind).map_err(|why| Error::invalid("kind", why))?;
    let start = request.start.unwrap_or(true);
    let status = if start {
        Status::Pending
    } else {
        Status::Draft
    };
    let key = ids::request_id(&request.request_id)?.map(|id| {
        let mut sorted = file_ids.clone();
        sorted.sort();
        RequestKey::new(
            user_id,
            id,
            "CreateTask",
            &(&query, &sorted, kind.as_str(), start),
        )
    });
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let mut conn = state.pool.get().await?;
    let task = conn
        .transaction(async |conn| -> Result<Task> {
            if let Some(key) = &key {
                match RequestKey::claim(conn, key, id, now).await? {
                    Claimed::Fresh => {}
                    Claimed::Replay(id) => {
                        return Task::find_for_user(conn, id, user_id)
                            .await?
                            .ok_or(Error::NotFound("task"));
                    }
                    Claimed::Mismatch => return Err(ids::request_id_reused()),
                }
            }
            if File::owned_by(conn, user_id, &file_ids).await?.len() != file_ids.len() {
                return Err(Error::NotFound("file"));
            }
            check_limits(conn, state, user_id, Admit::Create(status)).await?;
            Ok(NewTask {
                id,
                user_id,
                query: &query,
                kind: kind.as_str(),
                status: status.as_str(),
                max_attempts: state.config.task_max_attempts,
                turn_id: None,
                created_at: now,
                updated_at: now,
                run_after: now,
            }
            .insert(conn, &file_ids)
            .await?)
        })
        .await?;
    Ok(pb::CreateTaskResponse {
        task: Some(super::one_to_wire(&mut conn, &task).await?),
    })
}

/// What is asked of the caller's task limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// A new task with this status.
    Create(Status),
    /// An existing task (a draft, a failed or cancelled one) queued.
    Queue,
}

/// Refuses what `admit` asks over the caller's limits (all tasks, and
/// pending ones). The caller's task counters are read under their locks, so
/// concurrent creations are counted one after the other.
pub async fn check_limits(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user_id: Uuid,
    admit: Admit,
) -> Result<()> {
    let (total, pending) = Task::lock_counts(conn, user_id).await?;
    let max_tasks = state.config.max_tasks_per_user;
    if matches!(admit, Admit::Create(_)) && max_tasks > 0 && total >= max_tasks {
        return Err(Error::Quota {
            subject: "tasks",
            description: format!(
                "a user may have at most {max_tasks} tasks: delete finished ones first"
            ),
        });
    }
    let queued = matches!(admit, Admit::Queue | Admit::Create(Status::Pending));
    let max_pending = state.config.max_pending_tasks_per_user;
    if queued && max_pending > 0 && pending >= max_pending {
        return Err(Error::Quota {
            subject: "pending_tasks",
            description: format!(
                "a user may have at most {max_pending} tasks waiting at once: wait for some to start"
            ),
        });
    }
    Ok(())
}
