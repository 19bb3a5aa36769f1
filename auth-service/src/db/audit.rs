//! The `audit_events` table: security events, written in the same
//! transaction as the change they record.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::audit_events;

/// A row of `audit_events`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub login_name: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub reason: Option<String>,
    /// The identity provider of a sign-in (none: a password).
    pub provider: Option<String>,
}

impl AuditEvent {
    /// Inserts the event.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }

    /// Deletes at most `batch` events older than `before`; returns how many.
    pub async fn delete_older_than(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
        batch: i64,
    ) -> QueryResult<usize> {
        let old: Vec<Uuid> = audit_events::table
            .filter(audit_events::occurred_at.lt(before))
            .limit(batch)
            .select(audit_events::id)
            .load(conn)
            .await?;
        diesel::delete(audit_events::table.filter(audit_events::id.eq_any(old)))
            .execute(conn)
            .await
    }
}

/// Where a page of events starts: after this (occurred_at, id).
pub type Position = (DateTime<Utc>, Uuid);

/// Which events a list shows.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<Uuid>,
    pub event_types: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl EventFilter {
    fn query(&self) -> audit_events::BoxedQuery<'_, diesel::pg::Pg> {
        let mut query = audit_events::table.into_boxed();
        if let Some(user_id) = self.user_id {
            query = query.filter(audit_events::user_id.eq(user_id));
        }
        if !self.event_types.is_empty() {
            query = query.filter(audit_events::event_type.eq_any(&self.event_types));
        }
        if let Some(since) = self.since {
            query = query.filter(audit_events::occurred_at.ge(since));
        }
        if let Some(until) = self.until {
            query = query.filter(audit_events::occurred_at.lt(until));
        }
        query
    }

    /// One page, newest first, after `after`.
    pub async fn page(
        &self,
        conn: &mut AsyncPgConnection,
        after: Option<Position>,
        limit: i64,
    ) -> QueryResult<Vec<AuditEvent>> {
        let mut query = self.query();
        if let Some((at, id)) = after {
            query = query.filter(
                audit_events::occurred_at
                    .lt(at)
                    .or(audit_events::occurred_at
                        .eq(at)
                        .and(audit_events::id.lt(id))),
            );
        }
        query
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .limit(limit)
            .select(AuditEvent::as_select())
            .load(conn)
            .await
    }

    /// How many events match.
    pub async fn count(&self, conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        self.query().count().get_result(conn).await
    }
}
