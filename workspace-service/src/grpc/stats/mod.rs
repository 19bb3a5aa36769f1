//! `workspace.v1.StatsService` and `workspace.v1.WorkspaceAdminService`:
//! the caller's counts, and the system's for superusers (the access rule in
//! the proto keeps everyone else out).

mod get_stats;
mod get_system_stats;
mod get_user_stats;
mod list_top_users;

use diesel_async::AsyncPgConnection;
use proto::workspace::v1::{
    self as pb, stats_service_server::StatsService,
    workspace_admin_service_server::WorkspaceAdminService,
};
use tonic::{Request, Response};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::{stats, tasks};
use crate::domain::task_state::Status;

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

/// Task counts as the wire shows them.
fn task_counts(counts: &[(String, i64)]) -> pb::TaskCounts {
    let mut wire = pb::TaskCounts::default();
    for (status, count) in counts {
        wire.total += count;
        match Status::parse(status) {
            Some(Status::Draft) => wire.draft += count,
            Some(Status::Pending) => wire.pending += count,
            Some(Status::Processing) => wire.processing += count,
            Some(Status::Completed) => wire.completed += count,
            Some(Status::Failed) => wire.failed += count,
            Some(Status::Cancelled) => wire.cancelled += count,
            None => {}
        }
    }
    wire
}

/// The usage of one user, or of everyone.
async fn usage(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
) -> crate::error::Result<pb::UsageStats> {
    let usage = stats::usage(conn, user_id).await?;
    let counts = match user_id {
        Some(user_id) => tasks::counts(conn, user_id).await?,
        None => stats::all_task_counts(conn).await?,
    };
    Ok(pb::UsageStats {
        files: usage.files,
        bytes_stored: usage.bytes_stored,
        conversations: usage.conversations,
        turns: usage.turns,
        completed_turns: usage.completed_turns,
        tasks: Some(task_counts(&counts)),
    })
}
