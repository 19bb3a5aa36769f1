//! `ClaimTask`: the oldest pending task, leased to the caller.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;

use crate::app::AppState;
use crate::db::tasks;
use crate::error::Result;
use crate::grpc::convert::timestamp;

pub async fn claim_task(
    state: &AppState,
    request: pb::ClaimTaskRequest,
) -> Result<pb::ClaimTaskResponse> {
    let worker = super::worker_id(&request.worker_id)?;
    let now = state.clock.now();
    let lease = super::lease_end(state, request.lease_seconds, now)?;
    let mut conn = state.pool.get().await?;
    let claimed = conn
        .transaction(async |conn| {
            Ok::<_, crate::error::Error>(tasks::claim(conn, &worker, lease, now).await?)
        })
        .await?;
    let Some(task) = claimed else {
        return Ok(pb::ClaimTaskResponse::default());
    };
    tracing::info!(task_id = %task.id, worker = %worker, attempt = task.attempt, "task claimed");
    Ok(pb::ClaimTaskResponse {
        task: Some(crate::grpc::tasks::one_to_wire(&mut conn, &task).await?),
        lease_expires_at: Some(timestamp(lease)),
    })
}
