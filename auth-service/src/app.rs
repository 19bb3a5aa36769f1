//! Wiring: builds the service's state from its configuration and serves the
//! gRPC API (with health, reflection and the access layer) until shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use access::{AccessLayer, KeySource, Verifier, VerifierSettings};
use anyhow::Context;
use futures::future::BoxFuture;
use postgres_kit::{PgPool, PoolSettings};
use proto::auth::v1::auth_service_server::AuthServiceServer;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::RoutesBuilder;

use crate::config::Config;
use crate::db::MIGRATIONS;
use crate::grpc::AuthApi;
use crate::keys::SigningKeys;
use crate::passwords::PasswordHasher;
use crate::tokens::TokenIssuer;

/// What every RPC needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub pool: PgPool,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Token signing.
    pub issuer: TokenIssuer,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Applies migrations (unless disabled), loads the signing key, prepares
    /// the pool and binds the listen address (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database_url = config.database_url.expose_secret().to_owned();
        if config.run_migrations {
            let applied = postgres_kit::run_migrations(&database_url, MIGRATIONS)
                .await
                .context("AUTH_DATABASE_URL: cannot apply migrations")?;
            tracing::info!(count = applied.len(), "migrations applied");
        }
        let mut pool_settings = PoolSettings::new("auth-service");
        pool_settings.max_size = config.database_pool_size;
        let pool =
            postgres_kit::build_pool(&database_url, &pool_settings).context("AUTH_DATABASE_URL")?;
        let keys = SigningKeys::load(&config.signing_key_path, config.generate_signing_key)?;
        let hasher = PasswordHasher::new(config.bcrypt_cost, config.bcrypt_concurrency)?;
        let issuer = TokenIssuer::new(
            keys,
            config.issuer.clone(),
            config.audience.clone(),
            config.access_token_ttl,
        );
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| {
                format!("AUTH_LISTEN_ADDR: cannot listen on {}", config.listen_addr)
            })?;
        Ok(Self {
            listener,
            state: AppState {
                config: Arc::new(config),
                pool,
                hasher,
                issuer,
            },
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes the calls in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let state = self.state;
        let verifier = Verifier::new(
            OwnKeys(state.issuer.keys().clone()),
            VerifierSettings {
                issuer: state.config.issuer.clone(),
                audience: state.config.audience.clone(),
                leeway: std::time::Duration::from_secs(10),
                min_refresh_interval: std::time::Duration::from_secs(5),
            },
        );
        let mut routes = RoutesBuilder::default();
        let health = service_runtime::grpc::add_standard_services(
            &mut routes,
            &[<AuthServiceServer<AuthApi> as tonic::server::NamedService>::NAME],
        );
        routes.add_service(AuthServiceServer::new(AuthApi::new(state)));
        health.set_serving::<AuthServiceServer<AuthApi>>().await;
        tracing::info!(addr = %self.listener.local_addr()?, "auth-service listening");
        tonic::transport::Server::builder()
            .layer(AccessLayer::new(verifier))
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await
            .context("gRPC server failed")?;
        tracing::info!("auth-service stopped");
        Ok(())
    }
}

/// The auth-service verifies its own tokens with its own keys: no call needed.
struct OwnKeys(SigningKeys);

impl KeySource for OwnKeys {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<proto::auth::v1::Jwk>, String>> {
        let keys = self.0.jwks();
        Box::pin(async move { Ok(keys) })
    }
}
