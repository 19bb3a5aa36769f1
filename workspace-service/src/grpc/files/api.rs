//! The gRPC service: each RPC handed to its own module.

use crate::state::AppState;
use proto::workspace::v1::{self as pb, file_service_server::FileService};
use tonic::{Request, Response, Streaming};

use super::{
    delete_file, download_file, get_file, list_file_conversations, list_files, upload_file,
};

/// `workspace.v1.FileService`.
#[derive(Debug, Clone)]
pub struct FileApi {
    state: AppState,
}

impl FileApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl FileService for FileApi {
    async fn upload_file(
        &self,
        request: Request<Streaming<pb::UploadFileRequest>>,
    ) -> Result<Response<pb::UploadFileResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            upload_file::upload_file(&self.state, caller, request.into_inner()).await?,
        ))
    }

    type DownloadFileStream = download_file::DownloadStream;

    async fn download_file(
        &self,
        request: Request<pb::DownloadFileRequest>,
    ) -> Result<Response<Self::DownloadFileStream>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            download_file::download_file(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn get_file(
        &self,
        request: Request<pb::GetFileRequest>,
    ) -> Result<Response<pb::GetFileResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            get_file::get_file(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            list_files::list_files(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn delete_file(
        &self,
        request: Request<pb::DeleteFileRequest>,
    ) -> Result<Response<pb::DeleteFileResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            delete_file::delete_file(&self.state, caller, request.into_inner()).await?,
        ))
    }

    async fn list_file_conversations(
        &self,
        request: Request<pb::ListFileConversationsRequest>,
    ) -> Result<Response<pb::ListFileConversationsResponse>, tonic::Status> {
        let caller = access::caller(&request)?.sub;
        Ok(Response::new(
            list_file_conversations::list_file_conversations(
                &self.state,
                caller,
                request.into_inner(),
            )
            .await?,
        ))
    }
}
