//! `UpdateConversation`: title, status (active or archived), files.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::{Conversation, ConversationChange};
use crate::db::files::File;
use crate::domain::Title;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn update_conversation(
    state: &AppState,
    user_id: Uuid,
    request: pb::UpdateConversationRequest,
) -> Result<pb::UpdateConversationResponse> {
    let id = ids::parse_resource("conversation", &request.conversation_id)?;
    let title = request.title.as_deref().map(Title::parse).transpose()?;
    let status = match pb::ConversationStatus::try_from(request.status) {
        Ok(pb::ConversationStatus::Unspecified) => None,
        Ok(pb::ConversationStatus::Active) => Some("active"),
        Ok(pb::ConversationStatus::Archived) => Some("archived"),
        Ok(pb::ConversationStatus::Deleted) => {
            return Err(Error::invalid("status", "use DeleteConversation to delete"));
        }
        Err(_) => return Err(Error::invalid("status", "is not a conversation status")),
    };
    let file_ids = request
        .file_ids
        .as_ref()
        .map(|list| ids::parse_list("file_ids", &list.ids))
        .transpose()?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let (conversation, file_ids) = conn
        .transaction(async |conn| -> Result<(Conversation, Vec<Uuid>)> {
            let change = ConversationChange {
                title: title.as_ref().map(Title::as_str),
                status,
                updated_at: Some(now),
            };
            let conversation = Conversation::update(conn, id, user_id, &change)
                .await?
                .ok_or(Error::NotFound("conversation"))?;
            if let Some(file_ids) = &file_ids {
                if File::owned_by(conn, user_id, file_ids).await?.len() != file_ids.len() {
                    return Err(Error::NotFound("file"));
                }
                Conversation::replace_files(conn, id, file_ids, now).await?;
            }
            let linked = Conversation::file_ids(conn, &[id]).await?;
            Ok((conversation, linked.into_iter().map(|(_, f)| f).collect()))
        })
        .await?;
    Ok(pb::UpdateConversationResponse {
        conversation: Some(super::to_wire(
            &conversation,
            file_ids.iter().map(Uuid::to_string).collect(),
        )),
    })
}
