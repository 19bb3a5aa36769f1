//! `Login`: signs in with a password and opens a session.
//!
//! Brute force is held off per account and per client IP address: after
//! `LOGIN_MAX_FAILURES` failures within the window the account is locked for
//! the lockout period, whatever password comes next. Counters live in
//! PostgreSQL, so restarts and replicas share them. An account that does not
//! exist is counted (and locked) under the name typed, and costs one bcrypt
//! check like a real one: nothing in the answer or its timing says whether an
//! account exists.

use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;

use crate::app::AppState;
use crate::audit::{Event, EventType};
use crate::db::throttle;
use crate::db::users::User;
use crate::domain::Invalid;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions;

/// The one answer to every credential failure.
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
    if email.len() > 320 || username.len() > 320 || request.password.len() > 1024 {
        return Err(Error::Unauthenticated(BAD_CREDENTIALS));
    }
    let login_name = if email.is_empty() {
        username.to_lowercase()
    } else {
        email.to_lowercase()
    };
    let now = state.clock.now();

    // The connection goes back to the pool before hashing: a login waits its
    // turn for a bcrypt slot without holding one of the few connections.
    let (user, account_subject) = {
        let mut conn = state.pool.get().await?;
        let user = if email.is_empty() {
            User::find_by_username(&mut conn, username).await?
        } else {
            User::find_by_email(&mut conn, &login_name).await?
        };
        let account_subject = match &user {
            Some(user) => format!("user:{}", user.id),
            None => format!("login:{login_name}"),
        };
        let mut subjects = vec![account_subject.clone()];
        if let Some(ip) = &client.ip_address {
            subjects.push(format!("ip:{ip}"));
        }
        if let Some(until) = throttle::locked_until(&mut conn, &subjects, now).await? {
            let mut event = Event::new(EventType::LoginFailed, now)
                .login_name(&login_name)
                .client(&client)
                .reason("locked");
            if let Some(user) = &user {
                event = event.user(user.id);
            }
            event.record(&mut conn).await?;
            let wait = (until - now).to_std().unwrap_or_default();
            return Err(Error::TooManyAttempts(wait));
        }
        (user, account_subject)
    };

    // Always one bcrypt check, so unknown accounts take as long as known ones.
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let matches = state.hasher.verify(&request.password, hash).await?;
    let mut conn = state.pool.get().await?;
    let user = match user {
        Some(user) if matches => user,
        user => {
            let reason = match &user {
                None => "unknown_account",
                Some(u) if u.password_hash.is_none() => "no_password",
                Some(_) => "wrong_password",
            };
            let config = &state.config;
            let window = chrono::Duration::from_std(config.login_failure_window)
                .map_err(anyhow::Error::from)?;
            let lockout =
                chrono::Duration::from_std(config.login_lockout).map_err(anyhow::Error::from)?;
            conn.transaction(async |conn| -> Result<()> {
                throttle::record_failure(
                    conn,
                    &account_subject,
                    now,
                    window,
                    config.login_max_failures,
                    lockout,
                )
                .await?;
                if let Some(ip) = &client.ip_address {
                    throttle::record_failure(
                        conn,
                        &format!("ip:{ip}"),
                        now,
                        window,
                        config.login_max_failures_per_ip,
                        lockout,
                    )
                    .await?;
                }
                let mut event = Event::new(EventType::LoginFailed, now)
                    .login_name(&login_name)
                    .client(&client)
                    .reason(reason);
                if let Some(user) = &user {
                    event = event.user(user.id);
                }
                event.record(conn).await?;
                Ok(())
            })
            .await?;
            return Err(Error::Unauthenticated(BAD_CREDENTIALS));
        }
    };
    if !user.is_active {
        Event::new(EventType::LoginFailed, now)
            .user(user.id)
            .login_name(&login_name)
            .client(&client)
            .reason("account_deactivated")
            .record(&mut conn)
            .await?;
        return Err(Error::PermissionDenied("this account is deactivated"));
    }

    let (user, refresh) = conn
        .transaction(async |conn| -> Result<_> {
            throttle::clear(conn, &account_subject).await?;
            let refresh =
                sessions::open(conn, state, &user, &client, &request.device_info, now).await?;
            let user = User::record_login(conn, user.id, now).await?;
            Event::new(EventType::LoginSucceeded, now)
                .user(user.id)
                .session(refresh.session_id)
                .login_name(&login_name)
                .client(&client)
                .record(conn)
                .await?;
            Ok((user, refresh))
        })
        .await?;
    tracing::info!(user_id = %user.id, session_id = %refresh.session_id, "signed in");
    Ok(pb::LoginResponse {
        token_pair: Some(sessions::token_pair(state, &user, refresh, now)?),
    })
}
