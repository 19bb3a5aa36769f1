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
    out.push_str(&format!("\n## Query\n\n{}\n", escape_markdown(&task.query)));
    if !task.files.is_empty() {
        out.push_str("\n## Files\n\n| Name | Size (bytes) | MD5 |\n|---|---|---|\n");
        for file in &task.files {
            // Escaped, a pipe cannot end the cell nor a newline the row.
            out.push_str(&format!(
                "| {} | {} | `{}` |\n",
                escape_markdown(&file.filename.replace(['\r', '\n'], " ")),
                file.size_bytes,
                file.md5
            ));
        }
    }
    if !task.analysis.is_empty() {
        out.push_str(&format!(
            "\n## Analysis\n\n{}\n",
            escape_markdown(&task.analysis)
        ));
    }
    if !task.error_message.is_empty() {
        out.push_str(&format!(
            "\n## Error\n\n{}\n",
            escape_markdown(&task.error_message)
        ));
    }
    for (title, value) in [("Operations", &task.operations), ("Result", &task.result)] {
        if let Some(value) = value {
            let json = serde_json::to_string_pretty(&value_to_json(value)).unwrap_or_default();
            // A fence longer than any run of backticks inside cannot be closed
            // by the content.
            let fence = "`".repeat(longest_run(&json, '`').max(2) + 1);
            out.push_str(&format!("\n## {title}\n\n{fence}json\n{json}\n{fence}\n"));
        }
    }
    out.into_bytes()
}

/// `text` as literal Markdown: every character that could start markup
/// (headings, emphasis, links, images, raw HTML, code, tables, entities) is
/// backslash-escaped, so what a user typed reads back as typed and cannot
/// inject a link or HTML into the exported document. Line breaks stay (as
/// hard breaks, so lines keep their shape).
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        if !out.is_empty() {
            out.push_str("\\\n");
        }
        for c in line.chars() {
            if matches!(
                c,
                '\\' | '`'
                    | '*'
                    | '_'
                    | '{'
                    | '}'
                    | '['
                    | ']'
                    | '<'
                    | '>'
                    | '('
                    | ')'
                    | '#'
                    | '+'
                    | '-'
                    | '.'
                    | '!'
                    | '|'
                    | '~'
                    | '&'
                    | '='
                    | ':'
            ) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
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

#[cfg(test)]
mod markdown_tests {
    use pulldown_cmark::{Event, HeadingLevel, Parser, Tag};

    use super::*;

    const HOSTILE: &str = "# Not a heading\n<script>alert(1)</script> [click](javascript:alert(1)) \
        ![x](http://tracker.example/p.png) **bold** `code` &amp; | cell |\n```\nfence\n```\n    indented";

    #[test]
    fn user_text_in_a_markdown_export_reads_back_as_typed_and_injects_nothing() {
        let task = pb::Task {
            task_id: "t-1".into(),
            query: HOSTILE.into(),
            analysis: HOSTILE.into(),
            error_message: HOSTILE.into(),
            files: vec![pb::TaskFile {
                filename: "a|b\n# c.csv".into(),
                ..Default::default()
            }],
            result: Some(prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(
                    "```\n# escaped the fence".into(),
                )),
            }),
            ..Default::default()
        };
        let text = String::from_utf8(markdown(&task)).unwrap();
        let mut headings = Vec::new();
        let mut in_heading = None;
        let mut plain = String::new();
        let mut bodies = Vec::new();
        for event in Parser::new_ext(&text, pulldown_cmark::Options::ENABLE_TABLES) {
            match event {
                Event::Html(html) | Event::InlineHtml(html) => panic!("raw HTML: {html}"),
                Event::Start(Tag::Link { .. } | Tag::Image { .. }) => panic!("a link: {text}"),
                Event::Start(Tag::Emphasis | Tag::Strong) => panic!("markup: {text}"),
                Event::Start(Tag::Heading { level, .. }) => {
                    // What came before was a section's body: all plain text.
                    bodies.push(std::mem::take(&mut plain));
                    in_heading = Some(level);
                }
                Event::End(_) if in_heading.is_some() => {
                    headings.push((in_heading.take().unwrap(), std::mem::take(&mut plain)));
                }
                Event::Text(t) | Event::Code(t) => plain.push_str(&t),
                Event::SoftBreak | Event::HardBreak => plain.push('\n'),
                _ => {}
            }
        }
        let ours: Vec<(HeadingLevel, &str)> = vec![
            (HeadingLevel::H1, "Task t-1"),
            (HeadingLevel::H2, "Query"),
            (HeadingLevel::H2, "Files"),
            (HeadingLevel::H2, "Analysis"),
            (HeadingLevel::H2, "Error"),
            (HeadingLevel::H2, "Result"),
        ];
        let got: Vec<(HeadingLevel, &str)> =
            headings.iter().map(|(l, t)| (*l, t.as_str())).collect();
        assert_eq!(got, ours, "{text}");
        bodies.push(plain);
        // What was typed reads back as typed, line by line.
        let typed: Vec<&str> = HOSTILE.lines().map(str::trim).collect();
        for section in [2, 4, 5] {
            let lines: Vec<&str> = bodies[section].lines().map(str::trim).collect();
            assert_eq!(lines, typed, "section {section}: {text}");
        }
        assert_eq!(escape_markdown("don't stop"), "don't stop");
    }
}
