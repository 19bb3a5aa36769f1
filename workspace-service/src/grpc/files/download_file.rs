//! `DownloadFile`: the metadata, then the bytes in chunks of at most 1 MiB,
//! read from the store as they are sent.

use futures::StreamExt;
use proto::workspace::v1::{self as pb, download_file_response::Part};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::files;
use crate::error::{Error, Result};
use crate::grpc::ids;

pub type DownloadStream = ReceiverStream<Result<pb::DownloadFileResponse, Status>>;

pub async fn download_file(
    state: &AppState,
    user_id: Uuid,
    request: pb::DownloadFileRequest,
) -> Result<DownloadStream> {
    let id = ids::parse_resource("file", &request.file_id)?;
    let file = {
        let mut conn = state.pool.get().await?;
        files::find_for_user(&mut conn, id, user_id)
            .await?
            .ok_or(Error::NotFound("file"))?
    };
    let mut bytes = state.blobs.read(&file.sha256).await.map_err(|e| {
        tracing::error!(file_id = %file.id, error = ?e, "a stored file's content is missing");
        Error::DataLoss
    })?;
    // A small buffer: the reader stays at most a few chunks ahead of the client.
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let first = pb::DownloadFileResponse {
            part: Some(Part::File(super::to_wire(&file))),
        };
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        while let Some(next) = bytes.next().await {
            let mut chunk = match next {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::error!(file_id = %file.id, error = ?e, "reading a stored file failed");
                    let _ = tx
                        .send(Err(Status::data_loss("the file could not be read")))
                        .await;
                    return;
                }
            };
            while !chunk.is_empty() {
                let part = chunk.split_to(chunk.len().min(super::MAX_CHUNK));
                if tx
                    .send(Ok(pb::DownloadFileResponse {
                        part: Some(Part::Chunk(part)),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}
