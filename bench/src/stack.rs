//! The system under test: a PostgreSQL cluster of its own (TCP, so that
//! `pgbench` measures the same server) and the release binaries of the three
//! processes, each on a free loopback port. Everything stops when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use postgres_kit::{ClusterOptions, Listen, LocalCluster};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The password of every user the harness makes.
pub const PASSWORD: &str = "correct horse battery";

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
    /// The environment each process was started with, to start it again.
    envs: Vec<(&'static str, Vec<(String, String)>)>,
    /// Settings added to the defaults, by process.
    extra_env: Vec<(&'static str, &'static str, String)>,
    bin_dir: PathBuf,
    cluster: Option<LocalCluster>,
    cluster_options: ClusterOptions,
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
        Self::start_with(bin_dir, Vec::new()).await
    }

    /// Starts PostgreSQL and the binaries found in `bin_dir`, each process
    /// with the settings of `extra_env` (process, variable, value) added.
    pub async fn start_with(
        bin_dir: &Path,
        extra_env: Vec<(&'static str, &'static str, String)>,
    ) -> anyhow::Result<Self> {
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
        let cluster_options = options.clone();
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
            envs: Vec::new(),
            extra_env,
            bin_dir: bin_dir.to_owned(),
            cluster: Some(cluster),
            cluster_options,
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
                // The queue benchmarks hold thousands of tasks for one user.
                ("MAX_TASKS_PER_USER", "0".into()),
                ("MAX_PENDING_TASKS_PER_USER", "0".into()),
                ("TASK_MAX_RUNNING_PER_USER", "0".into()),
                ("STORAGE_QUOTA_BYTES", "0".into()),
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
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        env.extend(
            self.extra_env
                .iter()
                .filter(|(process, ..)| *process == name)
                .map(|(_, k, v)| ((*k).to_owned(), v.clone())),
        );
        self.envs.retain(|(n, _)| *n != name);
        self.envs.push((name, env));
        self.launch(bin_dir.to_owned(), name)
    }

    fn launch(&mut self, bin_dir: PathBuf, name: &'static str) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))?;
        let mut command = Command::new(bin_dir.join(name));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log))
            .kill_on_drop(true);
        for (_, env) in self.envs.iter().filter(|(n, _)| *n == name) {
            for (key, value) in env {
                command.env(key, value);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.retain(|(n, _)| *n != name);
        self.children.push((name, child));
        Ok(())
    }

    /// Sends `signal` to process `name` and waits (up to `patience`) for it
    /// to exit; whether it did.
    pub async fn signal(
        &mut self,
        name: &str,
        signal: nix::sys::signal::Signal,
        patience: Duration,
    ) -> anyhow::Result<bool> {
        let (_, child) = self
            .children
            .iter_mut()
            .find(|(n, _)| *n == name)
            .with_context(|| format!("no process {name}"))?;
        let pid = child.id().context("already exited")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid)?), signal)?;
        Ok(tokio::time::timeout(patience, child.wait()).await.is_ok())
    }

    /// Starts process `name` again, as it was first started, and waits
    /// until the stack is ready.
    pub async fn restart(&mut self, name: &'static str) -> anyhow::Result<()> {
        self.launch(self.bin_dir.clone(), name)?;
        self.wait_ready().await
    }

    /// Kills PostgreSQL as a crash would (SIGQUIT: immediate shutdown, no
    /// checkpoint) and waits for it to exit.
    pub async fn kill_postgres(&mut self) -> anyhow::Result<()> {
        let cluster = self.cluster.take().context("PostgreSQL is not running")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(cluster.pid())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT)?;
        // Dropping the cluster waits for the server to exit (and reaps it).
        tokio::task::spawn_blocking(move || drop(cluster)).await?;
        Ok(())
    }

    /// Starts PostgreSQL again on the same data (crash recovery first).
    pub async fn start_postgres(&mut self) -> anyhow::Result<()> {
        let options = self.cluster_options.clone();
        let cluster = tokio::task::spawn_blocking(move || LocalCluster::start(options))
            .await?
            .context("starting PostgreSQL again")?;
        self.cluster = Some(cluster);
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

    /// Creates a service account with `scope` through the auth-service's
    /// own command: (client id, client secret).
    pub async fn create_service_account(
        &self,
        name: &str,
        scope: &str,
    ) -> anyhow::Result<(String, String)> {
        let output = Command::new(self.bin_dir.join("auth-service"))
            .env_clear()
            .env("AUTH_DATABASE_URL", self.database_url("auth"))
            .env("RUST_LOG", "warn")
            .args(["create-service-account", "--name", name, "--scope", scope])
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "create-service-account: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout)?;
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::to_owned)
                .with_context(|| format!("no {name} in the output"))
        };
        Ok((field("client_id=")?, field("client_secret=")?))
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

