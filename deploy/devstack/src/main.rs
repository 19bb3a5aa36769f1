//! The dev stack: `cargo run -p devstack` from the checkout runs the whole
//! system on 127.0.0.1.
//!
//! Unless both `AUTH_DATABASE_URL` and `WORKSPACE_DATABASE_URL` are set, it
//! runs PostgreSQL from the local server binaries, with its cluster kept under
//! `.devstack/postgres` (created on first run, reused after, so data survives
//! restarts) on port `DEVSTACK_PG_PORT` (54320), and creates one database per
//! service. The services run in this process with their usual configuration
//! variables; the signing key is generated under `.devstack/keys`. Ctrl-C
//! stops everything, PostgreSQL included.
//!
//! `--fake-wechat` also starts a stand-in for WeChat's login API on loopback
//! and points WeChat login at it (with `WECHAT_APP_ID`/`WECHAT_APP_SECRET`
//! if set, else made-up ones), so `POST /v1/auth/login/wechat` can be tried
//! without a mini-program.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use postgres_kit::{ClusterOptions, Listen, LocalCluster};
use service_runtime::env::Env;

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_runtime::telemetry::init("devstack");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let mut fake_wechat = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--fake-wechat" => fake_wechat = true,
            other => anyhow::bail!("unknown argument {other:?} (usage: devstack [--fake-wechat])"),
        }
    }
    let env = Env::process();
    let dir = env.path("DEVSTACK_DIR", ".devstack");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;

    let mut auth = auth_service::Config::from_env(&env)?;
    let mut workspace = workspace_service::Config::from_env(&env)?;
    if env.optional("STORAGE_DIR").is_none() && env.optional("STORAGE_BACKEND").is_none() {
        workspace.storage = workspace_service::config::Storage::Local(dir.join("files"));
    }
    // Kept alive as long as the stack runs.
    let _fake_wechat = if fake_wechat {
        Some(start_fake_wechat(&mut auth).await?)
    } else {
        None
    };
    // Without a mail server, mail lands in .devstack/mail/ as .eml files.
    if auth.mail.smtp_url.is_none() && auth.mail.dir.is_none() {
        auth.mail.dir = Some(dir.join("mail"));
    }
    if env.optional("JWT_SIGNING_KEY_PATH").is_none() {
        auth.signing_key_path = dir.join("keys/signing-key.pem");
        auth.generate_signing_key = true;
    }

    // One process runs both ends: without FORWARDED_SECRET, a random one
    // lets the auth-service believe the client addresses the gateway signs.
    let forwarding_key = match &auth.forwarding_key {
        Some(key) => key.clone(),
        None => service_runtime::forwarded::ForwardingKey::random(),
    };
    auth.forwarding_key = Some(forwarding_key.clone());

    let external = env.optional("AUTH_DATABASE_URL").is_some()
        && env.optional("WORKSPACE_DATABASE_URL").is_some();
    let cluster = if external {
        tracing::info!("using the PostgreSQL of AUTH_DATABASE_URL and WORKSPACE_DATABASE_URL");
        None
    } else {
        let port: u16 = env.number("DEVSTACK_PG_PORT", 54320, 1024..=65535)?;
        let cluster = start_postgres(dir.join("postgres"), dir.join("postgres.log"), port).await?;
        for (database, config_url) in [
            ("auth", &mut auth.database_url),
            ("workspace", &mut workspace.database_url),
        ] {
            create_database(&cluster, database).await?;
            *config_url = cluster.url(database).into();
        }
        Some(cluster)
    };

    let mut gateway = gateway::Config::from_env(&env)?;
    gateway.forwarding_key.get_or_insert(forwarding_key);
    // The services reach each other in this process (testkit wires the
    // URLs), each started once the one before is ready.
    let started = testkit::Stack::builder()
        .auth_config(auth)
        .workspace_config(workspace)
        .gateway_config(gateway)
        .start()
        .await;
    let mut stack = match started {
        Ok(stack) => stack,
        Err(e) => {
            stop_postgres(cluster).await;
            return Err(e);
        }
    };
    tracing::info!(
        "the stack is up (Ctrl-C stops it)\n  gateway (HTTP):            {}\n  auth-service (gRPC):       {}\n  workspace-service (gRPC):  {}\n  data:                      {}",
        stack.gateway().base,
        stack.auth.addr,
        stack.workspace().addr,
        dir.display()
    );

    tokio::select! {
        () = service_runtime::shutdown::signal() => {}
        (name, ended) = stack.first_exit() => {
            // A service stopped by itself: take the rest down with it.
            match ended {
                Err(e) => tracing::error!("{name} failed: {e:#}"),
                Ok(()) => tracing::error!("{name} stopped unexpectedly"),
            }
        }
    }
    stack.stop().await;
    stop_postgres(cluster).await;
    tracing::info!("the stack is stopped");
    Ok(())
}

/// Starts the WeChat stand-in (with the configured app id and secret, or
/// made-up ones) and points the auth-service at it.
async fn start_fake_wechat(
    auth: &mut auth_service::Config,
) -> anyhow::Result<auth_service::wechat::fake::FakeWechat> {
    let (app_id, secret) = match &auth.wechat {
        Some(wechat) => (
            wechat.app_id.clone(),
            secrecy::ExposeSecret::expose_secret(&wechat.app_secret).to_owned(),
        ),
        None => ("wx-devstack".to_owned(), "devstack-secret".to_owned()),
    };
    let fake =
        auth_service::wechat::fake::FakeWechat::start("127.0.0.1:0".parse()?, &app_id, &secret)
            .await?;
    tracing::info!(api_base = %fake.base_url(), "fake WeChat login API started");
    auth.wechat = Some(auth_service::config::WechatConfig {
        app_id,
        app_secret: secret.into(),
        api_base: fake.base_url(),
        timeout: Duration::from_secs(5),
    });
    Ok(fake)
}

async fn start_postgres(
    data_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
) -> anyhow::Result<LocalCluster> {
    tracing::info!(data_dir = %data_dir.display(), port, "starting PostgreSQL");
    let options = ClusterOptions {
        data_dir,
        listen: Listen::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        ephemeral: false,
        log_file,
    };
    tokio::task::spawn_blocking(move || LocalCluster::start(options))
        .await?
        .context("cannot run the embedded PostgreSQL (or set AUTH_DATABASE_URL and WORKSPACE_DATABASE_URL to use an existing one)")
}

async fn stop_postgres(cluster: Option<LocalCluster>) {
    if let Some(cluster) = cluster {
        tracing::info!("stopping PostgreSQL");
        let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
    }
}

/// Creates `name` unless it exists.
async fn create_database(cluster: &LocalCluster, name: &str) -> anyhow::Result<()> {
    let (client, connection) =
        tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
            .await
            .context("cannot connect to the embedded PostgreSQL")?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        tracing::info!(database = name, "database created");
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}
