//! `DeleteTask`: removes a finished task or a draft with its outputs; a
//! pending or processing one must be cancelled first, and a turn's task
//! goes with its conversation.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::tasks;
use crate::db::tasks::Task;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn delete_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::DeleteTaskRequest,
) -> Result<pb::DeleteTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let mut conn = state.pool.get().await?;
    let freed = conn
        .transaction(async |conn| -> Result<Vec<String>> {
            let task = Task::find_for_update(conn, id)
                .await?
                .filter(|t| t.user_id == user_id)
                .ok_or(Error::NotFound("task"))?;
            if !task.status().is_deletable() {
                return Err(Error::FailedPrecondition(format!(
                    "the task is {}: cancel it before deleting it",
                    task.status().as_str()
                )));
            }
            if task.turn_id.is_some() {
                return Err(Error::FailedPrecondition(
                    "the task processes a conversation turn: delete the conversation instead"
                        .to_owned(),
                ));
            }
            Ok(tasks::Task::delete_with_outputs(conn, &task).await?)
        })
        .await?;
    crate::blobs::free_all(state, &freed).await;
    Ok(pb::DeleteTaskResponse {})
}
