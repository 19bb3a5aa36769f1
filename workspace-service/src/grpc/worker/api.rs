//! The gRPC service: each RPC handed to its own module.

use crate::error::Result;
use crate::state::AppState;
use proto::workspace::v1::{self as pb, worker_service_server::WorkerService};
use tonic::{Request, Response, Streaming};

use super::{
    claim_task, complete_task, fail_task, get_task_context, heartbeat_task, read_task_file,
    upload_task_output,
};

/// `workspace.v1.WorkerService`.
#[derive(Debug, Clone)]
pub struct WorkerApi {
    state: AppState,
}

impl WorkerApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    async fn claim_task(
        &self,
        request: Request<pb::ClaimTaskRequest>,
    ) -> Result<Response<pb::ClaimTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            claim_task::claim_task(&self.state, &caller, request.into_inner()).await?,
        ))
    }

    async fn heartbeat_task(
        &self,
        request: Request<pb::HeartbeatTaskRequest>,
    ) -> Result<Response<pb::HeartbeatTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            heartbeat_task::heartbeat_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn complete_task(
        &self,
        request: Request<pb::CompleteTaskRequest>,
    ) -> Result<Response<pb::CompleteTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            complete_task::complete_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn fail_task(
        &self,
        request: Request<pb::FailTaskRequest>,
    ) -> Result<Response<pb::FailTaskResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            fail_task::fail_task(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn get_task_context(
        &self,
        request: Request<pb::GetTaskContextRequest>,
    ) -> Result<Response<pb::GetTaskContextResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_task_context::get_task_context(&self.state, caller, request.into_inner()).await?,
        ))
    }

    type ReadTaskFileStream = read_task_file::TaskFileStream;

    async fn read_task_file(
        &self,
        request: Request<pb::ReadTaskFileRequest>,
    ) -> Result<Response<Self::ReadTaskFileStream>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            read_task_file::read_task_file(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn upload_task_output(
        &self,
        request: Request<Streaming<pb::UploadTaskOutputRequest>>,
    ) -> Result<Response<pb::UploadTaskOutputResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            upload_task_output::upload_task_output(&self.state, caller, request.into_inner())
                .await?,
        ))
    }
}
