//! `ListUsers`: users with their sign-in statistics.

use proto::auth::v1 as pb;
use service_runtime::paging::page_size;

use crate::db::users::{Position, User};
use crate::error::{Error, Result};
use crate::grpc::convert;
use crate::state::AppState;

pub async fn list_users(
    state: &AppState,
    request: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse> {
    let query = request.query.trim();
    if query.chars().count() > 320 {
        return Err(Error::Invalid(crate::domain::Invalid::new(
            "query",
            "must have at most 320 characters",
        )));
    }
    let scope = format!("users|{}", query.to_lowercase());
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let limit = page_size(request.page_size);
    let mut conn = state.pool.get().await?;
    let users = User::page(&mut conn, query, after, limit + 1).await?;
    let (users, next_page_token) = state
        .page_tokens
        .finish_page(&scope, users, limit, |last| (last.created_at, last.id));
    let total_size = User::count_matching(&mut conn, query).await?;
    Ok(pb::ListUsersResponse {
        users: users.iter().map(convert::user).collect(),
        next_page_token,
        total_size: i32::try_from(total_size).unwrap_or(i32::MAX),
    })
}
