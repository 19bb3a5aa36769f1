//! `ListConversations`: the caller's conversations, most recently updated first.

use std::collections::HashMap;

use proto::workspace::v1 as pb;
use service_runtime::paging::page_size;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::conversations::{ListFilter, Position};
use crate::error::{Error, Result};
use crate::state::AppState;

pub async fn list_conversations(
    state: &AppState,
    user_id: Uuid,
    request: pb::ListConversationsRequest,
) -> Result<pb::ListConversationsResponse> {
    let status = pb::ConversationStatus::try_from(request.status).map_err(|_| {
        Error::invalid(
            "status",
            format!("{} is not a conversation status", request.status),
        )
    })?;
    let filter = ListFilter {
        user_id,
        status: super::status_name(status),
    };
    // The token is only valid for the same caller and filter.
    let scope = format!("conversations|{user_id}|{}", filter.status.unwrap_or(""));
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let limit = page_size(request.page_size);

    let mut conn = state.pool.get().await?;
    let rows = filter.page(&mut conn, after, limit + 1).await?;
    let (rows, next_page_token) = state
        .page_tokens
        .finish_page(&scope, rows, limit, |last| (last.updated_at, last.id));
    let total_size = filter.count(&mut conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let mut files: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (conversation_id, file_id) in Conversation::file_ids(&mut conn, &ids).await? {
        files
            .entry(conversation_id)
            .or_default()
            .push(file_id.to_string());
    }

    Ok(pb::ListConversationsResponse {
        conversations: rows
            .iter()
            .map(|c| super::to_wire(c, files.remove(&c.id).unwrap_or_default()))
            .collect(),
        next_page_token,
        total_size: i32::try_from(total_size).unwrap_or(i32::MAX),
    })
}
