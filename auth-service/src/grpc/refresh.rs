//! `Refresh`: rotates the refresh token.
//!
//! The token presented is spent and a new pair is issued. A spent token
//! presented again is reuse (OAuth 2.0 Security BCP, RFC 9700 §4.14): someone
//! holds a copy, so the whole session is revoked at once. Honest clients that
//! retry after a lost response, or refresh from two tabs, can be forgiven by
//! `REFRESH_REUSE_GRACE_SECS`: within it, a second use of a spent token gets
//! a fresh pair instead. Either way the reuse is audited. The token row is
//! locked while this runs, so two concurrent uses are decided in turn: with
//! the default strict setting exactly one of them succeeds.

use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::app::AppState;
use crate::audit::{Event, EventType};
use crate::db::refresh_tokens::RefreshToken;
use crate::db::sessions::Session;
use crate::db::users::User;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions::{self, IssuedRefresh};
use crate::tokens;

const INVALID: &str = "invalid or expired refresh token";

enum Outcome {
    Issued(Box<User>, IssuedRefresh),
    /// Reuse outside the grace window: the session was revoked (committed).
    Revoked,
}

pub async fn refresh(
    state: &AppState,
    request: pb::RefreshRequest,
    client: ClientInfo,
) -> Result<pb::RefreshResponse> {
    let token = request.refresh_token.trim();
    if token.is_empty() || token.len() > 256 {
        return Err(Error::Unauthenticated(INVALID));
    }
    let hash = tokens::hash_secret(token);
    let now = state.clock.now();
    let grace = chrono::Duration::from_std(state.config.refresh_reuse_grace)
        .map_err(anyhow::Error::from)?;

    let mut conn = state.pool.get().await?;
    let outcome = conn
        .transaction(async |conn| -> Result<Outcome> {
            let presented = RefreshToken::find_for_update(conn, &hash)
                .await?
                .ok_or(Error::Unauthenticated(INVALID))?;
            let session = Session::find(conn, presented.session_id)
                .await?
                .ok_or(Error::Unauthenticated(INVALID))?;
            if session.revoked_at.is_some()
                || presented.expires_at <= now
                || session.expires_at <= now
            {
                return Err(Error::Unauthenticated(INVALID));
            }
            let user = User::find(conn, session.user_id)
                .await?
                .ok_or(Error::Unauthenticated(INVALID))?;
            if !user.is_active {
                return Err(Error::Unauthenticated(INVALID));
            }
            let event = |event_type| {
                Event::new(event_type, now)
                    .user(user.id)
                    .session(session.id)
                    .client(&client)
            };
            if let Some(spent_at) = presented.spent_at {
                if now - spent_at <= grace {
                    let issued = sessions::issue_refresh(conn, state, session.id, now).await?;
                    event(EventType::RefreshReuse)
                        .reason("within the grace window: new pair issued")
                        .record(conn)
                        .await?;
                    return Ok(Outcome::Issued(Box::new(user), issued));
                }
                sessions::revoke(conn, state, &[session.id], "refresh token reuse", now).await?;
                event(EventType::RefreshReuse)
                    .reason("session revoked")
                    .record(conn)
                    .await?;
                return Ok(Outcome::Revoked);
            }
            let issued = sessions::issue_refresh(conn, state, session.id, now).await?;
            RefreshToken::spend(conn, presented.id, issued.id, now).await?;
            event(EventType::Refresh).record(conn).await?;
            Ok(Outcome::Issued(Box::new(user), issued))
        })
        .await?;
    match outcome {
        Outcome::Issued(user, issued) => Ok(pb::RefreshResponse {
            token_pair: Some(sessions::token_pair(state, &user, issued, now)?),
        }),
        Outcome::Revoked => {
            tracing::warn!("refresh token reuse: session revoked");
            Err(Error::Unauthenticated(
                "refresh token reuse detected: the session was revoked",
            ))
        }
    }
}
