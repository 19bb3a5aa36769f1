//! Verification of access tokens against the auth-service's public keys.
//!
//! The keys are fetched once at start and again when a token names a key id
//! we do not hold (a key rotation), but at most once per
//! [`VerifierSettings::min_refresh_interval`], so a flood of tokens with forged
//! key ids cannot hammer the auth-service.
//!
//! A token that verified is remembered by its SHA-256 digest until it
//! expires, so the signature of a token used again and again (every request
//! of a client) is checked once per process, not on each request. Revocation
//! and expiry are checked on every use, cached or not, and a change of the
//! published key set forgets every remembered token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest pause between fetches after a failed one.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use proto::auth::v1::{GetJwksRequest, Jwk, auth_service_client::AuthServiceClient};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};
use tonic::transport::Channel;

use crate::claims::{Claims, TokenType};
use crate::revocations::RevocationList;

/// Where the public keys come from.
pub trait KeySource: Send + Sync + 'static {
    /// The currently published keys.
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>>;
}

/// The keys published by the auth-service's `GetJwks` RPC.
#[derive(Debug, Clone)]
pub struct GrpcKeySource {
    client: AuthServiceClient<Channel>,
}

impl GrpcKeySource {
    /// Fetches keys over `channel`, a channel to the auth-service.
    pub fn new(channel: Channel) -> Self {
        Self {
            client: AuthServiceClient::new(channel),
        }
    }
}

impl KeySource for GrpcKeySource {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>> {
        let mut client = self.client.clone();
        Box::pin(async move {
            client
                .get_jwks(GetJwksRequest {})
                .await
                .map(|response| response.into_inner().keys)
                .map_err(|status| format!("GetJwks failed: {}", status.message()))
        })
    }
}

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Least time between two fetches of the keys.
    pub min_refresh_interval: Duration,
}

/// Why a token was refused. The messages are safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is not a well-formed JWT.
    #[error("malformed access token")]
    Malformed,
    /// The token's header names another algorithm than the key's.
    #[error("access token signed with an unsupported algorithm")]
    Algorithm,
    /// The token names a key that is not published.
    #[error("access token signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("access token signature is invalid")]
    Signature,
    /// The token has expired.
    #[error("access token expired")]
    Expired,
    /// The token is not valid yet.
    #[error("access token not valid yet")]
    NotYetValid,
    /// Wrong issuer, audience or type, or a claim is missing.
    #[error("access token not accepted here")]
    Claims,
    /// The token's session was revoked (logout, password change, ...).
    #[error("access token revoked")]
    Revoked,
    /// The keys could not be fetched.
    #[error("cannot verify tokens right now")]
    KeysUnavailable,
}

