//! The `task_outputs` table: result files a worker uploaded for a task.
//! They are files of the task's owner; an attempt that does not complete
//! takes its outputs with it ([`TaskFile::discard_outputs`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Task, TaskFile};
use crate::db::files::File;
use crate::db::schema::{files as files_table, task_outputs};

impl TaskFile {
    /// Attaches the file `file_id` to `task_id` as an output.
    pub async fn add_output(
        conn: &mut AsyncPgConnection,
        task_id: Uuid,
        file_id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(task_outputs::table)
            .values((
                task_outputs::task_id.eq(task_id),
                task_outputs::file_id.eq(file_id),
                task_outputs::created_at.eq(now),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// How many outputs `task_id` has.
    pub async fn count_outputs(conn: &mut AsyncPgConnection, task_id: Uuid) -> QueryResult<i64> {
        task_outputs::table
            .filter(task_outputs::task_id.eq(task_id))
            .count()
            .get_result(conn)
            .await
    }

    /// The outputs of each of `task_ids`, in upload order.
    pub async fn outputs_of(
        conn: &mut AsyncPgConnection,
        task_ids: &[Uuid],
    ) -> QueryResult<Vec<TaskFile>> {
        task_outputs::table
            .inner_join(files_table::table)
            .filter(task_outputs::task_id.eq_any(task_ids))
            .order((
                task_outputs::task_id,
                task_outputs::created_at,
                files_table::id,
            ))
            .select((
                task_outputs::task_id,
                files_table::id,
                files_table::filename,
                files_table::size_bytes,
                files_table::md5,
                files_table::sha256,
                files_table::mime_type,
            ))
            .load(conn)
            .await
    }

    /// Deletes the output files of `task_id` (their rows, their blob references
    /// and their share of the owner's usage). Returns the contents that may now
    /// be unreferenced, for the caller to free once the transaction commits
    /// ([`crate::blobs::free_all`]; the sweeper frees what that misses).
    pub async fn discard_outputs(
        conn: &mut AsyncPgConnection,
        task_id: Uuid,
    ) -> QueryResult<Vec<String>> {
        let ids: Vec<Uuid> = task_outputs::table
            .filter(task_outputs::task_id.eq(task_id))
            .select(task_outputs::file_id)
            .load(conn)
            .await?;
        File::delete_many(conn, &ids).await
    }
}

impl Task {
    /// Deletes `task` (locked by the caller) with its output files; returns the
    /// contents those used, to free once the transaction commits.
    pub async fn delete_with_outputs(
        conn: &mut AsyncPgConnection,
        task: &Task,
    ) -> QueryResult<Vec<String>> {
        let freed = TaskFile::discard_outputs(conn, task.id).await?;
        Task::delete(conn, task).await?;
        Ok(freed)
    }
}
