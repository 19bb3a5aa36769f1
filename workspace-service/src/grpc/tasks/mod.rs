//! `workspace.v1.TaskService`: routes each RPC to its file.

pub mod api;
mod cancel_task;
mod change;
pub(crate) mod create_task;
mod delete_task;
mod export_task;
mod get_task;
mod get_task_stats;
mod list_tasks;
mod retry_task;
mod start_task;
mod update_task;
pub(crate) mod watch_task;

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;
use proto::workspace::v1::{self as pb};
use uuid::Uuid;

use crate::db::tasks::attempts::{Attempt, Outcome};
use crate::db::tasks::{Task, TaskFile};
use crate::domain::progress::Progress;
use crate::domain::task_state::Status;
use crate::grpc::convert::{json_field, timestamp};

/// The wire status of a stored one.
pub fn wire_status(status: Status) -> pb::TaskStatus {
    match status {
        Status::Draft => pb::TaskStatus::Draft,
        Status::Pending => pb::TaskStatus::Pending,
        Status::Processing => pb::TaskStatus::Processing,
        Status::Completed => pb::TaskStatus::Completed,
        Status::Failed => pb::TaskStatus::Failed,
        Status::Cancelled => pb::TaskStatus::Cancelled,
    }
}

/// Tasks as the wire shows them, with their files, outputs and attempts.
pub async fn to_wire(
    conn: &mut AsyncPgConnection,
    list: &[Task],
) -> crate::error::Result<Vec<pb::Task>> {
    let ids: Vec<Uuid> = list.iter().map(|t| t.id).collect();
    let mut files = group(Task::files_of(conn, &ids).await?);
    let mut outputs = group(TaskFile::outputs_of(conn, &ids).await?);
    let mut attempts: HashMap<Uuid, Vec<pb::TaskAttempt>> = HashMap::new();
    for attempt in Attempt::of(conn, &ids).await? {
        attempts
            .entry(attempt.task_id)
            .or_default()
            .push(attempt_to_wire(attempt));
    }
    Ok(list
        .iter()
        .map(|task| pb::Task {
            task_id: task.id.to_string(),
            query: task.query.clone(),
            status: wire_status(task.status()) as i32,
            files: files.remove(&task.id).unwrap_or_default(),
            analysis: task.analysis.clone().unwrap_or_default(),
            operations: json_field(&task.operations),
            result: json_field(&task.result),
            error_message: task.error_message.clone().unwrap_or_default(),
            attempt: task.attempt,
            turn_id: task.turn_id.map(|id| id.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(task.created_at)),
            started_at: task.started_at.map(timestamp),
            completed_at: task.completed_at.map(timestamp),
            updated_at: Some(timestamp(task.updated_at)),
            kind: task.kind.clone(),
            progress: task.progress.as_ref().and_then(progress_to_wire),
            outputs: outputs.remove(&task.id).unwrap_or_default(),
            attempts: attempts.remove(&task.id).unwrap_or_default(),
            run_after: (task.status() == Status::Pending).then(|| timestamp(task.run_after)),
        })
        .collect())
}

/// Files by task, as the wire shows them.
fn group(rows: Vec<TaskFile>) -> HashMap<Uuid, Vec<pb::TaskFile>> {
    let mut by_task: HashMap<Uuid, Vec<pb::TaskFile>> = HashMap::new();
    for file in rows {
        by_task
            .entry(file.task_id)
            .or_default()
            .push(task_file_to_wire(file));
    }
    by_task
}

/// A file of a task as the wire shows it.
pub fn task_file_to_wire(file: TaskFile) -> pb::TaskFile {
    pb::TaskFile {
        file_id: file.file_id.to_string(),
        filename: file.filename,
        size_bytes: file.size_bytes,
        md5: file.md5,
        sha256: file.sha256,
        mime_type: file.mime_type,
    }
}

/// A stored file as a task's file on the wire.
pub fn file_to_task_file(file: crate::db::files::File) -> pb::TaskFile {
    pb::TaskFile {
        file_id: file.id.to_string(),
        filename: file.filename,
        size_bytes: file.size_bytes,
        md5: file.md5,
        sha256: file.sha256,
        mime_type: file.mime_type,
    }
}

/// A stored progress report as the wire shows it (a row that does not
/// read as one shows none).
pub fn progress_to_wire(stored: &serde_json::Value) -> Option<pb::TaskProgress> {
    let progress: Progress = serde_json::from_value(stored.clone()).ok()?;
    Some(pb::TaskProgress {
        fraction: progress.fraction,
        message: progress.message,
        partial: progress
            .partial
            .as_ref()
            .map(crate::grpc::convert::json_to_value),
        reported_at: Some(timestamp(progress.reported_at)),
    })
}

fn attempt_to_wire(attempt: Attempt) -> pb::TaskAttempt {
    let outcome = match attempt.outcome.as_deref().and_then(Outcome::parse) {
        None => pb::AttemptOutcome::Unspecified,
        Some(Outcome::Completed) => pb::AttemptOutcome::Completed,
        Some(Outcome::Failed) => pb::AttemptOutcome::Failed,
        Some(Outcome::Requeued) => pb::AttemptOutcome::Requeued,
        Some(Outcome::LeaseExpired) => pb::AttemptOutcome::LeaseExpired,
        Some(Outcome::Cancelled) => pb::AttemptOutcome::Cancelled,
    };
    pb::TaskAttempt {
        number: attempt.number,
        worker_id: attempt.worker_id,
        started_at: Some(timestamp(attempt.started_at)),
        ended_at: attempt.ended_at.map(timestamp),
        outcome: outcome as i32,
        error_message: attempt.error_message.unwrap_or_default(),
    }
}

/// One task as the wire shows it.
pub async fn one_to_wire(
    conn: &mut AsyncPgConnection,
    task: &Task,
) -> crate::error::Result<pb::Task> {
    Ok(to_wire(conn, std::slice::from_ref(task)).await?.remove(0))
}
