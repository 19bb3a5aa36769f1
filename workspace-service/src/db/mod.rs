//! The service's tables: models and the queries that read and write them.

pub mod conversations;
pub mod files;
pub mod request_ids;
pub mod schema;
pub mod stats;
pub mod tasks;
pub mod turns;

pub use postgres_kit::PgPool;

/// The migrations of the service's database, embedded in the binary.
pub const MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations");
