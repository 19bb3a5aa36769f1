//! `Refresh`: rotates the refresh token.
//!
//! The token presented is spent and a new pair is issued. A spent token
//! presented again is reuse (OAuth 2.0 Security BCP, RFC 9700 §4.14): someone
//! holds a copy, so the whole session is revoked at once. Honest clients that
//! retry after a lost response, or refresh from two tabs, can be forgiven by
//! `REFRESH_REUSE_GRACE_SECS`: within it, a second use of a spent token gets
//! a fresh pair instead, and the pair issued before is spent in the same
//! step, so one chain lives on, never two. Either way the reuse is audited.
//!
//! The token row is locked while this runs, and the time is read only once
//! the lock is held, so two concurrent uses are decided in turn against the
//! time each was decided at: with the default strict setting exactly one of
//! them succeeds. (Read before the lock, the loser's time could precede the
//! winner's and pass as "no time since it was spent".)

use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::audit::{Event, EventType};
use crate::db::refresh_tokens::RefreshToken;
use crate::db::sessions::Session;
use crate::db::users::User;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions::{self, IssuedRefresh};
use crate::state::AppState;
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
    let grace = chrono::Duration::from_std(state.config.refresh_reuse_grace)
        .map_err(anyhow::Error::from)?;

    let mut conn = state.pool.get().await?;
    let (outcome, now) = conn
        .transaction(async |conn| -> Result<(Outcome, _)> {
            let presented = RefreshToken::find_for_update(conn, &hash)
                .await?
                .ok_or(Error::Unauthenticated(INVALID))?;
            let now = state.clock.now();
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
                let age = now - spent_at;
                // Strict (no grace) means every reuse is reuse, and so is a
                // negative age (a clock step): never read as "just now".
                let forgivable = grace > chrono::Duration::zero()
                    && age >= chrono::Duration::zero()
                    && age <= grace;
                if forgivable
                    && let Some(successor) = presented.replaced_by
                    && let Some(successor) = RefreshToken::find_by_id_for_update(conn, successor)
                        .await?
                        .filter(|t| t.spent_at.is_none())
                {
                    // The successor has not been used: the holder never got
                    // it (or two tabs raced). It is replaced by the new pair.
                    let issued = sessions::issue_refresh(conn, state, session.id, now).await?;
                    RefreshToken::spend(conn, successor.id, issued.id, now).await?;
                    RefreshToken::redirect(conn, presented.id, issued.id).await?;
                    event(EventType::RefreshReuse)
                        .reason("within the grace window: new pair issued")
                        .record(conn)
                        .await?;
                    return Ok((Outcome::Issued(Box::new(user), issued), now));
                }
                sessions::revoke(conn, state, &[session.id], "refresh token reuse", now).await?;
                event(EventType::RefreshReuse)
                    .reason("session revoked")
                    .record(conn)
                    .await?;
                return Ok((Outcome::Revoked, now));
            }
            let issued = sessions::issue_refresh(conn, state, session.id, now).await?;
            RefreshToken::spend(conn, presented.id, issued.id, now).await?;
            event(EventType::Refresh).record(conn).await?;
            Ok((Outcome::Issued(Box::new(user), issued), now))
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
