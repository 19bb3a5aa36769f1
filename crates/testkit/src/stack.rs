//! [`Stack`]: any subset of the three services, running in this process.
//!
//! The auth-service always runs (the others need its keys); the
//! workspace-service runs when asked for, and the gateway (in front of
//! both) when asked for. Each is configured by [`crate::configs`] with a
//! fresh database, then by the test's closure; or, for the dev stack, from
//! a configuration given whole. Either way the services are wired to each
//! other (the workspace-service and the gateway reach this auth-service,
//! the gateway this workspace-service) and waited for until they are ready.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::auth::v1::admin_service_client::AdminServiceClient;
use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::auth::v1::{LoginRequest, RegisterRequest};
use proto::workspace::v1::conversation_service_client::ConversationServiceClient;
use proto::workspace::v1::file_service_client::FileServiceClient;
use proto::workspace::v1::task_service_client::TaskServiceClient;
use proto::workspace::v1::worker_service_client::WorkerServiceClient;
use secrecy::ExposeSecret;
use service_runtime::clock::Clock;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::configs;
use crate::database::{Database, Schema};
use crate::fixtures::PASSWORD;
use crate::running::{Running, build_again, grpc_ready};

/// How long a restarted service may wait for its old port.
const PORT_FREE_DEADLINE: Duration = Duration::from_secs(15);

/// A change to a configuration, applied after the defaults.
type Adjust<C> = Box<dyn FnOnce(&mut C) + Send>;

/// One service of the builder: its configuration given whole (the dev
/// stack), or the test defaults; then the changes.
struct Part<C> {
    given: Option<C>,
    adjust: Vec<Adjust<C>>,
}

impl<C> Default for Part<C> {
    fn default() -> Self {
        Self {
            given: None,
            adjust: Vec::new(),
        }
    }
}

impl<C> Part<C> {
    fn finish(self, defaults: impl FnOnce() -> C) -> C {
        let mut config = self.given.unwrap_or_else(defaults);
        for adjust in self.adjust {
            adjust(&mut config);
        }
        config
    }
}

/// Which services to start, and how; see [`Stack::builder`].
pub struct StackBuilder {
    auth: Part<auth_service::Config>,
    workspace: Option<Part<workspace_service::Config>>,
    gateway: Option<Part<gateway::Config>>,
    auth_clock: Clock,
    workspace_clock: Clock,
}

impl StackBuilder {
    /// Changes the auth-service's configuration.
    pub fn auth(mut self, adjust: impl FnOnce(&mut auth_service::Config) + Send + 'static) -> Self {
        self.auth.adjust.push(Box::new(adjust));
        self
    }

    /// Runs the auth-service with `config` rather than the test defaults.
    pub fn auth_config(mut self, config: auth_service::Config) -> Self {
        self.auth.given = Some(config);
        self
    }

    /// The auth-service's clock (default: the system's).
    pub fn auth_clock(mut self, clock: Clock) -> Self {
        self.auth_clock = clock;
        self
    }

    /// Runs the workspace-service too, its configuration changed.
    pub fn workspace(
        mut self,
        adjust: impl FnOnce(&mut workspace_service::Config) + Send + 'static,
    ) -> Self {
        self.workspace
            .get_or_insert_with(Part::default)
            .adjust
            .push(Box::new(adjust));
        self
    }

    /// Runs the workspace-service with `config` (its auth-service URL is
    /// set to this stack's).
    pub fn workspace_config(mut self, config: workspace_service::Config) -> Self {
        self.workspace.get_or_insert_with(Part::default).given = Some(config);
        self
    }

    /// The workspace-service's clock (default: the system's).
    pub fn workspace_clock(mut self, clock: Clock) -> Self {
        self.workspace_clock = clock;
        self
    }

    /// Runs the gateway too (and so the workspace-service), its
    /// configuration changed.
    pub fn gateway(mut self, adjust: impl FnOnce(&mut gateway::Config) + Send + 'static) -> Self {
        self.workspace.get_or_insert_with(Part::default);
        self.gateway
            .get_or_insert_with(Part::default)
            .adjust
            .push(Box::new(adjust));
        self
    }

