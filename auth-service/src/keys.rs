//! The token signing keys: the active Ed25519 private key, read from a file
//! (a mounted Secret in production; generated on first start in the dev
//! stack), and the public keys published as a JWKS.
//!
//! Key ids are RFC 7638 thumbprints of the public key, so the same key always
//! has the same id wherever it is loaded.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, spki::der::pem::LineEnding,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::EncodingKey;
use proto::auth::v1::Jwk;
use sha2::{Digest, Sha256};

/// The active signing key and every published public key.
#[derive(Clone)]
pub struct SigningKeys {
    kid: String,
    encoding: EncodingKey,
    published: Vec<Jwk>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the active private key at `path` (when it is missing and
    /// `generate` is set, creates one there first, mode 0600) and the keys at
    /// `published`, which are listed in the JWKS but never sign.
    pub fn load_with(path: &Path, generate: bool, published: &[PathBuf]) -> anyhow::Result<Self> {
        let mut keys = Self::load(path, generate)?;
        for extra in published {
            let pem = std::fs::read_to_string(extra).with_context(|| {
                format!("JWT_PUBLISHED_KEY_PATHS: cannot read {}", extra.display())
            })?;
            let verifying = public_key_from_pem(&pem).with_context(|| {
                format!(
                    "JWT_PUBLISHED_KEY_PATHS: {} is not an Ed25519 PEM key",
                    extra.display()
                )
            })?;
            let jwk = public_jwk(&verifying);
            if !keys.published.iter().any(|k| k.kid == jwk.kid) {
                keys.published.push(jwk);
            }
        }
        Ok(keys)
    }

    /// Loads the private key at `path`; when it is missing and `generate` is
    /// set, creates one there first (mode 0600).
    pub fn load(path: &Path, generate: bool) -> anyhow::Result<Self> {
        if !path.exists() {
            if !generate {
                anyhow::bail!(
                    "JWT_SIGNING_KEY_PATH: no signing key at {} (create one with `auth-service \
                     generate-key {}`, or set JWT_GENERATE_KEY=true in development)",
                    path.display(),
                    path.display()
                );
            }
            generate_key_file(path)?;
            tracing::info!(path = %path.display(), "generated a new token signing key");
        }
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("JWT_SIGNING_KEY_PATH: cannot read {}", path.display()))?;
        Self::from_pem(&pem).with_context(|| {
            format!(
                "JWT_SIGNING_KEY_PATH: {} is not an Ed25519 PKCS#8 PEM key",
                path.display()
            )
        })
    }

    /// The keys for a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let signing = SigningKey::from_pkcs8_pem(pem).context("cannot parse the key")?;
        let jwk = public_jwk(&signing.verifying_key());
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).context("cannot load the key")?;
        Ok(Self {
            kid: jwk.kid.clone(),
            encoding,
            published: vec![jwk],
        })
    }

    /// The id of the active key, put in every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The active private key.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The published public keys, the active one first.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.published.clone()
    }
}

/// A new random Ed25519 key as PKCS#8 PEM.
pub fn generate_pem() -> anyhow::Result<String> {
    let secret: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&secret);
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .context("cannot encode the key")?
        .to_string())
}

/// Writes a new key to `path`, readable by its owner only. Refuses to
/// overwrite an existing file.
pub fn generate_key_file(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let pem = generate_pem()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The public key of a PEM file holding either a PKCS#8 private key or an
/// SPKI public key.
fn public_key_from_pem(pem: &str) -> anyhow::Result<VerifyingKey> {
    if let Ok(signing) = SigningKey::from_pkcs8_pem(pem) {
        return Ok(signing.verifying_key());
    }
    VerifyingKey::from_public_key_pem(pem).context("neither a private nor a public Ed25519 key")
}

fn public_jwk(key: &VerifyingKey) -> Jwk {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    // RFC 7638: the hash of the required members, in lexicographic order.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x,
        kid,
        alg: "EdDSA".into(),
        r#use: "sig".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_generated_key_file_is_private_and_reloads_with_the_same_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/signing.pem");
        let first = SigningKeys::load(&path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = SigningKeys::load(&path, false).unwrap();
        assert_eq!(first.kid(), again.kid());
        assert_eq!(first.jwks(), again.jwks());
    }

    #[test]
    fn a_missing_key_is_an_error_naming_the_variable_unless_generation_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let error = SigningKeys::load(&dir.path().join("none.pem"), false).unwrap_err();
        assert!(
            error.to_string().contains("JWT_SIGNING_KEY_PATH"),
            "{error}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        std::fs::write(&path, "not a key").unwrap();
        assert!(SigningKeys::load(&path, false).is_err());
    }

    #[test]
    fn published_keys_are_listed_after_the_active_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.pem");
        let new = dir.path().join("new.pem");
        generate_key_file(&old).unwrap();
        generate_key_file(&new).unwrap();
        let old_kid = SigningKeys::load(&old, false).unwrap().kid().to_owned();
        let keys = SigningKeys::load_with(&new, false, &[old.clone(), new.clone()]).unwrap();
        let kids: Vec<&str> = keys.published.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, [keys.kid(), old_kid.as_str()]);
    }

    #[test]
    fn the_published_key_is_an_ed25519_jwk() {
        let keys = SigningKeys::from_pem(&generate_pem().unwrap()).unwrap();
        let jwk = &keys.jwks()[0];
        assert_eq!(
            (jwk.kty.as_str(), jwk.crv.as_str(), jwk.alg.as_str()),
            ("OKP", "Ed25519", "EdDSA")
        );
        assert_eq!(jwk.kid, keys.kid());
        assert_eq!(URL_SAFE_NO_PAD.decode(&jwk.x).unwrap().len(), 32);
    }
}
