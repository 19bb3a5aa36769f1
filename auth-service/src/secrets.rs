//! Secrets kept at rest (WeChat's session key): AES-256-GCM under
//! `SECRETS_KEY`, a fresh random nonce per value, stored as nonce ‖
//! ciphertext ‖ tag.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use crate::config::SecretsKey;

const NONCE: usize = 12;

/// `plaintext` sealed under `key`.
pub fn seal(key: &SecretsKey, plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key.expose()));
    let nonce_bytes: [u8; NONCE] = rand::random();
    let ciphertext = cipher
        .encrypt(&Nonce::from(nonce_bytes), plaintext)
        .expect("AES-GCM encrypts any message of this size");
    let mut sealed = nonce_bytes.to_vec();
    sealed.extend_from_slice(&ciphertext);
    sealed
}

/// The plaintext of `sealed`, or None if it was not sealed under `key` or
/// was altered.
pub fn open(key: &SecretsKey, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().ok()?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key.expose()));
    cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretsKey {
        use base64::Engine;
        SecretsKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32]))
            .unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_unaltered() {
        let sealed = seal(&key(1), b"session key");
        assert!(!sealed.windows(11).any(|w| w == b"session key"));
        assert_eq!(open(&key(1), &sealed).unwrap(), b"session key");
        assert!(open(&key(2), &sealed).is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key(1), &altered).is_none());
        assert_ne!(
            seal(&key(1), b"x"),
            seal(&key(1), b"x"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn a_key_of_the_wrong_size_is_refused() {
        assert!(SecretsKey::from_base64("c2hvcnQ=").is_err());
        assert!(SecretsKey::from_base64("not base64!").is_err());
    }
}