    /// Runs the gateway with `config` (its service URLs set to this
    /// stack's).
    pub fn gateway_config(mut self, config: gateway::Config) -> Self {
        self.workspace.get_or_insert_with(Part::default);
        self.gateway.get_or_insert_with(Part::default).given = Some(config);
        self
    }

    /// Starts the services, each once the one before is ready.
    pub async fn start(self) -> anyhow::Result<Stack> {
        service_runtime::tls::install_crypto_provider();
        let dir = tempfile::tempdir()?;
        // A configuration given whole names its own database.
        let auth_database = match self.auth.given {
            Some(_) => Database::at(""),
            None => Database::fresh(Schema::Auth).await,
        };
        let key = dir.path().join("signing.pem");
        let auth_config = self.auth.finish(|| configs::auth(&auth_database.url, &key));
        // A first start fails at once: its port is any free one, so only a
        // real error (a bad setting, no database) can stop it.
        let auth = Auth::start(auth_config, self.auth_clock, Duration::ZERO).await?;
        let workspace = match self.workspace {
            Some(part) => {
                let database = match part.given {
                    Some(_) => Database::at(""),
                    None => Database::fresh(Schema::Workspace).await,
                };
                let files = dir.path().join("files");
                let mut config =
                    part.finish(|| configs::workspace(&database.url, &auth.url, &files));
                config.auth_service_url = auth.url.clone();
                Some(Workspace::start(config, self.workspace_clock, Duration::ZERO).await?)
            }
            None => None,
        };
        let gateway = match (self.gateway, &workspace) {
            (Some(part), Some(workspace)) => {
                let mut config = part.finish(|| configs::gateway(&auth.url, &workspace.url));
                config.auth_service_url = auth.url.clone();
                config.workspace_service_url = workspace.url.clone();
                Some(Gateway::start(config, Duration::ZERO).await?)
            }
            _ => None,
        };
        Ok(Stack {
            auth,
            workspace,
            gateway,
            dir,
        })
    }
}

/// The running services; each stops when this is dropped.
pub struct Stack {
    /// The auth-service.
    pub auth: Auth,
    workspace: Option<Workspace>,
    gateway: Option<Gateway>,
    /// The stack's own files: the signing key (`signing.pem`) and stored
    /// files (`files/`) under the test defaults.
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// The auth-service alone, under the test defaults and the system
    /// clock, until the builder is told more.
    pub fn builder() -> StackBuilder {
        StackBuilder {
            auth: Part::default(),
            workspace: None,
            gateway: None,
            auth_clock: Clock::system(),
            workspace_clock: Clock::system(),
        }
    }

    /// The workspace-service.
    ///
    /// # Panics
    /// If the stack was built without it.
    pub fn workspace(&self) -> &Workspace {
        self.workspace
            .as_ref()
            .expect("the stack was built without the workspace-service")
    }

    /// The workspace-service, to stop or restart it.
    pub fn workspace_mut(&mut self) -> &mut Workspace {
        self.workspace
            .as_mut()
            .expect("the stack was built without the workspace-service")
    }

    /// The gateway.
    ///
    /// # Panics
    /// If the stack was built without it.
    pub fn gateway(&self) -> &Gateway {
        self.gateway
            .as_ref()
            .expect("the stack was built without the gateway")
    }

    /// The gateway, to stop or restart it.
    pub fn gateway_mut(&mut self) -> &mut Gateway {
        self.gateway
            .as_mut()
            .expect("the stack was built without the gateway")
    }

