//! Administrative commands of the binary: the first superuser and service
//! accounts are created here, never by a default password.

use chrono::Utc;
use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::db::service_accounts::ServiceAccount;
use crate::db::users::{FlagsChange, NewUser, User};
use crate::domain::{Email, Password, Username};
use crate::passwords::PasswordHasher;
use crate::tokens;

/// Makes `email` a superuser: creates the account with `password` when it
/// does not exist, or grants superuser to the existing one (its password is
/// left alone). Returns the user's id and whether it was created.
pub async fn create_superuser(
    pool: &postgres_kit::PgPool,
    hasher: &PasswordHasher,
    email: &str,
    username: Option<&str>,
    password: &str,
) -> anyhow::Result<(Uuid, bool)> {
    let email = Email::parse(email)?;
    let username = username.map(Username::parse).transpose()?;
    let mut conn = pool.get().await?;
    if let Some(user) = User::find_by_email(&mut conn, email.as_str()).await? {
        let change = FlagsChange {
            is_superuser: Some(true),
            is_active: Some(true),
            updated_at: Some(Utc::now()),
        };
        User::update_flags(&mut conn, user.id, &change).await?;
        return Ok((user.id, false));
    }
    let password = Password::parse(password, "password")?;
    let hash = hasher
        .hash(password.expose(), crate::passwords::Priority::Known)
        .await?;
    let user = conn
        .transaction(async |conn| {
            NewUser {
                id: Uuid::now_v7(),
                email: Some(email.as_str()),
                username: username.as_ref().map(Username::as_str),
                password_hash: Some(&hash),
                full_name: None,
                is_superuser: true,
                created_at: Utc::now(),
            }
            .insert(conn)
            .await
        })
        .await?;
    Ok((user.id, true))
}

/// Creates a service account with `scopes`; returns its id and its secret,
/// which is shown this once and stored only as a hash.
pub async fn create_service_account(
    pool: &postgres_kit::PgPool,
    name: &str,
    scopes: &[String],
) -> anyhow::Result<(Uuid, String)> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.len() <= 100,
        "the name must have 1 to 100 characters"
    );
    anyhow::ensure!(!scopes.is_empty(), "give at least one --scope");
    anyhow::ensure!(
        scopes
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic())),
        "scopes are words without spaces, such as tasks.process"
    );
    let (secret, hash) = tokens::new_secret();
    let id = Uuid::now_v7();
    let mut conn = pool.get().await?;
    let inserted = ServiceAccount {
        id,
        name: name.to_owned(),
        secret_hash: hash,
        scopes: scopes.to_vec(),
        is_active: true,
        created_at: Utc::now(),
    }
    .insert(&mut conn)
    .await;
    match inserted {
        Ok(()) => Ok((id, secret)),
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            anyhow::bail!("a service account named {name:?} already exists")
        }
        Err(e) => Err(e.into()),
    }
}
