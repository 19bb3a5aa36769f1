//! `RevokeOtherSessions`: ends every session of the caller but the current
//! one ("sign out everywhere else").

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::audit::{Event, EventType};
use crate::db::sessions::Session;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions;
use crate::state::AppState;

pub async fn revoke_other_sessions(
    state: &AppState,
    caller: &Claims,
    client: ClientInfo,
) -> Result<pb::RevokeOtherSessionsResponse> {
    let current = caller.sid.ok_or(Error::FailedPrecondition(
        "this token belongs to no session",
    ))?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let revoked = conn
        .transaction(async |conn| -> Result<usize> {
            let others = Session::unrevoked_ids_of_user(conn, caller.sub, Some(current)).await?;
            let revoked =
                sessions::revoke(conn, state, &others, "signed out everywhere else", now).await?;
            for session in &revoked {
                Event::new(EventType::SessionRevoked, now)
                    .user(caller.sub)
                    .session(*session)
                    .client(&client)
                    .reason("signed out everywhere else")
                    .record(conn)
                    .await?;
            }
            Ok(revoked.len())
        })
        .await?;
    Ok(pb::RevokeOtherSessionsResponse {
        revoked_sessions: i32::try_from(revoked).unwrap_or(i32::MAX),
    })
}
