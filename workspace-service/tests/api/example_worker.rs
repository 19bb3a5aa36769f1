use proto::workspace::v1 as pb;
use workspace_service::example_worker::{Worker, WorkerConfig};

use crate::helpers::spawn_stack;

#[tokio::test]
async fn the_example_worker_completes_a_task_with_a_summary_of_its_files() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let text = stack
        .upload(&ada.token, "数据.csv", vec![b"a,b\n1,2\n3,4\n".to_vec()])
        .await
        .unwrap();
    let binary = stack
        .upload(&ada.token, "blob.bin", vec![vec![0xff, 0xfe, 0x00]])
        .await
        .unwrap();
    let ids = [
        text.file_id.parse().unwrap(),
        binary.file_id.parse().unwrap(),
    ];
    let task = stack.create_task(&ada.token, "summarise", &ids).await;

    let (client_id, client_secret) = auth_service::admin::create_service_account(
        &stack.auth_state.pool,
        "example-worker",
        &["tasks.process".into()],
    )
    .await
    .unwrap();
    let mut worker = Worker::new(WorkerConfig {
        auth_service_url: stack.auth_url.clone(),
        workspace_service_url: format!("http://{}", stack.addr),
        client_id: client_id.to_string(),
        client_secret,
        worker_id: "example".into(),
    })
    .unwrap();
    let done = worker.run_once().await.unwrap().unwrap();
    assert_eq!(done.task_id, task.task_id);
    assert_eq!(done.status(), pb::TaskStatus::Completed);
    assert!(
        done.analysis.contains("数据.csv: 12 bytes, 3 lines"),
        "{}",
        done.analysis
    );
    assert!(
        done.analysis.contains("blob.bin: 3 bytes, MD5"),
        "{}",
        done.analysis
    );
    let result = workspace_service::grpc::convert::value_to_json(done.result.as_ref().unwrap());
    assert_eq!(result["variables"]["file_count"], 2.0);
    assert!(
        worker.run_once().await.unwrap().is_none(),
        "nothing else is pending"
    );
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
