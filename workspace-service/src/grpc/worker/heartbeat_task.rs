//! `HeartbeatTask`: extends the caller's lease.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;

use crate::app::AppState;
use crate::db::tasks::{self, Changes};
use crate::error::{Error, Result};
use crate::grpc::convert::timestamp;
use crate::grpc::ids;

pub async fn heartbeat_task(
    state: &AppState,
    request: pb::HeartbeatTaskRequest,
) -> Result<pb::HeartbeatTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let now = state.clock.now();
    let lease = super::lease_end(state, request.lease_seconds, now)?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| -> Result<()> {
        let task = tasks::find_for_update(conn, id)
            .await?
            .ok_or(Error::NotFound("task"))?;
        super::holds(&task, &worker, now)?;
        let changes = Changes {
            lease_expires_at: Some(Some(lease)),
            ..Default::default()
        };
        tasks::transition(conn, &task, task.status(), changes, None, now).await?;
        Ok(())
    })
    .await?;
    Ok(pb::HeartbeatTaskResponse {
        lease_expires_at: Some(timestamp(lease)),
    })
}
