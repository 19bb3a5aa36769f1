//! PostgreSQL plumbing shared by the services.
//!
//! - [`pool`]: the diesel-async connection pool with timeouts set once per connection.
//! - [`migrate`]: embedded migrations, serialised between replicas by an advisory lock.
//! - [`notify`]: LISTEN on a channel and fan notifications out in the process.
//! - [`cluster`]: a PostgreSQL cluster run from the local server binaries, for the dev
//!   stack and the tests (never in production, where the database is external).
//! - [`testing`] (feature `testing`): one throw-away cluster per test process and a fresh,
//!   migrated database per test.

pub mod cluster;
pub mod migrate;
pub mod notify;
pub mod pool;
#[cfg(feature = "testing")]
pub mod testing;

pub use cluster::{ClusterError, ClusterOptions, Listen, LocalCluster};
pub use migrate::{MigrationError, run_migrations, run_migrations_patiently};
pub use pool::{PgPool, PoolError, PoolSettings, build_pool};

/// Why a service's database could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Migrations failed.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// The pool could not be built.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// What each service does with its database at start: applies `migrations`
/// (when given) and builds the pool.
pub async fn prepare(
    url: &str,
    migrations: Option<diesel_migrations::EmbeddedMigrations>,
    settings: &PoolSettings,
) -> Result<PgPool, PrepareError> {
    if let Some(migrations) = migrations {
        let applied = run_migrations_patiently(url, migrations, settings.startup_patience).await?;
        tracing::info!(count = applied.len(), "migrations applied");
    }
    Ok(build_pool(url, settings)?)
}
