//! The `excel.analyze` worker: claims tasks of that kind, reads their
//! spreadsheets (`.xlsx`, `.xls`, `.ods`, `.csv`, ...), reports progress per
//! sheet, writes a result workbook with a `Summary` sheet as the task's
//! output and completes the task with the analysis. It stops working on a
//! task as soon as a heartbeat says the owner cancelled it. It is the
//! reference for the whole worker protocol — client credentials, claim,
//! heartbeats with progress, reading files, uploading outputs, complete or
//! fail — and `src/bin/excel-worker.rs` runs it.

pub mod analyze;

use std::time::{Duration, Instant};

use anyhow::Context;
use proto::auth::v1::{IssueServiceTokenRequest, auth_service_client::AuthServiceClient};
use proto::workspace::v1::{
    self as pb, read_task_file_response::Part, upload_task_output_request,
    worker_service_client::WorkerServiceClient,
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

/// The kind of task this worker takes.
pub const KIND: &str = "excel.analyze";

/// The largest input the worker reads (it holds one file in memory).
pub const MAX_INPUT_BYTES: i64 = 256 << 20;

/// How long a lease the worker asks for; every sheet's heartbeat renews it.
const LEASE_SECONDS: i32 = 120;

/// What became of one claim.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Nothing of the worker's kind was pending.
    Idle,
    /// The task completed (with its output).
    Completed(pb::Task),
    /// The task failed (its error recorded; retried if it may succeed later).
    Failed(pb::Task),
    /// The owner cancelled it while it ran: the worker stopped.
    Cancelled { task_id: String },
    /// The lease was lost (it ran out and another worker took the task).
    LeaseLost { task_id: String },
}

/// Why processing stopped before a result.
#[derive(Debug)]
enum Stop {
    Cancelled,
    LeaseLost,
    /// The input cannot be processed: failing again would not help.
    BadInput(String),
    /// Something that may work on another attempt.
    Transient(anyhow::Error),
}

impl From<tonic::Status> for Stop {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::FailedPrecondition if status.message().contains("cancelled") => {
                Stop::Cancelled
            }
            tonic::Code::FailedPrecondition => Stop::LeaseLost,
            tonic::Code::ResourceExhausted | tonic::Code::InvalidArgument => {
                Stop::BadInput(status.message().to_owned())
            }
            _ => Stop::Transient(status.into()),
        }
    }
}

/// A connected worker.
pub struct Worker {
    config: WorkerConfig,
    auth: AuthServiceClient<Channel>,
    tasks: WorkerServiceClient<Channel>,
    token: Option<(String, Instant)>,
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

    /// Claims one task and processes it.
    pub async fn run_once(&mut self) -> anyhow::Result<Outcome> {
        self.run_once_observed(|_| async {}).await
    }

