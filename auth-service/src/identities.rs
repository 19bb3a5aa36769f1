//! Signing in through an identity provider (WeChat, OpenID Connect): the
//! provider's (subject) finds the linked account, or links one, or makes
//! one; then a session opens exactly as after a password login.
//!
//! Linking an existing account goes by email only when the provider says the
//! email is verified (an unverified email is never used), and only to an
//! account that the same provider made: an account with a password is its
//! owner's (otherwise whoever registered an email first, without proving it,
//! would share the account of its real owner's later provider sign-in), and
//! one provider's word on an email does not open an account another made
//! (a provider that lets its users claim any email would otherwise open
//! them all). Attaching another provider is the owner's act, signed in:
//! `LinkIdentity`.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::identities::Identity;
use crate::db::users::{NewUser, User};
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::oidc::{IdClaims, OidcError};
use crate::sessions;
use crate::state::AppState;

/// Checks an ID token of `provider` and spends its nonce: the claims of a
/// token that may sign in (or be linked) once. Failures are audited.
pub async fn verify_oidc(
    state: &AppState,
    provider: &str,
    id_token: &str,
    nonce: &str,
    client: &ClientInfo,
) -> Result<IdClaims> {
    let fail = async |e: OidcError| -> Result<IdClaims> {
        record_failure(state, provider, None, client, &e.to_string()).await?;
        Err(e.into())
    };
    let now = state.clock.now();
    let nonce = Some(nonce.trim()).filter(|n| !n.is_empty());
    let server_nonce = state.oidc.requires_nonce(provider)?;
    // Refused tokens are counted per address (IPv6: per /64) before they
    // are checked, like failed logins: a flood of them is cut off, and then
    // costs no key fetch and no audit row each.
    let limit =
        crate::db::throttle::Limit::login(&state.config, state.config.login_max_failures_per_ip)?;
    let subject = client
        .ip_address
        .as_deref()
        .map(|ip| format!("oidc:{}", crate::db::throttle::address_subject(ip)));
    if let Some(subject) = &subject {
        let mut conn = state.pool.get().await?;
        if let crate::db::throttle::Counted::Refused { until, first } =
            crate::db::throttle::count_attempt(&mut conn, subject, now, limit).await?
        {
            drop(conn);
            if first {
                record_failure(state, provider, None, client, "locked").await?;
            }
            return Err(Error::TooManyAttempts(
                (until - now).to_std().unwrap_or_default(),
            ));
        }
    }
    // The nonce's own signature first: garbage costs no key fetch.
    let expires = match (server_nonce, nonce) {
        (true, Some(nonce)) => {
            match crate::oidc::nonce::check(&state.page_tokens, provider, nonce, now) {
                Ok(expires) => Some(expires),
                Err(e) => return fail(e).await,
            }
        }
        _ => None,
    };
    let verified = state.oidc.verify(provider, id_token, nonce).await;
    // Only the client's mistakes count against its address (a bad nonce
    // above stays counted too).
    if let Some(subject) = &subject
        && !matches!(verified, Err(OidcError::Invalid(_)))
    {
        let mut conn = state.pool.get().await?;
        crate::db::throttle::undo(&mut conn, subject, limit.attempts).await?;
    }
    let claims = match verified {
        Ok(claims) => claims,
        Err(OidcError::UnknownProvider) => return Err(OidcError::UnknownProvider.into()),
        Err(e) => return fail(e).await,
    };
    if let (Some(nonce), Some(expires)) = (nonce, expires) {
        let mut conn = state.pool.get().await?;
        let hash = crate::tokens::hash_secret(nonce);
        if !crate::db::identities::spend_nonce(&mut conn, &hash, expires).await? {
            drop(conn);
            return fail(OidcError::Invalid("nonce already used")).await;
        }
    }
    Ok(claims)
}

/// Who the provider says the person is.
#[derive(Debug)]
pub struct External<'a> {
    /// `wechat`, or the configured name of an OIDC provider.
    pub provider: &'a str,
    /// The person's id at the provider (WeChat's openid, OIDC's `sub`).
    pub subject: &'a str,
    /// WeChat's unionid.
    pub union_id: Option<&'a str>,
    /// An email the provider says is verified (lower-cased).
    pub verified_email: Option<&'a str>,
    /// A display name for a new account.
    pub name: Option<&'a str>,
    /// A provider secret to keep, already sealed (see `secrets`).
    pub sealed_secret: Option<Vec<u8>>,
}

/// The account of a linked identity, its sign-in recorded on the identity;
/// `None` when the account is deactivated.
async fn returning(
    conn: &mut AsyncPgConnection,
    identity: &Identity,
    external: &External<'_>,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    let user = User::find(conn, identity.user_id)
        .await?
        .ok_or(Error::Unavailable("the account is being changed"))?;
    if !user.is_active {
        return Ok(None);
    }
    Identity::record_login(
        conn,
        identity.id,
        external.union_id.or(identity.union_id.as_deref()),
        external
            .sealed_secret
            .as_deref()
            .or(identity.secret.as_deref()),
        now,
    )
    .await?;
    Ok(Some(user))
}

