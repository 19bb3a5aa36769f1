//! `UpdateUser`: activation and the superuser role. Deactivation and the
//! removal of the superuser role (tokens carry it) revoke
//! every session of the user in the same transaction.

use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::sessions::Session;
use crate::db::users::{FlagsChange, User};
use crate::error::{Error, Result};
use crate::grpc::{ClientInfo, convert};
use crate::sessions;
use crate::state::AppState;

pub async fn update_user(
    state: &AppState,
    admin: Uuid,
    request: pb::UpdateUserRequest,
    client: ClientInfo,
) -> Result<pb::UpdateUserResponse> {
    let user_id = Uuid::parse_str(request.user_id.trim()).map_err(|_| Error::NotFound("user"))?;
    if user_id == admin && (request.is_active == Some(false) || request.is_superuser == Some(false))
    {
        // The last administrator could otherwise lock everyone out.
        return Err(Error::FailedPrecondition(
            "administrators cannot deactivate or demote themselves",
        ));
    }
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let user = conn
        .transaction(async |conn| -> Result<User> {
            let before = User::find_for_update(conn, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            let change = FlagsChange {
                is_active: request.is_active,
                is_superuser: request.is_superuser,
                updated_at: Some(now),
            };
            let after = User::update_flags(conn, user_id, &change).await?;
            let event = |event_type| {
                Event::new(event_type, now)
                    .user(user_id)
                    .actor(admin)
                    .client(&client)
            };
            if before.is_active && !after.is_active {
                let live = Session::unrevoked_ids_of_user(conn, user_id, None).await?;
                let revoked =
                    sessions::revoke(conn, state, &live, "account deactivated", now).await?;
                event(EventType::AccountDeactivated)
                    .reason(format!("{} sessions revoked", revoked.len()))
                    .record(conn)
                    .await?;
            } else if !before.is_active && after.is_active {
                event(EventType::AccountActivated).record(conn).await?;
            }
            if before.is_superuser && !after.is_superuser {
                // Access tokens carry `is_superuser`: the demoted user's live
                // ones would keep the role until they expire. Their sessions
                // end; the user signs in again as a plain user.
                let live = Session::unrevoked_ids_of_user(conn, user_id, None).await?;
                let revoked =
                    sessions::revoke(conn, state, &live, "superuser removed", now).await?;
                event(EventType::RoleChanged)
                    .reason(format!(
                        "superuser removed; {} sessions revoked",
                        revoked.len()
                    ))
                    .record(conn)
                    .await?;
            } else if !before.is_superuser && after.is_superuser {
                event(EventType::RoleChanged)
                    .reason("superuser granted")
                    .record(conn)
                    .await?;
            }
            Ok(after)
        })
        .await?;
    Ok(pb::UpdateUserResponse {
        user: Some(convert::user(&user)),
    })
}
