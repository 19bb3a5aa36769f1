//! `ListSessions`: the caller's live sessions and known devices.

use access::Claims;
use proto::auth::v1 as pb;

use crate::db::devices::Device;
use crate::db::sessions::Session;
use crate::error::Result;
use crate::grpc::convert;
use crate::state::AppState;

pub async fn list_sessions(state: &AppState, caller: &Claims) -> Result<pb::ListSessionsResponse> {
    let mut conn = state.pool.get().await?;
    let now = state.clock.now();
    let sessions = Session::live_of_user(&mut conn, caller.sub, now).await?;
    let devices = Device::live_of_user(&mut conn, caller.sub, now).await?;
    Ok(pb::ListSessionsResponse {
        devices: devices.iter().map(convert::device).collect(),
        sessions: sessions
            .iter()
            .map(|s| convert::session(s, caller.sid))
            .collect(),
    })
}
