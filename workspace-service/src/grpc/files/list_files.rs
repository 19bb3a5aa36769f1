//! `ListFiles`: the caller's files, newest first.

use proto::workspace::v1 as pb;
use service_runtime::paging::page_size;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::files::{self, Position};
use crate::error::Result;

pub async fn list_files(
    state: &AppState,
    user_id: Uuid,
    request: pb::ListFilesRequest,
) -> Result<pb::ListFilesResponse> {
    let scope = format!("files|{user_id}");
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let limit = page_size(request.page_size);
    let mut conn = state.pool.get().await?;
    let mut rows = files::page(&mut conn, user_id, after, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let (total, _) = files::totals(&mut conn, user_id).await?;
    let next_page_token = match rows.last() {
        Some(last) if has_more => state
            .page_tokens
            .encode(&scope, &(last.uploaded_at, last.id)),
        _ => String::new(),
    };
    Ok(pb::ListFilesResponse {
        files: rows.iter().map(super::to_wire).collect(),
        next_page_token,
        total_size: i32::try_from(total).unwrap_or(i32::MAX),
    })
}
