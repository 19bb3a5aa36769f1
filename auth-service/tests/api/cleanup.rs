use auth_service::cleanup;

use crate::helpers::spawn_app;

#[tokio::test]
async fn cleanup_deletes_what_ended_over_a_week_ago_and_keeps_the_rest() {
    let app = spawn_app().await;
    let old = app.signed_in_pair("ada@example.com").await;
    app.clock.advance(chrono::Duration::days(15));
    let fresh = app
        .login_email("ada@example.com", testkit::PASSWORD)
        .await
        .unwrap();

    let report = cleanup::run_once(&app.state)
        .await
        .unwrap()
        .expect("the lock was free");
    assert_eq!(report.sessions, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{}'",
            old.session_id
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM sessions WHERE id = '{}'",
            fresh.session_id
        ))
        .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM refresh_tokens").await, 1);
    // Audit events are kept for the retention (a year by default).
    assert!(app.count("SELECT count(*) FROM audit_events").await >= 3);
    app.clock.advance(chrono::Duration::days(400));
    cleanup::run_once(&app.state).await.unwrap();
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}

#[tokio::test]
async fn a_backlog_is_deleted_page_by_page_until_none_is_left() {
    let app = spawn_app().await;
    app.register("ada@example.com", testkit::PASSWORD, "")
        .await
        .unwrap();
    for _ in 0..5 {
        app.login_email("ada@example.com", testkit::PASSWORD)
            .await
            .unwrap();
    }
    app.clock.advance(chrono::Duration::days(400));
    let report = cleanup::run_in_pages(&app.state, 2)
        .await
        .unwrap()
        .expect("the lock was free");
    assert_eq!(report.sessions, 5);
    assert!(report.refresh_tokens <= 5);
    assert_eq!(report.devices, 5);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM devices").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM refresh_tokens").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}
