//! RFC 8725 §2 at the edge and behind it: every forged, altered or misused
//! token is 401 with `WWW-Authenticate` at the gateway, and UNAUTHENTICATED
//! when sent straight to the auth-service and to the workspace-service over
//! gRPC, while the genuine one passes everywhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, header};
use serde_json::{Value, json};

use proto::auth::v1::{GetMeRequest, RefreshRequest, auth_service_client::AuthServiceClient};
use proto::workspace::v1::{
    ListConversationsRequest, conversation_service_client::ConversationServiceClient,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::stack::{Stack, spawn_stack};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The claims of a real access token.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(key: &EncodingKey, kid: &str, algorithm: Algorithm, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn status_with(stack: &Stack, token: &str) -> (u16, bool) {
    let response = stack
        .call(Method::GET, "/v1/auth/me", Some(token), None)
        .await;
    let challenged = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .is_some_and(|v| v.to_str().unwrap().contains("invalid_token"));
    (response.status().as_u16(), challenged)
}

/// The services called directly, bypassing the gateway.
struct Direct {
    auth: AuthServiceClient<Channel>,
    workspace: ConversationServiceClient<Channel>,
}

impl Direct {
    async fn connect(stack: &Stack) -> Self {
        let channel = |url: &str| Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
        Self {
            auth: AuthServiceClient::new(channel(&stack.auth_url)),
            workspace: ConversationServiceClient::new(channel(&stack.workspace_url)),
        }
    }

    /// The codes of GetMe (auth-service) and ListConversations
    /// (workspace-service) with `token`.
    async fn codes_with(&self, token: &str) -> (Code, Code) {
        fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
            let mut request = tonic::Request::new(message);
            if let Ok(value) = format!("Bearer {token}").parse() {
                request.metadata_mut().insert("authorization", value);
            }
            request
        }
        let me = self
            .auth
            .clone()
            .get_me(bearer(GetMeRequest {}, token))
            .await;
        let list = self
            .workspace
            .clone()
            .list_conversations(bearer(ListConversationsRequest::default(), token))
            .await;
        let code = |result: Result<(), tonic::Status>| result.err().map_or(Code::Ok, |s| s.code());
        (code(me.map(drop)), code(list.map(drop)))
    }
}

#[tokio::test]
async fn every_rfc_8725_attack_is_refused_at_the_edge_and_by_each_service() {
    let stack = spawn_stack().await;
    let pair = stack.signed_in_pair("ada@example.com").await;
    let genuine = pair["access_token"].as_str().unwrap();
    let claims = claims_of(genuine);
    let real =
        auth_service::keys::SigningKeys::load(&stack.stack.path().join("signing.pem"), false)
            .unwrap();
    let other =
        auth_service::keys::SigningKeys::from_pem(&auth_service::keys::generate_pem().unwrap())
            .unwrap();
    let jwks: Value = stack
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();

    // The genuine token, and the same claims re-signed with the real key,
    // pass: the forgeries below differ from it in one thing each.
    let direct = Direct::connect(&stack).await;
    assert_eq!(status_with(&stack, genuine).await, (200, false));
    assert_eq!(direct.codes_with(genuine).await, (Code::Ok, Code::Ok));
    let resigned = sign(real.encoding_key(), real.kid(), Algorithm::EdDSA, &claims);
    assert_eq!(status_with(&stack, &resigned).await, (200, false));
    assert_eq!(direct.codes_with(&resigned).await, (Code::Ok, Code::Ok));

    let with = |field: &str, value: Value| {
        let mut changed = claims.clone();
        changed[field] = value;
        changed
    };
    let [head, _, signature]: [&str; 3] =
        genuine.split('.').collect::<Vec<_>>().try_into().unwrap();
    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT", "kid": real.kid()})),
                b64(&claims)
            ),
        ),
        (
            "HS256 keyed with the public key",
            sign(
                &EncodingKey::from_secret(public_x.as_bytes()),
                real.kid(),
                Algorithm::HS256,
                &claims,
            ),
        ),
        (
            "another key under the real kid",
            sign(other.encoding_key(), real.kid(), Algorithm::EdDSA, &claims),
        ),
        (
            "an unknown kid",
            sign(other.encoding_key(), other.kid(), Algorithm::EdDSA, &claims),
        ),
        (
            "expired",
            sign(
                real.encoding_key(),
                real.kid(),
                Algorithm::EdDSA,
                &with("exp", json!(now() - 3600)),
            ),
        ),
        (
            "not yet valid",
            sign(
                real.encoding_key(),
                real.kid(),
                Algorithm::EdDSA,
                &with("nbf", json!(now() + 3600)),
            ),
        ),
        (
            "wrong issuer",
            sign(
                real.encoding_key(),
                real.kid(),
                Algorithm::EdDSA,
                &with("iss", json!("someone-else")),
            ),
        ),
        (
            "wrong audience",
            sign(
                real.encoding_key(),
                real.kid(),
                Algorithm::EdDSA,
                &with("aud", json!("another-api")),
            ),
        ),
        (
            "tampered payload",
            format!(
                "{head}.{}.{signature}",
                b64(&with("is_superuser", json!(true)))
            ),
        ),
        (
            "the refresh token",
            pair["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (name, token) in attacks {
        assert_eq!(status_with(&stack, &token).await, (401, true), "{name}");
        assert_eq!(
            direct.codes_with(&token).await,
            (Code::Unauthenticated, Code::Unauthenticated),
            "{name}, called directly"
        );
    }

    // The other way round: the access token is no refresh token.
    let refresh = stack
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": genuine})),
        )
        .await;
    assert_eq!(refresh.status(), 401);
    let refreshed = direct
        .auth
        .clone()
        .refresh(RefreshRequest {
            refresh_token: genuine.to_owned(),
        })
        .await;
    assert_eq!(refreshed.unwrap_err().code(), Code::Unauthenticated);
}
