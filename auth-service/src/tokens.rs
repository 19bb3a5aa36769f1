//! Minting access tokens: short-lived JWTs signed with the active key.

use std::time::Duration;

use access::{Claims, TokenType};
use anyhow::Context;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
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
    /// The user's email.
    pub email: &'a str,
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
            email: Some(subject.email.to_owned()),
            is_superuser: subject.is_superuser,
            scope: None,
            token_type: TokenType::Access,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, self.keys.encoding_key())
            .context("cannot sign the access token")?;
        Ok(AccessToken { token, claims })
    }
}
