//! Device tokens: a device that signed in before is limited on its own, so
//! wrong passwords sent from elsewhere cannot lock its owner out.

use proto::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_app};

const PASSWORD: &str = testkit::PASSWORD;
const ATTACKER: &str = "127.0.0.2";
const OWNER: &str = "127.0.0.1";

#[tokio::test]
async fn wrong_passwords_from_elsewhere_do_not_lock_out_a_device_that_signed_in_before() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let first = app
        .login_as("ada@example.com", PASSWORD, Some(OWNER))
        .await
        .unwrap();
    assert_eq!(first.device_token.len(), 43, "256 bits, base64url");

    for _ in 0..8 {
        app.login_as("ada@example.com", "wrong password", Some(ATTACKER))
            .await
            .unwrap_err();
    }
    // Without its token (a new device, or the attacker with the right
    // password), the account is locked...
    let status = app
        .login_as("ada@example.com", PASSWORD, Some(OWNER))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // ...but the owner's device is not, and keeps its token.
    let again = app
        .login_from_device(
            "ada@example.com",
            PASSWORD,
            Some(OWNER),
            &first.device_token,
        )
        .await
        .expect("a known device signs in during the lock");
    assert_eq!(again.device_token, first.device_token);
    // The lock stays for everyone else.
    let status = app
        .login_as("ada@example.com", PASSWORD, Some(ATTACKER))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_device_token_buys_its_holder_the_same_five_guesses_and_locks_only_that_device() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let stolen = app
        .login_email("ada@example.com", PASSWORD)
        .await
        .unwrap()
        .device_token;
    let other = app
        .login_email("ada@example.com", PASSWORD)
        .await
        .unwrap()
        .device_token;
    assert_ne!(stolen, other, "each device gets its own token");
    for _ in 0..5 {
        let status = app
            .login_from_device("ada@example.com", "wrong password", None, &stolen)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = app
        .login_from_device("ada@example.com", PASSWORD, None, &stolen)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // The other device and the account itself are untouched.
    app.login_from_device("ada@example.com", PASSWORD, None, &other)
        .await
        .unwrap();
    app.login_email("ada@example.com", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn another_accounts_or_a_made_up_device_token_counts_as_none() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    app.register("bob@example.com", PASSWORD, "").await.unwrap();
    let bobs = app
        .login_email("bob@example.com", PASSWORD)
        .await
        .unwrap()
        .device_token;
    for _ in 0..5 {
        app.login_email("ada@example.com", "wrong password")
            .await
            .unwrap_err();
    }
    for token in [bobs.as_str(), "made-up", &"x".repeat(10_000)] {
        let status = app
            .login_from_device("ada@example.com", PASSWORD, None, token)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{}", token.len());
    }
    // A sign-in with a token that counts as none gets a new one.
    let fresh = app
        .login_from_device("bob@example.com", PASSWORD, None, "made-up")
        .await
        .unwrap()
        .device_token;
    assert_ne!(fresh, "made-up");
    assert_ne!(fresh, bobs);
}

#[tokio::test]
async fn devices_are_listed_with_the_sessions_and_revoking_one_ends_its_sessions_and_token() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let phone = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let laptop = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    app.clock.advance(chrono::Duration::seconds(1));
    let phone_again = app
        .login_from_device("ada@example.com", PASSWORD, None, &phone.device_token)
        .await
        .unwrap();

    let listed = app
        .auth
        .clone()
        .list_sessions(authorized(&laptop.access_token, pb::ListSessionsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.devices.len(), 2);
    assert_eq!(listed.sessions.len(), 3);
    let device_of = |session_id: &str| {
        listed
            .sessions
            .iter()
            .find(|s| s.session_id == session_id)
            .unwrap()
            .device_id
            .clone()
    };
    let phone_id = device_of(&phone.session_id);
    assert_eq!(device_of(&phone_again.session_id), phone_id);
    assert_ne!(device_of(&laptop.session_id), phone_id);
    // The most recently used device first.
    assert_eq!(listed.devices[0].device_id, phone_id);

    // Someone else's device is NOT_FOUND, as is a malformed id.
    let mallory = app.signed_in("mallory@example.com").await;
    for (token, id) in [
        (&mallory, phone_id.as_str()),
        (&laptop.access_token, "nope"),
    ] {
        let status = app
            .auth
            .clone()
            .revoke_device(authorized(
                token,
                pb::RevokeDeviceRequest {
                    device_id: id.into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }

    let revoked = app
        .auth
        .clone()
        .revoke_device(authorized(
            &laptop.access_token,
            pb::RevokeDeviceRequest {
                device_id: phone_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.revoked_sessions, 2);
    assert_eq!(
        app.refresh(&phone_again.refresh_token)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    app.refresh(&laptop.refresh_token).await.unwrap();
    // Revoked twice: there is no such live device any more.
    let status = app
        .auth
        .clone()
        .revoke_device(authorized(
            &laptop.access_token,
            pb::RevokeDeviceRequest {
                device_id: phone_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Its token now counts as none: the phone is a new device again.
    let new_phone = app
        .login_from_device("ada@example.com", PASSWORD, None, &phone.device_token)
        .await
        .unwrap();
    assert_ne!(new_phone.device_token, phone.device_token);
}

#[tokio::test]
async fn an_account_keeps_at_most_fifty_devices() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let first = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    for _ in 0..auth_service::devices::MAX_PER_ACCOUNT {
        app.login_email("ada@example.com", PASSWORD).await.unwrap();
    }
    assert_eq!(
        app.count("SELECT count(*) FROM devices WHERE revoked_at IS NULL")
            .await,
        auth_service::devices::MAX_PER_ACCOUNT
    );
    // The least recently used one went.
    let again = app
        .login_from_device("ada@example.com", PASSWORD, None, &first.device_token)
        .await
        .unwrap();
    assert_ne!(again.device_token, first.device_token);
}
