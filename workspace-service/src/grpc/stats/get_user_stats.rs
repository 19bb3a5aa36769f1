//! `GetUserStats`: one user's counts, for superusers.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::state::AppState;

pub async fn get_user_stats(
    state: &AppState,
    request: pb::GetUserStatsRequest,
) -> Result<pb::GetUserStatsResponse> {
    // Users live in the auth-service: an unknown id simply has nothing here.
    let user_id = Uuid::parse_str(request.user_id.trim())
        .map_err(|_| Error::invalid("user_id", "is not a UUID"))?;
    let mut conn = state.pool.get().await?;
    Ok(pb::GetUserStatsResponse {
        stats: Some(super::usage(&mut conn, Some(user_id)).await?),
    })
}
