//! The `sessions` table: one row per sign-in on a device.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::sessions;

/// A row of `sessions`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device_info: Option<String>,
}

/// A new session.
#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub device_info: Option<&'a str>,
}

impl NewSession<'_> {
    /// Inserts the session.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<Session> {
        diesel::insert_into(sessions::table)
            .values(self)
            .returning(Session::as_returning())
            .get_result(conn)
            .await
    }
}
