//! Embedded migrations, applied under a PostgreSQL advisory lock so that
//! replicas (or a migration job) starting together do not race.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

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
    url: &str,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, MigrationError> {
    let url = url.to_owned();
    // diesel's migration harness is synchronous; the wrapper drives the async
    // connection from this blocking thread.
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
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
