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
pub mod connect;
pub mod migrate;
pub mod notify;
pub mod pool;
#[cfg(feature = "testing")]
pub mod testing;

pub use cluster::{ClusterError, ClusterOptions, Listen, LocalCluster};
pub use connect::{DatabaseUrl, InvalidUrl};
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
    url: &DatabaseUrl,
    migrations: Option<diesel_migrations::EmbeddedMigrations>,
    settings: &PoolSettings,
) -> Result<PgPool, PrepareError> {
    if let Some(migrations) = migrations {
        let applied = run_migrations_patiently(url, migrations, settings.startup_patience).await?;
        tracing::info!(count = applied.len(), "migrations applied");
    }
    Ok(build_pool(url, settings)?)
}

/// Whether `error` is the database going away rather than a fault of the
/// query: the connection broke (`UnableToSendCommand`, `ClosedConnection`),
/// or the server ended the session because it is shutting down, crashed or
/// is still recovering (SQLSTATE class 57P, whose code diesel does not keep:
/// matched on the server's messages, which are English unless
/// `lc_messages` is changed). A caller may retry such a call: the services
/// answer UNAVAILABLE, not INTERNAL.
pub fn is_database_gone(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        ) => true,
        Error::DatabaseError(_, info) => [
            "terminating connection",
            "the database system is shutting down",
            "the database system is starting up",
            "the database system is in recovery mode",
            "the database system is not yet accepting connections",
        ]
        .iter()
        .any(|m| info.message().starts_with(m)),
        _ => false,
    }
}

/// [`is_database_gone`] for any error in `error`'s chain.
pub fn caused_by_database_gone(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<diesel::result::Error>()
            .is_some_and(is_database_gone)
    })
}

#[cfg(test)]
mod gone_tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    #[test]
    fn a_broken_connection_or_a_shutting_down_server_is_gone_and_a_bad_query_is_not() {
        let gone = Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        );
        assert!(is_database_gone(&gone));
        let crashed = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(
                "terminating connection because of crash of another server process".to_owned(),
            ),
        );
        assert!(caused_by_database_gone(
            &anyhow::Error::from(crashed).context("reading a conversation")
        ));
        let unique = Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key value".to_owned()),
        );
        assert!(!is_database_gone(&unique));
        assert!(!is_database_gone(&Error::NotFound));
    }
}