/// Signs `email` in (a new session); its access token.
pub async fn log_in(http: &reqwest::Client, gateway: &str, email: &str) -> anyhow::Result<String> {
    let login: Value = http
        .post(format!("{gateway}/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    login["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no token in {login}"))
}

/// The directory of the release binaries: `given`, or the one of the
/// running program.
pub fn bin_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir.to_owned()),
        None => Ok(std::env::current_exe()?
            .parent()
            .context("the binary's directory")?
            .to_owned()),
    }
}

/// Registers and signs in `email`: (access token, user id).
pub async fn sign_up(
    http: &reqwest::Client,
    gateway: &str,
    email: &str,
) -> anyhow::Result<(String, String)> {
    let credentials = json!({"email": email, "password": PASSWORD});
    let registered = http
        .post(format!("{gateway}/v1/auth/register"))
        .json(&credentials)
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "register: {}",
        registered.status()
    );
    let token = log_in(http, gateway, email).await?;
    let me: Value = http
        .get(format!("{gateway}/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let id = me["user"]["user_id"]
        .as_str()
        .with_context(|| format!("no user id in {me}"))?;
    Ok((token, id.to_owned()))
}

/// Creates a conversation titled `title` as `token`; its id.
pub async fn create_conversation(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
    title: &str,
) -> anyhow::Result<String> {
    let conversation: Value = http
        .post(format!("{gateway}/v1/conversations"))
        .bearer_auth(token)
        .json(&json!({ "title": title }))
        .send()
        .await?
        .json()
        .await?;
    conversation["conversation"]["conversation_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no conversation id in {conversation}"))
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

/// CPU time (user + system) each part of the system has used so far.
#[derive(Debug, Clone, Default)]
pub struct CpuTimes {
    /// (part, seconds) for the harness itself and the three services.
    pub parts: Vec<(&'static str, f64)>,
    /// PostgreSQL's processes (the postmaster and its children): pid, seconds.
    postgres: std::collections::HashMap<u32, f64>,
}

impl CpuTimes {
    /// Seconds used by `part` since `earlier`.
    /// `part` may be "postgres": its processes alive now, less what those
    /// alive before had used then (a backend that ended in between is lost).
    pub fn since(&self, earlier: &CpuTimes, part: &str) -> f64 {
        if part == "postgres" {
            return self
                .postgres
                .iter()
                .map(|(pid, now)| now - earlier.postgres.get(pid).copied().unwrap_or(0.0))
                .sum();
        }
        let of = |times: &CpuTimes| {
            times
                .parts
                .iter()
                .find(|(p, _)| *p == part)
                .map_or(0.0, |(_, s)| *s)
        };
        of(self) - of(earlier)
    }
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of `pid`, and its parent's pid.
fn cpu_of(pid: u32) -> Option<(f64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state, ppid, ..., utime (14th
    // field overall), stime (15th).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((ticks / TICKS_PER_SECOND, ppid))
}

impl Stack {
    /// The CPU time used so far by each part.
    pub fn cpu_times(&self) -> CpuTimes {
        let mut parts = vec![("harness", cpu_of(std::process::id()).map_or(0.0, |c| c.0))];
        for name in ["gateway", "auth-service", "workspace-service"] {
            let seconds = self.pid(name).and_then(cpu_of).map_or(0.0, |c| c.0);
            parts.push((name, seconds));
        }
        let postmaster = self.cluster.as_ref().map(LocalCluster::pid);
        let mut postgres = std::collections::HashMap::new();
        if let (Some(postmaster), Ok(entries)) = (postmaster, std::fs::read_dir("/proc")) {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some((seconds, ppid)) = cpu_of(pid)
                    && (pid == postmaster || ppid == postmaster)
                {
                    postgres.insert(pid, seconds);
                }
            }
        }
        parts.push(("postgres", 0.0));
        CpuTimes { parts, postgres }
    }
}
