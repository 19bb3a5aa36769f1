//! Server-issued nonces for OpenID Connect sign-ins.
//!
//! `StartOidcLogin` hands out a nonce; the client puts it in its
//! authorization request, and the provider puts it in the ID token. A nonce
//! is 128 random bits with its provider and expiry, signed (the page-token
//! key, under a scope of its own): issuing one stores nothing, so no
//! unauthenticated client can fill a table with them. It is written down only
//! when a valid ID token carrying it is presented, and a second token with it
//! is refused: an ID token that leaked (from a log, a proxy, a browser
//! history) cannot be replayed into a session, and a token minted for
//! another application's sign-in cannot be either.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use service_runtime::paging::PageTokens;

use super::OidcError;

/// How long a nonce is good for.
pub const TTL: chrono::Duration = chrono::Duration::minutes(10);

fn scope(provider: &str) -> String {
    format!("oidc-nonce:{provider}")
}

/// A new nonce for a sign-in with `provider`.
pub fn issue(keys: &PageTokens, provider: &str, now: DateTime<Utc>) -> String {
    let random: [u8; 16] = rand::random();
    keys.encode(
        &scope(provider),
        &(URL_SAFE_NO_PAD.encode(random), (now + TTL).timestamp()),
    )
}

/// When `nonce`, one of ours for `provider`, expires; refused when it is not
/// ours, is another provider's, or has expired.
pub fn check(
    keys: &PageTokens,
    provider: &str,
    nonce: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, OidcError> {
    let (_, expires): (String, i64) = keys
        .decode(&scope(provider), nonce)
        .ok()
        .flatten()
        .ok_or(OidcError::Invalid("unknown nonce"))?;
    let expires =
        DateTime::from_timestamp(expires, 0).ok_or(OidcError::Invalid("unknown nonce"))?;
    if expires <= now {
        return Err(OidcError::Invalid("nonce expired"));
    }
    Ok(expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_for_its_provider_until_it_expires() {
        let keys = PageTokens::random();
        let now = Utc::now();
        let nonce = issue(&keys, "corp", now);
        assert_ne!(nonce, issue(&keys, "corp", now), "random");
        assert!(check(&keys, "corp", &nonce, now + chrono::Duration::minutes(9)).is_ok());
        assert_eq!(
            check(&keys, "corp", &nonce, now + TTL),
            Err(OidcError::Invalid("nonce expired"))
        );
        assert_eq!(
            check(&keys, "google", &nonce, now),
            Err(OidcError::Invalid("unknown nonce"))
        );
        assert_eq!(
            check(&PageTokens::random(), "corp", &nonce, now),
            Err(OidcError::Invalid("unknown nonce"))
        );
        assert!(check(&keys, "corp", "client-made", now).is_err());
    }
}
