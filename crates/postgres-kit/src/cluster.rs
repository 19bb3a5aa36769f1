//! A PostgreSQL cluster run from the local server binaries (`initdb`, `postgres`),
//! for the dev stack and the tests.
//!
//! PostgreSQL refuses to run as root, and CI and containers run as root: then the
//! cluster runs as the unprivileged `postgres` system user, which owns its data
//! directory. The server is started from a thread that lives as long as the
//! [`LocalCluster`] and asks the kernel to stop the server if that thread dies
//! (`PR_SET_PDEATHSIG`), so a crashed or killed parent never leaves a server behind.

// `pre_exec` (to set the parent-death signal in the child) is unsafe.
#![allow(unsafe_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};

/// How long the server may take to accept connections after it starts.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before it is made immediate.
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// How often readiness and exit are checked while waiting on them.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Where the server listens.
#[derive(Debug, Clone)]
pub enum Listen {
    /// Only a Unix socket in the data directory: no port to collide with
    /// (the tests).
    Socket,
    /// TCP on this address and port, no Unix socket (the dev stack).
    Tcp {
        /// The address, e.g. `127.0.0.1`.
        host: String,
        /// The port.
        port: u16,
    },
}

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The data directory: created with `initdb` when it holds no cluster,
    /// reused otherwise.
    pub data_dir: PathBuf,
    /// Where the server listens.
    pub listen: Listen,
    /// Trade durability for speed (no fsync): for throw-away test clusters only.
    pub ephemeral: bool,
    /// Where the server writes its log.
    pub log_file: PathBuf,
}

/// Why the cluster could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The server binaries are not installed.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found in PG_BIN_DIR, PATH or the usual \
         install locations. Install them (Debian/Ubuntu: `apt-get install postgresql`; macOS: \
         `brew install postgresql@16`), or set PG_BIN_DIR to the directory holding them, or set \
         the database URLs to use an existing PostgreSQL"
    )]
    BinariesNotFound,
    /// Running as root, but there is no unprivileged user to run the server as.
    #[error(
        "running as root, and PostgreSQL refuses to run as root: no `postgres` system user to run \
         it as (Debian's `postgresql` package creates one)"
    )]
    NoUnprivilegedUser,
    /// A file-system or process error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `initdb` failed.
    #[error("initdb failed ({status}): {output}")]
    Initdb {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        output: String,
    },
    /// The server exited or did not become ready in time.
    #[error("PostgreSQL did not start: {reason}; last lines of {log}:\n{tail}")]
    Start {
        /// What happened.
        reason: String,
        /// The log file.
        log: String,
        /// Its last lines.
        tail: String,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// A running cluster. Dropping it stops the server (fast shutdown).
pub struct LocalCluster {
    options: ClusterOptions,
    pid: u32,
    stop_tx: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("data_dir", &self.options.data_dir)
            .field("pid", &self.pid)
            .finish()
    }
}

impl LocalCluster {
    /// Creates the cluster if its data directory holds none, starts the server
    /// and waits until it accepts connections. Blocking.
    pub fn start(options: ClusterOptions) -> Result<Self, ClusterError> {
        let bin_dir = find_bin_dir().ok_or(ClusterError::BinariesNotFound)?;
        let run_as = unprivileged_user()?;
        prepare_data_dir(&options.data_dir, run_as.as_ref())?;
        if !options.data_dir.join("PG_VERSION").exists() {
            initdb(&bin_dir, &options, run_as.as_ref())?;
        }

        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread_options = options.clone();
        // The server's parent-death signal is tied to the thread that starts
        // it, so that thread stays alive for as long as the cluster is in use.
        let keeper = std::thread::Builder::new()
            .name("postgres-keeper".into())
            .spawn(move || {
                let mut child = match spawn_server(&bin_dir, &thread_options, run_as.as_ref()) {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                match wait_until_ready(&mut child, &thread_options) {
                    Ok(()) => {
                        let _ = ready_tx.send(Ok(child.id()));
                    }
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                // Wait for a stop request, or for the cluster to be dropped.
                let _ = stop_rx.recv();
                shut_down(&mut child);
            })
            .map_err(io_error("cannot start the postgres keeper thread"))?;

        let pid = ready_rx.recv().map_err(|_| ClusterError::Start {
            reason: "the keeper thread ended".into(),
            log: options.log_file.display().to_string(),
            tail: String::new(),
        })??;
        Ok(Self {
            options,
            pid,
            stop_tx: Some(stop_tx),
            keeper: Some(keeper),
        })
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }

    /// A connection string for `dbname`, as the `postgres` superuser.
    pub fn url(&self, dbname: &str) -> String {
        match &self.options.listen {
            Listen::Socket => format!(
                "host={} port=5432 user=postgres dbname={dbname}",
                self.options.data_dir.display()
            ),
            Listen::Tcp { host, port } => format!("postgresql://postgres@{host}:{port}/{dbname}"),
        }
    }

    /// Stops the server (fast shutdown: sessions are ended, data is kept) and
    /// waits for it to exit.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The directory holding `initdb` and `postgres`: `PG_BIN_DIR`, then `PATH`,
/// then the usual install locations (newest version first).
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        return has_both(&dir).then_some(dir);
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    // Debian/Ubuntu keep the server binaries off PATH.
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versions.into_iter().map(|(_, dir)| dir));
    }
    for version in ["17", "16", "15", "14"] {
        candidates.push(format!("/opt/homebrew/opt/postgresql@{version}/bin").into());
        candidates.push(format!("/usr/local/opt/postgresql@{version}/bin").into());
    }
    candidates.push("/usr/local/pgsql/bin".into());
    candidates.into_iter().find(|dir| has_both(dir))
}

