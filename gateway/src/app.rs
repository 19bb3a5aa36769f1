//! Wiring: the gateway built from its configuration, and its router: the
//! probes and metrics outside every cap, the API (the proxy and the docs)
//! behind them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use access::{GrpcKeySource, RevocationList, Verifier, VerifierSettings};
use anyhow::Context;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::middleware::{self};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tonic::Code;

use crate::config::Config;
use crate::edge::{Edge, RateLimits};
use crate::error::ApiError;
use crate::routes::RouteTable;
use crate::state::AppState;
use crate::upstream::Upstreams;

/// A built gateway, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Builds the route table from the descriptors, prepares the upstream
    /// channels and the token verifier, and binds the listen address.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        service_runtime::tls::install_crypto_provider();
        let routes = RouteTable::from_descriptors(proto::descriptor_pool())
            .context("the google.api.http annotations are invalid")?;
        let mut upstreams = Upstreams::default();
        upstreams
            .add("auth", &config.auth_service_url)
            .context("AUTH_SERVICE_URL")?;
        upstreams
            .add("workspace", &config.workspace_service_url)
            .context("WORKSPACE_SERVICE_URL")?;
        for route in routes.routes() {
            if upstreams.channel(&route.upstream).is_none() {
                anyhow::bail!(
                    "no upstream configured for {} ({})",
                    route.grpc_path,
                    route.upstream
                );
            }
        }
        let auth_channel = upstreams.channel("auth").expect("added above");
        // Revoked sessions stream in from the auth-service, so a logout is
        // honoured at the edge within a second.
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
            tracing::warn!(error = %e, "auth-service keys not available yet");
        }
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| {
                format!(
                    "GATEWAY_LISTEN_ADDR: cannot listen on {}",
                    config.listen_addr
                )
            })?;
        let config_limits = (config.rate_limit_per_ip, config.rate_limit_per_user);
        Ok(Self {
            listener,
            state: AppState {
                config: Arc::new(config),
                routes: Arc::new(routes),
                upstreams,
                verifier,
                limits: RateLimits::new(config_limits.0, config_limits.1),
                readiness: Arc::default(),
            },
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let settings = crate::server::ServerSettings {
            header_read_timeout: self.state.config.idle_timeout,
            max_header_bytes: self.state.config.header_limit,
            drain: self.state.config.drain,
            close_linger: self.state.config.close_linger,
        };
        let router = router(self.state);
        tracing::info!(addr = %self.listener.local_addr()?, "gateway listening");
        crate::server::serve(self.listener, router, settings, shutdown).await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let config = state.config.clone();
    if config.forwarding_key.is_none() {
        tracing::warn!(
            "FORWARDED_SECRET is not set: the services will not believe the client \
             addresses the gateway forwards, and will count every client as the gateway"
        );
    }
    let edge = Edge {
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        limits: state.limits.clone(),
        in_progress: crate::edge::InProgress::new(config.max_in_progress_per_ip),
        untrusted_forwarding: crate::edge::Warned::default(),
    };
    let openapi = crate::openapi::document(&state.routes);
    let metrics = crate::metrics::Metrics::default();
    // The API: every cap applies.
    let mut api = Router::new()
        .fallback(crate::proxy::transcode_request)
        .with_state(state.clone())
        .merge(crate::docs::routes(&openapi))
        .layer(middleware::from_fn_with_state(edge, crate::edge::protect));
    if !config.cors_origins.is_empty() {
        api = api.layer(crate::middleware::cors(&config.cors_origins));
    }
    // Past the cap, requests are refused at once rather than queued.
    let api = api.layer(
        tower::ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                ApiError::new(Code::Unavailable, "the gateway is overloaded, try again")
                    .into_response()
            }))
            .load_shed()
            // Global: one count for all routes (a plain limit would be
            // cloned per route).
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                config.max_concurrent_requests,
            )),
    );
    // Probes and scrapes outside every cap: a flood of slow clients must not
    // make the orchestrator think the gateway is dead.
    Router::new()
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .with_state(state)
        .route(
            "/metrics",
            get(crate::metrics::serve).with_state(metrics.clone()),
        )
        .merge(api)
        .layer(middleware::from_fn(crate::middleware::request_id))
        .layer(middleware::from_fn_with_state(
            config.header_limit,
            crate::edge::guard,
        ))
        .layer(middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
}
