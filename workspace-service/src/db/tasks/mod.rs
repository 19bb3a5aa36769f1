//! The `tasks` table and what hangs off it: files, outputs, attempts, the
//! per-user counters.
//!
//! Every status change goes through [`transition`], which updates the task,
//! keeps the per-user counters and the queue's pending counts, mirrors the
//! change on the conversation turn the task processes, and announces it
//! (`pg_notify('task_changed', id)`, for `WatchTask`), all in the caller's
//! transaction. The queue itself (claims, leases) is in [`queue`]; list
//! filters and pages in [`filter`].

pub mod attempts;
pub mod filter;
pub mod outputs;
pub mod queue;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{conversation_turns, files, task_counts, task_files, task_queues, tasks};
use crate::domain::task_state::Status;

/// The notification channel of task changes.
pub const CHANGED_CHANNEL: &str = "task_changed";

/// A row of `tasks`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
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
    pub kind: String,
    pub progress: Option<serde_json::Value>,
    pub run_after: DateTime<Utc>,
    pub worker_subject: Option<Uuid>,
}

impl Task {
    /// The status (rows only hold valid names: the table checks them).
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }
}

/// A file attached to a task (an input or an output).
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
    pub kind: &'a str,
    pub status: &'a str,
    pub max_attempts: i32,
    pub turn_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_after: DateTime<Utc>,
}

impl NewTask<'_> {
    /// Inserts the task (pending or a draft) with its files; counts it.
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
        Task::set_files(conn, task.id, file_ids).await?;
        adjust_count(conn, task.user_id, None, task.status()).await?;
        if task.status() == Status::Pending {
            adjust_queue(conn, task.user_id, &task.kind, 1).await?;
        }
        Task::notify(conn, task.id).await?;
        Ok(task)
    }
}

