use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test]
async fn get_me_returns_the_signed_in_user() {
    let app = spawn_app().await;
    let token = app.signed_in("ada@example.com").await;
    let me = app.get_me(Some(&token)).await.unwrap();
    assert_eq!(me.email, "ada@example.com");
}

#[tokio::test]
async fn get_me_without_a_token_is_unauthenticated() {
    let app = spawn_app().await;
    assert_eq!(
        app.get_me(None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn get_me_with_a_garbled_or_tampered_token_is_unauthenticated() {
    let app = spawn_app().await;
    let token = app.signed_in("ada@example.com").await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // Another payload under the same signature.
    parts[1] = parts[1].chars().rev().collect();
    let tampered = parts.join(".");
    for bad in ["garbage", "a.b.c", tampered.as_str()] {
        let status = app.get_me(Some(bad)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{bad}");
    }
}

#[tokio::test]
async fn a_token_from_another_key_is_unauthenticated() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    let token = first.signed_in("ada@example.com").await;
    let status = second.get_me(Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn the_published_keys_verify_the_tokens() {
    let app = spawn_app().await;
    let token = app.signed_in("ada@example.com").await;
    let keys = app
        .auth
        .clone()
        .get_jwks(proto::auth::v1::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(keys[0].kid.as_str()));
    let key = jsonwebtoken::DecodingKey::from_ed_components(&keys[0].x).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["backbone"]);
    validation.set_issuer(&["auth-service"]);
    let claims = jsonwebtoken::decode::<access::Claims>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
    assert_eq!(claims.token_type, access::TokenType::Access);
    assert!(claims.sid.is_some());
    assert_eq!(claims.exp - claims.iat, 900);
}

#[tokio::test]
async fn wrong_current_passwords_are_audited_and_locked_after_five() {
    let app = spawn_app().await;
    let token = app.signed_in("ada@example.com").await;
    let change = |current: &'static str| {
        let mut auth = app.auth.clone();
        let request = crate::helpers::authorized(
            &token,
            proto::auth::v1::ChangePasswordRequest {
                current_password: current.into(),
                new_password: "another fine password".into(),
            },
        );
        async move { auth.change_password(request).await }
    };
    for _ in 0..5 {
        assert_eq!(
            change("wrong password").await.unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
    // Locked: even the right password is refused, without a check.
    assert_eq!(
        change(testkit::PASSWORD).await.unwrap_err().code(),
        tonic::Code::ResourceExhausted
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_failed' \
             AND reason LIKE 'change_password:%'"
        )
        .await,
        6
    );
    // Signing in is not locked by it.
    app.login_email("ada@example.com", testkit::PASSWORD)
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::minutes(16));
    change(testkit::PASSWORD).await.unwrap();
}
