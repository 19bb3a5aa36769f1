//! `ResetPassword`: sets a new password with the token of a reset mail.
//!
//! The token is checked before the new password is hashed (an invalid one
//! costs no bcrypt), and spent in the transaction that sets the password, so
//! of two calls with one token exactly one succeeds. That transaction also
//! spends the account's other reset tokens, revokes every session (announced
//! to every verifier), lifts the account's sign-in lockout, audits, and
//! queues a notice mail.

use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::audit::{Event, EventType};
use crate::db::password_resets::PasswordReset;
use crate::db::sessions::Session;
use crate::db::throttle;
use crate::db::users::User;
use crate::domain::{Invalid, Password};
use crate::error::{Error, Result};
use crate::grpc::ClientInfo;
use crate::mail::{self, Locale};
use crate::passwords::Priority;
use crate::sessions;
use crate::state::AppState;
use crate::tokens;

/// The refusal of a token that is unknown, expired or spent: one answer for
/// all three.
fn invalid_token() -> Error {
    Invalid::new("token", "is invalid, expired or already used").into()
}

pub async fn reset_password(
    state: &AppState,
    request: pb::ResetPasswordRequest,
    client: ClientInfo,
) -> Result<pb::ResetPasswordResponse> {
    if request.token.is_empty() {
        return Err(Invalid::new("token", "is required").into());
    }
    let new_password = Password::parse(&request.new_password, "new_password")?;
    let token_hash = tokens::hash_secret(&request.token);
    let now = state.clock.now();
    {
        let mut conn = state.pool.get().await?;
        if PasswordReset::find_valid(&mut conn, &token_hash, now)
            .await?
            .is_none()
        {
            return Err(invalid_token());
        }
    }
    let password_hash = state
        .hasher
        .hash(new_password.expose(), Priority::Known)
        .await?;
    let mut conn = state.pool.get().await?;
    let revoked = conn
        .transaction(async |conn| -> Result<usize> {
            let now = state.clock.now();
            let user_id = PasswordReset::spend(conn, &token_hash, now)
                .await?
                .ok_or_else(invalid_token)?;
            let user = User::find(conn, user_id)
                .await?
                .filter(|user| user.is_active)
                .ok_or_else(invalid_token)?;
            User::set_password_hash(conn, user.id, &password_hash, now).await?;
            PasswordReset::spend_all_of_user(conn, user.id, now).await?;
            let live = Session::unrevoked_ids_of_user(conn, user.id, None).await?;
            let revoked = sessions::revoke(conn, state, &live, "password reset", now).await?;
            throttle::clear(conn, &format!("user:{}", user.id)).await?;
            Event::new(EventType::PasswordReset, now)
                .user(user.id)
                .client(&client)
                .reason(format!("{} sessions revoked", revoked.len()))
                .record(conn)
                .await?;
            if let Some(email) = &user.email {
                let notice = mail::templates::password_was_reset(Locale::default());
                mail::enqueue(conn, email, &notice, now).await?;
            }
            Ok(revoked.len())
        })
        .await?;
    tracing::info!(revoked, "password reset");
    Ok(pb::ResetPasswordResponse {
        revoked_sessions: i32::try_from(revoked).unwrap_or(i32::MAX),
    })
}
