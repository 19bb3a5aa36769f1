//! The example worker (see `workspace_service::example_worker`).
//!
//! ```sh
//! WORKER_CLIENT_ID=... WORKER_CLIENT_SECRET=... cargo run -p workspace-service --bin example-worker
//! ```
//!
//! Variables: `WORKER_CLIENT_ID`, `WORKER_CLIENT_SECRET` (from `auth-service
//! create-service-account --scope tasks.process`), `AUTH_SERVICE_URL`
//! (`http://127.0.0.1:50051`), `WORKSPACE_SERVICE_URL`
//! (`http://127.0.0.1:50052`), `WORKER_ID` (`example-worker-<pid>`),
//! `WORKER_IDLE_MS` (1000: the pause when nothing is pending).

use std::process::ExitCode;
use std::time::Duration;

use service_runtime::env::Env;
use workspace_service::example_worker::{Worker, WorkerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_runtime::telemetry::init("example-worker");
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
        worker_id: env.string(
            "WORKER_ID",
            &format!("example-worker-{}", std::process::id()),
        ),
    };
    let idle = env.millis("WORKER_IDLE_MS", 1000, 10..=60_000)?;
    let mut worker = Worker::new(config)?;
    let shutdown = service_runtime::shutdown::signal();
    tokio::pin!(shutdown);
    tracing::info!("example worker started");
    loop {
        // A task in progress is finished before stopping.
        let outcome = worker.run_once().await;
        let pause = match outcome {
            Ok(Some(task)) => {
                tracing::info!(task_id = %task.task_id, status = task.status, "task done");
                Duration::ZERO
            }
            Ok(None) => idle,
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
