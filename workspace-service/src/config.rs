//! The workspace-service's configuration, read once from the environment at start.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `WORKSPACE_LISTEN_ADDR` | `127.0.0.1:50052` | gRPC listen address |
//! | `WORKSPACE_METRICS_ADDR` | `127.0.0.1:9465` | admin HTTP address: `/metrics` (Prometheus) |
//! | `WORKSPACE_DRAIN_SECS` | `20` | after SIGTERM, how long calls in flight may take to finish |
//! | `WORKSPACE_CLOSE_LINGER_MS` | `1000` | after SIGTERM, how long calls are still accepted (health NOT_SERVING) before the drain; a call already on its way is answered rather than refused |
//! | `WORKSPACE_DATABASE_URL` | `postgresql://postgres@127.0.0.1:54320/workspace` | the service's own database (the dev stack's by default) |
//! | `WORKSPACE_DATABASE_POOL_SIZE` | `10` | most database connections |
//! | `WORKSPACE_DATABASE_POOL_WAIT_MS` | `5000` | how long a request waits for a free connection before UNAVAILABLE |
//! | `WORKSPACE_RUN_MIGRATIONS` | `true` | apply pending migrations at start |
//! | `AUTH_SERVICE_URL` | `http://127.0.0.1:50051` | where the token signing keys are fetched (`GetJwks`) |
//! | `JWT_ISSUER` | `auth-service` | expected `iss` of tokens |
//! | `JWT_AUDIENCE` | `backbone` | expected `aud` of tokens |
//! | `TASK_MAX_ATTEMPTS` | `3` | attempts of a task before it fails for good |
//! | `TASK_LEASE_SECS` | `60` | default lease of a claimed task |
//! | `TASK_REAP_INTERVAL_SECS` | `5` | how often expired leases are reaped |
//! | `TASK_RETRY_BACKOFF_MS` | `2000` | the wait before the second attempt of a task whose attempt failed retryably or whose lease ran out; it doubles with each attempt, with jitter (half fixed, half random) |
//! | `TASK_RETRY_BACKOFF_MAX_SECS` | `300` | the longest wait between attempts |
//! | `TASK_MAX_RUNNING_PER_USER` | `16` | most tasks of one user processing at once (0: no limit); others wait while other users' tasks are claimed |
//! | `TASK_PROGRESS_FLUSH_MS` | `500` | how often reported progress is written: heartbeats in between only update what the next write stores |
//! | `MAX_TASKS_PER_USER` | `1000` | most tasks one user may have, of any status (0: no limit) |
//! | `MAX_PENDING_TASKS_PER_USER` | `100` | most tasks one user may have waiting (pending) at once (0: no limit) |
//! | `STORAGE_QUOTA_BYTES` | `10737418240` | most bytes one user may store, uploads and task outputs together (10 GiB; 0: no limit) |
//! | `TASK_RETENTION_DAYS` | `30` | finished tasks (completed, failed, cancelled) not processing a conversation turn are deleted with their outputs this many days after they finished (0: kept) |
//! | `TASK_CLEANUP_INTERVAL_SECS` | `3600` | how often the retention cleanup runs (and forgets request ids older than a day) |
//! | `STORAGE_BACKEND` | `local` | `local` (a directory) or `s3` (any S3-compatible service; `AWS_*` variables for credentials, region and endpoint) |
//! | `STORAGE_DIR` | `data/files` | the directory of the local backend |
//! | `STORAGE_S3_BUCKET` | none | the bucket of the s3 backend |
//! | `STORAGE_S3_ENDPOINT` | AWS | an S3-compatible server's URL |
//! | `STORAGE_S3_REGION` | `AWS_REGION` | the bucket's region |
//! | `STORAGE_S3_ACCESS_KEY_ID`, `STORAGE_S3_SECRET_ACCESS_KEY` | AWS chain | static credentials |
//! | `MAX_FILE_BYTES` | `104857600` | largest upload (100 MiB) |
//! | `STORAGE_SWEEP_INTERVAL_SECS` | `3600` | how often abandoned uploads and unreferenced contents are removed |
//! | `STORAGE_SWEEP_GRACE_SECS` | `3600` | how old a stored object with no file must be before the sweeper removes it (younger ones may belong to an upload in progress) |
//! | `PAGE_TOKEN_SECRET` | random at start | key that signs page tokens; set the same value on every replica |

