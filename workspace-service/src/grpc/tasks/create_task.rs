//! `CreateTask`: queues a task on some of the caller's files.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::files;
use crate::db::tasks::{NewTask, Task};
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::grpc::ids;

pub async fn create_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::CreateTaskRequest,
) -> Result<pb::CreateTaskResponse> {
    let query = ids::text("query", &request.query, crate::grpc::MAX_QUERY_CHARS)?;
    let file_ids = ids::parse_list("file_ids", &request.file_ids)?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let task = conn
        .transaction(async |conn| -> Result<Task> {
            if files::owned_by(conn, user_id, &file_ids).await?.len() != file_ids.len() {
                return Err(Error::NotFound("file"));
            }
            Ok(NewTask {
                id: Uuid::now_v7(),
                user_id,
                query: &query,
                status: Status::Pending.as_str(),
                max_attempts: state.config.task_max_attempts,
                turn_id: None,
                created_at: now,
                updated_at: now,
            }
            .insert(conn, &file_ids)
            .await?)
        })
        .await?;
    Ok(pb::CreateTaskResponse {
        task: Some(super::one_to_wire(&mut conn, &task).await?),
    })
}
