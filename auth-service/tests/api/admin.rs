use proto::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, eventually, spawn_app};

const PASSWORD: &str = testkit::PASSWORD;

#[tokio::test]
async fn normal_users_get_permission_denied_on_every_admin_rpc() {
    let app = spawn_app().await;
    let token = app.signed_in("ada@example.com").await;
    let mut admin = app.admin.clone();
    let codes = [
        admin
            .list_users(authorized(&token, pb::ListUsersRequest::default()))
            .await
            .unwrap_err()
            .code(),
        admin
            .update_user(authorized(&token, pb::UpdateUserRequest::default()))
            .await
            .unwrap_err()
            .code(),
        admin
            .list_audit_events(authorized(&token, pb::ListAuditEventsRequest::default()))
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(codes, [Code::PermissionDenied; 3]);
}

#[tokio::test]
async fn superusers_list_users_with_login_stats_and_a_prefix_filter() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    app.register("ada@example.com", PASSWORD, "ada")
        .await
        .unwrap();
    app.register("grace@example.com", PASSWORD, "grace")
        .await
        .unwrap();
    app.login_email("ada@example.com", PASSWORD).await.unwrap();
    app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let list = async |query: &str| {
        app.admin
            .clone()
            .list_users(authorized(
                &root,
                pb::ListUsersRequest {
                    query: query.into(),
                    ..Default::default()
                },
            ))
            .await
    };
    let all = list("").await.unwrap().into_inner();
    assert_eq!(all.total_size, 3);
    let ada = list("AD").await.unwrap().into_inner();
    assert_eq!(ada.users.len(), 1);
    assert_eq!(ada.users[0].login_count, 2);
    assert!(ada.users[0].last_login_at.is_some());
    // LIKE wildcards are plain characters.
    assert_eq!(list("%").await.unwrap().into_inner().total_size, 0);
}

#[tokio::test]
async fn deactivation_revokes_every_session_and_blocks_login_and_refresh() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    let ada = app.signed_in_pair("ada@example.com").await;
    let user_id = ada.user.as_ref().unwrap().user_id.clone();
    let updated = app
        .admin
        .clone()
        .update_user(authorized(
            &root,
            pb::UpdateUserRequest {
                user_id: user_id.clone(),
                is_active: Some(false),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!updated.is_active);
    assert!(
        eventually(std::time::Duration::from_secs(1), || async {
            app.get_me(Some(&ada.access_token)).await.is_err()
        })
        .await
    );
    assert_eq!(
        app.refresh(&ada.refresh_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        app.login_email("ada@example.com", PASSWORD)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // Reactivated, the user signs in again.
    app.admin
        .clone()
        .update_user(authorized(
            &root,
            pb::UpdateUserRequest {
                user_id,
                is_active: Some(true),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert!(app.login_email("ada@example.com", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn granting_superuser_shows_in_new_tokens_and_is_audited() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    let ada = app.signed_in_pair("ada@example.com").await;
    let user_id = ada.user.unwrap().user_id;
    app.admin
        .clone()
        .update_user(authorized(
            &root,
            pb::UpdateUserRequest {
                user_id: user_id.clone(),
                is_superuser: Some(true),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let token = app
        .login_email("ada@example.com", PASSWORD)
        .await
        .unwrap()
        .access_token;
    assert!(
        app.admin
            .clone()
            .list_users(authorized(&token, pb::ListUsersRequest::default()))
            .await
            .is_ok()
    );
    let events = app
        .admin
        .clone()
        .list_audit_events(authorized(
            &root,
            pb::ListAuditEventsRequest {
                user_id,
                r#type: pb::AuditEventType::RoleChanged as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(events.total_size, 1);
    assert_eq!(events.events[0].reason, "superuser granted");
}

#[tokio::test]
async fn administrators_cannot_demote_or_deactivate_themselves() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    let me = app.get_me(Some(&root)).await.unwrap();
    let status = app
        .admin
        .clone()
        .update_user(authorized(
            &root,
            pb::UpdateUserRequest {
                user_id: me.user_id,
                is_superuser: Some(false),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_is_not_found() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    for user_id in [uuid::Uuid::new_v4().to_string(), "nope".into()] {
        let status = app
            .admin
            .clone()
            .update_user(authorized(
                &root,
                pb::UpdateUserRequest {
                    user_id,
                    is_active: Some(false),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }
}

#[tokio::test]
async fn audit_events_filter_by_time_window() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    let cutoff = app.clock.now() + chrono::Duration::minutes(1);
    app.clock.advance(chrono::Duration::minutes(2));
    app.login_email("root@example.com", "wrong password")
        .await
        .unwrap_err();
    let since = prost_types::Timestamp {
        seconds: cutoff.timestamp(),
        nanos: 0,
    };
    let events = app
        .admin
        .clone()
        .list_audit_events(authorized(
            &root,
            pb::ListAuditEventsRequest {
                since: Some(since),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(events.total_size, 1);
    assert_eq!(events.events[0].r#type(), pb::AuditEventType::LoginFailed);
    assert_eq!(events.events[0].reason, "wrong_password");
    assert_eq!(events.events[0].login_name, "root@example.com");
}

#[tokio::test]
async fn a_demoted_administrator_loses_the_role_at_once_not_when_the_token_expires() {
    let app = spawn_app().await;
    let root = app.superuser("root@example.com").await;
    let ada = app.superuser("ada@example.com").await;
    let ada_id = app.get_me(Some(&ada)).await.unwrap().user_id;
    let lists = |token: String| {
        let mut admin = app.admin.clone();
        async move {
            admin
                .list_users(authorized(&token, pb::ListUsersRequest::default()))
                .await
        }
    };
    lists(ada.clone()).await.unwrap();
    app.admin
        .clone()
        .update_user(authorized(
            &root,
            pb::UpdateUserRequest {
                user_id: ada_id.clone(),
                is_superuser: Some(false),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    // Her token said is_superuser: its session is revoked with the role.
    let refused = eventually(std::time::Duration::from_secs(5), || {
        let call = lists(ada.clone());
        async move { call.await.is_err_and(|s| s.code() == Code::Unauthenticated) }
    })
    .await;
    assert!(refused, "the demoted token still administers");
    // Signed in again, she is a plain user.
    let again = app
        .login_email("ada@example.com", testkit::PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        lists(again.access_token).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_events WHERE event_type = 'role_changed' \
             AND reason = 'superuser removed; 1 sessions revoked' AND user_id = '{ada_id}'"
        ))
        .await,
        1
    );
}
