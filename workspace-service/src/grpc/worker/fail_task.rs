//! `FailTask`: the caller's task failed; a retryable failure queues it again
//! after a backoff while attempts are left. Either way the attempt's outputs
//! are removed.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::domain::ErrorMessage;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::queue::{Ended, Ending};
use crate::state::AppState;

pub async fn fail_task(
    state: &AppState,
    subject: Uuid,
    request: pb::FailTaskRequest,
) -> Result<pb::FailTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let holder = super::Holder {
        worker_id: &worker,
        subject,
    };
    let message = ErrorMessage::parse(&request.error_message)?.into_inner();
    let ending = if request.retryable {
        Ending::Retryable
    } else {
        Ending::Final
    };
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let Ended { task, freed } = conn
        .transaction(async |conn| -> Result<Ended> {
            let task = Task::find_for_update(conn, id)
                .await?
                .ok_or(Error::NotFound("task"))?;
            super::holds(&task, holder, now)?;
            state.progress.take(task.id);
            let backoff = state.config.task_backoff;
            Ok(crate::queue::end_attempt(conn, &task, &message, ending, &backoff, now).await?)
        })
        .await?;
    if task.status() == crate::domain::task_state::Status::Pending {
        state
            .metrics
            .retried(&task.kind, crate::metrics::RetryReason::Failed);
    }
    crate::blobs::free_all(state, &freed).await;
    Ok(pb::FailTaskResponse {
        task: Some(crate::grpc::tasks::one_to_wire(&mut conn, &task).await?),
    })
}
