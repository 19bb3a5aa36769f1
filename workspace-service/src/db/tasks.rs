//! The `tasks`, `task_files` and `task_counts` tables: the work queue.
//!
//! Every status change goes through [`transition`], which updates the task,
//! keeps the per-user counters, mirrors the change on the conversation turn
//! the task processes, and announces it (`pg_notify('task_changed', id)`, for
//! `WatchTask`), all in the caller's transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{conversation_turns, files, task_counts, task_files, tasks};
use crate::domain::task_state::Status;

/// The notification channel of task changes.
pub const CHANGED_CHANNEL: &str = "task_changed";

/// A row of `tasks`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tasks)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Task {
    pub id: Uuid,
    pub user_id: Uuid,
    pub query: String,
    pub status: String,
    pub analysis: Option<String>,
    pub operations: Option<serde_json::Value>,
    pub result: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub turn_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// The status (rows only hold valid names: the table checks them).
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }
}

/// A file attached to a task.
#[derive(Debug, Clone, Queryable)]
pub struct TaskFile {
    pub task_id: Uuid,
    pub file_id: Uuid,
    pub filename: String,
    pub size_bytes: i64,
    pub md5: String,
    pub sha256: String,
    pub mime_type: String,
}

/// A new task.
#[derive(Debug, Insertable)]
#[diesel(table_name = tasks)]
pub struct NewTask<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub query: &'a str,
    pub status: &'a str,
    pub max_attempts: i32,
    pub turn_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl NewTask<'_> {
    /// Inserts the task, pending, with its files; counts it.
    pub async fn insert(
        &self,
        conn: &mut AsyncPgConnection,
        file_ids: &[Uuid],
    ) -> QueryResult<Task> {
        let task = diesel::insert_into(tasks::table)
            .values(self)
            .returning(Task::as_returning())
            .get_result(conn)
            .await?;
        let links: Vec<_> = file_ids
            .iter()
            .map(|f| (task_files::task_id.eq(task.id), task_files::file_id.eq(*f)))
            .collect();
        if !links.is_empty() {
            diesel::insert_into(task_files::table)
                .values(links)
                .execute(conn)
                .await?;
        }
        adjust_count(conn, task.user_id, None, Status::Pending).await?;
        notify(conn, task.id).await?;
        Ok(task)
    }
}

/// The fields a transition sets besides the status.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tasks)]
pub struct Changes {
    pub analysis: Option<Option<String>>,
    pub operations: Option<Option<serde_json::Value>>,
    pub result: Option<Option<serde_json::Value>>,
    pub error_message: Option<Option<String>>,
    pub attempt: Option<i32>,
    pub worker_id: Option<Option<String>>,
    pub lease_expires_at: Option<Option<DateTime<Utc>>>,
    pub started_at: Option<Option<DateTime<Utc>>>,
    pub completed_at: Option<Option<DateTime<Utc>>>,
}

/// What a turn takes from its task's result.
#[derive(Debug, Default, Clone)]
pub struct TurnResult {
    pub analysis: Option<String>,
    pub variables: Option<serde_json::Value>,
    pub new_columns: Option<serde_json::Value>,
    pub formulas: Option<serde_json::Value>,
    pub errors: Option<serde_json::Value>,
    pub output_file_id: Option<Uuid>,
}

/// Moves `task` (locked by the caller) to `to`, setting `changes`; keeps the
/// counters, the turn and the watchers in step. Returns the updated task.
pub async fn transition(
    conn: &mut AsyncPgConnection,
    task: &Task,
    to: Status,
    changes: Changes,
    turn_result: Option<TurnResult>,
    now: DateTime<Utc>,
) -> QueryResult<Task> {
    let updated = diesel::update(tasks::table.find(task.id))
        .set((
            tasks::status.eq(to.as_str()),
            tasks::updated_at.eq(now),
            &changes,
        ))
        .returning(Task::as_returning())
        .get_result(conn)
        .await?;
    if task.status() != to {
        adjust_count(conn, task.user_id, Some(task.status()), to).await?;
    }
    if let Some(turn_id) = task.turn_id {
        let result = turn_result.unwrap_or_default();
        let completed_at = to.is_terminal().then_some(now);
        diesel::update(conversation_turns::table.find(turn_id))
            .set((
                conversation_turns::status.eq(to.as_str()),
                conversation_turns::updated_at.eq(now),
                conversation_turns::completed_at.eq(completed_at),
                conversation_turns::analysis.eq(result.analysis),
                conversation_turns::variables.eq(result.variables),
                conversation_turns::new_columns.eq(result.new_columns),
                conversation_turns::formulas.eq(result.formulas),
                conversation_turns::errors.eq(result.errors),
                conversation_turns::output_file_id.eq(result.output_file_id),
            ))
            .execute(conn)
            .await?;
    }
    notify(conn, task.id).await?;
    Ok(updated)
}

