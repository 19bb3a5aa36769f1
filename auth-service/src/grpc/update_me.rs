//! `UpdateMe`: changes the caller's profile.

use access::Claims;
use proto::auth::v1 as pb;

use crate::db::unique_violation;
use crate::db::users::{ProfileChange, User};
use crate::domain::{AvatarUrl, FullName, Username};
use crate::error::{Error, Result};
use crate::grpc::convert;
use crate::state::AppState;

pub async fn update_me(
    state: &AppState,
    caller: &Claims,
    request: pb::UpdateMeRequest,
) -> Result<pb::UpdateMeResponse> {
    // `None`: keep; empty: clear; otherwise the checked value.
    fn field<T>(
        raw: Option<&str>,
        parse: impl Fn(&str) -> Result<T, crate::domain::Invalid>,
    ) -> Result<Option<Option<T>>> {
        match raw.map(str::trim) {
            None => Ok(None),
            Some("") => Ok(Some(None)),
            Some(value) => Ok(Some(Some(parse(value)?))),
        }
    }
    let username = field(request.username.as_deref(), Username::parse)?;
    let full_name = field(request.full_name.as_deref(), FullName::parse)?;
    let avatar = field(request.avatar.as_deref(), AvatarUrl::parse)?;
    let change = ProfileChange {
        username: username.as_ref().map(|u| u.as_ref().map(Username::as_str)),
        full_name: full_name.as_ref().map(|n| n.as_ref().map(FullName::as_str)),
        avatar: avatar.as_ref().map(|a| a.as_ref().map(AvatarUrl::as_str)),
        updated_at: Some(state.clock.now()),
    };
    let mut conn = state.pool.get().await?;
    let user = match User::update_profile(&mut conn, caller.sub, &change).await {
        Ok(user) => user,
        Err(diesel::result::Error::NotFound) => {
            return Err(Error::Unauthenticated(
                "the account of this token no longer exists",
            ));
        }
        Err(e) if unique_violation(&e) == Some("users_username_key") => {
            return Err(Error::AlreadyExists {
                field: "username",
                description: "is already taken".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(pb::UpdateMeResponse {
        user: Some(convert::user(&user)),
    })
}
