//! Real PostgreSQL for integration tests: one throw-away cluster per test
//! process, started on first use from the local server binaries, and a fresh
//! database per test, cloned from a template migrated once per process. Tests
//! therefore run in parallel without seeing each other's rows.
//!
//! The cluster lives in a temporary directory; it is stopped and removed when
//! the test process exits, and directories left by a killed run are swept at
//! the next start.

// `atexit` is an FFI call.
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel_migrations::EmbeddedMigrations;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::cluster::{ClusterOptions, Listen, LocalCluster};

const DIR_PREFIX: &str = "pgkit-test-";

struct TestCluster {
    cluster: LocalCluster,
    root: PathBuf,
}

static CLUSTER: OnceLock<Result<TestCluster, String>> = OnceLock::new();
static TEMPLATES: tokio::sync::Mutex<Option<HashSet<String>>> = tokio::sync::Mutex::const_new(None);

fn cluster() -> &'static LocalCluster {
    let started = CLUSTER.get_or_init(|| {
        sweep_stale_dirs();
        let root = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep();
        std::fs::write(root.join("owner.pid"), std::process::id().to_string())
            .map_err(|e| format!("cannot write owner.pid: {e}"))?;
        // The postgres user must be able to reach its data directory.
        let _ =
            std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let cluster = LocalCluster::start(ClusterOptions {
            data_dir: root.join("data"),
            listen: Listen::Socket,
            ephemeral: true,
            log_file: root.join("postgres.log"),
        })
        .map_err(|e| e.to_string())?;
        // SAFETY: registers a plain function; see `stop_at_exit`.
        unsafe {
            libc::atexit(stop_at_exit);
        }
        Ok(TestCluster { cluster, root })
    });
    match started {
        Ok(test_cluster) => &test_cluster.cluster,
        Err(e) => panic!("cannot start the test PostgreSQL cluster: {e}"),
    }
}

/// Runs when the test process exits: an immediate shutdown (the data is thrown
/// away), then the directory is removed.
extern "C" fn stop_at_exit() {
    let Some(Ok(test_cluster)) = CLUSTER.get() else {
        return;
    };
    let pid = Pid::from_raw(test_cluster.cluster.pid() as i32);
    let _ = kill(pid, Signal::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => break,
        }
    }
    let _ = std::fs::remove_dir_all(&test_cluster.root);
}

/// Removes the directories of earlier test processes that are gone.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let owner = std::fs::read_to_string(entry.path().join("owner.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok());
        let alive = owner.is_some_and(|pid| kill(Pid::from_raw(pid), None).is_ok());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A connection string for a new, empty database with `migrations` applied.
/// `template` names the migrated template to clone (one per service).
pub async fn fresh_database(template: &str, migrations: EmbeddedMigrations) -> String {
    let cluster = cluster();
    let template_db = format!("template_{template}");
    {
        let mut templates = TEMPLATES.lock().await;
        let created = templates.get_or_insert_with(HashSet::new);
        if !created.contains(&template_db) {
            execute(cluster, &format!("CREATE DATABASE \"{template_db}\"")).await;
            crate::run_migrations(
                &crate::DatabaseUrl::parse(&cluster.url(&template_db)).expect("a test URL"),
                migrations,
            )
            .await
            .unwrap_or_else(|e| panic!("migrating {template_db} failed: {e}"));
            created.insert(template_db.clone());
        }
    }
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    execute(
        cluster,
        &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template_db}\""),
    )
    .await;
    cluster.url(&name)
}

/// The data directory of the test cluster (to read its log when a test fails).
pub fn cluster_dir() -> &'static Path {
    cluster().data_dir()
}

async fn execute(cluster: &LocalCluster, sql: &str) {
    let (client, connection) =
        tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test cluster: {e}"));
    let driver = tokio::spawn(connection);
    // A template is briefly "being accessed by other users" while the
    // backend of a connection that just closed (the migration's) exits, or
    // another clone of it is being made: try again for a while.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.batch_execute(sql).await {
            Ok(()) => break,
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                let detail = e.as_db_error().map(|db| db.message().to_owned());
                panic!("`{sql}` failed: {e} {}", detail.unwrap_or_default())
            }
        }
    }
    drop(client);
    let _ = driver.await;
}
