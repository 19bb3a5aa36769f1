//! `GetTaskStats`: the caller's tasks by status, from the counters.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::domain::task_state::Status;
use crate::error::Result;
use crate::state::AppState;

pub async fn get_task_stats(state: &AppState, user_id: Uuid) -> Result<pb::GetTaskStatsResponse> {
    let mut conn = state.pool.get().await?;
    let mut stats = pb::GetTaskStatsResponse::default();
    for (status, count) in Task::counts(&mut conn, user_id).await? {
        stats.total += count;
        match Status::parse(&status) {
            Some(Status::Draft) => stats.draft = count,
            Some(Status::Pending) => stats.pending = count,
            Some(Status::Processing) => stats.processing = count,
            Some(Status::Completed) => stats.completed = count,
            Some(Status::Failed) => stats.failed = count,
            Some(Status::Cancelled) => stats.cancelled = count,
            None => {}
        }
    }
    Ok(stats)
}
