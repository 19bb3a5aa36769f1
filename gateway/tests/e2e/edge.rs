//! Protection at the edge: security headers, CORS, rate limits, header
//! size, the concurrency cap, and client addresses behind trusted proxies.

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::stack::{error_body, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let stack = spawn_stack().await;
    for path in ["/healthz", "/v1/auth/me", "/v1/nothing"] {
        let response = stack.call(Method::GET, path, None, None).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
    }
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let stack = spawn_stack_with(|config| {
        config.cors_origins = vec!["https://app.example.com".parse().unwrap()];
    })
    .await;
    let preflight = |origin: &'static str| {
        stack
            .http
            .request(Method::OPTIONS, format!("{}/v1/auth/me", stack.base))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );

    // Without configuration there is no CORS at all.
    let plain = spawn_stack().await;
    let response = plain
        .http
        .get(format!("{}/healthz", plain.base))
        .header(header::ORIGIN, "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}

// The limits refill with time, so these tests do not count on timing: a
// fresh client gets its whole burst, and among many more requests than the
// refill could allow in seconds, some are refused.

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let stack = spawn_stack_with(|config| config.rate_limit_per_ip = 5).await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let response = stack.call(Method::GET, "/v1/auth/me", None, None).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key(header::RETRY_AFTER));
            error_body(response, 429, "RESOURCE_EXHAUSTED").await;
        }
    }
    // The burst (twice the rate) passes to the token check: 401.
    assert_eq!(&statuses[..10], &[401; 10]);
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn a_user_over_their_rate_gets_429() {
    let stack = spawn_stack_with(|config| config.rate_limit_per_user = 1).await;
    let token = stack.signed_in("ada@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = stack
            .call(Method::GET, "/v1/auth/me", Some(&token), None)
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..2], &[200, 200]);
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .get(format!("{}/healthz", stack.base))
        .header("x-padding", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    error_body(response, 431, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn past_the_concurrency_cap_requests_are_shed_with_503() {
    let stack = spawn_stack_with(|config| config.max_concurrent_requests = 1).await;
    let token = stack.signed_in("ada@example.com").await;
    // An upload whose body never ends holds the only slot.
    let (feed, body) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    feed.send(Ok(b"first bytes".to_vec())).await.unwrap();
    let held = tokio::spawn(
        stack
            .http
            .post(format!("{}/v1/files?filename=slow.csv", stack.base))
            .bearer_auth(&token)
            .body(reqwest::Body::wrap_stream(
                tokio_stream::wrappers::ReceiverStream::new(body),
            ))
            .send(),
    );
    // The upload is in progress (the scrape, outside the cap, counts too).
    let holding = crate::stack::eventually(std::time::Duration::from_secs(10), || {
        let scrape = stack.call(Method::GET, "/metrics", None, None);
        async move {
            let text = scrape.await.text().await.unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("http_server_requests_in_flight "))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .is_some_and(|n| n >= 2.0)
        }
    })
    .await;
    assert!(holding, "the upload holds the slot");
    let second = stack
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(
        second.status(),
        503,
        "a second request is refused while the first holds the slot"
    );
    // The probe and the scrape are outside the cap.
    assert_eq!(
        stack
            .call(Method::GET, "/healthz", None, None)
            .await
            .status(),
        200
    );
    drop(feed);
    assert_eq!(held.await.unwrap().unwrap().status(), 200);
    assert_eq!(
        stack
            .call(Method::GET, "/healthz", None, None)
            .await
            .status(),
        200
    );
}

async fn session_ip(stack: &crate::stack::Stack, forwarded_for: &str) -> Value {
    let email = format!("{}@example.com", uuid::Uuid::new_v4());
    stack
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": email, "password": testkit::PASSWORD})),
        )
        .await;
    let pair: Value = stack
        .http
        .post(format!("{}/v1/auth/login", stack.base))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": testkit::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = pair["access_token"].as_str().unwrap();
    let sessions: Value = stack
        .call(Method::GET, "/v1/auth/sessions", Some(token), None)
        .await
        .json()
        .await
        .unwrap();
    sessions["sessions"][0]["ip_address"].clone()
}

#[tokio::test]
async fn x_forwarded_for_is_honoured_only_from_trusted_proxies() {
    let untrusting = spawn_stack().await;
    assert_eq!(session_ip(&untrusting, "203.0.113.5").await, "127.0.0.1");
    let trusting =
        spawn_stack_with(|config| config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()])
            .await;
    assert_eq!(
        session_ip(&trusting, "6.6.6.6, 203.0.113.5").await,
        "203.0.113.5"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = spawn_stack_with(|config| {
        config.idle_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let address = stack.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .unwrap();
    // The rest of the headers never comes: the gateway hangs up.
    let mut buffer = Vec::new();
    // Closed (cleanly or by a reset) well before 10 s; a hang fails here.
    let _closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_to_end(&mut buffer),
    )
    .await
    .expect("the gateway closes the connection");
    let text = String::from_utf8_lossy(&buffer);
    assert!(!text.contains("200 OK"), "{text}");
}
