//! `Login`: signs in with a password and opens a session.
//!
//! Brute force is held off per account and per client IP address (IPv6: per
//! /64), or, for a device that presents its device token (see `devices`),
//! per device only, so that nobody else's wrong guesses lock it out: every
//! attempt is counted before its password is checked, in one
//! statement that also refuses it once `LOGIN_MAX_FAILURES` attempts within
//! the window have been made, so concurrency buys an attacker nothing. The
//! attempt that uses up the allowance locks the account for the lockout
//! period, whatever password comes next. A successful sign-in resets the
//! account's count and takes its own attempt off the address's count.
//! Counters live in PostgreSQL, so restarts and replicas share them. An
//! account that does not
//! exist is counted (and locked) under the name typed, and costs one bcrypt
//! check like a real one: nothing in the answer or its timing says whether an
//! account exists.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use proto::auth::v1 as pb;

use crate::audit::{Event, EventType};
use crate::db::devices::Device;
use crate::db::throttle;
use crate::db::users::User;
use crate::devices;
use crate::domain::Invalid;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::passwords::Priority;
use crate::sessions;
use crate::state::AppState;

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
    let (user, device, counters) = {
        let mut conn = state.pool.get().await?;
        let user = if email.is_empty() {
            User::find_by_username(&mut conn, username).await?
        } else {
            User::find_by_email(&mut conn, &login_name).await?
        };
        let device =
            devices::recognise(&mut conn, &request.device_token, user.as_ref(), now).await?;
        let counters =
            Counters::for_attempt(state, device.as_ref(), user.as_ref(), &login_name, &client)?;
        if let Some((until, first)) = counters.count(&mut conn, now).await? {
            // One audit row per lock, not one per refused attempt: refusing
            // costs no hashing, so a flood of them must not cost a write each.
            if first {
                let failure = Failure {
                    login_name: &login_name,
                    client: &client,
                    now,
                };
                failure.record(&mut conn, user.as_ref(), "locked").await?;
            }
            let wait = (until - now).to_std().unwrap_or_default();
            return Err(Error::TooManyAttempts(wait));
        }
        (user, device, counters)
    };

    // Always one bcrypt check, so unknown accounts take as long as known ones
    // (when the hasher is idle; under load, unknown names wait in the
    // low-priority queue, see `passwords`).
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let priority = match &user {
        Some(_) => Priority::Known,
        None => Priority::Unknown,
    };
    let verified = state.hasher.verify(&request.password, hash, priority).await;
    let mut conn = state.pool.get().await?;
    let matches = match verified {
        Ok(matches) => matches,
        Err(e) => {
            // Nothing was evaluated: the attempt is not held against anyone.
            counters.forgive(&mut conn).await?;
            return Err(e.into());
        }
    };
    let user = match user {
        Some(user) if matches => user,
        user => {
            let reason = match &user {
                None => "unknown_account",
                Some(u) if u.password_hash.is_none() => "no_password",
                Some(_) => "wrong_password",
            };
            let failure = Failure {
                login_name: &login_name,
                client: &client,
                now,
            };
            failure.record(&mut conn, user.as_ref(), reason).await?;
            return Err(Error::Unauthenticated(BAD_CREDENTIALS));
        }
    };
    // The right password: the account's (or device's) count starts again,
    // and the address's count forgets this attempt (it counts failures only).
    // A known device's success leaves the account's lock, if any, in place
    // for unknown devices.
    counters.succeeded(&mut conn).await?;
    if !user.is_active {
        let failure = Failure {
            login_name: &login_name,
            client: &client,
            now,
        };
        failure
            .record(&mut conn, Some(&user), "account_deactivated")
            .await?;
        return Err(Error::PermissionDenied("this account is deactivated"));
    }

    let known = device.as_ref().map(|d| (d, request.device_token.as_str()));
    let (user, refresh, device_token) = conn
        .transaction(async |conn| -> Result<_> {
            let (device_id, device_token) =
                devices::remember(conn, state, &user, known, &request.device_info, now).await?;
            let refresh = sessions::open(
                conn,
                state,
                &user,
                &client,
                &request.device_info,
                Some(device_id),
                now,
            )
            .await?;
            let user = User::record_login(conn, user.id, now).await?;
            Event::new(EventType::LoginSucceeded, now)
                .user(user.id)
                .session(refresh.session_id)
                .login_name(&login_name)
                .client(&client)
                .record(conn)
                .await?;
            Ok((user, refresh, device_token))
        })
        .await?;
    tracing::info!(user_id = %user.id, session_id = %refresh.session_id, "signed in");
    let mut token_pair = sessions::token_pair(state, &user, refresh, now)?;
    token_pair.device_token = device_token;
    Ok(pb::LoginResponse {
        token_pair: Some(token_pair),
    })
}

