//! One service running in a task of its own: the signal that stops it, the
//! task to wait for, and the wait for it to become ready.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How long a service may take to become ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

/// A service's `run_until` in a task, and the sender of its stop signal.
#[derive(Debug)]
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Runs `run(stopped)` in a task; `stopped` completes when [`stop`]
    /// is called or this handle is dropped (a graceful stop: long-lived
    /// streams end, calls in flight finish).
    ///
    /// [`stop`]: Running::stop
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = Box::pin(async move {
            let _ = stopped.await;
        });
        Self {
            stop: Some(stop),
            task: Some(tokio::spawn(run(stopped))),
        }
    }

    /// Asks the service to stop, without waiting for it.
    pub fn signal_stop(&mut self) {
        self.stop.take();
    }

    /// Stops the service and waits until it has; how it ended.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.stop.take();
        self.finished().await
    }

    /// Waits until the service ends (by itself, or after [`Running::stop`]);
    /// how it ended. Pending for ever once it has been waited for.
    pub async fn finished(&mut self) -> anyhow::Result<()> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = task.await;
        self.task = None;
        match ended {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("the service panicked: {e}")),
        }
    }
}

/// Waits until the gRPC server at `addr` reports the whole server ("")
/// SERVING, as a client or a Kubernetes probe would.
pub async fn grpc_ready(name: &str, addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_DEADLINE;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} did not become ready in {READY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Builds a service with `build` until it succeeds or `deadline` passes:
/// a service started again on its old address may find the port still
/// held for a moment by the server that just stopped.
pub async fn build_again<T, Fut>(
    mut build: impl FnMut() -> Fut,
    deadline: Duration,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        match build().await {
            Ok(built) => return Ok(built),
            Err(e) if Instant::now() > end => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
