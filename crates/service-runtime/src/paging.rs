//! Pagination of list RPCs: page sizes (default 20, at most 100) and page
//! tokens.
//!
//! A page token is the position after the last item of a page (a keyset
//! cursor), bound to the caller and to the list's filters, and signed with
//! HMAC-SHA256: a forged or altered token, or one taken from another user or
//! another query, is refused (INVALID_ARGUMENT) and never reveals anything.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// Items per page when the request says 0 (or less).
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Most items per page; larger requests are clamped.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The page size to use for a requested one.
pub fn page_size(requested: i32) -> i64 {
    match i64::from(requested) {
        n if n <= 0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// A page token that is not one of ours, or not for this query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("page_token is invalid or belongs to another query")]
pub struct InvalidPageToken;

/// Signs and checks page tokens.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl PageTokens {
    /// Tokens signed with `key` (all replicas must share it).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// Tokens signed with a random key: valid until the process restarts.
    pub fn random() -> Self {
        let key: [u8; 32] = rand::random();
        Self::new(&key)
    }

    /// Tokens signed with `secret` (`PAGE_TOKEN_SECRET`, the same on every
    /// replica), or with a random key when there is none.
    pub fn from_secret(secret: Option<&secrecy::SecretString>) -> Self {
        use secrecy::ExposeSecret;
        secret.map_or_else(Self::random, |s| Self::new(s.expose_secret().as_bytes()))
    }

    /// The token for `position`, valid only for the same `scope` (the caller
    /// and the list's filters, in any stable text form).
    pub fn encode<P: Serialize>(&self, scope: &str, position: &P) -> String {
        let payload = serde_json::to_vec(position).expect("positions serialize");
        let tag = self.tag(scope, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position in `token`; `None` for the empty token (the first page).
    pub fn decode<P: DeserializeOwned>(
        &self,
        scope: &str,
        token: &str,
    ) -> Result<Option<P>, InvalidPageToken> {
        if token.is_empty() {
            return Ok(None);
        }
        let (payload, tag) = token.split_once('.').ok_or(InvalidPageToken)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InvalidPageToken)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidPageToken)?;
        let mut mac = self.mac(scope);
        mac.update(&payload);
        // Constant-time comparison.
        mac.verify_slice(&tag).map_err(|_| InvalidPageToken)?;
        serde_json::from_slice(&payload)
            .map(Some)
            .map_err(|_| InvalidPageToken)
    }

    /// Finishes a page read with `limit + 1` as its limit (the extra row
    /// tells whether another page follows): keeps `limit` rows and returns
    /// them with the next page's token (empty on the last page), the position
    /// of the last row kept.
    pub fn finish_page<T, P: Serialize>(
        &self,
        scope: &str,
        mut rows: Vec<T>,
        limit: i64,
        position: impl Fn(&T) -> P,
    ) -> (Vec<T>, String) {
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let token = match rows.last() {
            Some(last) if has_more => self.encode(scope, &position(last)),
            _ => String::new(),
        };
        (rows, token)
    }

    fn mac(&self, scope: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac
    }

    fn tag(&self, scope: &str, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac(scope);
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_clamp() {
        assert_eq!(page_size(0), 20);
        assert_eq!(page_size(-5), 20);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(1000), 100);
        assert_eq!(page_size(i32::MAX), 100);
    }

    #[test]
    fn a_token_round_trips_for_its_own_scope_only() {
        let tokens = PageTokens::random();
        let token = tokens.encode("user-a|active", &(42_i64, "x".to_owned()));
        let back: Option<(i64, String)> = tokens.decode("user-a|active", &token).unwrap();
        assert_eq!(back, Some((42, "x".to_owned())));
        assert_eq!(
            tokens.decode::<(i64, String)>("user-b|active", &token),
            Err(InvalidPageToken)
        );
        assert_eq!(
            tokens.decode::<(i64, String)>("user-a|archived", &token),
            Err(InvalidPageToken)
        );
    }

    #[test]
    fn a_page_keeps_its_limit_and_points_past_its_last_row_only_when_more_follow() {
        let tokens = PageTokens::random();
        let (rows, token) = tokens.finish_page("s", vec![1, 2, 3], 2, |r| *r);
        assert_eq!(rows, [1, 2]);
        assert_eq!(tokens.decode::<i32>("s", &token), Ok(Some(2)));
        let (rows, token) = tokens.finish_page("s", vec![1, 2], 2, |r| *r);
        assert_eq!((rows, token), (vec![1, 2], String::new()));
    }

    #[test]
    fn forged_and_altered_tokens_are_refused() {
        let tokens = PageTokens::random();
        let token = tokens.encode("s", &1_i64);
        let (payload, tag) = token.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(b"2");
        for bad in [
            "garbage".to_owned(),
            "a.b".to_owned(),
            format!("{forged_payload}.{tag}"),
            format!("{payload}."),
            format!("{payload}.{tag}x"),
            PageTokens::random().encode("s", &1_i64),
        ] {
            assert_eq!(
                tokens.decode::<i64>("s", &bad),
                Err(InvalidPageToken),
                "{bad}"
            );
        }
        assert_eq!(tokens.decode::<i64>("s", ""), Ok(None));
    }
}