use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};
use service_runtime::env::{ConfigError, Env, Source};

/// See the module documentation for each variable.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WORKSPACE_LISTEN_ADDR`.
    pub listen_addr: SocketAddr,
    /// `WORKSPACE_METRICS_ADDR`.
    pub metrics_addr: SocketAddr,
    /// `WORKSPACE_DRAIN_SECS`.
    pub drain: std::time::Duration,
    /// `WORKSPACE_CLOSE_LINGER_MS`.
    pub close_linger: std::time::Duration,
    /// `WORKSPACE_DATABASE_URL`.
    pub database_url: SecretString,
    /// `WORKSPACE_DATABASE_POOL_SIZE`.
    pub database_pool_size: usize,
    /// `WORKSPACE_DATABASE_POOL_WAIT_MS`.
    pub database_pool_wait: std::time::Duration,
    /// `WORKSPACE_RUN_MIGRATIONS`.
    pub run_migrations: bool,
    /// `AUTH_SERVICE_URL`.
    pub auth_service_url: String,
    /// `JWT_ISSUER`.
    pub issuer: String,
    /// `JWT_AUDIENCE`.
    pub audience: String,
    /// `PAGE_TOKEN_SECRET`.
    pub page_token_secret: Option<SecretString>,
    /// `STORAGE_BACKEND` and its settings.
    pub storage: Storage,
    /// `MAX_FILE_BYTES`.
    pub max_file_bytes: u64,
    /// `STORAGE_SWEEP_INTERVAL_SECS`.
    pub storage_sweep_interval: std::time::Duration,
    /// `STORAGE_SWEEP_GRACE_SECS`.
    pub storage_sweep_grace: std::time::Duration,
    /// `TASK_MAX_ATTEMPTS`.
    pub task_max_attempts: i32,
    /// `TASK_LEASE_SECS`.
    pub task_lease: std::time::Duration,
    /// `TASK_REAP_INTERVAL_SECS`.
    pub task_reap_interval: std::time::Duration,
    /// `TASK_RETRY_BACKOFF_MS` and `TASK_RETRY_BACKOFF_MAX_SECS`.
    pub task_backoff: crate::domain::backoff::Backoff,
    /// `TASK_MAX_RUNNING_PER_USER` (0: no limit).
    pub task_max_running_per_user: i64,
    /// `TASK_PROGRESS_FLUSH_MS`.
    pub task_progress_flush: std::time::Duration,
    /// `MAX_TASKS_PER_USER` (0: no limit).
    pub max_tasks_per_user: i64,
    /// `MAX_PENDING_TASKS_PER_USER` (0: no limit).
    pub max_pending_tasks_per_user: i64,
    /// `STORAGE_QUOTA_BYTES` (0: no limit).
    pub storage_quota_bytes: u64,
    /// `TASK_RETENTION_DAYS` (0: kept).
    pub task_retention_days: u32,
    /// `TASK_CLEANUP_INTERVAL_SECS`.
    pub task_cleanup_interval: std::time::Duration,
    /// `EXPORT_PDF_FONT`: the font PDF exports are written in.
    pub export_pdf_font: PdfFontChoice,
}

/// Which font PDF exports use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfFontChoice {
    /// Unset: the first of `export::pdf::KNOWN_FONTS` found on the machine.
    Discover,
    /// A font file (`.ttf`, `.otf`, `.ttc`).
    File(std::path::PathBuf),
    /// `none`: PDF exports are switched off.
    Off,
}

/// Where file contents are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A local directory.
    Local(std::path::PathBuf),
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// Where the S3 backend writes. What is not set here comes from the usual
/// `AWS_*` variables and, for credentials, the default AWS chain (web
/// identity on Kubernetes, instance metadata).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `STORAGE_S3_BUCKET`.
    pub bucket: String,
    /// `STORAGE_S3_ENDPOINT`: an S3-compatible server (MinIO, Ceph, R2...);
    /// `http://` is allowed for one inside the cluster.
    pub endpoint: Option<String>,
    /// `STORAGE_S3_REGION` (else `AWS_REGION`).
    pub region: Option<String>,
    /// `STORAGE_S3_ACCESS_KEY_ID` and `STORAGE_S3_SECRET_ACCESS_KEY` (else
    /// the AWS chain).
    pub credentials: Option<(String, SecretString)>,
}

