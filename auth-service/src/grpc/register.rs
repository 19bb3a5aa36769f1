//! `Register`: creates an account.

use proto::auth::v1 as pb;
use uuid::Uuid;

use diesel_async::AsyncConnection;

use crate::audit::{Event, EventType};
use crate::db::{throttle, unique_violation, users::NewUser};
use crate::domain::{Email, FullName, Password, Username};
use crate::error::{Error, Result};
use crate::grpc::ClientInfo;
use crate::grpc::convert;
use crate::passwords::Priority;
use crate::state::AppState;

/// Counts the registration against its address and against all addresses
/// before any hashing: a flood from one address runs out of its own
/// allowance, a flood from many out of the global one, and neither reaches
/// the hasher (which also gives registrations only its low-priority queue).
async fn admit(
    state: &AppState,
    conn: &mut diesel_async::AsyncPgConnection,
    client: &ClientInfo,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let window =
        chrono::Duration::from_std(state.config.register_window).map_err(anyhow::Error::from)?;
    let limit = |attempts| throttle::Limit {
        attempts,
        window,
        lockout: window,
    };
    let mut subjects = vec![(
        "register:all".to_owned(),
        limit(state.config.register_max_total),
    )];
    if let Some(ip) = &client.ip_address {
        subjects.push((
            format!("register:{}", throttle::address_subject(ip)),
            limit(state.config.register_max_per_ip),
        ));
    }
    for (subject, limit) in subjects.iter().rev() {
        if let throttle::Counted::Refused { until, .. } =
            throttle::count_attempt(conn, subject, now, *limit).await?
        {
            return Err(Error::TooManyAttempts(
                (until - now).to_std().unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

pub async fn register(
    state: &AppState,
    request: pb::RegisterRequest,
    client: ClientInfo,
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
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    admit(state, &mut conn, &client, now).await?;
    drop(conn);
    let password_hash = state
        .hasher
        .hash(password.expose(), Priority::Unknown)
        .await?;
    let mut conn = state.pool.get().await?;
    // One transaction: a failure leaves no row behind.
    let inserted = conn
        .transaction(async |conn| {
            let user = NewUser {
                id: Uuid::now_v7(),
                email: Some(email.as_str()),
                username: username.as_ref().map(Username::as_str),
                password_hash: Some(&password_hash),
                full_name: full_name.as_ref().map(FullName::as_str),
                is_superuser: false,
                created_at: now,
            }
            .insert(conn)
            .await?;
            Event::new(EventType::Registered, now)
                .user(user.id)
                .login_name(email.as_str())
                .client(&client)
                .record(conn)
                .await?;
            Ok::<_, diesel::result::Error>(user)
        })
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
