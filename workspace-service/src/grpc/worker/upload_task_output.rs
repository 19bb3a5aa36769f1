//! `UploadTaskOutput`: a worker stores a result file of a task it holds, in
//! the task owner's name, as an output of the task.
//!
//! The lease is checked before any byte is taken and again, under the
//! task's row lock, in the transaction that records the file: an upload
//! that outlives its lease (expired, cancelled, handed to another worker)
//! keeps nothing. The file counts against the owner's storage quota.

use diesel_async::AsyncConnection;
use proto::workspace::v1::{self as pb, upload_task_output_request::Part};
use tonic::Streaming;
use uuid::Uuid;

use crate::db::files::File;
use crate::db::tasks::Task;
use crate::db::tasks::TaskFile;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;
use crate::uploads;

/// Most outputs one task may have.
pub const MAX_OUTPUTS: i64 = 32;

pub async fn upload_task_output(
    state: &AppState,
    subject: Uuid,
    mut stream: Streaming<pb::UploadTaskOutputRequest>,
) -> Result<pb::UploadTaskOutputResponse> {
    let metadata = match stream.message().await.map_err(uploads::client_gone)? {
        Some(pb::UploadTaskOutputRequest {
            part: Some(Part::Metadata(metadata)),
        }) => metadata,
        _ => {
            return Err(Error::invalid(
                "metadata",
                "the first message must carry the task, the worker and the file's name",
            ));
        }
    };
    let task_id = ids::parse_resource("task", &metadata.task_id)?;
    let worker = super::worker_id(&metadata.worker_id)?;
    let holder = super::Holder {
        worker_id: &worker,
        subject,
    };
    let filename = uploads::filename(&metadata.filename)?;
    let mime_type = uploads::mime_type(&metadata.mime_type)?;
    let owner = {
        let mut conn = state.pool.get().await?;
        let task = super::leased_task(&mut conn, task_id, holder, state.clock.now()).await?;
        if TaskFile::count_outputs(&mut conn, task_id).await? >= MAX_OUTPUTS {
            return Err(too_many());
        }
        task.user_id
    };

    let uploaded = uploads::receive(state, &mut stream, |m| match m.part {
        Some(Part::Chunk(chunk)) => uploads::Part::Chunk(chunk),
        _ => uploads::Part::Other,
    })
    .await?;

    let now = state.clock.now();
    let file = File {
        id: Uuid::now_v7(),
        user_id: owner,
        filename,
        mime_type,
        size_bytes: uploaded.size as i64,
        md5: uploaded.md5.clone(),
        sha256: uploaded.sha256.clone(),
        uploaded_at: now,
    };
    let mut conn = state.pool.get().await?;
    let recorded = conn
        .transaction(async |conn| -> Result<()> {
            let task = Task::find_for_update(conn, task_id)
                .await?
                .ok_or(Error::NotFound("task"))?;
            super::holds(&task, holder, now)?;
            if TaskFile::count_outputs(conn, task_id).await? >= MAX_OUTPUTS {
                return Err(too_many());
            }
            uploads::record(conn, state, &uploaded, &file).await?;
            TaskFile::add_output(conn, task_id, file.id, now).await?;
            Task::notify(conn, task_id).await?;
            Ok(())
        })
        .await;
    if let Err(e) = recorded {
        uploads::discard(state, &uploaded).await;
        return Err(e);
    }
    tracing::info!(task_id = %task_id, file_id = %file.id, size = file.size_bytes, "task output stored");
    Ok(pb::UploadTaskOutputResponse {
        output: Some(crate::grpc::tasks::file_to_task_file(file)),
    })
}

fn too_many() -> Error {
    Error::Quota {
        subject: "task_outputs",
        description: format!("a task has at most {MAX_OUTPUTS} outputs"),
    }
}
