//! The `service_accounts` table: internal callers with scopes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::service_accounts;

/// A row of `service_accounts`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_accounts)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ServiceAccount {
    pub id: Uuid,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl ServiceAccount {
    /// Inserts the account.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(service_accounts::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }

    /// The account with this id.
    pub async fn find(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<ServiceAccount>> {
        service_accounts::table
            .find(id)
            .select(ServiceAccount::as_select())
            .first(conn)
            .await
            .optional()
    }
}
