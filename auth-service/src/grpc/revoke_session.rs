//! `RevokeSession`: ends one of the caller's sessions.

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::sessions::Session;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions;
use crate::state::AppState;

pub async fn revoke_session(
    state: &AppState,
    caller: &Claims,
    request: pb::RevokeSessionRequest,
    client: ClientInfo,
) -> Result<pb::RevokeSessionResponse> {
    // A malformed id names no session the caller has.
    let session_id =
        Uuid::parse_str(request.session_id.trim()).map_err(|_| Error::NotFound("session"))?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| -> Result<()> {
        let session = Session::find(conn, session_id)
            .await?
            .filter(|s| s.user_id == caller.sub && s.revoked_at.is_none())
            .ok_or(Error::NotFound("session"))?;
        sessions::revoke(conn, state, &[session.id], "revoked by the user", now).await?;
        Event::new(EventType::SessionRevoked, now)
            .user(caller.sub)
            .session(session.id)
            .client(&client)
            .reason("revoked by the user")
            .record(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(pb::RevokeSessionResponse {})
}
