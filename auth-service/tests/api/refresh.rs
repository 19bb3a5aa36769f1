use proto::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_app, spawn_with, spawn_with_clock, test_config};

#[tokio::test]
async fn refresh_rotates_the_pair_and_spends_the_old_token() {
    let app = spawn_app().await;
    let first = app.signed_in_pair("ada@example.com").await;
    assert_eq!(first.refresh_expires_in, 7 * 24 * 3600);
    let second = app.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.session_id, first.session_id);
    assert!(app.get_me(Some(&second.access_token)).await.is_ok());
    // The successor works in turn.
    assert!(app.refresh(&second.refresh_token).await.is_ok());
}

#[tokio::test]
async fn only_the_hash_of_a_refresh_token_is_stored() {
    let app = spawn_app().await;
    let pair = app.signed_in_pair("ada@example.com").await;
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE token_hash = sha256('{}'::bytea)",
            pair.refresh_token
        ))
        .await;
    let plain = app
        .count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE encode(token_hash, 'escape') LIKE '%{}%'",
            pair.refresh_token
        ))
        .await;
    assert_eq!((stored, plain), (1, 0));
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let first = app.signed_in_pair("ada@example.com").await;
    let second = app.refresh(&first.refresh_token).await.unwrap();

    let status = app.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("reuse"), "{}", status.message());

    // The legitimate successor is dead too, and so is the access token.
    assert_eq!(
        app.refresh(&second.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let refused = crate::helpers::eventually(std::time::Duration::from_secs(1), || async {
        app.get_me(Some(&second.access_token)).await.is_err()
    })
    .await;
    assert!(
        refused,
        "the access token of the revoked session still works"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'refresh_reuse'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE revoked_reason = 'refresh token reuse'")
            .await,
        1
    );
}

#[tokio::test]
async fn within_the_grace_window_a_reused_token_gets_a_fresh_pair_and_is_audited() {
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.refresh_reuse_grace = std::time::Duration::from_secs(30);
    let app = spawn_with(config, keys).await;
    let first = app.signed_in_pair("ada@example.com").await;
    let second = app.refresh(&first.refresh_token).await.unwrap();
    app.clock.advance(chrono::Duration::seconds(10));
    let retry = app.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(retry.session_id, first.session_id);
    assert!(app.get_me(Some(&second.access_token)).await.is_ok());
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'refresh_reuse'")
            .await,
        1
    );
    // After the window, reuse is reuse.
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(
        app.refresh(&first.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        app.refresh(&retry.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_yield_exactly_one_pair() {
    let app = spawn_app().await;
    let pair = app.signed_in_pair("ada@example.com").await;
    let (a, b) = tokio::join!(
        app.refresh(&pair.refresh_token),
        app.refresh(&pair.refresh_token)
    );
    let successes = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(successes, 1);
}

/// Two refreshes of one token released together, on the system clock (a
/// frozen clock gives both the same time and hides the race); the successes.
async fn double_refresh(app: &crate::helpers::TestApp, token: &str) -> Vec<pb::TokenPair> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let mut auth = app.auth.clone();
            let barrier = barrier.clone();
            let token = token.to_owned();
            tokio::spawn(async move {
                barrier.wait().await;
                auth.refresh(pb::RefreshRequest {
                    refresh_token: token,
                })
                .await
            })
        })
        .collect();
    let mut pairs = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(response) => pairs.push(response.into_inner().token_pair.unwrap()),
            Err(status) => assert_eq!(status.code(), Code::Unauthenticated),
        }
    }
    pairs
}

async fn system_clock_app(grace_secs: u64) -> crate::helpers::TestApp {
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.refresh_reuse_grace = std::time::Duration::from_secs(grace_secs);
    spawn_with_clock(config, keys, service_runtime::clock::Clock::system()).await
}

#[tokio::test]
async fn twenty_rounds_of_concurrent_double_refresh_never_fork_the_session() {
    let app = system_clock_app(0).await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();
    for round in 0..20 {
        let pair = app
            .login_email("ada@example.com", testkit::PASSWORD)
            .await
            .unwrap();
        let pairs = double_refresh(&app, &pair.refresh_token).await;
        assert_eq!(pairs.len(), 1, "round {round}: {} successes", pairs.len());
    }
}

#[tokio::test]
async fn within_the_grace_window_concurrent_refreshes_leave_one_live_chain() {
    let app = system_clock_app(30).await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();
    for round in 0..10 {
        let pair = app
            .login_email("ada@example.com", testkit::PASSWORD)
            .await
            .unwrap();
        let pairs = double_refresh(&app, &pair.refresh_token).await;
        assert!(!pairs.is_empty(), "round {round}");
        let live = app
            .count(&format!(
                "SELECT count(*) FROM refresh_tokens WHERE session_id = '{}' AND spent_at IS NULL",
                pair.session_id
            ))
            .await;
        assert_eq!(live, 1, "round {round}: {live} live refresh tokens");
    }
}

#[tokio::test]
async fn unknown_malformed_and_expired_refresh_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let pair = app.signed_in_pair("ada@example.com").await;
    for bad in ["", "nonsense", &"x".repeat(10_000)] {
        assert_eq!(
            app.refresh(bad).await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    app.clock.advance(chrono::Duration::days(8));
    assert_eq!(
        app.refresh(&pair.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token_and_vice_versa() {
    let app = spawn_app().await;
    let pair = app.signed_in_pair("ada@example.com").await;
    assert_eq!(
        app.get_me(Some(&pair.refresh_token))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        app.refresh(&pair.access_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn logout_ends_the_session_for_refresh_and_access() {
    let app = spawn_app().await;
    let pair = app.signed_in_pair("ada@example.com").await;
    app.auth
        .clone()
        .logout(authorized(&pair.access_token, pb::LogoutRequest {}))
        .await
        .unwrap();
    assert_eq!(
        app.refresh(&pair.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let refused = crate::helpers::eventually(std::time::Duration::from_secs(1), || async {
        app.get_me(Some(&pair.access_token))
            .await
            .is_err_and(|s| s.code() == Code::Unauthenticated)
    })
    .await;
    assert!(refused);
}
