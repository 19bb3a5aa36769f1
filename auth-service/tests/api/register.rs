use tonic::Code;

use crate::helpers::{spawn_app, violated_field};

#[tokio::test]
async fn registering_returns_the_account_with_a_normalised_email() {
    let app = spawn_app().await;
    let user = app
        .register("  Ada@Example.COM ", testkit::PASSWORD, "ada")
        .await
        .unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.username, "ada");
    assert!(user.is_active);
    assert!(!user.is_superuser);
    assert!(uuid::Uuid::parse_str(&user.user_id).is_ok());
    assert!(user.created_at.is_some());
    assert!(user.last_login_at.is_none());
}

#[tokio::test]
async fn the_password_is_stored_as_a_bcrypt_hash_only() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();
    let plain = app
        .count("SELECT count(*) FROM users WHERE password_hash LIKE '%correct horse%'")
        .await;
    let bcrypt = app
        .count("SELECT count(*) FROM users WHERE password_hash LIKE '$2b$%'")
        .await;
    assert_eq!((plain, bcrypt), (0, 1));
}

#[tokio::test]
async fn bad_fields_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        ("", testkit::PASSWORD, "", "email"),
        ("not-an-email", testkit::PASSWORD, "", "email"),
        ("ada@example.com", "short", "", "password"),
        ("ada@example.com", &"x".repeat(73), "", "password"),
        ("ada@example.com", testkit::PASSWORD, "a", "username"),
        (
            "ada@example.com",
            testkit::PASSWORD,
            "ada lovelace",
            "username",
        ),
    ];
    for (email, password, username, field) in cases {
        let status = app.register(email, password, username).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{email:?}/{username:?}"
        );
        assert_eq!(
            violated_field(&status).as_deref(),
            Some(field),
            "{status:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_taken_email_is_already_exists_whatever_its_case() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();
    let status = app
        .register("ADA@example.com", "another password", "")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(violated_field(&status).as_deref(), Some("email"));
}

#[tokio::test]
async fn a_taken_username_is_already_exists_and_leaves_no_row_behind() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "Ada")
        .await
        .unwrap();
    let status = app
        .register("grace@example.com", testkit::PASSWORD, "ada")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(violated_field(&status).as_deref(), Some("username"));
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email = 'grace@example.com'")
            .await,
        0
    );
}

#[tokio::test]
async fn chinese_usernames_and_names_round_trip() {
    let app = spawn_app().await;
    let user = app
        .auth
        .clone()
        .register(proto::auth::v1::RegisterRequest {
            email: "wei@example.com".into(),
            password: testkit::PASSWORD.into(),
            username: "张伟伟".into(),
            full_name: "张伟".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(
        (user.username.as_str(), user.full_name.as_str()),
        ("张伟伟", "张伟")
    );
}

fn register_from(ip: &str, email: &str) -> tonic::Request<proto::auth::v1::RegisterRequest> {
    crate::helpers::from_gateway(
        tonic::Request::new(proto::auth::v1::RegisterRequest {
            email: email.into(),
            password: testkit::PASSWORD.into(),
            ..Default::default()
        }),
        ip,
    )
}

#[tokio::test]
async fn a_registration_flood_from_one_address_is_refused_before_hashing_and_logins_go_on() {
    // One hashing slot at a real cost: 64 registrations released at once
    // from one address, and a sign-in from another in the middle of them.
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(&database_url, &keys);
    config.bcrypt_cost = 10;
    config.bcrypt_concurrency = 1;
    let app = crate::helpers::spawn_with(config, keys).await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(65));
    let flood: Vec<_> = (0..64)
        .map(|i| {
            let mut auth = app.auth.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                auth.register(register_from("127.0.0.2", &format!("bot{i}@example.com")))
                    .await
            })
        })
        .collect();
    barrier.wait().await;
    let login = app
        .login_as("ada@example.com", testkit::PASSWORD, Some("127.0.0.1"))
        .await;
    let (mut registered, mut refused) = (0, 0);
    for call in flood {
        match call.await.unwrap() {
            Ok(_) => registered += 1,
            Err(status) => {
                assert!(
                    matches!(status.code(), Code::ResourceExhausted | Code::Unavailable),
                    "{status:?}"
                );
                use tonic_types::StatusExt;
                assert!(status.get_details_retry_info().is_some(), "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(login.is_ok(), "{login:?}");
    // REGISTER_MAX_PER_IP (20) at most; the rest refused at once.
    assert!(
        registered <= 20,
        "{registered} registrations from one address"
    );
    assert_eq!(registered + refused, 64);
    // The address's allowance is used up; another address still registers.
    let status = app
        .auth
        .clone()
        .register(register_from("127.0.0.2", "late@example.com"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        app.auth
            .clone()
            .register(register_from("127.0.0.3", "other@example.com"))
            .await
            .is_ok()
    );
}
