//! `CancelTask`: pending or processing → cancelled.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::domain::task_state::Action;
use crate::error::Result;
use crate::state::AppState;

pub async fn cancel_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::CancelTaskRequest,
) -> Result<pb::CancelTaskResponse> {
    let task = super::change::apply(state, user_id, &request.task_id, Action::Cancel).await?;
    Ok(pb::CancelTaskResponse { task: Some(task) })
}
