//! The products' core loop through the gateway: a user uploads a
//! spreadsheet, queues an `excel.analyze` task, the Rust worker processes
//! it while `:watch` streams its progress over SSE, and the user downloads
//! the result workbook.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::watch;
use workspace_service::excel_worker::analyze::{self, Cell};
use workspace_service::excel_worker::{Outcome, Worker, WorkerConfig};

use crate::stack::{Events, Stack, spawn_stack_configured};

/// A workbook with two sheets: `Sales` (amounts 10, 20, 12.5) and `Costs`.
fn workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, values) in [("Sales", [10.0, 20.0, 12.5]), ("Costs", [4.0, 6.0, 1.0])] {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
        sheet.write_string(0, 0, "amount").unwrap();
        for (row, value) in values.into_iter().enumerate() {
            sheet.write_number(row as u32 + 1, 0, value).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

async fn excel_worker(stack: &Stack) -> Worker {
    let pool = postgres_kit::build_pool(
        &postgres_kit::DatabaseUrl::parse(&stack.auth_db).unwrap(),
        &postgres_kit::PoolSettings::new("pipeline-test"),
    )
    .unwrap();
    let (client_id, client_secret) = auth_service::admin::create_service_account(
        &pool,
        "excel-worker",
        &["tasks.process:excel.analyze".to_owned()],
    )
    .await
    .unwrap();
    Worker::new(WorkerConfig {
        auth_service_url: stack.auth_url.clone(),
        workspace_service_url: stack.workspace_url.clone(),
        client_id: client_id.to_string(),
        client_secret,
        worker_id: "excel-e2e".into(),
    })
    .unwrap()
}

#[tokio::test]
async fn an_uploaded_workbook_is_analysed_with_progress_over_sse_and_the_result_downloads() {
    let stack = spawn_stack_configured(
        |w| w.task_progress_flush = Duration::from_millis(20),
        |_| {},
    )
    .await;
    let token = stack.signed_in("ada@example.com").await;
    let uploaded = stack.upload(&token, "sales.xlsx", workbook()).await;
    assert_eq!(uploaded.status(), 200);
    let uploaded: Value = uploaded.json().await.unwrap();
    let file_id = uploaded["file"]["file_id"].as_str().unwrap().to_owned();
    let created = stack
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&token),
            Some(json!({"query": "summarise", "kind": "excel.analyze", "file_ids": [file_id]})),
        )
        .await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    let task_id = created["task"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(created["task"]["kind"], "excel.analyze");

    // Follow the task over SSE: every event, and the progress messages seen.
    let response = stack
        .call(
            Method::GET,
            &format!("/v1/tasks/{task_id}:watch"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let (seen_tx, seen) = watch::channel(Vec::<String>::new());
    let reader = tokio::spawn(async move {
        let mut events = Events::new(response);
        let mut all = Vec::new();
        while let Some((name, event)) = events.next().await {
            assert_eq!(name, "message", "{event}");
            if let Some(message) = event["task"]["progress"]["message"].as_str() {
                seen_tx.send_modify(|seen| {
                    if seen.last().map(String::as_str) != Some(message) {
                        seen.push(message.to_owned());
                    }
                });
            }
            all.push(event);
        }
        all
    });

    // The worker goes on after each report once the watcher has seen it.
    let mut worker = excel_worker(&stack).await;
    let outcome = worker
        .run_once_observed(|progress| {
            let mut seen = seen.clone();
            async move {
                tokio::time::timeout(
                    Duration::from_secs(10),
                    seen.wait_for(|s| s.contains(&progress.message)),
                )
                .await
                .expect("the watcher sees the report within 10 s")
                .unwrap();
            }
        })
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");

    let events = reader.await.unwrap();
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["task"]["status"] == "processing" && e["task"]["progress"].is_object())
        .collect();
    // An event a progress report (and one when the output is attached,
    // with the last report still on the task).
    let mut messages: Vec<&str> = progress
        .iter()
        .map(|e| e["task"]["progress"]["message"].as_str().unwrap())
        .collect();
    messages.dedup();
    assert_eq!(messages.len(), 2, "{events:#?}");
    assert!(
        messages[0].contains("Sales") && messages[1].contains("Costs"),
        "{messages:?}"
    );
    let fractions: Vec<f64> = progress
        .iter()
        .map(|e| e["task"]["progress"]["fraction"].as_f64().unwrap())
        .collect();
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    let last = events.last().unwrap();
    assert_eq!(last["task"]["status"], "completed", "{last}");
    let outputs = last["task"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    let output_id = outputs[0]["file_id"].as_str().unwrap();
    assert_eq!(outputs[0]["filename"], "sales-analysis.xlsx");

    // The user downloads the result; it opens and holds the summary.
    let download = stack
        .http
        .get(format!("{}/v1/files/{output_id}/content", stack.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.headers()["content-type"],
        analyze::XLSX_MIME,
        "{:?}",
        download.headers()
    );
    let bytes = download.bytes().await.unwrap().to_vec();
    let sheets = analyze::read_sheets("result.xlsx", bytes).unwrap();
    assert_eq!(sheets[0].name, "Summary");
    let sums: Vec<(Cell, Cell)> = sheets[0]
        .rows
        .iter()
        .skip(1)
        .map(|r| (r[1].clone(), r[5].clone()))
        .collect();
    assert_eq!(
        sums,
        [
            (Cell::Text("Sales".into()), Cell::Number(42.5)),
            (Cell::Text("Costs".into()), Cell::Number(11.0)),
        ]
    );
}
