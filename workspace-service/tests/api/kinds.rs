//! Task kinds: created, listed, claimed by kind, and limited by scopes.

use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{TestStack, spawn_stack};

async fn task_of_kind(stack: &TestStack, token: &str, kind: &str) -> pb::Task {
    stack
        .create(
            token,
            pb::CreateTaskRequest {
                query: format!("a {kind} task"),
                kind: kind.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn workers_claim_only_the_kinds_they_ask_for() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let excel = task_of_kind(&stack, &ada.token, "excel.analyze").await;
    let ocr = task_of_kind(&stack, &ada.token, "ocr.document").await;
    let plain = task_of_kind(&stack, &ada.token, "").await;
    assert_eq!(plain.kind, "default");
    let got = stack
        .claim_kinds(&worker, "ocr", &["ocr.document"])
        .await
        .unwrap();
    assert_eq!(got.task.unwrap().task_id, ocr.task_id);
    assert!(
        stack
            .claim_kinds(&worker, "ocr", &["ocr.document"])
            .await
            .unwrap()
            .task
            .is_none()
    );
    let got = stack
        .claim_kinds(&worker, "xl", &["excel.*"])
        .await
        .unwrap();
    assert_eq!(got.task.unwrap().task_id, excel.task_id);
    // No kinds: any.
    let got = stack.claim_kinds(&worker, "any", &[]).await.unwrap();
    assert_eq!(got.task.unwrap().task_id, plain.task_id);
}

#[tokio::test]
async fn a_kind_limited_scope_narrows_what_a_worker_may_claim() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let gpu = stack.service_token(&["tasks.process:image.*"]).await;
    let ocr = task_of_kind(&stack, &ada.token, "ocr.document").await;
    let inpaint = task_of_kind(&stack, &ada.token, "image.inpaint").await;
    // Asking for nothing: only what the scope allows.
    let got = stack.claim_kinds(&gpu, "gpu", &[]).await.unwrap();
    assert_eq!(got.task.unwrap().task_id, inpaint.task_id);
    assert!(
        stack
            .claim_kinds(&gpu, "gpu", &[])
            .await
            .unwrap()
            .task
            .is_none()
    );
    // Asking for more than the scope allows is refused outright.
    for kinds in [
        &["ocr.document"][..],
        &["*"],
        &["image.inpaint", "ocr.document"],
    ] {
        let status = stack.claim_kinds(&gpu, "gpu", kinds).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{kinds:?}");
    }
    // The OCR task is still there for a worker allowed to take it.
    let any = stack.service_token(&["tasks.process"]).await;
    let got = stack.claim_kinds(&any, "w", &[]).await.unwrap();
    assert_eq!(got.task.unwrap().task_id, ocr.task_id);
}

#[tokio::test]
async fn tasks_are_listed_by_kind_and_a_bad_kind_is_invalid() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    task_of_kind(&stack, &ada.token, "excel.analyze").await;
    task_of_kind(&stack, &ada.token, "ocr.document").await;
    task_of_kind(&stack, &ada.token, "ocr.document").await;
    let listed = stack
        .tasks
        .clone()
        .list_tasks(crate::helpers::authorized(
            &ada.token,
            pb::ListTasksRequest {
                kind: "ocr.document".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tasks.len(), 2);
    assert_eq!(listed.total_size, 2);
    assert!(listed.tasks.iter().all(|t| t.kind == "ocr.document"));
    for bad in [
        "OCR",
        "ocr..document",
        "1ocr",
        "ocr document",
        &"a".repeat(65),
    ] {
        let status = stack
            .create(
                &ada.token,
                pb::CreateTaskRequest {
                    query: "q".into(),
                    kind: bad.to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}");
    }
    let worker = stack.service_token(&["tasks.process"]).await;
    let status = stack
        .claim_kinds(&worker, "w", &["Bad Kind"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