impl PartialEq for S3Settings {
    fn eq(&self, other: &Self) -> bool {
        self.bucket == other.bucket
            && self.endpoint == other.endpoint
            && self.region == other.region
            && self.credentials.as_ref().map(|c| &c.0) == other.credentials.as_ref().map(|c| &c.0)
    }
}

impl Eq for S3Settings {}

impl Config {
    /// Reads the configuration from `env`.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let auth_service_url = env.string("AUTH_SERVICE_URL", "http://127.0.0.1:50051");
        if !(auth_service_url.starts_with("http://") || auth_service_url.starts_with("https://")) {
            return Err(ConfigError::new(
                "AUTH_SERVICE_URL",
                "must start with http:// or https://",
            ));
        }
        Ok(Self {
            listen_addr: env.socket_addr("WORKSPACE_LISTEN_ADDR", "127.0.0.1:50052")?,
            metrics_addr: env.socket_addr("WORKSPACE_METRICS_ADDR", "127.0.0.1:9465")?,
            drain: env.seconds("WORKSPACE_DRAIN_SECS", 20, 0..=3600)?,
            close_linger: env.millis("WORKSPACE_CLOSE_LINGER_MS", 1000, 0..=60_000)?,
            database_url: database_url(
                env,
                "WORKSPACE_DATABASE_URL",
                "postgresql://postgres@127.0.0.1:54320/workspace",
            )?,
            database_pool_size: env.number("WORKSPACE_DATABASE_POOL_SIZE", 10, 1..=1000)?,
            database_pool_wait: env.millis(
                "WORKSPACE_DATABASE_POOL_WAIT_MS",
                5000,
                10..=600_000,
            )?,
            run_migrations: env.flag("WORKSPACE_RUN_MIGRATIONS", true)?,
            auth_service_url,
            issuer: env.string("JWT_ISSUER", "auth-service"),
            audience: env.string("JWT_AUDIENCE", "backbone"),
            page_token_secret: env.optional("PAGE_TOKEN_SECRET").map(SecretString::from),
            storage: match env.string("STORAGE_BACKEND", "local").as_str() {
                "local" => Storage::Local(env.path("STORAGE_DIR", "data/files")),
                "s3" => Storage::S3(S3Settings {
                    bucket: env.required("STORAGE_S3_BUCKET")?,
                    endpoint: env.optional("STORAGE_S3_ENDPOINT"),
                    region: env.optional("STORAGE_S3_REGION"),
                    credentials: match (
                        env.optional("STORAGE_S3_ACCESS_KEY_ID"),
                        env.optional("STORAGE_S3_SECRET_ACCESS_KEY"),
                    ) {
                        (Some(id), Some(secret)) => Some((id, SecretString::from(secret))),
                        (None, None) => None,
                        _ => {
                            return Err(ConfigError::new(
                                "STORAGE_S3_SECRET_ACCESS_KEY",
                                "STORAGE_S3_ACCESS_KEY_ID and STORAGE_S3_SECRET_ACCESS_KEY go together",
                            ));
                        }
                    },
                }),
                other => {
                    return Err(ConfigError::new(
                        "STORAGE_BACKEND",
                        format!("{other:?} is neither local nor s3"),
                    ));
                }
            },
            max_file_bytes: env.number("MAX_FILE_BYTES", 100 << 20, 1..=(1 << 40))?,
            storage_sweep_interval: env.seconds(
                "STORAGE_SWEEP_INTERVAL_SECS",
                3600,
                10..=86_400,
            )?,
            storage_sweep_grace: env.seconds("STORAGE_SWEEP_GRACE_SECS", 3600, 1..=604_800)?,
            task_max_attempts: env.number("TASK_MAX_ATTEMPTS", 3, 1..=100)?,
            task_lease: env.seconds("TASK_LEASE_SECS", 60, 5..=3600)?,
            task_reap_interval: env.seconds("TASK_REAP_INTERVAL_SECS", 5, 1..=3600)?,
            task_backoff: crate::domain::backoff::Backoff {
                base: env.millis("TASK_RETRY_BACKOFF_MS", 2000, 0..=3_600_000)?,
                max: env.seconds("TASK_RETRY_BACKOFF_MAX_SECS", 300, 0..=86_400)?,
            },
            task_max_running_per_user: env.number(
                "TASK_MAX_RUNNING_PER_USER",
                16,
                0..=1_000_000,
            )?,
            task_progress_flush: env.millis("TASK_PROGRESS_FLUSH_MS", 500, 10..=60_000)?,
            max_tasks_per_user: env.number("MAX_TASKS_PER_USER", 1000, 0..=1_000_000_000)?,
            max_pending_tasks_per_user: env.number(
                "MAX_PENDING_TASKS_PER_USER",
                100,
                0..=1_000_000_000,
            )?,
            storage_quota_bytes: env.number("STORAGE_QUOTA_BYTES", 10 << 30, 0..=(1 << 50))?,
            task_retention_days: env.number("TASK_RETENTION_DAYS", 30, 0..=36_500)?,
            task_cleanup_interval: env.seconds("TASK_CLEANUP_INTERVAL_SECS", 3600, 10..=86_400)?,
            export_pdf_font: match env.optional("EXPORT_PDF_FONT").as_deref() {
                None | Some("") => PdfFontChoice::Discover,
                Some("none") => PdfFontChoice::Off,
                Some(path) => PdfFontChoice::File(path.into()),
            },
        })
    }
}

