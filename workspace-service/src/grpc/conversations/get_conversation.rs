//! `GetConversation`: one conversation with its files and turns.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::turns::Turn;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn get_conversation(
    state: &AppState,
    user_id: Uuid,
    request: pb::GetConversationRequest,
) -> Result<pb::GetConversationResponse> {
    let id = ids::parse_resource("conversation", &request.conversation_id)?;
    let mut conn = state.pool.get().await?;
    let conversation = Conversation::find_for_user(&mut conn, id, user_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let file_ids = Conversation::file_ids(&mut conn, &[id])
        .await?
        .into_iter()
        .map(|(_, file_id)| file_id.to_string())
        .collect();
    let turns = Turn::of_conversation(&mut conn, id).await?;
    Ok(pb::GetConversationResponse {
        conversation: Some(super::to_wire(&conversation, file_ids)),
        turns: turns.iter().map(super::turn_to_wire).collect(),
    })
}
