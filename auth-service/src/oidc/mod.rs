//! OpenID Connect sign-in: the client signed in with the provider and hands
//! over the ID token; the service checks it against the provider's keys.
//!
//! Each provider is configured by issuer URL, client id and any further
//! audiences. Its discovery document and JWKS are fetched when first needed
//! and cached; an unknown `kid` refetches them at most once every
//! [`REFETCH_INTERVAL`], so a flood of forged `kid`s cannot hammer the
//! provider. The algorithm is the key's (its JWK `alg`, else the one its
//! type implies), never the token's choice; `iss`, `aud` (the client id or an
//! allowed audience), `azp` (the client id, required when `aud` has several
//! values), `exp`, `iat` and the nonce are checked (see [`nonce`]: issued by
//! the server and good once, unless a provider is configured not to require
//! one). Only ID tokens are taken: a token typed `at+jwt`, or carrying what
//! access tokens carry (`scp`, `scope`, `token_use: access`, Keycloak's
//! `typ: Bearer`), is refused. Works with
//! Entra ID (Azure AD), Keycloak, Google and any standard provider.

pub mod fake;
pub mod nonce;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::Error;

/// Least time between two fetches of a provider's keys.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Keys older than this are fetched again, so a key the provider withdrew
/// stops being trusted.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

/// Clock skew allowed on `exp` and `iat`.
const LEEWAY_SECS: u64 = 60;

/// One provider's settings (`OIDC_<NAME>_*`).
#[derive(Debug, Clone)]
pub struct OidcProviderConfig {
    /// The name clients use (`provider` in the request) and the audit log shows.
    pub name: String,
    /// `OIDC_<NAME>_ISSUER`: the issuer URL, exactly as in its tokens.
    pub issuer: String,
    /// `OIDC_<NAME>_CLIENT_ID`.
    pub client_id: String,
    /// `OIDC_<NAME>_AUDIENCES`: further accepted audiences.
    pub audiences: Vec<String>,
    /// `OIDC_<NAME>_REQUIRE_NONCE` (default true): whether sign-ins need a
    /// nonce of StartOidcLogin. A provider whose clients cannot send one
    /// may be configured `false`: then a nonce the client sends is only
    /// compared with the token's.
    pub require_nonce: bool,
}