    /// Where the stack keeps its files.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Registers `email` (with [`PASSWORD`]) and signs in.
    pub async fn user(&self, email: &str) -> User {
        self.auth
            .client()
            .register(RegisterRequest {
                email: email.into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("registering {email}: {e:?}"));
        self.sign_in(email).await
    }

    /// Signs `email` in (registered before, with [`PASSWORD`]).
    pub async fn sign_in(&self, email: &str) -> User {
        let pair = self
            .auth
            .client()
            .login(LoginRequest {
                email: email.into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("signing in {email}: {e:?}"))
            .into_inner()
            .token_pair
            .expect("a token pair");
        let id = pair
            .user
            .as_ref()
            .and_then(|u| u.user_id.parse().ok())
            .expect("the user's id");
        User {
            id,
            email: email.to_owned(),
            token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }

    /// A superuser made as the administrators' command makes one, signed in.
    pub async fn superuser(&self, email: &str) -> User {
        auth_service::admin::create_superuser(
            &self.auth.state.pool,
            &self.auth.state.hasher,
            email,
            None,
            PASSWORD,
        )
        .await
        .unwrap_or_else(|e| panic!("creating the superuser {email}: {e:#}"));
        self.sign_in(email).await
    }

    /// Waits until a service ends by itself; its name and how it ended.
    pub async fn first_exit(&mut self) -> (&'static str, anyhow::Result<()>) {
        let workspace = async {
            match self.workspace.as_mut() {
                Some(w) => w.running.finished().await,
                None => std::future::pending().await,
            }
        };
        let gateway = async {
            match self.gateway.as_mut() {
                Some(g) => g.running.finished().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ended = self.auth.running.finished() => ("auth-service", ended),
            ended = workspace => ("workspace-service", ended),
            ended = gateway => ("gateway", ended),
        }
    }

    /// Stops the gateway, then the workspace-service, then the
    /// auth-service, each waited for.
    pub async fn stop(mut self) {
        if let Some(gateway) = self.gateway.as_mut() {
            let _ = gateway.running.stop().await;
        }
        if let Some(workspace) = self.workspace.as_mut() {
            let _ = workspace.running.stop().await;
        }
        let _ = self.auth.running.stop().await;
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    /// An access token.
    pub token: String,
    pub refresh_token: String,
}

/// A channel that connects on first use.
fn lazy_channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .expect("a valid URL")
        .connect_lazy()
}

/// The running auth-service.
pub struct Auth {
    pub addr: SocketAddr,
    /// `http://addr`.
    pub url: String,
    pub metrics_addr: SocketAddr,
    pub state: auth_service::AppState,
    /// The configuration it runs with (its addresses fixed, to restart on).
    pub config: auth_service::Config,
    pub clock: Clock,
    pub database: Database,
    running: Running,
}

impl Auth {
    /// Builds and starts it; a build that fails is tried again for
    /// `patience` (a restart's port may still be held).
    async fn start(
        mut config: auth_service::Config,
        clock: Clock,
        patience: Duration,
    ) -> anyhow::Result<Self> {
        let app = build_again(
            || auth_service::Application::build_with_clock(config.clone(), clock.clone()),
            patience,
        )
        .await?;
        let (addr, metrics_addr) = (app.local_addr(), app.metrics_addr());
        config.listen_addr = addr;
        config.metrics_addr = metrics_addr;
        let state = app.state().clone();
        let running = Running::spawn(|stopped| app.run_until(stopped));
        grpc_ready("auth-service", addr).await?;
        Ok(Self {
            addr,
            url: format!("http://{addr}"),
            metrics_addr,
            state,
            database: Database::at(config.database_url.expose_secret()),
            config,
            clock,
            running,
        })
    }

    /// A client of `auth.v1.AuthService`.
    pub fn client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(lazy_channel(&self.url))
    }

    /// A client of `auth.v1.AdminService`.
    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(lazy_channel(&self.url))
    }

    /// Stops it (gracefully) and waits until it has.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.running.stop().await
    }

    /// Starts it again on the same addresses and data (after [`Auth::stop`],
    /// or while running: then it is stopped first).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.running.stop().await;
        *self = Self::start(self.config.clone(), self.clock.clone(), PORT_FREE_DEADLINE).await?;
        Ok(())
    }
}

