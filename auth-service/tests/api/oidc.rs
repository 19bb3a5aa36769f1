//! OpenID Connect sign-in against a fake provider on loopback.

use auth_service::oidc::OidcProviderConfig;
use auth_service::oidc::fake::{FakeOidc, KeyKind};
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
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.oidc_providers = ["corp", "google", "legacy"]
        .into_iter()
        .map(|name| OidcProviderConfig {
            name: name.into(),
            issuer: fake.issuer().to_owned(),
            client_id: CLIENT_ID.into(),
            audiences: vec!["api://backbone".into()],
            require_nonce: name != "legacy",
        })
        .collect();
    (spawn_with(config, keys).await, fake)
}

/// A nonce of StartOidcLogin for `provider`.
async fn start(app: &TestApp, provider: &str) -> String {
    app.auth
        .clone()
        .start_oidc_login(pb::StartOidcLoginRequest {
            provider: provider.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .nonce
}

/// Signs in with `provider` as the claims say, through a fresh nonce, the
/// token signed with `kind`.
async fn sign_in_at(
    app: &TestApp,
    fake: &FakeOidc,
    provider: &str,
    kind: KeyKind,
    claims: Value,
) -> Result<pb::TokenPair, tonic::Status> {
    let nonce = start(app, provider).await;
    let token = fake.sign_with(kind, &with(claims, "nonce", json!(nonce)));
    login_at(app, provider, &token, &nonce).await
}

/// [`sign_in_at`] with `corp` and the Ed25519 key.
async fn sign_in(
    app: &TestApp,
    fake: &FakeOidc,
    claims: Value,
) -> Result<pb::TokenPair, tonic::Status> {
    sign_in_at(app, fake, "corp", KeyKind::Ed25519, claims).await
}

async fn login(app: &TestApp, token: &str, nonce: &str) -> Result<pb::TokenPair, tonic::Status> {
    login_at(app, "corp", token, nonce).await
}

async fn login_at(
    app: &TestApp,
    provider: &str,
    token: &str,
    nonce: &str,
) -> Result<pb::TokenPair, tonic::Status> {
    app.auth
        .clone()
        .login_with_oidc(pb::LoginWithOidcRequest {
            provider: provider.into(),
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
    let first = sign_in(&app, &fake, claims.clone()).await.unwrap();
    let again = sign_in(&app, &fake, claims).await.unwrap();
    let user = first.user.clone().unwrap();
    assert_eq!(user.user_id, again.user.unwrap().user_id);
    assert_eq!(user.full_name, "李雷");
    assert_eq!(user.email, "", "no verified email given");
    // Another allowed audience works too; another subject is another user.
    let other = sign_in(&app, &fake, fake.claims("employee-2", "api://backbone"))
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
    let first = sign_in(&app, &fake, verified("sub-a", "ann@example.com"))
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(first.email, "ann@example.com");
    let second = sign_in(&app, &fake, verified("sub-b", "Ann@Example.com"))
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(second.user_id, first.user_id, "linked by verified email");
    // Another provider's word on the same email does not open it, not even
    // one whose identity the owner linked later (checked below).
    let status = sign_in_at(
        &app,
        &fake,
        "google",
        KeyKind::Es256,
        verified("g-ann", "ann@example.com"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    // An account with a password is its owner's: no takeover by email.
    let existing = app.signed_in_pair("grace@example.com").await.user.unwrap();
    let status = sign_in(&app, &fake, verified("g-1", "grace@example.com"))
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
    let pair = sign_in(&app, &fake, unverified).await.unwrap();
    let user = pair.user.unwrap();
    assert_ne!(user.user_id, existing.user_id, "not linked");
    assert_eq!(user.email, "");
}

#[tokio::test]
async fn every_bad_id_token_is_refused_and_audited() {
    let (app, fake) = spawn().await;
    // One nonce for every case: a refused token does not spend it.
    let nonce = start(&app, "corp").await;
    let good = with(fake.claims("employee-1", CLIENT_ID), "nonce", json!(nonce));
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
        (
            "several audiences, no azp",
            fake.sign(&with(
                good.clone(),
                "aud",
                json!([CLIENT_ID, "another-app"]),
            )),
        ),
        (
            "issued to another party",
            fake.sign(&with(good.clone(), "azp", json!("another-app"))),
        ),
        (
            "an Entra access token (scp)",
            fake.sign(&with(good.clone(), "scp", json!("User.Read"))),
        ),
        (
            "a Cognito access token",
            fake.sign(&with(good.clone(), "token_use", json!("access"))),
        ),
        (
            "a Keycloak access token",
            fake.sign(&with(
                with(good.clone(), "typ", json!("Bearer")),
                "scope",
                json!("openid email"),
            )),
        ),
        (
            "an access token with scopes",
            fake.sign(&with(good.clone(), "scope", json!("openid profile"))),
        ),
        ("an RFC 9068 access token", {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(fake.kid().to_owned());
            header.typ = Some("at+jwt".into());
            fake.sign_typed(&header, &good)
        }),
        (
            "a nonce the server did not issue",
            fake.sign(&with(good.clone(), "nonce", json!("client-made"))),
        ),
        (
            "no nonce in the token",
            fake.sign(&with(good.clone(), "nonce", Value::Null)),
        ),
    ];
    for (name, token) in &cases {
        let status = login(&app, token, &nonce).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{name}: {status:?}");
    }
    // Without a nonce, or with one of the client's own making.
    for (token, nonce) in [(&genuine, ""), (&genuine, "client-made")] {
        let status = login(&app, token, nonce).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{nonce:?}");
    }
    // The genuine token signs in once; the same token again is a replay.
    login(&app, &genuine, &nonce).await.unwrap();
    let status = login(&app, &genuine, &nonce).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "replayed");
    // Several audiences with azp = us is fine.
    let nonce2 = start(&app, "corp").await;
    let several = with(
        with(
            with(good.clone(), "aud", json!([CLIENT_ID, "another-app"])),
            "azp",
            json!(CLIENT_ID),
        ),
        "nonce",
        json!(nonce2),
    );
    login(&app, &fake.sign(&several), &nonce2).await.unwrap();

    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login_failed' \
             AND provider = 'corp'"
        )
        .await,
        cases.len() as i64 + 3
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
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.oidc_providers = vec![OidcProviderConfig {
        name: "corp".into(),
        issuer: issuer.clone(),
        client_id: CLIENT_ID.into(),
        audiences: vec![],
        require_nonce: false,
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
    let _ = token;
    let claims = with(
        with(
            fake.claims("new-hire", CLIENT_ID),
            "email",
            json!("hire@example.com"),
        ),
        "email_verified",
        json!(true),
    );
    let results =
        futures::future::join_all((0..4).map(|_| sign_in(&app, &fake, claims.clone()))).await;
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

#[tokio::test]
async fn entra_rs256_and_es256_tokens_sign_in_and_a_legacy_provider_may_go_without_a_nonce() {
    let (app, fake) = spawn().await;
    let entra = with(
        with(
            fake.claims("entra-oid-1", CLIENT_ID),
            "tid",
            json!("tenant-1"),
        ),
        "preferred_username",
        json!("li.lei@corp.example"),
    );
    let a = sign_in_at(&app, &fake, "corp", KeyKind::EntraRs256, entra)
        .await
        .unwrap();
    let b = sign_in_at(
        &app,
        &fake,
        "google",
        KeyKind::Es256,
        fake.claims("google-1", CLIENT_ID),
    )
    .await
    .unwrap();
    assert_ne!(a.user.unwrap().user_id, b.user.unwrap().user_id);
    // A provider configured without nonces takes a token without one, and
    // still checks a nonce the client sends.
    let bare = fake.sign_with(KeyKind::EntraRs256, &fake.claims("old-app", CLIENT_ID));
    login_at(&app, "legacy", &bare, "").await.unwrap();
    let status = login_at(&app, "legacy", &bare, "n-1").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // An algorithm other than the key's is refused (RS256 key, ES256 header).
    let nonce = start(&app, "corp").await;
    let claims = with(fake.claims("entra-oid-1", CLIENT_ID), "nonce", json!(nonce));
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("entra-test-key".into());
    let status = login(&app, &fake.sign_typed(&header, &claims), &nonce)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // An unknown provider has no nonces.
    let status = app
        .auth
        .clone()
        .start_oidc_login(pb::StartOidcLoginRequest {
            provider: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_another_provider_and_nobody_else_can() {
    let (app, fake) = spawn().await;
    let grace = app.signed_in_pair("grace@example.com").await;
    let verified = with(
        with(
            fake.claims("g-corp", CLIENT_ID),
            "email",
            json!("grace@example.com"),
        ),
        "email_verified",
        json!(true),
    );
    // Not from a session older than 10 minutes (a stolen token's).
    let stale = app.signed_in_pair("stale@example.com").await;
    app.count(&format!(
        "WITH aged AS (UPDATE sessions SET created_at = created_at - interval '11 minutes' \
         WHERE id = '{}' RETURNING 1) SELECT count(*) FROM aged",
        stale.session_id
    ))
    .await;
    let nonce = start(&app, "corp").await;
    let stale_link = app
        .auth
        .clone()
        .link_identity(crate::helpers::authorized(
            &stale.access_token,
            pb::LinkIdentityRequest {
                provider: "corp".into(),
                id_token: fake.sign(&with(fake.claims("s-1", CLIENT_ID), "nonce", json!(nonce))),
                nonce,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stale_link.code(), Code::FailedPrecondition);
    // Grace links her corp identity...
    let nonce = start(&app, "corp").await;
    let token = fake.sign(&with(verified.clone(), "nonce", json!(nonce)));
    let link = |access: String, token: String, nonce: String| {
        let auth = app.auth.clone();
        async move {
            auth.clone()
                .link_identity(crate::helpers::authorized(
                    &access,
                    pb::LinkIdentityRequest {
                        provider: "corp".into(),
                        id_token: token,
                        nonce,
                    },
                ))
                .await
                .map(|r| r.into_inner().identity.unwrap())
        }
    };
    let identity = link(grace.access_token.clone(), token, nonce)
        .await
        .unwrap();
    assert_eq!(identity.provider, "corp");
    assert_eq!(identity.email, "grace@example.com");
    // ...and signs in with it to her own account.
    let through_corp = sign_in(&app, &fake, verified.clone()).await.unwrap();
    assert_eq!(
        through_corp.user.unwrap().user_id,
        grace.user.clone().unwrap().user_id
    );
    // Someone else cannot link the same identity to theirs.
    let mallory = app.signed_in("mallory@example.com").await;
    let nonce = start(&app, "corp").await;
    let token = fake.sign(&with(verified.clone(), "nonce", json!(nonce)));
    let status = link(mallory.clone(), token, nonce).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    // Nor unlink it.
    let unlink = |access: &str, id: &str| {
        let mut auth = app.auth.clone();
        let request = crate::helpers::authorized(
            access,
            pb::UnlinkIdentityRequest {
                identity_id: id.into(),
            },
        );
        async move { auth.unlink_identity(request).await }
    };
    let status = unlink(&mallory, &identity.identity_id).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = app
        .auth
        .clone()
        .list_identities(crate::helpers::authorized(
            &grace.access_token,
            pb::ListIdentitiesRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .identities;
    assert_eq!(listed.len(), 1);
    // Grace has a password: she may unlink.
    unlink(&grace.access_token, &identity.identity_id)
        .await
        .unwrap();
    // A provider-made account cannot lose its only way in.
    let only = sign_in(&app, &fake, fake.claims("only-corp", CLIENT_ID))
        .await
        .unwrap();
    let listed = app
        .auth
        .clone()
        .list_identities(crate::helpers::authorized(
            &only.access_token,
            pb::ListIdentitiesRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .identities;
    let status = unlink(&only.access_token, &listed[0].identity_id)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE event_type IN \
             ('identity_linked', 'identity_unlinked')"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_provider_the_owner_linked_later_cannot_open_the_account_by_email() {
    let (app, fake) = spawn().await;
    let verified = |sub: &str, email: &str| {
        with(
            with(fake.claims(sub, CLIENT_ID), "email", json!(email)),
            "email_verified",
            json!(true),
        )
    };
    // Google made Ann's account; she linked her corp identity.
    let ann = sign_in_at(
        &app,
        &fake,
        "google",
        KeyKind::Es256,
        verified("g-ann", "ann@example.com"),
    )
    .await
    .unwrap();
    let nonce = start(&app, "corp").await;
    let token = fake.sign(&with(
        verified("corp-ann", "ann@corp.example"),
        "nonce",
        json!(nonce),
    ));
    app.auth
        .clone()
        .link_identity(crate::helpers::authorized(
            &ann.access_token,
            pb::LinkIdentityRequest {
                provider: "corp".into(),
                id_token: token,
                nonce,
            },
        ))
        .await
        .unwrap();
    // Mallory at corp claims Ann's email: refused, nothing linked.
    let status = sign_in(&app, &fake, verified("corp-mallory", "ann@example.com"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM external_identities WHERE subject = 'corp-mallory'")
            .await,
        0
    );
}

#[tokio::test]
async fn refused_id_tokens_from_one_address_are_cut_off_and_audited_once_per_lock() {
    let (app, fake) = spawn().await;
    for _ in 0..50 {
        let status = login(&app, "not-a-token", "not-a-nonce").await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    // The 51st, even a good one, is refused without a check.
    let status = sign_in(&app, &fake, fake.claims("employee-1", CLIENT_ID))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    for _ in 0..20 {
        login(&app, "not-a-token", "").await.unwrap_err();
    }
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE provider = 'corp'")
            .await,
        51,
        "50 refusals and one lock"
    );
}