/// What a verified ID token says.
#[derive(Debug, Deserialize)]
pub struct IdClaims {
    /// The person's id at the provider.
    pub sub: String,
    /// Their email, if given.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the provider verified it (a bool, or "true" from some).
    #[serde(default)]
    pub email_verified: Option<serde_json::Value>,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    iat: u64,
    /// A string or a list of them.
    aud: serde_json::Value,
    #[serde(default)]
    azp: Option<String>,
    /// Entra ID's access tokens carry their scopes here; ID tokens never.
    #[serde(default)]
    scp: Option<serde_json::Value>,
    /// Cognito says `id` or `access`.
    #[serde(default)]
    token_use: Option<String>,
    /// Keycloak says `ID` in ID tokens and `Bearer` in access tokens.
    #[serde(default)]
    typ: Option<String>,
    /// OAuth scopes: access tokens carry them (Keycloak, Auth0, Okta), ID
    /// tokens do not.
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

impl IdClaims {
    /// The email, only if the provider says it is verified.
    pub fn verified_email(&self) -> Option<String> {
        let verified = matches!(&self.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&self.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        self.email
            .as_deref()
            .filter(|_| verified)
            .map(|email| email.trim().to_lowercase())
            .filter(|email| !email.is_empty())
    }
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    /// No provider of this name is configured.
    #[error("no identity provider is configured under this name")]
    UnknownProvider,
    /// The token is not valid for this provider.
    #[error("the ID token is not valid: {0}")]
    Invalid(&'static str),
    /// The provider's keys could not be fetched.
    #[error("the identity provider could not be reached")]
    Unreachable,
}

impl From<OidcError> for Error {
    fn from(error: OidcError) -> Self {
        match error {
            OidcError::UnknownProvider => crate::domain::Invalid::new(
                "provider",
                "no identity provider is configured under this name",
            )
            .into(),
            OidcError::Invalid(_) => Error::Unauthenticated("the ID token is not valid"),
            OidcError::Unreachable => {
                Error::Unavailable("the identity provider could not be reached")
            }
        }
    }
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
}

struct Provider {
    config: OidcProviderConfig,
    keys: Mutex<Keys>,
}

/// The configured providers.
#[derive(Clone)]
pub struct OidcProviders {
    providers: Arc<HashMap<String, Provider>>,
    http: reqwest::Client,
}

impl OidcProviders {
    /// The providers of `configs`.
    pub fn new(configs: &[OidcProviderConfig]) -> Self {
        let providers = configs
            .iter()
            .map(|config| {
                (
                    config.name.clone(),
                    Provider {
                        config: config.clone(),
                        keys: Mutex::default(),
                    },
                )
            })
            .collect();
        Self {
            providers: Arc::new(providers),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a client with a timeout builds"),
        }
    }

    /// Whether any provider is configured.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Whether `provider` requires a nonce of StartOidcLogin.
    pub fn requires_nonce(&self, provider: &str) -> Result<bool, OidcError> {
        self.providers
            .get(provider)
            .map(|p| p.config.require_nonce)
            .ok_or(OidcError::UnknownProvider)
    }

    /// Checks `id_token` as one of `provider`'s ID tokens, carrying `nonce`
    /// when one is given.
    pub async fn verify(
        &self,
        provider: &str,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdClaims, OidcError> {
        let provider = self
            .providers
            .get(provider)
            .ok_or(OidcError::UnknownProvider)?;
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| OidcError::Invalid("malformed"))?;
        if header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(OidcError::Invalid("an access token, not an ID token"));
        }
        let kid = header.kid.ok_or(OidcError::Invalid("no kid"))?;
        let (key, algorithm) = self.key(provider, &kid).await?;
        if header.alg != algorithm {
            return Err(OidcError::Invalid("algorithm is not the key's"));
        }
        let config = &provider.config;
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[config.issuer.as_str()]);
        let mut audiences = vec![config.client_id.clone()];
        audiences.extend(config.audiences.iter().cloned());
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                OidcError::Invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::InvalidSignature => "bad signature",
                    _ => "rejected",
                })
            })?
            .claims;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now + LEEWAY_SECS {
            return Err(OidcError::Invalid("issued in the future"));
        }
        if claims.scp.is_some()
            || claims.scope.is_some()
            || claims.token_use.as_deref().is_some_and(|u| u != "id")
            || claims
                .typ
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("id"))
        {
            return Err(OidcError::Invalid("an access token, not an ID token"));
        }
        // OpenID Connect Core 3.1.3.7: with several audiences, `azp` says
        // which party the token was issued to, and it must be us.
        let several = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        match claims.azp.as_deref() {
            Some(azp) if azp != config.client_id => {
                return Err(OidcError::Invalid("issued to another party (azp)"));
            }
            None if several => return Err(OidcError::Invalid("several audiences and no azp")),
            _ => {}
        }
        match nonce.filter(|n| !n.is_empty()) {
            Some(expected) => {
                let matches = claims.nonce.as_deref().is_some_and(|got| {
                    use subtle::ConstantTimeEq;
                    got.as_bytes().ct_eq(expected.as_bytes()).into()
                });
                if !matches {
                    return Err(OidcError::Invalid("wrong nonce"));
                }
            }
            None if config.require_nonce => return Err(OidcError::Invalid("no nonce")),
            None => {}
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(OidcError::Invalid("bad subject"));
        }
        Ok(claims)
    }

    /// The key `kid` of `provider`, fetching the keys when it is unknown
    /// (at most once per interval).
    async fn key(
        &self,
        provider: &Provider,
        kid: &str,
    ) -> Result<(DecodingKey, Algorithm), OidcError> {
        let mut keys = provider.keys.lock().await;
        if keys.fetched_at.is_some_and(|at| at.elapsed() > MAX_KEY_AGE) {
            keys.by_kid.clear();
            keys.fetched_at = None;
        }
        if let Some(found) = keys.by_kid.get(kid) {
            return Ok(found.clone());
        }
        let recently = keys
            .fetched_at
            .is_some_and(|at| at.elapsed() < REFETCH_INTERVAL);
        if recently {
            return Err(OidcError::Invalid("unknown signing key"));
        }
        keys.fetched_at = Some(Instant::now());
        keys.by_kid = self.fetch(&provider.config).await?;
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or(OidcError::Invalid("unknown signing key"))
    }

    async fn fetch(
        &self,
        config: &OidcProviderConfig,
    ) -> Result<HashMap<String, (DecodingKey, Algorithm)>, OidcError> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let get = |url: String| {
            let request = self.http.get(url).send();
            async move {
                let response = request.await.map_err(|e| {
                    tracing::warn!(error = %e.without_url(), "identity provider unreachable");
                    OidcError::Unreachable
                })?;
                if !response.status().is_success() {
                    tracing::warn!(status = %response.status(), "identity provider answered an error");
                    return Err(OidcError::Unreachable);
                }
                response.bytes().await.map_err(|_| OidcError::Unreachable)
            }
        };
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = serde_json::from_slice(&get(discovery_url).await?)
            .map_err(|_| OidcError::Unreachable)?;
        if discovery.issuer != config.issuer {
            tracing::warn!(provider = %config.name, "discovery names another issuer");
            return Err(OidcError::Unreachable);
        }
        let set: JwkSet = serde_json::from_slice(&get(discovery.jwks_uri).await?)
            .map_err(|_| OidcError::Unreachable)?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let algorithm = algorithm_of(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (key, algorithm)))
            })
            .collect())
    }
}

/// The algorithm a key signs with: its `alg`, else what its type implies.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        return Algorithm::try_from(alg)
            .ok()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512));
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        // Shared secrets are never a provider's signing key.
        _ => None,
    }
}