    /// Like [`Self::run_once`], awaiting `after_progress` after each progress
    /// report is accepted (tests use it to follow the task's events).
    pub async fn run_once_observed<F, Fut>(
        &mut self,
        mut after_progress: F,
    ) -> anyhow::Result<Outcome>
    where
        F: FnMut(pb::TaskProgress) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let token = self.token().await?;
        let claimed = self
            .tasks
            .claim_task(Self::request(
                &token,
                pb::ClaimTaskRequest {
                    worker_id: self.config.worker_id.clone(),
                    lease_seconds: LEASE_SECONDS,
                    kinds: vec![KIND.to_owned()],
                },
            ))
            .await?
            .into_inner();
        let Some(task) = claimed.task else {
            return Ok(Outcome::Idle);
        };
        tracing::info!(task_id = %task.task_id, files = task.files.len(), "processing");
        let task_id = task.task_id.clone();
        match self.process(&token, &task, &mut after_progress).await {
            Ok(done) => Ok(Outcome::Completed(done)),
            Err(Stop::Cancelled) => {
                tracing::info!(%task_id, "cancelled by its owner: stopped");
                Ok(Outcome::Cancelled { task_id })
            }
            Err(Stop::LeaseLost) => {
                tracing::warn!(%task_id, "the lease was lost: stopped");
                Ok(Outcome::LeaseLost { task_id })
            }
            Err(Stop::BadInput(message)) => self.fail(&token, &task_id, message, false).await,
            Err(Stop::Transient(e)) => self.fail(&token, &task_id, format!("{e:#}"), true).await,
        }
    }

    async fn fail(
        &mut self,
        token: &str,
        task_id: &str,
        error_message: String,
        retryable: bool,
    ) -> anyhow::Result<Outcome> {
        tracing::warn!(%task_id, error = %error_message, retryable, "task failed");
        let failed = self
            .tasks
            .fail_task(Self::request(
                token,
                pb::FailTaskRequest {
                    task_id: task_id.to_owned(),
                    worker_id: self.config.worker_id.clone(),
                    error_message,
                    retryable,
                },
            ))
            .await;
        match failed {
            Ok(response) => Ok(response.into_inner().task.map_or(
                Outcome::LeaseLost {
                    task_id: task_id.to_owned(),
                },
                Outcome::Failed,
            )),
            Err(status) => match Stop::from(status) {
                Stop::Cancelled => Ok(Outcome::Cancelled {
                    task_id: task_id.to_owned(),
                }),
                Stop::LeaseLost => Ok(Outcome::LeaseLost {
                    task_id: task_id.to_owned(),
                }),
                Stop::BadInput(m) => Err(anyhow::anyhow!(m)),
                Stop::Transient(e) => Err(e),
            },
        }
    }

    /// Reports `progress`, renewing the lease; stops once the owner cancelled.
    async fn report(
        &mut self,
        token: &str,
        task_id: &str,
        progress: pb::TaskProgress,
    ) -> Result<(), Stop> {
        let response = self
            .tasks
            .heartbeat_task(Self::request(
                token,
                pb::HeartbeatTaskRequest {
                    task_id: task_id.to_owned(),
                    worker_id: self.config.worker_id.clone(),
                    lease_seconds: LEASE_SECONDS,
                    progress: Some(progress),
                },
            ))
            .await?
            .into_inner();
        if response.cancel_requested {
            return Err(Stop::Cancelled);
        }
        Ok(())
    }

    async fn process<F, Fut>(
        &mut self,
        token: &str,
        task: &pb::Task,
        after_progress: &mut F,
    ) -> Result<pb::Task, Stop>
    where
        F: FnMut(pb::TaskProgress) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if task.files.is_empty() {
            return Err(Stop::BadInput(
                "no spreadsheet is attached to the task".into(),
            ));
        }
        // Every file's sheets first: the progress counts sheets.
        let mut inputs = Vec::new();
        for file in &task.files {
            if file.size_bytes > MAX_INPUT_BYTES {
                return Err(Stop::BadInput(format!(
                    "{}: larger than the {} MiB the worker reads",
                    file.filename,
                    MAX_INPUT_BYTES >> 20
                )));
            }
            let bytes = self.read(token, task, file).await?;
            let sheets = analyze::read_sheets(&file.filename, bytes)
                .map_err(|e| Stop::BadInput(e.to_string()))?;
            inputs.push((file.filename.clone(), sheets));
        }
        let total: usize = inputs.iter().map(|(_, sheets)| sheets.len()).sum();
        let mut summaries = Vec::new();
        let mut all_sheets = Vec::new();
        for (filename, sheets) in inputs {
            for sheet in sheets {
                let summary = analyze::summarise(&filename, &sheet);
                let progress = pb::TaskProgress {
                    // The last tenth is writing and storing the result.
                    fraction: 0.9 * (summaries.len() + 1) as f64 / total.max(1) as f64,
                    message: format!(
                        "analysed sheet {} of {total}: {} / {}",
                        summaries.len() + 1,
                        filename,
                        sheet.name
                    ),
                    partial: serde_json::to_value(&summary)
                        .ok()
                        .map(|v| crate::grpc::convert::json_to_value(&v)),
                    reported_at: None,
                };
                self.report(token, &task.task_id, progress.clone()).await?;
                after_progress(progress).await;
                summaries.push(summary);
                all_sheets.push(sheet);
            }
        }
        let workbook = analyze::write_result(&summaries, &all_sheets)
            .map_err(|e| Stop::Transient(anyhow::anyhow!("writing the result: {e}")))?;
        let name = result_name(&task.files[0].filename);
        let output = self.upload(token, &task.task_id, &name, workbook).await?;
        let result = serde_json::json!({
            "sheets": summaries,
            "variables": {"sheet_count": summaries.len()},
            "new_columns": [],
            "errors": [],
        });
        let done = self
            .tasks
            .complete_task(Self::request(
                token,
                pb::CompleteTaskRequest {
                    task_id: task.task_id.clone(),
                    worker_id: self.config.worker_id.clone(),
                    analysis: analyze::analysis(&summaries),
                    operations: None,
                    result: Some(crate::grpc::convert::json_to_value(&result)),
                    output_file_id: output.file_id,
                },
            ))
            .await?
            .into_inner();
        done.task
            .ok_or_else(|| Stop::Transient(anyhow::anyhow!("CompleteTask returned no task")))
    }

    /// Reads a file of the task whole, checking it against its SHA-256.
    async fn read(
        &mut self,
        token: &str,
        task: &pb::Task,
        file: &pb::TaskFile,
    ) -> Result<Vec<u8>, Stop> {
        use sha2::{Digest, Sha256};
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
        let mut bytes = Vec::new();
        while let Some(message) = stream.message().await? {
            if let Some(Part::Chunk(chunk)) = message.part {
                if bytes.len() + chunk.len() > MAX_INPUT_BYTES as usize {
                    return Err(Stop::BadInput(format!("{}: too large", file.filename)));
                }
                bytes.extend_from_slice(&chunk);
            }
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if sha256 != file.sha256 {
            return Err(Stop::Transient(anyhow::anyhow!(
                "{}: the content read does not match its SHA-256",
                file.filename
            )));
        }
        Ok(bytes)
    }

    /// Stores `bytes` as an output of the task, in chunks of 1 MiB.
    async fn upload(
        &mut self,
        token: &str,
        task_id: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<pb::TaskFile, Stop> {
        use upload_task_output_request::Part as Upload;
        let bytes = bytes::Bytes::from(bytes);
        let mut messages = vec![pb::UploadTaskOutputRequest {
            part: Some(Upload::Metadata(pb::UploadTaskOutputMetadata {
                task_id: task_id.to_owned(),
                worker_id: self.config.worker_id.clone(),
                filename: filename.to_owned(),
                mime_type: analyze::XLSX_MIME.to_owned(),
            })),
        }];
        let mut offset = 0;
        while offset < bytes.len() {
            let end = (offset + (1 << 20)).min(bytes.len());
            messages.push(pb::UploadTaskOutputRequest {
                part: Some(Upload::Chunk(bytes.slice(offset..end))),
            });
            offset = end;
        }
        let response = self
            .tasks
            .upload_task_output(Self::request(token, tokio_stream::iter(messages)))
            .await?
            .into_inner();
        response
            .output
            .ok_or_else(|| Stop::Transient(anyhow::anyhow!("UploadTaskOutput returned no file")))
    }
}

/// The result's name: the first input's stem with `-analysis.xlsx`.
fn result_name(input: &str) -> String {
    let stem = input.rsplit_once('.').map_or(input, |(stem, _)| stem);
    let stem: String = stem.chars().take(200).collect();
    format!("{stem}-analysis.xlsx")
}
