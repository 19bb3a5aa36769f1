use proto::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, eventually, spawn_app, violated_field};

const PASSWORD: &str = testkit::PASSWORD;

async fn list(app: &crate::helpers::TestApp, token: &str) -> Vec<pb::Session> {
    app.auth
        .clone()
        .list_sessions(authorized(token, pb::ListSessionsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .sessions
}

#[tokio::test]
async fn sessions_are_listed_per_device_with_the_current_one_marked() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let phone = app
        .login_as("ada@example.com", PASSWORD, Some("203.0.113.5"))
        .await
        .unwrap();
    let laptop = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let sessions = list(&app, &laptop.access_token).await;
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].session_id, laptop.session_id, "newest first");
    assert!(sessions[0].current);
    assert!(!sessions[1].current);
    assert_eq!(sessions[1].ip_address, "203.0.113.5");
    assert_eq!(sessions[1].session_id, phone.session_id);
}

#[tokio::test]
async fn revoking_another_session_ends_it_and_keeps_the_current_one() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let phone = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let laptop = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    app.auth
        .clone()
        .revoke_session(authorized(
            &laptop.access_token,
            pb::RevokeSessionRequest {
                session_id: phone.session_id.clone(),
            },
        ))
        .await
        .unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(1), || async {
            app.get_me(Some(&phone.access_token)).await.is_err()
        })
        .await
    );
    assert!(app.get_me(Some(&laptop.access_token)).await.is_ok());
    assert_eq!(list(&app, &laptop.access_token).await.len(), 1);
}

#[tokio::test]
async fn another_users_session_is_not_found() {
    let app = spawn_app().await;
    let ada = app.signed_in_pair("ada@example.com").await;
    let grace = app.signed_in("grace@example.com").await;
    for session_id in [
        ada.session_id.clone(),
        "not-a-uuid".into(),
        uuid::Uuid::new_v4().to_string(),
    ] {
        let status = app
            .auth
            .clone()
            .revoke_session(authorized(&grace, pb::RevokeSessionRequest { session_id }))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }
    assert!(app.get_me(Some(&ada.access_token)).await.is_ok());
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let other = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let current = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let change = async |current_password: &str, new_password: &str| {
        app.auth
            .clone()
            .change_password(authorized(
                &current.access_token,
                pb::ChangePasswordRequest {
                    current_password: current_password.into(),
                    new_password: new_password.into(),
                },
            ))
            .await
    };
    let status = change("wrong password", "a brand new secret")
        .await
        .unwrap_err();
    assert_eq!(violated_field(&status).as_deref(), Some("current_password"));
    let status = change(PASSWORD, "password1").await.unwrap_err();
    assert_eq!(violated_field(&status).as_deref(), Some("new_password"));

    let response = change(PASSWORD, "a brand new secret")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.revoked_sessions, 1);
    assert!(
        eventually(std::time::Duration::from_secs(1), || async {
            app.get_me(Some(&other.access_token)).await.is_err()
        })
        .await
    );
    assert!(app.get_me(Some(&current.access_token)).await.is_ok());
    assert_eq!(
        app.refresh(&other.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(app.login_email("ada@example.com", PASSWORD).await.is_err());
    assert!(
        app.login_email("ada@example.com", "a brand new secret")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_profile_can_be_changed_and_cleared_and_chinese_round_trips() {
    let app = spawn_app().await;
    let token = app.signed_in("ada@example.com").await;
    let update = async |request: pb::UpdateMeRequest| {
        app.auth
            .clone()
            .update_me(authorized(&token, request))
            .await
    };
    let user = update(pb::UpdateMeRequest {
        username: Some("小明同学".into()),
        full_name: Some("王小明".into()),
        avatar: Some("https://cdn.example.com/a.png".into()),
    })
    .await
    .unwrap()
    .into_inner()
    .user
    .unwrap();
    assert_eq!(
        (user.username.as_str(), user.full_name.as_str()),
        ("小明同学", "王小明")
    );
    // Absent fields are kept, empty ones cleared.
    let user = update(pb::UpdateMeRequest {
        full_name: Some(String::new()),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .user
    .unwrap();
    assert_eq!(
        (user.username.as_str(), user.full_name.as_str()),
        ("小明同学", "")
    );
    assert_eq!(
        app.get_me(Some(&token)).await.unwrap().avatar,
        "https://cdn.example.com/a.png"
    );
}

#[tokio::test]
async fn a_taken_username_or_a_bad_avatar_is_refused() {
    let app = spawn_app().await;
    app.register("grace@example.com", PASSWORD, "grace")
        .await
        .unwrap();
    let token = app.signed_in("ada@example.com").await;
    let status = app
        .auth
        .clone()
        .update_me(authorized(
            &token,
            pb::UpdateMeRequest {
                username: Some("GRACE".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let status = app
        .auth
        .clone()
        .update_me(authorized(
            &token,
            pb::UpdateMeRequest {
                avatar: Some("javascript:alert(1)".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_field(&status).as_deref(), Some("avatar"));
}

#[tokio::test]
async fn signing_out_everywhere_else_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    app.register("grace@example.com", PASSWORD, "")
        .await
        .unwrap();
    let phone = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let tablet = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let laptop = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let grace = app
        .login_email("grace@example.com", PASSWORD)
        .await
        .unwrap();
    let revoked = app
        .auth
        .clone()
        .revoke_other_sessions(authorized(
            &laptop.access_token,
            pb::RevokeOtherSessionsRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .revoked_sessions;
    assert_eq!(revoked, 2);
    for other in [&phone, &tablet] {
        let token = other.access_token.clone();
        assert!(
            eventually(std::time::Duration::from_secs(1), || async {
                app.get_me(Some(&token)).await.is_err()
            })
            .await,
            "refused within a second"
        );
        assert_eq!(
            app.refresh(&other.refresh_token).await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    assert!(app.get_me(Some(&laptop.access_token)).await.is_ok());
    assert!(
        app.get_me(Some(&grace.access_token)).await.is_ok(),
        "another user is untouched"
    );
    app.refresh(&laptop.refresh_token).await.unwrap();
    // Once more: nothing left to end.
    let again = app
        .auth
        .clone()
        .revoke_other_sessions(authorized(
            &laptop.access_token,
            pb::RevokeOtherSessionsRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .revoked_sessions;
    assert_eq!(again, 0);
}
