//! The one TLS crypto provider of every process: rustls with `ring`.
//!
//! HTTP clients (reqwest, and the S3 client inside `object_store`) take the
//! process-wide default provider; nothing else installs one, so each program
//! calls [`install_crypto_provider`] before it builds a client. `ring`
//! rather than `aws-lc-rs`: the same algorithms for what these clients speak
//! (TLS 1.2/1.3 with ECDHE, AES-GCM, ChaCha20), and it builds in a fraction
//! of the time (no C toolchain run of a whole crypto library per build).

/// Installs rustls' `ring` provider as the process default. Idempotent: a
/// second call, or a provider installed already, changes nothing.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing the same provider is
        // fine: either way a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
