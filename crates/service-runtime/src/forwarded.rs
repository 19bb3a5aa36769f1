//! Client facts the gateway vouches for.
//!
//! The gateway tells the services who the HTTP client is (its address and
//! user agent) in `x-forwarded-for` and `x-forwarded-user-agent`. A service
//! believes them only when `x-forwarded-signature` proves the gateway wrote
//! them: an HMAC-SHA256, under the secret the gateway and the services share
//! (`FORWARDED_SECRET`), over those two values, the request id and the time
//! of signing. Anything else that reaches a service (a worker pod, a caller
//! inside the cluster with forged headers) is its peer address and its own
//! user agent, so it cannot borrow someone else's address to get around the
//! per-address limits. The signature is checked in constant time and is good
//! for [`MAX_AGE_SECS`] either way of the service's clock.
//!
//! The gateway says [`UNKNOWN`] (the word RFC 7239 uses) when it does not
//! know the client's address, e.g. a trusted proxy that sent no
//! `X-Forwarded-For`: the service then counts no address at all rather than
//! the gateway's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The client's address, or [`UNKNOWN`].
pub const FOR: &str = "x-forwarded-for";
/// The client's user agent.
pub const USER_AGENT: &str = "x-forwarded-user-agent";
/// `t=<unix seconds>,v1=<base64url HMAC>`.
pub const SIGNATURE: &str = "x-forwarded-signature";
/// The request id, part of what is signed.
pub const REQUEST_ID: &str = "x-request-id";
/// The address of a client the gateway could not identify.
pub const UNKNOWN: &str = "unknown";
/// How far a signature's time may be from the checker's clock.
pub const MAX_AGE_SECS: i64 = 60;
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The shared secret that signs and checks forwarded client facts.
#[derive(Clone)]
pub struct ForwardingKey {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for ForwardingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwardingKey")
    }
}

impl ForwardingKey {
    /// The key of `secret`; refused when shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &SecretString) -> Result<Self, String> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(format!("must be at least {MIN_SECRET_LEN} bytes"));
        }
        Ok(Self { key: bytes.into() })
    }

    /// A random key (the dev stack, where one process runs everything).
    pub fn random() -> Self {
        let key: [u8; 32] = rand::random();
        Self { key: key.into() }
    }

    fn tag(&self, at: i64, headers: &HeaderMap) -> HmacSha256 {
        let value = |name: &str| headers.get(name).map_or(&b""[..], HeaderValue::as_bytes);
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        // Header values cannot hold a newline, so the fields cannot run together.
        for part in [
            b"v1".as_slice(),
            at.to_string().as_bytes(),
            value(FOR),
            value(USER_AGENT),
            value(REQUEST_ID),
        ] {
            mac.update(part);
            mac.update(b"\n");
        }
        mac
    }

    /// Signs the forwarded facts in `headers` as of `now` (unix seconds).
    pub fn sign(&self, headers: &mut HeaderMap, now: i64) {
        let tag = self.tag(now, headers).finalize().into_bytes();
        let value = format!("t={now},v1={}", URL_SAFE_NO_PAD.encode(tag));
        headers.insert(
            SIGNATURE,
            HeaderValue::from_str(&value).expect("ASCII digits and base64url"),
        );
    }

    /// Signs the forwarded facts in a gRPC request's `metadata`.
    pub fn sign_metadata(&self, metadata: &mut tonic::metadata::MetadataMap, now: i64) {
        let mut headers = std::mem::take(metadata).into_headers();
        self.sign(&mut headers, now);
        *metadata = tonic::metadata::MetadataMap::from_headers(headers);
    }

    /// Whether `headers` carry a valid signature made within
    /// [`MAX_AGE_SECS`] of `now` (unix seconds).
    pub fn vouches(&self, headers: &HeaderMap, now: i64) -> bool {
        let Some(signature) = headers.get(SIGNATURE).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((at, tag)) = parse(signature) else {
            return false;
        };
        if (now - at).abs() > MAX_AGE_SECS {
            return false;
        }
        // Constant-time comparison.
        self.tag(at, headers).verify_slice(&tag).is_ok()
    }
}

fn parse(signature: &str) -> Option<(i64, Vec<u8>)> {
    let (at, tag) = signature.split_once(',')?;
    let at = at.strip_prefix("t=")?.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag.strip_prefix("v1=")?).ok()?;
    Some((at, tag))
}

