//! `ListTurns`: a conversation's turns in order.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::turns::Turn;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn list_turns(
    state: &AppState,
    user_id: Uuid,
    request: pb::ListTurnsRequest,
) -> Result<pb::ListTurnsResponse> {
    let id = ids::parse_resource("conversation", &request.conversation_id)?;
    let mut conn = state.pool.get().await?;
    Conversation::find_for_user(&mut conn, id, user_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let turns = Turn::of_conversation(&mut conn, id).await?;
    Ok(pb::ListTurnsResponse {
        turns: turns.iter().map(super::turn_to_wire).collect(),
    })
}
