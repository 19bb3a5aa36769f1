//! Task exports: the documents `ExportTask` sends, as JSON, Markdown or PDF.

pub mod pdf;

use proto::workspace::v1 as pb;

use crate::grpc::convert::value_to_json;

use pdf::Block;
pub use pdf::PdfFont;

pub(crate) fn status_name(task: &pb::Task) -> &'static str {
    match task.status() {
        pb::TaskStatus::Draft => "draft",
        pb::TaskStatus::Pending => "pending",
        pb::TaskStatus::Processing => "processing",
        pb::TaskStatus::Completed => "completed",
        pb::TaskStatus::Failed => "failed",
        pb::TaskStatus::Cancelled => "cancelled",
        pb::TaskStatus::Unspecified => "unspecified",
    }
}

pub(crate) fn time(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The task as a JSON document.
pub fn json(task: &pb::Task) -> Vec<u8> {
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
pub fn markdown(task: &pb::Task) -> Vec<u8> {
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

/// The task as a PDF document in `font`.
pub fn pdf(font: &PdfFont, task: &pb::Task) -> Result<Vec<u8>, String> {
    let title = format!("Task {}", task.task_id);
    let mut blocks = vec![Block::Title(title.clone())];
    let mut facts = vec![
        format!("Status: {}", status_name(task)),
        format!("Attempts: {}", task.attempt),
    ];
    for (label, at) in [
        ("Created", &task.created_at),
        ("Started", &task.started_at),
        ("Completed", &task.completed_at),
    ] {
        if let Some(at) = time(at.as_ref()) {
            facts.push(format!("{label}: {at}"));
        }
    }
    blocks.push(Block::Text(facts.join("\n")));
    blocks.push(Block::Heading("Query".into()));
    blocks.push(Block::Text(task.query.clone()));
    if !task.files.is_empty() {
        blocks.push(Block::Heading("Files".into()));
        for file in &task.files {
            blocks.push(Block::Text(format!(
                "{} ({} bytes, MD5 {})",
                file.filename, file.size_bytes, file.md5
            )));
        }
    }
    if !task.analysis.is_empty() {
        blocks.push(Block::Heading("Analysis".into()));
        blocks.push(Block::Text(task.analysis.clone()));
    }
    if !task.error_message.is_empty() {
        blocks.push(Block::Heading("Error".into()));
        blocks.push(Block::Text(task.error_message.clone()));
    }
    for (title, value) in [("Operations", &task.operations), ("Result", &task.result)] {
        if let Some(value) = value {
            let json = serde_json::to_string_pretty(&value_to_json(value)).unwrap_or_default();
            blocks.push(Block::Heading(title.into()));
            blocks.push(Block::Code(json));
        }
    }
    pdf::render(font, &title, &blocks)
}
