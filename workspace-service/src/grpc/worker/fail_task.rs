//! `FailTask`: the caller's task failed; a retryable failure queues it again
//! while attempts are left.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;

use crate::app::AppState;
use crate::db::tasks::{self, Task};
use crate::error::{Error, Result};
use crate::grpc::ids;

pub async fn fail_task(
    state: &AppState,
    request: pb::FailTaskRequest,
) -> Result<pb::FailTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let message = ids::text("error_message", &request.error_message, 10_000)?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let task = conn
        .transaction(async |conn| -> Result<Task> {
            let task = tasks::find_for_update(conn, id)
                .await?
                .ok_or(Error::NotFound("task"))?;
            super::holds(&task, &worker, now)?;
            Ok(crate::queue::end_attempt(conn, &task, &message, request.retryable, now).await?)
        })
        .await?;
    Ok(pb::FailTaskResponse {
        task: Some(crate::grpc::tasks::one_to_wire(&mut conn, &task).await?),
    })
}
