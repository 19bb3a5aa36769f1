//! Sessions and their tokens: opening a session with its first token pair,
//! issuing the next refresh token, and revoking sessions consistently (the
//! session, its refresh-token family and its live access tokens, in the
//! caller's transaction plus one broadcast).

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::db::refresh_tokens::NewRefreshToken;
use crate::db::sessions::{NewSession, Session};
use crate::db::users::User;
use crate::grpc::{ClientInfo, convert, truncate};
use crate::revocations::{self, Revocation};
use crate::state::AppState;
use crate::tokens::{self, Subject};

/// A refresh token just issued: the secret is shown to the client once.
#[derive(Debug)]
pub struct IssuedRefresh {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Opens a session for `user` (from the known device `device_id`, if any)
/// and issues its first refresh token. Call inside a transaction.
pub async fn open(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user: &User,
    client: &ClientInfo,
    device_info: &str,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> anyhow::Result<IssuedRefresh> {
    let session_id = Uuid::now_v7();
    let expires_at = now + refresh_ttl(state);
    let device_info = truncate(device_info.trim(), 512);
    NewSession {
        id: session_id,
        user_id: user.id,
        created_at: now,
        last_used_at: now,
        expires_at,
        ip_address: client.ip_address.as_deref(),
        user_agent: client.user_agent.as_deref(),
        device_info: Some(device_info.as_str()).filter(|d| !d.is_empty()),
        device_id,
    }
    .insert(conn)
    .await?;
    issue_refresh(conn, state, session_id, now).await
}

/// Issues the next refresh token of `session_id` and extends the session.
/// Call inside a transaction.
pub async fn issue_refresh(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<IssuedRefresh> {
    let (token, hash) = tokens::new_secret();
    let expires_at = now + refresh_ttl(state);
    let id = Uuid::now_v7();
    NewRefreshToken {
        id,
        session_id,
        token_hash: &hash,
        created_at: now,
        expires_at,
    }
    .insert(conn)
    .await?;
    Session::touch(conn, session_id, now, expires_at).await?;
    Ok(IssuedRefresh {
        id,
        session_id,
        token,
        expires_at,
    })
}

/// The token pair for `user` in the session of `refresh`.
pub fn token_pair(
    state: &AppState,
    user: &User,
    refresh: IssuedRefresh,
    now: DateTime<Utc>,
) -> anyhow::Result<pb::TokenPair> {
    let access = state.issuer.access_token(
        Subject {
            user_id: user.id,
            session_id: refresh.session_id,
            email: user.email.as_deref(),
            is_superuser: user.is_superuser,
        },
        now,
    )?;
    Ok(pb::TokenPair {
        access_token: access.token,
        token_type: "Bearer".into(),
        expires_in: state.issuer.access_ttl().as_secs() as i32,
        refresh_token: refresh.token,
        refresh_expires_in: (refresh.expires_at - now).num_seconds() as i32,
        session_id: refresh.session_id.to_string(),
        user: Some(convert::user(user)),
        device_token: String::new(),
    })
}

/// Revokes `session_ids` (those not revoked yet) and announces it to every
/// verifier when the caller's transaction commits. Returns the ids revoked.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    session_ids: &[Uuid],
    reason: &str,
    now: DateTime<Utc>,
) -> diesel::QueryResult<Vec<Uuid>> {
    if session_ids.is_empty() {
        return Ok(Vec::new());
    }
    let revoked = Session::revoke(conn, session_ids, reason, now).await?;
    let revocations: Vec<Revocation> = revoked
        .iter()
        .map(|r| Revocation::of(r, state.issuer.access_ttl()))
        .collect();
    revocations::notify(conn, &revocations).await?;
    Ok(revoked.into_iter().map(|r| r.session_id).collect())
}

fn refresh_ttl(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.config.refresh_token_ttl).unwrap_or(chrono::Duration::days(7))
}
