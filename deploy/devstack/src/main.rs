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
use std::time::{Duration, Instant};

use anyhow::Context;
use postgres_kit::{ClusterOptions, Listen, LocalCluster};
use service_runtime::env::Env;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long each service may take to become healthy.
const READY_DEADLINE: Duration = Duration::from_secs(60);

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

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut services = JoinSet::new();

    let result = async {
        let auth_app = auth_service::Application::build(auth).await.context("auth-service")?;
        let auth_addr = auth_app.local_addr();
        services.spawn(auth_app.run_until(stopped(stop_rx.clone())));
        wait_grpc_healthy("auth-service", auth_addr).await?;

        if env.optional("AUTH_SERVICE_URL").is_none() {
            workspace.auth_service_url = format!("http://{auth_addr}");
        }
        let workspace_app = workspace_service::Application::build(workspace)
            .await
            .context("workspace-service")?;
        let workspace_addr = workspace_app.local_addr();
        services.spawn(workspace_app.run_until(stopped(stop_rx.clone())));
        wait_grpc_healthy("workspace-service", workspace_addr).await?;

        let mut gateway = gateway::Config::from_env(&env)?;
        gateway.forwarding_key.get_or_insert(forwarding_key);
        if env.optional("AUTH_SERVICE_URL").is_none() {
            gateway.auth_service_url = format!("http://{auth_addr}");
        }
        if env.optional("WORKSPACE_SERVICE_URL").is_none() {
            gateway.workspace_service_url = format!("http://{workspace_addr}");
        }
        let gateway_app = gateway::Application::build(gateway).await.context("gateway")?;
        let gateway_addr = gateway_app.local_addr();
        services.spawn(gateway_app.run_until(stopped(stop_rx.clone())));
        wait_http_ready(gateway_addr).await?;

        tracing::info!(
            "the stack is up (Ctrl-C stops it)\n  gateway (HTTP):            http://{gateway_addr}\n  auth-service (gRPC):       {auth_addr}\n  workspace-service (gRPC):  {workspace_addr}\n  data:                      {}",
            dir.display()
        );
        anyhow::Ok(())
    }
    .await;

    if let Err(e) = result {
        let _ = stop_tx.send(true);
        while services.join_next().await.is_some() {}
        stop_postgres(cluster).await;
        return Err(e);
    }

    tokio::select! {
        () = service_runtime::shutdown::signal() => {}
        Some(finished) = services.join_next() => {
            // A service stopped by itself: take the rest down with it.
            match finished {
                Ok(Err(e)) => tracing::error!("a service failed: {e:#}"),
                Err(e) => tracing::error!("a service panicked: {e}"),
                Ok(Ok(())) => tracing::error!("a service stopped unexpectedly"),
            }
        }
    }
    let _ = stop_tx.send(true);
    while services.join_next().await.is_some() {}
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

async fn wait_grpc_healthy(name: &str, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_DEADLINE;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
                tracing::info!("{name} is healthy");
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} did not become healthy in {READY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_http_ready(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_DEADLINE;
    loop {
        let ready = tokio::net::TcpStream::connect(addr).await.is_ok();
        if ready {
            tracing::info!("gateway is listening");
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway did not start in {READY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
