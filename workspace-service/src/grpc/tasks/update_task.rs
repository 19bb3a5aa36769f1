//! `UpdateTask`: replaces a draft's query, kind or files (the fields the
//! request carries); any other status is FAILED_PRECONDITION.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::files::File;
use crate::db::tasks::{Changes, Task};
use crate::domain::Query;
use crate::domain::kind::Kind;
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn update_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::UpdateTaskRequest,
) -> Result<pb::UpdateTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let query = request
        .query
        .as_deref()
        .map(|q| Query::parse(q).map(Query::into_inner))
        .transpose()?;
    let kind = request
        .kind
        .as_deref()
        .map(|k| Kind::parse(k).map_err(|why| Error::invalid("kind", why)))
        .transpose()?;
    let file_ids = request
        .files
        .map(|files| ids::parse_list("files.file_ids", &files.file_ids))
        .transpose()?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let task = conn
        .transaction(async |conn| -> Result<Task> {
            let task = Task::find_for_update(conn, id)
                .await?
                .filter(|t| t.user_id == user_id)
                .ok_or(Error::NotFound("task"))?;
            if task.status() != Status::Draft {
                return Err(Error::FailedPrecondition(format!(
                    "the task is {}: only a draft can be changed",
                    task.status().as_str()
                )));
            }
            if let Some(file_ids) = &file_ids {
                if File::owned_by(conn, user_id, file_ids).await?.len() != file_ids.len() {
                    return Err(Error::NotFound("file"));
                }
                Task::set_files(conn, task.id, file_ids).await?;
            }
            let changes = Changes {
                query,
                kind: kind.map(|k| k.as_str().to_owned()),
                ..Default::default()
            };
            Ok(Task::transition(conn, &task, Status::Draft, changes, None, now).await?)
        })
        .await?;
    Ok(pb::UpdateTaskResponse {
        task: Some(super::one_to_wire(&mut conn, &task).await?),
    })
}
