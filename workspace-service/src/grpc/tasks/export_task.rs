//! `ExportTask`: the task and its result as a JSON or Markdown document,
//! sent as a stream (metadata, then chunks) like a file download.

use bytes::Bytes;
use proto::workspace::v1::{self as pb, export_task_response::Part};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::tasks;
use crate::error::{Error, Result};
use crate::grpc::convert::value_to_json;
use crate::grpc::ids;

pub type ExportStream = ReceiverStream<Result<pb::ExportTaskResponse, Status>>;

/// Largest chunk sent.
const CHUNK: usize = 1 << 20;

pub async fn export_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::ExportTaskRequest,
) -> Result<ExportStream> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let format = pb::ExportFormat::try_from(request.format)
        .map_err(|_| Error::invalid("format", "must be json or markdown"))?;
    let task = {
        let mut conn = state.pool.get().await?;
        let task = tasks::find_for_user(&mut conn, id, user_id)
            .await?
            .ok_or(Error::NotFound("task"))?;
        super::one_to_wire(&mut conn, &task).await?
    };
    let (extension, content_type, document) = match format {
        pb::ExportFormat::Unspecified | pb::ExportFormat::Json => {
            ("json", "application/json", json(&task))
        }
        pb::ExportFormat::Markdown => ("md", "text/markdown; charset=utf-8", markdown(&task)),
    };
    let mut bytes = Bytes::from(document);
    let mut messages = vec![Ok(pb::ExportTaskResponse {
        part: Some(Part::Metadata(pb::ExportMetadata {
            filename: format!("task-{}.{extension}", task.task_id),
            content_type: content_type.into(),
            size_bytes: bytes.len() as i64,
        })),
    })];
    while !bytes.is_empty() {
        let chunk = bytes.split_to(bytes.len().min(CHUNK));
        messages.push(Ok(pb::ExportTaskResponse {
            part: Some(Part::Chunk(chunk)),
        }));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(messages.len().max(1));
    for message in messages {
        // The channel has room for every message.
        let _ = tx.try_send(message);
    }
    Ok(ReceiverStream::new(rx))
}

fn status_name(task: &pb::Task) -> &'static str {
    match task.status() {
        pb::TaskStatus::Pending => "pending",
        pb::TaskStatus::Processing => "processing",
        pb::TaskStatus::Completed => "completed",
        pb::TaskStatus::Failed => "failed",
        pb::TaskStatus::Cancelled => "cancelled",
        pb::TaskStatus::Unspecified => "unspecified",
    }
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The task as a JSON document.
fn json(task: &pb::Task) -> Vec<u8> {
    let document = serde_json::json!({
        "task_id": task.task_id,
        "query": task.query,
        "status": status_name(task),
        "attempt": task.attempt,
        "files": task.files.iter().map(|f| serde_json::json!({
            "file_id": f.file_id, "filename": f.filename, "size_bytes": f.size_bytes,
            "md5": f.md5, "sha256": f.sha256, "mime_type": f.mime_type,
        })).collect::<Vec<_>>(),
        "analysis": task.analysis,
        "operations": task.operations.as_ref().map(value_to_json),
        "result": task.result.as_ref().map(value_to_json),
        "error_message": task.error_message,
        "created_at": time(task.created_at.as_ref()),
        "started_at": time(task.started_at.as_ref()),
        "completed_at": time(task.completed_at.as_ref()),
    });
    serde_json::to_vec_pretty(&document).unwrap_or_default()
}

/// The task as a Markdown document.
fn markdown(task: &pb::Task) -> Vec<u8> {
    let mut out = format!(
        "# Task {}\n\n- Status: {}\n- Attempts: {}\n- Created: {}\n",
        task.task_id,
        status_name(task),
        task.attempt,
        time(task.created_at.as_ref()).unwrap_or_default()
    );
    if let Some(completed) = time(task.completed_at.as_ref()) {
        out.push_str(&format!("- Completed: {completed}\n"));
    }
    out.push_str(&format!("\n## Query\n\n{}\n", task.query));
    if !task.files.is_empty() {
        out.push_str("\n## Files\n\n| Name | Size (bytes) | MD5 |\n|---|---|---|\n");
        for file in &task.files {
            // A pipe would end the table cell.
            out.push_str(&format!(
                "| {} | {} | `{}` |\n",
                file.filename.replace('|', "\\|"),
                file.size_bytes,
                file.md5
            ));
        }
    }
    if !task.analysis.is_empty() {
        out.push_str(&format!("\n## Analysis\n\n{}\n", task.analysis));
    }
    if !task.error_message.is_empty() {
        out.push_str(&format!("\n## Error\n\n{}\n", task.error_message));
    }
    for (title, value) in [("Operations", &task.operations), ("Result", &task.result)] {
        if let Some(value) = value {
            let json = serde_json::to_string_pretty(&value_to_json(value)).unwrap_or_default();
            out.push_str(&format!("\n## {title}\n\n```json\n{json}\n```\n"));
        }
    }
    out.into_bytes()
}
