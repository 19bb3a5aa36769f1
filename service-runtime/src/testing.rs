//! Helpers for tests across the workspace.

use std::future::Future;
use std::time::Duration;

/// Waits until `check` holds, polling every 10 ms, for at most `deadline`;
/// whether it held. For conditions reached asynchronously (a revocation
/// arriving, a cleanup finishing): a deadline, never a fixed sleep.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