/// The first sign-in of a subject: links it to the account the same
/// provider made with its verified email, or makes a new account; `None`
/// when that account is deactivated. `Unavailable("retry")` when a
/// concurrent first sign-in got there first.
async fn first_sign_in(
    conn: &mut AsyncPgConnection,
    external: &External<'_>,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    let linked = match external.verified_email {
        Some(email) => User::find_by_email(conn, email).await?,
        None => None,
    };
    // Made by this provider: its first identity is this provider's (not one
    // its owner linked later, whose provider's word on the email must not
    // open the account).
    let same_provider = match &linked {
        Some(user) => Identity::of_user(conn, user.id)
            .await?
            .iter()
            .min_by_key(|i| (i.created_at, i.id))
            .is_some_and(|first| first.provider == external.provider),
        None => false,
    };
    let user = match linked {
        // An account someone made with a password (or an administrator) is
        // not taken over by whoever shows the same email at a provider: its
        // owner signs in with the password. Only accounts the same provider
        // made link.
        Some(user) if user.password_hash.is_some() || user.is_superuser || !same_provider => {
            return Err(Error::AlreadyExists {
                field: "email",
                description: "an account with this email exists: \
                    sign in to it, then link this provider"
                    .into(),
            });
        }
        Some(user) => user,
        None => NewUser {
            id: Uuid::now_v7(),
            email: external.verified_email,
            username: None,
            password_hash: None,
            full_name: external.name,
            is_superuser: false,
            created_at: now,
        }
        .insert(conn)
        .await
        .map_err(|e| match crate::db::unique_violation(&e) {
            // The same email made by a concurrent first sign-in: try again,
            // to link.
            Some("users_email_key") => Error::Unavailable("retry"),
            _ => e.into(),
        })?,
    };
    if !user.is_active {
        // Never link to a deactivated account.
        return Ok(None);
    }
    let identity = Identity {
        id: Uuid::now_v7(),
        user_id: user.id,
        provider: external.provider.to_owned(),
        subject: external.subject.to_owned(),
        union_id: external.union_id.map(str::to_owned),
        email: external.verified_email.map(str::to_owned),
        secret: external.sealed_secret.clone(),
        created_at: now,
        last_login_at: now,
    };
    if identity.insert(conn).await?.is_none() {
        // Linked by a concurrent sign-in: undo, try again.
        return Err(Error::Unavailable("retry"));
    }
    Ok(Some(user))
}

/// Records a failed external sign-in.
pub async fn record_failure(
    state: &AppState,
    provider: &str,
    subject: Option<&str>,
    client: &ClientInfo,
    reason: &str,
) -> Result<()> {
    let mut conn = state.pool.get().await?;
    let mut event = Event::new(EventType::LoginFailed, state.clock.now())
        .provider(provider)
        .client(client)
        .reason(reason);
    if let Some(subject) = subject {
        event = event.login_name(&format!("{provider}:{subject}"));
    }
    event.record(&mut conn).await?;
    Ok(())
}

/// Signs `external` in: finds, links or creates the account and opens a
/// session on it.
pub async fn sign_in(
    state: &AppState,
    external: External<'_>,
    client: &ClientInfo,
    device_info: &str,
) -> Result<pb::TokenPair> {
    let now = state.clock.now();
    let login_name = format!("{}:{}", external.provider, external.subject);
    let mut conn = state.pool.get().await?;
    // Two first sign-ins of one subject at once: one links, the other finds
    // the link on its second try.
    for attempt in 0..2 {
        let outcome = conn
            .transaction(
                async |conn| -> Result<Option<(User, sessions::IssuedRefresh)>> {
                    let found =
                        Identity::find_for_update(conn, external.provider, external.subject)
                            .await?;
                    let user = match found {
                        Some(identity) => returning(conn, &identity, &external, now).await?,
                        None => first_sign_in(conn, &external, now).await?,
                    };
                    let Some(user) = user else {
                        return Ok(None);
                    };
                    let refresh =
                        sessions::open(conn, state, &user, client, device_info, None, now).await?;
                    let user = User::record_login(conn, user.id, now).await?;
                    Event::new(EventType::LoginSucceeded, now)
                        .user(user.id)
                        .session(refresh.session_id)
                        .login_name(&login_name)
                        .provider(external.provider)
                        .client(client)
                        .record(conn)
                        .await?;
                    Ok(Some((user, refresh)))
                },
            )
            .await;
        match outcome {
            Ok(Some((user, refresh))) => {
                tracing::info!(
                    user_id = %user.id,
                    session_id = %refresh.session_id,
                    provider = external.provider,
                    "signed in"
                );
                return Ok(sessions::token_pair(state, &user, refresh, now)?);
            }
            Ok(None) => {
                record_failure(
                    state,
                    external.provider,
                    Some(external.subject),
                    client,
                    "account_deactivated",
                )
                .await?;
                return Err(Error::PermissionDenied("this account is deactivated"));
            }
            Err(Error::Unavailable("retry")) if attempt == 0 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Unavailable("the sign-in raced another; try again"))
}
