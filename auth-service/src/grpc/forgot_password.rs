//! `ForgotPassword`: mails a single-use reset link to the account with this
//! email, if there is one.
//!
//! The answer is empty and the same either way, and the work is alike: both
//! branches count the request against the address and the client's IP and
//! write one audit row in one transaction; only an account that exists also
//! gets a token and a mail (two more rows in that transaction; the mail is
//! sent later, by the sender). Over the per-address limit the answer is
//! still the same and nothing is sent, so the limit tells nothing either.

use proto::auth::v1 as pb;
use uuid::Uuid;

use diesel_async::AsyncConnection;

use crate::audit::{Event, EventType};
use crate::db::password_resets::NewPasswordReset;
use crate::db::throttle;
use crate::db::users::User;
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::grpc::ClientInfo;
use crate::mail::{self, Locale};
use crate::state::AppState;
use crate::tokens;

/// How long a reset link works.
pub const RESET_TTL_MINUTES: i64 = 30;

/// The window of the forgot-password throttles.
const WINDOW: chrono::Duration = chrono::Duration::hours(1);

pub async fn forgot_password(
    state: &AppState,
    request: pb::ForgotPasswordRequest,
    client: ClientInfo,
) -> Result<pb::ForgotPasswordResponse> {
    let email = Email::parse(&request.email)?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let limit = |attempts| throttle::Limit {
        attempts,
        window: WINDOW,
        lockout: WINDOW,
    };
    if let Some(ip) = &client.ip_address {
        let subject = format!("password-forgot:{}", throttle::address_subject(ip));
        if let throttle::Counted::Refused { until, .. } = throttle::count_attempt(
            &mut conn,
            &subject,
            now,
            limit(state.config.mail.forgot_max_per_ip),
        )
        .await?
        {
            return Err(Error::TooManyAttempts(
                (until - now).to_std().unwrap_or_default(),
            ));
        }
    }
    let per_address = throttle::count_attempt(
        &mut conn,
        &format!("password-forgot:email:{}", email.as_str()),
        now,
        limit(state.config.mail.forgot_max_per_account),
    )
    .await?;
    if matches!(per_address, throttle::Counted::Refused { .. }) {
        return Ok(pb::ForgotPasswordResponse {});
    }
    let user = User::find_by_email(&mut conn, email.as_str())
        .await?
        .filter(|user| user.is_active);
    let link_base = &state.config.mail.public_base_url;
    conn.transaction(async |conn| {
        let mut event = Event::new(EventType::PasswordResetRequested, now)
            .login_name(email.as_str())
            .client(&client);
        if let Some(user) = &user {
            let (token, token_hash) = tokens::new_secret();
            NewPasswordReset {
                id: Uuid::now_v7(),
                user_id: user.id,
                token_hash: &token_hash,
                created_at: now,
                expires_at: now + chrono::Duration::minutes(RESET_TTL_MINUTES),
            }
            .insert(conn)
            .await?;
            let link = format!("{link_base}/reset-password?token={token}");
            let template =
                mail::templates::password_reset(Locale::default(), &link, RESET_TTL_MINUTES);
            mail::enqueue(conn, email.as_str(), &template, now).await?;
            event = event.user(user.id);
        } else {
            event = event.reason("no active account has this email");
        }
        event.record(conn).await
    })
    .await?;
    Ok(pb::ForgotPasswordResponse {})
}
