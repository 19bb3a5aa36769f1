//! A stand-in OpenID Connect provider on loopback, for tests: it serves a
//! discovery document and a JWKS (one Ed25519 key) and signs ID tokens.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::keys::SigningKeys;

/// A running fake provider; stops when dropped.
pub struct FakeOidc {
    issuer: String,
    keys: SigningKeys,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOidc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOidc {
    /// Starts a provider on `addr` (port 0: any free port).
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let keys = SigningKeys::from_pem(&crate::keys::generate_pem()?)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let issuer = format!("http://{}", listener.local_addr()?);
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/keys"),
            "id_token_signing_alg_values_supported": ["EdDSA"],
        });
        let jwks = json!({"keys": keys.jwks().iter().map(|k| json!({
            "kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg, "use": k.r#use,
        })).collect::<Vec<_>>()});
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(discovery) }),
            )
            .route("/keys", get(move || async move { axum::Json(jwks) }));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { issuer, keys, task })
    }

    /// Its issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Standard claims for `sub` and `audience`, valid for an hour from now.
    pub fn claims(&self, sub: &str, audience: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.issuer, "aud": audience, "sub": sub,
            "iat": now, "exp": now + 3600,
        })
    }

    /// `claims` signed with its key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid().to_owned());
        jsonwebtoken::encode(&header, claims, self.keys.encoding_key()).expect("signs")
    }

    /// Its key id.
    pub fn kid(&self) -> &str {
        self.keys.kid()
    }
}
