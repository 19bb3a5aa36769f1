//! OpenID Connect sign-in against a fake provider on loopback.

use auth_service::oidc::OidcProviderConfig;
use auth_service::oidc::fake::FakeOidc;
use jsonwebtoken::{Algorithm, Header};
use proto::auth::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{TestApp, spawn_with, test_config};

const CLIENT_ID: &str = "backbone-web";

async fn spawn() -> (TestApp, FakeOidc) {
    let fake = FakeOidc::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let database_url =
        postgres_kit::testing::fresh_database("auth", auth_service::db::MIGRATIONS).await;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.oidc_providers = vec![OidcProviderConfig {
        name: "corp".into(),
        issuer: fake.issuer().to_owned(),
        client_id: CLIENT_ID.into(),
        audiences: vec!["api://backbone".into()],
    }];
    (spawn_with(config, keys).await, fake)
}

async fn login(app: &TestApp, token: &str, nonce: &str) -> Result<pb::TokenPair, tonic::Status> {
    app.auth
        .clone()
        .login_with_oidc(pb::LoginWithOidcRequest {
            provider: "corp".into(),
            id_token: token.into(),
            nonce: nonce.into(),
            device_info: String::new(),
        })
        .await
        .map(|r| r.into_inner().token_pair.unwrap())
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

#[tokio::test]
async fn a_valid_id_token_signs_in_and_the_same_subject_is_the_same_user() {
    let (app, fake) = spawn().await;
    let claims = with(fake.claims("employee-1", CLIENT_ID), "name", json!("李雷"));
    let first = login(&app, &fake.sign(&claims), "").await.unwrap();
    let again = login(&app, &fake.sign(&claims), "").await.unwrap();
    let user = first.user.clone().unwrap();
    assert_eq!(user.user_id, again.user.unwrap().user_id);
    assert_eq!(user.full_name, "李雷");
    assert_eq!(user.email, "", "no verified email given");
    // Another allowed audience works too; another subject is another user.
    let other = login(
        &app,
        &fake.sign(&fake.claims("employee-2", "api://backbone")),
        "",
    )
    .await
    .unwrap();
    assert_ne!(other.user.unwrap().user_id, user.user_id);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_succeeded' \
             AND provider = 'corp'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn a_verified_email_links_only_provider_made_accounts_and_an_unverified_one_never() {
    let (app, fake) = spawn().await;
    let verified = |sub: &str, email: &str| {
        with(
            with(fake.claims(sub, CLIENT_ID), "email", json!(email)),
            "email_verified",
            json!(true),
        )
    };
    // A provider-made account, then another identity with the same verified
    // email: the same user.
    let first = login(&app, &fake.sign(&verified("sub-a", "ann@example.com")), "")
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(first.email, "ann@example.com");
    let second = login(&app, &fake.sign(&verified("sub-b", "Ann@Example.com")), "")
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(second.user_id, first.user_id, "linked by verified email");

    // An account with a password is its owner's: no takeover by email.
    let existing = app.signed_in_pair("grace@example.com").await.user.unwrap();
    let status = login(&app, &fake.sign(&verified("g-1", "grace@example.com")), "")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM external_identities WHERE subject = 'g-1'")
            .await,
        0
    );

    // An unverified email is never used: a new account, without it.
    let unverified = with(
        with(
            fake.claims("g-2", CLIENT_ID),
            "email",
            json!("grace@example.com"),
        ),
        "email_verified",
        json!(false),
    );
    let pair = login(&app, &fake.sign(&unverified), "").await.unwrap();
    let user = pair.user.unwrap();
    assert_ne!(user.user_id, existing.user_id, "not linked");
    assert_eq!(user.email, "");
}

#[tokio::test]
async fn every_bad_id_token_is_refused_and_audited() {
    let (app, fake) = spawn().await;
    let good = fake.claims("employee-1", CLIENT_ID);
    let now = jsonwebtoken::get_current_timestamp();
    let stranger =
        auth_service::keys::SigningKeys::from_pem(&auth_service::keys::generate_pem().unwrap())
            .unwrap();
    let sign_with = |kid: &str, claims: &Value| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, stranger.encoding_key()).unwrap()
    };
    let genuine = fake.sign(&good);
    let parts: Vec<&str> = genuine.split('.').collect();
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            fake.sign(&with(good.clone(), "aud", json!("someone-else"))),
        ),
        (
            "expired",
            fake.sign(&with(good.clone(), "exp", json!(now - 3600))),
        ),
        (
            "wrong issuer",
            fake.sign(&with(good.clone(), "iss", json!("https://evil.example"))),
        ),
        (
            "issued in the future",
            fake.sign(&with(good.clone(), "iat", json!(now + 3600))),
        ),
        ("unknown kid", sign_with(stranger.kid(), &good)),
        ("bad signature", sign_with(fake.kid(), &good)),
        (
            "tampered",
            format!(
                "{}.{}.{}",
                parts[0],
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    with(good.clone(), "sub", json!("admin")).to_string()
                ),
                parts[2]
            ),
        ),
        ("garbage", "not-a-token".into()),
    ];
    for (name, token) in &cases {
        let status = login(&app, token, "").await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{name}: {status:?}");
    }
    // A nonce the client expects must be in the token.
    let status = login(&app, &genuine, "n-123").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let with_nonce = fake.sign(&with(good.clone(), "nonce", json!("n-123")));
    login(&app, &with_nonce, "n-123").await.unwrap();

    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_failed' \
             AND provider = 'corp'"
        )
        .await,
        cases.len() as i64 + 1
    );

    // An unknown provider is the client's mistake.
    let status = app
        .auth
        .clone()
        .login_with_oidc(pb::LoginWithOidcRequest {
            provider: "nobody".into(),
            id_token: genuine,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_unavailable_and_audited() {
    // An issuer on a port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let database_url =
        postgres_kit::testing::fresh_database("auth", auth_service::db::MIGRATIONS).await;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.oidc_providers = vec![OidcProviderConfig {
        name: "corp".into(),
        issuer: issuer.clone(),
        client_id: CLIENT_ID.into(),
        audiences: vec![],
    }];
    let app = spawn_with(config, keys).await;
    // A token in the right shape; its keys cannot be fetched.
    let fake = FakeOidc::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = fake.sign(&with(fake.claims("s", CLIENT_ID), "iss", json!(issuer)));
    let status = login(&app, &token, "").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE provider = 'corp'")
            .await,
        1
    );
}

#[tokio::test]
async fn concurrent_first_sign_ins_of_one_subject_make_one_user() {
    let (app, fake) = spawn().await;
    let token = fake.sign(&with(
        with(
            fake.claims("new-hire", CLIENT_ID),
            "email",
            json!("hire@example.com"),
        ),
        "email_verified",
        json!(true),
    ));
    let results = futures::future::join_all((0..4).map(|_| login(&app, &token, ""))).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| r.unwrap().user.unwrap().user_id)
        .collect();
    assert_eq!(ids.len(), 1, "one account for one subject");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM external_identities").await,
        1
    );
}
