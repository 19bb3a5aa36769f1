//! `CompleteTask`: the caller's task is done, with its result.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::files::File;
use crate::db::tasks::attempts::Attempt;
use crate::db::tasks::attempts::Outcome;
use crate::db::tasks::{Changes, Task, TurnResult};
use crate::domain::task_state::Action;
use crate::error::{Error, Result};
use crate::grpc::convert::value_to_json;
use crate::grpc::ids;
use crate::state::AppState;

/// Largest analysis text kept, in characters.
const MAX_ANALYSIS_CHARS: usize = 100_000;

pub async fn complete_task(
    state: &AppState,
    subject: Uuid,
    request: pb::CompleteTaskRequest,
) -> Result<pb::CompleteTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let holder = super::Holder {
        worker_id: &worker,
        subject,
    };
    if request.analysis.chars().count() > MAX_ANALYSIS_CHARS {
        return Err(Error::invalid(
            "analysis",
            format!("must have at most {MAX_ANALYSIS_CHARS} characters"),
        ));
    }
    let output_file_id = match request.output_file_id.trim() {
        "" => None,
        raw => Some(
            Uuid::parse_str(raw).map_err(|_| Error::invalid("output_file_id", "is not a UUID"))?,
        ),
    };
    let operations = request.operations.as_ref().map(value_to_json);
    let result = request.result.as_ref().map(value_to_json);
    let field = |name: &str| result.as_ref().and_then(|r| r.get(name)).cloned();
    let analysis = Some(request.analysis.clone()).filter(|a| !a.is_empty());
    let turn_result = TurnResult {
        analysis: analysis.clone(),
        variables: field("variables"),
        new_columns: field("new_columns"),
        formulas: field("formulas"),
        errors: field("errors"),
        output_file_id,
    };
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let task = conn
        .transaction(async |conn| -> Result<Task> {
            let task = Task::find_for_update(conn, id)
                .await?
                .ok_or(Error::NotFound("task"))?;
            super::holds(&task, holder, now)?;
            let to = task
                .status()
                .after(Action::Complete)
                .map_err(Error::Transition)?;
            if let Some(file) = output_file_id
                && File::owned_by(conn, task.user_id, &[file])
                    .await?
                    .is_empty()
            {
                return Err(Error::invalid(
                    "output_file_id",
                    "is not a file of the task's owner",
                ));
            }
            Attempt::end(conn, task.id, Outcome::Completed, None, now).await?;
            // The last progress reported, if the flusher has not written it.
            let progress = state.progress.take(task.id);
            let changes = Changes {
                progress: progress.map(Some),
                analysis: Some(analysis.clone()),
                operations: Some(operations.clone()),
                result: Some(result.clone()),
                lease_expires_at: Some(None),
                completed_at: Some(Some(now)),
                ..Default::default()
            };
            Ok(Task::transition(conn, &task, to, changes, Some(turn_result.clone()), now).await?)
        })
        .await?;
    tracing::info!(task_id = %task.id, worker = %worker, "task completed");
    Ok(pb::CompleteTaskResponse {
        task: Some(crate::grpc::tasks::one_to_wire(&mut conn, &task).await?),
    })
}
