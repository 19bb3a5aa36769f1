//! A running auth-service per test, and typed helpers to call it.

use std::net::SocketAddr;

use auth_service::{AppState, Application, Config};
use proto::auth::v1::{
    self as pb, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use service_runtime::clock::Clock;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// A running service with its own database and a clock the test moves.
pub struct TestApp {
    pub addr: SocketAddr,
    pub database_url: String,
    pub auth: AuthServiceClient<Channel>,
    pub admin: AdminServiceClient<Channel>,
    pub clock: Clock,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    _keys: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The configuration tests run with: a fresh database, a new key, port 0,
/// and bcrypt at its lowest cost so tests stay fast (the default cost is
/// checked in the unit tests of `config`).
pub fn test_config(database_url: &str, keys: &tempfile::TempDir) -> Config {
    let mut config = Config::local(database_url, keys.path().join("signing.pem"));
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.database_pool_size = 4;
    config.bcrypt_cost = 4;
    config.forwarding_key = Some(gateway_key());
    config
}

/// The secret the test services share with "the gateway" of the tests.
pub const FORWARDED_SECRET: &str = "tests: 32 bytes or more of secret";

pub fn gateway_key() -> service_runtime::forwarded::ForwardingKey {
    service_runtime::forwarded::ForwardingKey::new(&FORWARDED_SECRET.to_owned().into()).unwrap()
}

/// `request` as the gateway sends it for a client at `ip`: the address
/// forwarded and signed.
pub fn from_gateway<T>(mut request: tonic::Request<T>, ip: &str) -> tonic::Request<T> {
    request
        .metadata_mut()
        .insert("x-forwarded-for", ip.parse().unwrap());
    gateway_key().sign_metadata(
        request.metadata_mut(),
        service_runtime::forwarded::unix_now(),
    );
    request
}

pub async fn spawn_app() -> TestApp {
    let database_url =
        postgres_kit::testing::fresh_database("auth", auth_service::db::MIGRATIONS).await;
    let keys = tempfile::tempdir().unwrap();
    spawn_with(test_config(&database_url, &keys), keys).await
}

pub async fn spawn_with(config: Config, keys: tempfile::TempDir) -> TestApp {
    spawn_with_clock(config, keys, Clock::manual(chrono::Utc::now())).await
}

/// A service on `clock`: races are tested on the system clock, where two
/// requests read different times, as they do in production.
pub async fn spawn_with_clock(config: Config, keys: tempfile::TempDir, clock: Clock) -> TestApp {
    let database_url = secrecy::ExposeSecret::expose_secret(&config.database_url).to_owned();
    let app = Application::build_with_clock(config, clock.clone())
        .await
        .expect("the service builds");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("the service accepts connections");
    // As a client (or a Kubernetes probe) would: wait until it is ready.
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let ready = eventually(std::time::Duration::from_secs(10), || {
        let mut health = health.clone();
        async move {
            let check = health.check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            });
            check.await.is_ok_and(|r| {
                r.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            })
        }
    })
    .await;
    assert!(ready, "the service becomes ready");
    TestApp {
        addr,
        database_url,
        auth: AuthServiceClient::new(channel.clone()),
        admin: AdminServiceClient::new(channel),
        clock,
        state,
        shutdown: Some(tx),
        _keys: keys,
    }
}

impl TestApp {
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        username: &str,
    ) -> Result<pb::User, tonic::Status> {
        self.auth
            .clone()
            .register(pb::RegisterRequest {
                email: email.into(),
                password: password.into(),
                username: username.into(),
                full_name: String::new(),
            })
            .await
            .map(|r| r.into_inner().user.expect("a user"))
    }

    pub async fn login_email(
        &self,
        email: &str,
        password: &str,
    ) -> Result<pb::TokenPair, tonic::Status> {
        self.login_as(email, password, None).await
    }

    /// Signs in from the client address `ip` (as the gateway states it).
    pub async fn login_as(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<pb::TokenPair, tonic::Status> {
        self.login_from_device(email, password, ip, "").await
    }

    /// Signs in from the client address `ip` presenting `device_token`.
    pub async fn login_from_device(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
        device_token: &str,
    ) -> Result<pb::TokenPair, tonic::Status> {
        let mut request = tonic::Request::new(pb::LoginRequest {
            email: email.into(),
            password: password.into(),
            device_token: device_token.into(),
            ..Default::default()
        });
        if let Some(ip) = ip {
            request = from_gateway(request, ip);
        }
        self.auth
            .clone()
            .login(request)
            .await
            .map(|r| r.into_inner().token_pair.expect("a token pair"))
    }

    /// Registers `email` and signs in; returns the access token.
    pub async fn signed_in(&self, email: &str) -> String {
        self.signed_in_pair(email).await.access_token
    }

    /// Registers `email` and signs in; returns the token pair.
    pub async fn signed_in_pair(&self, email: &str) -> pb::TokenPair {
        self.register(email, "correct horse battery", "")
            .await
            .unwrap();
        self.login_email(email, "correct horse battery")
            .await
            .unwrap()
    }

    /// A superuser's access token.
    pub async fn superuser(&self, email: &str) -> String {
        auth_service::admin::create_superuser(
            &self.state.pool,
            &self.state.hasher,
            email,
            None,
            "correct horse battery",
        )
        .await
        .unwrap();
        self.login_email(email, "correct horse battery")
            .await
            .unwrap()
            .access_token
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<pb::TokenPair, tonic::Status> {
        self.auth
            .clone()
            .refresh(pb::RefreshRequest {
                refresh_token: refresh_token.into(),
            })
            .await
            .map(|r| r.into_inner().token_pair.expect("a token pair"))
    }

    pub async fn get_me(&self, token: Option<&str>) -> Result<pb::User, tonic::Status> {
        let mut request = tonic::Request::new(pb::GetMeRequest {});
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        self.auth
            .clone()
            .get_me(request)
            .await
            .map(|r| r.into_inner().user.expect("a user"))
    }

    /// Runs `sql` returning one bigint.
    pub async fn count(&self, sql: &str) -> i64 {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn authorized<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub use service_runtime::testing::eventually;

/// The field named by the first `BadRequest` violation of `status`.
pub fn violated_field(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}
