//! Password reset by mail, against a real SMTP server on loopback
//! (`testkit::mail`, aiosmtpd): the mail is read back and its link followed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::auth::v1 as pb;
use testkit::mail::SmtpServer;
use tonic::Code;

use crate::helpers::{TestApp, eventually, spawn_with, test_config, violated_field};

const PASSWORD: &str = testkit::PASSWORD;
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app_mailing_to(smtp_url: &str) -> TestApp {
    let database_url = testkit::Database::fresh(testkit::database::Schema::Auth)
        .await
        .url;
    let keys = tempfile::tempdir().unwrap();
    let mut config = test_config(&database_url, &keys);
    config.mail.smtp_url = Some(smtp_url.to_owned().into());
    config.mail.public_base_url = "https://app.example.com".into();
    spawn_with(config, keys).await
}

async fn forgot(app: &TestApp, email: &str) -> Result<pb::ForgotPasswordResponse, tonic::Status> {
    app.auth
        .clone()
        .forgot_password(pb::ForgotPasswordRequest {
            email: email.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn reset(app: &TestApp, token: &str, password: &str) -> Result<i32, tonic::Status> {
    app.auth
        .clone()
        .reset_password(pb::ResetPasswordRequest {
            token: token.into(),
            new_password: password.into(),
        })
        .await
        .map(|r| r.into_inner().revoked_sessions)
}

/// The token of the newest reset mail to `email` (waiting for `count`).
async fn reset_token(smtp: &SmtpServer, email: &str, count: usize) -> String {
    let mails = smtp.wait_for(email, count).await;
    let mail = mails.last().unwrap();
    assert_eq!(mail.subject, "Reset your password");
    mail.link_parameter("https://app.example.com/reset-password?", "token")
        .expect("the mail holds the reset link")
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_ends_every_session() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp.url()).await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let phone = app.login_email("ada@example.com", PASSWORD).await.unwrap();
    let laptop = app.login_email("ada@example.com", PASSWORD).await.unwrap();

    forgot(&app, "  Ada@Example.com ").await.unwrap();
    let token = reset_token(&smtp, "ada@example.com", 1).await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.unwrap(), 2);

    // Every session ended: the refresh tokens are refused, and the access
    // tokens within a second.
    for pair in [&phone, &laptop] {
        assert_eq!(
            app.refresh(&pair.refresh_token).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        let token = pair.access_token.clone();
        assert!(
            eventually(Duration::from_secs(1), || async {
                app.get_me(Some(&token)).await.is_err()
            })
            .await
        );
    }
    assert_eq!(
        app.login_email("ada@example.com", PASSWORD)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    app.login_email("ada@example.com", NEW_PASSWORD)
        .await
        .unwrap();

    // The link works once.
    let again = reset(&app, &token, "yet another passphrase")
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&again).as_deref(), Some("token"));
    app.login_email("ada@example.com", NEW_PASSWORD)
        .await
        .unwrap();

    // The owner is told, and the reset is audited.
    let mails = smtp.wait_for("ada@example.com", 2).await;
    assert_eq!(mails[1].subject, "Your password was changed");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE event_type = 'password_reset'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_new_reset_spends_the_older_links_and_an_expired_link_is_refused() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp.url()).await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    forgot(&app, "ada@example.com").await.unwrap();
    let first = reset_token(&smtp, "ada@example.com", 1).await;
    forgot(&app, "ada@example.com").await.unwrap();
    let second = reset_token(&smtp, "ada@example.com", 2).await;
    assert_ne!(first, second);
    reset(&app, &second, NEW_PASSWORD).await.unwrap();
    assert_eq!(
        reset(&app, &first, "yet another passphrase")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument,
        "a reset spends every outstanding link"
    );

    forgot(&app, "ada@example.com").await.unwrap();
    let late = reset_token(&smtp, "ada@example.com", 4).await;
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(
        reset(&app, &late, "yet another passphrase")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument,
        "a link is good for 30 minutes"
    );
    app.login_email("ada@example.com", NEW_PASSWORD)
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_in_the_same_time_and_no_mail() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp.url()).await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let answer = forgot(&app, "ada@example.com").await.unwrap();
        known.push(started.elapsed());
        let started = Instant::now();
        let other = forgot(&app, &format!("nobody{i}@example.com"))
            .await
            .unwrap();
        unknown.push(started.elapsed());
        assert_eq!(answer, other, "the same answer");
    }
    // The per-address limit (3 an hour): a fourth request for Ada is
    // answered alike and sends nothing.
    assert_eq!(
        forgot(&app, "ada@example.com").await.unwrap(),
        pb::ForgotPasswordResponse {}
    );
    smtp.wait_for("ada@example.com", 3).await;
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[1], unknown[1]);
    // The difference is a row or two, far below one bcrypt at cost 12
    // (hundreds of milliseconds).
    let gap = known.abs_diff(unknown);
    assert!(
        gap < Duration::from_millis(25),
        "medians {known:?} and {unknown:?}"
    );
    // Only Ada's three mails: nothing to the unknown addresses, nothing for
    // the fourth request.
    let everything = smtp.received();
    assert_eq!(everything.len(), 3, "{everything:?}");
    assert!(everything.iter().all(|m| m.to.contains("ada@example.com")));
    assert_eq!(app.count("SELECT count(*) FROM password_resets").await, 3);
}

