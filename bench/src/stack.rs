//! The system under test: a PostgreSQL cluster of its own (TCP, so that
//! `pgbench` measures the same server) and the release binaries of the three
//! processes, each on a free loopback port. Everything stops when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use postgres_kit::{ClusterOptions, Listen, LocalCluster};
use tokio::process::{Child, Command};

/// A running stack.
pub struct Stack {
    /// The gateway's base URL.
    pub gateway: String,
    /// The auth-service's gRPC URL.
    pub auth: String,
    /// The workspace-service's gRPC URL.
    pub workspace: String,
    /// PostgreSQL's port on 127.0.0.1 (user `postgres`, trust).
    pub pg_port: u16,
    /// The directory of `pgbench` and `postgres`.
    pub pg_bin: PathBuf,
    /// The bcrypt cost the auth-service runs with.
    pub bcrypt_cost: u32,
    /// How many hashes the auth-service computes at once.
    pub bcrypt_concurrency: usize,
    children: Vec<(&'static str, Child)>,
    cluster: Option<LocalCluster>,
    /// Data of the run (cluster, files, key); removed at the end.
    pub dir: tempfile::TempDir,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Stack {
    /// Starts PostgreSQL and the binaries found in `bin_dir`.
    pub async fn start(bin_dir: &Path) -> anyhow::Result<Self> {
        for name in ["auth-service", "workspace-service", "gateway"] {
            anyhow::ensure!(
                bin_dir.join(name).is_file(),
                "{} not found: build the release binaries first \
                 (cargo build --release -p auth-service -p workspace-service -p gateway)",
                bin_dir.join(name).display()
            );
        }
        let dir = tempfile::Builder::new().prefix("bench-").tempdir()?;
        // The server runs as the postgres user when we are root.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let pg_port = free_port()?;
        let options = ClusterOptions {
            data_dir: dir.path().join("pg"),
            listen: Listen::Tcp {
                host: "127.0.0.1".into(),
                port: pg_port,
            },
            // Durable, as in production: pgbench and the services share it.
            ephemeral: false,
            log_file: dir.path().join("postgres.log"),
        };
        let cluster = tokio::task::spawn_blocking(move || LocalCluster::start(options))
            .await?
            .context("starting PostgreSQL")?;
        let (admin, connection) =
            tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        // One statement each: CREATE DATABASE cannot share a transaction.
        for db in ["auth", "workspace", "pgbench"] {
            admin
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .await?;
        }
        let pg_bin = postgres_kit::cluster::find_bin_dir().context("PostgreSQL binaries")?;

        let bcrypt_cost = 12;
        let bcrypt_concurrency = std::thread::available_parallelism().map_or(2, usize::from);
        let (auth_port, workspace_port, gateway_port) = (free_port()?, free_port()?, free_port()?);
        let auth = format!("http://127.0.0.1:{auth_port}");
        let workspace = format!("http://127.0.0.1:{workspace_port}");
        let gateway = format!("http://127.0.0.1:{gateway_port}");
        let mut stack = Self {
            gateway,
            auth: auth.clone(),
            workspace: workspace.clone(),
            pg_port,
            pg_bin,
            bcrypt_cost,
            bcrypt_concurrency,
            children: Vec::new(),
            cluster: Some(cluster),
            dir,
        };
        let url = |db: &str| format!("postgresql://postgres@127.0.0.1:{pg_port}/{db}");
        let data = stack.dir.path().to_owned();
        stack.spawn(
            bin_dir,
            "auth-service",
            &[
                ("AUTH_LISTEN_ADDR", format!("127.0.0.1:{auth_port}")),
                ("AUTH_METRICS_ADDR", "127.0.0.1:0".into()),
                ("AUTH_DATABASE_URL", url("auth")),
                ("AUTH_DATABASE_POOL_SIZE", "16".into()),
                ("JWT_GENERATE_KEY", "true".into()),
                (
                    "JWT_SIGNING_KEY_PATH",
                    data.join("key.pem").display().to_string(),
                ),
                ("BCRYPT_COST", bcrypt_cost.to_string()),
                ("BCRYPT_CONCURRENCY", bcrypt_concurrency.to_string()),
                // A storm of logins from one address is the scenario.
                ("LOGIN_MAX_FAILURES_PER_IP", "100000".into()),
            ],
        )?;
        stack.spawn(
            bin_dir,
            "workspace-service",
            &[
                (
                    "WORKSPACE_LISTEN_ADDR",
                    format!("127.0.0.1:{workspace_port}"),
                ),
                ("WORKSPACE_METRICS_ADDR", "127.0.0.1:0".into()),
                ("WORKSPACE_DATABASE_URL", url("workspace")),
                ("WORKSPACE_DATABASE_POOL_SIZE", "16".into()),
                ("AUTH_SERVICE_URL", auth.clone()),
                ("STORAGE_DIR", data.join("files").display().to_string()),
                ("MAX_FILE_BYTES", (2u64 << 30).to_string()),
            ],
        )?;
        stack.spawn(
            bin_dir,
            "gateway",
            &[
                ("GATEWAY_LISTEN_ADDR", format!("127.0.0.1:{gateway_port}")),
                ("AUTH_SERVICE_URL", auth),
                ("WORKSPACE_SERVICE_URL", workspace),
                // The load comes from one address and one user.
                ("GATEWAY_RATE_LIMIT_PER_IP", "0".into()),
                ("GATEWAY_RATE_LIMIT_PER_USER", "0".into()),
                ("GATEWAY_MAX_CONCURRENT_REQUESTS", "100000".into()),
                ("GATEWAY_UPLOAD_LIMIT_BYTES", (2u64 << 30).to_string()),
                // 64 logins queued for 2 hashing threads wait longer than the
                // default 10 s deadline: the storm measures throughput.
                ("GATEWAY_UPSTREAM_TIMEOUT_MS", "120000".into()),
            ],
        )?;
        stack.wait_ready().await?;
        Ok(stack)
    }

    fn spawn(
        &mut self,
        bin_dir: &Path,
        name: &'static str,
        env: &[(&str, String)],
    ) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log")))?;
        let mut command = Command::new(bin_dir.join(name));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log))
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name, child));
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = http.get(format!("{}/readyz", self.gateway)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            for (name, child) in &mut self.children {
                if let Some(status) = child.try_wait()? {
                    let log = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
                        .unwrap_or_default();
                    anyhow::bail!("{name} exited at start ({status}):\n{log}");
                }
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < give_up,
                "the stack was not ready within 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process id of `name`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, child)| child.id())
    }

    /// A PostgreSQL URL of database `db`.
    pub fn database_url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.pg_port)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.start_kill();
        }
        if let Some(cluster) = self.cluster.take() {
            cluster.stop();
        }
    }
}

/// Peak resident set (`VmHWM`) and current (`VmRSS`) of process `pid`, KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}
