//! Schema fuzzing: schemathesis (PyPI) generates requests for every
//! operation of the gateway's `/openapi.json`, signed in as a normal user,
//! and runs its default checks on the answers: no 5xx, responses match the
//! schema, status codes and content types documented. Zero failures.
//!
//! `SCHEMA_FUZZ_EXAMPLES` sets the examples per operation (default 25, what
//! CI runs); `SCHEMA_FUZZ_SEED` the seed (default fixed, so that a failure
//! reproduces). The long run is in docs/RELIABILITY.md: 200 examples take about
//! 6 minutes; keep the whole run within the access tokens' 15 minutes.

use reqwest::Method;
use serde_json::json;

use crate::stack::{PASSWORD, Stack, spawn_stack_with};

/// The checks: the "default checks" (no 5xx, responses match the
/// schema, status codes, content types and headers as documented, `Allow`
/// on 405). Not `positive_data_acceptance` / `negative_data_rejection`: they
/// need every validation rule in the schema (required fields, lengths), and
/// proto3 does not say those; see docs/RELIABILITY.md.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      allow_header_conformance";

/// The operations that end the session of the token they are called with:
/// fuzzed last, with a token of their own. (schemathesis reuses ids it saw
/// in responses: it finds the caller's own device in `GET /v1/auth/sessions`
/// and revokes it, with the session.)
const SESSION_ENDING: [&str; 4] = [
    "/v1/auth/logout",
    "/v1/auth/password",
    "/v1/auth/sessions/{session_id}",
    "/v1/auth/devices/{device_id}",
];

/// Runs schemathesis on `stack` as `token`, with `filter` selecting the
/// operations; its output, after asserting that it found no failure (and,
/// unless `token_ends`, that the token was accepted throughout).
async fn schemathesis(stack: &Stack, token: &str, filter: &[&str], token_ends: bool) -> String {
    let program = service_runtime::testing::tool(
        "SCHEMATHESIS",
        &["schemathesis", "st"],
        "python3 -m venv /opt/test-tools && /opt/test-tools/bin/pip install schemathesis",
    );
    let examples = std::env::var("SCHEMA_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let seed = std::env::var("SCHEMA_FUZZ_SEED").unwrap_or_else(|_| "20261122".into());
    // It keeps a cache of crashes where it runs: not in the checkout.
    let workdir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(&program)
        .current_dir(workdir.path())
        .arg("run")
        .arg(format!("{}/openapi.json", stack.base))
        .args(["--url", &stack.base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker thread: under Python 3.11, hypothesis parsing its
        // sources (`ast.parse`) from two threads at once can fail inside
        // CPython ("AST constructor recursion depth mismatch": the AST
        // validator's depth counter is shared between threads), which
        // schemathesis reports as an error of the operation it was on.
        .args([
            "--generation-database",
            "none",
            "--no-color",
            "--workers",
            "1",
        ])
        .args(filter)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // It tested something, and its token was accepted (a normal user's
    // 403 on the admin routes is the answer expected).
    assert!(stdout.contains(" generated"), "{stdout}");
    assert!(
        token_ends || !stdout.contains("401 Unauthorized ("),
        "{stdout}"
    );
    stdout
}

/// A superuser's access token, made with the auth-service's own command.
async fn superuser_token(stack: &Stack) -> String {
    let pool = postgres_kit::build_pool(
        &postgres_kit::DatabaseUrl::parse(&stack.auth_db).unwrap(),
        &postgres_kit::PoolSettings::new("schema-fuzzing"),
    )
    .unwrap();
    let hasher = auth_service::passwords::PasswordHasher::new(4, 1, 8).unwrap();
    auth_service::admin::create_superuser(&pool, &hasher, "root@example.com", None, PASSWORD)
        .await
        .unwrap();
    stack.logged_in("root@example.com").await
}

/// The summary's "N generated, ..." line.
fn generated(output: &str) -> &str {
    output
        .lines()
        .find(|line| {
            line.contains(" generated")
                && line
                    .split_whitespace()
                    .next()
                    .is_some_and(|n| n.parse::<u64>().is_ok())
        })
        .map_or("", str::trim)
}

#[tokio::test]
async fn schemathesis_finds_no_failure_in_the_http_api() {
    // The fuzzer sends hundreds of requests a second as one user from one
    // address: the edge's rate limits would answer most of them 429.
    let stack = spawn_stack_with(|config| {
        config.rate_limit_per_ip = 0;
        config.rate_limit_per_user = 0;
    })
    .await;
    let token = stack.signed_in("fuzz@example.com").await;
    // Something to find: a conversation.
    let response = stack
        .call(
            Method::POST,
            "/v1/conversations",
            Some(&token),
            Some(json!({"title": "fuzzed"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    // The later passes' tokens, taken now: the fuzzer's failed logins from
    // this one address lock it for logins (50 failures), as they should.
    let ending_token = stack.logged_in("fuzz@example.com").await;
    let admin_token = superuser_token(&stack).await;

    let mut all_but = Vec::new();
    for path in SESSION_ENDING {
        all_but.extend(["--exclude-path", path]);
    }
    let most = schemathesis(&stack, &token, &all_but, false).await;
    let mut only = Vec::new();
    for path in SESSION_ENDING {
        only.extend(["--include-path", path]);
    }
    let ending = schemathesis(&stack, &ending_token, &only, true).await;
    // The admin routes once more, as a superuser.
    let admin = schemathesis(
        &stack,
        &admin_token,
        &["--include-path-regex", "^/v1/admin/"],
        false,
    )
    .await;
    eprintln!(
        "schemathesis: {}; session-ending operations: {}; admin operations as a superuser: {}",
        generated(&most),
        generated(&ending),
        generated(&admin)
    );

    // Every process is still up and ready.
    let response = stack.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(response.status(), 200);
}
