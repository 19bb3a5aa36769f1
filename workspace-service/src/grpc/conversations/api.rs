//! The gRPC service: each RPC handed to its own module.

use crate::state::AppState;
use proto::workspace::v1::{self as pb, conversation_service_server::ConversationService};
use tonic::{Request, Response};

use super::{
    create_conversation, create_turn, delete_conversation, get_conversation, get_turn,
    list_conversations, list_turns, update_conversation,
};

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
    ) -> Result<Response<pb::CreateConversationResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        let response =
            create_conversation::create_conversation(&self.state, caller, request.into_inner())
                .await?;
        Ok(Response::new(response))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        let response =
            list_conversations::list_conversations(&self.state, caller, request.into_inner())
                .await?;
        Ok(Response::new(response))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::GetConversationResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_conversation::get_conversation(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn update_conversation(
        &self,
        request: Request<pb::UpdateConversationRequest>,
    ) -> Result<Response<pb::UpdateConversationResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            update_conversation::update_conversation(&self.state, caller, request.into_inner())
                .await?,
        ))
    }

    async fn delete_conversation(
        &self,
        request: Request<pb::DeleteConversationRequest>,
    ) -> Result<Response<pb::DeleteConversationResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            delete_conversation::delete_conversation(&self.state, caller, request.into_inner())
                .await?,
        ))
    }

    async fn create_turn(
        &self,
        request: Request<pb::CreateTurnRequest>,
    ) -> Result<Response<pb::CreateTurnResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            create_turn::create_turn(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn list_turns(
        &self,
        request: Request<pb::ListTurnsRequest>,
    ) -> Result<Response<pb::ListTurnsResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            list_turns::list_turns(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn get_turn(
        &self,
        request: Request<pb::GetTurnRequest>,
    ) -> Result<Response<pb::GetTurnResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_turn::get_turn(&self.state, caller, request.into_inner()).await?,
        ))
    }
}
