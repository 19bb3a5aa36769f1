//! An auth-service and a workspace-service per test, and typed helpers.

use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::workspace::v1::{
    self as pb, conversation_service_client::ConversationServiceClient,
    file_service_client::FileServiceClient, task_service_client::TaskServiceClient,
    worker_service_client::WorkerServiceClient,
};
use service_runtime::clock::Clock;
use tonic::transport::Channel;
use uuid::Uuid;

/// Both services, running (started through `testkit`).
pub struct TestStack {
    pub auth_url: String,
    pub addr: std::net::SocketAddr,
    /// The workspace-service's admin endpoint (`/metrics`).
    pub metrics_addr: std::net::SocketAddr,
    /// The auth-service's admin endpoint.
    pub auth_metrics_addr: std::net::SocketAddr,
    pub workspace_database_url: String,
    pub auth: AuthServiceClient<Channel>,
    pub auth_state: auth_service::AppState,
    pub conversations: ConversationServiceClient<Channel>,
    pub tasks: TaskServiceClient<Channel>,
    pub worker: WorkerServiceClient<Channel>,
    pub state: workspace_service::AppState,
    pub clock: Clock,
    pub files: FileServiceClient<Channel>,
    pub storage_dir: std::path::PathBuf,
    /// Stops the services when dropped.
    pub stack: testkit::Stack,
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .expect("the service accepts connections")
}

pub async fn spawn_stack() -> TestStack {
    spawn_stack_with(|_| {}).await
}

/// A stack whose workspace-service configuration `adjust` changes; the
/// workspace-service runs on a clock the test moves.
pub async fn spawn_stack_with(
    adjust: impl FnOnce(&mut workspace_service::Config) + Send + 'static,
) -> TestStack {
    let clock = Clock::manual(chrono::Utc::now());
    let stack = testkit::Stack::builder()
        .workspace(adjust)
        .workspace_clock(clock.clone())
        .start()
        .await
        .expect("the stack starts and becomes ready");
    let workspace = stack.workspace();
    let channel_to_workspace = channel(&workspace.url).await;
    TestStack {
        auth_url: stack.auth.url.clone(),
        addr: workspace.addr,
        metrics_addr: workspace.metrics_addr,
        auth_metrics_addr: stack.auth.metrics_addr,
        workspace_database_url: workspace.database.url.clone(),
        auth: AuthServiceClient::new(channel(&stack.auth.url).await),
        auth_state: stack.auth.state.clone(),
        conversations: ConversationServiceClient::new(channel_to_workspace.clone()),
        tasks: TaskServiceClient::new(channel_to_workspace.clone()),
        files: FileServiceClient::new(channel_to_workspace.clone()),
        // Empty with S3 storage.
        storage_dir: workspace.storage_dir.clone().unwrap_or_default(),
        worker: WorkerServiceClient::new(channel_to_workspace),
        state: workspace.state.clone(),
        clock,
        stack,
    }
}

/// A signed-in user.
pub struct User {
    pub id: Uuid,
    pub token: String,
}

impl TestStack {
    pub async fn user(&self, email: &str) -> User {
        let user = self.stack.user(email).await;
        User {
            id: user.id,
            token: user.token,
        }
    }

    pub async fn create_conversation(
        &self,
        token: &str,
        title: &str,
        file_ids: &[Uuid],
    ) -> Result<pb::Conversation, tonic::Status> {
        let request = authorized(
            token,
            pb::CreateConversationRequest {
                title: title.into(),
                file_ids: file_ids.iter().map(Uuid::to_string).collect(),
            },
        );
        self.conversations
            .clone()
            .create_conversation(request)
            .await
            .map(|r| r.into_inner().conversation.unwrap())
    }

