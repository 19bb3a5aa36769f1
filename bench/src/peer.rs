//! The peer outside the project that the `GET /v1/auth/me` row is compared
//! with: `bench/peer/me.py`, the same endpoint as a FastAPI service (PyJWT
//! verifies the token, asyncpg reads the user), under uvicorn with one
//! worker per core, against the stack's auth database and published key.
//!
//! Its Python packages live in a virtualenv made by `bench/peer/install`
//! (default `/opt/bench-peer`); without one the row says how to make it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::stack::Stack;

/// A running peer; stopped (with its workers) when dropped.
#[derive(Debug)]
pub struct Peer {
    /// Its base URL.
    pub url: String,
    child: Child,
}

/// The directory of `me.py`.
fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

impl Peer {
    /// Starts the peer from the virtualenv `venv`, and waits until it answers.
    pub async fn start(venv: &Path, stack: &Stack) -> anyhow::Result<Self> {
        let uvicorn = venv.join("bin/uvicorn");
        anyhow::ensure!(
            uvicorn.is_file(),
            "{} not found: make it with `bench/peer/install {}`",
            uvicorn.display(),
            venv.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let log = std::fs::File::create(stack.dir.path().join("peer.log"))?;
        let mut command = Command::new(&uvicorn);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PEER_DATABASE_URL", stack.database_url("auth"))
            .env(
                "PEER_JWKS_URL",
                format!("{}/.well-known/jwks.json", stack.gateway),
            )
            .args(["me:app", "--app-dir"])
            .arg(app_dir())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--workers", &workers.to_string()])
            .args(["--no-access-log", "--log-level", "warning"])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            // Its own process group, so that the workers stop with it.
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn().context("starting uvicorn")?;
        let mut peer = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        peer.wait_ready(stack).await?;
        Ok(peer)
    }

    /// Ready when `me` without a token is refused: the app is up, its
    /// lifespan (keys, pool) done.
    async fn wait_ready(&mut self, stack: &Stack) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(format!("{}/v1/auth/me", self.url)).send().await
                && response.status() == reqwest::StatusCode::UNAUTHORIZED
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log =
                    std::fs::read_to_string(stack.dir.path().join("peer.log")).unwrap_or_default();
                anyhow::bail!("the peer exited at start ({status}):\n{log}");
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < give_up,
                "the peer was not ready within a minute"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // uvicorn's supervisor and workers share the group it leads.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}
