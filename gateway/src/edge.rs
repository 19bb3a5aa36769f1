//! Protection at the edge: who the client is (behind trusted proxies),
//! requests per second per client address and per user (`governor`),
//! requests in progress per client address, header size, and the security
//! headers every response carries. Client addresses are counted per IPv4
//! address and per IPv6 /64 (what one subscriber usually holds), never
//! against a trusted proxy's own address.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use ipnet::IpNet;
use service_runtime::slots::KeyedSlots;
use tonic::Code;
use uuid::Uuid;

use crate::error::ApiError;

/// The client's address, as the edge decided it (see [`client_ip`]); put
/// in the request's extensions. `None`: a trusted proxy did not say.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// The client's address: the peer's, unless the peer is a trusted proxy,
/// then the right-most address of `X-Forwarded-For` that is not one (the
/// left part of the header is whatever the client wrote). `None` when a
/// trusted proxy's header names no such address: the proxy's own address
/// is never taken for the client's, or one client's failures would be
/// counted against everyone behind it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    // From the right: our proxies' entries, then the client's. An entry that
    // is not an address (a port, garbage) ends the walk: what is left of it
    // cannot be trusted.
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip.to_canonical()),
            Err(_) => return None,
        }
    }
    None
}

/// The key an address is counted under: an IPv4 address (IPv4-mapped IPv6
/// included) as it is, an IPv6 address by its /64.
pub fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Requests in progress per client address.
#[derive(Clone)]
pub struct InProgress {
    slots: Option<KeyedSlots<IpAddr>>,
}

/// A request's place in [`InProgress`], given back when dropped.
pub type Slot = service_runtime::slots::Slot<IpAddr>;

impl InProgress {
    /// At most `max` per address; 0 is no limit.
    pub fn new(max: usize) -> Self {
        Self {
            slots: (max > 0).then(|| KeyedSlots::new(max)),
        }
    }

    /// A slot for a request of `ip`, or 429 when it has `max` in progress.
    pub fn enter(&self, ip: IpAddr) -> Result<Option<Slot>, ApiError> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        match slots.try_enter(counted_as(ip)) {
            Some(slot) => Ok(Some(slot)),
            None => {
                let mut error = ApiError::new(
                    Code::ResourceExhausted,
                    "too many requests in progress from this address",
                );
                error.retry_after = Some(Duration::from_secs(1));
                Err(error)
            }
        }
    }

    /// Requests in progress from `ip`.
    pub fn of(&self, ip: IpAddr) -> usize {
        self.slots.as_ref().map_or(0, |s| s.of(&counted_as(ip)))
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds its request's [`Slot`] until it ends or is
    /// dropped.
    struct Holding {
        #[pin]
        body: axum::body::Body,
        _slot: Slot,
    }
}

impl http_body::Body for Holding {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// At most one warning a minute for one kind of event.
#[derive(Clone, Default)]
pub struct Warned(Arc<AtomicU64>);

impl Warned {
    /// Whether to warn now (true at most once a minute).
    pub fn now(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.0.load(Ordering::Relaxed);
        (last == 0 || now >= last + 60)
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Requests per second per client address and per user.
#[derive(Clone)]
pub struct RateLimits {
    per_ip: Option<Arc<Keyed<IpAddr>>>,
    per_user: Option<Arc<Keyed<Uuid>>>,
}

impl RateLimits {
    /// `per_ip` and `per_user` requests per second (bursts of twice that);
    /// 0 switches a limit off. Forgets idle keys every minute.
    pub fn new(per_ip: u32, per_user: u32) -> Self {
        let quota = |rate: u32| {
            let rate = NonZeroU32::new(rate)?;
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not 0"));
            Some(Quota::per_second(rate).allow_burst(burst))
        };
        let limits = Self {
            per_ip: quota(per_ip).map(|q| Arc::new(RateLimiter::keyed(q))),
            per_user: quota(per_user).map(|q| Arc::new(RateLimiter::keyed(q))),
        };
        let weak = (
            limits.per_ip.as_ref().map(Arc::downgrade),
            limits.per_user.as_ref().map(Arc::downgrade),
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                let (ip, user) = (
                    weak.0.as_ref().map(std::sync::Weak::upgrade),
                    weak.1.as_ref().map(std::sync::Weak::upgrade),
                );
                if matches!(ip, Some(None)) || matches!(user, Some(None)) {
                    return; // the gateway is gone
                }
                if let Some(Some(limiter)) = ip {
                    limiter.retain_recent();
                }
                if let Some(Some(limiter)) = user {
                    limiter.retain_recent();
                }
            }
        });
        limits
    }

    /// Whether `ip` may make another request.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.per_ip {
            Some(limiter) => limiter.check_key(&counted_as(ip)).map_err(|not_until| {
                too_many(not_until.wait_time_from(DefaultClock::default().now()))
            }),
            None => Ok(()),
        }
    }

    /// Whether `user` may make another request.
    pub fn check_user(&self, user: Uuid) -> Result<(), ApiError> {
        match &self.per_user {
            Some(limiter) => limiter.check_key(&user).map_err(|not_until| {
                too_many(not_until.wait_time_from(DefaultClock::default().now()))
            }),
            None => Ok(()),
        }
    }
}

fn too_many(wait: Duration) -> ApiError {
    let mut error = ApiError::new(Code::ResourceExhausted, "too many requests, slow down");
    error.retry_after = Some(wait.max(Duration::from_secs(1)));
    error
}

/// What the edge middleware needs.
#[derive(Clone)]
pub struct Edge {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// Request rates.
    pub limits: RateLimits,
    /// Requests in progress per address.
    pub in_progress: InProgress,
    /// When `X-Forwarded-For` from an untrusted peer was last warned of.
    pub untrusted_forwarding: Warned,
}

