//! `Login`: signs in with a password and opens a session.

use chrono::Utc;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::sessions::NewSession;
use crate::db::users::User;
use crate::domain::Invalid;
use crate::error::{Error, Result};
use crate::grpc::client::{ClientInfo, truncate};
use crate::grpc::convert;
use crate::tokens::Subject;

/// The one answer to every credential failure: it never says whether the
/// account exists.
const BAD_CREDENTIALS: &str = "invalid credentials";

pub async fn login(
    state: &AppState,
    request: pb::LoginRequest,
    client: ClientInfo,
) -> Result<pb::LoginResponse> {
    let email = request.email.trim();
    let username = request.username.trim();
    if email.is_empty() == username.is_empty() {
        return Err(Invalid::new("email", "give either email or username").into());
    }
    if request.password.is_empty() {
        return Err(Invalid::new("password", "is required").into());
    }

    let user = {
        let mut conn = state.pool.get().await?;
        if email.is_empty() {
            User::find_by_username(&mut conn, username).await?
        } else {
            User::find_by_email(&mut conn, &email.to_lowercase()).await?
        }
    };
    // Always one bcrypt check, so unknown accounts take as long as known ones.
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let matches = state.hasher.verify(&request.password, hash).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => return Err(Error::Unauthenticated(BAD_CREDENTIALS)),
    };
    if !user.is_active {
        return Err(Error::PermissionDenied("this account is deactivated"));
    }

    let now = Utc::now();
    let session_id = Uuid::now_v7();
    let refresh_ttl =
        chrono::Duration::from_std(state.config.refresh_token_ttl).map_err(anyhow::Error::from)?;
    let device_info = truncate(request.device_info.trim(), 512);
    let mut conn = state.pool.get().await?;
    let user = conn
        .transaction(async |conn| -> Result<User> {
            NewSession {
                id: session_id,
                user_id: user.id,
                created_at: now,
                last_used_at: now,
                expires_at: now + refresh_ttl,
                ip_address: client.ip_address.as_deref(),
                user_agent: client.user_agent.as_deref(),
                device_info: Some(device_info.as_str()).filter(|d| !d.is_empty()),
            }
            .insert(conn)
            .await?;
            Ok(User::record_login(conn, user.id, now).await?)
        })
        .await?;

    let access = state.issuer.access_token(
        Subject {
            user_id: user.id,
            session_id,
            email: &user.email,
            is_superuser: user.is_superuser,
        },
        now,
    )?;
    tracing::info!(user_id = %user.id, session_id = %session_id, "signed in");
    Ok(pb::LoginResponse {
        access_token: access.token,
        token_type: "Bearer".into(),
        expires_in: state.issuer.access_ttl().as_secs() as i32,
        refresh_token: String::new(),
        refresh_expires_in: 0,
        session_id: session_id.to_string(),
        user: Some(convert::user(&user)),
    })
}