/// The running workspace-service.
pub struct Workspace {
    pub addr: SocketAddr,
    /// `http://addr`.
    pub url: String,
    pub metrics_addr: SocketAddr,
    pub state: workspace_service::AppState,
    /// The configuration it runs with (its addresses fixed, to restart on).
    pub config: workspace_service::Config,
    pub clock: Clock,
    pub database: Database,
    /// Where its files are stored (local storage).
    pub storage_dir: Option<PathBuf>,
    running: Running,
}

impl Workspace {
    /// Builds and starts it; a build that fails is tried again for
    /// `patience` (a restart's port may still be held).
    async fn start(
        mut config: workspace_service::Config,
        clock: Clock,
        patience: Duration,
    ) -> anyhow::Result<Self> {
        let app = build_again(
            || workspace_service::Application::build_with_clock(config.clone(), clock.clone()),
            patience,
        )
        .await?;
        let (addr, metrics_addr) = (app.local_addr(), app.metrics_addr());
        config.listen_addr = addr;
        config.metrics_addr = metrics_addr;
        let state = app.state().clone();
        let running = Running::spawn(|stopped| app.run_until(stopped));
        grpc_ready("workspace-service", addr).await?;
        let storage_dir = match &config.storage {
            workspace_service::config::Storage::Local(dir) => Some(dir.clone()),
            workspace_service::config::Storage::S3(_) => None,
        };
        Ok(Self {
            addr,
            url: format!("http://{addr}"),
            metrics_addr,
            state,
            database: Database::at(config.database_url.expose_secret()),
            storage_dir,
            config,
            clock,
            running,
        })
    }

    /// A client of `workspace.v1.ConversationService`.
    pub fn conversations(&self) -> ConversationServiceClient<Channel> {
        ConversationServiceClient::new(lazy_channel(&self.url))
    }

    /// A client of `workspace.v1.FileService`.
    pub fn files(&self) -> FileServiceClient<Channel> {
        FileServiceClient::new(lazy_channel(&self.url))
    }

    /// A client of `workspace.v1.TaskService`.
    pub fn tasks(&self) -> TaskServiceClient<Channel> {
        TaskServiceClient::new(lazy_channel(&self.url))
    }

    /// A client of `workspace.v1.WorkerService`.
    pub fn worker(&self) -> WorkerServiceClient<Channel> {
        WorkerServiceClient::new(lazy_channel(&self.url))
    }

    /// Stops it (gracefully: its streams end first) and waits until it has.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.running.stop().await
    }

    /// Asks it to stop, without waiting: a test watches what its clients
    /// see meanwhile.
    pub fn signal_stop(&mut self) {
        self.running.signal_stop();
    }

    /// Starts it again on the same addresses and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.running.stop().await;
        *self = Self::start(self.config.clone(), self.clock.clone(), PORT_FREE_DEADLINE).await?;
        Ok(())
    }
}

/// The running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    /// `http://addr`: where HTTP requests go.
    pub base: String,
    /// The configuration it runs with (its address fixed, to restart on).
    pub config: gateway::Config,
    running: Running,
}

impl Gateway {
    /// Builds and starts it; a build that fails is tried again for
    /// `patience` (a restart's port may still be held).
    async fn start(mut config: gateway::Config, patience: Duration) -> anyhow::Result<Self> {
        let app = build_again(|| gateway::Application::build(config.clone()), patience).await?;
        let addr = app.local_addr();
        config.listen_addr = addr;
        let running = Running::spawn(|stopped| app.run_until(stopped));
        Ok(Self {
            addr,
            base: format!("http://{addr}"),
            config,
            running,
        })
    }

    /// Stops it (gracefully) and waits until it has.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.running.stop().await
    }

    /// Starts it again on the same address.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.running.stop().await;
        *self = Self::start(self.config.clone(), PORT_FREE_DEADLINE).await?;
        Ok(())
    }
}
