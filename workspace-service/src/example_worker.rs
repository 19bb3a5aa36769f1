//! The example worker: claims tasks and completes them with a summary of
//! their files (name, size, MD5, line count for text). It shows the whole
//! worker protocol — client credentials, claim, heartbeats, reading the
//! task's files, complete or fail — and is what the dev stack runs to see a
//! task go from created to completed. `src/bin/example-worker.rs` runs it.

use std::time::{Duration, Instant};

use anyhow::Context;
use md5::{Digest, Md5};
use proto::auth::v1::{IssueServiceTokenRequest, auth_service_client::AuthServiceClient};
use proto::workspace::v1::{
    self as pb, read_task_file_response::Part, worker_service_client::WorkerServiceClient,
};
use tonic::transport::Channel;

/// Where the worker connects and who it is.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The auth-service, for the service token.
    pub auth_service_url: String,
    /// The workspace-service.
    pub workspace_service_url: String,
    /// The service account's id.
    pub client_id: String,
    /// The service account's secret.
    pub client_secret: String,
    /// The name the worker claims under.
    pub worker_id: String,
}

/// A connected worker.
pub struct Worker {
    config: WorkerConfig,
    auth: AuthServiceClient<Channel>,
    tasks: WorkerServiceClient<Channel>,
    token: Option<(String, Instant)>,
}

/// One file as the summary describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSummary {
    pub file_id: String,
    pub filename: String,
    pub size_bytes: u64,
    pub md5: String,
    /// Lines, for a file that is UTF-8 text.
    pub lines: Option<u64>,
}

impl Worker {
    /// Connects (lazily) to both services.
    pub fn new(config: WorkerConfig) -> anyhow::Result<Self> {
        let channel = |url: &str| -> anyhow::Result<Channel> {
            Ok(Channel::from_shared(url.to_owned())?.connect_lazy())
        };
        Ok(Self {
            auth: AuthServiceClient::new(
                channel(&config.auth_service_url).context("AUTH_SERVICE_URL")?,
            ),
            tasks: WorkerServiceClient::new(
                channel(&config.workspace_service_url).context("WORKSPACE_SERVICE_URL")?,
            ),
            config,
            token: None,
        })
    }

    /// A service token, fetched again 30 s before it expires.
    async fn token(&mut self) -> anyhow::Result<String> {
        if let Some((token, until)) = &self.token
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .auth
            .issue_service_token(IssueServiceTokenRequest {
                client_id: self.config.client_id.clone(),
                client_secret: self.config.client_secret.clone(),
            })
            .await
            .context("cannot get a service token")?
            .into_inner();
        let lifetime = Duration::from_secs(u64::try_from(response.expires_in).unwrap_or(60));
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(30));
        self.token = Some((response.access_token.clone(), until));
        Ok(response.access_token)
    }

    fn request<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {token}").parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// Claims one task and processes it; `None` when nothing was pending.
    pub async fn run_once(&mut self) -> anyhow::Result<Option<pb::Task>> {
        let token = self.token().await?;
        let claimed = self
            .tasks
            .claim_task(Self::request(
                &token,
                pb::ClaimTaskRequest {
                    worker_id: self.config.worker_id.clone(),
                    lease_seconds: 60,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        let Some(task) = claimed.task else {
            return Ok(None);
        };
        tracing::info!(task_id = %task.task_id, files = task.files.len(), "processing");
        match self.summarise(&token, &task).await {
            Ok(summaries) => {
                let total: u64 = summaries.iter().map(|s| s.size_bytes).sum();
                let analysis = summaries
                    .iter()
                    .map(|s| match s.lines {
                        Some(lines) => format!(
                            "{}: {} bytes, {lines} lines, MD5 {}",
                            s.filename, s.size_bytes, s.md5
                        ),
                        None => format!("{}: {} bytes, MD5 {}", s.filename, s.size_bytes, s.md5),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let result = serde_json::json!({
                    "files": summaries,
                    "variables": {"file_count": summaries.len(), "total_bytes": total},
                    "errors": [],
                });
                let done = self
                    .tasks
                    .complete_task(Self::request(
                        &token,
                        pb::CompleteTaskRequest {
                            task_id: task.task_id.clone(),
                            worker_id: self.config.worker_id.clone(),
                            analysis: if analysis.is_empty() {
                                "no files".into()
                            } else {
                                analysis
                            },
                            operations: None,
                            result: Some(crate::grpc::convert::json_to_value(&result)),
                            output_file_id: String::new(),
                        },
                    ))
                    .await?
                    .into_inner();
                Ok(done.task)
            }
            Err(e) => {
                tracing::warn!(task_id = %task.task_id, error = %e, "task failed");
                let failed = self
                    .tasks
                    .fail_task(Self::request(
                        &token,
                        pb::FailTaskRequest {
                            task_id: task.task_id.clone(),
                            worker_id: self.config.worker_id.clone(),
                            error_message: format!("{e:#}"),
                            retryable: true,
                        },
                    ))
                    .await?
                    .into_inner();
                Ok(failed.task)
            }
        }
    }

    async fn summarise(
        &mut self,
        token: &str,
        task: &pb::Task,
    ) -> anyhow::Result<Vec<FileSummary>> {
        let mut summaries = Vec::new();
        for file in &task.files {
            let mut stream = self
                .tasks
                .read_task_file(Self::request(
                    token,
                    pb::ReadTaskFileRequest {
                        task_id: task.task_id.clone(),
                        worker_id: self.config.worker_id.clone(),
                        file_id: file.file_id.clone(),
                    },
                ))
                .await?
                .into_inner();
            let mut md5 = Md5::new();
            let (mut size, mut newlines, mut text, mut last) = (0u64, 0u64, true, b'\n');
            // UTF-8 is checked per chunk; a character split across chunks is
            // carried over.
            let mut carry: Vec<u8> = Vec::new();
            while let Some(message) = stream.message().await? {
                let Some(Part::Chunk(chunk)) = message.part else {
                    continue;
                };
                md5.update(&chunk);
                size += chunk.len() as u64;
                newlines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                if let Some(b) = chunk.last() {
                    last = *b;
                }
                if text {
                    carry.extend_from_slice(&chunk);
                    match std::str::from_utf8(&carry) {
                        Ok(_) => carry.clear(),
                        Err(e) if e.error_len().is_none() => {
                            carry.drain(..e.valid_up_to());
                        }
                        Err(_) => text = false,
                    }
                }
            }
            let md5 = hex::encode(md5.finalize());
            anyhow::ensure!(
                md5 == file.md5,
                "{}: the content does not match its MD5",
                file.filename
            );
            let lines =
                (text && carry.is_empty()).then(|| newlines + u64::from(size > 0 && last != b'\n'));
            summaries.push(FileSummary {
                file_id: file.file_id.clone(),
                filename: file.filename.clone(),
                size_bytes: size,
                md5,
                lines,
            });
        }
        Ok(summaries)
    }
}
