//! Boots auth-service, workspace-service and the gateway in-process.

use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

pub use service_runtime::testing::eventually;

/// The password of every test user.
pub const PASSWORD: &str = testkit::PASSWORD;

pub struct Stack {
    pub base: String,
    pub auth_url: String,
    pub workspace_url: String,
    /// The auth-service's database URL.
    pub auth_db: String,
    pub http: Client,
    /// The OpenID Connect provider `corp` (client id [`OIDC_CLIENT_ID`]).
    pub oidc: auth_service::oidc::fake::FakeOidc,
    /// The services (started through `testkit`); they stop when dropped.
    pub stack: testkit::Stack,
}

/// The client id of the stack's OpenID Connect provider `corp`.
pub const OIDC_CLIENT_ID: &str = "backbone-web";

pub async fn spawn_stack() -> Stack {
    spawn_stack_with(|_| {}).await
}

/// A stack whose gateway configuration `adjust` changes.
pub async fn spawn_stack_with(adjust: impl FnOnce(&mut gateway::Config) + Send + 'static) -> Stack {
    spawn_stack_configured(|_| {}, adjust).await
}

/// A stack whose workspace-service and gateway configurations are adjusted.
pub async fn spawn_stack_configured(
    adjust_workspace: impl FnOnce(&mut workspace_service::Config) + Send + 'static,
    adjust: impl FnOnce(&mut gateway::Config) + Send + 'static,
) -> Stack {
    let oidc = auth_service::oidc::fake::FakeOidc::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let issuer = oidc.issuer().to_owned();
    let stack = testkit::Stack::builder()
        .auth(move |auth| {
            auth.oidc_providers = vec![auth_service::oidc::OidcProviderConfig {
                name: "corp".into(),
                issuer,
                client_id: OIDC_CLIENT_ID.into(),
                audiences: vec![],
                require_nonce: true,
            }];
        })
        .workspace(adjust_workspace)
        .gateway(adjust)
        .start()
        .await
        .expect("the stack starts and becomes ready");
    Stack {
        base: stack.gateway().base.clone(),
        auth_url: stack.auth.url.clone(),
        workspace_url: stack.workspace().url.clone(),
        auth_db: stack.auth.database.url.clone(),
        http: Client::new(),
        oidc,
        stack,
    }
}

impl Stack {
    /// Asks the workspace-service to stop (gracefully: its streams end
    /// first), without waiting.
    pub fn stop_workspace(&mut self) {
        self.stack.workspace_mut().signal_stop();
    }

    /// Starts the workspace-service again on its address (after
    /// [`Stack::stop_workspace`]).
    pub async fn restart_workspace(&mut self) {
        self.stack
            .workspace_mut()
            .restart()
            .await
            .expect("the workspace-service starts again");
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
