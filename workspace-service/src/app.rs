//! Wiring: builds the service's state from its configuration and serves the
//! gRPC API (with health, reflection and the access layer) until shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use access::{AccessLayer, GrpcKeySource, RevocationList, Verifier, VerifierSettings};
use anyhow::Context;
use postgres_kit::PoolSettings;
use postgres_kit::notify::Listener;
use proto::workspace::v1::conversation_service_server::ConversationServiceServer;
use proto::workspace::v1::file_service_server::FileServiceServer;
use proto::workspace::v1::stats_service_server::StatsServiceServer;
use proto::workspace::v1::task_service_server::TaskServiceServer;
use proto::workspace::v1::worker_service_server::WorkerServiceServer;
use proto::workspace::v1::workspace_admin_service_server::WorkspaceAdminServiceServer;
use service_runtime::clock::Clock;
use service_runtime::paging::PageTokens;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::config::Config;
use crate::config::Storage;
use crate::db::MIGRATIONS;
use crate::export::PdfFont;
use crate::grpc::{ConversationApi, FileApi, StatsApi, TaskApi, WorkerApi};
use crate::progress::ProgressBuffer;
use crate::state::AppState;
use crate::storage::BlobStore;

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    admin_listener: TcpListener,
    state: AppState,
    verifier: Verifier,
    drain: watch::Sender<bool>,
}

impl Application {
    /// [`Application::build_with_clock`] with the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// Applies migrations (unless disabled), prepares the pool and the token
    /// verifier, and binds the listen address (port 0 picks a free port).
    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        service_runtime::tls::install_crypto_provider();
        let database_url = config.database()?;
        let mut pool_settings = PoolSettings::new("workspace-service");
        pool_settings.max_size = config.database_pool_size;
        pool_settings.wait_timeout = config.database_pool_wait;
        let migrations = config.run_migrations.then_some(MIGRATIONS);
        let pool = postgres_kit::prepare(&database_url, migrations, &pool_settings)
            .await
            .context("WORKSPACE_DATABASE_URL")?;

        // Tokens are verified here, against the auth-service's published keys,
        // so a direct gRPC call is checked exactly like one through the gateway.
        let auth_channel = Channel::from_shared(config.auth_service_url.clone())
            .context("AUTH_SERVICE_URL")?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        // Revoked sessions stream in from the auth-service, so a logout is
        // honoured here within a second.
        let revocations = RevocationList::new();
        access::spawn_revocation_watcher(auth_channel.clone(), revocations.clone());
        let verifier = Verifier::with_revocations(
            GrpcKeySource::new(auth_channel),
            VerifierSettings {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: Duration::from_secs(10),
                min_refresh_interval: Duration::from_secs(5),
            },
            revocations,
        );
        if let Err(e) = verifier.refresh().await {
            // Not fatal: the keys are fetched again on the first request.
            tracing::warn!(error = %e, "auth-service keys not available yet");
        }

        let page_tokens = PageTokens::from_secret(config.page_token_secret.as_ref());
        let listener =
            service_runtime::grpc::bind("WORKSPACE_LISTEN_ADDR", config.listen_addr).await?;
        let blobs = match &config.storage {
            Storage::Local(dir) => BlobStore::local(dir)
                .with_context(|| format!("STORAGE_DIR: cannot use {}", dir.display()))?,
            Storage::S3(settings) => BlobStore::s3(settings).context("STORAGE_S3_*")?,
        };
        let pdf_font = PdfFont::choose(&config.export_pdf_font)
            .map_err(|e| anyhow::anyhow!("EXPORT_PDF_FONT: {e}"))?;
        match &pdf_font {
            Some(font) => {
                tracing::info!(font = %font.path().display(), "PDF exports use this font")
            }
            None => tracing::warn!("PDF exports are off: no font (set EXPORT_PDF_FONT)"),
        }
        let admin_listener =
            service_runtime::grpc::bind("WORKSPACE_METRICS_ADDR", config.metrics_addr).await?;
        let task_changes = Listener::spawn(database_url, crate::db::tasks::CHANGED_CHANNEL);
        let (drain, draining) = watch::channel(false);
        Ok(Self {
            listener,
            admin_listener,
            state: AppState {
                config: Arc::new(config),
                pool,
                page_tokens,
                blobs,
                clock,
                task_changes,
                draining,
                pdf_font,
                progress: ProgressBuffer::default(),
                metrics: crate::metrics::QueueMetrics::default(),
                watch_streams: service_runtime::slots::KeyedSlots::new(
                    crate::grpc::tasks::watch_task::MAX_STREAMS_PER_USER,
                ),
            },
            verifier,
            drain,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The address of the admin endpoint (`/metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.admin_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The service's state (for tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the calls in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let mut registry = service_runtime::metrics::Registry::default();
        let rpc_metrics = service_runtime::observe::RpcMetrics::register(&mut registry);
        let pool = state.pool.clone();
        service_runtime::metrics::register_pool(&mut registry, move || pool.status().into());
        state.metrics.register(&mut registry);
        let (pool, metrics) = (state.pool.clone(), state.metrics.clone());
        let admin = tokio::spawn(service_runtime::metrics::serve_admin(
            self.admin_listener,
            Arc::new(registry),
            Some(Arc::new(move || {
                let (pool, metrics) = (pool.clone(), metrics.clone());
                Box::pin(async move { metrics.count(&pool).await })
            })),
        ));
        crate::queue::spawn_reaper(state.clone(), state.config.task_reap_interval);
        crate::blobs::spawn_sweeper(state.clone(), state.config.storage_sweep_interval);
        crate::progress::spawn_flusher(
            state.progress.clone(),
            state.pool.clone(),
            state.clock.clone(),
            state.draining.clone(),
            state.config.task_progress_flush,
        );
        crate::retention::spawn_cleanup(state.clone(), state.config.task_cleanup_interval);
        let mut services = service_runtime::grpc::Services::default();
        services
            .add(ConversationServiceServer::new(ConversationApi::new(
                state.clone(),
            )))
            .add(FileServiceServer::new(FileApi::new(state.clone())))
            .add(TaskServiceServer::new(TaskApi::new(state.clone())))
            .add(StatsServiceServer::new(StatsApi::new(state.clone())))
            .add(WorkspaceAdminServiceServer::new(StatsApi::new(
                state.clone(),
            )))
            .add(WorkerServiceServer::new(WorkerApi::new(state.clone())));
        let (routes, health) = services.finish().await;
        // Ready once the verifier has its first revocation snapshot from the
        // auth-service: before, a revoked session's token would pass here.
        let verifier = self.verifier.clone();
        health.serve_when(async move {
            verifier.ready().await;
        });
        let drain = self.drain;
        let (stop, deadline) = health.graceful_stop(
            shutdown,
            // End the watch streams so that the server can drain.
            move || {
                let _ = drain.send(true);
            },
            service_runtime::grpc::StopTimes {
                linger: state.config.close_linger,
                drain: state.config.drain,
            },
        );
        tracing::info!(addr = %self.listener.local_addr()?, "workspace-service listening");
        let server = service_runtime::grpc::server()
            .layer(service_runtime::observe::ObserveLayer::new(rpc_metrics))
            .layer(AccessLayer::new(self.verifier))
            .add_routes(routes)
            .serve_with_incoming_shutdown(service_runtime::grpc::incoming(self.listener), stop);
        service_runtime::grpc::serve_until(server, deadline)
            .await
            .context("gRPC server failed")?;
        admin.abort();
        state.pool.close();
        tracing::info!("workspace-service stopped");
        Ok(())
    }
}