/// The user to run the server as: `None` (ourselves) unless we are root.
fn unprivileged_user() -> Result<Option<User>, ClusterError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(ClusterError::NoUnprivilegedUser),
    }
}

fn prepare_data_dir(dir: &Path, run_as: Option<&User>) -> Result<(), ClusterError> {
    fs::create_dir_all(dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
    if let Some(user) = run_as {
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid)).map_err(|e| ClusterError::Io {
            context: format!("cannot hand {} to the postgres user", dir.display()),
            source: e.into(),
        })?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(format!(
        "cannot set the mode of {}",
        dir.display()
    )))
}

fn as_user(command: &mut Command, run_as: Option<&User>) {
    if let Some(user) = run_as {
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        // The server's own HOME, not root's.
        command.env("HOME", &user.dir);
    }
}

fn initdb(
    bin_dir: &Path,
    options: &ClusterOptions,
    run_as: Option<&User>,
) -> Result<(), ClusterError> {
    let mut command = Command::new(bin_dir.join("initdb"));
    command
        .arg("--pgdata")
        .arg(&options.data_dir)
        .args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ])
        .arg("--no-instructions");
    if options.ephemeral {
        command.arg("--no-sync");
    }
    as_user(&mut command, run_as);
    let output = command.output().map_err(io_error("cannot run initdb"))?;
    if !output.status.success() {
        return Err(ClusterError::Initdb {
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(())
}

fn spawn_server(
    bin_dir: &Path,
    options: &ClusterOptions,
    run_as: Option<&User>,
) -> Result<Child, ClusterError> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(&options.log_file)
        .map_err(io_error(format!(
            "cannot open {}",
            options.log_file.display()
        )))?;
    let log_err = log
        .try_clone()
        .map_err(io_error("cannot duplicate the log file"))?;

    let mut command = Command::new(bin_dir.join("postgres"));
    command.arg("-D").arg(&options.data_dir);
    match &options.listen {
        Listen::Socket => {
            command
                .args(["-c", "listen_addresses="])
                .arg("-c")
                .arg(format!(
                    "unix_socket_directories={}",
                    options.data_dir.display()
                ));
        }
        Listen::Tcp { host, port } => {
            command
                .arg("-c")
                .arg(format!("listen_addresses={host}"))
                .arg("-c")
                .arg(format!("port={port}"))
                .args(["-c", "unix_socket_directories="]);
        }
    }
    if options.ephemeral {
        command.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ]);
    }
    command.stdin(Stdio::null()).stdout(log).stderr(log_err);
    as_user(&mut command, run_as);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    // It runs after the uid change (which would reset it), just before exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().map_err(io_error("cannot start postgres"))
}

/// Waits until `postmaster.pid` says the server is ready, or the server exits.
fn wait_until_ready(child: &mut Child, options: &ClusterOptions) -> Result<(), ClusterError> {
    let deadline = Instant::now() + START_DEADLINE;
    let pid_file = options.data_dir.join("postmaster.pid");
    let start_error = |reason: String| ClusterError::Start {
        reason,
        log: options.log_file.display().to_string(),
        tail: log_tail(&options.log_file),
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(start_error(format!("postgres exited with {status}")));
        }
        if server_is_ready(&pid_file, child.id()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(start_error(format!("not ready after {START_DEADLINE:?}")));
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Line 8 of `postmaster.pid` is the server's state; "ready" once it accepts
/// connections. Line 1 is its pid, which tells a stale file from ours.
fn server_is_ready(pid_file: &Path, pid: u32) -> bool {
    let Ok(file) = File::open(pid_file) else {
        return false;
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines.first().map(|l| l.trim()) == Some(pid.to_string().as_str())
        && lines.get(7).is_some_and(|l| l.trim() == "ready")
}

fn shut_down(child: &mut Child) {
    let pid = Pid::from_raw(child.id() as i32);
    for signal in [Signal::SIGINT, Signal::SIGQUIT] {
        let _ = kill(pid, signal);
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL_EVERY);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
