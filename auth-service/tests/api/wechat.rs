//! WeChat mini-program login against a fake WeChat on loopback.

use std::time::Duration;

use auth_service::config::{SecretsKey, WechatConfig};
use auth_service::wechat::fake::FakeWechat;
use proto::auth::v1 as pb;
use secrecy::SecretString;
use tonic::Code;

use crate::helpers::{TestApp, authorized, spawn_with, test_config};

const APP_ID: &str = "wx-test-app";
const SECRET: &str = "wx-test-secret";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The service with WeChat login pointed at a fresh fake.
async fn spawn(timeout: Duration) -> (TestApp, FakeWechat) {
    let fake = FakeWechat::start("127.0.0.1:0".parse().unwrap(), APP_ID, SECRET)
        .await
        .unwrap();
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.wechat = Some(WechatConfig {
        app_id: APP_ID.into(),
        app_secret: SecretString::from(SECRET),
        api_base: fake.base_url(),
        timeout,
    });
    config.secrets_key = Some(SecretsKey::from_base64(KEY).unwrap());
    (spawn_with(config, keys).await, fake)
}

async fn login(app: &TestApp, code: &str) -> Result<pb::TokenPair, tonic::Status> {
    app.auth
        .clone()
        .login_with_wechat(pb::LoginWithWechatRequest {
            code: code.into(),
            device_info: "mini-program".into(),
        })
        .await
        .map(|r| r.into_inner().token_pair.unwrap())
}

#[tokio::test]
async fn the_first_sign_in_creates_the_user_and_the_next_ones_find_them() {
    let (app, _fake) = spawn(Duration::from_secs(5)).await;
    let first = login(&app, "alice").await.unwrap();
    let again = login(&app, "alice").await.unwrap();
    let other = login(&app, "bob").await.unwrap();
    let id = |pair: &pb::TokenPair| pair.user.as_ref().unwrap().user_id.clone();
    assert_eq!(id(&first), id(&again), "the same openid is the same user");
    assert_ne!(id(&first), id(&other), "another openid is another user");
    assert_ne!(first.session_id, again.session_id, "a session per sign-in");
    assert_eq!(
        first.user.as_ref().unwrap().email,
        "",
        "WeChat gives no email"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM external_identities WHERE provider = 'wechat'")
            .await,
        2
    );

    // The account works like any other: a Chinese nickname round-trips.
    let user = app
        .auth
        .clone()
        .update_me(authorized(
            &first.access_token,
            pb::UpdateMeRequest {
                full_name: Some("微信用户小明".into()),
                avatar: Some("https://thirdwx.example.com/avatar.png".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.full_name, "微信用户小明");
    let me = app.get_me(Some(&again.access_token)).await.unwrap();
    assert_eq!(me.full_name, "微信用户小明");

    // Audited with the provider.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_succeeded' \
             AND provider = 'wechat' AND login_name = 'wechat:o-alice'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn the_session_key_is_never_returned_and_is_stored_sealed() {
    let (app, _fake) = spawn(Duration::from_secs(5)).await;
    let pair = login(&app, "alice").await.unwrap();
    let user_id = pair.user.as_ref().unwrap().user_id.parse().unwrap();
    let mut conn = app.state.pool.get().await.unwrap();
    let identities = auth_service::db::identities::Identity::of_user(&mut conn, user_id)
        .await
        .unwrap();
    let sealed = identities[0].secret.clone().expect("kept, sealed");
    let key = SecretsKey::from_base64(KEY).unwrap();
    let session_key = auth_service::secrets::open(&key, &sealed).expect("opens with the key");
    let session_key = String::from_utf8(session_key).unwrap();
    assert_eq!(session_key.len(), 24, "the fake's base64 session key");
    assert!(
        !String::from_utf8_lossy(&sealed).contains(&session_key),
        "not in clear"
    );
    let encoded = format!("{pair:?}");
    assert!(!encoded.contains(&session_key), "not in the answer");
    assert_eq!(identities[0].union_id.as_deref(), Some("u-alice"));
}

#[tokio::test]
async fn wechat_error_codes_become_clear_errors_and_are_audited() {
    let (app, _fake) = spawn(Duration::from_secs(5)).await;
    for (code, expected) in [
        ("invalid", Code::Unauthenticated),
        ("used", Code::Unauthenticated),
        ("limited", Code::ResourceExhausted),
        ("busy", Code::Unavailable),
    ] {
        let status = login(&app, code).await.unwrap_err();
        assert_eq!(status.code(), expected, "{code}: {status:?}");
        if expected == Code::ResourceExhausted {
            // With a RetryInfo saying when to try again.
            assert!(status.message().contains("try again"), "{status:?}");
        } else {
            assert!(status.message().contains("WeChat"), "{code}: {status:?}");
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_failed' \
             AND provider = 'wechat'"
        )
        .await,
        4
    );
    for code in ["", "with space", &"x".repeat(300)] {
        let status = login(&app, code).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{code:?}");
    }
}

#[tokio::test]
async fn a_5xx_is_tried_again_and_a_timeout_is_unavailable() {
    let (app, fake) = spawn(Duration::from_millis(300)).await;
    login(&app, "flaky-carol").await.unwrap();
    assert_eq!(fake.calls(), 2, "one 500, then the answer");

    let before = fake.calls();
    let started = std::time::Instant::now();
    let status = login(&app, "slow").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "three short attempts"
    );
    assert_eq!(fake.calls() - before, 3, "three attempts");
}

#[tokio::test]
async fn without_configuration_wechat_login_is_failed_precondition() {
    let app = crate::helpers::spawn_app().await;
    let status = login(&app, "alice").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_deactivated_account_cannot_sign_in_through_wechat() {
    let (app, _fake) = spawn(Duration::from_secs(5)).await;
    let pair = login(&app, "alice").await.unwrap();
    let admin = app.superuser("root@example.com").await;
    app.admin
        .clone()
        .update_user(authorized(
            &admin,
            pb::UpdateUserRequest {
                user_id: pair.user.unwrap().user_id,
                is_active: Some(false),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let status = login(&app, "alice").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_failed' \
             AND provider = 'wechat' AND reason = 'account_deactivated'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
            .await,
        1,
        "only the admin's session is live"
    );
}

#[tokio::test]
async fn a_wrong_app_secret_is_refused_without_creating_anyone() {
    let fake = FakeWechat::start("127.0.0.1:0".parse().unwrap(), APP_ID, SECRET)
        .await
        .unwrap();
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.wechat = Some(WechatConfig {
        app_id: APP_ID.into(),
        app_secret: SecretString::from("not-the-secret"),
        api_base: fake.base_url(),
        timeout: Duration::from_secs(5),
    });
    let app = spawn_with(config, keys).await;
    let status = login(&app, "alice").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn made_up_codes_from_one_address_are_cut_off_before_they_reach_wechat() {
    let (app, fake) = spawn(Duration::from_secs(5)).await;
    let from = |ip: &str, code: &str| {
        let mut auth = app.auth.clone();
        let request = crate::helpers::from_gateway(
            tonic::Request::new(pb::LoginWithWechatRequest {
                code: code.into(),
                device_info: String::new(),
            }),
            ip,
        );
        async move { auth.login_with_wechat(request).await }
    };
    // Good codes do not count.
    from("198.51.100.9", "alice").await.unwrap();
    for _ in 0..50 {
        let status = from("198.51.100.9", "invalid").await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let calls = fake.calls();
    let status = from("198.51.100.9", "alice").await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(fake.calls(), calls, "refused without calling WeChat");
    // Another address signs in.
    from("203.0.113.4", "alice").await.unwrap();
}
