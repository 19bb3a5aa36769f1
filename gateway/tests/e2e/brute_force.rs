//! Brute force through the gateway: 1,000 wrong passwords for one account,
//! from one address that claims to be many (a spoofed `X-Forwarded-For`
//! from a peer the gateway does not trust) and from many addresses behind a
//! trusted proxy. The lock holds, the right password is refused while it
//! does, and other users are not affected.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::stack::{PASSWORD, Stack, spawn_stack, spawn_stack_with};

const ATTEMPTS: u32 = 1000;

/// A login of `email` with `password` claiming to be for `forwarded_for`.
async fn login(stack: &Stack, email: &str, password: &str, forwarded_for: &str) -> StatusCode {
    stack
        .http
        .post(format!("{}/v1/auth/login", stack.base))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// A different address for each attempt.
fn address(i: u32) -> String {
    format!("198.51.{}.{}", i / 250, i % 250 + 1)
}

/// 1,000 wrong passwords for Ada; how many got each status.
async fn storm(stack: &Stack) -> BTreeMap<u16, u32> {
    let mut statuses = BTreeMap::new();
    for i in 0..ATTEMPTS {
        let status = login(
            stack,
            "ada@example.com",
            &format!("guess number {i}"),
            &address(i),
        )
        .await;
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    statuses
}

/// How many failed sign-ins of Ada the audit log holds, and from how many
/// distinct addresses.
async fn recorded_failures(stack: &Stack) -> (i64, i64) {
    let client = testkit::Database::at(&stack.auth_db).client().await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT ip_address) FROM audit_events \
             WHERE event_type = 'login_failed' AND login_name = 'ada@example.com'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Only refusals, and after the first few failures only the lock's 429.
fn assert_held(statuses: &BTreeMap<u16, u32>) {
    assert!(
        statuses.keys().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.get(&401).copied().unwrap_or(0) <= 5,
        "{statuses:?}"
    );
    assert_eq!(statuses.values().sum::<u32>(), ATTEMPTS);
}

#[tokio::test]
async fn a_thousand_guesses_from_one_peer_spoofing_forwarded_for_do_not_get_in() {
    let stack = spawn_stack().await;
    stack.signed_in("ada@example.com").await;
    stack.signed_in("grace@example.com").await;

    let statuses = storm(&stack).await;
    assert_held(&statuses);
    // The right password is refused while the lock holds, whatever the
    // header claims.
    assert_eq!(
        login(&stack, "ada@example.com", PASSWORD, "192.0.2.1").await,
        429
    );
    // The header was not believed: the guesses that reached the
    // auth-service (the edge's per-address rate limit may have refused the
    // others) are in the audit log, all from the one address they came from.
    let (recorded, addresses) = recorded_failures(&stack).await;
    assert!(recorded > 5, "{recorded}");
    assert_eq!(addresses, 1);
    // Grace, signing in from another address, is not affected. (From the
    // storm's own address she may be refused: its failures lock that
    // address, and the edge's per-address rate limit may still be spent.)
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap();
    let status = elsewhere
        .post(format!("{}/v1/auth/login", stack.base))
        .json(&json!({"email": "grace@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_thousand_guesses_from_a_thousand_addresses_behind_a_trusted_proxy_do_not_get_in() {
    let stack =
        spawn_stack_with(|config| config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()])
            .await;
    stack.signed_in("ada@example.com").await;
    stack.signed_in("grace@example.com").await;

    let statuses = storm(&stack).await;
    assert_held(&statuses);
    // The account's lock holds against an address never seen before ...
    assert_eq!(
        login(&stack, "ada@example.com", PASSWORD, "192.0.2.1").await,
        429
    );
    // Each evaluated guess (5) is recorded with the address the proxy
    // vouched for, and the lock once: refused attempts cost no hashing, so
    // they are coalesced into the first refusal's row, not written each.
    assert_eq!(recorded_failures(&stack).await, (5 + 1, 5 + 1));
    // Grace, through the same proxy, is not affected.
    assert_eq!(
        login(&stack, "grace@example.com", PASSWORD, "192.0.2.2").await,
        200
    );
}
