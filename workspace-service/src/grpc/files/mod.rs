//! `workspace.v1.FileService`: routes each RPC to its file.

mod delete_file;
pub(crate) mod download_file;
mod get_file;
mod list_file_conversations;
mod list_files;
mod upload_file;

use proto::workspace::v1::{self as pb, file_service_server::FileService};
use tonic::{Request, Response, Streaming};

use crate::app::AppState;
use crate::db::files::File;
use crate::grpc::convert::timestamp;

/// Largest chunk of a download.
pub const MAX_CHUNK: usize = crate::uploads::MAX_CHUNK;

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

/// A file as the wire shows it.
pub fn to_wire(file: &File) -> pb::File {
    pb::File {
        file_id: file.id.to_string(),
        filename: file.filename.clone(),
        size_bytes: file.size_bytes,
        md5: file.md5.clone(),
        sha256: file.sha256.clone(),
        mime_type: file.mime_type.clone(),
        uploaded_at: Some(timestamp(file.uploaded_at)),
    }
}
