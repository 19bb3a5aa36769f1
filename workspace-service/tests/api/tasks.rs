use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn a_task_is_created_pending_with_its_files() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack.insert_file(ada.id).await;
    let task = stack
        .create_task(&ada.token, "clean the data", &[file])
        .await;
    assert_eq!(task.status(), pb::TaskStatus::Pending);
    assert_eq!(task.files.len(), 1);
    assert_eq!(task.files[0].filename, "data.csv");
    assert_eq!(task.attempt, 0);
    let status = stack
        .tasks
        .clone()
        .create_task(authorized(
            &ada.token,
            pb::CreateTaskRequest {
                query: " ".into(),
                file_ids: vec![],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn cancel_and_retry_follow_the_state_machine() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let mut tasks = stack.tasks.clone();
    let retry = |id: String| pb::RetryTaskRequest { task_id: id };
    let cancel = |id: String| pb::CancelTaskRequest { task_id: id };

    let status = tasks
        .retry_task(authorized(&ada.token, retry(task.task_id.clone())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("pending"), "{}", status.message());

    let cancelled = tasks
        .cancel_task(authorized(&ada.token, cancel(task.task_id.clone())))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(cancelled.status(), pb::TaskStatus::Cancelled);
    let status = tasks
        .cancel_task(authorized(&ada.token, cancel(task.task_id.clone())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("cancelled"));

    let again = tasks
        .retry_task(authorized(&ada.token, retry(task.task_id.clone())))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(again.status(), pb::TaskStatus::Pending);
}

#[tokio::test]
async fn stats_count_tasks_by_status() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    for _ in 0..3 {
        stack.create_task(&ada.token, "q", &[]).await;
    }
    let task = stack.create_task(&ada.token, "q", &[]).await;
    stack
        .tasks
        .clone()
        .cancel_task(authorized(
            &ada.token,
            pb::CancelTaskRequest {
                task_id: task.task_id,
            },
        ))
        .await
        .unwrap();
    stack.create_task(&grace.token, "q", &[]).await;
    let stats = stack
        .tasks
        .clone()
        .get_task_stats(authorized(&ada.token, pb::GetTaskStatsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (stats.total, stats.pending, stats.cancelled, stats.completed),
        (4, 3, 1, 0)
    );
}

#[tokio::test]
async fn lists_filter_order_and_page() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack.insert_file(ada.id).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        stack.clock.advance(chrono::Duration::seconds(1));
        let files = if i % 2 == 0 { vec![file] } else { vec![] };
        ids.push(
            stack
                .create_task(&ada.token, &format!("t{i}"), &files)
                .await
                .task_id,
        );
    }
    let list = |request: pb::ListTasksRequest| {
        let mut tasks = stack.tasks.clone();
        let token = ada.token.clone();
        async move { tasks.list_tasks(authorized(&token, request)).await }
    };
    // Newest first by default.
    let all = list(pb::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    let queries: Vec<_> = all.tasks.iter().map(|t| t.query.as_str()).collect();
    assert_eq!(queries, ["t4", "t3", "t2", "t1", "t0"]);
    assert_eq!(all.total_size, 5);
    // Oldest first, two per page, covering everything once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(pb::ListTasksRequest {
            order_by: "created_at".into(),
            page_size: 2,
            page_token: token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        seen.extend(page.tasks.into_iter().map(|t| t.query));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
    // By attached file name.
    let by_name = list(pb::ListTasksRequest {
        filename: "DATA".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(by_name.total_size, 3);
    // LIKE wildcards are literal.
    let wild = list(pb::ListTasksRequest {
        filename: "%".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(wild.total_size, 0);
    // A bad order is refused.
    let status = list(pb::ListTasksRequest {
        order_by: "id; drop table tasks".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn every_id_taking_task_rpc_answers_not_found_for_another_users_id() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let eve = stack.user("eve@example.com").await;
    let task = stack.create_task(&ada.token, "private", &[]).await;
    let id = task.task_id.clone();
    let mut tasks = stack.tasks.clone();
    let t = &eve.token;
    let mut codes = vec![
        tasks
            .get_task(authorized(
                t,
                pb::GetTaskRequest {
                    task_id: id.clone(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
        tasks
            .cancel_task(authorized(
                t,
                pb::CancelTaskRequest {
                    task_id: id.clone(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
        tasks
            .retry_task(authorized(
                t,
                pb::RetryTaskRequest {
                    task_id: id.clone(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
    ];
    codes.push(
        match tasks
            .watch_task(authorized(
                t,
                pb::WatchTaskRequest {
                    task_id: id.clone(),
                },
            ))
            .await
        {
            Err(status) => status.code(),
            Ok(_) => Code::Ok,
        },
    );
    assert_eq!(codes, [Code::NotFound; 4]);
    assert_eq!(
        stack.get_task(&ada.token, &id).await.unwrap().status(),
        pb::TaskStatus::Pending
    );
}

async fn export(
    stack: &crate::helpers::TestStack,
    token: &str,
    task_id: &str,
    format: i32,
) -> Result<(pb::ExportMetadata, Vec<u8>), tonic::Status> {
    use pb::export_task_response::Part;
    let mut stream = stack
        .tasks
        .clone()
        .export_task(authorized(
            token,
            pb::ExportTaskRequest {
                task_id: task_id.into(),
                format,
            },
        ))
        .await?
        .into_inner();
    let Some(pb::ExportTaskResponse {
        part: Some(Part::Metadata(metadata)),
    }) = stream.message().await?
    else {
        panic!("the first message is the metadata");
    };
    let mut bytes = Vec::new();
    while let Some(pb::ExportTaskResponse {
        part: Some(Part::Chunk(chunk)),
    }) = stream.message().await?
    {
        bytes.extend_from_slice(&chunk);
    }
    Ok((metadata, bytes))
}

#[tokio::test]
async fn a_task_exports_as_json_and_markdown() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack
        .upload(&ada.token, "销售|数据.csv", vec![b"a,b\n".to_vec()])
        .await
        .unwrap();
    let task = stack
        .create_task(&ada.token, "sum column B", &[file.file_id.parse().unwrap()])
        .await;
    let worker = stack.service_token(&["tasks.process"]).await;
    stack.claim(&worker, "w").await.unwrap();
    stack
        .complete(
            &worker,
            "w",
            &task.task_id,
            serde_json::json!({"variables": {"total": 3}}),
        )
        .await
        .unwrap();

    let (meta, bytes) = export(
        &stack,
        &ada.token,
        &task.task_id,
        pb::ExportFormat::Json as i32,
    )
    .await
    .unwrap();
    assert_eq!(meta.filename, format!("task-{}.json", task.task_id));
    assert_eq!(meta.content_type, "application/json");
    assert_eq!(meta.size_bytes, bytes.len() as i64);
    let document: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(document["status"], "completed");
    assert_eq!(document["query"], "sum column B");
    assert_eq!(document["result"]["variables"]["total"], 3.0);
    assert_eq!(document["files"][0]["filename"], "销售|数据.csv");

    let (meta, bytes) = export(
        &stack,
        &ada.token,
        &task.task_id,
        pb::ExportFormat::Markdown as i32,
    )
    .await
    .unwrap();
    assert!(meta.filename.ends_with(".md"));
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.starts_with(&format!("# Task {}", task.task_id)),
        "{text}"
    );
    assert!(text.contains("- Status: completed"));
    assert!(text.contains("## Query\n\nsum column B"));
    assert!(text.contains("| 销售\\|数据\\.csv | 4 |"), "{text}");
    assert!(text.contains("\"total\": 3"));
}

/// Text `pdftotext` reads back from `pdf` (with `-layout` off: reading order).
fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.pdf");
    std::fs::write(&path, pdf).unwrap();
    let output = std::process::Command::new("pdftotext")
        .args([path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (Debian package poppler-utils) is installed");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_task_exports_as_a_pdf_that_pdftotext_reads_back_chinese_included() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack
        .upload(&ada.token, "销售数据.csv", vec![b"a,b\n".to_vec()])
        .await
        .unwrap();
    let task = stack
        .create_task(
            &ada.token,
            "按月汇总销售额",
            &[file.file_id.parse().unwrap()],
        )
        .await;
    let worker = stack.service_token(&["tasks.process"]).await;
    stack.claim(&worker, "w").await.unwrap();
    // Enough rows to need several pages.
    let rows: Vec<_> = (1..=150).map(|i| format!("第{i}行 row {i}")).collect();
    stack
        .complete(
            &worker,
            "w",
            &task.task_id,
            serde_json::json!({"rows": rows}),
        )
        .await
        .unwrap();

    let (meta, bytes) = export(
        &stack,
        &ada.token,
        &task.task_id,
        pb::ExportFormat::Pdf as i32,
    )
    .await
    .unwrap();
    assert_eq!(meta.filename, format!("task-{}.pdf", task.task_id));
    assert_eq!(meta.content_type, "application/pdf");
    assert_eq!(meta.size_bytes, bytes.len() as i64);
    assert!(bytes.starts_with(b"%PDF-"), "a PDF header");

    let text = pdftotext(&bytes);
    assert!(text.contains(&format!("Task {}", task.task_id)), "{text}");
    assert!(text.contains("Status: completed"), "{text}");
    assert!(text.contains("按月汇总销售额"), "{text}");
    assert!(text.contains("销售数据.csv (4 bytes, MD5 "), "{text}");
    assert!(text.contains("\"第1行 row 1\""), "{text}");
    assert!(text.contains("\"第150行 row 150\""), "{text}");
    // pdftotext separates pages with a form feed.
    assert!(text.matches('\u{c}').count() >= 3, "several pages");
}

#[tokio::test]
async fn pdf_export_switched_off_is_failed_precondition_and_json_still_works() {
    let stack = spawn_stack_with(|config| {
        config.export_pdf_font = workspace_service::config::PdfFontChoice::Off;
    })
    .await;
    let ada = stack.user("ada@example.com").await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let status = export(
        &stack,
        &ada.token,
        &task.task_id,
        pb::ExportFormat::Pdf as i32,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("EXPORT_PDF_FONT"), "{status:?}");
    export(
        &stack,
        &ada.token,
        &task.task_id,
        pb::ExportFormat::Json as i32,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unknown_export_format_or_another_users_task_is_refused() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let eve = stack.user("eve@example.com").await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let status = export(&stack, &ada.token, &task.task_id, 99)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = export(&stack, &eve.token, &task.task_id, 0)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn another_users_file_cannot_be_attached_to_a_task_or_a_conversation() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let eve = stack.user("eve@example.com").await;
    let adas_file = stack
        .upload(&ada.token, "ada.csv", vec![b"a".to_vec()])
        .await
        .unwrap();
    let status = stack
        .tasks
        .clone()
        .create_task(authorized(
            &eve.token,
            pb::CreateTaskRequest {
                query: "steal".into(),
                file_ids: vec![adas_file.file_id.clone()],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let conversation = stack
        .create_conversation(&eve.token, "mine", &[])
        .await
        .unwrap();
    let status = stack
        .conversations
        .clone()
        .update_conversation(authorized(
            &eve.token,
            pb::UpdateConversationRequest {
                conversation_id: conversation.conversation_id.clone(),
                file_ids: Some(pb::FileIdList {
                    ids: vec![adas_file.file_id.clone()],
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Nothing was written for Eve.
    let stats = stack
        .tasks
        .clone()
        .get_task_stats(authorized(&eve.token, pb::GetTaskStatsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total, 0);
    let got = stack
        .conversations
        .clone()
        .get_conversation(authorized(
            &eve.token,
            pb::GetConversationRequest {
                conversation_id: conversation.conversation_id,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(got.conversation.unwrap().file_ids.is_empty());
}

#[tokio::test]
async fn a_user_holds_at_most_sixteen_watch_streams_and_a_closed_one_frees_its_place() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let task = stack.create_task(&ada.token, "watch me", &[]).await;
    let bobs = stack.create_task(&bob.token, "mine", &[]).await;
    let watch = |token: String, task_id: String| {
        let mut tasks = stack.tasks.clone();
        async move {
            tasks
                .watch_task(authorized(&token, pb::WatchTaskRequest { task_id }))
                .await
        }
    };
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(
            watch(ada.token.clone(), task.task_id.clone())
                .await
                .unwrap(),
        );
    }
    let status = watch(ada.token.clone(), task.task_id.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // Another user is not affected.
    watch(bob.token.clone(), bobs.task_id.clone())
        .await
        .unwrap();
    // A stream the client drops gives its place back.
    drop(open.pop());
    let freed = crate::helpers::eventually(std::time::Duration::from_secs(10), || {
        let call = watch(ada.token.clone(), task.task_id.clone());
        async move { call.await.is_ok() }
    })
    .await;
    assert!(freed, "the closed stream's place came back");
}
