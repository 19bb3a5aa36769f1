//! The `task_attempts` table: one row per lease, from claim to its end.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::task_attempts;

/// How an attempt ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    Requeued,
    LeaseExpired,
    Cancelled,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Requeued => "requeued",
            Self::LeaseExpired => "lease_expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// The outcome of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Completed,
            Self::Failed,
            Self::Requeued,
            Self::LeaseExpired,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }
}

/// A row of `task_attempts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = task_attempts)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Attempt {
    pub id: i64,
    pub task_id: Uuid,
    pub number: i32,
    pub worker_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub error_message: Option<String>,
}

impl Attempt {
    /// Records the start of attempt `number` of `task_id` by `worker_id`.
    pub async fn start(
        conn: &mut AsyncPgConnection,
        task_id: Uuid,
        number: i32,
        worker_id: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(task_attempts::table)
            .values((
                task_attempts::task_id.eq(task_id),
                task_attempts::number.eq(number),
                task_attempts::worker_id.eq(worker_id),
                task_attempts::started_at.eq(now),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Ends the running attempt of `task_id`, if any.
    pub async fn end(
        conn: &mut AsyncPgConnection,
        task_id: Uuid,
        outcome: Outcome,
        error_message: Option<&str>,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(
            task_attempts::table
                .filter(task_attempts::task_id.eq(task_id))
                .filter(task_attempts::ended_at.is_null()),
        )
        .set((
            task_attempts::ended_at.eq(now),
            task_attempts::outcome.eq(outcome.as_str()),
            task_attempts::error_message.eq(error_message),
        ))
        .execute(conn)
        .await
        .map(drop)
    }

    /// The attempts of each of `task_ids`, oldest first.
    pub async fn of(conn: &mut AsyncPgConnection, task_ids: &[Uuid]) -> QueryResult<Vec<Attempt>> {
        task_attempts::table
            .filter(task_attempts::task_id.eq_any(task_ids))
            .order((task_attempts::task_id, task_attempts::id))
            .select(Attempt::as_select())
            .load(conn)
            .await
    }
}