impl Config {
    /// The documented defaults with this database, auth-service and storage
    /// directory: for the dev stack and tests that run the service in-process.
    pub fn local(
        database_url: &str,
        auth_service_url: &str,
        storage_dir: &std::path::Path,
    ) -> Self {
        let mut config = Self::from_env(&Env::from_source(std::collections::HashMap::new()))
            .expect("the defaults are valid");
        config.database_url = SecretString::from(database_url);
        config.auth_service_url = auth_service_url.to_owned();
        config.storage = Storage::Local(storage_dir.to_owned());
        // Any free port: tests run many services side by side.
        config.metrics_addr = "127.0.0.1:0".parse().expect("a valid address");
        config
    }
}

/// The database URL of `name`, checked now: a URL that does not parse, or an
/// option the connector does not support, stops the service at start naming
/// the variable (only an unreachable database is waited for).
fn database_url<S: Source>(
    env: &Env<S>,
    name: &str,
    default: &str,
) -> Result<SecretString, ConfigError> {
    let url = env.secret(name, default);
    postgres_kit::DatabaseUrl::parse(url.expose_secret())
        .map_err(|e| ConfigError::new(name, e.to_string()))?;
    Ok(url)
}

impl Config {
    /// The parsed database URL (checked by [`Config::from_env`]; a
    /// configuration built in code is checked here).
    pub fn database(&self) -> anyhow::Result<postgres_kit::DatabaseUrl> {
        postgres_kit::DatabaseUrl::parse(self.database_url.expose_secret())
            .map_err(|e| anyhow::anyhow!("WORKSPACE_DATABASE_URL: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::from_env(&Env::from_source(HashMap::new())).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:50052");
        assert_eq!(config.auth_service_url, "http://127.0.0.1:50051");
        assert_eq!(
            config.storage_sweep_grace,
            std::time::Duration::from_secs(3600)
        );
    }

    #[test]
    fn a_sweep_grace_of_zero_is_refused_naming_the_variable() {
        // Zero would let the sweeper take an upload still being written.
        let env = Env::from_source(HashMap::from([(
            "STORAGE_SWEEP_GRACE_SECS".to_owned(),
            "0".to_owned(),
        )]));
        assert_eq!(
            Config::from_env(&env).unwrap_err().name,
            "STORAGE_SWEEP_GRACE_SECS"
        );
    }

    #[test]
    fn a_bad_auth_url_is_refused_naming_the_variable() {
        let env = Env::from_source(HashMap::from([(
            "AUTH_SERVICE_URL".to_owned(),
            "localhost:50051".to_owned(),
        )]));
        assert_eq!(Config::from_env(&env).unwrap_err().name, "AUTH_SERVICE_URL");
    }
}
