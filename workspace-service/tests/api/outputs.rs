//! Worker output files: stored in the owner's name under the lease, listed
//! on the task, downloaded by the owner, removed with an attempt that does
//! not complete.

use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{TestStack, User, authorized, spawn_stack, spawn_stack_with};

/// A task of Ada's, claimed by `worker` as "w".
async fn claimed(stack: &TestStack, ada: &User, worker: &str) -> pb::Task {
    let task = stack.create_task(&ada.token, "ocr this", &[]).await;
    let claimed = stack.claim(worker, "w").await.unwrap().task.unwrap();
    assert_eq!(claimed.task_id, task.task_id);
    claimed
}

#[tokio::test]
async fn a_worker_stores_outputs_that_the_owner_lists_and_downloads() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = claimed(&stack, &ada, &worker).await;
    // Markdown in one chunk; a 2.5 MiB PDF in three.
    let markdown = b"# Invoice\n\nTotal: 42".to_vec();
    let pdf: Vec<u8> = (0..(5 << 19)).map(|i| (i % 251) as u8).collect();
    let md = stack
        .upload_output(
            &worker,
            "w",
            &task.task_id,
            "invoice.md",
            vec![markdown.clone()],
        )
        .await
        .unwrap();
    let chunks: Vec<Vec<u8>> = pdf.chunks(1 << 20).map(<[u8]>::to_vec).collect();
    let doc = stack
        .upload_output(&worker, "w", &task.task_id, "invoice.pdf", chunks)
        .await
        .unwrap();
    assert_eq!(doc.size_bytes, pdf.len() as i64);
    assert_eq!(
        doc.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf))
    );
    // Completing may name one of them as the result's file.
    let done = stack
        .worker
        .clone()
        .complete_task(authorized(
            &worker,
            pb::CompleteTaskRequest {
                task_id: task.task_id.clone(),
                worker_id: "w".into(),
                analysis: "done".into(),
                output_file_id: doc.file_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let names: Vec<&str> = done.outputs.iter().map(|o| o.filename.as_str()).collect();
    assert_eq!(names, ["invoice.md", "invoice.pdf"]);
    // The owner reads them like any file of theirs.
    let (_, bytes) = stack.download(&ada.token, &md.file_id).await.unwrap();
    assert_eq!(bytes, markdown);
    let (file, bytes) = stack.download(&ada.token, &doc.file_id).await.unwrap();
    assert_eq!(file.filename, "invoice.pdf");
    assert_eq!(bytes, pdf);
    let fetched = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(fetched.outputs, done.outputs);
}

#[tokio::test]
async fn an_output_with_the_content_of_an_existing_file_is_stored_once() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let input = stack
        .upload(&ada.token, "data.csv", vec![b"a,b\n1,2\n".to_vec()])
        .await
        .unwrap();
    let task = claimed(&stack, &ada, &worker).await;
    let output = stack
        .upload_output(
            &worker,
            "w",
            &task.task_id,
            "copy.csv",
            vec![b"a,b\n1,2\n".to_vec()],
        )
        .await
        .unwrap();
    assert_ne!(output.file_id, input.file_id);
    assert_eq!(output.sha256, input.sha256);
    assert_eq!(stack.stored("blobs").len(), 1);
}

#[tokio::test]
async fn outputs_need_the_live_lease_of_the_account_that_claimed() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let intruder = stack.service_token(&["tasks.process"]).await;
    let task = stack.create_task(&ada.token, "q", &[]).await;
    let upload = |token: String| {
        let stack = &stack;
        let id = task.task_id.clone();
        async move {
            stack
                .upload_output(&token, "w", &id, "out.md", vec![b"x".to_vec()])
                .await
        }
    };
    // Not claimed yet.
    assert_eq!(
        upload(worker.clone()).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    stack.claim(&worker, "w").await.unwrap();
    // Another account naming the same worker holds nothing.
    assert_eq!(
        upload(intruder).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // The lease ran out.
    stack.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        upload(worker.clone()).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // Another user's task id, or none: NOT_FOUND.
    let status = stack
        .upload_output(
            &worker,
            "w",
            &uuid::Uuid::new_v4().to_string(),
            "o",
            vec![b"x".to_vec()],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 0);
    assert!(stack.stored("blobs").is_empty());
    assert!(stack.stored("tmp").is_empty());
    // And a user's token cannot call it at all.
    assert_eq!(
        stack
            .upload_output(&ada.token, "w", &task.task_id, "o", vec![b"x".to_vec()])
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn outputs_of_an_attempt_that_does_not_complete_are_removed() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    // Cancelled by the owner, failed for good, failed and requeued, and a
    // lease that ran out: each takes its outputs with it.
    for ending in ["cancel", "fail", "requeue", "expire"] {
        let task = claimed(&stack, &ada, &worker).await;
        let output = stack
            .upload_output(
                &worker,
                "w",
                &task.task_id,
                "partial.md",
                vec![ending.as_bytes().to_vec()],
            )
            .await
            .unwrap();
        match ending {
            "cancel" => drop(stack.cancel(&ada.token, &task.task_id).await.unwrap()),
            "fail" => drop(
                stack
                    .fail(&worker, "w", &task.task_id, false)
                    .await
                    .unwrap(),
            ),
            "requeue" => drop(stack.fail(&worker, "w", &task.task_id, true).await.unwrap()),
            _ => {
                stack.clock.advance(chrono::Duration::seconds(61));
                workspace_service::queue::reap_expired(&stack.state)
                    .await
                    .unwrap();
            }
        }
        let task = stack.get_task(&ada.token, &task.task_id).await.unwrap();
        assert!(task.outputs.is_empty(), "{ending}");
        let status = stack
            .download(&ada.token, &output.file_id)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{ending}");
        // Out of the way of the next round.
        if task.status() == pb::TaskStatus::Pending {
            stack.cancel(&ada.token, &task.task_id).await.unwrap();
        }
    }
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 0);
    assert_eq!(stack.count("SELECT count(*) FROM task_outputs").await, 0);
    // Their contents were freed.
    assert!(stack.stored("blobs").is_empty());
}

#[tokio::test]
async fn an_output_over_the_size_limit_or_the_owners_quota_keeps_nothing() {
    let stack = spawn_stack_with(|c| {
        c.max_file_bytes = 1000;
        c.storage_quota_bytes = 1500;
    })
    .await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    stack
        .upload(&ada.token, "mine.csv", vec![vec![b'a'; 900]])
        .await
        .unwrap();
    let task = claimed(&stack, &ada, &worker).await;
    let too_big = stack
        .upload_output(&worker, "w", &task.task_id, "big", vec![vec![b'b'; 1001]])
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::ResourceExhausted);
    let over_quota = stack
        .upload_output(&worker, "w", &task.task_id, "over", vec![vec![b'c'; 700]])
        .await
        .unwrap_err();
    assert_eq!(over_quota.code(), Code::ResourceExhausted);
    use tonic_types::StatusExt;
    let quota = over_quota
        .get_details_quota_failure()
        .expect("a QuotaFailure");
    assert_eq!(quota.violations[0].subject, "storage_bytes");
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 1);
    assert_eq!(stack.stored("blobs").len(), 1);
    assert!(stack.stored("tmp").is_empty());
    // Within the quota it is stored.
    stack
        .upload_output(&worker, "w", &task.task_id, "fits", vec![vec![b'd'; 600]])
        .await
        .unwrap();
}