async fn adjust_count(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    from: Option<Status>,
    to: Status,
) -> QueryResult<()> {
    if let Some(from) = from {
        diesel::update(task_counts::table.find((user_id, from.as_str())))
            .set(task_counts::count.eq(task_counts::count - 1))
            .execute(conn)
            .await?;
    }
    diesel::insert_into(task_counts::table)
        .values((
            task_counts::user_id.eq(user_id),
            task_counts::status.eq(to.as_str()),
            task_counts::count.eq(1_i64),
        ))
        .on_conflict((task_counts::user_id, task_counts::status))
        .do_update()
        .set(task_counts::count.eq(task_counts::count + 1))
        .execute(conn)
        .await
        .map(drop)
}

async fn notify(conn: &mut AsyncPgConnection, task_id: Uuid) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANGED_CHANNEL)
        .bind::<Text, _>(task_id.to_string())
        .execute(conn)
        .await
        .map(drop)
}

/// The caller's task, or `None` (missing or another user's).
pub async fn find_for_user(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<Task>> {
    tasks::table
        .find(id)
        .filter(tasks::user_id.eq(user_id))
        .select(Task::as_select())
        .first(conn)
        .await
        .optional()
}

/// The task, whoever owns it (for workers).
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Task>> {
    tasks::table
        .find(id)
        .select(Task::as_select())
        .first(conn)
        .await
        .optional()
}

/// The task, locked until the transaction ends.
pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Task>> {
    tasks::table
        .find(id)
        .select(Task::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Takes the oldest pending task for `worker_id` with a lease until
/// `lease_expires_at`; concurrent claimers skip each other's rows.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    worker_id: &str,
    lease_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<Option<Task>> {
    let next: Option<Task> = tasks::table
        .filter(tasks::status.eq(Status::Pending.as_str()))
        .order((tasks::created_at, tasks::id))
        .select(Task::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()?;
    let Some(task) = next else { return Ok(None) };
    let changes = Changes {
        attempt: Some(task.attempt + 1),
        worker_id: Some(Some(worker_id.to_owned())),
        lease_expires_at: Some(Some(lease_expires_at)),
        started_at: Some(Some(task.started_at.unwrap_or(now))),
        ..Default::default()
    };
    transition(conn, &task, Status::Processing, changes, None, now)
        .await
        .map(Some)
}

/// Processing tasks whose lease ran out before `now`, locked (skipping those
/// another reaper holds).
pub async fn expired_leases(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Task>> {
    tasks::table
        .filter(tasks::status.eq(Status::Processing.as_str()))
        .filter(tasks::lease_expires_at.lt(now))
        .order(tasks::lease_expires_at)
        .limit(limit)
        .select(Task::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// The files of each of `task_ids`.
pub async fn files_of(
    conn: &mut AsyncPgConnection,
    task_ids: &[Uuid],
) -> QueryResult<Vec<TaskFile>> {
    task_files::table
        .inner_join(files::table)
        .filter(task_files::task_id.eq_any(task_ids))
        .order((task_files::task_id, files::filename, files::id))
        .select((
            task_files::task_id,
            files::id,
            files::filename,
            files::size_bytes,
            files::md5,
            files::sha256,
            files::mime_type,
        ))
        .load(conn)
        .await
}

/// The caller's task counts by status.
pub async fn counts(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(String, i64)>> {
    task_counts::table
        .filter(task_counts::user_id.eq(user_id))
        .select((task_counts::status, task_counts::count))
        .load(conn)
        .await
}

/// Every user's tasks together, by status (for the queue depth metric).
pub async fn counts_by_status(pool: &postgres_kit::PgPool) -> anyhow::Result<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let mut conn = pool.get().await?;
    let totals: Vec<Total> = diesel::sql_query(
        "SELECT status, sum(count)::bigint AS count FROM task_counts GROUP BY status",
    )
    .load(&mut conn)
    .await?;
    Ok(totals.into_iter().map(|t| (t.status, t.count)).collect())
}

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
            let counts = counts(conn, self.user_id).await?;
            return Ok(counts
                .iter()
                .filter(|(status, _)| self.status.is_none_or(|s| s.as_str() == status))
                .map(|(_, n)| n)
                .sum());
        }
        self.query().count().get_result(conn).await
    }
}
