//! `StartTask`: draft → pending, within the caller's pending limit.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::domain::task_state::Action;
use crate::error::Result;
use crate::state::AppState;

pub async fn start_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::StartTaskRequest,
) -> Result<pb::StartTaskResponse> {
    let task = super::change::apply(state, user_id, &request.task_id, Action::Start).await?;
    Ok(pb::StartTaskResponse { task: Some(task) })
}
