//! `GetMe`: the signed-in user.

use access::Claims;
use proto::auth::v1 as pb;

use crate::db::users::User;
use crate::error::{Error, Result};
use crate::grpc::convert;
use crate::state::AppState;

pub async fn get_me(state: &AppState, caller: &Claims) -> Result<pb::GetMeResponse> {
    let mut conn = state.pool.get().await?;
    let user = User::find(&mut conn, caller.sub)
        .await?
        // The account was deleted after the token was issued.
        .ok_or(Error::Unauthenticated(
            "the account of this token no longer exists",
        ))?;
    Ok(pb::GetMeResponse {
        user: Some(convert::user(&user)),
    })
}