/// Decides the client address and refuses clients over their rate or with
/// too many requests in progress.
pub async fn protect(
    axum::extract::State(edge): axum::extract::State<Edge>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(peer.ip(), request.headers(), &edge.trusted_proxies);
    let peer_trusted = edge.trusted_proxies.iter().any(|n| n.contains(&peer.ip()));
    if !peer_trusted
        && request.headers().contains_key("x-forwarded-for")
        && edge.untrusted_forwarding.now()
    {
        tracing::warn!(
            peer = %peer.ip(),
            "X-Forwarded-For from a peer that is not a trusted proxy was ignored \
             (is GATEWAY_TRUSTED_PROXIES missing the ingress?)"
        );
    }
    let admitted = match ip {
        // A client a trusted proxy did not name is held to the global cap only.
        None => Ok(None),
        Some(ip) => edge
            .limits
            .check_ip(ip)
            .and_then(|()| edge.in_progress.enter(ip)),
    };
    match admitted {
        Err(error) => error.into_response(),
        Ok(slot) => {
            request.extensions_mut().insert(ClientIp(ip));
            let response = next.run(request).await;
            // Held until the response body ends (a download, an event
            // stream), not only until its head is sent.
            match slot {
                Some(slot) => {
                    response.map(|body| axum::body::Body::new(Holding { body, _slot: slot }))
                }
                None => response,
            }
        }
    }
}

/// Refuses oversized headers and adds the security headers to whatever is
/// answered: every route, probes included.
pub async fn guard(
    axum::extract::State(header_limit): axum::extract::State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let mut response = if header_bytes > header_limit {
        ApiError::new(
            Code::InvalidArgument,
            format!("the request headers are larger than {header_limit} bytes"),
        )
        .with_http(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        .into_response()
    } else {
        next.run(request).await
    };
    security_headers(response.headers_mut());
    response
}

/// Headers every response carries (unless a route set its own): no
/// sniffing, no framing, no referrer, no caching of API answers, and a
/// content security policy that allows nothing (the docs page sets its own).
fn security_headers(headers: &mut HeaderMap) {
    let defaults: [(HeaderName, &str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let headers = forwarded("6.6.6.6, 203.0.113.9, 10.1.2.3");
        // From a trusted proxy: the right-most untrusted address.
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &headers, &trusted),
            Some("203.0.113.9".parse::<IpAddr>().unwrap())
        );
        // From anyone else: the peer, whatever the header says.
        assert_eq!(
            client_ip("198.51.100.7".parse().unwrap(), &headers, &trusted),
            Some("198.51.100.7".parse::<IpAddr>().unwrap())
        );
        // An entry that is not an address stops the walk: no spoofing past
        // it, and the proxy's own address is not the client's.
        assert_eq!(
            client_ip(
                "10.0.0.1".parse().unwrap(),
                &forwarded("6.6.6.6, 203.0.113.9:5678"),
                &trusted
            ),
            None
        );
        // A trusted proxy that names no client, or only proxies: unknown.
        for headers in [HeaderMap::new(), forwarded("10.9.9.9")] {
            assert_eq!(
                client_ip("10.0.0.1".parse().unwrap(), &headers, &trusted),
                None
            );
        }
        // No proxies trusted (the default): the peer.
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &headers, &[]),
            Some("10.0.0.1".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_slash_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(counted_as(a), counted_as(b));
        assert_ne!(counted_as(a), counted_as(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(counted_as(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
        let in_progress = InProgress::new(1);
        let _slot = in_progress.enter(a).unwrap();
        assert!(in_progress.enter(b).is_err(), "same /64");
        assert!(in_progress.enter(c).unwrap().is_some());
    }

    #[test]
    fn a_misconfigured_ingress_is_warned_of_once_a_minute_not_once_a_request() {
        let warned = Warned::default();
        assert!(warned.now());
        for _ in 0..1000 {
            assert!(!warned.now());
        }
    }

    #[test]
    fn a_response_body_holds_its_slot_until_it_is_done() {
        let in_progress = InProgress::new(1);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let slot = in_progress.enter(ip).unwrap().unwrap();
        // A download or an event stream: its body still being sent.
        let body = axum::body::Body::new(Holding {
            body: axum::body::Body::from("still streaming"),
            _slot: slot,
        });
        assert!(in_progress.enter(ip).is_err(), "the body holds the slot");
        drop(body);
        assert!(in_progress.enter(ip).is_ok());
    }

    #[test]
    fn a_slot_is_given_back_when_its_request_ends() {
        let in_progress = InProgress::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = in_progress.enter(ip).unwrap();
        let _second = in_progress.enter(ip).unwrap();
        let error = in_progress.enter(ip).unwrap_err();
        assert_eq!(error.http, StatusCode::TOO_MANY_REQUESTS);
        assert!(in_progress.enter("192.0.2.2".parse().unwrap()).is_ok());
        drop(first);
        assert_eq!(in_progress.of(ip), 1);
        assert!(in_progress.enter(ip).is_ok());
    }

    #[tokio::test]
    async fn a_client_over_its_rate_is_refused_with_retry_after_and_others_are_not() {
        // One per second: a refill would need a whole second between checks.
        let limits = RateLimits::new(1, 0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // A burst of twice the rate passes, the next does not.
        for _ in 0..2 {
            limits.check_ip(ip).unwrap();
        }
        let error = limits.check_ip(ip).unwrap_err();
        assert_eq!(error.http, StatusCode::TOO_MANY_REQUESTS);
        assert!(error.retry_after.is_some());
        limits.check_ip("192.0.2.2".parse().unwrap()).unwrap();
        // The per-user limit is off.
        for _ in 0..100 {
            limits.check_user(Uuid::nil()).unwrap();
        }
    }
}
