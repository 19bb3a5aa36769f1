//! `DeleteConversation`: a soft delete — gone from lists and gets, kept for audit.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::conversations::ConversationChange;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn delete_conversation(
    state: &AppState,
    user_id: Uuid,
    request: pb::DeleteConversationRequest,
) -> Result<pb::DeleteConversationResponse> {
    let id = ids::parse_resource("conversation", &request.conversation_id)?;
    let change = ConversationChange {
        status: Some("deleted"),
        updated_at: Some(state.clock.now()),
        ..Default::default()
    };
    let mut conn = state.pool.get().await?;
    Conversation::update(&mut conn, id, user_id, &change)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    Ok(pb::DeleteConversationResponse {})
}
