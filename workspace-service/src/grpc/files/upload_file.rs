//! `UploadFile`: a client stream of chunks, hashed and stored as it arrives.
//!
//! The bytes go to a temporary object; once the hashes are known, one
//! transaction takes a reference on the content's blob row (holding its
//! lock), moves the temporary object to the content's place and records the
//! file. A failure or a cancelled call deletes the temporary object; a crash
//! leaves at most an unreferenced object, which the sweeper removes.

use diesel_async::AsyncConnection;
use proto::workspace::v1::{self as pb, upload_file_request::Part};
use tonic::Streaming;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::files::{self, File};
use crate::error::{Error, Result};

pub async fn upload_file(
    state: &AppState,
    user_id: Uuid,
    mut stream: Streaming<pb::UploadFileRequest>,
) -> Result<pb::UploadFileResponse> {
    let metadata = match stream.message().await.map_err(client_gone)? {
        Some(pb::UploadFileRequest {
            part: Some(Part::Metadata(metadata)),
        }) => metadata,
        _ => {
            return Err(Error::invalid(
                "metadata",
                "the first message must carry the file's metadata",
            ));
        }
    };
    let filename = filename(&metadata.filename)?;
    let mime_type = mime_type(&metadata.mime_type)?;
    let max = state.config.max_file_bytes;

    let mut upload = state.blobs.upload().await?;
    while let Some(message) = stream.message().await.map_err(client_gone)? {
        let chunk = match message.part {
            Some(Part::Chunk(chunk)) => chunk,
            _ => {
                return Err(Error::invalid(
                    "metadata",
                    "only the first message carries metadata",
                ));
            }
        };
        if chunk.len() > super::MAX_CHUNK {
            return Err(Error::invalid("chunk", "chunks are at most 1 MiB"));
        }
        if upload.size() + chunk.len() as u64 > max {
            return Err(Error::TooLarge(format!("files are at most {max} bytes")));
        }
        upload.write(&chunk).await?;
    }
    if upload.size() == 0 {
        return Err(Error::invalid("chunk", "the file is empty"));
    }
    let uploaded = upload.finish().await?;

    let now = state.clock.now();
    let file = File {
        id: Uuid::now_v7(),
        user_id,
        filename,
        mime_type,
        size_bytes: uploaded.size as i64,
        md5: uploaded.md5.clone(),
        sha256: uploaded.sha256.clone(),
        uploaded_at: now,
    };
    let mut conn = state.pool.get().await?;
    let stored = conn
        .transaction(async |conn| -> Result<()> {
            files::acquire_blob(conn, &uploaded.sha256, uploaded.size as i64, now).await?;
            state
                .blobs
                .promote(&uploaded.path, &uploaded.sha256)
                .await?;
            file.insert(conn).await?;
            Ok(())
        })
        .await;
    if let Err(e) = stored {
        // Gone already if it was promoted; otherwise this removes it.
        let _ = state.blobs.delete(&uploaded.path).await;
        return Err(e);
    }
    tracing::info!(file_id = %file.id, size = file.size_bytes, "file uploaded");
    Ok(pb::UploadFileResponse {
        file: Some(super::to_wire(&file)),
    })
}

/// The client broke off the stream.
fn client_gone(status: tonic::Status) -> Error {
    Error::Cancelled(format!("the upload was interrupted: {}", status.message()))
}

/// A name: 1 to 255 bytes, no path separators, no control characters, not
/// `.` or `..`. Any script is fine.
pub fn filename(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid("filename", "is required"));
    }
    if name.len() > 255 {
        return Err(Error::invalid("filename", "must be at most 255 bytes"));
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(Error::invalid(
            "filename",
            "must not contain path separators",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "filename",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

fn mime_type(raw: &str) -> Result<String> {
    let mime = raw.trim();
    if mime.is_empty() {
        return Ok("application/octet-stream".into());
    }
    let valid = mime.len() <= 255
        && mime.split_once('/').is_some_and(|(kind, rest)| {
            !kind.is_empty()
                && !rest.is_empty()
                && mime.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        });
    if !valid {
        return Err(Error::invalid(
            "mime_type",
            "must be a MIME type such as text/csv",
        ));
    }
    Ok(mime.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_script_are_kept() {
        assert_eq!(
            filename(" 销售数据 2026.xlsx ").unwrap(),
            "销售数据 2026.xlsx"
        );
        assert!(filename("émoji 📊.csv").is_ok());
    }

    #[test]
    fn unsafe_names_are_refused() {
        let long = "a".repeat(256);
        for bad in [
            "",
            "  ",
            "../etc/passwd",
            "a/b",
            "a\\b",
            ".",
            "..",
            "nul\0byte",
            "line\nbreak",
            long.as_str(),
        ] {
            assert!(filename(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mime_types_default_and_are_checked() {
        assert_eq!(mime_type("").unwrap(), "application/octet-stream");
        assert_eq!(
            mime_type("text/csv; charset=utf-8").unwrap(),
            "text/csv; charset=utf-8"
        );
        assert!(mime_type("nonsense").is_err());
        assert!(mime_type("text/\u{7}").is_err());
    }
}
