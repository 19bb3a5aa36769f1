//! The verifier against forged and broken tokens (RFC 8725 §2), with keys
//! made here and served by a key source that counts its fetches.

// Test code: an unwrap is the assertion, and a scenario reads top to bottom.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use access::{Claims, KeySource, TokenType, Verifier, VerifierSettings, VerifyError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proto::auth::v1::Jwk;
use uuid::Uuid;

struct TestKey {
    kid: String,
    pem: String,
    jwk: Jwk,
}

fn key(kid: &str) -> TestKey {
    let signing = SigningKey::from_bytes(&rand::random());
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    TestKey {
        kid: kid.into(),
        pem: signing.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        jwk: Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
            kid: kid.into(),
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        },
    }
}

#[derive(Clone)]
struct Keys {
    published: Vec<Jwk>,
    fetches: Arc<AtomicUsize>,
}

impl KeySource for Keys {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let keys = self.published.clone();
        Box::pin(async move { Ok(keys) })
    }
}

fn verifier(published: &[&TestKey]) -> (Verifier, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let source = Keys {
        published: published.iter().map(|k| k.jwk.clone()).collect(),
        fetches: fetches.clone(),
    };
    let settings = VerifierSettings {
        issuer: "auth-service".into(),
        audience: "backbone".into(),
        leeway: Duration::from_secs(5),
        min_refresh_interval: Duration::from_secs(60),
    };
    (Verifier::new(source, settings), fetches)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Claims {
    Claims {
        sub: Uuid::new_v4(),
        sid: Some(Uuid::new_v4()),
        jti: Uuid::new_v4(),
        iat: now(),
        exp: now() + 900,
        iss: "auth-service".into(),
        aud: "backbone".into(),
        email: Some("ada@example.com".into()),
        is_superuser: false,
        scope: None,
        token_type: TokenType::Access,
    }
}

fn sign(key: &TestKey, claims: &impl serde::Serialize) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(key.pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn b64(json: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

#[tokio::test]
async fn a_well_signed_token_verifies() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let claims = claims();
    assert_eq!(verifier.verify(&sign(&k, &claims)).await, Ok(claims));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let token = format!(
        "{}.{}.",
        b64(serde_json::json!({"alg": "none", "kid": "k1", "typ": "JWT"})),
        b64(serde_json::to_value(claims()).unwrap())
    );
    assert!(verifier.verify(&token).await.is_err());
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let public = URL_SAFE_NO_PAD.decode(&k.jwk.x).unwrap();
    let token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public)).unwrap();
    assert_eq!(verifier.verify(&token).await, Err(VerifyError::Algorithm));
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
    let k = key("k1");
    let mut impostor = key("k1");
    impostor.kid = "k1".into();
    let (verifier, _) = verifier(&[&k]);
    assert_eq!(
        verifier.verify(&sign(&impostor, &claims())).await,
        Err(VerifyError::Signature)
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let mut expired = claims();
    expired.iat = now() - 1000;
    expired.exp = now() - 60;
    assert_eq!(
        verifier.verify(&sign(&k, &expired)).await,
        Err(VerifyError::Expired)
    );

    let mut value = serde_json::to_value(claims()).unwrap();
    value["nbf"] = serde_json::json!(now() + 600);
    assert_eq!(
        verifier.verify(&sign(&k, &value)).await,
        Err(VerifyError::NotYetValid)
    );
}

#[tokio::test]
async fn a_wrong_issuer_or_audience_is_refused() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let mut wrong_iss = claims();
    wrong_iss.iss = "someone-else".into();
    let mut wrong_aud = claims();
    wrong_aud.aud = "another-api".into();
    for token in [sign(&k, &wrong_iss), sign(&k, &wrong_aud)] {
        assert_eq!(verifier.verify(&token).await, Err(VerifyError::Claims));
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let token = sign(&k, &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut escalated = claims();
    escalated.is_superuser = true;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(serde_json::to_value(escalated).unwrap()),
        parts[2]
    );
    assert_eq!(verifier.verify(&forged).await, Err(VerifyError::Signature));
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_at_most_once_per_interval() {
    let k = key("k1");
    let stranger = key("k2");
    let (verifier, fetches) = verifier(&[&k]);
    verifier.refresh().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    for _ in 0..20 {
        assert_eq!(
            verifier.verify(&sign(&stranger, &claims())).await,
            Err(VerifyError::UnknownKey)
        );
    }
    // The first unknown kid was within the interval of the start-up fetch.
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rotated_in_key_is_found_by_refetching() {
    let old = key("old");
    let new = key("new");
    let (verifier, fetches) = verifier(&[&old, &new]);
    // Nothing fetched yet: the first token triggers the fetch.
    assert!(verifier.verify(&sign(&new, &claims())).await.is_ok());
    assert!(verifier.verify(&sign(&old, &claims())).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn garbage_is_malformed() {
    let (verifier, _) = verifier(&[&key("k1")]);
    for token in ["", "abc", "a.b.c", "...."] {
        assert!(verifier.verify(token).await.is_err(), "{token:?}");
    }
}

#[tokio::test]
async fn verify_access_refuses_service_tokens() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let mut service = claims();
    service.token_type = TokenType::Service;
    service.scope = Some("tasks.process".into());
    let token = sign(&k, &service);
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(
        verifier.verify_access(&token).await,
        Err(VerifyError::Claims)
    );
}

/// Fails until `up` is set, then serves `published`.
struct Starting {
    up: Arc<std::sync::atomic::AtomicBool>,
    published: Vec<Jwk>,
    fetches: Arc<AtomicUsize>,
}

impl KeySource for Starting {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let result = if self.up.load(Ordering::SeqCst) {
            Ok(self.published.clone())
        } else {
            Err("connection refused".to_owned())
        };
        Box::pin(async move { result })
    }
}

#[tokio::test]
async fn keys_unavailable_at_start_are_fetched_again_soon_not_after_the_full_interval() {
    let k = key("k1");
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fetches = Arc::new(AtomicUsize::new(0));
    let verifier = Verifier::new(
        Starting {
            up: up.clone(),
            published: vec![k.jwk.clone()],
            fetches: fetches.clone(),
        },
        VerifierSettings {
            issuer: "auth-service".into(),
            audience: "backbone".into(),
            leeway: Duration::from_secs(5),
            min_refresh_interval: Duration::from_secs(3600),
        },
    );
    // The auth-service is not up yet when the verifier starts.
    assert!(verifier.refresh().await.is_err());
    let token = sign(&k, &claims());
    // No key was ever fetched: each token tries again.
    assert_eq!(
        verifier.verify(&token).await,
        Err(VerifyError::KeysUnavailable)
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The auth-service is up: the very next token verifies.
    up.store(true, Ordering::SeqCst);
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 3);

    // Once keys are known, a failed fetch is retried after half a second,
    // not after the full interval, and not for every token.
    up.store(false, Ordering::SeqCst);
    let stranger = key("k2");
    assert!(verifier.refresh().await.is_err());
    assert_eq!(
        verifier.verify(&sign(&stranger, &claims())).await,
        Err(VerifyError::KeysUnavailable)
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        4,
        "throttled right after a failure"
    );
    up.store(true, Ordering::SeqCst);
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while verifier.verify(&sign(&stranger, &claims())).await != Err(VerifyError::UnknownKey) {
        assert!(
            std::time::Instant::now() < give_up,
            "keys never fetched again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 5);
}

/// Serves whatever `published` holds at the time of the fetch.
struct Rotating(Arc<std::sync::Mutex<Vec<Jwk>>>);

impl KeySource for Rotating {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>> {
        let keys = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(keys) })
    }
}

fn settings() -> VerifierSettings {
    VerifierSettings {
        issuer: "auth-service".into(),
        audience: "backbone".into(),
        leeway: Duration::from_secs(5),
        min_refresh_interval: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn a_token_used_again_is_remembered_not_verified_again() {
    let k = key("k1");
    let (verifier, _) = verifier(&[&k]);
    let token = sign(&k, &claims());
    let first = verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.verify(&token).await.unwrap(), first);
    assert_eq!(verifier.remembered(), 1);
    // A refused token is not remembered.
    let mut expired = claims();
    expired.exp = now() - 60;
    assert!(verifier.verify(&sign(&k, &expired)).await.is_err());
    assert_eq!(verifier.remembered(), 1);
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_its_session_is_revoked() {
    let k = key("k1");
    let revocations = access::RevocationList::new();
    let verifier = Verifier::with_revocations(
        Rotating(Arc::new(std::sync::Mutex::new(vec![k.jwk.clone()]))),
        settings(),
        revocations.clone(),
    );
    let claims = claims();
    let token = sign(&k, &claims);
    assert!(verifier.verify(&token).await.is_ok());
    revocations.revoke(claims.sid.unwrap(), claims.exp);
    assert_eq!(verifier.verify(&token).await, Err(VerifyError::Revoked));
}

#[tokio::test]
async fn a_withdrawn_key_no_longer_vouches_for_remembered_tokens() {
    let (old, new) = (key("old"), key("new"));
    let published = Arc::new(std::sync::Mutex::new(vec![old.jwk.clone()]));
    let verifier = Verifier::new(Rotating(published.clone()), settings());
    let token = sign(&old, &claims());
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(verifier.remembered(), 1);
    // The old key is withdrawn; the verifier learns it at its next fetch.
    *published.lock().unwrap() = vec![new.jwk.clone()];
    verifier.refresh().await.unwrap();
    assert_eq!(verifier.remembered(), 0);
    assert_eq!(verifier.verify(&token).await, Err(VerifyError::UnknownKey));
    assert!(verifier.verify(&sign(&new, &claims())).await.is_ok());
}
