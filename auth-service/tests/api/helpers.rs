//! A running auth-service per test, and typed helpers to call it.

use std::net::SocketAddr;

use auth_service::{AppState, Config};
use proto::auth::v1::{
    self as pb, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
};
use service_runtime::clock::Clock;
use tonic::transport::Channel;

/// A running service with its own database and a clock the test moves
/// (started through `testkit`).
pub struct TestApp {
    pub addr: SocketAddr,
    pub database_url: String,
    pub auth: AuthServiceClient<Channel>,
    pub admin: AdminServiceClient<Channel>,
    pub clock: Clock,
    pub state: AppState,
    /// Stops the service when dropped.
    pub stack: testkit::Stack,
    _keys: tempfile::TempDir,
}

/// The configuration tests run with (see `testkit::configs`), its signing
/// key in `keys`.
pub fn test_config(database_url: &str, keys: &tempfile::TempDir) -> Config {
    testkit::configs::auth(database_url, &keys.path().join("signing.pem"))
}

pub use testkit::fixtures::from_gateway;

pub async fn spawn_app() -> TestApp {
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    spawn_with(test_config(&database_url, &keys), keys).await
}

pub async fn spawn_with(config: Config, keys: tempfile::TempDir) -> TestApp {
    spawn_with_clock(config, keys, Clock::manual(chrono::Utc::now())).await
}

/// A service on `clock`: races are tested on the system clock, where two
/// requests read different times, as they do in production.
pub async fn spawn_with_clock(config: Config, keys: tempfile::TempDir, clock: Clock) -> TestApp {
    let stack = testkit::Stack::builder()
        .auth_config(config)
        .auth_clock(clock.clone())
        .start()
        .await
        .expect("the service starts and becomes ready");
    let channel = Channel::from_shared(stack.auth.url.clone())
        .unwrap()
        .connect()
        .await
        .expect("the service accepts connections");
    TestApp {
        addr: stack.auth.addr,
        database_url: stack.auth.database.url.clone(),
        auth: AuthServiceClient::new(channel.clone()),
        admin: AdminServiceClient::new(channel),
        clock,
        state: stack.auth.state.clone(),
        stack,
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
        self.register(email, testkit::PASSWORD, "").await.unwrap();
        self.login_email(email, testkit::PASSWORD).await.unwrap()
    }

    /// A superuser's access token.
    pub async fn superuser(&self, email: &str) -> String {
        auth_service::admin::create_superuser(
            &self.state.pool,
            &self.state.hasher,
            email,
            None,
            testkit::PASSWORD,
        )
        .await
        .unwrap();
        self.login_email(email, testkit::PASSWORD)
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
        self.stack.auth.database.count(sql).await
    }
}

pub use testkit::{authorized, eventually};

/// The field named by the first `BadRequest` violation of `status`.
pub fn violated_field(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}
