//! The connection pool. Timeouts and the application name are set once, when a
//! connection is made, so no query has to remember them.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures::FutureExt;

use crate::connect::DatabaseUrl;

/// A pool of diesel-async PostgreSQL connections.
pub type PgPool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;

/// How the pool makes and hands out connections.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_size: usize,
    /// How long to wait for a new connection to be established.
    pub connect_timeout: Duration,
    /// How long a caller waits for a free connection before giving up.
    pub wait_timeout: Duration,
    /// Server-side limit on one statement.
    pub statement_timeout: Duration,
    /// How long start-up waits for an unreachable database before failing.
    pub startup_patience: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
}

impl PoolSettings {
    /// Defaults suited to a small service: 10 connections, 5 s to connect or
    /// to get a connection, statements cut at 30 s.
    pub fn new(application_name: &str) -> Self {
        Self {
            max_size: 10,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            startup_patience: Duration::from_secs(300),
            application_name: application_name.to_owned(),
        }
    }
}

/// Why the pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pool configuration was refused.
    #[error("cannot build the connection pool: {0}")]
    Build(#[from] diesel_async::pooled_connection::deadpool::BuildError),
}

/// A connection idle for longer than this is checked with a round trip
/// before it is handed out; one used more recently is not (it cannot have
/// gone stale unnoticed: an error marks it broken and the pool drops it).
/// Checking every connection cost one extra round trip per request.
pub const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(2);

/// Builds the pool. No connection is made until one is needed, so a service
/// can start before its database is up.
pub fn build_pool(url: &DatabaseUrl, settings: &PoolSettings) -> Result<PgPool, PoolError> {
    let mut url = url.clone();
    url.config_mut()
        .connect_timeout(settings.connect_timeout)
        .application_name(&settings.application_name)
        .options(format!(
            "-c statement_timeout={}",
            settings.statement_timeout.as_millis()
        ));

    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    let connector = url.clone();
    manager_config.custom_setup = Box::new(move |_url| {
        let connector = connector.clone();
        async move { connector.connect().await }.boxed()
    });
    // Open transactions and broken connections are always caught; the test
    // query runs only for idle connections (the hook below).
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config("", manager_config);
    let pool = PgPool::builder(manager)
        .max_size(settings.max_size)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .pre_recycle(deadpool::managed::Hook::async_fn(
            |conn: &mut AsyncPgConnection, metrics: &deadpool::managed::Metrics| {
                let idle = metrics.last_used() >= VERIFY_AFTER_IDLE;
                async move {
                    if idle {
                        use diesel_async::SimpleAsyncConnection;
                        conn.batch_execute("SELECT 1").await.map_err(|e| {
                            deadpool::managed::HookError::Message(
                                format!("an idle connection failed its check: {e}").into(),
                            )
                        })?;
                    }
                    Ok(())
                }
                .boxed()
            },
        ))
        .build()?;
    Ok(pool)
}
