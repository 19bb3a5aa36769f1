//! `GetStats`: the caller's counts.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::error::Result;
use crate::state::AppState;

pub async fn get_stats(state: &AppState, user_id: Uuid) -> Result<pb::GetStatsResponse> {
    let mut conn = state.pool.get().await?;
    Ok(pb::GetStatsResponse {
        stats: Some(super::usage(&mut conn, Some(user_id)).await?),
    })
}
