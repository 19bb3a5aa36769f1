//! `ReadTaskFile`: a worker reads a file of a task it holds (or of the
//! task's context, see [`super::get_task_context`]), and nothing else.

use proto::workspace::v1::{self as pb, read_task_file_response::Part};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::db::files::File;
use crate::error::{Error, Result};
use crate::grpc::files::download_file::{FilePart, stream};
use crate::grpc::ids;
use crate::state::AppState;

pub type TaskFileStream = ReceiverStream<Result<pb::ReadTaskFileResponse, Status>>;

pub async fn read_task_file(
    state: &AppState,
    subject: uuid::Uuid,
    request: pb::ReadTaskFileRequest,
) -> Result<TaskFileStream> {
    let task_id = ids::parse_resource("task", &request.task_id)?;
    let file_id = ids::parse_resource("file", &request.file_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let now = state.clock.now();
    let file = {
        let mut conn = state.pool.get().await?;
        let holder = super::Holder {
            worker_id: &worker,
            subject,
        };
        let task = super::leased_task(&mut conn, task_id, holder, now).await?;
        let context = super::get_task_context::context(&mut conn, &task).await?;
        if !context.readable.contains(&file_id) {
            return Err(Error::NotFound("file"));
        }
        File::find_for_user(&mut conn, file_id, task.user_id)
            .await?
            .ok_or(Error::NotFound("file"))?
    };
    stream(state, file, |part| pb::ReadTaskFileResponse {
        part: Some(match part {
            FilePart::Metadata(file) => Part::File(file),
            FilePart::Chunk(chunk) => Part::Chunk(chunk),
        }),
    })
    .await
}
