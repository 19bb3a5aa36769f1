//! A stand-in OpenID Connect provider on loopback, for tests: it serves a
//! discovery document and a JWKS and signs ID tokens with any of three keys:
//! Ed25519 (made at start), RS256 published as Entra ID publishes its keys
//! (no `alg`, with `x5t`), and ES256 with its `alg`. The RSA and EC keys are
//! test-only fixtures (`fixtures/`).

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::keys::SigningKeys;

/// A key the fake provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519 (`EdDSA`).
    Ed25519,
    /// RSA, as Entra ID (Azure AD) publishes it.
    EntraRs256,
    /// ECDSA P-256.
    Es256,
}

const RSA_PEM: &[u8] = include_bytes!("fixtures/entra-rs256.pem");
const RSA_JWK: &str = include_str!("fixtures/entra-rs256.jwk.json");
const EC_PEM: &[u8] = include_bytes!("fixtures/es256.pem");
const EC_JWK: &str = include_str!("fixtures/es256.jwk.json");

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

fn jwk_of(text: &str) -> Value {
    serde_json::from_str(text).expect("the fixture is JSON")
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
            "id_token_signing_alg_values_supported": ["EdDSA", "RS256", "ES256"],
        });
        let mut published: Vec<Value> = keys
            .jwks()
            .iter()
            .map(|k| {
                json!({
                    "kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg, "use": k.r#use,
                })
            })
            .collect();
        published.push(jwk_of(RSA_JWK));
        published.push(jwk_of(EC_JWK));
        let jwks = json!({ "keys": published });
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

    /// `claims` signed with its Ed25519 key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(KeyKind::Ed25519, claims)
    }

    /// `claims` signed with the key of `kind`.
    pub fn sign_with(&self, kind: KeyKind, claims: &Value) -> String {
        let (header, key) = match kind {
            KeyKind::Ed25519 => {
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(self.keys.kid().to_owned());
                return jsonwebtoken::encode(&header, claims, self.keys.encoding_key())
                    .expect("signs");
            }
            KeyKind::EntraRs256 => {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some("entra-test-key".to_owned());
                header.x5t = Some("entra-test-key".to_owned());
                (
                    header,
                    EncodingKey::from_rsa_pem(RSA_PEM).expect("the fixture is a key"),
                )
            }
            KeyKind::Es256 => {
                let mut header = Header::new(Algorithm::ES256);
                header.kid = Some("es256-test-key".to_owned());
                (
                    header,
                    EncodingKey::from_ec_pem(EC_PEM).expect("the fixture is a key"),
                )
            }
        };
        jsonwebtoken::encode(&header, claims, &key).expect("signs")
    }

    /// `claims` signed with the key `header` names (`kid`), as `header` says:
    /// for tokens a real provider would not make.
    pub fn sign_typed(&self, header: &Header, claims: &Value) -> String {
        let key = match header.kid.as_deref() {
            Some("entra-test-key") => EncodingKey::from_rsa_pem(RSA_PEM).expect("a key"),
            Some("es256-test-key") => EncodingKey::from_ec_pem(EC_PEM).expect("a key"),
            _ => self.keys.encoding_key().clone(),
        };
        // A header whose algorithm is not the key's cannot be signed by
        // jsonwebtoken: sign with the key's and put the header's in place.
        match jsonwebtoken::encode(header, claims, &key) {
            Ok(token) => token,
            Err(_) => {
                let real = Header {
                    alg: match header.kid.as_deref() {
                        Some("entra-test-key") => Algorithm::RS256,
                        Some("es256-test-key") => Algorithm::ES256,
                        _ => Algorithm::EdDSA,
                    },
                    ..header.clone()
                };
                let token = jsonwebtoken::encode(&real, claims, &key).expect("signs");
                let (_, rest) = token.split_once('.').expect("three parts");
                let forged = base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    serde_json::to_vec(header).expect("a header serializes"),
                );
                format!("{forged}.{rest}")
            }
        }
    }

    /// Its Ed25519 key id.
    pub fn kid(&self) -> &str {
        self.keys.kid()
    }
}
