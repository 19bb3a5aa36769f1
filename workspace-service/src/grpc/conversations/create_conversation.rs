//! `CreateConversation`: starts a conversation on some of the caller's files.

use chrono::Utc;
use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::{Conversation, NewConversation};
use crate::db::files::File;
use crate::domain::Title;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn create_conversation(
    state: &AppState,
    user_id: Uuid,
    request: pb::CreateConversationRequest,
) -> Result<pb::CreateConversationResponse> {
    let title = Title::parse(&request.title)?;
    let title = title.as_str();
    let file_ids = ids::parse_list("file_ids", &request.file_ids)?;

    let now = Utc::now();
    let mut conn = state.pool.get().await?;
    let conversation = conn
        .transaction(async |conn| -> Result<Conversation> {
            // Another user's file is as unknown as a missing one.
            let owned = File::owned_by(conn, user_id, &file_ids).await?;
            if owned.len() != file_ids.len() {
                return Err(Error::NotFound("file"));
            }
            Ok(NewConversation {
                id: Uuid::now_v7(),
                user_id,
                title,
                status: "active",
                created_at: now,
                updated_at: now,
            }
            .insert(conn, &file_ids)
            .await?)
        })
        .await?;
    Ok(pb::CreateConversationResponse {
        conversation: Some(super::to_wire(
            &conversation,
            file_ids.iter().map(Uuid::to_string).collect(),
        )),
    })
}