/// The fields a transition sets besides the status.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tasks)]
pub struct Changes {
    pub query: Option<String>,
    pub kind: Option<String>,
    pub analysis: Option<Option<String>>,
    pub operations: Option<Option<serde_json::Value>>,
    pub result: Option<Option<serde_json::Value>>,
    pub error_message: Option<Option<String>>,
    pub attempt: Option<i32>,
    pub worker_id: Option<Option<String>>,
    pub worker_subject: Option<Option<Uuid>>,
    pub lease_expires_at: Option<Option<DateTime<Utc>>>,
    pub started_at: Option<Option<DateTime<Utc>>>,
    pub completed_at: Option<Option<DateTime<Utc>>>,
    pub run_after: Option<DateTime<Utc>>,
    pub progress: Option<Option<serde_json::Value>>,
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

/// Moves one task of `user_id` from the `from` counter to the `to` counter.
/// The two rows are locked in the order of their status names, and queue
/// rows only after counters, whatever the transition: every transaction
/// takes these locks in one order, so concurrent transitions of one user's
/// tasks wait for each other but never deadlock.
async fn adjust_count(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    from: Option<Status>,
    to: Status,
) -> QueryResult<()> {
    match from {
        Some(from) if from.as_str() < to.as_str() => {
            count_one(conn, user_id, from, -1).await?;
            count_one(conn, user_id, to, 1).await
        }
        Some(from) => {
            count_one(conn, user_id, to, 1).await?;
            count_one(conn, user_id, from, -1).await
        }
        None => count_one(conn, user_id, to, 1).await,
    }
}

async fn count_one(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    status: Status,
    by: i64,
) -> QueryResult<()> {
    diesel::insert_into(task_counts::table)
        .values((
            task_counts::user_id.eq(user_id),
            task_counts::status.eq(status.as_str()),
            task_counts::count.eq(by.max(0)),
        ))
        .on_conflict((task_counts::user_id, task_counts::status))
        .do_update()
        .set(task_counts::count.eq(task_counts::count + by))
        .execute(conn)
        .await
        .map(drop)
}

/// Adds `by` to the pending count of the user's queue of `kind`.
async fn adjust_queue(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    kind: &str,
    by: i64,
) -> QueryResult<()> {
    diesel::insert_into(task_queues::table)
        .values((
            task_queues::user_id.eq(user_id),
            task_queues::kind.eq(kind),
            task_queues::pending.eq(by.max(0)),
        ))
        .on_conflict((task_queues::user_id, task_queues::kind))
        .do_update()
        .set(task_queues::pending.eq(task_queues::pending + by))
        .execute(conn)
        .await
        .map(drop)
}

impl Task {
    /// Attaches `file_ids` to the task (after removing any it had).
    pub async fn set_files(
        conn: &mut AsyncPgConnection,
        task_id: Uuid,
        file_ids: &[Uuid],
    ) -> QueryResult<()> {
        diesel::delete(task_files::table.filter(task_files::task_id.eq(task_id)))
            .execute(conn)
            .await?;
        let links: Vec<_> = file_ids
            .iter()
            .map(|f| (task_files::task_id.eq(task_id), task_files::file_id.eq(*f)))
            .collect();
        if !links.is_empty() {
            diesel::insert_into(task_files::table)
                .values(links)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Moves `task` (locked by the caller) to `to`, setting `changes`; keeps the
    /// counters, the queue, the turn and the watchers in step. Returns the
    /// updated task.
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
        let from = task.status();
        if from != to {
            adjust_count(conn, task.user_id, Some(from), to).await?;
            if from == Status::Pending {
                adjust_queue(conn, task.user_id, &task.kind, -1).await?;
            }
            if to == Status::Pending {
                adjust_queue(conn, task.user_id, &task.kind, 1).await?;
            }
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
        Self::notify(conn, task.id).await?;
        Ok(updated)
    }

    /// Deletes `task` (locked by the caller, deletable) and uncounts it; its
    /// files, outputs and attempts go with it (the outputs' file rows are the
    /// caller's to delete first, see [`outputs::discard`]).
    pub async fn delete(conn: &mut AsyncPgConnection, task: &Task) -> QueryResult<()> {
        diesel::delete(tasks::table.find(task.id))
            .execute(conn)
            .await?;
        count_one(conn, task.user_id, task.status(), -1).await?;
        if task.status() == Status::Pending {
            adjust_queue(conn, task.user_id, &task.kind, -1).await?;
        }
        Self::notify(conn, task.id).await
    }

    /// Finished tasks that no conversation turn owns, finished before `cutoff`,
    /// locked (skipping those another transaction holds), oldest first.
    pub async fn finished_before(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<Task>> {
        tasks::table
            .filter(tasks::status.eq_any([
                Status::Completed.as_str(),
                Status::Failed.as_str(),
                Status::Cancelled.as_str(),
            ]))
            .filter(tasks::completed_at.lt(cutoff))
            .filter(tasks::turn_id.is_null())
            .order(tasks::completed_at)
            .limit(limit)
            .select(Task::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await
    }

    /// Announces a change of `task_id` to the watchers.
    pub async fn notify(conn: &mut AsyncPgConnection, task_id: Uuid) -> QueryResult<()> {
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
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Task>> {
        tasks::table
            .find(id)
            .select(Task::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// The input files of each of `task_ids`.
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

    /// The caller's tasks in all and pending, read under the locks of all the
    /// caller's counters (taken in status order, like every transition's).
    pub async fn lock_counts(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<(i64, i64)> {
        let counts: Vec<(String, i64)> = task_counts::table
            .filter(task_counts::user_id.eq(user_id))
            .order(task_counts::status)
            .select((task_counts::status, task_counts::count))
            .for_update()
            .load(conn)
            .await?;
        let total = counts.iter().map(|(_, n)| n).sum();
        let pending = counts
            .iter()
            .find(|(status, _)| status == Status::Pending.as_str())
            .map_or(0, |(_, n)| *n);
        Ok((total, pending))
    }

    /// Every user's tasks together, by status (for the queue depth metric).
    pub async fn counts_by_status(
        pool: &postgres_kit::PgPool,
    ) -> anyhow::Result<Vec<(String, i64)>> {
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
}
