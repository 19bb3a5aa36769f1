//! The `excel.analyze` worker (see `workspace_service::excel_worker`).
//!
//! ```sh
//! WORKER_CLIENT_ID=... WORKER_CLIENT_SECRET=... cargo run -p workspace-service --bin excel-worker
//! ```
//!
//! Variables: `WORKER_CLIENT_ID`, `WORKER_CLIENT_SECRET` (from `auth-service
//! create-service-account --scope tasks.process`), `AUTH_SERVICE_URL`
//! (`http://127.0.0.1:50051`), `WORKSPACE_SERVICE_URL`
//! (`http://127.0.0.1:50052`), `WORKER_ID` (`excel-worker-<pid>`),
//! `WORKER_IDLE_MS` (1000: the pause when nothing is pending).

use std::process::ExitCode;
use std::time::Duration;

use service_runtime::env::Env;
use workspace_service::excel_worker::{Outcome, Worker, WorkerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_runtime::telemetry::init("excel-worker");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let env = Env::process();
    let config = WorkerConfig {
        auth_service_url: env.string("AUTH_SERVICE_URL", "http://127.0.0.1:50051"),
        workspace_service_url: env.string("WORKSPACE_SERVICE_URL", "http://127.0.0.1:50052"),
        client_id: env.required("WORKER_CLIENT_ID")?,
        client_secret: env.required("WORKER_CLIENT_SECRET")?,
        worker_id: env.string("WORKER_ID", &format!("excel-worker-{}", std::process::id())),
    };
    let idle = env.millis("WORKER_IDLE_MS", 1000, 10..=60_000)?;
    let mut worker = Worker::new(config)?;
    let shutdown = service_runtime::shutdown::signal();
    tokio::pin!(shutdown);
    tracing::info!(
        kind = workspace_service::excel_worker::KIND,
        "excel worker started"
    );
    loop {
        // A task in progress is finished before stopping.
        let outcome = worker.run_once().await;
        let pause = match outcome {
            Ok(Outcome::Idle) => idle,
            Ok(Outcome::Completed(task) | Outcome::Failed(task)) => {
                tracing::info!(task_id = %task.task_id, status = task.status, "task done");
                Duration::ZERO
            }
            Ok(Outcome::Cancelled { .. } | Outcome::LeaseLost { .. }) => Duration::ZERO,
            Err(e) => {
                tracing::warn!(error = %e, "worker loop error");
                idle
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(pause) => {}
        }
    }
}
