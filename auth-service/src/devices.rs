//! Device tokens (OWASP's "device cookies"): a successful password sign-in
//! gives the device a token, and a later sign-in of the same account that
//! presents it is limited per device rather than by the account-wide lock.
//! Someone guessing passwords elsewhere can lock the account for every
//! unknown device, but not for a device that signed in before; a stolen
//! device token buys its thief no more than the same few guesses per window.
//!
//! Tokens are 256 random bits shown once and stored as their SHA-256, bound
//! to one account, renewed in lifetime by every sign-in that presents them,
//! listed with the sessions and revocable. An account keeps at most
//! [`MAX_PER_ACCOUNT`] live devices; the least recently used are revoked.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::db::devices::{Device, NewDevice};
use crate::db::users::User;
use crate::grpc::truncate;
use crate::state::AppState;
use crate::tokens;

/// Live devices an account keeps.
pub const MAX_PER_ACCOUNT: i64 = 50;

/// Longest device token accepted (the issued ones are 43 characters).
const MAX_TOKEN_LEN: usize = 128;

/// The live device of `user` that `token` belongs to; `None` for an empty,
/// unknown, revoked or expired token, or one of another account.
pub async fn recognise(
    conn: &mut AsyncPgConnection,
    token: &str,
    user: Option<&User>,
    now: DateTime<Utc>,
) -> diesel::QueryResult<Option<Device>> {
    let token = token.trim();
    let Some(user) = user else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let device = Device::find_live_by_hash(conn, &tokens::hash_secret(token), now).await?;
    Ok(device.filter(|d| d.user_id == user.id))
}

/// After a successful sign-in of `user`: renews the device it came from, or
/// registers a new one. Returns the device's id and the token to give back.
/// Call inside the sign-in's transaction.
pub async fn remember(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user: &User,
    known: Option<(&Device, &str)>,
    device_info: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(Uuid, String)> {
    let expires_at = now + chrono::Duration::from_std(state.config.device_token_ttl)?;
    // Revoked since it was recognised (RevokeDevice raced this sign-in):
    // the session goes to a new device, not to the revoked one.
    if let Some((device, token)) = known
        && Device::touch(conn, device.id, now, expires_at).await?
    {
        return Ok((device.id, token.trim().to_owned()));
    }
    let (token, hash) = tokens::new_secret();
    let id = Uuid::now_v7();
    let device_info = truncate(device_info.trim(), 512);
    NewDevice {
        id,
        user_id: user.id,
        token_hash: &hash,
        device_info: Some(device_info.as_str()).filter(|d| !d.is_empty()),
        created_at: now,
        last_used_at: now,
        expires_at,
    }
    .insert(conn)
    .await?;
    Device::revoke_beyond(conn, user.id, MAX_PER_ACCOUNT, now).await?;
    Ok((id, token))
}
