//! Boots auth-service, workspace-service and the gateway in-process.

use reqwest::{Client, Method, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use service_runtime::testing::eventually;

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery";

pub struct Stack {
    pub base: String,
    pub auth_url: String,
    pub workspace_url: String,
    /// The auth-service's database URL.
    pub auth_db: String,
    /// Stops the workspace-service (gracefully: its streams end first).
    pub stop_workspace: Option<oneshot::Sender<()>>,
    /// The workspace-service's configuration, to start it again.
    pub workspace_config: workspace_service::Config,
    pub http: Client,
    _stops: Vec<oneshot::Sender<()>>,
    /// Holds the auth-service's signing key, `signing.pem`.
    pub keys: tempfile::TempDir,
    /// The OpenID Connect provider `corp` (client id [`OIDC_CLIENT_ID`]).
    pub oidc: auth_service::oidc::fake::FakeOidc,
}

/// The client id of the stack's OpenID Connect provider `corp`.
pub const OIDC_CLIENT_ID: &str = "backbone-web";

fn stop_signal() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

pub async fn spawn_stack() -> Stack {
    spawn_stack_with(|_| {}).await
}

/// A stack whose gateway configuration `adjust` changes.
pub async fn spawn_stack_with(adjust: impl FnOnce(&mut gateway::Config)) -> Stack {
    spawn_stack_configured(|_| {}, adjust).await
}

/// A stack whose workspace-service and gateway configurations are adjusted.
pub async fn spawn_stack_configured(
    adjust_workspace: impl FnOnce(&mut workspace_service::Config),
    adjust: impl FnOnce(&mut gateway::Config),
) -> Stack {
    let auth_db = postgres_kit::testing::fresh_database("auth", auth_service::db::MIGRATIONS).await;
    let workspace_db =
        postgres_kit::testing::fresh_database("workspace", workspace_service::db::MIGRATIONS).await;
    let keys = tempfile::tempdir().unwrap();
    let mut stops = Vec::new();

    let oidc = auth_service::oidc::fake::FakeOidc::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut auth = auth_service::Config::local(&auth_db, keys.path().join("signing.pem"));
    auth.oidc_providers = vec![auth_service::oidc::OidcProviderConfig {
        name: "corp".into(),
        issuer: oidc.issuer().to_owned(),
        client_id: OIDC_CLIENT_ID.into(),
        audiences: vec![],
        require_nonce: true,
    }];
    auth.listen_addr = "127.0.0.1:0".parse().unwrap();
    auth.bcrypt_cost = 4;
    auth.database_pool_size = 4;
    let forwarding_key = service_runtime::forwarded::ForwardingKey::random();
    auth.forwarding_key = Some(forwarding_key.clone());
    let auth = auth_service::Application::build(auth).await.unwrap();
    let auth_url = format!("http://{}", auth.local_addr());
    let (stop, stopped) = stop_signal();
    stops.push(stop);
    tokio::spawn(auth.run_until(stopped));

    let mut workspace =
        workspace_service::Config::local(&workspace_db, &auth_url, &keys.path().join("files"));
    workspace.listen_addr = "127.0.0.1:0".parse().unwrap();
    workspace.database_pool_size = 4;
    adjust_workspace(&mut workspace);
    let mut workspace_config = workspace.clone();
    let workspace = workspace_service::Application::build(workspace)
        .await
        .unwrap();
    workspace_config.listen_addr = workspace.local_addr();
    let workspace_url = format!("http://{}", workspace.local_addr());
    let (stop_workspace, stopped) = stop_signal();
    tokio::spawn(workspace.run_until(stopped));

    let mut config = gateway::Config::local(&auth_url, &workspace_url.clone());
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.forwarding_key = Some(forwarding_key);
    adjust(&mut config);
    let gateway = gateway::Application::build(config).await.unwrap();
    let base = format!("http://{}", gateway.local_addr());
    let (stop, stopped) = stop_signal();
    stops.push(stop);
    tokio::spawn(gateway.run_until(stopped));

    Stack {
        base,
        auth_url,
        workspace_url,
        auth_db,
        stop_workspace: Some(stop_workspace),
        workspace_config,
        http: Client::new(),
        _stops: stops,
        keys,
        oidc,
    }
}

impl Stack {
    /// Starts the workspace-service again on its address (after
    /// `stop_workspace`), waiting until the port is free.
    pub async fn restart_workspace(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let app = loop {
            match workspace_service::Application::build(self.workspace_config.clone()).await {
                Ok(app) => break app,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("the workspace-service does not start again: {e:#}")
                }
                // The old server may still hold the port for a moment.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        let (stop, stopped) = stop_signal();
        tokio::spawn(app.run_until(stopped));
        self.stop_workspace = Some(stop);
    }

    /// Sends `body` as JSON with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the gateway answers")
    }

    /// Uploads `body` as the raw body of `POST /v1/files?filename=`.
    pub async fn upload(
        &self,
        token: &str,
        filename: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.http
            .post(format!("{}/v1/files", self.base))
            .bearer_auth(token)
            .query(&[("filename", filename)])
            .body(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// Registers and signs in; returns the token pair.
    pub async fn signed_in_pair(&self, email: &str) -> Value {
        let response = self
            .call(
                Method::POST,
                "/v1/auth/register",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        self.login_pair(email).await
    }

    /// Signs in an already registered user; returns a new token pair.
    pub async fn login_pair(&self, email: &str) -> Value {
        let response = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Signs in an already registered user; returns a new access token.
    pub async fn logged_in(&self, email: &str) -> String {
        let pair = self.login_pair(email).await;
        pair["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a task with `query`; returns its id.
    pub async fn create_task(&self, token: &str, query: &str) -> String {
        let response = self
            .call(
                Method::POST,
                "/v1/tasks",
                Some(token),
                Some(json!({"query": query})),
            )
            .await;
        assert_eq!(response.status(), 200);
        let created: Value = response.json().await.unwrap();
        created["task"]["task_id"].as_str().unwrap().to_owned()
    }

    /// Registers and signs in; returns the access token.
    pub async fn signed_in(&self, email: &str) -> String {
        let pair = self.signed_in_pair(email).await;
        pair["access_token"].as_str().unwrap().to_owned()
    }
}

/// The AIP-193 error body of `response`, after checking its status.
pub async fn error_body(response: Response, status: u16, grpc: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], status, "{body}");
    assert_eq!(body["error"]["status"], grpc, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Reads Server-Sent Events from a response body.
pub struct Events {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Events {
    pub fn new(response: Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event's name (`message` unless named) and JSON data, or
    /// `None` when the stream ends; at most 10 s.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut name = "message".to_owned();
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(value) = line.strip_prefix("event:") {
                            name = value.trim().to_owned();
                        } else if let Some(value) = line.strip_prefix("data:") {
                            data.push_str(value.trim_start());
                        }
                    }
                    if data.is_empty() {
                        continue; // a keep-alive comment
                    }
                    return Some((name, serde_json::from_str(&data).unwrap()));
                }
                let chunk = futures::StreamExt::next(&mut self.body).await?.ok()?;
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("an event or the end within 10 s")
    }
}
