//! `GetTask`: one of the caller's tasks.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn get_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::GetTaskRequest,
) -> Result<pb::GetTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let mut conn = state.pool.get().await?;
    let task = Task::find_for_user(&mut conn, id, user_id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    Ok(pb::GetTaskResponse {
        task: Some(super::one_to_wire(&mut conn, &task).await?),
    })
}
