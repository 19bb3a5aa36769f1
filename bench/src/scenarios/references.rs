//! The references the figures are divided by, measured in the same run:
//! PostgreSQL's own select-only throughput, `wrk`, one bcrypt hash, the
//! disk's write speed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bench::stack::{PASSWORD, Stack};

/// `pgbench -S` (select-only) against the stack's PostgreSQL: transactions
/// per second, without the initial connection time.
pub async fn pgbench_select_only(
    stack: &Stack,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let pgbench = find_pgbench(&stack.pg_bin).context("pgbench not found (Debian: postgresql)")?;
    let port = stack.pg_port.to_string();
    let common = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
    let init = tokio::process::Command::new(&pgbench)
        .args(common)
        .args(["-i", "-q", "-s", "10", "pgbench"])
        .output()
        .await
        .context("running pgbench")?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(clients)
        .to_string();
    let run = tokio::process::Command::new(&pgbench)
        .args(common)
        .args([
            "-S",
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &threads,
            "-T",
            &duration.as_secs().max(1).to_string(),
            "pgbench",
        ])
        .output()
        .await?;
    let out = String::from_utf8_lossy(&run.stdout);
    anyhow::ensure!(
        run.status.success(),
        "pgbench -S: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    out.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|tps| tps.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench's output: {out}"))
}

/// `pgbench` beside the server binaries (following a symlink to their real
/// directory), in Debian's versioned directories, or on `PATH`.
fn find_pgbench(pg_bin: &std::path::Path) -> Option<PathBuf> {
    let mut candidates = vec![pg_bin.join("pgbench")];
    if let Ok(real) = std::fs::canonicalize(pg_bin.join("postgres"))
        && let Some(dir) = real.parent()
    {
        candidates.push(dir.join("pgbench"));
    }
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<PathBuf> = versions.flatten().map(|e| e.path()).collect();
        dirs.sort();
        candidates.extend(dirs.into_iter().rev().map(|d| d.join("bin/pgbench")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("pgbench")));
    }
    candidates.into_iter().find(|c| c.is_file())
}

/// `wrk` on `url` with `connections` connections: requests per second.
pub async fn wrk(
    url: &str,
    token: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(connections);
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{}s", duration.as_secs().max(1)),
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .output()
        .await
        .context("wrk is not installed (Debian: wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        !stdout.contains("Non-2xx"),
        "wrk saw non-2xx answers: {stdout}"
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rest| rest.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {stdout}"))
}

/// The time of one bcrypt hash at `cost` on one thread (the fastest of
/// three, on a blocking thread while nothing else runs).
pub async fn one_hash_time(cost: u32) -> Duration {
    tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                let _ = bcrypt::hash(PASSWORD, cost);
                started.elapsed()
            })
            .min()
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

/// Writes `size` bytes to `path` in 1 MiB pieces and syncs: MB/s (10^6).
pub async fn disk_write_mb_per_s(path: &std::path::Path, size: u64) -> anyhow::Result<f64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let piece = vec![0x5au8; 1 << 20];
        let started = std::time::Instant::now();
        let mut file = std::fs::File::create(&path)?;
        for _ in 0..size / piece.len() as u64 {
            file.write_all(&piece)?;
        }
        file.sync_all()?;
        let seconds = started.elapsed().as_secs_f64();
        std::fs::remove_file(&path)?;
        Ok(size as f64 / 1e6 / seconds)
    })
    .await?
}
