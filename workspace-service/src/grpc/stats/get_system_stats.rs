//! `GetSystemStats`: totals and the last 24 hours, for superusers.

use proto::workspace::v1 as pb;

use crate::db::stats::System;
use crate::error::Result;
use crate::state::AppState;

pub async fn get_system_stats(state: &AppState) -> Result<pb::GetSystemStatsResponse> {
    let since = state.clock.now() - chrono::Duration::hours(24);
    let mut conn = state.pool.get().await?;
    let totals = super::usage(&mut conn, None).await?;
    let system = System::since(&mut conn, since).await?;
    Ok(pb::GetSystemStatsResponse {
        totals: Some(totals),
        users: system.users,
        bytes_deduplicated: system.bytes_deduplicated,
        last_24_hours: Some(pb::Activity {
            active_users: system.active_users,
            files_uploaded: system.files_uploaded,
            conversations_started: system.conversations_started,
            turns_created: system.turns_created,
            tasks_created: system.tasks_created,
            tasks_completed: system.tasks_completed,
        }),
    })
}
