//! The token parser: any bytes as a bearer token, and any header and claims
//! signed with the published key, reach `Verifier::verify`. It answers Ok or
//! a `VerifyError`, never panics, and accepts only an unexpired access or
//! service token of the configured issuer and audience.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use access::{KeySource, Verifier, VerifierSettings};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use futures::future::BoxFuture;
use libfuzzer_sys::fuzz_target;
use proto::auth::v1::Jwk;

struct Published(Vec<Jwk>);

impl KeySource for Published {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, String>> {
        let keys = self.0.clone();
        Box::pin(async move { Ok(keys) })
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    signing: SigningKey,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let signing = SigningKey::from_bytes(&[7; 32]);
    let jwk = Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        kid: "k1".into(),
        alg: "EdDSA".into(),
        r#use: "sig".into(),
    };
    let verifier = Verifier::new(
        Published(vec![jwk]),
        VerifierSettings {
            issuer: "auth-service".into(),
            audience: "backbone".into(),
            leeway: Duration::from_secs(5),
            min_refresh_interval: Duration::from_secs(3600),
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(verifier.refresh()).expect("the keys");
    Fixture {
        runtime,
        verifier,
        signing,
    }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    // The bytes as they come.
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = fixture.runtime.block_on(fixture.verifier.verify(token));
    }
    // The bytes as a header and claims (split at the first 0xFF), signed
    // with the real key: the claim checks see arbitrary JSON.
    if let Some(split) = data.iter().position(|&b| b == 0xff) {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&data[..split]),
            URL_SAFE_NO_PAD.encode(&data[split + 1..])
        );
        let signature = fixture.signing.sign(input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        if let Ok(claims) = fixture.runtime.block_on(fixture.verifier.verify(&token)) {
            assert_eq!(claims.iss, "auth-service");
            assert_eq!(claims.aud, "backbone");
            assert!(claims.exp + 5 >= chrono::Utc::now().timestamp());
        }
    }
});
