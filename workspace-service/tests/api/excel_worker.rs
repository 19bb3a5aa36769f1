//! The `excel.analyze` worker against the real service: it analyses a
//! workbook, stores the result workbook as the task's output, fails bad
//! input for good, and stops when the owner cancels.

use proto::workspace::v1 as pb;
use workspace_service::excel_worker::analyze::{self, Cell};
use workspace_service::excel_worker::{Outcome, Worker, WorkerConfig};

use crate::helpers::{TestStack, User, spawn_stack};

/// A workbook of two sheets: sales (amounts 10, 20, 12.5) and notes.
pub fn workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sales = book.add_worksheet();
    sales.set_name("Sales").unwrap();
    sales.write_string(0, 0, "region").unwrap();
    sales.write_string(0, 1, "amount").unwrap();
    for (row, (region, amount)) in [("north", 10.0), ("south", 20.0), ("east", 12.5)]
        .into_iter()
        .enumerate()
    {
        sales.write_string(row as u32 + 1, 0, region).unwrap();
        sales.write_number(row as u32 + 1, 1, amount).unwrap();
    }
    let notes = book.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "备注").unwrap();
    notes.write_string(1, 0, "checked").unwrap();
    book.save_to_buffer().unwrap()
}

async fn worker(stack: &TestStack) -> Worker {
    let (client_id, client_secret) = auth_service::admin::create_service_account(
        &stack.auth_state.pool,
        "excel-worker",
        &["tasks.process:excel.*".into()],
    )
    .await
    .unwrap();
    Worker::new(WorkerConfig {
        auth_service_url: stack.auth_url.clone(),
        workspace_service_url: format!("http://{}", stack.addr),
        client_id: client_id.to_string(),
        client_secret,
        worker_id: "excel".into(),
    })
    .unwrap()
}

async fn excel_task(stack: &TestStack, ada: &User, filename: &str, bytes: Vec<u8>) -> pb::Task {
    let file = stack
        .upload(&ada.token, filename, vec![bytes])
        .await
        .unwrap();
    stack
        .create(
            &ada.token,
            pb::CreateTaskRequest {
                query: "summarise".into(),
                file_ids: vec![file.file_id],
                kind: "excel.analyze".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_excel_worker_stores_a_result_workbook_with_a_summary() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    // A task of another kind is not this worker's.
    stack
        .create_task(&ada.token, "not a spreadsheet job", &[])
        .await;
    let task = excel_task(&stack, &ada, "sales.xlsx", workbook()).await;
    let mut worker = worker(&stack).await;
    let mut reports = Vec::new();
    let outcome = worker
        .run_once_observed(|p| {
            reports.push(p);
            async {}
        })
        .await
        .unwrap();
    let Outcome::Completed(done) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(done.task_id, task.task_id);
    assert_eq!(reports.len(), 2, "a report per sheet");
    assert!(
        reports[0].message.contains("Sales"),
        "{}",
        reports[0].message
    );
    assert!(reports[1].fraction > reports[0].fraction);
    assert!(
        done.analysis.contains("Sales: 3 rows × 2 columns"),
        "{}",
        done.analysis
    );
    assert!(
        done.analysis.contains("amount (sum 42.5"),
        "{}",
        done.analysis
    );

    // The output is Ada's file, downloadable and a workbook again.
    assert_eq!(done.outputs.len(), 1);
    let output = &done.outputs[0];
    assert_eq!(output.filename, "sales-analysis.xlsx");
    assert_eq!(output.mime_type, analyze::XLSX_MIME);
    let (_, bytes) = stack.download(&ada.token, &output.file_id).await.unwrap();
    let sheets = analyze::read_sheets("result.xlsx", bytes).unwrap();
    let names: Vec<&str> = sheets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Summary", "Sales", "Notes"]);
    let amount = sheets[0]
        .rows
        .iter()
        .find(|r| r.get(2) == Some(&Cell::Text("amount".into())))
        .expect("a summary row for the amount column");
    assert_eq!(amount[5], Cell::Number(42.5));

    // The default-kind task is still pending: nothing else for this worker.
    assert!(matches!(worker.run_once().await.unwrap(), Outcome::Idle));
}

#[tokio::test]
async fn a_file_that_is_not_a_spreadsheet_fails_the_task_for_good() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let task = excel_task(&stack, &ada, "photo.png", b"\x89PNG\r\n\x1a\n".to_vec()).await;
    let mut worker = worker(&stack).await;
    let Outcome::Failed(failed) = worker.run_once().await.unwrap() else {
        panic!("the task fails");
    };
    assert_eq!(failed.task_id, task.task_id);
    assert_eq!(failed.status(), pb::TaskStatus::Failed);
    assert!(
        failed.error_message.starts_with("photo.png:"),
        "{}",
        failed.error_message
    );
    assert!(failed.outputs.is_empty());
}

#[tokio::test]
async fn the_worker_stops_when_the_owner_cancels_and_stores_nothing() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let task = excel_task(&stack, &ada, "sales.xlsx", workbook()).await;
    let mut worker = worker(&stack).await;
    // The owner cancels after the first sheet's report.
    let outcome = worker
        .run_once_observed(|_| {
            let stack = &stack;
            let (token, id) = (ada.token.clone(), task.task_id.clone());
            async move {
                stack.cancel(&token, &id).await.unwrap();
            }
        })
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Cancelled { .. }), "{outcome:?}");
    let task = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(task.status(), pb::TaskStatus::Cancelled);
    assert!(task.outputs.is_empty());
    assert_eq!(stack.count("SELECT count(*) FROM task_outputs").await, 0);
}

#[tokio::test]
async fn a_worker_reads_only_files_of_tasks_it_holds() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack
        .upload(&ada.token, "a.csv", vec![b"x".to_vec()])
        .await
        .unwrap();
    let other = stack
        .upload(&ada.token, "other.csv", vec![b"y".to_vec()])
        .await
        .unwrap();
    let task = stack
        .create_task(&ada.token, "q", &[file.file_id.parse().unwrap()])
        .await;
    let token = stack.service_token(&["tasks.process"]).await;
    let read = |worker: &str, file_id: &str| {
        let mut client = stack.worker.clone();
        let request = crate::helpers::authorized(
            &token,
            pb::ReadTaskFileRequest {
                task_id: task.task_id.clone(),
                worker_id: worker.into(),
                file_id: file_id.into(),
            },
        );
        async move { client.read_task_file(request).await.map(drop) }
    };
    // Not claimed yet.
    assert_eq!(
        read("w", &file.file_id).await.unwrap_err().code(),
        tonic::Code::FailedPrecondition
    );
    stack.claim(&token, "w").await.unwrap();
    assert!(read("w", &file.file_id).await.is_ok());
    assert_eq!(
        read("w", &other.file_id).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        read("intruder", &file.file_id).await.unwrap_err().code(),
        tonic::Code::FailedPrecondition
    );
}
