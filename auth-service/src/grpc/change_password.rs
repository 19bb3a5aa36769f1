//! `ChangePassword`: needs the current password; ends every other session.

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::app::AppState;
use crate::audit::{Event, EventType};
use crate::db::sessions::Session;
use crate::db::users::User;
use crate::domain::{Invalid, Password};
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::passwords::Priority;
use crate::sessions;

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
    if !state
        .hasher
        .verify(
            &request.current_password,
            user.password_hash.as_deref(),
            Priority::Known,
        )
        .await?
    {
        return Err(Invalid::new("current_password", "is not the current password").into());
    }
    let hash = state
        .hasher
        .hash(new_password.expose(), Priority::Known)
        .await?;
    let now = state.clock.now();
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
