//! `ListSessions`: the caller's live sessions.

use access::Claims;
use proto::auth::v1 as pb;

use crate::app::AppState;
use crate::db::sessions::Session;
use crate::error::Result;
use crate::grpc::convert;

pub async fn list_sessions(state: &AppState, caller: &Claims) -> Result<pb::ListSessionsResponse> {
    let mut conn = state.pool.get().await?;
    let sessions = Session::live_of_user(&mut conn, caller.sub, state.clock.now()).await?;
    Ok(pb::ListSessionsResponse {
        sessions: sessions
            .iter()
            .map(|s| convert::session(s, caller.sid))
            .collect(),
    })
}
