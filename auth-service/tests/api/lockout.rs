use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::spawn_app;

const PASSWORD: &str = testkit::PASSWORD;

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password_until_the_cooldown() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "ada")
        .await
        .unwrap();
    for _ in 0..5 {
        let status = app
            .login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = app
        .login_email("ada@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap();
    assert!(
        retry > Duration::from_secs(800) && retry <= Duration::from_secs(900),
        "{retry:?}"
    );
    // Signing in by username reaches the same lock.
    let status = app
        .auth
        .clone()
        .login(proto::auth::v1::LoginRequest {
            username: "ada".into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    app.clock.advance(chrono::Duration::minutes(16));
    assert!(app.login_email("ada@example.com", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn failures_spread_beyond_the_window_do_not_lock() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    for _ in 0..4 {
        app.login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
    }
    app.clock.advance(chrono::Duration::minutes(16));
    for _ in 0..4 {
        app.login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
    }
    assert!(app.login_email("ada@example.com", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn unknown_accounts_lock_like_known_ones() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let status = app
            .login_email("nobody@example.com", "whatever pw")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = app
        .login_email("nobody@example.com", "whatever pw")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_locked_account_does_not_affect_other_users() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    app.register("grace@example.com", PASSWORD, "")
        .await
        .unwrap();
    for _ in 0..6 {
        app.login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
    }
    assert!(app.login_email("grace@example.com", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn many_failures_from_one_ip_lock_that_ip_for_every_account() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    // 50 failures over many accounts from one address.
    for i in 0..50 {
        let status = app
            .login_as(
                &format!("user{i}@example.com"),
                "wrong password",
                Some("198.51.100.7"),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "attempt {i}");
    }
    let status = app
        .login_as("ada@example.com", PASSWORD, Some("198.51.100.7"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        app.login_as("ada@example.com", PASSWORD, Some("198.51.100.8"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    for _ in 0..4 {
        app.login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
    }
    app.login_email("ada@example.com", PASSWORD).await.unwrap();
    for _ in 0..4 {
        app.login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
    }
    assert!(app.login_email("ada@example.com", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn forty_concurrent_wrong_guesses_get_at_most_five_evaluations() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let mut auth = app.auth.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                auth.login(proto::auth::v1::LoginRequest {
                    email: "ada@example.com".into(),
                    password: format!("guess {i}"),
                    ..Default::default()
                })
                .await
                .unwrap_err()
                .code()
            })
        })
        .collect();
    let mut evaluated = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Code::Unauthenticated => evaluated += 1,
            Code::ResourceExhausted => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(evaluated, 5, "{evaluated} of 40 guesses were evaluated");
    assert_eq!(
        app.login_email("ada@example.com", PASSWORD)
            .await
            .unwrap_err()
            .code(),
        Code::ResourceExhausted
    );
}

#[tokio::test]
async fn forged_forwarded_addresses_from_a_caller_that_is_not_the_gateway_are_ignored() {
    // A worker pod (or anything else inside) that can reach the service
    // sends wrong passwords for many names, each with an address of its own
    // choosing: unsigned, so all of them count against its own address.
    let app = spawn_app().await;
    let mut statuses = Vec::new();
    for i in 0..51 {
        let mut request = tonic::Request::new(proto::auth::v1::LoginRequest {
            email: format!("victim{i}@example.com"),
            password: "wrong password".into(),
            ..Default::default()
        });
        request.metadata_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{i}").parse().unwrap(),
        );
        statuses.push(app.auth.clone().login(request).await.unwrap_err().code());
    }
    assert!(statuses[..50].iter().all(|c| *c == Code::Unauthenticated));
    assert_eq!(
        statuses[50],
        Code::ResourceExhausted,
        "the peer's own address is locked"
    );
    // What the gateway signs is believed: another client is not locked.
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    app.login_as("ada@example.com", PASSWORD, Some("203.0.113.1"))
        .await
        .unwrap();
}
