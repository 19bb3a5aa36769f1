//! `Logout`: ends the caller's current session.

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::audit::{Event, EventType};
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions;
use crate::state::AppState;

pub async fn logout(
    state: &AppState,
    caller: &Claims,
    client: ClientInfo,
) -> Result<pb::LogoutResponse> {
    let session_id = caller
        .sid
        .ok_or(Error::FailedPrecondition("this token has no session"))?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| -> Result<()> {
        sessions::revoke(conn, state, &[session_id], "logout", now).await?;
        Event::new(EventType::Logout, now)
            .user(caller.sub)
            .session(session_id)
            .client(&client)
            .record(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(pb::LogoutResponse {})
}
