//! `ChangePassword`: needs the current password; ends every other session.
//!
//! Wrong current passwords are audited and counted per account before the
//! hash is checked, like sign-ins (`LOGIN_MAX_FAILURES` within the window,
//! then a lockout): a stolen access token does not buy unlimited guesses at
//! the password. The count is the change's own, so it cannot lock the owner
//! out of signing in.

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::audit::{Event, EventType};
use crate::db::sessions::Session;
use crate::db::throttle;
use crate::db::users::User;
use crate::domain::{Invalid, Password};
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::passwords::Priority;
use crate::sessions;
use crate::state::AppState;

pub async fn change_password(
    state: &AppState,
    caller: &Claims,
    request: pb::ChangePasswordRequest,
    client: ClientInfo,
) -> Result<pb::ChangePasswordResponse> {
    if request.current_password.is_empty() {
        return Err(Invalid::new("current_password", "is required").into());
    }
    let new_password = Password::parse(&request.new_password, "new_password")?;
    let user = {
        let mut conn = state.pool.get().await?;
        User::find(&mut conn, caller.sub)
            .await?
            .ok_or(Error::Unauthenticated(
                "the account of this token no longer exists",
            ))?
    };
    let now = state.clock.now();
    let subject = format!("change-password:{}", user.id);
    let limit = super::login::limit(state, state.config.login_max_failures)?;
    {
        let mut conn = state.pool.get().await?;
        if let throttle::Counted::Refused { until, first } =
            throttle::count_attempt(&mut conn, &subject, now, limit).await?
        {
            if first {
                failure(&user, &client, "locked", now)
                    .record(&mut conn)
                    .await?;
            }
            return Err(Error::TooManyAttempts(
                (until - now).to_std().unwrap_or_default(),
            ));
        }
    }
    let verified = state
        .hasher
        .verify(
            &request.current_password,
            user.password_hash.as_deref(),
            Priority::Known,
        )
        .await;
    let mut conn = state.pool.get().await?;
    match verified {
        Ok(true) => throttle::clear(&mut conn, &subject).await?,
        Ok(false) => {
            failure(&user, &client, "wrong_current_password", now)
                .record(&mut conn)
                .await?;
            return Err(Invalid::new("current_password", "is not the current password").into());
        }
        Err(e) => {
            throttle::undo(&mut conn, &subject, limit.attempts).await?;
            return Err(e.into());
        }
    }
    drop(conn);
    let hash = state
        .hasher
        .hash(new_password.expose(), Priority::Known)
        .await?;
    let mut conn = state.pool.get().await?;
    let revoked = conn
        .transaction(async |conn| -> Result<usize> {
            User::set_password_hash(conn, user.id, &hash, now).await?;
            let others = Session::unrevoked_ids_of_user(conn, user.id, caller.sid).await?;
            let revoked = sessions::revoke(conn, state, &others, "password changed", now).await?;
            Event::new(EventType::PasswordChanged, now)
                .user(user.id)
                .client(&client)
                .reason(format!("{} other sessions revoked", revoked.len()))
                .record(conn)
                .await?;
            Ok(revoked.len())
        })
        .await?;
    Ok(pb::ChangePasswordResponse {
        revoked_sessions: revoked as i32,
    })
}

/// The audit row of a refused change.
fn failure(
    user: &User,
    client: &ClientInfo,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Event {
    Event::new(EventType::LoginFailed, now)
        .user(user.id)
        .client(client)
        .reason(format!("change_password: {reason}"))
}
