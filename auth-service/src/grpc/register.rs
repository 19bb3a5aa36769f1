//! `Register`: creates an account.

use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::{unique_violation, users::NewUser};
use crate::domain::{Email, FullName, Password, Username};
use crate::error::{Error, Result};
use crate::grpc::convert;

pub async fn register(
    state: &AppState,
    request: pb::RegisterRequest,
) -> Result<pb::RegisterResponse> {
    let email = Email::parse(&request.email)?;
    let password = Password::parse(&request.password, "password")?;
    let username = match request.username.trim() {
        "" => None,
        raw => Some(Username::parse(raw)?),
    };
    let full_name = match request.full_name.trim() {
        "" => None,
        raw => Some(FullName::parse(raw)?),
    };
    let password_hash = state.hasher.hash(password.expose()).await?;

    let mut conn = state.pool.get().await?;
    // One statement: a failure leaves no row behind.
    let inserted = NewUser {
        id: Uuid::now_v7(),
        email: email.as_str(),
        username: username.as_ref().map(Username::as_str),
        password_hash: Some(&password_hash),
        full_name: full_name.as_ref().map(FullName::as_str),
        is_superuser: false,
    }
    .insert(&mut conn)
    .await;
    let user = match inserted {
        Ok(user) => user,
        Err(e) => {
            return Err(match unique_violation(&e) {
                Some("users_email_key") => Error::AlreadyExists {
                    field: "email",
                    description: "is already registered".into(),
                },
                Some("users_username_key") => Error::AlreadyExists {
                    field: "username",
                    description: "is already taken".into(),
                },
                _ => e.into(),
            });
        }
    };
    tracing::info!(user_id = %user.id, "account registered");
    Ok(pb::RegisterResponse {
        user: Some(convert::user(&user)),
    })
}
