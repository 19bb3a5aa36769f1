//! `workspace.v1.FileService`: routes each RPC to its file.

pub mod api;
mod delete_file;
pub(crate) mod download_file;
mod get_file;
mod list_file_conversations;
mod list_files;
mod upload_file;

use proto::workspace::v1::{self as pb};

use crate::db::files::File;
use crate::grpc::convert::timestamp;

/// Largest chunk of a download.
pub const MAX_CHUNK: usize = crate::uploads::MAX_CHUNK;

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
