//! `GetFile`: one of the caller's files.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::files::File;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn get_file(
    state: &AppState,
    user_id: Uuid,
    request: pb::GetFileRequest,
) -> Result<pb::GetFileResponse> {
    let id = ids::parse_resource("file", &request.file_id)?;
    let mut conn = state.pool.get().await?;
    let file = File::find_for_user(&mut conn, id, user_id)
        .await?
        .ok_or(Error::NotFound("file"))?;
    Ok(pb::GetFileResponse {
        file: Some(super::to_wire(&file)),
    })
}
