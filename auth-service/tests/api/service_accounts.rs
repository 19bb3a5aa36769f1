use proto::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_app};

#[tokio::test]
async fn a_service_account_exchanges_its_secret_for_a_scoped_token() {
    let app = spawn_app().await;
    let (id, secret) = auth_service::admin::create_service_account(
        &app.state.pool,
        "task-worker",
        &["tasks.process".into()],
    )
    .await
    .unwrap();
    let response = app
        .auth
        .clone()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: id.to_string(),
            client_secret: secret.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.scope, "tasks.process");
    assert_eq!(response.expires_in, 300);
    let claims = jsonwebtoken::dangerous::insecure_decode::<access::Claims>(&response.access_token)
        .unwrap()
        .claims;
    assert_eq!(claims.token_type, access::TokenType::Service);
    assert!(claims.has_scope("tasks.process"));
    assert_eq!(claims.sub, id);
    // The secret is stored hashed only.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM service_accounts WHERE secret_hash = sha256('{secret}'::bytea)"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn wrong_or_unknown_credentials_are_unauthenticated() {
    let app = spawn_app().await;
    let (id, _) = auth_service::admin::create_service_account(
        &app.state.pool,
        "w",
        &["tasks.process".into()],
    )
    .await
    .unwrap();
    for (client_id, client_secret) in [
        (id.to_string(), "wrong".to_owned()),
        (uuid::Uuid::new_v4().to_string(), "wrong".to_owned()),
        ("not-a-uuid".to_owned(), String::new()),
    ] {
        let status = app
            .auth
            .clone()
            .issue_service_token(pb::IssueServiceTokenRequest {
                client_id,
                client_secret,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
}

#[tokio::test]
async fn a_service_token_cannot_act_as_a_user() {
    let app = spawn_app().await;
    let (id, secret) = auth_service::admin::create_service_account(
        &app.state.pool,
        "w",
        &["tasks.process".into()],
    )
    .await
    .unwrap();
    let token = app
        .auth
        .clone()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: id.to_string(),
            client_secret: secret,
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let status = app
        .auth
        .clone()
        .get_me(authorized(&token, pb::GetMeRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn service_accounts_need_a_name_and_a_scope() {
    let app = spawn_app().await;
    assert!(
        auth_service::admin::create_service_account(&app.state.pool, "", &["x".into()])
            .await
            .is_err()
    );
    assert!(
        auth_service::admin::create_service_account(&app.state.pool, "w", &[])
            .await
            .is_err()
    );
    assert!(
        auth_service::admin::create_service_account(&app.state.pool, "w", &["a b".into()])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_taken_service_account_name_is_refused_clearly() {
    let app = spawn_app().await;
    auth_service::admin::create_service_account(&app.state.pool, "w", &["x".into()])
        .await
        .unwrap();
    let error = auth_service::admin::create_service_account(&app.state.pool, "w", &["x".into()])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
}
