//! `ListTopUsers`: a leaderboard by tasks, files or storage.

use proto::workspace::v1 as pb;

use crate::db::stats::Metric;
use crate::db::stats::System;
use crate::error::{Error, Result};
use crate::state::AppState;

pub async fn list_top_users(
    state: &AppState,
    request: pb::ListTopUsersRequest,
) -> Result<pb::ListTopUsersResponse> {
    let metric = match pb::TopUsersMetric::try_from(request.metric) {
        Ok(pb::TopUsersMetric::Unspecified | pb::TopUsersMetric::Tasks) => Metric::Tasks,
        Ok(pb::TopUsersMetric::Files) => Metric::Files,
        Ok(pb::TopUsersMetric::Storage) => Metric::Storage,
        Err(_) => return Err(Error::invalid("metric", "must be tasks, files or storage")),
    };
    let limit = match request.limit {
        0 => 10,
        n if n < 0 => return Err(Error::invalid("limit", "must not be negative")),
        n => i64::from(n.min(100)),
    };
    let mut conn = state.pool.get().await?;
    let users = System::top_users(&mut conn, metric, limit).await?;
    Ok(pb::ListTopUsersResponse {
        users: users
            .into_iter()
            .map(|(user_id, value)| pb::TopUser {
                user_id: user_id.to_string(),
                value,
            })
            .collect(),
    })
}