    pub async fn list_conversations(
        &self,
        token: &str,
        request: pb::ListConversationsRequest,
    ) -> Result<pb::ListConversationsResponse, tonic::Status> {
        self.conversations
            .clone()
            .list_conversations(authorized(token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    /// A superuser, signed in.
    pub async fn superuser(&self, email: &str) -> User {
        let user = self.stack.superuser(email).await;
        User {
            id: user.id,
            token: user.token,
        }
    }

    /// A service-account token with `scopes`.
    pub async fn service_token(&self, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let (id, secret) = auth_service::admin::create_service_account(
            &self.auth_state.pool,
            &format!("worker-{}", Uuid::new_v4()),
            &scopes,
        )
        .await
        .unwrap();
        self.auth
            .clone()
            .issue_service_token(proto::auth::v1::IssueServiceTokenRequest {
                client_id: id.to_string(),
                client_secret: secret,
            })
            .await
            .unwrap()
            .into_inner()
            .access_token
    }

    pub async fn create_task(&self, token: &str, query: &str, file_ids: &[Uuid]) -> pb::Task {
        self.tasks
            .clone()
            .create_task(authorized(
                token,
                pb::CreateTaskRequest {
                    query: query.into(),
                    file_ids: file_ids.iter().map(Uuid::to_string).collect(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .task
            .unwrap()
    }

    pub async fn get_task(&self, token: &str, task_id: &str) -> Result<pb::Task, tonic::Status> {
        self.tasks
            .clone()
            .get_task(authorized(
                token,
                pb::GetTaskRequest {
                    task_id: task_id.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().task.unwrap())
    }

    /// Claims a task as `worker` (an empty response when none is pending).
    pub async fn claim(
        &self,
        token: &str,
        worker: &str,
    ) -> Result<pb::ClaimTaskResponse, tonic::Status> {
        self.worker
            .clone()
            .claim_task(authorized(
                token,
                pb::ClaimTaskRequest {
                    worker_id: worker.into(),
                    lease_seconds: 0,
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn complete(
        &self,
        token: &str,
        worker: &str,
        task_id: &str,
        result: serde_json::Value,
    ) -> Result<pb::Task, tonic::Status> {
        self.worker
            .clone()
            .complete_task(authorized(
                token,
                pb::CompleteTaskRequest {
                    task_id: task_id.into(),
                    worker_id: worker.into(),
                    analysis: "done".into(),
                    operations: None,
                    result: Some(json_value(&result)),
                    output_file_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner().task.unwrap())
    }

    /// Creates a task from a whole request.
    pub async fn create(
        &self,
        token: &str,
        request: pb::CreateTaskRequest,
    ) -> Result<pb::Task, tonic::Status> {
        self.tasks
            .clone()
            .create_task(authorized(token, request))
            .await
            .map(|r| r.into_inner().task.unwrap())
    }

    /// Claims a task of `kinds` as `worker`.
    pub async fn claim_kinds(
        &self,
        token: &str,
        worker: &str,
        kinds: &[&str],
    ) -> Result<pb::ClaimTaskResponse, tonic::Status> {
        self.worker
            .clone()
            .claim_task(authorized(
                token,
                pb::ClaimTaskRequest {
                    worker_id: worker.into(),
                    kinds: kinds.iter().map(|k| k.to_string()).collect(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// A heartbeat of `worker` on `task_id`, with `progress` if given.
    pub async fn heartbeat(
        &self,
        token: &str,
        worker: &str,
        task_id: &str,
        progress: Option<pb::TaskProgress>,
    ) -> Result<pb::HeartbeatTaskResponse, tonic::Status> {
        self.worker
            .clone()
            .heartbeat_task(authorized(
                token,
                pb::HeartbeatTaskRequest {
                    task_id: task_id.into(),
                    worker_id: worker.into(),
                    lease_seconds: 0,
                    progress,
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Fails `task_id` as `worker`.
    pub async fn fail(
        &self,
        token: &str,
        worker: &str,
        task_id: &str,
        retryable: bool,
    ) -> Result<pb::Task, tonic::Status> {
        self.worker
            .clone()
            .fail_task(authorized(
                token,
                pb::FailTaskRequest {
                    task_id: task_id.into(),
                    worker_id: worker.into(),
                    error_message: "boom".into(),
                    retryable,
                },
            ))
            .await
            .map(|r| r.into_inner().task.unwrap())
    }

    /// Cancels the owner's task.
    pub async fn cancel(&self, token: &str, task_id: &str) -> Result<pb::Task, tonic::Status> {
        self.tasks
            .clone()
            .cancel_task(authorized(
                token,
                pb::CancelTaskRequest {
                    task_id: task_id.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().task.unwrap())
    }

    /// Uploads `chunks` as an output of `task_id` by `worker`.
    pub async fn upload_output(
        &self,
        token: &str,
        worker: &str,
        task_id: &str,
        filename: &str,
        chunks: Vec<Vec<u8>>,
    ) -> Result<pb::TaskFile, tonic::Status> {
        use pb::upload_task_output_request::Part;
        let mut messages = vec![pb::UploadTaskOutputRequest {
            part: Some(Part::Metadata(pb::UploadTaskOutputMetadata {
                task_id: task_id.into(),
                worker_id: worker.into(),
                filename: filename.into(),
                mime_type: "text/markdown".into(),
            })),
        }];
        messages.extend(chunks.into_iter().map(|c| pb::UploadTaskOutputRequest {
            part: Some(Part::Chunk(c.into())),
        }));
        self.worker
            .clone()
            .upload_task_output(authorized(token, tokio_stream::iter(messages)))
            .await
            .map(|r| r.into_inner().output.unwrap())
    }

    /// Uploads `chunks` as `filename`.
    pub async fn upload(
        &self,
        token: &str,
        filename: &str,
        chunks: Vec<Vec<u8>>,
    ) -> Result<pb::File, tonic::Status> {
        use pb::upload_file_request::Part;
        let mut messages = vec![pb::UploadFileRequest {
            part: Some(Part::Metadata(pb::UploadFileMetadata {
                filename: filename.into(),
                mime_type: "text/csv".into(),
                ..Default::default()
            })),
        }];
        messages.extend(chunks.into_iter().map(|c| pb::UploadFileRequest {
            part: Some(Part::Chunk(c.into())),
        }));
        self.files
            .clone()
            .upload_file(authorized(token, tokio_stream::iter(messages)))
            .await
            .map(|r| r.into_inner().file.unwrap())
    }

    /// Downloads a file: its metadata and its bytes.
    pub async fn download(
        &self,
        token: &str,
        file_id: &str,
    ) -> Result<(pb::File, Vec<u8>), tonic::Status> {
        use pb::download_file_response::Part;
        let mut stream = self
            .files
            .clone()
            .download_file(authorized(
                token,
                pb::DownloadFileRequest {
                    file_id: file_id.into(),
                },
            ))
            .await?
            .into_inner();
        let Some(pb::DownloadFileResponse {
            part: Some(Part::File(file)),
        }) = stream.message().await?
        else {
            panic!("the first message is the metadata");
        };
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await? {
            match message.part {
                Some(Part::Chunk(chunk)) => {
                    assert!(chunk.len() <= 1 << 20);
                    bytes.extend_from_slice(&chunk);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        Ok((file, bytes))
    }

    /// The files under the storage directory's `prefix` (`tmp` or `blobs`).
    pub fn stored(&self, prefix: &str) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.storage_dir.join(prefix), &mut out);
        out
    }

    /// Runs `sql` returning one bigint on the workspace database.
    pub async fn count(&self, sql: &str) -> i64 {
        self.stack.workspace().database.count(sql).await
    }

    /// A file row of `user_id`, written directly (uploads are another RPC).
    pub async fn insert_file(&self, user_id: Uuid) -> Uuid {
        let id = Uuid::new_v4();
        self.stack
            .workspace()
            .database
            .client()
            .await
            .execute(
                "INSERT INTO files (id, user_id, filename, mime_type, size_bytes, md5, sha256) \
                 VALUES ($1::text::uuid, $2::text::uuid, 'data.csv', 'text/csv', 3, 'md5', 'sha')",
                &[&id.to_string(), &user_id.to_string()],
            )
            .await
            .unwrap();
        id
    }
}

pub use testkit::authorized;

/// A JSON value as a protobuf `Value`.
pub fn json_value(json: &serde_json::Value) -> prost_types::Value {
    workspace_service::grpc::convert::json_to_value(json)
}

pub use testkit::eventually;
