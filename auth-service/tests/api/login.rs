use proto::auth::v1 as pb;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test]
async fn login_by_email_returns_a_token_pair_and_records_the_sign_in() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "ada")
        .await
        .unwrap();
    let pair = app
        .login_email("ADA@example.com", testkit::PASSWORD)
        .await
        .unwrap();
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 900);
    assert_eq!(pair.access_token.split('.').count(), 3);
    let user = pair.user.unwrap();
    assert!(user.last_login_at.is_some());
    assert_eq!(app.count("SELECT login_count::bigint FROM users").await, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{}'",
            pair.session_id
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn login_by_username_ignores_its_case() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "Ada.L")
        .await
        .unwrap();
    let pair = app
        .auth
        .clone()
        .login(pb::LoginRequest {
            username: "ada.l".into(),
            password: testkit::PASSWORD.into(),
            device_info: "test suite".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .token_pair
        .unwrap();
    assert_eq!(pair.user.unwrap().email, "ada@example.com");
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE device_info = 'test suite'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();
    let wrong = app
        .login_email("ada@example.com", "wrong horse battery")
        .await
        .unwrap_err();
    let unknown = app
        .login_email("nobody@example.com", testkit::PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn login_needs_exactly_one_of_email_and_username_and_a_password() {
    let app = spawn_app().await;
    let requests = [
        pb::LoginRequest {
            password: "x".repeat(10),
            ..Default::default()
        },
        pb::LoginRequest {
            email: "ada@example.com".into(),
            username: "ada".into(),
            password: "x".repeat(10),
            ..Default::default()
        },
        pb::LoginRequest {
            email: "ada@example.com".into(),
            ..Default::default()
        },
    ];
    for request in requests {
        let status = app.auth.clone().login(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn a_login_storm_does_not_starve_the_connection_pool() {
    // One connection, one bcrypt slot at a real cost, a short pool wait:
    // logins queue for the hasher without holding the connection, so none of
    // them (and no other request) times out waiting for it. Sixteen accounts:
    // one account has at most LOGIN_MAX_FAILURES sign-ins checked at once.
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(&database_url, &keys);
    config.database_pool_size = 1;
    config.database_pool_wait = std::time::Duration::from_millis(300);
    config.bcrypt_cost = 10;
    config.bcrypt_concurrency = 1;
    config.bcrypt_max_waiting = 16;
    let app = crate::helpers::spawn_with(config, keys).await;
    let emails: Vec<_> = (0..16).map(|i| format!("user{i}@example.com")).collect();
    for email in &emails {
        app.register(email, testkit::PASSWORD, "").await.unwrap();
    }
    let logins = emails
        .iter()
        .map(|email| app.login_email(email, testkit::PASSWORD));
    let results = futures::future::join_all(logins).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} logins failed: {:?}",
        failed.len(),
        failed.first()
    );
}