/// A refused sign-in, for the audit log.
struct Failure<'a> {
    login_name: &'a str,
    client: &'a ClientInfo,
    now: DateTime<Utc>,
}

impl Failure<'_> {
    async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        user: Option<&User>,
        reason: &'static str,
    ) -> Result<()> {
        let mut event = Event::new(EventType::LoginFailed, self.now)
            .login_name(self.login_name)
            .client(self.client)
            .reason(reason);
        if let Some(user) = user {
            event = event.user(user.id);
        }
        event.record(conn).await?;
        Ok(())
    }
}

/// The attempt counters a sign-in is held to.
struct Counters {
    account: String,
    address: Option<String>,
    account_limit: throttle::Limit,
    address_limit: throttle::Limit,
}

/// The login window and lockout with `attempts` allowed.
pub(super) fn limit(state: &AppState, attempts: i32) -> Result<throttle::Limit> {
    Ok(throttle::Limit::login(&state.config, attempts)?)
}

impl Counters {
    /// The counters for an attempt from `device` (when it presented a
    /// known device token) on `user` (when the name exists).
    fn for_attempt(
        state: &AppState,
        device: Option<&Device>,
        user: Option<&User>,
        login_name: &str,
        client: &ClientInfo,
    ) -> Result<Self> {
        let account_limit = limit(state, state.config.login_max_failures)?;
        Ok(match device {
            // A known device answers for its own attempts only.
            Some(device) => Counters {
                account: format!("device:{}", device.id),
                address: None,
                account_limit,
                address_limit: account_limit,
            },
            None => Counters {
                account: match user {
                    Some(user) => format!("user:{}", user.id),
                    None => format!("login:{login_name}"),
                },
                address: client.ip_address.as_deref().map(throttle::address_subject),
                account_limit,
                address_limit: limit(state, state.config.login_max_failures_per_ip)?,
            },
        })
    }

    /// Counts the attempt against the account, then the address; refused
    /// (with the end of the lock, and whether this is its first refusal)
    /// when either is locked, in which case the attempt is not counted
    /// against the other.
    async fn count(
        &self,
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
    ) -> Result<Option<(DateTime<Utc>, bool)>> {
        use throttle::Counted;
        if let Counted::Refused { until, first } =
            throttle::count_attempt(conn, &self.account, now, self.account_limit).await?
        {
            return Ok(Some((until, first)));
        }
        if let Some(address) = &self.address
            && let Counted::Refused { until, first } =
                throttle::count_attempt(conn, address, now, self.address_limit).await?
        {
            throttle::undo(conn, &self.account, self.account_limit.attempts).await?;
            return Ok(Some((until, first)));
        }
        Ok(None)
    }

    /// Takes back an attempt that was not evaluated.
    async fn forgive(&self, conn: &mut AsyncPgConnection) -> Result<()> {
        throttle::undo(conn, &self.account, self.account_limit.attempts).await?;
        if let Some(address) = &self.address {
            throttle::undo(conn, address, self.address_limit.attempts).await?;
        }
        Ok(())
    }

    /// After the right password.
    async fn succeeded(&self, conn: &mut AsyncPgConnection) -> Result<()> {
        throttle::clear(conn, &self.account).await?;
        if let Some(address) = &self.address {
            throttle::undo(conn, address, self.address_limit.attempts).await?;
        }
        Ok(())
    }
}
