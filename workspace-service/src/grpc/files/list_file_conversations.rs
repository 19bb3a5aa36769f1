//! `ListFileConversations`: the caller's conversations that use a file.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::files::File;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn list_file_conversations(
    state: &AppState,
    user_id: Uuid,
    request: pb::ListFileConversationsRequest,
) -> Result<pb::ListFileConversationsResponse> {
    let id = ids::parse_resource("file", &request.file_id)?;
    let mut conn = state.pool.get().await?;
    File::find_for_user(&mut conn, id, user_id)
        .await?
        .ok_or(Error::NotFound("file"))?;
    let found = File::conversations_of(&mut conn, id, user_id).await?;
    let ids: Vec<Uuid> = found.iter().map(|c| c.id).collect();
    let links = Conversation::file_ids(&mut conn, &ids).await?;
    Ok(pb::ListFileConversationsResponse {
        conversations: found
            .iter()
            .map(|c| {
                let file_ids = links
                    .iter()
                    .filter(|(conversation, _)| *conversation == c.id)
                    .map(|(_, file)| file.to_string())
                    .collect();
                crate::grpc::conversations::to_wire(c, file_ids)
            })
            .collect(),
    })
}
