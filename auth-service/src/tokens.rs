//! Minting access tokens: short-lived JWTs signed with the active key.

use std::time::Duration;

use access::{Claims, TokenType};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys::SigningKeys;

/// Signs tokens.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    keys: SigningKeys,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

/// A signed access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The JWT.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

/// Who an access token is for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// The user's email, if the account has one.
    pub email: Option<&'a str>,
    /// Whether the user is a superuser.
    pub is_superuser: bool,
}

impl TokenIssuer {
    /// An issuer with these keys and settings.
    pub fn new(keys: SigningKeys, issuer: String, audience: String, access_ttl: Duration) -> Self {
        Self {
            keys,
            issuer,
            audience,
            access_ttl,
        }
    }

    /// The signing keys.
    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// Lifetime of access tokens.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Signs a service account's token with `scopes`, issued at `now`.
    pub fn service_token(
        &self,
        account_id: Uuid,
        scopes: &[String],
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AccessToken> {
        let iat = now.timestamp();
        let claims = Claims {
            sub: account_id,
            sid: None,
            jti: Uuid::new_v4(),
            iat,
            exp: iat + ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            email: None,
            is_superuser: false,
            scope: Some(scopes.join(" ")),
            token_type: TokenType::Service,
        };
        self.sign(claims)
    }

    /// Signs an access token for `subject`, issued at `now`.
    pub fn access_token(
        &self,
        subject: Subject<'_>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AccessToken> {
        let iat = now.timestamp();
        let claims = Claims {
            sub: subject.user_id,
            sid: Some(subject.session_id),
            jti: Uuid::new_v4(),
            iat,
            exp: iat + self.access_ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            email: subject.email.map(str::to_owned),
            is_superuser: subject.is_superuser,
            scope: None,
            token_type: TokenType::Access,
        };
        self.sign(claims)
    }

    fn sign(&self, claims: Claims) -> anyhow::Result<AccessToken> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, self.keys.encoding_key())
            .context("cannot sign the access token")?;
        Ok(AccessToken { token, claims })
    }
}

/// A new opaque secret of 256 random bits (refresh tokens, service account
/// secrets), base64url without padding, and its SHA-256, which is all that is
/// stored.
pub fn new_secret() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// The SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_random_bits_and_stored_hashed() {
        let (a, hash_a) = new_secret();
        let (b, _) = new_secret();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(hash_a, hash_secret(&a));
        assert_eq!(hash_a.len(), 32);
    }
}
