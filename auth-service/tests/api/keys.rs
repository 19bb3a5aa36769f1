use crate::helpers::{spawn_with, test_config};

#[tokio::test]
async fn after_a_key_rotation_tokens_of_the_previous_key_still_verify() {
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let old_key = keys.path().join("signing.pem");
    let new_key = keys.path().join("next.pem");
    auth_service::keys::generate_key_file(&new_key).unwrap();

    let first = spawn_with(
        test_config(&database_url, &keys),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let old_token = first.signed_in("ada@example.com").await;
    drop(first);

    // Step 2 of the documented rotation: the new key signs, the old one is
    // still published.
    let mut config = test_config(&database_url, &keys);
    config.signing_key_path = new_key.clone();
    config.run_migrations = false;
    config.published_key_paths = vec![old_key.clone()];
    let rotated = spawn_with(config, tempfile::tempdir().unwrap()).await;
    let jwks = rotated
        .auth
        .clone()
        .get_jwks(proto::auth::v1::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(jwks.len(), 2);
    assert_eq!(
        rotated.get_me(Some(&old_token)).await.unwrap().email,
        "ada@example.com"
    );
    let new_token = rotated
        .login_email("ada@example.com", testkit::PASSWORD)
        .await
        .unwrap()
        .access_token;
    let new_kid = jsonwebtoken::decode_header(&new_token)
        .unwrap()
        .kid
        .unwrap();
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(new_kid, old_kid);
    assert_eq!(jwks[0].kid, new_kid, "the active key is listed first");
    drop(rotated);

    // Step 3: the old key is no longer published; its tokens are refused.
    let mut config = test_config(&database_url, &keys);
    config.signing_key_path = new_key;
    config.run_migrations = false;
    let retired = spawn_with(config, tempfile::tempdir().unwrap()).await;
    assert!(retired.get_me(Some(&old_token)).await.is_err());
    assert!(retired.get_me(Some(&new_token)).await.is_ok());
}
