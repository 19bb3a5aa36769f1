//! Stopping: the signal that stops a process (SIGTERM from Kubernetes or
//! systemd, or Ctrl-C), and the helpers that let long-lived work end when
//! a service starts draining.

use std::future::Future;

use tokio::sync::watch;

/// Completes when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Completes when `draining` becomes true (or its sender is gone).
pub async fn drained(mut draining: watch::Receiver<bool>) {
    let _ = draining.wait_for(|d| *d).await;
}

/// What a background job does when the service starts draining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDrain {
    /// Stop at once.
    Stop,
    /// Run once more, then stop (work held in memory is written).
    RunOnceMore,
}

/// Runs `job` with a clone of `state` every `interval` (a late run delays
/// the next, never bunches them) until `draining` becomes true. A
/// service's reapers, sweepers and flushers are such jobs.
pub fn spawn_every<S, F, Fut>(
    draining: watch::Receiver<bool>,
    state: S,
    interval: std::time::Duration,
    on_drain: OnDrain,
    job: F,
) where
    S: Clone + Send + 'static,
    F: Fn(S) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let drained = drained(draining);
        tokio::pin!(drained);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let draining = tokio::select! {
                _ = ticker.tick() => false,
                () = &mut drained => true,
            };
            if draining && on_drain == OnDrain::Stop {
                return;
            }
            job(state.clone()).await;
            if draining {
                return;
            }
        }
    });
}
