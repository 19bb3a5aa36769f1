//! The gRPC service: each RPC handed to its own module.

use crate::state::AppState;
use proto::workspace::v1::{
    self as pb, stats_service_server::StatsService,
    workspace_admin_service_server::WorkspaceAdminService,
};
use tonic::{Request, Response};

use super::{get_stats, get_system_stats, get_user_stats, list_top_users};

/// `workspace.v1.StatsService` and `workspace.v1.WorkspaceAdminService`.
#[derive(Debug, Clone)]
pub struct StatsApi {
    state: AppState,
}

impl StatsApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl StatsService for StatsApi {
    async fn get_stats(
        &self,
        request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_stats::get_stats(&self.state, caller).await?,
        ))
    }
}

#[tonic::async_trait]
impl WorkspaceAdminService for StatsApi {
    async fn get_system_stats(
        &self,
        _request: Request<pb::GetSystemStatsRequest>,
    ) -> Result<Response<pb::GetSystemStatsResponse>, tonic::Status> {
        Ok(Response::new(
            get_system_stats::get_system_stats(&self.state).await?,
        ))
    }

    async fn list_top_users(
        &self,
        request: Request<pb::ListTopUsersRequest>,
    ) -> Result<Response<pb::ListTopUsersResponse>, tonic::Status> {
        Ok(Response::new(
            list_top_users::list_top_users(&self.state, request.into_inner()).await?,
        ))
    }

    async fn get_user_stats(
        &self,
        request: Request<pb::GetUserStatsRequest>,
    ) -> Result<Response<pb::GetUserStatsResponse>, tonic::Status> {
        Ok(Response::new(
            get_user_stats::get_user_stats(&self.state, request.into_inner()).await?,
        ))
    }
}
