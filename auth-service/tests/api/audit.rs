use proto::auth::v1 as pb;

use crate::helpers::{authorized, spawn_app};

const PASSWORD: &str = testkit::PASSWORD;

#[tokio::test]
async fn users_see_their_own_sign_in_history_newest_first() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    app.login_as("ada@example.com", "wrong password", Some("203.0.113.9"))
        .await
        .unwrap_err();
    let token = app
        .login_email("ada@example.com", PASSWORD)
        .await
        .unwrap()
        .access_token;
    // Another user's events are not shown.
    app.register("grace@example.com", PASSWORD, "")
        .await
        .unwrap();
    app.login_email("grace@example.com", PASSWORD)
        .await
        .unwrap();

    let events = app
        .auth
        .clone()
        .list_login_events(authorized(&token, pb::ListLoginEventsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(events.total_size, 2);
    assert_eq!(
        events.events[0].r#type(),
        pb::AuditEventType::LoginSucceeded
    );
    assert_eq!(events.events[1].r#type(), pb::AuditEventType::LoginFailed);
    assert_eq!(events.events[1].reason, "wrong_password");
    assert_eq!(events.events[1].ip_address, "203.0.113.9");
}

#[tokio::test]
async fn login_events_page_with_tokens_bound_to_the_user() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let mut token = String::new();
    for _ in 0..3 {
        token = app
            .login_email("ada@example.com", PASSWORD)
            .await
            .unwrap()
            .access_token;
    }
    let page = |page_token: String, token: String| {
        let mut auth = app.auth.clone();
        async move {
            auth.list_login_events(authorized(
                &token,
                pb::ListLoginEventsRequest {
                    page_size: 2,
                    page_token,
                },
            ))
            .await
        }
    };
    let first = page(String::new(), token.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.events.len(), 2);
    let second = page(first.next_page_token.clone(), token.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.events.len(), 1);
    assert!(second.next_page_token.is_empty());
    let grace = app.signed_in("grace@example.com").await;
    let status = page(first.next_page_token, grace).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let logs = crate::logs::capture();
    let app = spawn_app().await;
    let password = "s3cret-Passw0rd-for-logs";
    let new_password = "an0ther-s3cret-for-logs";
    app.register("ada@example.com", password, "").await.unwrap();
    let pair = app.login_email("ada@example.com", password).await.unwrap();
    app.login_email("ada@example.com", "wrong-pw-for-logs")
        .await
        .unwrap_err();
    let second = app.refresh(&pair.refresh_token).await.unwrap();
    app.refresh(&pair.refresh_token).await.unwrap_err();
    let pair = app.login_email("ada@example.com", password).await.unwrap();
    app.auth
        .clone()
        .change_password(authorized(
            &pair.access_token,
            pb::ChangePasswordRequest {
                current_password: password.into(),
                new_password: new_password.into(),
            },
        ))
        .await
        .unwrap();
    let (id, secret) = auth_service::admin::create_service_account(
        &app.state.pool,
        "w",
        &["tasks.process".into()],
    )
    .await
    .unwrap();
    let service = app
        .auth
        .clone()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: id.to_string(),
            client_secret: secret.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let hash: String = {
        let client = testkit::Database::at(&app.database_url).client().await;
        client
            .query_one("SELECT password_hash FROM users", &[])
            .await
            .unwrap()
            .get(0)
    };

    let captured = logs.text();
    assert!(captured.contains("signed in"), "the capture works");
    for secret in [
        password,
        new_password,
        "wrong-pw-for-logs",
        &pair.access_token,
        &pair.refresh_token,
        &second.refresh_token,
        &secret,
        &service.access_token,
        &hash,
    ] {
        assert!(!captured.contains(secret), "a secret was logged: {secret}");
    }
}
