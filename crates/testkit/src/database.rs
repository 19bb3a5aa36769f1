//! A database of the stack, and SQL access to it for what a test checks or
//! sets up directly (counts, rows another RPC would write).

/// Which service's schema a fresh database gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Auth,
    Workspace,
}

/// One database of the stack.
#[derive(Debug, Clone)]
pub struct Database {
    /// Its connection string.
    pub url: String,
}

impl Database {
    /// A new database with `schema` migrated, on the test process's
    /// throw-away cluster (see `postgres_kit::testing`).
    pub async fn fresh(schema: Schema) -> Self {
        let url = match schema {
            Schema::Auth => {
                postgres_kit::testing::fresh_database("auth", auth_service::db::MIGRATIONS).await
            }
            Schema::Workspace => {
                postgres_kit::testing::fresh_database(
                    "workspace",
                    workspace_service::db::MIGRATIONS,
                )
                .await
            }
        };
        Self { url }
    }

    /// The database at `url`.
    pub fn at(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }

    /// A connection, its driver running in a task of its own.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
        tokio::spawn(connection);
        client
    }

    /// The one bigint `sql` returns.
    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"))
            .get(0)
    }

    /// Runs `sql` (one or more statements without parameters).
    pub async fn execute(&self, sql: &str) {
        self.client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
    }
}
