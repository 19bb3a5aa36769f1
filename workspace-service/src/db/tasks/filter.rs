//! Which tasks a list shows, in which order, one page at a time.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Task;
use crate::db::schema::{files, task_files, tasks};
use crate::domain::task_state::Status;

/// The column a task list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OrderColumn {
    CreatedAt,
    UpdatedAt,
    CompletedAt,
}

/// Where a page of tasks starts: after this (sort value, id).
pub type Position = (DateTime<Utc>, Uuid);

/// Which tasks a list shows, in which order.
#[derive(Debug, Clone)]
pub struct TaskFilter {
    pub user_id: Uuid,
    pub status: Option<Status>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Substring of an attached file's name (LIKE wildcards already escaped).
    pub filename_pattern: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub order: OrderColumn,
    pub descending: bool,
}

impl TaskFilter {
    fn query(&self) -> tasks::BoxedQuery<'static, diesel::pg::Pg> {
        let mut query = tasks::table
            .filter(tasks::user_id.eq(self.user_id))
            .into_boxed();
        if let Some(status) = self.status {
            query = query.filter(tasks::status.eq(status.as_str()));
        }
        if let Some(kind) = &self.kind {
            query = query.filter(tasks::kind.eq(kind.clone()));
        }
        if let Some(pattern) = &self.filename_pattern {
            query = query.filter(diesel::dsl::exists(
                task_files::table
                    .inner_join(files::table)
                    .filter(task_files::task_id.eq(tasks::id))
                    .filter(files::filename.ilike(pattern.clone())),
            ));
        }
        if let Some(after) = self.created_after {
            query = query.filter(tasks::created_at.ge(after));
        }
        if let Some(before) = self.created_before {
            query = query.filter(tasks::created_at.lt(before));
        }
        query
    }

    /// Whether the counters answer the total (no filter but the status).
    pub fn counted(&self) -> bool {
        self.filename_pattern.is_none()
            && self.kind.is_none()
            && self.created_after.is_none()
            && self.created_before.is_none()
    }

    fn sort_key(&self) -> diesel::expression::SqlLiteral<Timestamptz> {
        diesel::dsl::sql::<Timestamptz>(self.sort_key_sql())
    }

    /// One page after `after`.
    pub async fn page(
        &self,
        conn: &mut AsyncPgConnection,
        after: Option<Position>,
        limit: i64,
    ) -> QueryResult<Vec<Task>> {
        let mut query = self.query();
        if let Some((key, id)) = after {
            let (operator, id_operator) = if self.descending {
                ("<", "<")
            } else {
                (">", ">")
            };
            let key_sql = self.sort_key_sql();
            query = query.filter(
                diesel::dsl::sql::<Bool>(&format!("({key_sql} {operator} "))
                    .bind::<Timestamptz, _>(key)
                    .sql(&format!(" OR ({key_sql} = "))
                    .bind::<Timestamptz, _>(key)
                    .sql(&format!(" AND tasks.id {id_operator} "))
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .sql("))"),
            );
        }
        query = if self.descending {
            query.order((self.sort_key().desc(), tasks::id.desc()))
        } else {
            query.order((self.sort_key().asc(), tasks::id.asc()))
        };
        query
            .limit(limit)
            .select(Task::as_select())
            .load(conn)
            .await
    }

    /// The sort key in SQL: `completed_at` is NULL until a task ends, so it
    /// sorts as the epoch (see [`TaskFilter::key_of`]).
    fn sort_key_sql(&self) -> &'static str {
        match self.order {
            OrderColumn::CreatedAt => "tasks.created_at",
            OrderColumn::UpdatedAt => "tasks.updated_at",
            OrderColumn::CompletedAt => "coalesce(tasks.completed_at, 'epoch'::timestamptz)",
        }
    }

    /// The sort value of `task`, for the next page token.
    pub fn key_of(&self, task: &Task) -> DateTime<Utc> {
        match self.order {
            OrderColumn::CreatedAt => task.created_at,
            OrderColumn::UpdatedAt => task.updated_at,
            OrderColumn::CompletedAt => task.completed_at.unwrap_or(DateTime::UNIX_EPOCH),
        }
    }

    /// How many tasks match: from the counters when they can answer.
    pub async fn count(&self, conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        if self.counted() {
            let counts = Task::counts(conn, self.user_id).await?;
            return Ok(counts
                .iter()
                .filter(|(status, _)| self.status.is_none_or(|s| s.as_str() == status))
                .map(|(_, n)| n)
                .sum());
        }
        self.query().count().get_result(conn).await
    }
}