#[tokio::test]
async fn bad_tokens_and_bad_passwords_are_refused_and_spend_nothing() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp.url()).await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    forgot(&app, "ada@example.com").await.unwrap();
    let token = reset_token(&smtp, "ada@example.com", 1).await;

    for (token, password, field) in [
        ("", NEW_PASSWORD, "token"),
        ("not-a-token", NEW_PASSWORD, "token"),
        (token.as_str(), "short", "new_password"),
        (token.as_str(), "password", "new_password"),
    ] {
        let refused = reset(&app, token, password).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{token:?} {password:?}"
        );
        assert_eq!(violated_field(&refused).as_deref(), Some(field));
    }
    let refused = forgot(&app, "not an address").await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    // A bad password did not spend the link.
    reset(&app, &token, NEW_PASSWORD).await.unwrap();
}

#[tokio::test]
async fn two_resets_with_one_link_released_together_change_the_password_once() {
    let smtp = SmtpServer::start().await;
    let app = Arc::new(app_mailing_to(&smtp.url()).await);
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    forgot(&app, "ada@example.com").await.unwrap();
    let token = reset_token(&smtp, "ada@example.com", 1).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let (app, barrier, token) = (app.clone(), barrier.clone(), token.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                reset(&app, &token, &format!("racing passphrase {i}")).await
            })
        })
        .collect();
    let mut won = Vec::new();
    for (i, attempt) in attempts.into_iter().enumerate() {
        match attempt.await.unwrap() {
            Ok(_) => won.push(i),
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument),
        }
    }
    assert_eq!(won.len(), 1, "exactly one reset wins: {won:?}");
    app.login_email("ada@example.com", &format!("racing passphrase {}", won[0]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_mail_server_that_is_down_delays_the_mail_and_loses_nothing() {
    // A port with nothing listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_mailing_to(&format!("smtp://127.0.0.1:{port}")).await;
    app.register("ada@example.com", PASSWORD, "").await.unwrap();
    forgot(&app, "ada@example.com").await.unwrap();
    let failed = eventually(Duration::from_secs(10), || async {
        app.count("SELECT count(*) FROM mail_outbox WHERE attempts >= 1 AND last_error IS NOT NULL AND sent_at IS NULL")
            .await
            == 1
    })
    .await;
    assert!(failed, "the first attempt failed and the mail waits");

    // The server comes up; once the backoff has passed, the mail goes out.
    let smtp = SmtpServer::start_on(port).await;
    app.clock.advance(chrono::Duration::seconds(60));
    let token = reset_token(&smtp, "ada@example.com", 1).await;
    reset(&app, &token, NEW_PASSWORD).await.unwrap();
    let mails = smtp.wait_for("ada@example.com", 2).await;
    assert_eq!(mails[1].subject, "Your password was changed");
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.count("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL")
                .await
                == 0
        })
        .await,
        "nothing left in the outbox"
    );
}
