//! The service's tables: models and the queries that read and write them.

pub mod audit;
pub mod devices;
pub mod identities;
pub mod mail_outbox;
pub mod password_resets;
pub mod refresh_tokens;
pub mod schema;
pub mod service_accounts;
pub mod sessions;
pub mod throttle;
pub mod users;

pub use postgres_kit::PgPool;

/// The migrations of the service's database, embedded in the binary.
pub const MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations");

/// The name of the unique constraint a statement broke, if that is why it failed.
pub fn unique_violation(error: &diesel::result::Error) -> Option<&str> {
    match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) => info.constraint_name(),
        _ => None,
    }
}
