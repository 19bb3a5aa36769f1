use std::time::Duration;

use proto::auth::v1 as pb;

use crate::helpers::{authorized, spawn_app};

#[tokio::test]
async fn the_revocation_stream_sends_the_relevant_past_then_each_new_revocation() {
    let app = spawn_app().await;
    let before = app.signed_in_pair("ada@example.com").await;
    app.auth
        .clone()
        .logout(authorized(&before.access_token, pb::LogoutRequest {}))
        .await
        .unwrap();

    let mut stream = app
        .auth
        .clone()
        .watch_revocations(pb::WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.session_id, before.session_id);
    let expires = first.expires_at.unwrap().seconds;
    let now = app.clock.now().timestamp();
    assert!(
        expires > now && expires <= now + 900,
        "tokens live at most one TTL past revocation"
    );
    // The snapshot ends with a marker.
    let marker = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(marker.snapshot_complete && marker.session_id.is_empty());

    let after = app
        .login_email("ada@example.com", testkit::PASSWORD)
        .await
        .unwrap();
    app.auth
        .clone()
        .logout(authorized(&after.access_token, pb::LogoutRequest {}))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.session_id, after.session_id);
}

#[tokio::test]
async fn the_stream_carries_revocations_made_by_another_replica() {
    let first = spawn_app().await;
    // A second replica on the same database.
    let keys = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(&first.database_url, &keys);
    config.run_migrations = false;
    let second = crate::helpers::spawn_with(config, keys).await;

    let mut stream = first
        .auth
        .clone()
        .watch_revocations(pb::WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let pair = second.signed_in_pair("ada@example.com").await;
    second
        .auth
        .clone()
        .logout(authorized(&pair.access_token, pb::LogoutRequest {}))
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.message().await {
                Ok(Some(r)) if r.session_id == pair.session_id => return true,
                Ok(Some(_)) => continue,
                // A resync at start: reconnect once.
                _ => {
                    stream = first
                        .auth
                        .clone()
                        .watch_revocations(pb::WatchRevocationsRequest {})
                        .await
                        .unwrap()
                        .into_inner();
                }
            }
        }
    })
    .await;
    assert_eq!(heard, Ok(true));
}

#[tokio::test]
async fn a_quiet_stream_sends_heartbeats_so_a_dead_one_can_be_told_apart() {
    let app = spawn_app().await;
    let mut stream = app
        .auth
        .clone()
        .watch_revocations(pb::WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let marker = stream.message().await.unwrap().unwrap();
    assert!(
        marker.snapshot_complete,
        "nothing revoked: the marker first"
    );
    // Nothing is revoked: within the heartbeat interval (and well within
    // the 30 s a subscriber waits), a heartbeat.
    let beat = tokio::time::timeout(Duration::from_secs(15), stream.message())
        .await
        .expect("a heartbeat within 15 s")
        .unwrap()
        .unwrap();
    assert!(beat.heartbeat && beat.session_id.is_empty());
}
