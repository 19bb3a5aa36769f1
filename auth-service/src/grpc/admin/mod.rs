//! `auth.v1.AdminService`: account administration for superusers (the
//! access layer refuses everyone else, from the rule in the proto).

mod list_audit_events;
mod list_users;
mod update_user;

use proto::auth::v1::{self as pb, admin_service_server::AdminService};
use tonic::{Request, Response, Status};

use crate::grpc::ClientInfo;
use crate::state::AppState;

/// `auth.v1.AdminService`.
#[derive(Debug, Clone)]
pub struct AdminApi {
    state: AppState,
}

impl AdminApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        Ok(Response::new(
            list_users::list_users(&self.state, request.into_inner()).await?,
        ))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        let admin = access::caller(&request)?.sub;
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            update_user::update_user(&self.state, admin, request.into_inner(), client).await?,
        ))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        Ok(Response::new(
            list_audit_events::list_audit_events(&self.state, request.into_inner()).await?,
        ))
    }
}
