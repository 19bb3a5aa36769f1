//! `workspace.v1.ConversationService`: routes each RPC to its file.

mod create_conversation;
mod list_conversations;

use proto::workspace::v1::{self as pb, conversation_service_server::ConversationService};
use tonic::{Request, Response, Status};

use crate::app::AppState;
use crate::db::conversations::Conversation;
use crate::grpc::convert::timestamp;

/// `workspace.v1.ConversationService`.
#[derive(Debug, Clone)]
pub struct ConversationApi {
    state: AppState,
}

impl ConversationApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl ConversationService for ConversationApi {
    async fn create_conversation(
        &self,
        request: Request<pb::CreateConversationRequest>,
    ) -> Result<Response<pb::CreateConversationResponse>, Status> {
        let caller = access::caller(&request)?.sub;
        let response =
            create_conversation::create_conversation(&self.state, caller, request.into_inner())
                .await?;
        Ok(Response::new(response))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let caller = access::caller(&request)?.sub;
        let response =
            list_conversations::list_conversations(&self.state, caller, request.into_inner())
                .await?;
        Ok(Response::new(response))
    }
}

/// The stored status name of a wire status.
fn status_name(status: pb::ConversationStatus) -> Option<&'static str> {
    match status {
        pb::ConversationStatus::Unspecified => None,
        pb::ConversationStatus::Active => Some("active"),
        pb::ConversationStatus::Archived => Some("archived"),
        pb::ConversationStatus::Deleted => Some("deleted"),
    }
}

fn wire_status(name: &str) -> pb::ConversationStatus {
    match name {
        "active" => pb::ConversationStatus::Active,
        "archived" => pb::ConversationStatus::Archived,
        "deleted" => pb::ConversationStatus::Deleted,
        _ => pb::ConversationStatus::Unspecified,
    }
}

/// A conversation as the wire shows it.
fn to_wire(conversation: &Conversation, file_ids: Vec<String>) -> pb::Conversation {
    pb::Conversation {
        conversation_id: conversation.id.to_string(),
        title: conversation.title.clone(),
        status: wire_status(&conversation.status) as i32,
        file_ids,
        turn_count: conversation.turn_count,
        created_at: Some(timestamp(conversation.created_at)),
        updated_at: Some(timestamp(conversation.updated_at)),
    }
}
