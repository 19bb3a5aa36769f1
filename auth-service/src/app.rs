//! Wiring: builds the service's state from its configuration and serves the
//! gRPC API (with health, reflection and the access layer) until shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use access::{AccessLayer, KeySource, RevocationList, Verifier, VerifierSettings};
use anyhow::Context;
use futures::future::BoxFuture;
use postgres_kit::PoolSettings;
use proto::auth::v1::admin_service_server::AdminServiceServer;
use proto::auth::v1::auth_service_server::AuthServiceServer;
use service_runtime::clock::Clock;
use service_runtime::paging::PageTokens;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db::MIGRATIONS;
use crate::grpc::AuthApi;
use crate::grpc::admin::AdminApi;
use crate::keys::SigningKeys;
use crate::passwords::PasswordHasher;
use crate::revocations::{Hub, HubEvent};
use crate::state::AppState;
use crate::tokens::TokenIssuer;

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    admin_listener: TcpListener,
    state: AppState,
    drain: watch::Sender<bool>,
}

impl Application {
    /// [`Application::build_with_clock`] with the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// Applies migrations (unless disabled), loads the signing keys, prepares
    /// the pool and binds the listen address (port 0 picks a free port).
    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        service_runtime::tls::install_crypto_provider();
        let database_url = config.database()?;
        let mut pool_settings = PoolSettings::new("auth-service");
        pool_settings.max_size = config.database_pool_size;
        pool_settings.wait_timeout = config.database_pool_wait;
        let migrations = config.run_migrations.then_some(MIGRATIONS);
        let pool = postgres_kit::prepare(&database_url, migrations, &pool_settings)
            .await
            .context("AUTH_DATABASE_URL")?;
        let keys = SigningKeys::load_with(
            &config.signing_key_path,
            config.generate_signing_key,
            &config.published_key_paths,
        )?;
        let hasher = PasswordHasher::new(
            config.bcrypt_cost,
            config.bcrypt_concurrency,
            config.bcrypt_max_waiting,
        )?;
        let issuer = TokenIssuer::new(
            keys,
            config.issuer.clone(),
            config.audience.clone(),
            config.access_token_ttl,
        );
        let listener = service_runtime::grpc::bind("AUTH_LISTEN_ADDR", config.listen_addr).await?;
        let hub = Hub::listen(database_url);
        let wechat_client = config.wechat.clone().map(crate::wechat::WechatClient::new);
        let oidc = crate::oidc::OidcProviders::new(&config.oidc_providers);
        // Every replica must sign page tokens with the same key, or a next
        // page asked of another replica is refused.
        let page_tokens = PageTokens::from_secret(config.page_token_secret.as_ref());
        let admin_listener =
            service_runtime::grpc::bind("AUTH_METRICS_ADDR", config.metrics_addr).await?;
        let (drain, draining) = watch::channel(false);
        Ok(Self {
            listener,
            admin_listener,
            state: AppState {
                config: Arc::new(config),
                pool,
                hasher,
                issuer,
                clock,
                hub,
                page_tokens,
                draining,
                wechat: wechat_client,
                oidc,
                mail_backlog: crate::mail::Backlog::default(),
            },
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

    /// The service's state (for tests and admin commands).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the calls in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let (verifier, revocations) = own_verifier(&state);
        let mut registry = service_runtime::metrics::Registry::default();
        let rpc_metrics = service_runtime::observe::RpcMetrics::register(&mut registry);
        register_metrics(&mut registry, &state);
        let admin = tokio::spawn(service_runtime::metrics::serve_admin(
            self.admin_listener,
            Arc::new(registry),
            None,
        ));
        crate::cleanup::spawn(state.clone(), state.config.cleanup_interval);
        match mailer(&state.config.mail)? {
            Some(mailer) => {
                crate::mail_sender::spawn(state.clone(), mailer, state.config.mail.poll_interval);
            }
            None => tracing::warn!(
                "neither SMTP_URL nor MAIL_DIR is set: mail waits in the outbox until one is"
            ),
        }

        let mut services = service_runtime::grpc::Services::default();
        services
            .add(AuthServiceServer::new(AuthApi::new(state.clone())))
            .add(AdminServiceServer::new(AdminApi::new(state.clone())));
        let (routes, health) = services.finish().await;
        // Ready once the verifier knows the revocations: before, a revoked
        // session's token would pass here.
        health.serve_when(async move {
            revocations.synced().await;
        });
        tracing::info!(addr = %self.listener.local_addr()?, "auth-service listening");
        let drain = self.drain;
        let (stop, deadline) = health.graceful_stop(
            shutdown,
            // End the revocation streams so that the server can drain.
            move || {
                let _ = drain.send(true);
            },
            service_runtime::grpc::StopTimes {
                linger: state.config.close_linger,
                drain: state.config.drain,
            },
        );
        let server = service_runtime::grpc::server()
            .layer(service_runtime::observe::ObserveLayer::new(rpc_metrics))
            .layer(service_runtime::forwarded::VouchLayer::new(
                state.config.forwarding_key.clone(),
            ))
            .layer(AccessLayer::new(verifier))
            .add_routes(routes)
            .serve_with_incoming_shutdown(service_runtime::grpc::incoming(self.listener), stop);
        service_runtime::grpc::serve_until(server, deadline)
            .await
            .context("gRPC server failed")?;
        admin.abort();
        state.pool.close();
        tracing::info!("auth-service stopped");
        Ok(())
    }
}

/// Where mail goes: the SMTP server, else the directory, else nowhere yet.
fn mailer(config: &crate::config::MailConfig) -> anyhow::Result<Option<crate::mail::Mailer>> {
    use secrecy::ExposeSecret;
    if let Some(url) = &config.smtp_url {
        let mailer = crate::mail::Mailer::smtp(url.expose_secret())
            .map_err(|problem| anyhow::anyhow!("SMTP_URL {problem}"))?;
        return Ok(Some(mailer));
    }
    match &config.dir {
        Some(dir) => Ok(Some(
            crate::mail::Mailer::directory(dir.clone())
                .with_context(|| format!("MAIL_DIR {}", dir.display()))?,
        )),
        None => Ok(None),
    }
}

/// The service's own gauges, read at each scrape.
fn register_metrics(registry: &mut service_runtime::metrics::Registry, state: &AppState) {
    use service_runtime::metrics::{GaugeFn, to_i64};
    let pool = state.pool.clone();
    service_runtime::metrics::register_pool(registry, move || pool.status().into());
    let hasher = state.hasher.clone();
    registry.register_collector(Box::new(GaugeFn::single(
        "bcrypt_queue_depth",
        "Password hashes waiting for a slot on the blocking pool",
        move || to_i64(hasher.queue_depth()),
    )));
    let hasher = state.hasher.clone();
    let concurrency = state.config.bcrypt_concurrency;
    registry.register_collector(Box::new(GaugeFn::single(
        "bcrypt_in_progress",
        "Password hashes being computed",
        move || to_i64(hasher.in_progress(concurrency)),
    )));
    let hub = state.hub.clone();
    registry.register_collector(Box::new(GaugeFn::single(
        "revocation_stream_subscribers",
        "Open revocation streams (verifiers in other processes) and this replica's own verifier",
        move || to_i64(hub.subscribers()),
    )));
    let hub = state.hub.clone();
    registry.register_collector(Box::new(GaugeFn::single(
        "revocation_stream_lag_events",
        "Revocations the slowest subscriber has not taken yet",
        move || to_i64(hub.backlog()),
    )));
    let backlog = state.mail_backlog.clone();
    registry.register_collector(Box::new(GaugeFn::single(
        "mail_outbox_backlog",
        "Mail neither sent nor abandoned, as of the sender's last pass",
        move || backlog.get(),
    )));
}

/// The auth-service verifies its own tokens with its own keys, and hears of
/// revocations straight from its hub: no call needed. The list starts from a
/// snapshot of the revocations still relevant (taken after subscribing, so
/// nothing falls between), and again after every resync; it is synced (and
/// the service ready) once the first snapshot is in.
fn own_verifier(state: &AppState) -> (Verifier, RevocationList) {
    let revocations = RevocationList::new();
    let list = revocations.clone();
    let mut events = state.hub.subscribe();
    let pool = state.pool.clone();
    let access_ttl = state.issuer.access_ttl();
    let clock = state.clock.clone();
    tokio::spawn(async move {
        let snapshot = async || {
            let mut backoff = Duration::from_millis(100);
            loop {
                let loaded = async {
                    let mut conn = pool.get().await.map_err(anyhow::Error::from)?;
                    crate::revocations::still_relevant(&mut conn, clock.now(), access_ttl)
                        .await
                        .map_err(anyhow::Error::from)
                };
                match loaded.await {
                    Ok(relevant) => {
                        for r in relevant {
                            list.revoke(r.session_id, r.tokens_expire_at.timestamp());
                        }
                        list.mark_synced();
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the revocations yet; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        };
        snapshot().await;
        loop {
            match events.next().await {
                Some(HubEvent::Revoked(r)) => {
                    list.revoke(r.session_id, r.tokens_expire_at.timestamp())
                }
                Some(HubEvent::Resync) => snapshot().await,
                None => return,
            }
        }
    });
    let verifier = Verifier::with_revocations(
        OwnKeys(state.issuer.keys().clone()),
        VerifierSettings {
            issuer: state.config.issuer.clone(),
            audience: state.config.audience.clone(),
            leeway: Duration::from_secs(10),
            min_refresh_interval: Duration::from_secs(5),
        },
        revocations.clone(),
    );
    (verifier, revocations)
}

struct OwnKeys(SigningKeys);

impl KeySource for OwnKeys {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<proto::auth::v1::Jwk>, String>> {
        let keys = self.0.jwks();
        Box::pin(async move { Ok(keys) })
    }
}