/// Verifies tokens; cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    source: Box<dyn KeySource>,
    settings: VerifierSettings,
    validation: Validation,
    keys: RwLock<HashMap<String, DecodingKey>>,
    revocations: Option<RevocationList>,
    /// Tokens that verified, by digest: their claims.
    verified: quick_cache::sync::Cache<[u8; 32], Claims>,
    /// When the keys were last fetched and whether that worked; held while
    /// fetching so that concurrent misses share one fetch.
    last_fetch: Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier that fetches its keys from `source` when first needed.
    pub fn new(source: impl KeySource, settings: VerifierSettings) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        Self {
            inner: Arc::new(Inner {
                source: Box::new(source),
                settings,
                validation,
                keys: RwLock::new(HashMap::new()),
                revocations: None,
                verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
                last_fetch: Mutex::new(None),
            }),
        }
    }

    /// A verifier that also refuses the tokens of sessions in `revocations`.
    pub fn with_revocations(
        source: impl KeySource,
        settings: VerifierSettings,
        revocations: RevocationList,
    ) -> Self {
        let mut verifier = Self::new(source, settings);
        Arc::get_mut(&mut verifier.inner)
            .expect("not shared yet")
            .revocations = Some(revocations);
        verifier
    }

    /// Completes once the verifier can refuse every revoked session: at once
    /// without a revocation list, else after the list's first snapshot.
    pub async fn ready(&self) {
        if let Some(revocations) = &self.inner.revocations {
            revocations.synced().await;
        }
    }

    /// Whether [`ready`](Self::ready) would complete now.
    pub fn is_ready(&self) -> bool {
        self.inner
            .revocations
            .as_ref()
            .is_none_or(RevocationList::is_synced)
    }

    /// Fetches the keys now (at start, so the first request does not wait).
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        self.fetch_keys(true).await
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.inner.verified.get(&digest) {
            Some(claims) => {
                if !unexpired(&claims, now(), self.inner.validation.leeway) {
                    self.inner.verified.remove(&digest);
                    return Err(VerifyError::Expired);
                }
                claims
            }
            None => {
                let claims = self.verify_signature(token).await?;
                self.inner.verified.insert(digest, claims.clone());
                claims
            }
        };
        if let (Some(revocations), Some(sid)) = (&self.inner.revocations, claims.sid)
            && revocations.is_revoked(sid)
        {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// How many verified tokens are remembered.
    pub fn remembered(&self) -> usize {
        self.inner.verified.len()
    }

    /// The full check: header, key, signature and claims.
    async fn verify_signature(&self, token: &str) -> Result<Claims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        // Pinned: only the algorithm of our keys, whatever the header says.
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::Algorithm);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.fetch_keys(false).await?;
                self.key(&kid).await.ok_or(VerifyError::UnknownKey)?
            }
        };
        jsonwebtoken::decode::<Claims>(token, &key, &self.inner.validation)
            .map(|data| data.claims)
            .map_err(|e| classify(e.kind()))
    }

    /// Verifies a user's access token (not a service token).
    pub async fn verify_access(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.verify(token).await?;
        if claims.token_type != TokenType::Access {
            return Err(VerifyError::Claims);
        }
        Ok(claims)
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.inner.keys.read().await.get(kid).cloned()
    }

    async fn fetch_keys(&self, force: bool) -> Result<(), VerifyError> {
        let mut last_fetch = self.inner.last_fetch.lock().await;
        // After a failure, ask again sooner: the auth-service may just be
        // starting, and every token waits for it.
        let pause = |worked: bool| {
            if worked {
                self.inner.settings.min_refresh_interval
            } else {
                self.inner
                    .settings
                    .min_refresh_interval
                    .min(RETRY_AFTER_FAILURE)
            }
        };
        // Until a first fetch has worked there is nothing to protect: every
        // token waits for the keys, so each may try (one at a time).
        let never_fetched = self.inner.keys.read().await.is_empty();
        if let Some((at, worked)) = *last_fetch
            && !force
            && !never_fetched
            && at.elapsed() < pause(worked)
        {
            // Either another caller just fetched (and the key is there now)
            // or the key id is unknown: do not ask again so soon.
            return if worked {
                Ok(())
            } else {
                Err(VerifyError::KeysUnavailable)
            };
        }
        let fetched = self.inner.source.fetch().await;
        *last_fetch = Some((Instant::now(), fetched.is_ok()));
        let jwks = fetched.map_err(|e| {
            tracing::warn!(error = %e, "cannot fetch the token signing keys");
            VerifyError::KeysUnavailable
        })?;
        let mut keys = HashMap::new();
        for jwk in jwks {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" || jwk.alg != "EdDSA" {
                continue;
            }
            match DecodingKey::from_ed_components(&jwk.x) {
                Ok(key) => {
                    keys.insert(jwk.kid, key);
                }
                Err(e) => tracing::warn!(kid = %jwk.kid, error = %e, "skipping a malformed key"),
            }
        }
        let mut held = self.inner.keys.write().await;
        let changed = held.len() != keys.len() || keys.keys().any(|kid| !held.contains_key(kid));
        *held = keys;
        if changed {
            // A key withdrawn (say, compromised) must not keep vouching for
            // the tokens it signed.
            self.inner.verified.clear();
        }
        Ok(())
    }
}

/// How many verified tokens are remembered at most (about 400 bytes each).
const VERIFIED_CAPACITY: usize = 50_000;

/// Seconds since the epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether remembered `claims` are still unexpired at `now`, with the same
/// leeway as the full check.
fn unexpired(claims: &Claims, now: i64, leeway: u64) -> bool {
    claims.exp.saturating_add(leeway as i64) >= now
}

fn classify(kind: &jsonwebtoken::errors::ErrorKind) -> VerifyError {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidSignature => VerifyError::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => VerifyError::Algorithm,
        ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::InvalidSubject
        | ErrorKind::MissingRequiredClaim(_) => VerifyError::Claims,
        _ => VerifyError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::nil(),
            sid: None,
            jti: Uuid::nil(),
            iat: 0,
            exp,
            iss: "i".into(),
            aud: "a".into(),
            email: None,
            is_superuser: false,
            scope: None,
            token_type: TokenType::Access,
        }
    }

    #[test]
    fn remembered_claims_expire_with_the_same_leeway_as_the_full_check() {
        assert!(unexpired(&claims(1000), 1000, 0));
        assert!(!unexpired(&claims(1000), 1001, 0));
        assert!(unexpired(&claims(1000), 1005, 5));
        assert!(!unexpired(&claims(1000), 1006, 5));
    }
}