/// The key of `FORWARDED_SECRET` (or `FORWARDED_SECRET_FILE`), if set; a
/// secret that is too short stops the process at start.
pub fn key_from_env<S: crate::env::Source>(
    env: &crate::env::Env<S>,
) -> Result<Option<ForwardingKey>, crate::env::ConfigError> {
    env.optional("FORWARDED_SECRET")
        .map(|secret| {
            ForwardingKey::new(&SecretString::from(secret.trim().to_owned()))
                .map_err(|problem| crate::env::ConfigError::new("FORWARDED_SECRET", problem))
        })
        .transpose()
}

/// The current time in unix seconds.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A tower layer for a service's gRPC server: removes forwarded client facts
/// the gateway did not vouch for (all of them when no key is configured),
/// so that handlers read the peer's own address and user agent instead.
#[derive(Clone, Debug)]
pub struct VouchLayer {
    key: Option<ForwardingKey>,
    last_warning: Arc<AtomicI64>,
}

impl VouchLayer {
    /// Checks with `key`; without one, forwarded facts are never believed.
    pub fn new(key: Option<ForwardingKey>) -> Self {
        Self {
            key,
            last_warning: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// Strips what is not vouched for from `headers`.
    pub fn check(&self, headers: &mut HeaderMap, now: i64) {
        if !headers.contains_key(FOR) && !headers.contains_key(USER_AGENT) {
            headers.remove(SIGNATURE);
            return;
        }
        if self
            .key
            .as_ref()
            .is_some_and(|key| key.vouches(headers, now))
        {
            return;
        }
        // At most one warning a minute: a misconfigured secret would
        // otherwise log once per request.
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "forwarded client headers without a valid gateway signature were ignored \
                 (the caller is not the gateway, or FORWARDED_SECRET differs)"
            );
        }
        headers.remove(FOR);
        headers.remove(USER_AGENT);
        headers.remove(SIGNATURE);
    }
}

impl<S> tower::Layer<S> for VouchLayer {
    type Service = Vouch<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Vouch {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service of [`VouchLayer`].
#[derive(Clone, Debug)]
pub struct Vouch<S> {
    layer: VouchLayer,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Vouch<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        self.layer.check(request.headers_mut(), unix_now());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> ForwardingKey {
        ForwardingKey::new(&SecretString::from(secret.to_owned())).unwrap()
    }

    fn forwarded(ip: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(FOR, ip.parse().unwrap());
        headers.insert(USER_AGENT, "curl/8".parse().unwrap());
        headers.insert(REQUEST_ID, "r-1".parse().unwrap());
        headers
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_short_secret_is_refused() {
        assert!(ForwardingKey::new(&SecretString::from("short".to_owned())).is_err());
    }

    #[test]
    fn what_the_gateway_signed_is_kept_and_anything_altered_or_old_is_stripped() {
        let layer = VouchLayer::new(Some(key(SECRET)));
        let mut signed = forwarded("203.0.113.7");
        key(SECRET).sign(&mut signed, 1000);

        let mut kept = signed.clone();
        layer.check(&mut kept, 1030);
        assert_eq!(kept.get(FOR).unwrap(), "203.0.113.7");
        assert_eq!(kept.get(USER_AGENT).unwrap(), "curl/8");

        let mut cases = Vec::new();
        let mut altered = signed.clone();
        altered.insert(FOR, "198.51.100.1".parse().unwrap());
        cases.push(("another address", altered, 1000));
        let mut other_request = signed.clone();
        other_request.insert(REQUEST_ID, "r-2".parse().unwrap());
        cases.push(("another request id", other_request, 1000));
        cases.push(("too old", signed.clone(), 1000 + MAX_AGE_SECS + 1));
        cases.push(("from the future", signed.clone(), 1000 - MAX_AGE_SECS - 1));
        let mut other_key = forwarded("203.0.113.7");
        key("another secret, also 32 bytes long!").sign(&mut other_key, 1000);
        cases.push(("another key", other_key, 1000));
        cases.push(("unsigned", forwarded("203.0.113.7"), 1000));
        let mut garbage = forwarded("203.0.113.7");
        garbage.insert(SIGNATURE, "t=1000,v1=!!".parse().unwrap());
        cases.push(("garbage", garbage, 1000));
        for (case, mut headers, now) in cases {
            layer.check(&mut headers, now);
            assert!(headers.get(FOR).is_none(), "{case}");
            assert!(headers.get(USER_AGENT).is_none(), "{case}");
            assert!(headers.get(REQUEST_ID).is_some(), "{case}: the id stays");
        }
    }

    #[test]
    fn without_a_key_nothing_forwarded_is_believed() {
        let layer = VouchLayer::new(None);
        let mut headers = forwarded("203.0.113.7");
        key(SECRET).sign(&mut headers, 1000);
        layer.check(&mut headers, 1000);
        assert!(headers.get(FOR).is_none());
    }
}
