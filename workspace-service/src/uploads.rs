//! Receiving an upload (a client stream: one metadata message, then chunks
//! of at most 1 MiB) into the store, and recording it as a file. Shared by
//! `FileService/UploadFile` and `WorkerService/UploadTaskOutput`.
//!
//! The bytes go to a temporary object, hashed on the way; once the hashes
//! are known, the caller's transaction counts the size against the owner's
//! quota, takes a reference on the content's blob row (holding its lock),
//! moves the temporary object to the content's place and records the file.
//! A failure or a cancelled call deletes the temporary object; a crash
//! leaves at most an unreferenced object, which the sweeper removes.

use bytes::Bytes;
use diesel_async::AsyncPgConnection;
use tonic::Streaming;

use crate::db::files::File;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::storage::Uploaded;

/// Largest chunk of an upload or a download.
pub const MAX_CHUNK: usize = 1 << 20;

/// What one message after the first carries.
pub enum Part {
    /// Bytes of the file.
    Chunk(Bytes),
    /// Anything else (a second metadata message): refused.
    Other,
}

/// Streams the rest of an upload into a temporary object, refusing chunks
/// over 1 MiB, files over `MAX_FILE_BYTES` and empty files.
pub async fn receive<M>(
    state: &AppState,
    stream: &mut Streaming<M>,
    part_of: impl Fn(M) -> Part,
) -> Result<Uploaded> {
    let max = state.config.max_file_bytes;
    let mut upload = state.blobs.upload().await?;
    while let Some(message) = stream.message().await.map_err(client_gone)? {
        let Part::Chunk(chunk) = part_of(message) else {
            return Err(Error::invalid(
                "metadata",
                "only the first message carries metadata",
            ));
        };
        if chunk.len() > MAX_CHUNK {
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
    Ok(upload.finish().await?)
}

/// Records `file`, whose content is `uploaded`, in the caller's
/// transaction: counts it against its owner's storage quota (RESOURCE_EXHAUSTED
/// over it), stores the content and inserts the row.
pub async fn record(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    uploaded: &Uploaded,
    file: &File,
) -> Result<()> {
    let quota = state.config.storage_quota_bytes;
    if !File::reserve_usage(conn, file.user_id, file.size_bytes, quota).await? {
        return Err(Error::Quota {
            subject: "storage_bytes",
            description: format!(
                "the owner's files would exceed the storage quota of {quota} bytes"
            ),
        });
    }
    File::acquire_blob(conn, &uploaded.sha256, file.size_bytes, file.uploaded_at).await?;
    state
        .blobs
        .promote(&uploaded.path, &uploaded.sha256)
        .await?;
    file.insert(conn).await?;
    Ok(())
}

/// Deletes the temporary object of an upload that was not recorded (gone
/// already if it was promoted before the transaction failed).
pub async fn discard(state: &AppState, uploaded: &Uploaded) {
    let _ = state.blobs.delete(&uploaded.path).await;
}

/// The client broke off the stream.
pub fn client_gone(status: tonic::Status) -> Error {
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

/// A MIME type; `application/octet-stream` when empty.
pub fn mime_type(raw: &str) -> Result<String> {
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
