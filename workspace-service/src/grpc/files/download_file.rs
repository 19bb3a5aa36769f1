//! `DownloadFile`: the metadata, then the bytes in chunks of at most 1 MiB,
//! read from the store as they are sent.

use bytes::Bytes;
use futures::StreamExt;
use proto::workspace::v1::{self as pb, download_file_response::Part};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use crate::db::files::File;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub type DownloadStream = ReceiverStream<Result<pb::DownloadFileResponse, Status>>;

pub async fn download_file(
    state: &AppState,
    user_id: Uuid,
    request: pb::DownloadFileRequest,
) -> Result<DownloadStream> {
    let id = ids::parse_resource("file", &request.file_id)?;
    let file = {
        let mut conn = state.pool.get().await?;
        File::find_for_user(&mut conn, id, user_id)
            .await?
            .ok_or(Error::NotFound("file"))?
    };
    stream(state, file, |part| pb::DownloadFileResponse {
        part: Some(match part {
            FilePart::Metadata(file) => Part::File(file),
            FilePart::Chunk(chunk) => Part::Chunk(chunk),
        }),
    })
    .await
}

/// One message of a file's stream.
pub enum FilePart {
    /// First: the metadata.
    Metadata(pb::File),
    /// Then: the bytes.
    Chunk(Bytes),
}

/// Streams `file` as messages made by `wrap`: the metadata, then chunks of at
/// most 1 MiB. A small buffer keeps the reader a few chunks ahead at most.
pub async fn stream<T: Send + 'static>(
    state: &AppState,
    file: File,
    wrap: fn(FilePart) -> T,
) -> Result<ReceiverStream<Result<T, Status>>> {
    let mut bytes = state.blobs.read(&file.sha256).await.map_err(|e| {
        tracing::error!(file_id = %file.id, error = ?e, "a stored file's content is missing");
        Error::DataLoss
    })?;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        if tx
            .send(Ok(wrap(FilePart::Metadata(super::to_wire(&file)))))
            .await
            .is_err()
        {
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
                if tx.send(Ok(wrap(FilePart::Chunk(part)))).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}
