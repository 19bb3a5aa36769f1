//! Embedded migrations, applied under a PostgreSQL advisory lock so that
//! replicas (or a migration job) starting together do not race.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::DatabaseUrl;

/// The advisory lock key taken while migrating ("migrate" in ASCII). Each
/// service has its own database, so one key serves both.
const MIGRATION_LOCK_KEY: i64 = 0x006d_6967_7261_7465;

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// Taking or releasing the advisory lock failed.
    #[error("cannot take the migration lock: {0}")]
    Lock(#[from] diesel::result::Error),
    /// A migration failed; it was rolled back.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The blocking task running the migrations panicked or was cancelled.
    #[error("migration task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Applies every pending migration and returns the versions applied.
pub async fn run_migrations(
    url: &DatabaseUrl,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, MigrationError> {
    let url = url.clone();
    // diesel's migration harness is synchronous; the wrapper drives the async
    // connection from this blocking thread.
    tokio::task::spawn_blocking(move || {
        let conn = tokio::runtime::Handle::current().block_on(url.connect())?;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .execute(&mut conn)?;
        let applied = conn
            .run_pending_migrations(migrations)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrationError::Migration(e.to_string()));
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .execute(&mut conn)?;
        applied
    })
    .await?
}

/// [`run_migrations`], waiting for the database to be reachable: a service
/// started before PostgreSQL (or while it restarts) logs and tries again,
/// backing off from 0.5 s to 10 s, instead of exiting into a crash loop.
/// Gives up after `patience`. Only reaching the database is retried; a
/// failed migration is returned at once.
pub async fn run_migrations_patiently(
    url: &DatabaseUrl,
    migrations: EmbeddedMigrations,
    patience: std::time::Duration,
) -> Result<Vec<String>, MigrationError> {
    wait_for_database(url, patience).await?;
    run_migrations(url, migrations).await
}

/// Connects to `url` until it works or `patience` has passed (see
/// [`run_migrations_patiently`]).
pub async fn wait_for_database(
    url: &DatabaseUrl,
    patience: std::time::Duration,
) -> Result<(), diesel::ConnectionError> {
    let give_up = tokio::time::Instant::now() + patience;
    let mut backoff = std::time::Duration::from_millis(500);
    loop {
        match url.connect().await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() + backoff < give_up => {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    "the database is not reachable yet; waiting"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}
