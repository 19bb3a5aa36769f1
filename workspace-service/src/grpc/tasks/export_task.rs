//! `ExportTask`: the task and its result as a JSON, Markdown or PDF document,
//! sent as a stream (metadata, then chunks) like a file download.

use bytes::Bytes;
use proto::workspace::v1::{self as pb, export_task_response::Part};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::error::{Error, Result};
use crate::export;
use crate::grpc::ids;
use crate::state::AppState;

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
        .map_err(|_| Error::invalid("format", "must be json, markdown or pdf"))?;
    let task = {
        let mut conn = state.pool.get().await?;
        let task = Task::find_for_user(&mut conn, id, user_id)
            .await?
            .ok_or(Error::NotFound("task"))?;
        super::one_to_wire(&mut conn, &task).await?
    };
    let filename = |extension: &str| format!("task-{}.{extension}", task.task_id);
    let (filename, content_type, document) = match format {
        pb::ExportFormat::Unspecified | pb::ExportFormat::Json => {
            (filename("json"), "application/json", export::json(&task))
        }
        pb::ExportFormat::Markdown => (
            filename("md"),
            "text/markdown; charset=utf-8",
            export::markdown(&task),
        ),
        pb::ExportFormat::Pdf => {
            let font = state.pdf_font.clone().ok_or_else(|| {
                Error::FailedPrecondition(
                    "PDF export is switched off on this service: it has no font \
                     (EXPORT_PDF_FONT)"
                        .into(),
                )
            })?;
            let filename = filename("pdf");
            // Laying out pages is CPU work: keep it off the async workers.
            let document = tokio::task::spawn_blocking(move || export::pdf(&font, &task))
                .await
                .map_err(anyhow::Error::from)?
                .map_err(|e| anyhow::anyhow!("rendering the PDF: {e}"))?;
            (filename, "application/pdf", document)
        }
    };
    let mut bytes = Bytes::from(document);
    let mut messages = vec![Ok(pb::ExportTaskResponse {
        part: Some(Part::Metadata(pb::ExportMetadata {
            filename,
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
