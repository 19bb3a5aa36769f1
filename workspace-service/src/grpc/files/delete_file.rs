//! `DeleteFile`: removes the caller's file; the content is freed when no
//! file references it.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::files::File;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn delete_file(
    state: &AppState,
    user_id: Uuid,
    request: pb::DeleteFileRequest,
) -> Result<pb::DeleteFileResponse> {
    let id = ids::parse_resource("file", &request.file_id)?;
    let mut conn = state.pool.get().await?;
    let file = conn
        .transaction(async |conn| -> Result<File> {
            File::delete_for_user(conn, id, user_id)
                .await?
                .ok_or(Error::NotFound("file"))
        })
        .await?;
    drop(conn);
    // Free the content now if that was its last file (the sweeper retries
    // whatever this misses).
    if let Err(e) = crate::blobs::free_if_unreferenced(state, &file.sha256).await {
        tracing::warn!(sha256 = %file.sha256, error = ?e, "freeing a blob failed; the sweeper will retry");
    }
    Ok(pb::DeleteFileResponse {})
}
