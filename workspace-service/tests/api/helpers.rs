//! An auth-service and a workspace-service per test, and typed helpers.

use proto::auth::v1::{LoginRequest, RegisterRequest, auth_service_client::AuthServiceClient};
use proto::workspace::v1::{self as pb, conversation_service_client::ConversationServiceClient};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use uuid::Uuid;

/// Both services, running.
pub struct TestStack {
    pub workspace_database_url: String,
    pub auth: AuthServiceClient<Channel>,
    pub conversations: ConversationServiceClient<Channel>,
    _stops: Vec<oneshot::Sender<()>>,
    _keys: tempfile::TempDir,
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("the service accepts connections")
}

pub async fn spawn_stack() -> TestStack {
    let auth_db = postgres_kit::testing::fresh_database("auth", auth_service::db::MIGRATIONS).await;
    let workspace_db =
        postgres_kit::testing::fresh_database("workspace", workspace_service::db::MIGRATIONS).await;
    let keys = tempfile::tempdir().unwrap();

    let mut auth_config = auth_service::Config::local(&auth_db, keys.path().join("signing.pem"));
    auth_config.listen_addr = "127.0.0.1:0".parse().unwrap();
    auth_config.bcrypt_cost = 4;
    auth_config.database_pool_size = 4;
    let auth_app = auth_service::Application::build(auth_config).await.unwrap();
    let auth_addr = auth_app.local_addr();
    let (auth_stop, auth_stopped) = oneshot::channel::<()>();
    tokio::spawn(auth_app.run_until(async {
        let _ = auth_stopped.await;
    }));

    let mut config =
        workspace_service::Config::local(&workspace_db, &format!("http://{auth_addr}"));
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.database_pool_size = 4;
    let app = workspace_service::Application::build(config).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    TestStack {
        workspace_database_url: workspace_db,
        auth: AuthServiceClient::new(channel(auth_addr).await),
        conversations: ConversationServiceClient::new(channel(addr).await),
        _stops: vec![auth_stop, stop],
        _keys: keys,
    }
}

/// A signed-in user.
pub struct User {
    pub id: Uuid,
    pub token: String,
}

impl TestStack {
    pub async fn user(&self, email: &str) -> User {
        let mut auth = self.auth.clone();
        auth.register(RegisterRequest {
            email: email.into(),
            password: "correct horse battery".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let pair = auth
            .login(LoginRequest {
                email: email.into(),
                password: "correct horse battery".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .token_pair
            .unwrap();
        User {
            id: pair.user.unwrap().user_id.parse().unwrap(),
            token: pair.access_token,
        }
    }

    pub async fn create_conversation(
        &self,
        token: &str,
        title: &str,
        file_ids: &[Uuid],
    ) -> Result<pb::Conversation, tonic::Status> {
        let request = authorized(
            token,
            pb::CreateConversationRequest {
                title: title.into(),
                file_ids: file_ids.iter().map(Uuid::to_string).collect(),
            },
        );
        self.conversations
            .clone()
            .create_conversation(request)
            .await
            .map(|r| r.into_inner().conversation.unwrap())
    }

    pub async fn list_conversations(
        &self,
        token: &str,
        request: pb::ListConversationsRequest,
    ) -> Result<pb::ListConversationsResponse, tonic::Status> {
        self.conversations
            .clone()
            .list_conversations(authorized(token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    /// A file row of `user_id`, written directly (uploads are another RPC).
    pub async fn insert_file(&self, user_id: Uuid) -> Uuid {
        let id = Uuid::new_v4();
        let (client, connection) =
            tokio_postgres::connect(&self.workspace_database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client
            .execute(
                "INSERT INTO files (id, user_id, filename, mime_type, size_bytes, md5, sha256) \
                 VALUES ($1::text::uuid, $2::text::uuid, 'data.csv', 'text/csv', 3, 'md5', 'sha')",
                &[&id.to_string(), &user_id.to_string()],
            )
            .await
            .unwrap();
        id
    }
}

pub fn authorized<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