#[tokio::test]
async fn an_output_upload_cut_off_half_way_leaves_nothing() {
    use pb::upload_task_output_request::Part;
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = claimed(&stack, &ada, &worker).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::UploadTaskOutputRequest {
        part: Some(Part::Metadata(pb::UploadTaskOutputMetadata {
            task_id: task.task_id.clone(),
            worker_id: "w".into(),
            filename: "half.bin".into(),
            mime_type: String::new(),
        })),
    })
    .await
    .unwrap();
    tx.send(pb::UploadTaskOutputRequest {
        part: Some(Part::Chunk(vec![7u8; 1 << 20].into())),
    })
    .await
    .unwrap();
    let mut client = stack.worker.clone();
    let call = tokio::spawn(async move {
        client
            .upload_task_output(authorized(
                &worker,
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ))
            .await
    });
    // The first chunk has reached the store: then the worker dies.
    let five = std::time::Duration::from_secs(5);
    assert!(crate::helpers::eventually(five, || async { !stack.stored("tmp").is_empty() }).await);
    call.abort();
    drop(tx);
    let cleaned =
        crate::helpers::eventually(five, || async { stack.stored("tmp").is_empty() }).await;
    assert!(cleaned, "the temporary object was left behind");
    assert_eq!(stack.count("SELECT count(*) FROM files").await, 0);
    assert!(
        stack
            .get_task(&ada.token, &task.task_id)
            .await
            .unwrap()
            .outputs
            .is_empty()
    );
}

#[tokio::test]
async fn forty_uploads_released_together_store_at_most_the_outputs_a_task_may_have() {
    use std::sync::Arc;
    let stack = Arc::new(spawn_stack().await);
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let task = claimed(&stack, &ada, &worker).await;
    let max = workspace_service::grpc::MAX_TASK_OUTPUTS;
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let uploads = (0..40).map(|i| {
        let (stack, barrier) = (stack.clone(), barrier.clone());
        let (worker, task_id) = (worker.clone(), task.task_id.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            stack
                .upload_output(
                    &worker,
                    "w",
                    &task_id,
                    &format!("part-{i}.md"),
                    vec![format!("part {i}").into_bytes()],
                )
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(uploads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stored = results.iter().filter(|r| r.is_ok()).count() as i64;
    assert_eq!(stored, max);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    }
    assert_eq!(stack.count("SELECT count(*) FROM task_outputs").await, max);
    // The refused uploads left no file behind.
    assert_eq!(stack.count("SELECT count(*) FROM files").await, max);
    let listed = stack.get_task(&ada.token, &task.task_id).await.unwrap();
    assert_eq!(listed.outputs.len() as i64, max);
}
