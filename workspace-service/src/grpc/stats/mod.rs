//! `workspace.v1.StatsService` and `workspace.v1.WorkspaceAdminService`:
//! the caller's counts, and the system's for superusers (the access rule in
//! the proto keeps everyone else out).

pub mod api;
mod get_stats;
mod get_system_stats;
mod get_user_stats;
mod list_top_users;

use diesel_async::AsyncPgConnection;
use proto::workspace::v1::{self as pb};
use uuid::Uuid;

use crate::db::stats::Usage;
use crate::db::tasks::Task;
use crate::domain::task_state::Status;

/// Task counts as the wire shows them.
fn task_counts(counts: &[(String, i64)]) -> pb::TaskCounts {
    let mut wire = pb::TaskCounts::default();
    for (status, count) in counts {
        wire.total += count;
        match Status::parse(status) {
            Some(Status::Draft) => wire.draft += count,
            Some(Status::Pending) => wire.pending += count,
            Some(Status::Processing) => wire.processing += count,
            Some(Status::Completed) => wire.completed += count,
            Some(Status::Failed) => wire.failed += count,
            Some(Status::Cancelled) => wire.cancelled += count,
            None => {}
        }
    }
    wire
}

/// The usage of one user, or of everyone.
async fn usage(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
) -> crate::error::Result<pb::UsageStats> {
    let usage = Usage::of(conn, user_id).await?;
    let counts = match user_id {
        Some(user_id) => Task::counts(conn, user_id).await?,
        None => Usage::task_counts(conn).await?,
    };
    Ok(pb::UsageStats {
        files: usage.files,
        bytes_stored: usage.bytes_stored,
        conversations: usage.conversations,
        turns: usage.turns,
        completed_turns: usage.completed_turns,
        tasks: Some(task_counts(&counts)),
    })
}
