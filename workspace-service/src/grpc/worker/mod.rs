//! `workspace.v1.WorkerService`: what workers call. The access rule in the
//! proto admits only tokens with the `tasks.process` scope (or a qualified
//! `tasks.process:KIND` one, see [`crate::domain::kind`]).
//!
//! A lease is held by a worker name *and* the service account that claimed
//! it: another account naming the same worker holds nothing.

pub mod api;
mod claim_task;
mod complete_task;
mod fail_task;
mod get_task_context;
mod heartbeat_task;
mod read_task_file;
pub(crate) mod upload_task_output;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::domain::WorkerId;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The worker id of a request (see [`WorkerId`]).
fn worker_id(raw: &str) -> Result<String> {
    Ok(WorkerId::parse(raw)?.into_inner())
}

/// When a lease of `seconds` (0 for the default) taken at `now` ends.
fn lease_end(state: &AppState, seconds: i32, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let seconds = match seconds {
        0 => state.config.task_lease.as_secs() as i64,
        s @ 5..=3600 => i64::from(s),
        _ => {
            return Err(Error::invalid(
                "lease_seconds",
                "must be 5 to 3600 (0 for the default)",
            ));
        }
    };
    Ok(now + chrono::Duration::seconds(seconds))
}

/// Who acts on a lease: the worker's name and its service account.
#[derive(Debug, Clone, Copy)]
struct Holder<'a> {
    worker_id: &'a str,
    subject: Uuid,
}

impl Holder<'_> {
    /// Whether this holder is the one `task` was last leased to.
    fn was_leased(&self, task: &Task) -> bool {
        task.worker_id.as_deref() == Some(self.worker_id)
            && task.worker_subject == Some(self.subject)
    }
}

/// The task `task_id` if `holder` holds its live lease (read without a
/// lock: for calls that only read the task).
async fn leased_task(
    conn: &mut diesel_async::AsyncPgConnection,
    task_id: Uuid,
    holder: Holder<'_>,
    now: DateTime<Utc>,
) -> Result<Task> {
    let task = Task::find(conn, task_id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    holds(&task, holder, now)?;
    Ok(task)
}

/// Checks that `holder` holds `task`'s live lease: a cancelled task, or one
/// whose lease ran out and was handed to another worker, is not the worker's
/// any more.
fn holds(task: &Task, holder: Holder<'_>, now: DateTime<Utc>) -> Result<()> {
    let status = task.status();
    if status == crate::domain::task_state::Status::Cancelled && holder.was_leased(task) {
        return Err(Error::FailedPrecondition(
            "the task was cancelled by its owner".into(),
        ));
    }
    if status != crate::domain::task_state::Status::Processing {
        return Err(Error::FailedPrecondition(format!(
            "the task is {} and no longer leased to this worker",
            status.as_str()
        )));
    }
    let live = task.lease_expires_at.is_some_and(|end| end > now);
    if !holder.was_leased(task) || !live {
        return Err(Error::FailedPrecondition(
            "the lease on this task was lost".into(),
        ));
    }
    Ok(())
}
