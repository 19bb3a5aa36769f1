//! `UploadFile`: a client stream of chunks, hashed and stored as it arrives
//! (see [`crate::uploads`]); a retry with the same `request_id` returns the
//! first call's file.

use diesel_async::AsyncConnection;
use proto::workspace::v1::{self as pb, upload_file_request::Part};
use tonic::Streaming;
use uuid::Uuid;

use crate::db::files::File;
use crate::db::request_ids::{Claimed, RequestKey};
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;
use crate::uploads;

pub async fn upload_file(
    state: &AppState,
    user_id: Uuid,
    mut stream: Streaming<pb::UploadFileRequest>,
) -> Result<pb::UploadFileResponse> {
    let metadata = match stream.message().await.map_err(uploads::client_gone)? {
        Some(pb::UploadFileRequest {
            part: Some(Part::Metadata(metadata)),
        }) => metadata,
        _ => {
            return Err(Error::invalid(
                "metadata",
                "the first message must carry the file's metadata",
            ));
        }
    };
    let filename = uploads::filename(&metadata.filename)?;
    let mime_type = uploads::mime_type(&metadata.mime_type)?;
    let request_id = ids::request_id(&metadata.request_id)?;

    let uploaded = uploads::receive(state, &mut stream, |m| match m.part {
        Some(Part::Chunk(chunk)) => uploads::Part::Chunk(chunk),
        _ => uploads::Part::Other,
    })
    .await?;

    let now = state.clock.now();
    let file = File {
        id: Uuid::now_v7(),
        user_id,
        filename,
        mime_type,
        size_bytes: uploaded.size as i64,
        md5: uploaded.md5.clone(),
        sha256: uploaded.sha256.clone(),
        uploaded_at: now,
    };
    let key = request_id.map(|id| {
        RequestKey::new(
            user_id,
            id,
            "UploadFile",
            &(&file.filename, &file.mime_type, &file.sha256),
        )
    });
    let mut conn = state.pool.get().await?;
    let stored = conn
        .transaction(async |conn| -> Result<File> {
            if let Some(key) = &key {
                match RequestKey::claim(conn, key, file.id, now).await? {
                    Claimed::Fresh => {}
                    Claimed::Replay(id) => {
                        return File::find_for_user(conn, id, user_id)
                            .await?
                            .ok_or(Error::NotFound("file"));
                    }
                    Claimed::Mismatch => return Err(ids::request_id_reused()),
                }
            }
            uploads::record(conn, state, &uploaded, &file).await?;
            Ok(file.clone())
        })
        .await;
    let stored = match stored {
        Ok(stored) if stored.id == file.id => stored,
        other => {
            // A replay, or a failure: this upload's bytes are not kept.
            uploads::discard(state, &uploaded).await;
            other?
        }
    };
    tracing::info!(file_id = %stored.id, size = stored.size_bytes, "file uploaded");
    Ok(pb::UploadFileResponse {
        file: Some(super::to_wire(&stored)),
    })
}
