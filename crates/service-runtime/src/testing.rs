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

/// An external program a test needs: the path in the environment variable
/// `env` if set, else the first of `names` found on `PATH` or in
/// `/opt/test-tools/bin` (where `.ci/run` installs the Python tools).
/// Panics with `install` (how to get it) when there is none.
pub fn tool(env: &str, names: &[&str], install: &str) -> std::path::PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return path.into();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([std::path::PathBuf::from("/opt/test-tools/bin")])
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{} is not installed: {install}", names.join(" or ")))
}
