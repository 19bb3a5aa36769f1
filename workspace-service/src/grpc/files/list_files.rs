//! `ListFiles`: the caller's files, newest first.

use proto::workspace::v1 as pb;
use service_runtime::paging::page_size;
use uuid::Uuid;

use crate::db::files::File;
use crate::db::files::Position;
use crate::error::Result;
use crate::state::AppState;

pub async fn list_files(
    state: &AppState,
    user_id: Uuid,
    request: pb::ListFilesRequest,
) -> Result<pb::ListFilesResponse> {
    let scope = format!("files|{user_id}");
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let limit = page_size(request.page_size);
    let mut conn = state.pool.get().await?;
    let rows = File::page(&mut conn, user_id, after, limit + 1).await?;
    let (rows, next_page_token) = state
        .page_tokens
        .finish_page(&scope, rows, limit, |last| (last.uploaded_at, last.id));
    let (total, _) = File::totals(&mut conn, user_id).await?;
    Ok(pb::ListFilesResponse {
        files: rows.iter().map(super::to_wire).collect(),
        next_page_token,
        total_size: i32::try_from(total).unwrap_or(i32::MAX),
    })
}
