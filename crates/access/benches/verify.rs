//! Token verification alone: a token seen for the first time (the signature
//! is checked) against one seen before (remembered by its digest).
//! `cargo bench -p access --bench verify`; `bench` reads the estimates
//! from `target/criterion/verify/`.

use std::time::Duration;

use access::{Claims, KeySource, TokenType, Verifier, VerifierSettings};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proto::auth::v1::Jwk;
use uuid::Uuid;

struct Published(Vec<Jwk>);

impl KeySource for Published {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>> {
        let keys = self.0.clone();
        Box::pin(async move { Ok(keys) })
    }
}

fn verify(c: &mut Criterion) {
    let signing = SigningKey::from_bytes(&rand::random());
    let jwk = Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        kid: "k1".into(),
        alg: "EdDSA".into(),
        r#use: "sig".into(),
    };
    let pem = signing.to_pkcs8_pem(LineEnding::LF).expect("pem");
    let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).expect("key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("k1".into());
    let sign = || {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::new_v4(),
            sid: Some(Uuid::new_v4()),
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + 900,
            iss: "auth-service".into(),
            aud: "backbone".into(),
            email: Some("ada@example.com".into()),
            is_superuser: false,
            scope: None,
            token_type: TokenType::Access,
        };
        jsonwebtoken::encode(&header, &claims, &encoding).expect("sign")
    };
    let verifier = Verifier::new(
        Published(vec![jwk]),
        VerifierSettings {
            issuer: "auth-service".into(),
            audience: "backbone".into(),
            leeway: Duration::from_secs(5),
            min_refresh_interval: Duration::from_secs(60),
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(verifier.refresh()).expect("keys");

    let mut group = c.benchmark_group("verify");
    group.bench_function("first_use", |b| {
        b.to_async(&runtime).iter_batched(
            sign,
            |token| {
                let verifier = verifier.clone();
                async move { verifier.verify(&token).await.expect("valid") }
            },
            BatchSize::SmallInput,
        );
    });
    let token = sign();
    group.bench_function("remembered", |b| {
        b.to_async(&runtime).iter(|| {
            let (verifier, token) = (verifier.clone(), &token);
            async move { verifier.verify(token).await.expect("valid") }
        });
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
