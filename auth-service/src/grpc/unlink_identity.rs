//! `UnlinkIdentity`: removes one of the caller's provider identities, unless
//! it is the last way into the account.

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::identities::Identity;
use crate::db::users::User;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::state::AppState;

pub async fn unlink_identity(
    state: &AppState,
    caller: &Claims,
    request: pb::UnlinkIdentityRequest,
    client: ClientInfo,
) -> Result<pb::UnlinkIdentityResponse> {
    let id =
        Uuid::parse_str(request.identity_id.trim()).map_err(|_| Error::NotFound("identity"))?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| -> Result<()> {
        // The user's row locked: two unlinks at once cannot each leave the
        // other as the last way in and remove both.
        let user = User::find_for_update(conn, caller.sub)
            .await?
            .ok_or(Error::NotFound("identity"))?;
        let identity = Identity::find_of_user(conn, caller.sub, id)
            .await?
            .ok_or(Error::NotFound("identity"))?;
        let others = Identity::of_user(conn, caller.sub)
            .await?
            .into_iter()
            .filter(|i| i.id != id)
            .count();
        if user.password_hash.is_none() && others == 0 {
            return Err(Error::FailedPrecondition(
                "this is the account's only way to sign in: set a password or link another \
                 provider first",
            ));
        }
        Identity::delete(conn, id).await?;
        Event::new(EventType::IdentityUnlinked, now)
            .user(caller.sub)
            .provider(&identity.provider)
            .login_name(&format!("{}:{}", identity.provider, identity.subject))
            .client(&client)
            .record(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(pb::UnlinkIdentityResponse {})
}
