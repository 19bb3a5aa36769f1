//! `RetryTask`: failed or cancelled → pending.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::domain::task_state::Action;
use crate::error::Result;
use crate::state::AppState;

pub async fn retry_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::RetryTaskRequest,
) -> Result<pb::RetryTaskResponse> {
    let task = super::change::apply(state, user_id, &request.task_id, Action::Retry).await?;
    Ok(pb::RetryTaskResponse { task: Some(task) })
}
