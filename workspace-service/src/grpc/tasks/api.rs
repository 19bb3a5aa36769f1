//! The gRPC service: each RPC handed to its own module.

use crate::state::AppState;
use proto::workspace::v1::{self as pb, task_service_server::TaskService};
use tonic::{Request, Response};

use super::{
    cancel_task, create_task, delete_task, export_task, get_task, get_task_stats, list_tasks,
    retry_task, start_task, update_task, watch_task,
};

/// `workspace.v1.TaskService`.
#[derive(Debug, Clone)]
pub struct TaskApi {
    state: AppState,
}

impl TaskApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl TaskService for TaskApi {
    async fn create_task(
        &self,
        request: Request<pb::CreateTaskRequest>,
    ) -> Result<Response<pb::CreateTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            create_task::create_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_task::get_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            list_tasks::list_tasks(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn cancel_task(
        &self,
        request: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            cancel_task::cancel_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn retry_task(
        &self,
        request: Request<pb::RetryTaskRequest>,
    ) -> Result<Response<pb::RetryTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            retry_task::retry_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn start_task(
        &self,
        request: Request<pb::StartTaskRequest>,
    ) -> Result<Response<pb::StartTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            start_task::start_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn update_task(
        &self,
        request: Request<pb::UpdateTaskRequest>,
    ) -> Result<Response<pb::UpdateTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            update_task::update_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn delete_task(
        &self,
        request: Request<pb::DeleteTaskRequest>,
    ) -> Result<Response<pb::DeleteTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            delete_task::delete_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn get_task_stats(
        &self,
        request: Request<pb::GetTaskStatsRequest>,
    ) -> Result<Response<pb::GetTaskStatsResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_task_stats::get_task_stats(&self.state, caller).await?,
        ))
    }

    type ExportTaskStream = export_task::ExportStream;

    async fn export_task(
        &self,
        request: Request<pb::ExportTaskRequest>,
    ) -> Result<Response<Self::ExportTaskStream>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            export_task::export_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    type WatchTaskStream = watch_task::TaskStream;

    async fn watch_task(
        &self,
        request: Request<pb::WatchTaskRequest>,
    ) -> Result<Response<Self::WatchTaskStream>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            watch_task::watch_task(&self.state, caller, request.into_inner()).await?,
        ))
    }
}
